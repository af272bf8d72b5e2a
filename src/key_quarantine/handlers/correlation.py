"""Correlation of abuse signals per key: patterns no single call shows, each one its own incident.

Abuse calls are written to a DynamoDB table, one item per key per batch of deliveries (partition: account and key,
or user for session calls; sort: time and event id; the calls as counts per name and region; a TTL removes it
after the longest window), so a burst of thousands of calls costs one write per batch, not one per call. A query
of the key's recent calls then checks:

- ``ecs-multi-region``: ECS CreateCluster in at least N regions within an hour (miners spread out);
- ``llmjacking-sequence``: ListFoundationModels, then InvokeModel within 15 minutes (a key being tried, then used);
- ``ses-recon-burst``: at least N SES/SNS reconnaissance calls within 10 minutes (a spam kit checking quotas);
- ``ec2-mining-setup``: a key pair created or imported, a security group opened to the world and RunInstances,
  all within an hour (each alone is a CI user's day);
- ``compute-multi-region``: compute started (instances, tasks, services, batch jobs, builds, stacks, Auto Scaling
  groups, ECR logins) in at least N regions within an hour (a burst across regions);
- ``ecs-new-cluster-tasks``: a new ECS cluster, then tasks or services on it, within an hour;
- ``secrets-sweep``: at least N secret or decrypted-parameter reads within 10 minutes, or a listing then a few
  reads (CI reads the few secrets it names; a harvester lists, then reads everything).

The catalogue's ``correlation`` entries (data/abuse_events.json) are recorded only to feed these patterns.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from key_quarantine.handlers.aws import Aws
from key_quarantine.handlers.timestamps import parse_time, stamp
from key_quarantine.handlers.triggers import Trigger

#: Correlation and escalation (handlers/escalation.py) both keep their state in the signals table.
CORRELATION_ACTIONS = ("dynamodb:PutItem", "dynamodb:Query", "dynamodb:UpdateItem", "dynamodb:GetItem")
CORRELATIONS = (
    "ecs-multi-region",
    "llmjacking-sequence",
    "ses-recon-burst",
    "ec2-mining-setup",
    "compute-multi-region",
    "ecs-new-cluster-tasks",
    "secrets-sweep",
)
SPAM_RECON = {
    "GetSendQuota",
    "GetAccountSendingEnabled",
    "ListIdentities",
    "GetIdentityVerificationAttributes",
    "GetAccount",
    "GetSMSAttributes",
}
KEY_PAIR = {"CreateKeyPair", "ImportKeyPair"}
COMPUTE_STARTS = {
    "RunInstances",
    "RunTask",
    "StartTask",
    "CreateService",
    "SubmitJob",
    "StartBuild",
    "CreateStack",
    "CreateAutoScalingGroup",
    "GetAuthorizationToken",
}
ECS_TASKS = {"RegisterTaskDefinition", "RunTask", "StartTask", "CreateService"}
SECRET_READS = {"GetSecretValue", "GetParameters"}
SECRET_LISTINGS = {"ListSecrets", "DescribeParameters"}


@dataclass(frozen=True)
class Thresholds:
    ecs_regions: int = 3
    ecs_window: timedelta = timedelta(hours=1)
    llm_window: timedelta = timedelta(minutes=15)
    ses_calls: int = 5
    ses_window: timedelta = timedelta(minutes=10)
    compute_regions: int = 3
    compute_window: timedelta = timedelta(hours=1)
    secret_reads: int = 10
    secret_reads_after_listing: int = 3
    secrets_window: timedelta = timedelta(minutes=10)

    @property
    def longest(self) -> timedelta:
        return max(
            self.ecs_window, self.llm_window, self.ses_window, self.compute_window, self.secrets_window
        )

    def to_environment(self) -> str:
        """As the responder reads it from KQ_CORRELATION (counts, and windows in minutes)."""
        return json.dumps(
            {
                "ecs_regions": self.ecs_regions,
                "ecs_window_minutes": self.ecs_window // timedelta(minutes=1),
                "llm_window_minutes": self.llm_window // timedelta(minutes=1),
                "ses_calls": self.ses_calls,
                "ses_window_minutes": self.ses_window // timedelta(minutes=1),
                "compute_regions": self.compute_regions,
                "compute_window_minutes": self.compute_window // timedelta(minutes=1),
                "secret_reads": self.secret_reads,
                "secret_reads_after_listing": self.secret_reads_after_listing,
                "secrets_window_minutes": self.secrets_window // timedelta(minutes=1),
            }
        )

    @classmethod
    def from_environment(cls, raw: str | None) -> Thresholds:
        if not raw:
            return cls()
        values = {**json.loads(cls().to_environment()), **json.loads(raw)}  # a field an older stack lacks
        return cls(
            ecs_regions=int(values["ecs_regions"]),
            ecs_window=timedelta(minutes=int(values["ecs_window_minutes"])),
            llm_window=timedelta(minutes=int(values["llm_window_minutes"])),
            ses_calls=int(values["ses_calls"]),
            ses_window=timedelta(minutes=int(values["ses_window_minutes"])),
            compute_regions=int(values["compute_regions"]),
            compute_window=timedelta(minutes=int(values["compute_window_minutes"])),
            secret_reads=int(values["secret_reads"]),
            secret_reads_after_listing=int(values["secret_reads_after_listing"]),
            secrets_window=timedelta(minutes=int(values["secrets_window_minutes"])),
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
            "at": {"S": f"{stamp(now)}#{first_id}"},
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
            ":since": {"S": stamp(now - thresholds.longest)},
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
                "first": {"S": stamp(self.first)},
                "last": {"S": stamp(self.last)},
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
    return [name for name, check in _CHECKS.items() if check(signals, now, thresholds)]


def _within(signals: list[Signal], now: datetime, window: timedelta, names: set[str]) -> list[Signal]:
    return [s for s in signals if s.event_name in names and now - s.at <= window]


def _ecs_multi_region(signals: list[Signal], now: datetime, thresholds: Thresholds) -> bool:
    clusters = {s.region for s in _within(signals, now, thresholds.ecs_window, {"CreateCluster"})}
    return len(clusters) >= thresholds.ecs_regions


def _llmjacking_sequence(signals: list[Signal], now: datetime, thresholds: Thresholds) -> bool:  # noqa: ARG001
    listed = [s.at for s in signals if s.event_name == "ListFoundationModels"]
    invoked = [s.at for s in signals if s.event_name in MODEL_USE]
    return any(timedelta(0) <= use - look <= thresholds.llm_window for look in listed for use in invoked)


def _ses_recon_burst(signals: list[Signal], now: datetime, thresholds: Thresholds) -> bool:
    recon = _within(signals, now, thresholds.ses_window, SPAM_RECON)
    return sum(s.count for s in recon) >= thresholds.ses_calls


def _ec2_mining_setup(signals: list[Signal], now: datetime, thresholds: Thresholds) -> bool:
    seen = {s.event_name for s in _within(signals, now, thresholds.compute_window, {*KEY_PAIR, *EC2_SETUP})}
    return bool(seen & KEY_PAIR) and seen >= EC2_SETUP


def _compute_multi_region(signals: list[Signal], now: datetime, thresholds: Thresholds) -> bool:
    regions = {s.region for s in _within(signals, now, thresholds.compute_window, COMPUTE_STARTS)}
    return len(regions) >= thresholds.compute_regions


def _ecs_new_cluster_tasks(signals: list[Signal], now: datetime, thresholds: Thresholds) -> bool:
    recent = _within(signals, now, thresholds.ecs_window, {"CreateCluster", *ECS_TASKS})
    created = [s.at for s in recent if s.event_name == "CreateCluster"]
    return any(s.at >= first for s in recent if s.event_name in ECS_TASKS for first in created)


def _secrets_sweep(signals: list[Signal], now: datetime, thresholds: Thresholds) -> bool:
    reads = sum(s.count for s in _within(signals, now, thresholds.secrets_window, SECRET_READS))
    listed = _within(signals, now, thresholds.secrets_window, SECRET_LISTINGS)
    return reads >= thresholds.secret_reads or bool(listed and reads >= thresholds.secret_reads_after_listing)


#: EC2's half of the mining set-up besides the key pair: only world-open ingress reaches the responder.
EC2_SETUP = {"AuthorizeSecurityGroupIngress", "RunInstances"}
MODEL_USE = {"InvokeModel", "InvokeModelWithResponseStream", "Converse", "ConverseStream"}
#: The call names each correlation reads.
CORRELATION_CALLS: dict[str, frozenset[str]] = {
    "ecs-multi-region": frozenset({"CreateCluster"}),
    "llmjacking-sequence": frozenset({"ListFoundationModels", *MODEL_USE}),
    "ses-recon-burst": frozenset(SPAM_RECON),
    "ec2-mining-setup": frozenset({*KEY_PAIR, *EC2_SETUP}),
    "compute-multi-region": frozenset(COMPUTE_STARTS),
    "ecs-new-cluster-tasks": frozenset({"CreateCluster", *ECS_TASKS}),
    "secrets-sweep": frozenset({*SECRET_READS, *SECRET_LISTINGS}),
}
#: Every call name some correlation reads.
CORRELATED_CALLS = frozenset().union(*CORRELATION_CALLS.values())
_CHECKS: dict[str, Callable[[list[Signal], datetime, Thresholds], bool]] = {
    "ecs-multi-region": _ecs_multi_region,
    "llmjacking-sequence": _llmjacking_sequence,
    "ses-recon-burst": _ses_recon_burst,
    "ec2-mining-setup": _ec2_mining_setup,
    "compute-multi-region": _compute_multi_region,
    "ecs-new-cluster-tasks": _ecs_new_cluster_tasks,
    "secrets-sweep": _secrets_sweep,
}


def _time(value: Any) -> datetime:
    parsed = parse_time(value) if isinstance(value, str) else None
    return parsed or datetime.now(UTC)
