"""The audit / daily sweep on moto: what it finds, and how few calls it needs for 5,000 users."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from moto import mock_aws
from moto.core import DEFAULT_ACCOUNT_ID
from moto.iam.models import AWSManagedPolicy, iam_backends

from key_quarantine import data
from key_quarantine.cli.main import main
from key_quarantine.handlers.aws import Aws
from key_quarantine.handlers.daily_sweep import sweep
from key_quarantine.handlers.sweep import AuditLimits, Problem, run_audit

REGION = "us-east-1"
QUARANTINE_V3 = "AWSCompromisedKeyQuarantineV3"
PER_USER_CALLS_FOR_ONE_KEY = 2  # ListAccessKeys + GetAccessKeyLastUsed for its key


def install_quarantine_policy(name: str = QUARANTINE_V3, account: str = DEFAULT_ACCOUNT_ID) -> str:
    """AWS's own quarantine policy document, loaded into moto (in ``account``) as the AWS managed policy it is."""
    document = next(
        json.loads(p.read_text())
        for p in sorted((data.DATA_DIR / "quarantine_policies").glob(f"{name}.json"))
    )
    version = document["PolicyVersion"]
    backend = iam_backends[account]["global"]
    policy = AWSManagedPolicy.from_data(
        name,
        account,
        REGION,
        {
            "DefaultVersionId": version["VersionId"],
            "Path": "/",
            "Document": version["Document"],
            "CreateDate": version["CreateDate"].replace("Z", "+00:00"),
            "UpdateDate": version["CreateDate"].replace("Z", "+00:00"),
        },
    )
    backend.managed_policies[policy.arn] = policy
    return policy.arn


@pytest.fixture
def iam(aws_credentials: None) -> Iterator[Any]:
    with mock_aws():
        yield boto3.client("iam", region_name=REGION)


def make_users(count: int, prefix: str = "user") -> list[str]:
    """Users with one key each, created in moto's IAM backend directly (the API is what the audit reads)."""
    backend = iam_backends[DEFAULT_ACCOUNT_ID]["global"]
    names = [f"{prefix}-{number}" for number in range(count)]
    for name in names:
        backend.create_user(region_name=REGION, user_name=name, path="/", tags=[])
        backend.create_access_key(user_name=name)
    return names


def test_quarantined_user_with_an_active_key_is_critical(iam: Any) -> None:
    arn = install_quarantine_policy()
    make_users(3)
    iam.attach_user_policy(UserName="user-1", PolicyArn=arn)
    audit = run_audit(Aws(region=REGION))
    critical = [(f.problem, f.user) for f in audit.findings if f.severity == "critical"]
    assert critical == [(Problem.QUARANTINED_KEY_ACTIVE, "user-1")]
    assert audit.quarantined_users_with_active_keys == ["user-1"]


def test_quarantined_user_whose_key_is_already_off_is_not_reported(iam: Any) -> None:
    arn = install_quarantine_policy()
    make_users(1)
    iam.attach_user_policy(UserName="user-0", PolicyArn=arn)
    key = iam.list_access_keys(UserName="user-0")["AccessKeyMetadata"][0]["AccessKeyId"]
    iam.update_access_key(UserName="user-0", AccessKeyId=key, Status="Inactive")
    assert run_audit(Aws(region=REGION)).quarantined_users_with_active_keys == []


def test_two_keys_old_keys_and_unused_keys(iam: Any) -> None:
    make_users(2)
    iam.create_access_key(UserName="user-0")
    # Given "now" 200 days after the keys were made (none has ever been used)
    later = datetime.now(UTC) + timedelta(days=200)
    audit = run_audit(Aws(region=REGION), AuditLimits(max_key_age_days=90, max_unused_days=30), now=later)
    problems = {(f.problem, f.user, f.key_slot) for f in audit.findings}
    assert (Problem.TWO_ACTIVE_KEYS, "user-0", None) in problems
    assert {
        (Problem.OLD_KEY, "user-0", 1),
        (Problem.OLD_KEY, "user-0", 2),
        (Problem.OLD_KEY, "user-1", 1),
    } <= problems
    assert (Problem.UNUSED_KEY, "user-1", 1) in problems
    # and today none of them is old
    assert not [f for f in run_audit(Aws(region=REGION)).findings if f.problem is Problem.OLD_KEY]


def test_audit_of_5000_users_takes_a_constant_number_of_calls(iam: Any) -> None:
    # Given 5,000 users with a key each, two of them quarantined by AWS
    arn = install_quarantine_policy()
    make_users(5000)
    for name in ("user-17", "user-4242"):
        iam.attach_user_policy(UserName=name, PolicyArn=arn)
    # When audited
    aws = Aws(region=REGION)
    audit = run_audit(aws)
    # Then both are found, from a handful of calls (per-user listing would need two per user)
    assert audit.users == 5000
    assert audit.quarantined_users_with_active_keys == ["user-17", "user-4242"]
    calls = sum(audit.calls.values())
    per_user_listing = 5000 // 100 + 5000 * PER_USER_CALLS_FOR_ONE_KEY  # ListUsers pages + per-user calls
    assert calls <= 10
    assert per_user_listing / calls >= 100


def test_audit_command_exits_1_on_critical_problems(iam: Any, capsys: pytest.CaptureFixture[str]) -> None:
    arn = install_quarantine_policy()
    make_users(2)
    iam.attach_user_policy(UserName="user-0", PolicyArn=arn)
    assert main(["audit", "--format", "json"]) == 1
    document = json.loads(capsys.readouterr().out)
    assert document["summary"] == {Problem.QUARANTINED_KEY_ACTIVE.value: 1}
    assert main(["audit"]) == 1
    table = capsys.readouterr().out
    assert "critical" in table
    assert "user-0" in table


def test_daily_sweep_contains_a_missed_quarantine_and_sends_one_summary(account: Any) -> None:
    # Given AWS quarantined the leaked user but no event reached the responder
    arn = install_quarantine_policy()
    iam = boto3.client("iam", region_name=REGION)
    iam.attach_user_policy(UserName=account.user, PolicyArn=arn)
    # When the daily sweep runs
    summary = sweep(account.settings, Aws(region=REGION), account=account.account_id)
    # Then it contains that user (same playbook), leaves the others, and sends one summary
    assert [response["user"] for response in summary["responses"]] == [account.user]
    assert set(account.key_status().values()) == {"Inactive"}
    assert account.key_status(account.bystander) == {account.bystander_key: "Active"}
    messages = account.notifications()
    subjects = [m["Subject"] for m in messages]
    assert sum(subject.startswith("key-quarantine daily sweep") for subject in subjects) == 1
    (report,) = [m["Message"] for m in messages if m["Subject"].startswith("key-quarantine daily sweep")]
    assert "quarantined-key-still-active" in report
    # And the day's results are in the ledger
    day = datetime.now(UTC).strftime("%Y-%m-%d")
    record = boto3.client("dynamodb", region_name=REGION).get_item(
        TableName=account.table, Key={"incident_id": {"S": f"sweep#{day}"}}
    )["Item"]
    assert record["summary"]["M"]["quarantined-key-still-active"]["N"] == "2"  # both of its keys
    assert record["responded_to"]["L"] == [{"S": account.user}]
    # And a second sweep finds nothing left to contain
    assert sweep(account.settings, Aws(region=REGION), account=account.account_id)["responses"] == []
