"""The pipeline canary: the daily sweep sends one event down the trigger path; the responder records a heartbeat.

Custom events cannot use an ``aws.*`` source, so the canary has a source of its own that a dedicated rule admits.
A canary event is answered with a heartbeat metric and nothing else: it never reaches ``parse_event`` or the
playbook, so it cannot make the responder act on anyone. Anyone allowed to put events on the default bus can fake
a heartbeat; that hides a broken pipeline for a day at most, and changes no user.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from key_quarantine.handlers.aws import Aws

CANARY_SOURCE = "key-quarantine.canary"
CANARY_DETAIL_TYPE = "Key Quarantine Canary"
HEARTBEAT_NAMESPACE = "KeyQuarantine"
HEARTBEAT_METRIC = "CanaryHeartbeat"
HEARTBEAT_DIMENSION = "FunctionName"
#: The responder's heartbeat (PutMetricData has no resource-level permissions; the role scopes the namespace), and
#: the heartbeat's notice to the topic, which proves the notice path (topic, its key and policy) end to end.
HEARTBEAT_ACTIONS = ("cloudwatch:PutMetricData", "sns:Publish")
#: The message attribute that marks the heartbeat's notice: e-mail subscriptions filter it out (no daily mail), the
#: topic's NumberOfMessagesPublished still counts it.
NOTICE_KIND_ATTRIBUTE = "key-quarantine-kind"
HEARTBEAT_NOTICE = "heartbeat"


class CanaryError(ValueError):
    """A canary-sourced event of the wrong shape; the message says what is wrong."""


def is_canary(event: Any) -> bool:
    return isinstance(event, Mapping) and event.get("source") == CANARY_SOURCE


def send_canary(aws: Aws, now: datetime | None = None) -> str:
    """Put one canary event on the default bus; returns its event id. Raises on a failed entry."""
    sent_at = (now or datetime.now(UTC)).isoformat()
    result = aws.client("events").put_events(
        Entries=[
            {
                "Source": CANARY_SOURCE,
                "DetailType": CANARY_DETAIL_TYPE,
                "Detail": json.dumps({"sent_at": sent_at}),
            }
        ]
    )
    (entry,) = result["Entries"]
    if result.get("FailedEntryCount") or "EventId" not in entry:
        raise RuntimeError(
            f"EventBridge refused the canary: {entry.get('ErrorCode')} {entry.get('ErrorMessage')}"
        )
    return str(entry["EventId"])


def record_heartbeat(
    aws: Aws, event: Mapping[str, Any], function_name: str, topic_arn: str | None = None
) -> dict[str, Any]:
    """The heartbeat metric for a canary event that came through the trigger path, and a heartbeat notice to the
    topic (marked, so e-mail subscribers do not get it). Raises when either fails: the canary is tried again and
    finally dead-lettered, which alarms on the alarm topic."""
    if event.get("detail-type") != CANARY_DETAIL_TYPE or not isinstance(event.get("detail"), Mapping):
        raise CanaryError(
            f"a {CANARY_SOURCE} event must have detail-type {CANARY_DETAIL_TYPE!r} and a detail"
        )
    aws.client("cloudwatch").put_metric_data(
        Namespace=HEARTBEAT_NAMESPACE,
        MetricData=[
            {
                "MetricName": HEARTBEAT_METRIC,
                "Dimensions": [{"Name": HEARTBEAT_DIMENSION, "Value": function_name}],
                "Value": 1,
                "Unit": "Count",
            }
        ],
    )
    recorded = {"canary_event_id": event.get("id"), "sent_at": event["detail"].get("sent_at")}
    if topic_arn:
        aws.client("sns").publish(
            TopicArn=topic_arn,
            Subject="key-quarantine heartbeat",
            Message=json.dumps({"heartbeat": recorded}),
            MessageAttributes={
                NOTICE_KIND_ATTRIBUTE: {"DataType": "String", "StringValue": HEARTBEAT_NOTICE}
            },
        )
        recorded["notice"] = "published"
    return recorded
