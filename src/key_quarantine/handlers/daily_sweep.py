"""The daily sweep's Lambda entry point: audit, contain what AWS quarantined but events missed, one summary."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from key_quarantine.handlers import policy_watch
from key_quarantine.handlers.aws import Aws
from key_quarantine.handlers.canary import send_canary
from key_quarantine.handlers.ledger import Ledger, open_ledger
from key_quarantine.handlers.organization import Membership, MemberUnreachableError, assume_member_role
from key_quarantine.handlers.playbook import run_playbook, still_contained
from key_quarantine.handlers.policy_watch import PolicyChange
from key_quarantine.handlers.settings import Settings
from key_quarantine.handlers.steps import PlaybookError
from key_quarantine.handlers.sweep import Audit, AuditLimits, run_audit
from key_quarantine.handlers.triggers import Trigger, TriggerFamily
from key_quarantine.handlers.undo import live_incidents

LOG = logging.getLogger("key_quarantine.daily_sweep")
LOG.setLevel(logging.INFO)
SETTINGS = Settings.from_environment()
AWS = Aws()
UNDONE_FOUND = "; the daily sweep found the containment undone in IAM"
MISSED = "the daily sweep found AWS's quarantine policy on a user whose key is still active (a missed event)"


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:  # noqa: ARG001 - a schedule event says nothing
    _, partition, _, _, account, *_ = str(context.invoked_function_arn).split(":")
    return sweep(SETTINGS, AWS, account=account, partition=partition)


def sweep(settings: Settings, aws: Aws, *, account: str, partition: str = "aws") -> dict[str, Any]:
    """The account's audit and responses; in organization mode (``member_role_name``) also every member account's,
    through the member role: one AssumeRole, then the same audit calls as here, per account."""
    aws.calls.clear()
    audit = run_audit(aws, AuditLimits(settings.max_key_age_days, settings.max_unused_key_days))
    ledger = open_ledger(aws, settings.ledger_table, settings.ledger_mac_key)
    recontained = _recontain_undone(settings, aws, ledger, account)
    again = {str(r.get("user")) for r in recontained}
    responses = [
        _respond(user, settings, aws, ledger, account)
        for user in audit.quarantined_users_with_active_keys
        if user not in again
    ]
    _, changes = policy_watch.watch(aws)
    summary = {
        "status": "swept",
        "canary": _canary(settings, aws),
        **audit.as_json(),
        "responses": responses,
        "recontained": recontained,
        "quarantine_policy_changes": [change.as_json() for change in changes],
        "members": _sweep_members(settings, aws, ledger, account, partition)
        if settings.member_role_name
        else [],
    }
    if ledger is not None:
        ledger.record_sweep(
            datetime.now(UTC).strftime("%Y-%m-%d"),
            summary["summary"],
            [str(r.get("user")) for r in responses],
        )
    _notify(settings, aws, audit, responses, changes, members=summary["members"], recontained=recontained)
    LOG.info(json.dumps({key: value for key, value in summary.items() if key != "findings"}, default=str))
    return summary


def _canary(settings: Settings, aws: Aws) -> str:
    """Send the canary; a failure is in the summary, and the missing heartbeat raises the alarm a day later."""
    if not settings.canary:
        return "off"
    try:
        return f"sent {send_canary(aws)}"
    except Exception as error:  # noqa: BLE001 - the sweep's other results still count; the alarm tells
        return f"failed: {type(error).__name__}: {error}"


def _recontain_undone(
    settings: Settings, aws: Aws, ledger: Ledger | None, account: str
) -> list[dict[str, Any]]:
    """The users the ledger says the responder contained whose containment IAM no longer shows (two reads a user):
    each open incident runs again, its steps redoing what was undone (UNDONE) and asking CloudTrail who did it."""
    if ledger is None:
        return []
    try:
        users = ledger.contained_users(account)
    except (ClientError, BotoCoreError) as error:
        return [{"user": "*", "refused": f"the ledger's contained users could not be read: {error}"}]
    responses = []
    for user in users:
        if still_contained(aws.iam, user):
            continue
        try:
            incidents = live_incidents(account, user, ledger, aws.iam, why=UNDONE_FOUND)
        except (ClientError, BotoCoreError) as error:
            responses.append({"user": user, "refused": f"could not tell whether it is contained: {error}"})
            continue
        if not isinstance(incidents, str):
            responses += [_run(trigger, settings, aws, ledger) for trigger in incidents]
    return responses


def _run(trigger: Trigger, settings: Settings, aws: Aws, ledger: Ledger | None) -> dict[str, Any]:
    try:
        return run_playbook(trigger, settings, aws, ledger).as_json()
    except PlaybookError as error:
        return {"user": trigger.user_name, "refused": str(error)}


def _respond(
    user: str,
    settings: Settings,
    aws: Aws,
    ledger: Ledger | None,
    account: str,
    *,
    member: tuple[Aws, str] | None = None,
) -> dict[str, Any]:
    """``member``: the member account's clients and the responder's own account (organization mode)."""
    trigger = Trigger(TriggerFamily.SWEEP, account, user, None, MISSED)
    if member is None:
        return _run(trigger, settings, aws, ledger)
    try:
        clients, own_account = member
        return run_playbook(
            trigger, settings, aws, ledger, member=clients, responder_account=own_account
        ).as_json()
    except PlaybookError as error:
        return {"user": user, "refused": str(error)}


def _sweep_members(
    settings: Settings, aws: Aws, ledger: Ledger | None, own_account: str, partition: str
) -> list[dict[str, Any]]:
    """Each member account swept like this one; an account that cannot be listed or entered is reported, not
    skipped silently (the summary names it)."""
    try:
        accounts = sorted(Membership(aws).accounts() - {own_account})
    except (ClientError, BotoCoreError) as error:
        return [{"account": "*", "error": f"cannot list the organization's accounts: {error}"}]
    return [
        _sweep_member(member, settings, aws, ledger, own_account=own_account, partition=partition)
        for member in accounts
    ]


def _sweep_member(
    member: str, settings: Settings, aws: Aws, ledger: Ledger | None, *, own_account: str, partition: str
) -> dict[str, Any]:
    role = str(settings.member_role_name)
    try:
        clients = assume_member_role(
            aws, Trigger(TriggerFamily.SWEEP, member, None, None, MISSED), partition, role
        )
        audit = run_audit(clients, AuditLimits(settings.max_key_age_days, settings.max_unused_key_days))
    except (MemberUnreachableError, ClientError, BotoCoreError, TimeoutError) as error:
        return {"account": member, "error": str(error)}
    responses = [
        _respond(user, settings, aws, ledger, member, member=(clients, own_account))
        for user in audit.quarantined_users_with_active_keys
    ]
    return {"account": member, **audit.as_json(), "responses": responses}


def _member_line(member: dict[str, Any]) -> str:
    if "error" in member:
        return f"- {member['account']}: NOT SWEPT ({member['error']})"
    counts = (
        ", ".join(f"{problem}: {count}" for problem, count in sorted(member["summary"].items()))
        or "no finding"
    )
    responded = ", ".join(str(r.get("user")) for r in member["responses"])
    return f"- {member['account']}: {counts}" + (f"; responded to {responded}" if responded else "")


def _notify(
    settings: Settings,
    aws: Aws,
    audit: Audit,
    responses: list[dict[str, Any]],
    changes: list[PolicyChange],
    *,
    members: list[dict[str, Any]],
    recontained: list[dict[str, Any]],
) -> None:
    if not settings.topic_arn or not (audit.findings or changes or members or recontained):
        return
    counts = audit.as_json()["summary"]
    lines = [f"{problem}: {count}" for problem, count in sorted(counts.items())]
    lines += [
        "",
        *(
            f"- {f.severity} {f.problem.value}: {f.user} key {f.key_slot or '-'} ({f.detail})"
            for f in audit.findings[:50]
        ),
    ]
    if len(audit.findings) > 50:  # noqa: PLR2004 - an e-mail, not a report
        lines.append(f"... and {len(audit.findings) - 50} more: run key-quarantine audit")
    if responses:
        lines += [
            "",
            f"Responded to {len(responses)} missed quarantine(s): "
            + ", ".join(str(r.get("user")) for r in responses),
        ]
    if recontained:
        lines += [
            "",
            f"Contained again ({len(recontained)}): the ledger says the responder contained them and IAM showed "
            "it undone: " + ", ".join(str(r.get("user")) for r in recontained),
        ]
    if members:
        lines += ["", "Member accounts:"]
        lines += [_member_line(member) for member in members]
    if changes:
        lines += ["", "AWS changed its quarantine policies (refresh with key-quarantine policies --refresh):"]
        lines += [f"- {change.describe()}" for change in changes]
    subject = f"key-quarantine daily sweep: {len(audit.findings)} finding(s) in {audit.users} user(s)"
    aws.client("sns").publish(TopicArn=settings.topic_arn, Subject=subject[:100], Message="\n".join(lines))
