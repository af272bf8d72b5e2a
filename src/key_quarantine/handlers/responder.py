"""The Lambda entry point: parse the event, run the playbook, log the outcome as JSON.

Settings are read once per cold start and fail fast. An incomplete response (a failed step) raises, so the
asynchronous invocation is retried and finally dead-lettered; an event that is not a leak signal, or that names a
principal the responder must not touch, is logged and dropped (retrying would not change the answer).
"""

from __future__ import annotations

import json
import logging
from typing import Any

from key_quarantine.handlers.aws import Aws
from key_quarantine.handlers.ledger import Ledger
from key_quarantine.handlers.playbook import Outcome, PlaybookError, run_playbook
from key_quarantine.handlers.settings import Settings
from key_quarantine.handlers.triggers import TriggerError, parse_event

LOG = logging.getLogger("key_quarantine.responder")
LOG.setLevel(logging.INFO)
SETTINGS = Settings.from_environment()
AWS = Aws()  # clients live as long as the execution environment; counts are per invocation


class IncompleteResponseError(RuntimeError):
    """A step failed: the invocation fails so that it is retried, then dead-lettered, and alarms fire."""


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    aws = AWS
    aws.calls.clear()
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
    try:
        outcome = run_playbook(trigger, SETTINGS, aws, ledger)
    except PlaybookError as error:
        return _log("refused", family=trigger.family.value, user=trigger.user_name, reason=str(error))
    result = _log_outcome(outcome)
    if outcome.failed:
        raise IncompleteResponseError(
            f"incident {outcome.incident_id}: a step failed; see the log line above"
        )
    return result


def _log_outcome(outcome: Outcome) -> dict[str, Any]:
    return _log("responded", **outcome.as_json(), calls=outcome.calls)


def _log(status: str, **fields: Any) -> dict[str, Any]:
    record = {"status": status, **fields}
    LOG.info(json.dumps(record, default=str))
    return record
