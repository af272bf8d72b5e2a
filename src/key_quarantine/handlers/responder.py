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
from key_quarantine.handlers.playbook import Outcome, PlaybookError, run_playbook
from key_quarantine.handlers.settings import Settings
from key_quarantine.handlers.triggers import Trigger, TriggerError, TriggerFamily, parse_event

LOG = logging.getLogger("key_quarantine.responder")
LOG.setLevel(logging.INFO)
SETTINGS = Settings.from_environment()
AWS = Aws()
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
    own_account = str(context.invoked_function_arn).split(":")[4]
    if trigger.account != own_account:
        return _log("refused", reason=f"event for account {trigger.account}, responder runs in {own_account}")
    ledger = Ledger(aws, SETTINGS.ledger_table) if SETTINGS.ledger_table else None
    triggers = [trigger, *_correlations(trigger, event, aws)]
    results = [_respond(each, aws, ledger) for each in triggers]
    if any(result.pop("failed", False) for result in results):
        raise IncompleteResponseError("a step failed; see the log lines above")
    return results[0] if len(results) == 1 else {"status": "responded", "incidents": results}


def _heartbeat(event: dict[str, Any], aws: Aws, function_arn: str) -> dict[str, Any]:
    """The canary proves the path from the default bus to here; it never reaches the playbook."""
    try:
        return _log("heartbeat", **record_heartbeat(aws, event, function_name=function_arn.split(":")[6]))
    except CanaryError as error:
        return _log("ignored", event_id=event.get("id"), reason=str(error))


def _respond(trigger: Trigger, aws: Aws, ledger: Ledger | None) -> dict[str, Any]:
    try:
        outcome = run_playbook(trigger, SETTINGS, aws, ledger)
    except PlaybookError as error:
        return _log("refused", family=trigger.family.value, user=trigger.user_name, reason=str(error))
    return {**_log_outcome(outcome), "failed": outcome.failed}


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
