"""The daily sweep's Lambda entry point: audit, contain what AWS quarantined but events missed, one summary."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any

from key_quarantine.handlers import policy_watch
from key_quarantine.handlers.aws import Aws
from key_quarantine.handlers.canary import send_canary
from key_quarantine.handlers.ledger import Ledger
from key_quarantine.handlers.playbook import run_playbook
from key_quarantine.handlers.policy_watch import PolicyChange
from key_quarantine.handlers.settings import Settings
from key_quarantine.handlers.steps import PlaybookError
from key_quarantine.handlers.sweep import Audit, AuditLimits, run_audit
from key_quarantine.handlers.triggers import Trigger, TriggerFamily

LOG = logging.getLogger("key_quarantine.daily_sweep")
LOG.setLevel(logging.INFO)
SETTINGS = Settings.from_environment()
AWS = Aws()
MISSED = "the daily sweep found AWS's quarantine policy on a user whose key is still active (a missed event)"


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:  # noqa: ARG001 - a schedule event says nothing
    return sweep(SETTINGS, AWS, account=str(context.invoked_function_arn).split(":")[4])


def sweep(settings: Settings, aws: Aws, *, account: str) -> dict[str, Any]:
    aws.calls.clear()
    audit = run_audit(aws, AuditLimits(settings.max_key_age_days, settings.max_unused_key_days))
    ledger = Ledger(aws, settings.ledger_table) if settings.ledger_table else None
    responses = [
        _respond(user, settings, aws, ledger, account) for user in audit.quarantined_users_with_active_keys
    ]
    _, changes = policy_watch.watch(aws)
    summary = {
        "status": "swept",
        "canary": _canary(settings, aws),
        **audit.as_json(),
        "responses": responses,
        "quarantine_policy_changes": [change.as_json() for change in changes],
    }
    if ledger is not None:
        ledger.record_sweep(
            datetime.now(UTC).strftime("%Y-%m-%d"),
            summary["summary"],
            [str(r.get("user")) for r in responses],
        )
    _notify(settings, aws, audit, responses, changes)
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


def _respond(user: str, settings: Settings, aws: Aws, ledger: Ledger | None, account: str) -> dict[str, Any]:
    trigger = Trigger(TriggerFamily.SWEEP, account, user, None, MISSED)
    try:
        return run_playbook(trigger, settings, aws, ledger).as_json()
    except PlaybookError as error:
        return {"user": user, "refused": str(error)}


def _notify(
    settings: Settings, aws: Aws, audit: Audit, responses: list[dict[str, Any]], changes: list[PolicyChange]
) -> None:
    if not settings.topic_arn or not (audit.findings or changes):
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
    if changes:
        lines += ["", "AWS changed its quarantine policies (refresh with key-quarantine policies --refresh):"]
        lines += [f"- {change.describe()}" for change in changes]
    subject = f"key-quarantine daily sweep: {len(audit.findings)} finding(s) in {audit.users} user(s)"
    aws.client("sns").publish(TopicArn=settings.topic_arn, Subject=subject[:100], Message="\n".join(lines))
