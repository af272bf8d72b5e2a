"""Correlation: windows and thresholds, the TTL on what is kept, and each match as its own incident."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from typing import Any

import aws_cdk as cdk
import boto3
import pytest
from aws_cdk.assertions import Match, Template

from key_quarantine import KeyQuarantine, data
from key_quarantine.handlers import responder
from key_quarantine.handlers.batch import FinishedMemo
from key_quarantine.handlers.correlation import CORRELATED_CALLS, Signal, Thresholds, correlate
from tests.handlers.conftest import REGION, MotoAccount, create_signals_table
from tests.handlers.test_detections import cloudtrail_event, in_account, long_term_key
from tests.handlers.test_responder_wiring import context_for

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def ago(minutes: int, name: str, region: str = "us-east-1") -> Signal:
    return Signal(NOW - timedelta(minutes=minutes), name, region)


@pytest.mark.parametrize(
    ("signals", "expected"),
    [
        (
            [
                ago(50, "CreateCluster", "eu-west-1"),
                ago(30, "CreateCluster", "ap-south-1"),
                ago(0, "CreateCluster"),
            ],
            ["ecs-multi-region"],
        ),
        (
            [
                ago(70, "CreateCluster", "eu-west-1"),
                ago(30, "CreateCluster", "ap-south-1"),
                ago(0, "CreateCluster"),
            ],
            [],
        ),
        ([ago(30, "CreateCluster"), ago(20, "CreateCluster"), ago(0, "CreateCluster")], []),  # one region
        ([ago(14, "ListFoundationModels"), ago(0, "InvokeModel")], ["llmjacking-sequence"]),
        ([ago(16, "ListFoundationModels"), ago(0, "InvokeModel")], []),
        (
            [ago(5, "InvokeModel"), ago(0, "ListFoundationModels")],
            [],
        ),  # invoked before listing: not the sequence
        ([ago(m, "GetSendQuota") for m in (9, 7, 5, 3)] + [ago(0, "ListIdentities")], ["ses-recon-burst"]),
        ([ago(m, "GetSendQuota") for m in (12, 7, 5, 3)] + [ago(0, "ListIdentities")], []),
    ],
    ids=[
        "ecs-3-regions",
        "ecs-outside-hour",
        "ecs-one-region",
        "llm-14min",
        "llm-16min",
        "llm-wrong-order",
        "ses-5-in-10",
        "ses-spread",
    ],
)
def test_windows_and_thresholds(signals: list[Signal], expected: list[str]) -> None:
    assert correlate(signals, NOW) == expected


def test_thresholds_are_configurable() -> None:
    two_regions = [ago(10, "CreateCluster", "eu-west-1"), ago(0, "CreateCluster")]
    assert correlate(two_regions, NOW) == []
    assert correlate(two_regions, NOW, Thresholds(ecs_regions=2)) == ["ecs-multi-region"]


@pytest.fixture
def with_signals(account: MotoAccount, monkeypatch: pytest.MonkeyPatch) -> MotoAccount:
    settings = dataclasses.replace(
        account.settings,
        signals_table=create_signals_table(),
        contain_categories=frozenset({"ecs-multi-region"}),
    )
    monkeypatch.setattr(responder, "SETTINGS", settings)
    monkeypatch.setattr(responder, "FINISHED", FinishedMemo())
    return account


def create_cluster(account: MotoAccount, region: str, minutes_ago: int, number: int) -> dict[str, Any]:
    event = cloudtrail_event(
        "ecs.amazonaws.com",
        "CreateCluster",
        long_term_key(account.user, account.key),
        awsRegion=region,
        eventTime=(datetime.now(UTC) - timedelta(minutes=minutes_ago)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        eventID=f"00000000-0000-4000-8000-00000000000{number}",
        readOnly=False,
    )
    return in_account(event, account.account_id)


def test_a_miner_spreading_across_regions_is_an_incident_of_its_own(with_signals: MotoAccount) -> None:
    # Given ECS CreateCluster calls with one key in two regions: notify only (the category is not opted in)
    for number, region in enumerate(("eu-west-1", "ap-south-1")):
        result = responder.lambda_handler(
            create_cluster(with_signals, region, 20 - number, number), context_for(with_signals.account_id)
        )
        assert result["status"] == "responded"
    assert with_signals.key_status()[with_signals.key] == "Active"
    # When the third region follows within the hour
    result = responder.lambda_handler(
        create_cluster(with_signals, "us-east-2", 0, 2), context_for(with_signals.account_id)
    )
    # Then the correlation is a second incident, and it contains (ecs-multi-region opted in)
    (_, correlated) = result["incidents"]
    assert correlated["status"] == "responded"
    assert with_signals.key_status()[with_signals.key] == "Inactive"
    # And what is kept expires: every item carries a TTL at most the longest window after its call
    items = boto3.client("dynamodb", region_name=REGION).scan(TableName="signals")["Items"]
    items = [item for item in items if not item["identity"]["S"].startswith("notice#")]  # escalation's own
    assert len(items) == 3
    for item in items:
        at = datetime.fromisoformat(item["at"]["S"].split("#")[0].replace("Z", "+00:00"))
        assert int(item["expires"]["N"]) == int((at + Thresholds().longest).timestamp())


def test_thresholds_travel_to_the_responder_through_its_environment() -> None:
    chosen = Thresholds(
        ecs_regions=2,
        ecs_window=timedelta(minutes=30),
        llm_window=timedelta(minutes=5),
        ses_calls=9,
        ses_window=timedelta(minutes=2),
    )
    assert Thresholds.from_environment(chosen.to_environment()) == chosen
    assert Thresholds.from_environment(None) == Thresholds()


def test_construct_passes_its_thresholds() -> None:
    stack = cdk.Stack(cdk.App(), "S", env=cdk.Environment(region="us-east-1"))
    KeyQuarantine(stack, "KeyQuarantine", correlation_thresholds=Thresholds(ecs_regions=2))
    Template.from_stack(stack).has_resource_properties(
        "AWS::Lambda::Function",
        {
            "Environment": {
                "Variables": Match.object_like(
                    {"KQ_CORRELATION": Match.string_like_regexp('"ecs_regions": 2')}
                )
            }
        },
    )


MINING_SETUP = [ago(40, "CreateKeyPair"), ago(30, "AuthorizeSecurityGroupIngress"), ago(0, "RunInstances")]


@pytest.mark.parametrize(
    ("signals", "expected"),
    [
        (MINING_SETUP, ["ec2-mining-setup"]),
        (MINING_SETUP[1:], []),  # no key pair: a CI deploy opening a port and launching
        ([ago(61, "ImportKeyPair"), *MINING_SETUP[1:]], []),  # the key pair is older than the hour
        (
            [ago(30, "RunInstances", "eu-west-1"), ago(20, "RunTask", "ap-south-1"), ago(0, "SubmitJob")],
            ["compute-multi-region"],
        ),
        ([ago(30, "RunInstances", "eu-west-1"), ago(0, "StartBuild")], []),  # a two-region deploy
        (
            [ago(30, "CreateCluster"), ago(10, "RegisterTaskDefinition"), ago(0, "RunTask")],
            ["ecs-new-cluster-tasks"],
        ),
        ([ago(10, "RunTask"), ago(0, "CreateCluster")], []),  # tasks on an older cluster, then a new one
        ([Signal(NOW - timedelta(minutes=5), "GetSecretValue", "us-east-1", 10)], ["secrets-sweep"]),
        ([Signal(NOW - timedelta(minutes=5), "GetSecretValue", "us-east-1", 9)], []),  # a deploy's few reads
        (
            [
                ago(8, "ListSecrets"),
                ago(5, "GetSecretValue"),
                ago(3, "GetParameters"),
                ago(0, "GetSecretValue"),
            ],
            ["secrets-sweep"],
        ),
        (
            [
                ago(11, "ListSecrets"),
                ago(5, "GetSecretValue"),
                ago(3, "GetParameters"),
                ago(0, "GetSecretValue"),
            ],
            [],
        ),
    ],
    ids=[
        "ec2-setup",
        "ec2-no-key-pair",
        "ec2-old-key-pair",
        "compute-3-regions",
        "compute-2-regions",
        "ecs-new-cluster-then-tasks",
        "ecs-tasks-before-cluster",
        "secrets-10-reads",
        "secrets-9-reads",
        "secrets-list-then-3-reads",
        "secrets-listing-outside-window",
    ],
)
def test_the_correlations_of_calls_a_ci_user_makes_every_day(
    signals: list[Signal], expected: list[str]
) -> None:
    assert correlate(signals, NOW) == expected


def test_every_call_the_catalogue_counts_only_in_a_correlation_is_read_by_one() -> None:
    # none is recorded for nothing
    counted_only = [e.event_name for e in data.abuse_events() if e.detection is data.Detection.CORRELATION]
    assert sorted(set(counted_only) - CORRELATED_CALLS) == []


def on_ec2(account: MotoAccount, name: str, number: int, **detail: Any) -> dict[str, Any]:
    event = cloudtrail_event(
        "ec2.amazonaws.com",
        name,
        long_term_key(account.user, account.key),
        eventTime=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        eventID=f"00000000-0000-4000-8000-00000000010{number}",
        readOnly=False,
        **detail,
    )
    return in_account(event, account.account_id)


def test_a_ci_users_daily_calls_are_recorded_silently_until_they_make_the_mining_pattern(
    with_signals: MotoAccount,
) -> None:
    # Given a key launching instances and creating a key pair, as CI users do every day
    for number, name in enumerate(("RunInstances", "CreateKeyPair")):
        result = responder.lambda_handler(
            on_ec2(with_signals, name, number), context_for(with_signals.account_id)
        )
        # Then each is recorded, not an incident: nobody is told
        assert result["status"] == "recorded", result
    assert with_signals.notifications() == []
    # When the same key opens a security group to the world within the hour
    world_open = {"requestParameters": {"groupId": "sg-1", "cidrIp": "0.0.0.0/0", "ipProtocol": "-1"}}
    result = responder.lambda_handler(
        on_ec2(with_signals, "AuthorizeSecurityGroupIngress", 2, **world_open),
        context_for(with_signals.account_id),
    )
    # Then the pattern is the incident, at high severity
    assert result["status"] == "responded", result
    (message,) = with_signals.notifications()
    assert "ec2-mining-setup" in message["Message"]
