"""The Lambda entry point: a batch of SQS messages (the buffer EventBridge delivers to), or one EventBridge event.

Settings are read once per cold start and fail fast. From SQS, the messages whose response failed are returned as
``batchItemFailures``: only they are delivered again, and dead-lettered after the queue's receive limit. A direct
event (the CLI, tests) whose response failed raises, so that an asynchronous invocation is retried. An event that
is not a leak signal, or that names a principal the responder must not touch, is logged and dropped (retrying
would not change the answer); a message that is not an EventBridge event at all is kept (dead-lettered). The
daily sweep's canary is answered with a heartbeat only, before any parsing.
"""

from __future__ import annotations

import os
from typing import Any

from key_quarantine.handlers.aws import Aws
from key_quarantine.handlers.batch import (
    HANDED_BACK,
    Delivery,
    FinishedMemo,
    Responder,
    log,
    respond_to_batch,
)
from key_quarantine.handlers.correlation import Thresholds
from key_quarantine.handlers.organization import Membership
from key_quarantine.handlers.settings import Settings

SETTINGS = Settings.from_environment()
AWS = Aws()  # clients live as long as the execution environment; counts are per invocation
MEMBERSHIP = Membership(AWS)
THRESHOLDS = Thresholds.from_environment(os.environ.get("KQ_CORRELATION"))
FINISHED = FinishedMemo()  # incidents this execution environment saw finish
DIRECT = "direct"


class IncompleteResponseError(RuntimeError):
    """A step failed: the invocation fails so that it is retried, then dead-lettered, and alarms fire."""


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    AWS.calls.clear()
    responder = Responder(
        SETTINGS,
        AWS,
        str(context.invoked_function_arn),
        THRESHOLDS,
        FINISHED,
        MEMBERSHIP,
        remaining_ms=getattr(context, "get_remaining_time_in_millis", None),
    )
    if is_sqs_batch(event):
        deliveries = [Delivery(record["messageId"], record["body"]) for record in event["Records"]]
        failed = respond_to_batch(deliveries, responder).failed
        if (
            failed
        ):  # the invocation succeeds, so Lambda's Errors metric misses these: an alarm counts this line
            log(HANDED_BACK, count=len(failed), message_ids=failed)
        return {"batchItemFailures": [{"itemIdentifier": message_id} for message_id in failed]}
    answered = respond_to_batch([Delivery(DIRECT, event)], responder)
    result = answered.results[DIRECT]
    if answered.failed and result["status"] != "malformed":  # retrying a malformed event would not change it
        raise IncompleteResponseError("a step failed; see the log lines above")
    return result


def is_sqs_batch(event: Any) -> bool:
    records = event.get("Records") if isinstance(event, dict) else None
    return isinstance(records, list) and all(
        isinstance(r, dict) and r.get("eventSource") == "aws:sqs" for r in records
    )
