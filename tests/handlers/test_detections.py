"""Abuse AWS does not quarantine: every catalogue call, positive and negative, in the CloudTrail record format;
and the response per category (notify by default, contain on opt-in, an allow-list)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest

from key_quarantine import data
from key_quarantine.cli import detections_doc
from key_quarantine.data import Detection
from key_quarantine.data.detections import (
    categories,
    detection_pattern,
    entry_for,
    needs_all_management_events,
)
from key_quarantine.handlers import responder
from key_quarantine.handlers.batch import FinishedMemo
from key_quarantine.handlers.playbook import run_playbook
from key_quarantine.handlers.steps import PlaybookError
from key_quarantine.handlers.triggers import Trigger, TriggerError, TriggerFamily, parse_event, parse_triggers
from key_quarantine.handlers.watched_calls import UNDO_CALLS
from key_quarantine.rules.event_pattern import parse_pattern
from tests.handlers import campaign_records
from tests.handlers.campaign_records import (
    ACCOUNT,
    AWS_ACCOUNT,
    BY_CLOUDFORMATION,
    FEDERATED_FROM_USER_KEY,
    ROLE,
    SERVICE,
    SESSION_FROM_USER_KEY,
    event_of,
    long_term_key,
    record_of,
)
from tests.handlers.conftest import MotoAccount
from tests.handlers.test_responder_wiring import context_for
from tests.handlers.test_triggers import sample

CATALOGUE = data.abuse_events()
#: EventBridge refuses an event pattern longer than this (characters).
EVENT_PATTERN_LIMIT = 2048


def cloudtrail_event(
    event_source: str, event_name: str, identity: dict[str, Any], **detail: Any
) -> dict[str, Any]:
    """An EventBridge event carrying a CloudTrail record (fields per the CloudTrail record-contents reference)."""
    record = {
        "eventSource": event_source,
        "eventName": event_name,
        "readOnly": True,
        "requestParameters": None,
    }
    return campaign_records.cloudtrail_event(record, identity, **detail)


def in_account(event: dict[str, Any], account: str) -> dict[str, Any]:
    """The same call made in ``account`` by one of its own users (the caller's account is the event's)."""
    event["account"] = event["detail"]["recipientAccountId"] = account
    identity = event["detail"]["userIdentity"]
    identity["accountId"] = account
    identity["arn"] = identity["arn"].replace(f":{ACCOUNT}:", f":{account}:")
    return event


def abuse_trigger(event: dict[str, Any]) -> Trigger:
    """The event's abuse trigger; a new key or password is the undo watch's trigger too (test_undo_watch)."""
    (trigger,) = [t for t in parse_triggers(event) if t.family is not TriggerFamily.UNDO]
    return trigger


def matches(event: dict[str, Any]) -> list[str]:
    return [c for c in categories() if parse_pattern(detection_pattern(c)).matches(event)]


IDS = [f"{e.category}:{e.event_name}{'+' if e.match else ''}" for e in CATALOGUE]
USER_KEY_CALLERS = {
    "long-term key": long_term_key(),
    "GetSessionToken session": SESSION_FROM_USER_KEY,
    "GetFederationToken session": FEDERATED_FROM_USER_KEY,
}


@pytest.mark.parametrize("item", CATALOGUE, ids=IDS)
def test_every_catalogue_call_by_a_user_key_matches_its_category_and_parses_to_it(
    item: data.AbuseEvent,
) -> None:
    # Given the entry's real-shaped record, made by each caller a leaked user key can be
    for caller, identity in USER_KEY_CALLERS.items():
        event = event_of(item, identity)
        # Then its category's rule fires, and the responder reads the same entry from it
        assert item.category in matches(event), caller
        trigger = abuse_trigger(event)
        assert (trigger.family, trigger.category, trigger.severity) == (
            TriggerFamily.ABUSE,
            item.category,
            item.severity,
        ), caller
        assert trigger.user_name in ("leaked-deployer", "BedrockAPIKey-x1y2"), caller
        assert trigger.correlation_only is (item.detection is Detection.CORRELATION)
    # a failed call is a probe too (AccessDenied while testing what the key can do)
    failed = event_of(item, errorCode="AccessDenied", errorMessage="denied")
    assert item.category in matches(failed)
    assert "(failed: AccessDenied)" in parse_event(failed).reason


@pytest.mark.parametrize("item", CATALOGUE, ids=IDS)
def test_the_same_call_by_a_role_aws_or_cloudformation_does_not_match(item: data.AbuseEvent) -> None:
    for identity in (ROLE, SERVICE, AWS_ACCOUNT, BY_CLOUDFORMATION):
        event = event_of(item, identity)
        assert matches(event) == [], identity["type"]
        if item.event_name in UNDO_CALLS:  # a new key or password on a user may undo a containment
            assert [t.family for t in parse_triggers(event)] == [TriggerFamily.UNDO], identity["type"]
            continue
        with pytest.raises(TriggerError):
            parse_event(event)


@pytest.mark.parametrize(
    "item", [e for e in CATALOGUE if e.match], ids=[i for i, e in zip(IDS, CATALOGUE, strict=True) if e.match]
)
def test_a_narrowed_call_without_its_parameters_is_not_that_entry(item: data.AbuseEvent) -> None:
    # Given the call without what makes it abuse (no decryption, AuthType AWS_IAM, no SSE-C key, a SigV4 call)
    event = event_of(item)
    event["detail"].pop("additionalEventData", None)
    parameters = event["detail"]["requestParameters"]
    for name in (
        "withDecryption",
        "x-amz-server-side-encryption-customer-algorithm",
        "cidrIp",
        "ipPermissions",
    ):
        parameters.pop(name, None)
    if "authType" in parameters:
        parameters["authType"] = "AWS_IAM"
    # Then the rule's verdict and the responder's entry agree, and it is not the narrowed entry
    entry = entry_for(event["detail"])
    assert entry != item
    assert (item.category in matches(event)) is (entry is not None and entry.category == item.category)


@pytest.mark.parametrize("item", CATALOGUE, ids=IDS)
def test_each_entry_cites_where_it_comes_from(item: data.AbuseEvent) -> None:
    assert item.sources
    assert item.why
    assert all(source.title for source in item.sources)
    assert record_of(item)["cite"]


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


def test_detections_md_mirrors_the_catalogue() -> None:
    project = Path(__file__).resolve().parents[2]
    assert (project / "DETECTIONS.md").read_text() == detections_doc.render(), (
        "regenerate: python -m key_quarantine.cli.detections_doc > DETECTIONS.md"
    )


def test_quarantine_columns_come_from_the_policy_documents() -> None:
    # Given V3 v3 (2026-03-16) denies organizations:LeaveOrganization and V3 v2 did not; V4 is known only in part
    by_label = {version.label: version for version in data.quarantine_policy_versions()}
    leave = next(e for e in CATALOGUE if e.event_name == "LeaveOrganization")
    assert (by_label["V3 v2"].denies(leave.iam_action), by_label["V3 v3"].denies(leave.iam_action)) == (
        False,
        True,
    )
    assert by_label["V4 v2"].denies(leave.iam_action) is None
    assert by_label["V4 v2"].denies("ec2:RunInstances") is True  # in the readable start of its document
    assert [v.created[:10] for v in data.quarantine_policy_versions() if v.created] == [
        "2020-08-11",
        "2024-10-02",
        "2024-10-02",
        "2026-03-16",
        "2026-11-09",
    ]


@pytest.mark.parametrize("name", ["CreateUser", "CreateAccessKey", "CreateLoginProfile", "AttachUserPolicy"])
def test_a_denied_persistence_attempt_is_notified(account: MotoAccount, name: str) -> None:
    # Given the holder of a quarantined key trying to make itself a way back in, and every quarantine version
    # denying it: CloudTrail records the attempt with AccessDenied, and nothing was created
    entry = next(e for e in CATALOGUE if e.event_name == name)
    event = event_of(entry, long_term_key(account.user, account.key), errorCode="AccessDenied")
    # When the responder gets it
    run_playbook(parse_event(in_account(event, account.account_id)), account.settings, account.aws())
    # Then the attempt is the signal: someone is told, naming the failure
    (message,) = account.notifications()
    assert f"persistence: {name} called with a long-lived key (failed: AccessDenied)" in message["Message"]


def test_a_federation_token_session_is_traced_to_the_user_whose_key_minted_it(account: MotoAccount) -> None:
    # Given the leaked key minted a GetFederationToken session, and the session reads a batch of secrets
    entry = next(e for e in CATALOGUE if e.event_name == "BatchGetSecretValue")
    session = json.loads(json.dumps(FEDERATED_FROM_USER_KEY).replace("leaked-deployer", account.user))
    trigger = parse_event(in_account(event_of(entry, session), account.account_id))
    # Then the incident is about that user (every key of it: the session's ASIA key is not one to deactivate)
    assert (trigger.user_name, trigger.access_key_id, trigger.category) == (
        account.user,
        None,
        "secrets-harvesting",
    )
    settings = dataclasses.replace(account.settings, contain_categories=frozenset({"secrets-harvesting"}))
    run_playbook(trigger, settings, account.aws())
    assert set(account.key_status().values()) == {"Inactive"}


@pytest.mark.parametrize(
    ("name", "headline"),
    [
        ("GetCallerIdentity", "Low-severity probe by a long-lived AWS key"),  # an IDE toolkit's who-am-I
        ("InvokeModel", "Suspicious use of a long-lived AWS key (medium severity"),
        ("StopLogging", "Leaked AWS access key needs your attention"),
    ],
)
def test_the_notice_is_worded_as_the_detection_weighs(account: MotoAccount, name: str, headline: str) -> None:
    entry = next(e for e in CATALOGUE if e.event_name == name and not e.match)
    event = in_account(event_of(entry, long_term_key(account.user, account.key)), account.account_id)
    run_playbook(parse_event(event), account.settings, account.aws())
    (message,) = account.notifications()
    assert message["Subject"].startswith(headline), message["Subject"]


@pytest.mark.parametrize("category", categories())
def test_each_categorys_pattern_fits_eventbridges_pattern_size_limit(category: str) -> None:
    for regional_only in (False, True):
        pattern = detection_pattern(category, regional_only=regional_only)
        assert len(json.dumps(pattern, separators=(",", ":"))) < EVENT_PATTERN_LIMIT


ROOT_KEY = {
    "type": "Root",
    "principalId": ACCOUNT,
    "arn": f"arn:aws:iam::{ACCOUNT}:root",
    "accountId": ACCOUNT,
    "accessKeyId": "AKIAROOTKEYEXAMPLE01",
}


def test_the_root_users_access_key_is_detected_and_a_human_told_what_to_do(
    account: MotoAccount, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given the root user's access key creating a user (root keys leak too, and no role can contain them)
    entry = next(e for e in CATALOGUE if e.event_name == "CreateUser")
    event = in_account(event_of(entry, ROOT_KEY), account.account_id)
    assert "persistence" in matches(event)
    trigger = parse_event(event)
    assert (trigger.user_name, trigger.access_key_id) == (None, "AKIAROOTKEYEXAMPLE01")
    assert trigger.cannot_contain is not None
    # When the responder gets it
    monkeypatch.setattr(responder, "SETTINGS", account.settings)
    monkeypatch.setattr(responder, "FINISHED", FinishedMemo())
    result = responder.lambda_handler(event, context_for(account.account_id))
    # Then nothing is contained (nothing can be), and a human is told why and what to do (issue 11b's notice)
    assert result["status"] == "responded", result
    (message,) = account.notifications()
    assert "AKIAROOTKEYEXAMPLE01" in message["Message"]
    assert "root user" in message["Message"]
    assert set(account.key_status().values()) == {"Active"}
