"""Detections that escalate: a key that reaches a new call, or a higher severity, is told about again.

An abuse incident is finished per category: a key's first ``GetCallerIdentity`` (persistence) used to end the
category, and the ``CreateUser``/``CreateAccessKey``/``AttachUserPolicy AdministratorAccess`` minutes later were
never reported. Here every call of an abuse batch is recorded per (key, call name, severity), once in
``DEDUPE_WINDOW`` (a conditional write in the signals table, so concurrent deliveries record it once), and the calls
that are new send a notice when the playbook did not send one in the same run.

Under load: at most ``NOTICES_PER_HOUR`` escalation notices per key per clock hour (of the calls' own time). New
calls past that are held in the hour's item and listed in the key's next notice (a digest); they are in the
incident's evidence whatever happens.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import IntEnum
from typing import Any

from botocore.exceptions import ClientError

from key_quarantine.handlers.aws import Aws
from key_quarantine.handlers.correlation import identity_of
from key_quarantine.handlers.timestamps import parse_time, stamp
from key_quarantine.handlers.triggers import Trigger

DEDUPE_WINDOW = timedelta(hours=24)
NOTICES_PER_HOUR = 4
CONDITION_FAILED = "ConditionalCheckFailedException"

#: Managed policies that make their holder an administrator of the account (or of its IAM).
ADMIN_POLICIES = ("/AdministratorAccess", "/IAMFullAccess", "/PowerUserAccess")
POLICY_ATTACHES = frozenset({"AttachUserPolicy", "AttachRolePolicy", "AttachGroupPolicy"})
CREDENTIAL_MINTS = frozenset({"GetSessionToken", "GetFederationToken", "AssumeRole"})
HARVESTS = frozenset(
    {
        "GetSecretValue",
        "InvokeModel",
        "InvokeModelWithResponseStream",
        "Converse",
        "ConverseStream",
        "RunTask",
    }
)


class Severity(IntEnum):
    LOW = 1  # recon: who am I, what is there
    MEDIUM = 2  # the account's data or money used (secrets read, models invoked)
    HIGH = 3  # a change, or new credentials minted
    CRITICAL = 4  # administrator rights granted

    @property
    def label(self) -> str:
        return self.name.lower()


def severity_of(detail: Mapping[str, Any]) -> Severity:
    name = str(detail.get("eventName"))
    request = detail.get("requestParameters") or {}
    if name in POLICY_ATTACHES and str(request.get("policyArn", "")).endswith(ADMIN_POLICIES):
        return Severity.CRITICAL
    if name in CREDENTIAL_MINTS or detail.get("readOnly") is False:
        return Severity.HIGH
    if name in HARVESTS:
        return Severity.MEDIUM
    return Severity.LOW


@dataclass(frozen=True)
class Reached:
    """A call (name, severity) the key reached first in the window: when, where."""

    event_name: str
    severity: Severity
    at: str
    region: str
    #: False when the record carried no eventTime (``at`` is then when it was seen): such a call cannot be shown
    #: to come after a notice, so a retried delivery never re-tells it
    timed: bool = True

    def line(self) -> str:
        return f"{self.event_name} ({self.severity.label}) at {self.at} in {self.region}"


@dataclass(frozen=True)
class Escalation:
    """What one batch of a key's calls brought: the new calls, and whether a notice may go out (the budget)."""

    reached: list[Reached]
    may_notify: bool
    held_before: list[str]  # new calls an earlier hour held back: this notice's digest

    @property
    def highest(self) -> Severity | None:
        return max((r.severity for r in self.reached), default=None)


def record_calls(
    aws: Aws,
    table: str,
    trigger: Trigger,
    details: Sequence[Mapping[str, Any]],
    *,
    notified: bool,
    covered_until: str | None = None,
) -> Escalation:
    """Record the batch's calls; the ones new in the window, and whether the hour's notice budget allows one.

    ``notified``: the run already sent the incident's own notice (it covers these calls; no budget is used).
    ``covered_until``: when the incident's notice went out (the ledger's word): calls made by then are recorded,
    never told about again (a delivery retried after the notice must not send a second one).
    """
    dynamodb = aws.client("dynamodb")
    partition = f"notice#{identity_of(trigger)}"
    recorded = [call for call in _distinct(details) if _first_in_window(dynamodb, table, partition, call)]
    reached = [call for call in recorded if covered_until is None or (call.timed and call.at > covered_until)]
    if not reached or notified:
        return Escalation(reached, may_notify=False, held_before=[])
    hour = _hour(max(call.at for call in reached))
    may_notify = _take_notice(dynamodb, table, partition, hour)
    if not may_notify:
        _hold(dynamodb, table, partition, hour, [call.line() for call in reached])
        return Escalation(reached, may_notify=False, held_before=[])
    return Escalation(
        reached, may_notify=True, held_before=_held(dynamodb, table, partition, _previous(hour))
    )


def escalation_notice(trigger: Trigger, incident_id: str, escalation: Escalation) -> tuple[str, str]:
    highest = escalation.highest or Severity.LOW
    names = ", ".join(dict.fromkeys(r.event_name for r in escalation.reached))
    who = f"{trigger.user_name or '?'} (key {trigger.access_key_id or 'session'})"
    subject = f"Escalation ({highest.label}): {who} now calls {names}"
    lines = [
        f"The key of {who} in account {trigger.account} reached calls it had not made in the last "
        f"{DEDUPE_WINDOW // timedelta(hours=1)} h:",
        *(f"  - {r.line()}" for r in escalation.reached),
    ]
    if escalation.held_before:
        lines += [
            "Also reached earlier, held back by the notice limit:",
            *(f"  - {h}" for h in escalation.held_before),
        ]
    lines += [
        f"Incident: {incident_id} (the first notice, evidence and report are under it).",
        f"At most {NOTICES_PER_HOUR} such notices per key per hour; further new calls are listed in the next one.",
    ]
    return subject, "\n".join(lines)


def _distinct(details: Sequence[Mapping[str, Any]]) -> list[Reached]:
    first: dict[tuple[str, Severity], Reached] = {}
    for detail in sorted(details, key=lambda d: str(d.get("eventTime", ""))):
        call = Reached(
            str(detail.get("eventName")),
            severity_of(detail),
            str(detail.get("eventTime") or stamp(datetime.now(UTC))),
            str(detail.get("awsRegion", "")),
            timed=bool(detail.get("eventTime")),
        )
        first.setdefault((call.event_name, call.severity), call)
    return list(first.values())


def _first_in_window(dynamodb: Any, table: str, partition: str, call: Reached) -> bool:
    at = _time(call.at)
    try:
        dynamodb.put_item(
            TableName=table,
            Item={
                "identity": {"S": partition},
                "at": {"S": f"call#{call.event_name}#{call.severity.label}"},
                "seen_at": {"S": call.at},
                "expires": {"N": str(int((at + DEDUPE_WINDOW).timestamp()))},
            },
            ConditionExpression="attribute_not_exists(seen_at) OR seen_at < :since",
            ExpressionAttributeValues={":since": {"S": stamp(at - DEDUPE_WINDOW)}},
        )
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") == CONDITION_FAILED:
            return False
        raise
    return True


def _take_notice(dynamodb: Any, table: str, partition: str, hour: str) -> bool:
    try:
        dynamodb.update_item(
            TableName=table,
            Key={"identity": {"S": partition}, "at": {"S": f"hour#{hour}"}},
            UpdateExpression="ADD sent :one SET expires = :expires",
            ConditionExpression="attribute_not_exists(sent) OR sent < :most",
            ExpressionAttributeValues={
                ":one": {"N": "1"},
                ":most": {"N": str(NOTICES_PER_HOUR)},
                ":expires": {"N": str(int((_time(hour + ":00:00Z") + timedelta(hours=3)).timestamp()))},
            },
        )
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") == CONDITION_FAILED:
            return False
        raise
    return True


def _hold(dynamodb: Any, table: str, partition: str, hour: str, lines: list[str]) -> None:
    dynamodb.update_item(
        TableName=table,
        Key={"identity": {"S": partition}, "at": {"S": f"hour#{hour}"}},
        UpdateExpression="ADD held :lines",
        ExpressionAttributeValues={":lines": {"SS": lines}},
    )


def _held(dynamodb: Any, table: str, partition: str, hour: str) -> list[str]:
    found = dynamodb.get_item(
        TableName=table, Key={"identity": {"S": partition}, "at": {"S": f"hour#{hour}"}}, ConsistentRead=True
    )
    return sorted(found.get("Item", {}).get("held", {}).get("SS", []))


def _hour(stamp: str) -> str:
    return stamp[:13]  # 2026-12-02T19


def _previous(hour: str) -> str:
    return (_time(hour + ":00:00Z") - timedelta(hours=1)).strftime("%Y-%m-%dT%H")


def _time(value: str) -> datetime:
    return parse_time(value) or datetime.now(UTC)
