"""The responder Lambda: the handlers package as its asset, a role that is exactly the playbook's actions."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sqs as sqs

from constructs import Construct
from key_quarantine.constructs.handler_code import HANDLER_RUNTIME, handler_code
from key_quarantine.handlers.canary import HEARTBEAT_NAMESPACE
from key_quarantine.handlers.playbook import action_conditions, required_actions

HANDLER = "key_quarantine.handlers.responder.lambda_handler"
RESPONDER_TIMEOUT = cdk.Duration.minutes(2)
#: What the responder must never do, whatever a later grant says: change a role (its own first), pass one, edit a
#: managed policy's versions, or touch a CloudFormation stack (ours included). Explicit Deny wins over any Allow.
DENIED_ACTIONS = (
    "iam:*Role*",
    "iam:CreatePolicyVersion",
    "iam:SetDefaultPolicyVersion",
    "cloudformation:*",
)
#: Actions IAM authorizes without a resource, narrowed by a condition key where IAM has one.
SERVICE_CONDITIONS: dict[str, dict[str, dict[str, str]]] = {
    "cloudwatch": {"StringEquals": {"cloudwatch:namespace": HEARTBEAT_NAMESPACE}},
}


class ResponderFunction(Construct):
    """The responder function with its log group, role and dead-letter queue.

    :ivar function: the Lambda function.
    :ivar role: its role, granting exactly ``required_actions()`` (scoped per service where IAM allows).
    :ivar dead_letter_queue: where events end up after retries (EventBridge delivery and Lambda async failures).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        environment: Mapping[str, str],
        resources_by_service: Mapping[str, Sequence[str]],
        encryption_key: kms.IKey,
        handler: str = HANDLER,
        account_wide_actions: Sequence[str] = (),
        description: str = "key-quarantine responder: contains leaked IAM access keys and keeps evidence",
    ) -> None:
        """``account_wide_actions`` are IAM actions with no resource-level permissions (the credential report)."""
        super().__init__(scope, construct_id)
        stack = cdk.Stack.of(self)
        self.dead_letter_queue = sqs.Queue(
            self,
            "DeadLetters",
            encryption=sqs.QueueEncryption.KMS,
            encryption_master_key=encryption_key,
            enforce_ssl=True,
            retention_period=cdk.Duration.days(14),
        )
        log_group = logs.LogGroup(
            self, "Logs", retention=logs.RetentionDays.ONE_YEAR, removal_policy=cdk.RemovalPolicy.RETAIN
        )
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description="key-quarantine responder: exactly the playbook's declared actions",
        )
        for statement in [*playbook_statements(resources_by_service, stack), *self_protection(self.role)]:
            self.role.add_to_policy(statement)
        if account_wide_actions:
            self.role.add_to_policy(
                iam.PolicyStatement(
                    sid="AccountWideReads", actions=list(account_wide_actions), resources=["*"]
                )
            )
        log_group.grant_write(self.role)
        self.function = lambda_.Function(
            self,
            "Function",
            runtime=HANDLER_RUNTIME,
            architecture=lambda_.Architecture.ARM_64,
            handler=handler,
            code=handler_code(),
            role=self.role,
            log_group=log_group,
            timeout=RESPONDER_TIMEOUT,
            memory_size=512,
            environment=dict(environment),
            dead_letter_queue=self.dead_letter_queue,
            retry_attempts=2,
            description=description,
        )
        self.dead_letter_queue.grant_send_messages(self.role)


def playbook_statements(
    resources_by_service: Mapping[str, Sequence[str]], stack: cdk.Stack
) -> list[iam.PolicyStatement]:
    """One statement a service: the playbook's actions on the resources given for that service; an action a step
    grants only under a condition (``action_conditions``: AWSDenyAll as the only boundary) in a statement of its own.

    IAM actions apply to users of this account only (``user/*``): the responder can never change a role,
    including its own.
    """
    conditioned = action_conditions(stack.partition)
    by_service: dict[str, list[str]] = defaultdict(list)
    for action in required_actions():
        if action not in conditioned:
            by_service[action.split(":")[0]].append(action)
    defaults = {"iam": [stack.format_arn(service="iam", region="", resource="user", resource_name="*")]}

    def resources_of(service: str) -> list[str]:
        return list(resources_by_service.get(service) or defaults.get(service) or ["*"])

    statements = [
        iam.PolicyStatement(
            sid=f"Playbook{service.capitalize()}",
            actions=actions,
            resources=resources_of(service),
            conditions=SERVICE_CONDITIONS.get(service),
        )
        for service, actions in sorted(by_service.items())
    ]
    statements += [
        iam.PolicyStatement(
            sid=conditioned_sid(action),
            actions=[action],
            resources=resources_of(action.split(":")[0]),
            conditions=condition,
        )
        for action, condition in sorted(conditioned.items())
    ]
    return statements


def conditioned_sid(action: str) -> str:
    """``iam:PutUserPermissionsBoundary`` -> ``PlaybookIamPutUserPermissionsBoundary``."""
    service, name = action.split(":")
    return f"Playbook{service.capitalize()}{name}"


def self_protection(role: iam.IRole) -> list[iam.PolicyStatement]:
    """Explicit Denies: nothing on its own role, no role or stack changes anywhere (``DENIED_ACTIONS``)."""
    return [
        iam.PolicyStatement(
            sid="DenyOwnRole", effect=iam.Effect.DENY, actions=["iam:*"], resources=[role.role_arn]
        ),
        iam.PolicyStatement(
            sid="DenyRoleAndStackChanges",
            effect=iam.Effect.DENY,
            actions=list(DENIED_ACTIONS),
            resources=["*"],
        ),
    ]
