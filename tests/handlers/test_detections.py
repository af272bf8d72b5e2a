"""Abuse AWS does not quarantine: every catalogue call, positive and negative, in the CloudTrail record format;
and the response per category (notify by default, contain on opt-in, an allow-list)."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from key_quarantine import data
from key_quarantine.data.detections import categories, detection_pattern, needs_all_management_events
from key_quarantine.handlers.playbook import run_playbook
from key_quarantine.handlers.steps import PlaybookError
from key_quarantine.handlers.triggers import TriggerError, TriggerFamily, parse_event
from key_quarantine.rules.event_pattern import parse_pattern
from tests.handlers.conftest import MotoAccount
from tests.handlers.test_triggers import sample

ACCOUNT = "111122223333"
CATALOGUE = data.abuse_events()


def cloudtrail_event(
    event_source: str, event_name: str, identity: dict[str, Any], **detail: Any
) -> dict[str, Any]:
    """An EventBridge event carrying a CloudTrail record (fields per the CloudTrail record-contents reference)."""
    return {
        "version": "0",
        "id": "7bf73129-1428-4cd3-a780-95db273d1602",
        "detail-type": "AWS API Call via CloudTrail",
        "source": "aws." + event_source.split(".", maxsplit=1)[0],
        "account": ACCOUNT,
        "time": "2026-11-20T03:15:40Z",
        "region": "us-east-1",
        "resources": [],
        "detail": {
            "eventVersion": "1.09",
            "userIdentity": identity,
            "eventTime": "2026-11-20T03:15:40Z",
            "eventSource": event_source,
            "eventName": event_name,
            "awsRegion": "us-east-1",
            "sourceIPAddress": "203.0.113.17",
            "userAgent": "python-requests/2.31.0",
            "requestParameters": None,
            "responseElements": None,
            "requestID": "0a1b2c3d-0000-4000-8000-000000000001",
            "eventID": "1a2b3c4d-0000-4000-8000-000000000002",
            "readOnly": True,
            "eventType": "AwsApiCall",
            "managementEvent": True,
            "recipientAccountId": ACCOUNT,
            "eventCategory": "Management",
            **detail,
        },
    }


def long_term_key(user: str = "leaked-deployer", key: str = "AKIAIOSFODNN7EXAMPLE") -> dict[str, Any]:
    return {
        "type": "IAMUser",
        "principalId": "AIDAEXAMPLEPRINCIPAL1",
        "arn": f"arn:aws:iam::{ACCOUNT}:user/{user}",
        "accountId": ACCOUNT,
        "accessKeyId": key,
        "userName": user,
    }


def in_account(event: dict[str, Any], account: str) -> dict[str, Any]:
    """The same call made in ``account`` by one of its own users (the caller's account is the event's)."""
    event["account"] = event["detail"]["recipientAccountId"] = account
    identity = event["detail"]["userIdentity"]
    identity["accountId"] = account
    identity["arn"] = identity["arn"].replace(f":{ACCOUNT}:", f":{account}:")
    return event


SESSION_FROM_USER_KEY = {
    **long_term_key(),
    "accessKeyId": "ASIAEXAMPLESESSION01",
    "sessionContext": {"attributes": {"mfaAuthenticated": "false"}},
}
ROLE = {
    "type": "AssumedRole",
    "principalId": "AROAEXAMPLEROLE:app",
    "arn": f"arn:aws:sts::{ACCOUNT}:assumed-role/app/app",
    "accountId": ACCOUNT,
    "accessKeyId": "ASIAEXAMPLEROLESESS1",
    "sessionContext": {"sessionIssuer": {"type": "Role", "userName": "app"}},
}
SERVICE = {"type": "AWSService", "invokedBy": "ecs.amazonaws.com"}


def matches(event: dict[str, Any]) -> list[str]:
    return [c for c in categories() if parse_pattern(detection_pattern(c)).matches(event)]


@pytest.mark.parametrize("item", CATALOGUE, ids=[f"{e.category}:{e.event_name}" for e in CATALOGUE])
def test_every_catalogue_call_with_a_user_key_matches_its_category(item: data.AbuseEvent) -> None:
    for identity in (long_term_key(), SESSION_FROM_USER_KEY):
        assert item.category in matches(cloudtrail_event(item.event_source, item.event_name, identity))
    # a failed call is a probe too (AccessDenied while testing what the key can do)
    failed = cloudtrail_event(
        item.event_source, item.event_name, long_term_key(), errorCode="AccessDenied", errorMessage="denied"
    )
    assert item.category in matches(failed)


@pytest.mark.parametrize("item", CATALOGUE, ids=[f"{e.category}:{e.event_name}" for e in CATALOGUE])
def test_the_same_call_by_a_role_or_an_aws_service_does_not_match(item: data.AbuseEvent) -> None:
    for identity in (ROLE, SERVICE):
        assert matches(cloudtrail_event(item.event_source, item.event_name, identity)) == []


@pytest.mark.parametrize(
    ("event_source", "event_name"),
    [
        ("bedrock.amazonaws.com", "GetModelCustomizationJob"),
        ("ses.amazonaws.com", "ListConfigurationSets"),
        ("ecs.amazonaws.com", "DescribeClusters"),
        ("secretsmanager.amazonaws.com", "DescribeSecret"),
        ("s3.amazonaws.com", "GetObject"),
        ("ses.amazonaws.com", "InvokeModel"),  # a name only counts with its own service
    ],
)
def test_benign_calls_do_not_match(event_source: str, event_name: str) -> None:
    assert matches(cloudtrail_event(event_source, event_name, long_term_key())) == []


def test_read_only_categories_ask_for_all_management_events() -> None:
    assert needs_all_management_events("llmjacking")
    assert not needs_all_management_events("ambersquid")


def test_abuse_event_becomes_a_trigger_about_that_user_and_key() -> None:
    trigger = parse_event(cloudtrail_event("bedrock.amazonaws.com", "InvokeModel", long_term_key()))
    assert (trigger.family, trigger.category, trigger.user_name, trigger.access_key_id) == (
        TriggerFamily.ABUSE,
        "llmjacking",
        "leaked-deployer",
        "AKIAIOSFODNN7EXAMPLE",
    )
    session = parse_event(cloudtrail_event("bedrock.amazonaws.com", "InvokeModel", SESSION_FROM_USER_KEY))
    assert (session.user_name, session.access_key_id) == ("leaked-deployer", None)  # every key of the user


def test_a_call_from_another_accounts_user_is_not_about_a_user_here() -> None:
    # Given CloudTrail's copy, in our account, of a call a user of another account made on our resource (a secret
    # shared by resource policy): the event is ours, the caller is not
    event = cloudtrail_event("secretsmanager.amazonaws.com", "GetSecretValue", long_term_key())
    event["detail"]["userIdentity"]["accountId"] = "999999999999"
    # When it is parsed, Then no trigger names our same-named user
    with pytest.raises(TriggerError, match="caller belongs to account '999999999999'"):
        parse_event(event)


def test_a_signal_without_the_account_eventbridge_sets_is_refused() -> None:
    # Given a GuardDuty finding naming an account, delivered without the top-level account (never from EventBridge)
    event = sample("guardduty-iam-user.json")
    del event["account"]
    # Then nobody's word can be checked, so it is refused
    with pytest.raises(TriggerError, match="not a 12-digit AWS account id"):
        parse_event(event)


def invoke_model_by(account: MotoAccount) -> Any:
    event = cloudtrail_event("bedrock.amazonaws.com", "InvokeModel", long_term_key(account.user, account.key))
    return parse_event(in_account(event, account.account_id))


def test_detection_notifies_with_evidence_by_default(account: MotoAccount) -> None:
    outcome = run_playbook(invoke_model_by(account), account.settings, account.aws())
    steps = {s.name: (s.status.value, s.detail) for s in outcome.steps}
    assert account.key_status()[account.key] == "Active"
    assert "llmjacking detections notify only" in steps["deactivate-keys"][1]
    assert steps["evidence"][0] == "done"
    (message,) = account.notifications()
    assert "llmjacking: InvokeModel called with a long-lived key" in message["Message"]


def test_detection_contains_when_its_category_opted_in(account: MotoAccount) -> None:
    settings = dataclasses.replace(account.settings, contain_categories=frozenset({"llmjacking"}))
    run_playbook(invoke_model_by(account), settings, account.aws())
    assert account.key_status()[account.key] == "Inactive"


def test_allow_listed_user_is_never_acted_on(account: MotoAccount) -> None:
    settings = dataclasses.replace(
        account.settings, contain_categories=frozenset({"llmjacking"}), allow_list=frozenset({account.user})
    )
    with pytest.raises(PlaybookError, match="allow-listed"):
        run_playbook(invoke_model_by(account), settings, account.aws())
    assert account.key_status()[account.key] == "Active"
    assert account.notifications() == []
