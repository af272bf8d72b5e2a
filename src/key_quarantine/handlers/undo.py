"""The undo watch's answer (issue #11, item 6): a watched call on a user the responder contained.

Whom the responder contained is read from the ledger (``Ledger.containments``: only our functions and operators
may write it), never from a tag the key's holder can remove; an incident ``release`` closed is no longer watched,
which is how a release is told from an undo (it closes the user's incidents as it lifts the containment). Whose call
it was is read from the CloudTrail record AWS wrote: a session of the responder's or the sweep's role is the
pipeline's own; an operator's role setting our incident tags is its ``contain``. Anything else is an undo: a human
is told at once, and each incident that contained the user runs again, its containment steps checking IAM and
redoing (reported ``UNDONE``) whatever was undone.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from botocore.exceptions import ClientError

from key_quarantine.handlers.aws import Aws
from key_quarantine.handlers.ledger import Containment, Ledger
from key_quarantine.handlers.playbook import incident_id_of
from key_quarantine.handlers.settings import CONTAINED_AT_TAG, INCIDENT_TAG, Settings
from key_quarantine.handlers.steps import StepResult
from key_quarantine.handlers.steps.base import error_code
from key_quarantine.handlers.tell_human import publish_once
from key_quarantine.handlers.triggers import Trigger, TriggerFamily
from key_quarantine.handlers.watched_calls import TAG_CALLS, Undo, undo_of

#: The calls the alert lists one by one; a longer burst is counted.
ALERT_CALLS = 20
#: The tags ``contain`` writes: an operator's role writing only these is its contain, not an undo.
CONTAIN_TAGS = frozenset({INCIDENT_TAG, CONTAINED_AT_TAG})


@dataclass(frozen=True)
class UndoAnswer:
    """Why the calls are no undo (``ignored``), or the alert sent and the incidents to run again."""

    ignored: str | None = None
    alert: StepResult | None = None
    incidents: tuple[Trigger, ...] = ()


def answer_undo(
    trigger: Trigger,
    details: Sequence[Mapping[str, Any]],
    *,
    settings: Settings,
    aws: Aws,
    clients: Aws,
    ledger: Ledger | None,
) -> UndoAnswer:
    """``details``: the CloudTrail records of the batch's watched calls on ``trigger.user_name``; ``clients``: IAM
    in the user's account. Raises when the ledger or IAM cannot answer (the delivery is tried again)."""
    user = str(trigger.user_name)
    calls = [
        undo
        for undo in (undo_of(detail) for detail in details)
        if undo is not None and _theirs(undo, settings)
    ]
    if not calls:
        return UndoAnswer(ignored="the pipeline's own calls, or tags that are not key-quarantine's")
    if ledger is None:
        return UndoAnswer(ignored="no ledger: the responder cannot tell whom it contained")
    why = "; then the containment was touched: " + "; ".join(call.describe() for call in calls[:ALERT_CALLS])
    incidents = live_incidents(trigger.account, user, ledger, clients.iam, why=why)
    if isinstance(incidents, str):
        return UndoAnswer(ignored=incidents)
    alert = _alert(trigger, calls, incidents, settings=settings, aws=aws, ledger=ledger)
    return UndoAnswer(alert=alert, incidents=tuple(_as_undone(t, trigger) for t in incidents))


def live_incidents(account: str, user: str, ledger: Ledger, iam: Any, *, why: str) -> list[Trigger] | str:
    """The incidents that contained ``user`` and are still open (not released), as triggers that run them again
    with ``why`` added to their reason; or why there is none. The user must still be the principal they
    contained (its IAM id): a user deleted and re-created under the same name is someone else."""
    entries = ledger.containments(account, user)
    triggers = [(entry, _trigger_of(entry, account, user, why)) for entry in entries]
    open_ones = [(e, t) for e, t in triggers if ledger.finished_contained(e.incident_id, t) is True]
    if not open_ones:
        return f"IAM user {user} is not contained by the responder (never, or released)"
    try:
        user_id = str(iam.get_user(UserName=user)["User"]["UserId"])
    except ClientError as error:
        if error_code(error) == "NoSuchEntity":
            return f"IAM user {user} no longer exists"
        raise
    same = [t for e, t in open_ones if e.user_id in ("", user_id)]
    return same or f"IAM user {user} was re-created ({user_id}): not the principal the responder contained"


def _theirs(undo: Undo, settings: Settings) -> bool:
    """Whether the call is someone else's than the pipeline's (and, for tags, touches key-quarantine's). Only the
    exact role ARNs the deployed stack names count: a role of the same name elsewhere (another account, another
    path, a member account's namesake the holder could create) is anyone's."""
    issuer = undo.session_issuer
    if issuer and issuer in settings.own_role_arns:
        return False
    if undo.event_name not in TAG_CALLS:
        return True
    ours = {*CONTAIN_TAGS, settings.exempt_tag} & set(undo.tag_keys)
    contains = undo.event_name == "TagUser" and ours <= CONTAIN_TAGS and issuer in settings.operator_role_arns
    return bool(ours) and not contains


def _trigger_of(entry: Containment, account: str, user: str, why: str) -> Trigger:
    """The incident's own trigger again: the same family, account, user and key make the same incident id."""
    return Trigger(
        family=TriggerFamily(entry.family),
        account=account,
        user_name=user,
        access_key_id=entry.access_key_id,
        reason=entry.reason + why,
        category=entry.category,
        from_aws=entry.from_aws,
    )


def _as_undone(incident: Trigger, watched: Trigger) -> Trigger:
    """The incident's trigger, carrying the watched record (its evidence, and who undid it)."""
    return replace(
        incident,
        event_id=watched.event_id,
        reported_by=watched.reported_by,
        event=watched.event,
        actor=watched.actor,
    )


def _alert(
    trigger: Trigger,
    calls: list[Undo],
    incidents: list[Trigger],
    *,
    settings: Settings,
    aws: Aws,
    ledger: Ledger,
) -> StepResult:
    """One notice for the batch's calls on the user (a retried delivery finds it claimed), before containment."""
    subject, message = alert_notice(trigger, calls, incidents)
    ids = "|".join(sorted(call.event_id for call in calls))
    notice_id = (
        "undo#" + hashlib.sha256(f"{trigger.account}|{trigger.user_name}|{ids}".encode()).hexdigest()[:20]
    )
    return publish_once(
        "alert", notice_id, trigger, subject, (subject, message), settings=settings, aws=aws, ledger=ledger
    )


def alert_notice(trigger: Trigger, calls: list[Undo], incidents: list[Trigger]) -> tuple[str, str]:
    """Who did what to the contained user, when and from where, in the CloudTrail record's own words."""
    user = trigger.user_name
    undone = [call for call in calls if call.event_name not in TAG_CALLS]
    who = calls[0].caller_arn.rsplit("/", 1)[-1] or calls[0].caller_type or "someone"
    subject = (
        f"Containment of {user} UNDONE by {who}: re-containing"
        if undone
        else f"key-quarantine's tags on contained user {user} changed by {who}"
    )
    listed = [f"- {call.describe()}" for call in calls[:ALERT_CALLS]]
    if len(calls) > ALERT_CALLS:
        listed.append(f"- ... and {len(calls) - ALERT_CALLS} more such calls in this batch")
    lines = [
        f"IAM user {user} (account {trigger.account}) is contained by key-quarantine, and someone who is not the "
        "responder, the daily sweep or a release changed what holds it:",
        *listed,
        "",
        f"What happens now: incident(s) {', '.join(sorted(_ids(incidents)))} run again at once; each containment "
        "step checks IAM and redoes what was undone (reported UNDONE), and a follow-up notice says what it found.",
        "Next: find how that principal got its permissions (its role, its session, the source IP) and revoke them: "
        "the deny on the user does not end a role session (README, Safety).",
    ]
    return subject, "\n".join(lines)


def _ids(incidents: list[Trigger]) -> set[str]:
    return {incident_id_of(incident, str(incident.user_name)) for incident in incidents}
