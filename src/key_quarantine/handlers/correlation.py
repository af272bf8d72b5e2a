"""Correlation of abuse signals per key: patterns no single call shows, each one its own incident.

Every abuse call is written to a DynamoDB table (partition: account and key, or user for session calls; sort: time
and event id; a TTL removes it after the longest window). A query of the key's recent calls then checks:

- ``ecs-multi-region``: ECS CreateCluster in at least N regions within an hour (miners spread out);
- ``llmjacking-sequence``: ListFoundationModels, then InvokeModel within 15 minutes (a key being tried, then used);
- ``ses-recon-burst``: at least N SES/SNS reconnaissance calls within 10 minutes (a spam kit checking quotas).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from key_quarantine.handlers.aws import Aws
from key_quarantine.handlers.triggers import Trigger

CORRELATION_ACTIONS = ("dynamodb:PutItem", "dynamodb:Query")
CORRELATIONS = ("ecs-multi-region", "llmjacking-sequence", "ses-recon-burst")
SPAM_RECON = {
    "GetSendQuota",
    "GetAccountSendingEnabled",
    "ListIdentities",
    "GetIdentityVerificationAttributes",
    "GetAccount",
    "GetSMSAttributes",
}


@dataclass(frozen=True)
class Thresholds:
    ecs_regions: int = 3
    ecs_window: timedelta = timedelta(hours=1)
    llm_window: timedelta = timedelta(minutes=15)
    ses_calls: int = 5
    ses_window: timedelta = timedelta(minutes=10)

    @property
    def longest(self) -> timedelta:
        return max(self.ecs_window, self.llm_window, self.ses_window)

    def to_environment(self) -> str:
        """As the responder reads it from KQ_CORRELATION (counts, and windows in minutes)."""
        return json.dumps(
            {
                "ecs_regions": self.ecs_regions,
                "ecs_window_minutes": self.ecs_window // timedelta(minutes=1),
                "llm_window_minutes": self.llm_window // timedelta(minutes=1),
                "ses_calls": self.ses_calls,
                "ses_window_minutes": self.ses_window // timedelta(minutes=1),
            }
        )

    @classmethod
    def from_environment(cls, raw: str | None) -> Thresholds:
        if not raw:
            return cls()
        values = json.loads(raw)
        return cls(
            ecs_regions=int(values["ecs_regions"]),
            ecs_window=timedelta(minutes=int(values["ecs_window_minutes"])),
            llm_window=timedelta(minutes=int(values["llm_window_minutes"])),
            ses_calls=int(values["ses_calls"]),
            ses_window=timedelta(minutes=int(values["ses_window_minutes"])),
        )


@dataclass(frozen=True)
class Signal:
    at: datetime
    event_name: str
    region: str


def identity_of(trigger: Trigger) -> str:
    return f"{trigger.account}#{trigger.access_key_id or 'user:' + (trigger.user_name or '?')}"


def record_and_correlate(
    aws: Aws,
    table: str,
    trigger: Trigger,
    detail: Mapping[str, Any],
    thresholds: Thresholds = Thresholds(),
) -> list[str]:
    """Record this call; return the names of the patterns the key's recent calls now complete."""
    at = _time(detail.get("eventTime"))
    identity = identity_of(trigger)
    dynamodb = aws.client("dynamodb")
    dynamodb.put_item(
        TableName=table,
        Item={
            "identity": {"S": identity},
            "at": {"S": f"{at.strftime('%Y-%m-%dT%H:%M:%SZ')}#{detail.get('eventID', '')}"},
            "event_name": {"S": str(detail.get("eventName"))},
            "region": {"S": str(detail.get("awsRegion", ""))},
            "expires": {"N": str(int((at + thresholds.longest).timestamp()))},
        },
    )
    since = (at - thresholds.longest).strftime("%Y-%m-%dT%H:%M:%SZ")
    found = dynamodb.query(
        TableName=table,
        KeyConditionExpression="#identity = :identity AND #at >= :since",
        ExpressionAttributeNames={"#identity": "identity", "#at": "at"},
        ExpressionAttributeValues={":identity": {"S": identity}, ":since": {"S": since}},
    )["Items"]
    signals = [
        Signal(_time(item["at"]["S"].split("#", 1)[0]), item["event_name"]["S"], item["region"]["S"])
        for item in found
    ]
    return correlate(signals, at, thresholds)


def correlate(signals: list[Signal], now: datetime, thresholds: Thresholds = Thresholds()) -> list[str]:
    matched = []
    clusters = {
        s.region for s in signals if s.event_name == "CreateCluster" and now - s.at <= thresholds.ecs_window
    }
    if len(clusters) >= thresholds.ecs_regions:
        matched.append("ecs-multi-region")
    listed = [s.at for s in signals if s.event_name == "ListFoundationModels"]
    invoked = [
        s.at
        for s in signals
        if s.event_name in ("InvokeModel", "InvokeModelWithResponseStream", "Converse", "ConverseStream")
    ]
    if any(timedelta(0) <= use - look <= thresholds.llm_window for look in listed for use in invoked):
        matched.append("llmjacking-sequence")
    recon = [s for s in signals if s.event_name in SPAM_RECON and now - s.at <= thresholds.ses_window]
    if len(recon) >= thresholds.ses_calls:
        matched.append("ses-recon-burst")
    return matched


def _time(value: Any) -> datetime:
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
        except ValueError:
            pass
    return datetime.now(UTC)
