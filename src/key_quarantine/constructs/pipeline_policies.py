"""Resource policies that name who may act on the pipeline's own state: its KMS keys, queues and tables.

An administrator-like principal of the account (the holder of a leaked key, often) is allowed everything by its
IAM policy. These policies take that away on the resources the responder rests on, with explicit Denies (which
no identity policy overrides) and key policies that do not delegate key use to IAM:

- a key is used (encrypt, decrypt, data keys) only by the principals named here and by the services that deliver
  to the pipeline; only ``admins`` may disable it, schedule its deletion, change its policy or give grants;
- a queue admits ``SendMessage`` only from our rules (``aws:SourceArn``) or named senders, and receive/delete only
  by named receivers;
- a table is written only by named writers.

``admins`` are matched on ``aws:PrincipalArn`` (a role's sessions carry the role's ARN), so the ARNs need not
exist yet. By default they are the stack's CloudFormation execution role: deploying the stack must still be able
to change these resources, and everything else is denied.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import aws_cdk as cdk
import jsii
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms

from constructs import Construct

#: What the key policy lets IAM delegate: managing the key, never using it (no Encrypt/Decrypt/GenerateDataKey,
#: no CreateGrant, which would hand key use to anyone).
KEY_MANAGEMENT_ACTIONS = (
    "kms:Describe*",
    "kms:List*",
    "kms:Get*",
    "kms:Enable*",
    "kms:Put*",
    "kms:Update*",
    "kms:Revoke*",
    "kms:Disable*",
    "kms:Delete*",
    "kms:TagResource",
    "kms:UntagResource",
    "kms:ScheduleKeyDeletion",
    "kms:CancelKeyDeletion",
)
#: Calls that switch a key off for the pipeline (or let someone else use it): only ``admins`` may make them.
KEY_TAMPER_ACTIONS = (
    "kms:DisableKey",
    "kms:ScheduleKeyDeletion",
    "kms:PutKeyPolicy",
    "kms:DisableKeyRotation",
    "kms:DeleteImportedKeyMaterial",
    "kms:CreateGrant",
)
KEY_USE_ACTIONS = ("kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey*", "kms:ReEncrypt*", "kms:DescribeKey")
#: What a service needs to deliver into an encrypted queue or topic.
SERVICE_DELIVERY_ACTIONS = ("kms:Decrypt", "kms:GenerateDataKey*")
QUEUE_RECEIVE_ACTIONS = ("sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility")
QUEUE_ADMIN_ACTIONS = (
    "sqs:SetQueueAttributes",
    "sqs:DeleteQueue",
    "sqs:PurgeQueue",
    "sqs:AddPermission",
    "sqs:RemovePermission",
)
TABLE_WRITE_ACTIONS = (
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
    "dynamodb:DeleteItem",
    "dynamodb:BatchWriteItem",
    "dynamodb:PartiQLInsert",
    "dynamodb:PartiQLUpdate",
    "dynamodb:PartiQLDelete",
    "dynamodb:ImportTable",
    "dynamodb:RestoreTableFromBackup",
    "dynamodb:RestoreTableToPointInTime",
)
TABLE_ADMIN_ACTIONS = (
    "dynamodb:DeleteTable",
    "dynamodb:UpdateTable",
    "dynamodb:PutResourcePolicy",
    "dynamodb:DeleteResourcePolicy",
    "dynamodb:UpdateTimeToLive",
    "dynamodb:UpdateContinuousBackups",
)


def default_admins(stack: cdk.Stack) -> list[str]:
    """The role CloudFormation deploys the stack with (CDK's bootstrap), when the stack's synthesizer has one."""
    synthesizer = stack.synthesizer
    if isinstance(synthesizer, cdk.DefaultStackSynthesizer):
        return [cdk.Fn.sub(synthesizer.cloud_formation_execution_role_arn)]
    return []


@jsii.implements(cdk.IStableListProducer)
class ArnList:
    """ARNs collected while the app is built (e.g. each rule that targets a queue), rendered at synthesis."""

    def __init__(self, arns: Sequence[str] = ()) -> None:
        self.arns = list(arns)

    def produce(self) -> list[str]:
        return list(self.arns)

    def token(self) -> list[str]:
        return cdk.Lazy.list(self)


def deny_except(sid: str, actions: Sequence[str], allowed: Sequence[str]) -> iam.PolicyStatement:
    """Deny ``actions`` to every caller but ``allowed`` (matched on ``aws:PrincipalArn``; a call without one, by a
    service, is denied too); to everyone when ``allowed`` is empty."""
    return iam.PolicyStatement(
        sid=sid,
        effect=iam.Effect.DENY,
        principals=[iam.StarPrincipal()],  # "*": services too, not only IAM principals
        actions=list(actions),
        resources=["*"],
        conditions={"ArnNotEquals": {"aws:PrincipalArn": list(allowed)}} if allowed else None,
    )


def pipeline_key(scope: Construct, construct_id: str, *, description: str, admins: Sequence[str]) -> kms.Key:
    """A rotating key whose policy delegates management (not use) to IAM and lets only ``admins`` switch it off.

    Key use is added per principal with ``allow_key_use`` and ``allow_service_delivery``.
    """
    policy = iam.PolicyDocument(
        statements=[
            iam.PolicyStatement(
                sid="KeyManagementThroughIam",
                principals=[iam.AccountRootPrincipal()],
                actions=list(KEY_MANAGEMENT_ACTIONS),
                resources=["*"],
            ),
            iam.PolicyStatement(
                sid="AdminsManageAndUseTheKey",  # the deployer creates grants for the tables it encrypts
                principals=[iam.AnyPrincipal()],
                actions=["kms:*"],
                resources=["*"],
                conditions={"ArnEquals": {"aws:PrincipalArn": list(admins)}},
            ),
            deny_except("OnlyAdminsSwitchTheKeyOff", KEY_TAMPER_ACTIONS, admins),
        ]
    )
    return kms.Key(scope, construct_id, enable_key_rotation=True, description=description, policy=policy)


def allow_key_use(key: kms.IKey, sid: str, principals: Sequence[iam.IPrincipal]) -> None:
    """Named principals (our roles) may use the key; nobody else in the account may, whatever IAM says."""
    if principals:
        key.add_to_resource_policy(
            iam.PolicyStatement(
                sid=sid, principals=list(principals), actions=list(KEY_USE_ACTIONS), resources=["*"]
            )
        )


def allow_service_delivery(key: kms.IKey, sid: str, service: str, conditions: dict[str, Any] | None) -> None:
    """An AWS service delivering into our encrypted queues or topics (``conditions`` where it sends them)."""
    key.add_to_resource_policy(
        iam.PolicyStatement(
            sid=sid,
            principals=[iam.ServicePrincipal(service)],
            actions=list(SERVICE_DELIVERY_ACTIONS),
            resources=["*"],
            conditions=conditions,
        )
    )


def alarm_source(stack: cdk.Stack) -> dict[str, Any]:
    """CloudWatch sends the alarm's ARN and account to KMS: only this account's alarms in this region."""
    alarms = stack.format_arn(
        service="cloudwatch",
        resource="alarm",
        resource_name="*",
        arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME,
    )
    return {"ArnLike": {"aws:SourceArn": alarms}, "StringEquals": {"aws:SourceAccount": stack.account}}
