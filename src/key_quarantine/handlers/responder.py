"""The Lambda entry point: parse the event, run the playbook, log the outcome as JSON.

Settings are read once per cold start and fail fast. An incomplete response (a failed step) raises, so the
asynchronous invocation is retried and finally dead-lettered; an event that is not a leak signal, or that names a
principal the responder must not touch, is logged and dropped (retrying would not change the answer). The
daily sweep's canary is answered with a heartbeat only, before any parsing.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import replace
from typing import Any

from key_quarantine.handlers.aws import Aws
from key_quarantine.handlers.canary import CanaryError, is_canary, record_heartbeat
from key_quarantine.handlers.correlation import Thresholds, record_and_correlate
from key_quarantine.handlers.ledger import Ledger
from key_quarantine.handlers.organization import Membership, RefusedAccountError, member_clients, refusal_id
from key_quarantine.handlers.playbook import Outcome, PlaybookError, run_playbook
from key_quarantine.handlers.settings import Settings
from key_quarantine.handlers.triggers import Trigger, TriggerError, TriggerFamily, parse_event

LOG = logging.getLogger("key_quarantine.responder")
LOG.setLevel(logging.INFO)
SETTINGS = Settings.from_environment()
AWS = Aws()
MEMBERSHIP = Membership(AWS)
THRESHOLDS = Thresholds.from_environment(
    os.environ.get("KQ_CORRELATION")
)  # clients live as long as the execution environment; counts are per invocation


class IncompleteResponseError(RuntimeError):
    """A step failed: the invocation fails so that it is retried, then dead-lettered, and alarms fire."""


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    aws = AWS
    aws.calls.clear()
    if is_canary(event):
        return _heartbeat(event, aws, str(context.invoked_function_arn))
    try:
        trigger = parse_event(event)
    except TriggerError as error:
        return _log(
            "ignored", event_id=event.get("id") if isinstance(event, dict) else None, reason=str(error)
        )
    ledger = Ledger(aws, SETTINGS.ledger_table) if SETTINGS.ledger_table else None
    own_arn = str(context.invoked_function_arn)
    try:
        member = member_clients(trigger, own_arn, SETTINGS, aws, MEMBERSHIP)
    except RefusedAccountError as error:
        return _refuse(trigger, str(error), aws, ledger)
    triggers = [trigger, *_correlations(trigger, event, aws)]
    results = [_respond(each, aws, ledger, member, own_arn.split(":")[4]) for each in triggers]
    if any(result.pop("failed", False) for result in results):
        raise IncompleteResponseError("a step failed; see the log lines above")
    return results[0] if len(results) == 1 else {"status": "responded", "incidents": results}


def _heartbeat(event: dict[str, Any], aws: Aws, function_arn: str) -> dict[str, Any]:
    """The canary proves the path from the default bus to here; it never reaches the playbook."""
    try:
        return _log("heartbeat", **record_heartbeat(aws, event, function_name=function_arn.split(":")[6]))
    except CanaryError as error:
        return _log("ignored", event_id=event.get("id"), reason=str(error))


def _respond(
    trigger: Trigger, aws: Aws, ledger: Ledger | None, member: Aws | None, own_account: str
) -> dict[str, Any]:
    try:
        outcome = run_playbook(trigger, SETTINGS, aws, ledger, member=member, responder_account=own_account)
    except PlaybookError as error:
        return _log("refused", family=trigger.family.value, user=trigger.user_name, reason=str(error))
    return {**_log_outcome(outcome), "failed": outcome.failed}


def _refuse(trigger: Trigger, reason: str, aws: Aws, ledger: Ledger | None) -> dict[str, Any]:
    """An account the responder must not act in: logged, kept in the ledger, and told to the security team once."""
    record = _log("refused", account=trigger.account, reported_by=trigger.reported_by, reason=reason)
    first_time = ledger.record_refusal(refusal_id(trigger, reason), trigger, reason) if ledger else True
    if first_time and SETTINGS.topic_arn and not SETTINGS.dry_run:
        subject = f"Refused a leak signal for account {trigger.account}"
        message = (
            f"{trigger.reason}, for user {trigger.user_name or '?'} / key {trigger.access_key_id or '?'}.\n"
            f"Not acted on: {reason}.\nIf the account is yours, deploy the member stack there; if not, someone "
            "is sending events that name it."
        )
        try:
            aws.client("sns").publish(TopicArn=SETTINGS.topic_arn, Subject=subject[:100], Message=message)
        except Exception as error:  # noqa: BLE001 - the refusal stands; the log line above records it
            _log("refusal-notification-failed", account=trigger.account, reason=str(error))
    return record


def _correlations(trigger: Trigger, event: dict[str, Any], aws: Aws) -> list[Trigger]:
    """Patterns this abuse call completes, each an incident of its own. Never blocks the response."""
    if trigger.family is not TriggerFamily.ABUSE or not SETTINGS.signals_table:
        return []
    try:
        matched = record_and_correlate(aws, SETTINGS.signals_table, trigger, event["detail"], THRESHOLDS)
    except Exception as error:  # noqa: BLE001 - correlation is extra: the call itself is still answered
        _log("correlation-failed", user=trigger.user_name, reason=str(error))
        return []
    return [replace(trigger, category=name, reason=f"{name}: {trigger.reason}") for name in matched]


def _log_outcome(outcome: Outcome) -> dict[str, Any]:
    return _log("responded", **outcome.as_json(), calls=outcome.calls)


def _log(status: str, **fields: Any) -> dict[str, Any]:
    record = {"status": status, **fields}
    LOG.info(json.dumps(record, default=str))
    return record
