"""Detections that escalate: the attacker's next calls after a first, harmless-looking one are reported."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from key_quarantine.handlers import batch, responder
from key_quarantine.handlers.batch import FinishedMemo
from key_quarantine.handlers.escalation import NOTICES_PER_HOUR, Severity, severity_of
from tests.handlers.conftest import MotoAccount, create_signals_table
from tests.handlers.test_detections import cloudtrail_event, in_account, long_term_key
from tests.handlers.test_responder_wiring import context_for

# The calls come after the first notice (the ledger's time of it): an hour ahead, at the top of an hour
START = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)


@pytest.fixture
def watched(account: MotoAccount, monkeypatch: pytest.MonkeyPatch) -> MotoAccount:
    settings = dataclasses.replace(account.settings, signals_table=create_signals_table())
    monkeypatch.setattr(responder, "SETTINGS", settings)
    monkeypatch.setattr(responder, "FINISHED", FinishedMemo())
    monkeypatch.setattr(batch, "GROUP_WORKERS", 1)  # moto's DynamoDB is not thread-safe
    return account


def call(account: MotoAccount, name: str, minutes: float, number: int, **detail: Any) -> dict[str, Any]:
    source = "sts.amazonaws.com" if name.startswith("Get") else "iam.amazonaws.com"
    event = cloudtrail_event(
        source,
        name,
        long_term_key(account.user, account.key),
        eventTime=(START + timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        eventID=f"00000000-0000-4000-8000-{number:012d}",
        **detail,
    )
    return in_account(event, account.account_id)


def subjects(account: MotoAccount) -> list[str]:
    return [message["Subject"] for message in account.notifications()]


def deliver(account: MotoAccount, *events: dict[str, Any]) -> None:
    records = [
        {"messageId": str(i), "eventSource": "aws:sqs", "body": json.dumps(e)} for i, e in enumerate(events)
    ]
    result = responder.lambda_handler({"Records": records}, context_for(account.account_id))
    assert result == {"batchItemFailures": []}


def test_the_attackers_next_calls_after_get_caller_identity_are_reported(watched: MotoAccount) -> None:
    # Given a key's first call is GetCallerIdentity (persistence, notify only): one notice
    deliver(watched, call(watched, "GetCallerIdentity", 0, 1, readOnly=True))
    (first,) = subjects(watched)
    assert "Low-severity probe" in first  # worded as the detection weighs (issue 14)

    # When minutes later the same key makes a user, then makes itself an administrator
    deliver(watched, call(watched, "CreateUser", 3, 2, readOnly=False, requestParameters={"userName": "b"}))
    admin = {"userName": "b", "policyArn": "arn:aws:iam::aws:policy/AdministratorAccess"}
    deliver(watched, call(watched, "AttachUserPolicy", 4, 3, readOnly=False, requestParameters=admin))

    # Then each is a notice of its own, naming the call and its severity (the category was finished before)
    assert subjects(watched) == [
        f"Escalation (high): {watched.user} (key {watched.key}) now calls CreateUser",
        f"Escalation (critical): {watched.user} (key {watched.key}) now calls AttachUserPolicy",
    ]
    # And a repeat of a call already reported in the window says nothing new
    deliver(watched, call(watched, "CreateUser", 5, 4, readOnly=False, requestParameters={"userName": "c"}))
    deliver(watched, call(watched, "GetCallerIdentity", 6, 5, readOnly=True))
    assert subjects(watched) == []


def test_a_burst_of_new_calls_is_bounded_per_hour_and_digested_in_the_next_notice(
    watched: MotoAccount,
) -> None:
    # Given the key's first notice
    deliver(watched, call(watched, "GetCallerIdentity", 0, 1, readOnly=True))
    assert len(subjects(watched)) == 1
    # When it reaches six new calls within one hour, each in a batch of its own
    names = ["GetSessionToken", "GetFederationToken", "CreateUser", "CreateAccessKey", "CreateLoginProfile"]
    for number, name in enumerate(names, start=2):
        request = {"userName": "b"}
        deliver(
            watched,
            call(watched, name, number, number, readOnly=name.startswith("Get"), requestParameters=request),
        )
    read_only = {"userName": "b", "policyArn": "arn:aws:iam::aws:policy/ReadOnlyAccess"}
    deliver(watched, call(watched, "AttachUserPolicy", 10, 10, readOnly=False, requestParameters=read_only))

    # Then at most NOTICES_PER_HOUR notices go out that hour
    assert len(subjects(watched)) == NOTICES_PER_HOUR
    # And the next hour's first notice lists the calls held back
    admin = {"userName": "b", "policyArn": "arn:aws:iam::aws:policy/AdministratorAccess"}
    deliver(watched, call(watched, "AttachUserPolicy", 70, 20, readOnly=False, requestParameters=admin))
    (notice,) = watched.notifications()
    assert notice["Subject"].startswith("Escalation (critical)")
    assert "  - CreateLoginProfile (high)" in notice["Message"]
    assert "  - AttachUserPolicy (high)" in notice["Message"]


@pytest.mark.parametrize(
    ("detail", "expected"),
    [
        ({"eventName": "GetCallerIdentity", "readOnly": True}, Severity.LOW),
        ({"eventName": "GetSecretValue", "readOnly": True}, Severity.MEDIUM),
        ({"eventName": "GetSessionToken", "readOnly": True}, Severity.HIGH),
        ({"eventName": "CreateAccessKey", "readOnly": False}, Severity.HIGH),
        (
            {
                "eventName": "AttachUserPolicy",
                "readOnly": False,
                "requestParameters": {"policyArn": "arn:aws:iam::aws:policy/AdministratorAccess"},
            },
            Severity.CRITICAL,
        ),
        (
            {
                "eventName": "AttachUserPolicy",
                "readOnly": False,
                "requestParameters": {"policyArn": "arn:aws:iam::aws:policy/ReadOnlyAccess"},
            },
            Severity.HIGH,
        ),
    ],
)
def test_severity(detail: dict[str, Any], expected: Severity) -> None:
    assert severity_of(detail) is expected
