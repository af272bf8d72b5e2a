"""Fuzzing the responder's input: 10,000 generated events never raise anything but TriggerError, and the
playbook never touches a principal the event does not name."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import boto3
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from moto import mock_aws

from key_quarantine.handlers.aws import Aws
from key_quarantine.handlers.playbook import run_playbook
from key_quarantine.handlers.release import release_user
from key_quarantine.handlers.steps import PlaybookError
from key_quarantine.handlers.triggers import TriggerError, parse_event
from tests.handlers.conftest import REGION, MotoAccount, build_account
from tests.handlers.test_triggers import sample

SAMPLES = [
    "cloudtrail-attach-quarantine.json",
    "health-credentials-exposed.json",
    "health-credentials-exposed.aws-health-tools.json",
    "guardduty-iam-user.json",
]
FIELDS = [
    ["account"],
    ["source"],
    ["detail-type"],
    ["detail", "eventName"],
    ["detail", "errorCode"],
    ["detail", "recipientAccountId"],
    ["detail", "requestParameters"],
    ["detail", "requestParameters", "userName"],
    ["detail", "requestParameters", "policyArn"],
    ["detail", "service"],
    ["detail", "eventTypeCode"],
    ["detail", "affectedAccount"],
    ["detail", "eventMetadata"],
    ["detail", "eventMetadata", "userName"],
    ["detail", "eventMetadata", "publicKey"],
    ["detail", "affectedEntities"],
    ["detail", "resource", "accessKeyDetails", "userName"],
    ["detail", "resource", "accessKeyDetails", "accessKeyId"],
    ["detail", "resource", "accessKeyDetails", "userType"],
    ["detail"],
]
PRINCIPAL_FIELDS = [
    ["detail", "requestParameters", "userName"],
    ["detail", "eventMetadata", "userName"],
    ["detail", "eventMetadata", "publicKey"],
    ["detail", "resource", "accessKeyDetails", "userName"],
    ["detail", "resource", "accessKeyDetails", "accessKeyId"],
]
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=8,
)
plausible = st.sampled_from(
    [
        "123456789012",
        "leaked-deployer",
        "bystander",
        "ghost",
        "AKIAIOSFODNN7EXAMPLE",
        "arn:aws:iam::aws:policy/AWSCompromisedKeyQuarantineV4",
        "AWS_RISK_CREDENTIALS_EXPOSED",
        "RISK",
        "IAMUser",
        "aws.iam",
        "aws.health",
        "aws.guardduty",
        "AttachUserPolicy",
        "../../etc",
        "",
    ]
)


def set_path(event: Any, path: list[str], value: Any) -> None:
    target = event
    for part in path[:-1]:
        if not isinstance(target, dict):
            return
        target = target.setdefault(part, {})
    if isinstance(target, dict):
        target[path[-1]] = value


def set_path_if_present(event: Any, path: list[str], value: Any) -> None:
    target = event
    for part in path[:-1]:
        target = target.get(part) if isinstance(target, dict) else None
    if isinstance(target, dict) and path[-1] in target:
        target[path[-1]] = value


@st.composite
def events(draw: st.DrawFn, names: tuple[str, ...] = (), keys: tuple[str, ...] = ()) -> Any:
    if draw(st.integers(0, 9)) == 0:
        return draw(json_values)
    event = copy.deepcopy(sample(draw(st.sampled_from(SAMPLES))))
    event["account"] = "123456789012"
    if names:  # name the account's real principals, so that many events reach the playbook
        for path in PRINCIPAL_FIELDS:
            set_path_if_present(event, path, draw(st.sampled_from(names if path[-1] == "userName" else keys)))
    pool = plausible | st.sampled_from(names or ("x",)) | st.sampled_from(keys or ("x",)) | json_values
    for _ in range(draw(st.integers(0, 4))):
        set_path(event, draw(st.sampled_from(FIELDS)), draw(pool))
    return event


def strings_in(value: Any) -> set[str]:
    if isinstance(value, str):
        return {value}
    if isinstance(value, dict):
        return set().union(*(strings_in(v) for v in value.values())) if value else set()
    if isinstance(value, list):
        return set().union(*(strings_in(v) for v in value)) if value else set()
    return set()


@settings(max_examples=10_000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(events())
def test_parse_event_raises_only_trigger_error_and_names_only_what_the_event_holds(event: Any) -> None:
    try:
        trigger = parse_event(event)
    except TriggerError:
        return
    present = strings_in(event)
    assert trigger.account in present
    assert trigger.user_name is None or trigger.user_name in present
    assert trigger.access_key_id is None or trigger.access_key_id in present


def snapshot(account: MotoAccount) -> dict[str, Any]:
    users = [u["UserName"] for u in account.iam.list_users()["Users"]]
    return {user: (account.key_status(user), account.inline_policies(user)) for user in users}


@pytest.mark.usefixtures("aws_credentials")
def test_playbook_never_touches_a_principal_the_event_does_not_name() -> None:
    with mock_aws():
        account = build_account()
        names = (account.user, account.bystander, "ghost")
        keys = (account.key, account.other_key, account.bystander_key)
        checked = {"runs": 0}

        @settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
        @given(events(names, keys))
        def property_holds(event: Any) -> None:
            if isinstance(event, dict):
                in_our_account(event, account.account_id)
            try:
                trigger = parse_event(event)
            except TriggerError:
                return
            before = snapshot(account)
            try:
                outcome = run_playbook(trigger, account.settings, Aws(region=REGION))
            except PlaybookError:
                assert snapshot(account) == before
                return
            checked["runs"] += 1
            after = snapshot(account)
            changed = {user for user in before if before[user] != after[user]}
            assert changed <= {outcome.user}
            assert outcome.user in {trigger.user_name, *([] if trigger.user_name else [outcome.user])}
            # containment is of the principal: the user's keys are left as they were or turned off, never on
            assert all(
                after[outcome.user][0][k] in (status, "Inactive")
                for k, status in before[outcome.user][0].items()
            )
            release_user(Aws(region=REGION), outcome.user, reactivate_keys=keys)

        property_holds()
        assert checked["runs"] > 0, "the generator never reached the playbook"
        boto3.client("iam", region_name=REGION)  # the account is still reachable after the run
        json.dumps(checked)


def test_sample_folder_exists() -> None:
    assert Path(SAMPLES[0]).suffix == ".json"


def abuse_sample() -> dict[str, Any]:
    """A Bedrock call made with a long-lived user key, as EventBridge delivers it."""
    event = sample("cloudtrail-attach-quarantine.json")
    event["source"] = "aws.bedrock"
    event["detail"].update(eventSource="bedrock.amazonaws.com", eventName="InvokeModel", requestParameters={})
    event["detail"]["userIdentity"] = {"type": "IAMUser", "userName": "leaked-deployer"}
    return event


def in_our_account(event: dict[str, Any], account: str = "123456789012") -> dict[str, Any]:
    """The event as EventBridge delivers it in ``account``; a CloudTrail caller is one of its own users."""
    event["account"] = account
    detail = event.get("detail")
    if isinstance(detail, dict):
        if "recipientAccountId" in detail:
            detail["recipientAccountId"] = account
        if isinstance(detail.get("userIdentity"), dict):
            detail["userIdentity"]["accountId"] = account
    return event


def accepted(event: dict[str, Any]) -> bool:
    try:
        parse_event(copy.deepcopy(event))
    except TriggerError:
        return False
    return True


CANDIDATES = [in_our_account(sample(name)) for name in SAMPLES] + [in_our_account(abuse_sample())]
ORIGINALS = [
    event for event in CANDIDATES if accepted(event)
]  # a sample naming no usable key is not a signal
KNOWN_SOURCES = sorted(
    {str(e["source"]) for e in ORIGINALS} | {"aws.events", "aws.s3", "key-quarantine.canary"}
)
KNOWN_DETAIL_TYPES = sorted(
    {str(e["detail-type"]) for e in ORIGINALS} | {"Object Deleted", "Key Quarantine Canary"}
)


@settings(max_examples=3_000, deadline=None)
@given(
    st.sampled_from(range(len(ORIGINALS))),
    st.sampled_from(KNOWN_SOURCES) | st.text(max_size=24),
    st.sampled_from(KNOWN_DETAIL_TYPES) | st.text(max_size=32),
)
def test_a_source_or_detail_type_aws_would_not_send_with_that_event_is_refused(
    index: int, source: str, detail_type: str
) -> None:
    # Given a real leak signal, relabelled with another source or detail-type (what a forged event looks like:
    # custom events cannot use aws.* sources, and AWS pairs each source with its own detail-type)
    original = ORIGINALS[index]
    if (source, detail_type) == (original["source"], original["detail-type"]):
        return
    event = {**copy.deepcopy(original), "source": source, "detail-type": detail_type}
    # Then it is refused before anyone is named
    with pytest.raises(TriggerError):
        parse_event(event)


def test_every_signal_family_is_among_the_relabelled_originals() -> None:
    sources = sorted(str(event["source"]) for event in ORIGINALS)
    assert sources == ["aws.bedrock", "aws.guardduty", "aws.health", "aws.iam"], sources
