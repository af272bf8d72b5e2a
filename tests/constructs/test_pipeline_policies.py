"""The pipeline's own state against an administrator of the account: who may use, switch off or write the KMS
keys, the queues and the tables, evaluated with their Conditions (moto ignores them) on the synthesized template.

The attacker is the holder of a leaked key with ``AdministratorAccess`` (its IAM policy allows everything): only
explicit Denies in resource policies, and key policies that do not delegate key use to IAM, stop it.
"""

from __future__ import annotations

import json
from typing import Any

import aws_cdk as cdk
import pytest

from key_quarantine import KeyQuarantine
from tests.cdk_apps import synth
from tests.deployed import ACCOUNT, REGION, Deployed
from tests.handlers.policy_evaluation import resource_decision

ATTACKER = f"arn:aws:iam::{ACCOUNT}:user/leaked-admin"
OPERATOR = f"arn:aws:iam::{ACCOUNT}:role/secops-operator"
DEPLOYER = f"arn:aws:iam::{ACCOUNT}:role/cdk-hnb659fds-cfn-exec-role-{ACCOUNT}-{REGION}"
TLS = {"aws:SecureTransport": "true"}


@pytest.fixture(scope="module")
def deployed(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], Deployed]:
    def build(app: cdk.App) -> None:
        stack = cdk.Stack(app, "Security", env=cdk.Environment(account=ACCOUNT, region=REGION))
        KeyQuarantine(stack, "KeyQuarantine", operator_role_arns=[OPERATOR], reenable_on_tamper=True)

    assembly = synth(tmp_path_factory.mktemp("policies") / "cdk.out", build)
    template: dict[str, Any] = json.loads((assembly / "Security.template.json").read_text())
    return template, Deployed(template)


def resource(template: dict[str, Any], prefix: str, resource_type: str) -> str:
    (found,) = [
        lid
        for lid, body in template["Resources"].items()
        if lid.startswith(prefix) and body["Type"] == resource_type
    ]
    return found


def key_policy(deployed: tuple[dict[str, Any], Deployed], prefix: str) -> dict[str, Any]:
    template, resolve = deployed
    key = resource(template, prefix, "AWS::KMS::Key")
    policy: dict[str, Any] = resolve.resolve(template["Resources"][key]["Properties"]["KeyPolicy"])
    return policy


def queue_policy(deployed: tuple[dict[str, Any], Deployed], queue_prefix: str) -> dict[str, Any]:
    template, resolve = deployed
    queue = resource(template, queue_prefix, "AWS::SQS::Queue")
    (policy,) = [
        body["Properties"]["PolicyDocument"]
        for body in template["Resources"].values()
        if body["Type"] == "AWS::SQS::QueuePolicy" and body["Properties"]["Queues"] == [{"Ref": queue}]
    ]
    resolved: dict[str, Any] = resolve.resolve(policy)
    return resolved


def table_policy(deployed: tuple[dict[str, Any], Deployed], prefix: str) -> dict[str, Any]:
    template, resolve = deployed
    table = resource(template, prefix, "AWS::DynamoDB::Table")
    policy: dict[str, Any] = resolve.resolve(
        template["Resources"][table]["Properties"]["ResourcePolicy"]["PolicyDocument"]
    )
    return policy


def role_arn(deployed: tuple[dict[str, Any], Deployed], prefix: str) -> str:
    template, resolve = deployed
    return resolve.arn(resource(template, prefix, "AWS::IAM::Role"))


def rule_arn(deployed: tuple[dict[str, Any], Deployed], prefix: str) -> str:
    template, resolve = deployed
    return resolve.arn(resource(template, prefix, "AWS::Events::Rule"))


def on_key(policy: dict[str, Any], action: str, principal: str, context: dict[str, str] | None = None) -> str:
    return resource_decision(policy, action, principal, context, identity_allows=True, delegates_to_iam=False)


def on_resource(
    policy: dict[str, Any], action: str, principal: str, context: dict[str, str] | None = None
) -> str:
    return resource_decision(
        policy, action, principal, {**TLS, **(context or {})}, identity_allows=True, delegates_to_iam=True
    )


# --- KMS -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("prefix", ["KeyQuarantineKey", "KeyQuarantineAlarmKey"])
@pytest.mark.parametrize(
    "action", ["kms:DisableKey", "kms:ScheduleKeyDeletion", "kms:PutKeyPolicy", "kms:CreateGrant"]
)
def test_an_admin_of_the_account_cannot_switch_a_key_off_but_the_deployer_can(
    deployed: tuple[dict[str, Any], Deployed], prefix: str, action: str
) -> None:
    """Key policies are evaluated by KMS itself (AWS KMS Developer Guide, "Key policies in AWS KMS",
    https://docs.aws.amazon.com/kms/latest/developerguide/key-policies.html): an explicit Deny in one beats the
    caller's AdministratorAccess; ``aws:PrincipalArn`` of a role session is the role's ARN."""
    policy = key_policy(deployed, prefix)
    # Given the holder of a leaked administrator key, When it tries to disable, delete, re-police or share the key
    assert on_key(policy, action, ATTACKER) == "explicit-deny"
    # Then it is denied; the operators are too; the role CloudFormation deploys with is not (through IAM)
    assert on_key(policy, action, OPERATOR) == "explicit-deny"
    assert on_key(policy, action, DEPLOYER) == "allow"


@pytest.mark.parametrize("action", ["kms:GenerateDataKey", "kms:Decrypt", "kms:Encrypt"])
def test_only_our_roles_and_the_operators_may_use_the_pipeline_key(
    deployed: tuple[dict[str, Any], Deployed], action: str
) -> None:
    """Use of the key is not delegated to IAM, so an admin cannot encrypt a message for the buffer queue or an
    item for the ledger (SQS and DynamoDB use the key on the caller's behalf: its permission on the key counts)."""
    policy = key_policy(deployed, "KeyQuarantineKey")
    assert on_key(policy, action, ATTACKER) == "implicit-deny"
    assert (
        on_key(policy, action, DEPLOYER) == "allow"
    )  # it creates the tables' grants; it could redeploy anyway
    for role in ("KeyQuarantineResponderRole", "KeyQuarantineDailySweepRole"):
        assert on_key(policy, action, role_arn(deployed, role)) == "allow"
    assert on_key(policy, action, OPERATOR) == "allow"


def test_eventbridge_delivers_into_both_keys_and_cloudwatch_only_for_this_accounts_alarms(
    deployed: tuple[dict[str, Any], Deployed],
) -> None:
    """CloudWatch sends aws:SourceArn (the alarm) and aws:SourceAccount to KMS when an alarm publishes to an
    encrypted topic (Amazon SNS Developer Guide, "Enable compatibility between event sources from AWS services and
    encrypted topics", https://docs.aws.amazon.com/sns/latest/dg/sns-key-management.html#compatibility-with-aws-services,
    whose CloudWatch example conditions on both): the alarm key admits only this account's alarms in this region.
    The same page says EventBridge sends neither, so its statements carry no such condition."""
    pipeline, alarms = key_policy(deployed, "KeyQuarantineKey"), key_policy(deployed, "KeyQuarantineAlarmKey")
    for policy in (pipeline, alarms):
        assert on_key(policy, "kms:GenerateDataKey", "events.amazonaws.com") == "allow"
    ours = {
        "aws:SourceArn": f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:Security-DeadLetters",
        "aws:SourceAccount": ACCOUNT,
    }
    theirs = {
        "aws:SourceArn": "arn:aws:cloudwatch:us-east-1:999999999999:alarm:x",
        "aws:SourceAccount": "999999999999",
    }
    assert on_key(alarms, "kms:GenerateDataKey", "cloudwatch.amazonaws.com", ours) == "allow"
    assert on_key(alarms, "kms:GenerateDataKey", "cloudwatch.amazonaws.com", theirs) == "implicit-deny"
    # the pipeline key is not the alarms' channel: CloudWatch cannot use it at all
    assert on_key(pipeline, "kms:GenerateDataKey", "cloudwatch.amazonaws.com", ours) == "implicit-deny"


def test_the_alarm_path_does_not_rest_on_the_pipeline_key(deployed: tuple[dict[str, Any], Deployed]) -> None:
    template, _ = deployed
    topics = {
        lid: body["Properties"]
        for lid, body in template["Resources"].items()
        if body["Type"] == "AWS::SNS::Topic"
    }
    alarm_topic = resource(template, "KeyQuarantineAlarms", "AWS::SNS::Topic")
    notifications = resource(template, "KeyQuarantineNotifications", "AWS::SNS::Topic")
    alarm_key = resource(template, "KeyQuarantineAlarmKey", "AWS::KMS::Key")
    pipeline_key = resource(template, "KeyQuarantineKey", "AWS::KMS::Key")
    assert topics[alarm_topic]["KmsMasterKeyId"] == {"Fn::GetAtt": [alarm_key, "Arn"]}
    assert topics[notifications]["KmsMasterKeyId"] == {"Fn::GetAtt": [pipeline_key, "Arn"]}
    # every CloudWatch alarm notifies the alarm topic
    for body in template["Resources"].values():
        if body["Type"] == "AWS::CloudWatch::Alarm":
            assert body["Properties"]["AlarmActions"] == [{"Ref": alarm_topic}]


# --- SQS -----------------------------------------------------------------------------------------------------


def test_an_admin_cannot_inject_into_the_buffer_queue_nor_can_its_own_rule(
    deployed: tuple[dict[str, Any], Deployed],
) -> None:
    """SQS receives aws:SourceArn for EventBridge's SendMessage (Amazon EventBridge User Guide, "Amazon SQS
    permissions", https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-use-resource-based.html#eb-sqs-permissions,
    whose example conditions on it): a rule of the attacker's own (an input transformer can forge any body) is
    refused like a direct SendMessage."""
    policy = queue_policy(deployed, "KeyQuarantineBufferQueue")
    ours = rule_arn(deployed, "KeyQuarantineTriggersQuarantinePolicy")
    attackers_rule = f"arn:aws:events:{REGION}:{ACCOUNT}:rule/forge-aws-iam-events"
    assert on_resource(policy, "sqs:SendMessage", ATTACKER) == "explicit-deny"
    assert on_resource(
        policy, "sqs:SendMessage", "events.amazonaws.com", {"aws:SourceArn": attackers_rule}
    ) == ("explicit-deny")
    assert on_resource(policy, "sqs:SendMessage", "events.amazonaws.com", {"aws:SourceArn": ours}) == "allow"
    # the operators may send (replay-dlq), as may the responder (it dead-letters its own failures)
    assert on_resource(policy, "sqs:SendMessage", OPERATOR) == "allow"


@pytest.mark.parametrize("action", ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility"])
def test_an_admin_cannot_take_real_signals_off_the_buffer(
    deployed: tuple[dict[str, Any], Deployed], action: str
) -> None:
    policy = queue_policy(deployed, "KeyQuarantineBufferQueue")
    assert on_resource(policy, action, ATTACKER) == "explicit-deny"
    assert on_resource(policy, action, OPERATOR) == "explicit-deny"
    assert on_resource(policy, action, role_arn(deployed, "KeyQuarantineResponderRole")) == "allow"


@pytest.mark.parametrize("prefix", ["KeyQuarantineBufferQueue", "KeyQuarantineResponderDeadLetters"])
@pytest.mark.parametrize("action", ["sqs:PurgeQueue", "sqs:SetQueueAttributes", "sqs:DeleteQueue"])
def test_only_the_deployer_changes_purges_or_deletes_our_queues(
    deployed: tuple[dict[str, Any], Deployed], prefix: str, action: str
) -> None:
    policy = queue_policy(deployed, prefix)
    assert on_resource(policy, action, ATTACKER) == "explicit-deny"
    assert on_resource(policy, action, role_arn(deployed, "KeyQuarantineResponderRole")) == "explicit-deny"
    assert on_resource(policy, action, DEPLOYER) == "allow"


def test_dead_letters_are_read_by_the_operators_only(deployed: tuple[dict[str, Any], Deployed]) -> None:
    policy = queue_policy(deployed, "KeyQuarantineResponderDeadLetters")
    assert on_resource(policy, "sqs:ReceiveMessage", ATTACKER) == "explicit-deny"
    assert on_resource(policy, "sqs:ReceiveMessage", OPERATOR) == "allow"
    # and the responder still dead-letters its failed asynchronous invocations there
    responder = role_arn(deployed, "KeyQuarantineResponderRole")
    assert on_resource(policy, "sqs:SendMessage", responder) == "allow"
    assert on_resource(policy, "sqs:SendMessage", ATTACKER) == "explicit-deny"


# --- DynamoDB ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "action", ["dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem"]
)
def test_an_admin_cannot_pre_write_or_erase_ledger_items(
    deployed: tuple[dict[str, Any], Deployed], action: str
) -> None:
    """DynamoDB evaluates a table's resource-based policy with the caller's identity policy, and an explicit Deny
    in either wins (Amazon DynamoDB Developer Guide, "Using resource-based policies for DynamoDB",
    https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/access-control-resource-based.html)."""
    ledger, signals = (
        table_policy(deployed, "KeyQuarantineLedger"),
        table_policy(deployed, "KeyQuarantineSignals"),
    )
    responder, sweep = (
        role_arn(deployed, "KeyQuarantineResponderRole"),
        role_arn(deployed, "KeyQuarantineDailySweepRole"),
    )
    assert on_resource(ledger, action, ATTACKER) == "explicit-deny"
    assert [on_resource(ledger, action, who) for who in (responder, sweep, OPERATOR)] == ["allow"] * 3
    assert on_resource(signals, action, ATTACKER) == "explicit-deny"
    assert on_resource(signals, action, responder) == "allow"
    assert on_resource(signals, action, OPERATOR) == "explicit-deny"
    # reading stays open to the account (the operator's `contain --ledger-table` reads it)
    assert on_resource(ledger, "dynamodb:GetItem", ATTACKER) == "allow"


@pytest.mark.parametrize(
    "action",
    [
        "dynamodb:DeleteTable",
        "dynamodb:PutResourcePolicy",
        "dynamodb:DeleteResourcePolicy",
        "dynamodb:UpdateTable",
    ],
)
def test_only_the_deployer_changes_a_tables_policy_or_deletes_it(
    deployed: tuple[dict[str, Any], Deployed], action: str
) -> None:
    for prefix in ("KeyQuarantineLedger", "KeyQuarantineSignals"):
        policy = table_policy(deployed, prefix)
        assert on_resource(policy, action, ATTACKER) == "explicit-deny"
        assert on_resource(policy, action, DEPLOYER) == "allow"


def test_a_stack_without_a_cloudformation_role_must_name_its_admins() -> None:
    app = cdk.App()
    stack = cdk.Stack(
        app,
        "S",
        env=cdk.Environment(account=ACCOUNT, region=REGION),
        synthesizer=cdk.CliCredentialsStackSynthesizer(),
    )
    with pytest.raises(ValueError, match="pipeline_admin_arns"):
        KeyQuarantine(stack, "KeyQuarantine")
