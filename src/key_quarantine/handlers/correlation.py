"""Correlation of abuse signals per key: patterns no single call shows, each one its own incident.

Abuse calls are written to a DynamoDB table, one item per key per batch of deliveries (partition: account and key,
or user for session calls; sort: time and event id; the calls as counts per name and region; a TTL removes it
after the longest window), so a burst of thousands of calls costs one write per batch, not one per call. A query
of the key's recent calls then checks:

- ``ecs-multi-region``: ECS CreateCluster in at least N regions within an hour (miners spread out);
- ``llmjacking-sequence``: ListFoundationModels, then InvokeModel within 15 minutes (a key being tried, then used);
- ``ses-recon-burst``: at least N SES/SNS reconnaissance calls within 10 minutes (a spam kit checking quotas).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from key_quarantine.handlers.aws import Aws
from key_quarantine.handlers.triggers import Trigger

#: Correlation and escalation (handlers/escalation.py) both keep their state in the signals table.
CORRELATION_ACTIONS = ("dynamodb:PutItem", "dynamodb:Query", "dynamodb:UpdateItem", "dynamodb:GetItem")
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
    count: int = 1


def identity_of(trigger: Trigger) -> str:
    return f"{trigger.account}#{trigger.access_key_id or 'user:' + (trigger.user_name or '?')}"


def record_and_correlate(
    aws: Aws,
    table: str,
    trigger: Trigger,
    details: Sequence[Mapping[str, Any]],
    thresholds: Thresholds = Thresholds(),
) -> list[str]:
    """Record these calls of one key (a batch) as one item; return the patterns its recent calls now complete.

    One write and one query per key per batch, however many calls the batch holds: calls of one name in one region
    are kept as a count with the first and the last time.
    """
    calls = summarize(details)
    now = max(call.last for call in calls)
    identity = identity_of(trigger)
    first_id = next((str(d.get("eventID")) for d in details if d.get("eventID")), "")
    dynamodb = aws.client("dynamodb")
    dynamodb.put_item(
        TableName=table,
        Item={
            "identity": {"S": identity},
            "at": {"S": f"{_stamp(now)}#{first_id}"},
            "calls": {"L": [call.as_item() for call in calls]},
            "expires": {"N": str(int((now + thresholds.longest).timestamp()))},
        },
    )
    found = dynamodb.query(
        TableName=table,
        KeyConditionExpression="#identity = :identity AND #at >= :since",
        ExpressionAttributeNames={"#identity": "identity", "#at": "at"},
        ExpressionAttributeValues={
            ":identity": {"S": identity},
            ":since": {"S": _stamp(now - thresholds.longest)},
        },
    )["Items"]
    return correlate([signal for item in found for signal in _signals(item)], now, thresholds)


@dataclass(frozen=True)
class Calls:
    """Calls of one name in one region within a batch: how many, the first and the last."""

    event_name: str
    region: str
    first: datetime
    last: datetime
    count: int

    def as_item(self) -> dict[str, Any]:
        return {
            "M": {
                "event_name": {"S": self.event_name},
                "region": {"S": self.region},
                "first": {"S": _stamp(self.first)},
                "last": {"S": _stamp(self.last)},
                "count": {"N": str(self.count)},
            }
        }

    def signals(self) -> list[Signal]:
        """The last call carries the count; the first is kept for the order of a sequence."""
        last = Signal(self.last, self.event_name, self.region, self.count)
        return (
            [last] if self.first == self.last else [Signal(self.first, self.event_name, self.region, 0), last]
        )


def summarize(details: Sequence[Mapping[str, Any]]) -> list[Calls]:
    grouped: dict[tuple[str, str], list[datetime]] = {}
    for detail in details:
        name, region = str(detail.get("eventName")), str(detail.get("awsRegion", ""))
        grouped.setdefault((name, region), []).append(_time(detail.get("eventTime")))
    return [
        Calls(name, region, min(times), max(times), len(times)) for (name, region), times in grouped.items()
    ]


def _signals(item: Mapping[str, Any]) -> list[Signal]:
    signals = []
    for entry in item["calls"]["L"]:
        call = entry["M"]
        signals += Calls(
            call["event_name"]["S"],
            call["region"]["S"],
            _time(call["first"]["S"]),
            _time(call["last"]["S"]),
            int(call["count"]["N"]),
        ).signals()
    return signals


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
    if sum(s.count for s in recon) >= thresholds.ses_calls:
        matched.append("ses-recon-burst")
    return matched


def _stamp(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%SZ")


def _time(value: Any) -> datetime:
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
        except ValueError:
            pass
    return datetime.now(UTC)
