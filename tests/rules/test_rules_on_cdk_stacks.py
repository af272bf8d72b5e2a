"""Every rule on small CDK stacks: the constructs users write, synthesized in-process, then checked.

The hand-written template tests cover each branch; these prove the rules read what CDK actually emits.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import aws_cdk as cdk
import pytest
from aws_cdk import aws_cloudtrail as cloudtrail
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_sns as sns
from aws_cdk import aws_ssm as ssm

from key_quarantine import declare_existing_trail, declare_external_monitoring
from key_quarantine.rules.runner import scan_paths
from tests.cdk_apps import synth

US_EAST_1 = cdk.Environment(account="111111111111", region="us-east-1")
EU_WEST_1 = cdk.Environment(account="111111111111", region="eu-west-1")
QUARANTINE = events.EventPattern(
    source=["aws.iam"],
    detail={
        "requestParameters": {
            "policyArn": events.Match.prefix("arn:aws:iam::aws:policy/AWSCompromisedKeyQuarantine")
        }
    },
)
Builder = Callable[[cdk.Stack], None]


def rule_ids_after(tmp_path: Path, build: Builder, env: cdk.Environment = US_EAST_1) -> set[str]:
    assembly = synth(tmp_path / "cdk.out", lambda app: build(cdk.Stack(app, "S", env=env)))
    return {finding.rule_id for finding in scan_paths([assembly])}


def user_with_key(stack: cdk.Stack) -> tuple[iam.User, iam.AccessKey]:
    user = iam.User(stack, "Deployer")
    return user, iam.AccessKey(stack, "Key", user=user)


def monitored(stack: cdk.Stack, pattern: events.EventPattern = QUARANTINE) -> events.Rule:
    return events.Rule(
        stack, "Watch", event_pattern=pattern, targets=[targets.SnsTopic(sns.Topic(stack, "Alerts"))]
    )


def declared(stack: cdk.Stack) -> None:
    declare_external_monitoring(stack, reason="security account")
    declare_existing_trail(stack, reason="organization trail")


def kq1_no_monitoring(stack: cdk.Stack) -> None:
    user_with_key(stack)


def kq1_monitored(stack: cdk.Stack) -> None:
    user_with_key(stack)
    monitored(stack)
    declare_existing_trail(stack, reason="organization trail")


def kq2_secret_in_lambda(stack: cdk.Stack) -> None:
    declared(stack)
    _, key = user_with_key(stack)
    lambda_.Function(
        stack,
        "Fn",
        runtime=lambda_.Runtime.PYTHON_3_13,
        handler="index.handler",
        code=lambda_.Code.from_inline("def handler(e, c): pass"),
        environment={"SECRET": key.secret_access_key.unsafe_unwrap()},
    )


def kq2_secret_in_secrets_manager(stack: cdk.Stack) -> None:
    declared(stack)
    _, key = user_with_key(stack)
    secretsmanager.Secret(stack, "Secret", secret_string_value=key.secret_access_key)


def kq3_monitoring_in_eu(stack: cdk.Stack) -> None:
    monitored(stack)


def kq4_bedrock_default_state(stack: cdk.Stack) -> None:
    monitored(stack, events.EventPattern(source=["aws.bedrock"], detail={"eventName": ["InvokeModel"]}))


def kq4_bedrock_all_management_events(stack: cdk.Stack) -> None:
    rule = monitored(
        stack, events.EventPattern(source=["aws.bedrock"], detail={"eventName": ["InvokeModel"]})
    )
    cfn_rule = rule.node.default_child
    assert isinstance(cfn_rule, events.CfnRule)
    cfn_rule.state = "ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS"


def kq5_admin_user(stack: cdk.Stack) -> None:
    declared(stack)
    user, _ = user_with_key(stack)
    user.add_managed_policy(iam.ManagedPolicy.from_aws_managed_policy_name("AdministratorAccess"))


def kq5_scoped_user(stack: cdk.Stack) -> None:
    declared(stack)
    user, _ = user_with_key(stack)
    user.add_to_policy(iam.PolicyStatement(actions=["cloudwatch:PutMetricData"], resources=["*"]))


def kq6_no_trail(stack: cdk.Stack) -> None:
    monitored(stack)


def kq6_with_trail(stack: cdk.Stack) -> None:
    monitored(stack)
    cloudtrail.Trail(stack, "Trail", bucket=s3.Bucket(stack, "TrailBucket"))


def kq7_two_keys(stack: cdk.Stack) -> None:
    declared(stack)
    user, _ = user_with_key(stack)
    iam.AccessKey(stack, "SecondKey", user=user)


def kq7_rotated_key_inactive(stack: cdk.Stack) -> None:
    declared(stack)
    user, _ = user_with_key(stack)
    iam.AccessKey(stack, "SecondKey", user=user, status=iam.AccessKeyStatus.INACTIVE)


def kq8_bedrock_user(stack: cdk.Stack) -> None:
    declared(stack)
    user, _ = user_with_key(stack)
    user.add_to_policy(iam.PolicyStatement(actions=["bedrock:InvokeModel"], resources=["*"]))


def kq8_parameter_without_secret(stack: cdk.Stack) -> None:
    declared(stack)
    _, key = user_with_key(stack)
    ssm.StringParameter(stack, "KeyId", string_value=key.access_key_id)


CASES = [
    ("KQ1", kq1_no_monitoring, kq1_monitored, US_EAST_1),
    ("KQ2", kq2_secret_in_lambda, kq2_secret_in_secrets_manager, US_EAST_1),
    ("KQ3", kq3_monitoring_in_eu, kq1_monitored, EU_WEST_1),
    ("KQ4", kq4_bedrock_default_state, kq4_bedrock_all_management_events, US_EAST_1),
    ("KQ5", kq5_admin_user, kq5_scoped_user, US_EAST_1),
    ("KQ6", kq6_no_trail, kq6_with_trail, US_EAST_1),
    ("KQ7", kq7_two_keys, kq7_rotated_key_inactive, US_EAST_1),
    ("KQ8", kq8_bedrock_user, kq8_parameter_without_secret, US_EAST_1),
]


@pytest.mark.parametrize(
    ("rule_id", "noncompliant", "compliant", "env"), CASES, ids=[case[0] for case in CASES]
)
def test_rule_on_cdk_stacks(
    tmp_path: Path, rule_id: str, noncompliant: Builder, compliant: Builder, env: cdk.Environment
) -> None:
    # Given the same kind of stack written wrong and written right
    # When each is synthesized and checked
    # Then the rule fires on the first only
    assert rule_id in rule_ids_after(tmp_path / "wrong", noncompliant, env)
    assert rule_id not in rule_ids_after(
        tmp_path / "right", compliant, env if rule_id != "KQ3" else US_EAST_1
    )
