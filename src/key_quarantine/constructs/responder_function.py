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
from key_quarantine.handlers.playbook import action_conditions, required_actions, role_actions
from key_quarantine.handlers.steps import revoke_role_sessions

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
        revocable_roles: Sequence[str] = (),
    ) -> None:
        """``account_wide_actions`` are IAM actions with no resource-level permissions (the credential report).
        ``revocable_roles``: role ARN patterns the role-session revocation may act on (empty: it is off); roles it
        never may even when a pattern covers them are added with ``protect_roles``."""
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
        statements = [
            *playbook_statements(resources_by_service, stack, revocable_roles),
            *self_protection(self.role.role_arn, revocable_roles),
        ]
        for statement in statements:
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
        self._revocable_roles = tuple(revocable_roles)

    def protect_roles(self, role_arns: Sequence[str]) -> None:
        """Roles the role-session revocation must never act on, even when a revocable pattern covers them."""
        if self._revocable_roles and role_arns:
            self.role.add_to_policy(
                iam.PolicyStatement(
                    sid="DenyProtectedRoles",
                    effect=iam.Effect.DENY,
                    actions=sorted(role_actions(opted_in(self._revocable_roles))),
                    resources=list(role_arns),
                )
            )


def opted_in(revocable_roles: Sequence[str]) -> tuple[str, ...]:
    """The opt-in settings on (``Step.opt_in``): the revocation of role sessions, when it has roles to act on."""
    return (str(revoke_role_sessions.STEP.opt_in),) if revocable_roles else ()


def playbook_statements(
    resources_by_service: Mapping[str, Sequence[str]],
    stack: cdk.Stack,
    revocable_roles: Sequence[str] = (),
) -> list[iam.PolicyStatement]:
    """One statement a service: the playbook's actions on the resources given for that service; an action a step
    grants only under a condition (``action_conditions``: AWSDenyAll as the only boundary) in a statement of its own.

    IAM actions apply to users of this account only (``user/*``); the steps' role actions (the revocation of role
    sessions, when opted in) to ``revocable_roles`` only, never to the responder's own role (``self_protection``).
    """
    opted = opted_in(revocable_roles)
    on_roles = set(role_actions(opted))
    conditioned = action_conditions(stack.partition)
    by_service: dict[str, list[str]] = defaultdict(list)
    for action in required_actions(opted_in=opted):
        if action not in on_roles and action not in conditioned:
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
    if on_roles:
        statements.append(
            iam.PolicyStatement(
                sid="PlaybookIamRevocableRoles", actions=sorted(on_roles), resources=list(revocable_roles)
            )
        )
    return statements


def conditioned_sid(action: str) -> str:
    """``iam:PutUserPermissionsBoundary`` -> ``PlaybookIamPutUserPermissionsBoundary``."""
    service, name = action.split(":")
    return f"Playbook{service.capitalize()}{name}"


def self_protection(own_role_arn: str, revocable_roles: Sequence[str] = ()) -> list[iam.PolicyStatement]:
    """Explicit Denies: nothing on its own role, no role or stack changes anywhere (``DENIED_ACTIONS``).

    With ``revocable_roles``, the one hole is the steps' role actions on those roles: everything else on them is
    denied (and ``ResponderFunction.protect_roles`` closes it again on the stack's own roles).
    """
    own = iam.PolicyStatement(
        sid="DenyOwnRole", effect=iam.Effect.DENY, actions=["iam:*"], resources=[own_role_arn]
    )
    role_and_stack_changes = iam.PolicyStatement(
        sid="DenyRoleAndStackChanges",
        effect=iam.Effect.DENY,
        actions=list(DENIED_ACTIONS),
        resources=None if revocable_roles else ["*"],
        not_resources=list(revocable_roles) or None,
    )
    if not revocable_roles:
        return [own, role_and_stack_changes]
    revocation_only = iam.PolicyStatement(
        sid="DenyRevocableRolesButRevocation",
        effect=iam.Effect.DENY,
        not_actions=sorted(role_actions(opted_in(revocable_roles))),
        resources=list(revocable_roles),
    )
    return [own, role_and_stack_changes, revocation_only]
