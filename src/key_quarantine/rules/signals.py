"""Sample events for every leak signal, so rules decide "would this EventBridge rule fire?" by evaluation.

Built from the real and documented samples in ``data/signal_events`` with one field changed per variant: every
quarantine policy AWS has published plus one it has not (monitoring must survive the next version), every AWS
Health ``AWS_RISK_*`` code in both payload shapes, and the read-only abuse events of the catalogue.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from functools import cache
from typing import Any

from key_quarantine import data

#: Stands in for the account of an environment-agnostic stack, in samples and in patterns alike.
SAMPLE_ACCOUNT = "123456789012"
GLOBAL_EVENTS_REGION = data.GLOBAL_EVENTS_REGION


class SignalFamily(StrEnum):
    QUARANTINE_ATTACH = "AWS attaching a quarantine policy"
    LEGACY_QUARANTINE = "AWS adding the legacy quarantine inline policy"
    HEALTH_RISK = "AWS Health AWS_RISK_*"
    IAM_API_CALL = "IAM API call"
    READ_ONLY_ABUSE = "read-only abuse call"


@dataclass(frozen=True)
class Signal:
    """One sample event and what it stands for."""

    name: str
    family: SignalFamily
    event: dict[str, Any]

    @property
    def is_global(self) -> bool:
        """IAM CloudTrail events and global Health events reach EventBridge only in us-east-1."""
        return self.family is not SignalFamily.READ_ONLY_ABUSE


#: What counts as quarantine monitoring: every quarantine policy version (future ones included) ...
QUARANTINE_ATTACH_REQUIRED = tuple(
    f"attach:{name}" for name in (*data.KNOWN_QUARANTINE_POLICY_NAMES, data.FUTURE_QUARANTINE_POLICY_NAME)
)
#: ... or AWS Health's exposed-credentials event in both payload shapes.
HEALTH_EXPOSURE_REQUIRED = (
    "health:AWS_RISK_CREDENTIALS_EXPOSED",
    "health-legacy:AWS_RISK_CREDENTIALS_EXPOSED",
)


@cache
def all_signals() -> tuple[Signal, ...]:
    return (
        *_quarantine_attach_signals(),
        _legacy_quarantine_signal(),
        *_health_signals(),
        *_iam_api_call_signals(),
        *_read_only_abuse_signals(),
    )


@cache
def signals_for_account(account: str) -> tuple[Signal, ...]:
    """The samples as they would arrive in ``account``."""
    if account == SAMPLE_ACCOUNT:
        return all_signals()
    return tuple(_in_account(signal, account) for signal in all_signals())


def _in_account(signal: Signal, account: str) -> Signal:
    event = copy.deepcopy(signal.event)
    event["account"] = account
    if "recipientAccountId" in event["detail"]:
        event["detail"]["recipientAccountId"] = account
    return Signal(signal.name, signal.family, event)


def _cloudtrail_event(event_source: str, event_name: str, *, read_only: bool) -> dict[str, Any]:
    event = data.signal_event("cloudtrail-attach-quarantine")
    event["account"] = SAMPLE_ACCOUNT
    event["source"] = "aws." + event_source.split(".", maxsplit=1)[0]
    detail = event["detail"]
    detail.update(eventSource=event_source, eventName=event_name, readOnly=read_only)
    detail["recipientAccountId"] = SAMPLE_ACCOUNT
    return event


def _quarantine_attach_signals() -> list[Signal]:
    signals = []
    for name in (*data.KNOWN_QUARANTINE_POLICY_NAMES, data.FUTURE_QUARANTINE_POLICY_NAME):
        event = _cloudtrail_event("iam.amazonaws.com", "AttachUserPolicy", read_only=False)
        event["detail"]["requestParameters"]["policyArn"] = f"arn:aws:iam::aws:policy/{name}"
        signals.append(Signal(f"attach:{name}", SignalFamily.QUARANTINE_ATTACH, event))
    return signals


def _legacy_quarantine_signal() -> Signal:
    event = _cloudtrail_event("iam.amazonaws.com", "PutUserPolicy", read_only=False)
    event["detail"]["requestParameters"] = {
        "userName": event["detail"]["requestParameters"]["userName"],
        "policyName": data.LEGACY_QUARANTINE_INLINE_POLICY,
    }
    return Signal("legacy:PutUserPolicy", SignalFamily.LEGACY_QUARANTINE, event)


def _health_signals() -> list[Signal]:
    signals = []
    for code in data.AWS_RISK_EVENT_TYPE_CODES:
        for shape, sample in (("health", "health-risk"), ("health-legacy", "health-risk-legacy")):
            event = data.signal_event(sample)
            event["account"] = SAMPLE_ACCOUNT
            event["detail"]["eventTypeCode"] = code
            event["detail"]["eventArn"] = f"arn:aws:health:us-east-1::event/RISK/{code}/{code}-sample"
            if "affectedAccount" in event["detail"]:  # the published sample has a sanitised key id here
                event["detail"]["affectedAccount"] = SAMPLE_ACCOUNT
            signals.append(Signal(f"{shape}:{code}", SignalFamily.HEALTH_RISK, event))
    return signals


def _iam_api_call_signals() -> list[Signal]:
    return [
        Signal(f"iam:{item.event_name}{_narrowed(item)}", SignalFamily.IAM_API_CALL, _abuse_event(item))
        for item in data.abuse_events()
        if item.event_source == "iam.amazonaws.com"
    ]


def _read_only_abuse_signals() -> list[Signal]:
    return [
        Signal(
            f"read-only:{item.event_source.split('.')[0]}:{item.event_name}{_narrowed(item)}",
            SignalFamily.READ_ONLY_ABUSE,
            _abuse_event(item),
        )
        for item in data.abuse_events()
        if item.read_only
    ]


def _abuse_event(item: data.AbuseEvent) -> dict[str, Any]:
    event = _cloudtrail_event(item.event_source, item.event_name, read_only=item.read_only)
    _satisfy(event["detail"], item.match)
    return event


def _narrowed(item: data.AbuseEvent) -> str:
    """Entries that narrow a call by its parameters are signals of their own (``...:InvokeModel+bearer``)."""
    return "".join(f"+{key}" for key in item.match)


def _satisfy(detail: dict[str, Any], match: Mapping[str, Any]) -> None:
    """Give the sample the fields a catalogue entry's ``match`` asks for (its first listed value each)."""
    for key, wanted in match.items():
        if isinstance(wanted, Mapping):
            inner = detail.get(key)
            detail[key] = inner if isinstance(inner, dict) else {}
            _satisfy(detail[key], wanted)
        else:
            first = wanted[0]
            detail[key] = "sample" if isinstance(first, Mapping) else first  # {"exists": true}
