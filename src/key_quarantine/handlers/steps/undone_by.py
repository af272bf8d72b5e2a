"""Who undid a containment that this run found undone (a containment step reported ``UNDONE``).

The undo watch's own record says it when the watch started the run. Otherwise (the sweep, a repeat signal, the
operator's second ``contain``) CloudTrail is asked: the first page of each call that could have undone what was
found undone, in the global events region (IAM records there), since the user was first contained. CloudTrail
delivers about five minutes late, so a very recent undo may not be there yet; the detail says so.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from functools import partial
from typing import TYPE_CHECKING

from key_quarantine.data import GLOBAL_EVENTS_REGION
from key_quarantine.handlers import key_owner
from key_quarantine.handlers.settings import CONTAINED_AT_TAG
from key_quarantine.handlers.steps.base import UNDONE, Skip, Step
from key_quarantine.handlers.timestamps import parse_time
from key_quarantine.handlers.watched_calls import Undo, undo_of

if TYPE_CHECKING:
    from key_quarantine.handlers.playbook import Incident

#: The calls that undo what each containment step found undone.
UNDOING_CALLS = {
    "deny-policy": ("DeleteUserPolicy", "DeleteUserPermissionsBoundary", "PutUserPermissionsBoundary"),
    "deactivate-keys": ("UpdateAccessKey", "CreateAccessKey"),
}


def undone_by(incident: Incident) -> str:
    undone = [r.name for r in incident.containment_results if r.detail.startswith(UNDONE)]
    if not undone:
        raise Skip("no containment step found its earlier work undone")
    event = incident.trigger.event
    watched = undo_of(event["detail"]) if event is not None else None
    if watched is not None:
        return f"undone by {watched.describe()} (the undo watch's record)"
    names = sorted({name for step in undone for name in UNDOING_CALLS.get(step, ())})
    found, unanswered = _lookups(incident, names)
    if not found:
        missing = f"; not answered: {'; '.join(unanswered)}" if unanswered else ""
        return f"who undid it is not in CloudTrail yet ({', '.join(names)}; it records minutes late){missing}"
    return "undone by " + "; ".join(call.describe() for call in found)


def _lookups(incident: Incident, names: list[str]) -> tuple[list[Undo], list[str]]:
    cloudtrail = partial(incident.client, "cloudtrail")
    since = _contained_since(incident)
    found: list[Undo] = []
    unanswered: list[str] = []
    for name in names:
        lookup = (GLOBAL_EVENTS_REGION, "EventName", name)
        page = key_owner.first_page(cloudtrail, incident.trigger.account, since, lookup)
        if isinstance(page, str):
            unanswered.append(f"{name}: {page}")
            continue
        calls = (undo_of(key_owner.record_of(event)) for event in page)
        found += [call for call in calls if call is not None and _on_user(call, incident)]
    return found, unanswered


def _on_user(call: Undo, incident: Incident) -> bool:
    """The call named the user, or (no user named) was the user's own call."""
    if call.user is not None:
        return call.user == incident.user_name
    return call.caller_arn == incident.user_arn and bool(incident.user_arn)


def _contained_since(incident: Incident) -> datetime:
    """When the user was first contained (our tag), else as far back as the evidence looks."""
    tagged = parse_time(incident.tags_before.get(CONTAINED_AT_TAG))
    return tagged or incident.started_at - timedelta(hours=incident.settings.lookback_hours)


STEP = Step("undone-by", key_owner.ACTIONS, undone_by)
