"""``KeyQuarantineOrganization``: one responder, one ledger, one evidence bucket for every account of an AWS
organization.

A construct of its own that composes ``KeyQuarantine`` (rather than an organization mode of it): the single-account
construct stays as it is, and the organization adds what only it needs — an event bus that admits the
organization, rules on that bus, the StackSet that installs ``KeyQuarantineMember`` in every member account, and
the right for the responder to assume the member role. Deploy it in the security account (the StackSet's delegated
administrator), in a stack pinned to us-east-1.

StackSets with service-managed permissions never deploy to the management account: deploy ``KeyQuarantineMember``
there as a plain stack (docs/DEPLOYMENT.md), with the values of this construct's outputs.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence

import aws_cdk as cdk
from aws_cdk import aws_cloudformation as cloudformation
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam

from constructs import Construct
from key_quarantine.constructs.detection_rules import DetectionRules
from key_quarantine.constructs.key_quarantine import KeyQuarantine
from key_quarantine.constructs.organization_member import (
    OPERATOR_ROLES_PARAMETER,
    TRUSTED_ROLES_PARAMETER,
    member_template,
)
from key_quarantine.constructs.responder_function import ResponderFunction
from key_quarantine.constructs.trigger_rules import DEFAULT_GUARDDUTY_FINDING_TYPES, TriggerRules
from key_quarantine.data import GLOBAL_EVENTS_REGION
from key_quarantine.data.detections import categories as detection_categories
from key_quarantine.handlers.organization import ASSUME_ROLE_ACTION, LIST_ACCOUNTS_ACTION, MEMBER_ROLE_NAME

ORGANIZATION_ID = re.compile(r"o-[a-z0-9]{10,32}")
OU_ID = re.compile(r"ou-[a-z0-9]{4,32}-[a-z0-9]{8,32}|r-[a-z0-9]{4,32}")
ACCOUNT_ID = re.compile(r"\d{12}")
REGION = re.compile(r"[a-z]{2}(-gov)?-[a-z]+-\d")
PERCENTAGES = range(101)
TEMPLATE_BODY_LIMIT = 51_200  # bytes CloudFormation accepts inline in TemplateBody


class KeyQuarantineOrganization(Construct):
    """The security account's side of an organization deployment (see the module doc for the design).

    :param organization_id: the organization (``o-...``); the bus admits only its principals and the member role
        trusts only callers in it. A prop, never looked up: no AWS calls at synth.
    :param organizational_unit_ids: OUs (``ou-...``, or the root ``r-...``) the StackSet deploys to; accounts that
        join them later get the member stack automatically.
    :param regions: regions of every member account to deploy to (default ``("us-east-1",)``); must include
        us-east-1, where IAM and AWS Health events arrive.
    :param existing_key_quarantine: the responder to use; default a new ``KeyQuarantine`` with its defaults
        (CloudTrail evidence searched in ``regions``).
    :param detections: abuse categories the members forward (default all).
    :param guardduty_finding_types: GuardDuty findings the members forward (default
        ``DEFAULT_GUARDDUTY_FINDING_TYPES``).
    :param delegated_admin_accounts: accounts whose events may name another account (the management account for
        the AWS Health organizational view, the GuardDuty administrator); default none. This account's own events
        always may.
    :param call_as_delegated_admin: this account is a registered StackSets delegated administrator (default
        True: ``CallAs: DELEGATED_ADMIN``); False when deploying from the management account (``SELF``).
    :param max_concurrent_percentage: accounts deployed at once, as a percentage per region (default 25).
    :param failure_tolerance_percentage: accounts per region that may fail before the operation stops (default 10).

    :ivar key_quarantine: the responder, ledger, evidence bucket and notifications.
    :ivar event_bus: the organization bus the members forward to.
    :ivar triggers: the leak-signal rules on that bus; ``detections``: the abuse rules on it.
    :ivar stack_set: the ``AWS::CloudFormation::StackSet``.
    :ivar member_template: the member template (a dict) the StackSet deploys.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        organization_id: str,
        organizational_unit_ids: Sequence[str],
        regions: Sequence[str] = (GLOBAL_EVENTS_REGION,),
        existing_key_quarantine: KeyQuarantine | None = None,
        detections: Sequence[str] | None = None,
        guardduty_finding_types: Sequence[str] = DEFAULT_GUARDDUTY_FINDING_TYPES,
        delegated_admin_accounts: Sequence[str] = (),
        call_as_delegated_admin: bool = True,
        max_concurrent_percentage: int = 25,
        failure_tolerance_percentage: int = 10,
    ) -> None:
        _validate(organization_id, organizational_unit_ids, regions, delegated_admin_accounts)
        if (
            max_concurrent_percentage not in PERCENTAGES[1:]
            or failure_tolerance_percentage not in PERCENTAGES
        ):
            raise ValueError(
                "max_concurrent_percentage must be 1-100 and failure_tolerance_percentage 0-100 (whole numbers)"
            )
        chosen = list(detection_categories() if detections is None else detections)
        super().__init__(scope, construct_id)
        self.key_quarantine = existing_key_quarantine or KeyQuarantine(
            self, "KeyQuarantine", cloudtrail_regions=list(regions), detections=chosen
        )
        self.event_bus = events.EventBus(
            self, "Bus", description="key-quarantine: leak signals forwarded by the organization's accounts"
        )
        self.event_bus.add_to_resource_policy(
            iam.PolicyStatement(
                sid="OrganizationPutEvents",
                principals=[iam.AnyPrincipal()],
                actions=["events:PutEvents"],
                resources=[self.event_bus.event_bus_arn],
                conditions={"StringEquals": {"aws:PrincipalOrgID": organization_id}},
            )
        )
        target = self.key_quarantine.responder_target
        self.triggers = TriggerRules(
            self,
            "Triggers",
            target=target,
            guardduty_finding_types=guardduty_finding_types,
            event_bus=self.event_bus,
        )
        self.detections = DetectionRules(
            self, "Detections", categories=chosen, target=target, event_bus=self.event_bus
        )
        self._allow_member_roles(organization_id, delegated_admin_accounts)
        self.member_template = member_template(
            detections=chosen,
            guardduty_finding_types=guardduty_finding_types,
            revocable_roles=self.key_quarantine.revocable_roles,
        )
        body = json.dumps(self.member_template, separators=(",", ":"))
        if len(body.encode()) > TEMPLATE_BODY_LIMIT:
            raise ValueError(
                f"the member template is {len(body)} bytes, over the StackSet limit {TEMPLATE_BODY_LIMIT}"
            )
        role_arn = self.key_quarantine.responder.role.role_arn
        sweep = self.key_quarantine.sweep
        trusted = sweep.role.role_arn if sweep else ""
        operators = cdk.Fn.join(",", self.key_quarantine.operators) if self.key_quarantine.operators else ""
        self.stack_set = cloudformation.CfnStackSet(
            self,
            "MemberStackSet",
            stack_set_name=cdk.Names.unique_resource_name(self, max_length=128, separator="-"),
            description="key-quarantine member stack: forwards leak signals, lets the central responder contain",
            permission_model="SERVICE_MANAGED",
            auto_deployment=cloudformation.CfnStackSet.AutoDeploymentProperty(
                enabled=True, retain_stacks_on_account_removal=False
            ),
            call_as="DELEGATED_ADMIN" if call_as_delegated_admin else "SELF",
            capabilities=["CAPABILITY_NAMED_IAM"],
            managed_execution={"Active": True},
            operation_preferences=cloudformation.CfnStackSet.OperationPreferencesProperty(
                region_concurrency_type="PARALLEL",
                concurrency_mode="SOFT_FAILURE_TOLERANCE",
                max_concurrent_percentage=max_concurrent_percentage,
                failure_tolerance_percentage=failure_tolerance_percentage,
            ),
            stack_instances_group=[
                cloudformation.CfnStackSet.StackInstancesProperty(
                    deployment_targets=cloudformation.CfnStackSet.DeploymentTargetsProperty(
                        organizational_unit_ids=list(organizational_unit_ids)
                    ),
                    regions=list(regions),
                )
            ],
            parameters=[
                cloudformation.CfnStackSet.ParameterProperty(parameter_key=key, parameter_value=value)
                for key, value in (
                    ("CentralEventBusArn", self.event_bus.event_bus_arn),
                    ("CentralResponderRoleArn", role_arn),
                    ("OrganizationId", organization_id),
                    (TRUSTED_ROLES_PARAMETER, trusted),
                    (OPERATOR_ROLES_PARAMETER, operators),
                )
            ],
            template_body=body,
        )
        # The management account's plain stack takes these (StackSets skip it).
        cdk.CfnOutput(self, "CentralEventBusArn", value=self.event_bus.event_bus_arn)
        cdk.CfnOutput(self, "CentralResponderRoleArn", value=role_arn)
        for name, value in ((TRUSTED_ROLES_PARAMETER, trusted), (OPERATOR_ROLES_PARAMETER, operators)):
            if value:
                cdk.CfnOutput(self, name, value=value)

    def _allow_member_roles(self, organization_id: str, delegated_admin_accounts: Sequence[str]) -> None:
        """The responder, and the daily sweep (which sweeps every member account), may assume the member role in
        the organization's accounts, and list them."""
        sweep = self.key_quarantine.sweep
        for function in [self.key_quarantine.responder, *([sweep] if sweep else [])]:
            self._allow_member_role(function, organization_id)
        self.key_quarantine.responder.function.add_environment(
            "KQ_DELEGATED_ADMINS", ",".join(delegated_admin_accounts)
        )

    def _allow_member_role(self, responder: ResponderFunction, organization_id: str) -> None:
        stack = cdk.Stack.of(self)
        responder.role.add_to_policy(
            iam.PolicyStatement(
                sid="AssumeMemberResponderRole",
                actions=[ASSUME_ROLE_ACTION],
                resources=[f"arn:{stack.partition}:iam::*:role/{MEMBER_ROLE_NAME}"],
                conditions={"StringEquals": {"aws:ResourceOrgID": organization_id}},
            )
        )
        responder.role.add_to_policy(
            iam.PolicyStatement(
                sid="ListOrganizationAccounts", actions=[LIST_ACCOUNTS_ACTION], resources=["*"]
            )
        )
        responder.function.add_environment("KQ_MEMBER_ROLE_NAME", MEMBER_ROLE_NAME)
        for evidence, reason in {
            f"Resource::arn:<AWS::Partition>:iam::*:role/{MEMBER_ROLE_NAME}": (
                "The member role in whichever account of the organization a key leaks (aws:ResourceOrgID)."
            ),
            "Resource::*": (
                "cloudtrail:LookupEvents, the credential report, cloudwatch:PutMetricData (scoped by its namespace "
                "condition) and organizations:ListAccounts support no resource-level permissions."
            ),
        }.items():
            cdk.Validations.of(responder.role).acknowledge(
                cdk.Acknowledgment(id=f"AwsSolutions::AwsSolutions-IAM5[{evidence}]", reason=reason)
            )


def _validate(
    organization_id: str,
    organizational_unit_ids: Sequence[str],
    regions: Sequence[str],
    delegated_admin_accounts: Sequence[str],
) -> None:
    if not ORGANIZATION_ID.fullmatch(organization_id):
        raise ValueError(f"organization_id {organization_id!r} is not an organization id (o-...)")
    if isinstance(organizational_unit_ids, str) or not organizational_unit_ids:
        raise ValueError("organizational_unit_ids must list at least one OU id (ou-...) or the root (r-...)")
    bad = [ou for ou in organizational_unit_ids if not OU_ID.fullmatch(ou)]
    if bad:
        raise ValueError(f"not OU or root ids: {bad}")
    bad = [region for region in regions if not REGION.fullmatch(region)]
    if isinstance(regions, str) or bad:
        raise ValueError(f"regions must be a list of region names; not regions: {bad or regions}")
    if GLOBAL_EVENTS_REGION not in regions:
        raise ValueError(
            f"regions must include {GLOBAL_EVENTS_REGION}: IAM and AWS Health events of member accounts arrive there"
        )
    bad = [account for account in delegated_admin_accounts if not ACCOUNT_ID.fullmatch(account)]
    if isinstance(delegated_admin_accounts, str) or bad:
        raise ValueError(
            f"delegated_admin_accounts must be 12-digit account ids, not {bad or delegated_admin_accounts}"
        )
