"""What containment does to the leaked key's own requests: denied, where AWS's quarantine policy allows them."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws
from moto.core import set_initial_no_auth_action_count

from key_quarantine import data
from key_quarantine.handlers.aws import Aws
from key_quarantine.handlers.playbook import run_playbook
from key_quarantine.handlers.settings import Containment, Settings
from key_quarantine.handlers.steps.deny_policy import containment_policy
from key_quarantine.handlers.triggers import manual_trigger
from tests.handlers.policy_evaluation import explicitly_denied

REGION = "us-east-1"
ALLOW_ALL = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
#: Calls that AWS's quarantine policy (every version) leaves allowed, and campaigns use.
NOT_QUARANTINED = ["secretsmanager:GetSecretValue", "ssm:GetParameter", "s3:PutObject"]


def session_for(key: dict[str, str]) -> boto3.Session:
    return boto3.Session(
        aws_access_key_id=key["AccessKeyId"], aws_secret_access_key=key["SecretAccessKey"], region_name=REGION
    )


def attempts(session: boto3.Session) -> dict[str, Callable[[], Any]]:
    return {
        "secretsmanager:GetSecretValue": lambda: session.client("secretsmanager").get_secret_value(
            SecretId="db-password"
        ),
        "ssm:GetParameter": lambda: session.client("ssm").get_parameter(Name="/app/db-host"),
        "s3:PutObject": lambda: session.client("s3").put_object(Bucket="company-data", Key="x", Body=b"1"),
    }


def outcome_of(call: Callable[[], Any]) -> str:
    try:
        call()
    except ClientError as error:
        return f"{error.response['Error']['Code']}: {error.response['Error'].get('Message', '')}"
    return "allowed"


def test_quarantine_policy_really_leaves_these_actions_allowed() -> None:
    denied = {action.lower() for action in data.quarantine_denied_actions()}
    assert all(action.lower() not in denied for action in NOT_QUARANTINED)


@pytest.mark.usefixtures("aws_credentials")
def test_after_containment_the_leaked_key_is_denied_what_quarantine_allows() -> None:
    results: dict[str, dict[str, str]] = {}

    @set_initial_no_auth_action_count(12)  # set-up calls run unauthenticated; everything after is checked
    @mock_aws
    def scenario() -> None:
        iam = boto3.client("iam", region_name=REGION)
        iam.create_user(UserName="responder")
        iam.put_user_policy(UserName="responder", PolicyName="all", PolicyDocument=json.dumps(ALLOW_ALL))
        responder = iam.create_access_key(UserName="responder")["AccessKey"]
        iam.create_user(UserName="leaked")
        allowed = {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": NOT_QUARANTINED, "Resource": "*"}],
        }
        iam.put_user_policy(UserName="leaked", PolicyName="app", PolicyDocument=json.dumps(allowed))
        leaked = iam.create_access_key(UserName="leaked")["AccessKey"]
        admin = session_for(responder)
        admin.client("s3").create_bucket(Bucket="company-data")
        admin.client("secretsmanager").create_secret(Name="db-password", SecretString="hunter2")
        admin.client("ssm").put_parameter(Name="/app/db-host", Value="db.internal", Type="String")
        # Given the leaked key works for all three (the AWS quarantine would not stop them)
        results["before"] = {
            action: outcome_of(call) for action, call in attempts(session_for(leaked)).items()
        }
        # When the responder (another principal) contains it
        account = admin.client("sts").get_caller_identity()["Account"]
        as_responder = Aws.with_credentials(responder["AccessKeyId"], responder["SecretAccessKey"])
        run_playbook(manual_trigger(account, "leaked", leaked["AccessKeyId"]), Settings(), as_responder)
        # Then the same key is denied all three, by the explicit deny (moto still authenticates inactive keys)
        results["after"] = {
            action: outcome_of(call) for action, call in attempts(session_for(leaked)).items()
        }

    scenario()
    assert results["before"] == dict.fromkeys(NOT_QUARANTINED, "allowed")
    # moto answers some services' denials with the HTTP status as the code; the message says what it is
    assert all(
        "not authorized" in outcome or "Access Denied" in outcome for outcome in results["after"].values()
    ), results["after"]


def test_revoke_older_sessions_denies_older_sessions_and_every_long_lived_credential() -> None:
    contained_at = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
    document = containment_policy(Containment.REVOKE_OLDER_SESSIONS, contained_at)
    minted_before = {
        "aws:TokenIssueTime": (contained_at - timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%SZ")
    }
    minted_after = {
        "aws:TokenIssueTime": (contained_at + timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%SZ")
    }
    for action in [*NOT_QUARANTINED, "sts:AssumeRole", "ses:SendEmail", "iam:CreateAccessKey"]:
        assert explicitly_denied(document, action, minted_before)
        assert not explicitly_denied(document, action, minted_after)
        # the attacker's second key (or a Bedrock API key): IAM sends no aws:TokenIssueTime for long-lived
        # credentials, so only the Null statement can deny them
        assert explicitly_denied(document, action, {"aws:SourceIp": "198.51.100.7"})


def test_the_old_revoke_form_let_long_lived_credentials_through() -> None:
    # Given the policy as it was: one DateLessThan statement on aws:TokenIssueTime
    contained_at = "2026-11-25T12:00:00Z"
    old = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Deny",
                "Action": "*",
                "Resource": "*",
                "Condition": {"DateLessThan": {"aws:TokenIssueTime": contained_at}},
            }
        ],
    }
    # Then a long-lived key's request (no aws:TokenIssueTime) is not denied: IAM's missing-key rule
    assert not explicitly_denied(old, "secretsmanager:GetSecretValue", {})
    # and the evaluator's Null operator reads both ways
    assert not explicitly_denied(
        {"Statement": [{"Effect": "Deny", "Action": "*", "Condition": {"Null": {"k": "false"}}}]},
        "s3:GetObject",
        {},
    )


def test_deny_all_denies_everything_whatever_the_session() -> None:
    document = containment_policy(Containment.DENY_ALL, datetime.now(UTC))
    for context in ({}, {"aws:TokenIssueTime": "2030-01-01T00:00:00Z"}):
        assert all(
            explicitly_denied(document, action, context) for action in [*NOT_QUARANTINED, "sts:AssumeRole"]
        )
