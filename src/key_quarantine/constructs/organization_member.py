"""``KeyQuarantineMember``: what a member account of the organization needs so the security account can respond.

One template for every region of a member account (the StackSet deploys the same body everywhere), so regional
differences are CloudFormation Conditions: in us-east-1 the leak signals AWS sends only there (IAM quarantine
attach, legacy inline policy, AWS Health, GuardDuty) and every abuse call are forwarded, and the member responder
role is created (IAM is global: once per account); in every other region only the regional abuse calls are
forwarded. Forwarding goes to the security account's organization bus, with a role allowed only ``PutEvents``
on it.
"""

from __future__ import annotations

import json
import tempfile
from collections import defaultdict
from collections.abc import Sequence
from typing import Any, TypeVar, cast

import aws_cdk as cdk
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam

from constructs import Construct, IConstruct
from key_quarantine.constructs.detection_rules import abuse_rule
from key_quarantine.constructs.responder_function import conditioned_sid, opted_in, self_protection
from key_quarantine.constructs.trigger_rules import DEFAULT_GUARDDUTY_FINDING_TYPES, TriggerRules
from key_quarantine.data import GLOBAL_EVENTS_REGION, QUARANTINE_POLICY_NAME_PREFIX
from key_quarantine.data.detections import categories as detection_categories
from key_quarantine.data.detections import regional_categories
from key_quarantine.handlers.organization import MEMBER_OPERATOR_ROLE_NAME, MEMBER_ROLE_NAME
from key_quarantine.handlers.playbook import action_conditions, member_actions, role_actions
from key_quarantine.handlers.release import RELEASE_ACTIONS
from key_quarantine.handlers.settings import check_revocable_roles, revocable_role_patterns
from key_quarantine.handlers.sweep import AUDIT_ACTIONS, POLICY_SCOPED_READS

_C = TypeVar("_C", bound=IConstruct)

MEMBER_TEMPLATE_PARAMETERS = ("CentralEventBusArn", "CentralResponderRoleArn", "OrganizationId")
#: The member template's list parameters: the security account's other roles the member responder role trusts
#: (the daily sweep's), and its operators' roles, which the member operator role trusts.
TRUSTED_ROLES_PARAMETER = "CentralTrustedRoleArns"
OPERATOR_ROLES_PARAMETER = "CentralOperatorRoleArns"


class KeyQuarantineMember(Construct):
    """Forwarding rules and the member responder role, for one member account (any region; see module doc).

    Deploy it through ``KeyQuarantineOrganization``'s StackSet, or as a plain stack where StackSets do not
    reach (the management account).

    :param central_event_bus_arn: the organization bus in the security account (``KeyQuarantineOrganization
        .event_bus``), in us-east-1.
    :param central_responder_role_arn: the central responder's role, which the member role trusts.
    :param trusted_role_arns: the security account's other roles the member responder role trusts: the daily
        sweep's (it sweeps every member account); default none. ``KeyQuarantineOrganization`` passes it; pass its
        output ``CentralTrustedRoleArns`` here.
    :param operator_role_arns: the security account's operator roles, which may assume the member operator role
        (``KeyQuarantineMemberOperator``: exactly what ``key-quarantine release --account`` changes, on users);
        default none, and then no operator role. ``KeyQuarantineOrganization`` passes ``KeyQuarantine``'s
        ``operator_role_arns``; pass its output ``CentralOperatorRoleArns`` here.
    :param organization_id: the organization (``o-...``): the trust also requires the caller to be in it.
    :param detections: abuse categories to forward (default all).
    :param guardduty_finding_types: GuardDuty finding types to forward (default
        ``DEFAULT_GUARDDUTY_FINDING_TYPES``; empty forwards none).
    :param revocable_roles: the central ``KeyQuarantine``'s ``revocable_roles`` when ``revoke_role_sessions`` is on
        (default none: the member role can change no role): the member role may then put the revocation policy
        on those roles of this account, and nothing else on any role (its own and this stack's never).

    :ivar forward_role: the role EventBridge uses to put events on the central bus.
    :ivar signals: the us-east-1 signal rules (``signals.rules``).
    :ivar detections: the abuse rules by category (us-east-1 form and regional form).
    :ivar responder_role: the role the central responder assumes (created in us-east-1 only).
    :ivar operator_role: the role the central operators assume for ``release`` (us-east-1 only), or None.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        central_event_bus_arn: str,
        central_responder_role_arn: str,
        organization_id: str,
        trusted_role_arns: Sequence[str] = (),
        operator_role_arns: Sequence[str] = (),
        detections: Sequence[str] | None = None,
        guardduty_finding_types: Sequence[str] = DEFAULT_GUARDDUTY_FINDING_TYPES,
        revocable_roles: Sequence[str] = (),
    ) -> None:
        check_revocable_roles(tuple(revocable_roles))
        chosen = list(detection_categories() if detections is None else detections)
        unknown = sorted(set(chosen) - set(detection_categories()))
        if unknown:
            raise ValueError(
                f"unknown detection categories {unknown}; known: {', '.join(detection_categories())}"
            )
        super().__init__(scope, construct_id)
        in_global = cdk.CfnCondition(
            self, "InGlobalRegion", expression=cdk.Fn.condition_equals(cdk.Aws.REGION, GLOBAL_EVENTS_REGION)
        )
        elsewhere = cdk.CfnCondition(
            self,
            "InOtherRegion",
            expression=cdk.Fn.condition_not(cast("cdk.ICfnConditionExpression", in_global)),
        )
        bus = events.EventBus.from_event_bus_arn(self, "CentralBus", central_event_bus_arn)
        self.forward_role = iam.Role(
            self,
            "ForwardRole",
            assumed_by=iam.ServicePrincipal("events.amazonaws.com"),
            description="key-quarantine: forwards leak signals to the security account's bus",
        )
        target = targets.EventBus(bus, role=self.forward_role)  # grants the role PutEvents on that bus only
        self.signals = TriggerRules(
            self, "Signals", target=target, guardduty_finding_types=guardduty_finding_types
        )
        for rule in self.signals.rules.values():
            _only_if(rule, in_global)
        self.detections: dict[str, events.Rule] = {}
        for category in chosen:
            self.detections[category] = _only_if(
                abuse_rule(
                    self, category, description=f"key-quarantine: forward {category} calls", target=target
                ),
                in_global,
            )
        regional = Construct(self, "Regional")
        for category in [c for c in chosen if c in regional_categories()]:
            self.detections[f"{category}@regional"] = _only_if(
                abuse_rule(
                    regional,
                    category,
                    description=f"key-quarantine: forward {category} calls",
                    target=target,
                    regional_only=True,
                ),
                elsewhere,
            )
        self.responder_role = _only_if(
            member_responder_role(
                self,
                trusted_arns=_trusted_arns(self, central_responder_role_arn, trusted_role_arns),
                central_responder_role_arn=central_responder_role_arn,
                organization_id=organization_id,
                revocable_roles=revocable_roles,
                protected_roles=[self.forward_role.role_arn],
            ),
            in_global,
        )
        self.operator_role = self._operator_role(
            list(operator_role_arns), central_responder_role_arn, organization_id, in_global
        )

    def _operator_role(
        self, operators: list[str], central_role_arn: str, organization_id: str, in_global: cdk.CfnCondition
    ) -> iam.Role | None:
        """The operator role, where there are operators: none for an empty list (an empty trust is no trust)."""
        if not cdk.Token.is_unresolved(operators):
            if not operators:
                return None
            where = in_global
        else:
            where = cdk.CfnCondition(
                self,
                "HasOperators",
                expression=cdk.Fn.condition_and(
                    cast("cdk.ICfnConditionExpression", in_global),
                    cdk.Fn.condition_not(cdk.Fn.condition_equals(cdk.Fn.join("", operators), "")),
                ),
            )
        principal = _central_principal(central_role_arn, operators, organization_id)
        users = f"arn:{cdk.Aws.PARTITION}:iam::{cdk.Aws.ACCOUNT_ID}:user/*"
        release = iam.PolicyStatement(sid="Release", actions=sorted(RELEASE_ACTIONS), resources=[users])
        role = iam.Role(
            self,
            "OperatorRole",
            # A fixed name: the CLI builds this role's ARN from the account id it is given.
            role_name=MEMBER_OPERATOR_ROLE_NAME,
            assumed_by=principal,
            max_session_duration=cdk.Duration.hours(1),
            description="key-quarantine: the security account's operators release contained users here",
            inline_policies={"Release": iam.PolicyDocument(statements=[release])},
        )
        return _only_if(role, where)


def _account_of(role_arn: str) -> str:
    return cdk.Fn.select(4, cdk.Fn.split(":", role_arn))


def _central_principal(central_role_arn: str, role_arns: list[str], organization_id: str) -> iam.IPrincipal:
    """The roles ``role_arns`` of the security account (that of ``central_role_arn``), in the organization only."""
    return iam.AccountPrincipal(_account_of(central_role_arn)).with_conditions(
        {
            "ArnEquals": {"aws:PrincipalArn": role_arns},
            "StringEquals": {"aws:PrincipalOrgID": organization_id},
        }
    )


def _trusted_arns(scope: Construct, responder_role_arn: str, others: Sequence[str]) -> list[str]:
    """The responder's role and ``others``; for the template's list parameter, a condition leaves an empty list
    out (an empty ARN in the trust would be no ARN at all)."""
    if not cdk.Token.is_unresolved(list(others)):
        return [responder_role_arn, *others]
    given = cdk.CfnCondition(
        scope,
        "HasTrustedRoles",
        expression=cdk.Fn.condition_not(cdk.Fn.condition_equals(cdk.Fn.join("", others), "")),
    )
    every = cdk.Fn.split(",", cdk.Fn.join(",", [responder_role_arn, cdk.Fn.join(",", others)]))
    return cdk.Token.as_list(cdk.Fn.condition_if(given.logical_id, every, [responder_role_arn]))


def member_responder_role(
    scope: Construct,
    *,
    trusted_arns: list[str],
    central_responder_role_arn: str,
    organization_id: str,
    revocable_roles: Sequence[str] = (),
    protected_roles: Sequence[str] = (),
) -> iam.Role:
    """The playbook's member-account actions (``member_actions()``) and the sweep's reads, for the central roles in
    ``trusted_arns`` only (all in the account of ``central_responder_role_arn``)."""
    principal = _central_principal(central_responder_role_arn, trusted_arns, organization_id)
    return iam.Role(
        scope,
        "ResponderRole",
        # A fixed name: the central responder builds this role's ARN from the account id an event names.
        role_name=MEMBER_ROLE_NAME,
        assumed_by=principal,
        max_session_duration=cdk.Duration.hours(1),
        description="key-quarantine: the security account's responder contains leaked keys here",
        inline_policies={
            "Playbook": iam.PolicyDocument(statements=member_statements(revocable_roles, protected_roles))
        },
    )


def member_statements(
    revocable_roles: Sequence[str] = (), protected_roles: Sequence[str] = ()
) -> list[iam.PolicyStatement]:
    """One statement a service; IAM actions on users only, never roles (the responder cannot touch itself); and the
    central daily sweep's audit reads of this account (the credential report, AWS's quarantine policies).

    With ``revocable_roles`` (``KeyQuarantine``'s entries), the steps' role actions on those roles of this account
    only, with the responder role's explicit Denies: everything else on them, and anything on its own role or
    ``protected_roles``.
    """
    patterns = revocable_role_patterns(tuple(revocable_roles), cdk.Aws.PARTITION, cdk.Aws.ACCOUNT_ID)
    opted = opted_in(patterns)
    on_roles = set(role_actions(opted))
    conditioned = action_conditions(cdk.Aws.PARTITION)
    by_service: dict[str, list[str]] = defaultdict(list)
    for action in member_actions(opted):
        if action not in on_roles and action not in conditioned:
            by_service[action.split(":")[0]].append(action)
    users = f"arn:{cdk.Aws.PARTITION}:iam::{cdk.Aws.ACCOUNT_ID}:user/*"
    quarantine_policies = f"arn:{cdk.Aws.PARTITION}:iam::aws:policy/{QUARANTINE_POLICY_NAME_PREFIX}*"
    return [
        *(
            iam.PolicyStatement(
                sid=f"Playbook{service.capitalize()}",
                actions=actions,
                resources=[users if service == "iam" else "*"],
            )
            for service, actions in sorted(by_service.items())
        ),
        *(
            iam.PolicyStatement(
                sid=conditioned_sid(action), actions=[action], resources=[users], conditions=condition
            )
            for action, condition in sorted(conditioned.items())
            if action in member_actions()
        ),
        iam.PolicyStatement(
            sid="SweepAccountReads", actions=sorted(set(AUDIT_ACTIONS) - POLICY_SCOPED_READS), resources=["*"]
        ),
        iam.PolicyStatement(
            sid="SweepQuarantinePolicyReads",
            actions=sorted(POLICY_SCOPED_READS),
            resources=[quarantine_policies],
        ),
        *(_revocation_statements(patterns, protected_roles) if patterns else []),
    ]


def _revocation_statements(patterns: list[str], protected_roles: Sequence[str]) -> list[iam.PolicyStatement]:
    own = f"arn:{cdk.Aws.PARTITION}:iam::{cdk.Aws.ACCOUNT_ID}:role/{MEMBER_ROLE_NAME}"
    allowed = sorted(role_actions(opted_in(patterns)))
    return [
        iam.PolicyStatement(sid="PlaybookIamRevocableRoles", actions=allowed, resources=patterns),
        *self_protection(own, patterns),
        *(
            [
                iam.PolicyStatement(
                    sid="DenyProtectedRoles",
                    effect=iam.Effect.DENY,
                    actions=allowed,
                    resources=list(protected_roles),
                )
            ]
            if protected_roles
            else []
        ),
    ]


def member_template(
    *,
    detections: Sequence[str] | None = None,
    guardduty_finding_types: Sequence[str] = DEFAULT_GUARDDUTY_FINDING_TYPES,
    revocable_roles: Sequence[str] = (),
) -> dict[str, Any]:
    """The member stack as a standalone CloudFormation template, central values as Parameters.

    Synthesized in an app of its own, without bootstrap or assets (a StackSet template cannot use them).
    """
    with tempfile.TemporaryDirectory(prefix="kq-member-") as outdir:
        app = cdk.App(
            outdir=outdir, analytics_reporting=False, context={"aws:cdk:enable-path-metadata": False}
        )
        stack = cdk.Stack(
            app,
            "KeyQuarantineMember",
            synthesizer=cdk.BootstraplessSynthesizer(),
            description="key-quarantine member: forwards leak signals to the security account; its responder role",
        )
        values = {
            name: cdk.CfnParameter(stack, name, type="String", description=description).value_as_string
            for name, description in zip(
                MEMBER_TEMPLATE_PARAMETERS,
                (
                    "ARN of the organization event bus in the security account (us-east-1)",
                    "ARN of the central responder's role, the only principal the member role trusts",
                    "The organization id (o-...)",
                ),
                strict=True,
            )
        }
        trusted = cdk.CfnParameter(
            stack,
            TRUSTED_ROLES_PARAMETER,
            type="CommaDelimitedList",
            default="",
            description="ARNs of the security account's other roles the member responder role trusts (the daily "
            "sweep), comma-separated; may be empty",
        )
        operators = cdk.CfnParameter(
            stack,
            OPERATOR_ROLES_PARAMETER,
            type="CommaDelimitedList",
            default="",
            description="ARNs of the security account's operator roles (key-quarantine release --account), "
            "comma-separated; empty: no operator role",
        )
        KeyQuarantineMember(
            stack,
            "Member",
            central_event_bus_arn=values["CentralEventBusArn"],
            central_responder_role_arn=values["CentralResponderRoleArn"],
            organization_id=values["OrganizationId"],
            trusted_role_arns=trusted.value_as_list,
            operator_role_arns=operators.value_as_list,
            detections=detections,
            guardduty_finding_types=guardduty_finding_types,
            revocable_roles=revocable_roles,
        )
        template: dict[str, Any] = app.synth().get_stack_by_name(stack.stack_name).template
    return cast("dict[str, Any]", json.loads(json.dumps(template)))


def _only_if(construct: _C, condition: cdk.CfnCondition) -> _C:
    """Create ``construct``'s CloudFormation resources only where ``condition`` holds."""
    for child in construct.node.find_all():
        if isinstance(child, cdk.CfnResource):
            child.cfn_options.condition = condition
    return construct
