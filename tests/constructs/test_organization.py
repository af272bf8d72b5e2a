"""KeyQuarantineOrganization: the organization bus, the StackSet, and the member template it deploys."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from cdk_nag import AwsSolutionsChecks

from key_quarantine import KeyQuarantineMember, KeyQuarantineOrganization
from key_quarantine.constructs.organization_member import OPERATOR_ROLES_PARAMETER, TRUSTED_ROLES_PARAMETER
from key_quarantine.constructs.trigger_rules import DEFAULT_GUARDDUTY_FINDING_TYPES, signal_patterns
from key_quarantine.data.detections import categories, regional_categories
from key_quarantine.handlers.organization import MEMBER_OPERATOR_ROLE_NAME, MEMBER_ROLE_NAME
from key_quarantine.handlers.release import RELEASE_ACTIONS
from key_quarantine.handlers.steps import ALL_STEPS, RESOLVE_ACTIONS
from key_quarantine.handlers.sweep import AUDIT_ACTIONS, POLICY_SCOPED_READS
from tests.cdk_apps import plugin_report, synth
from tests.cfn import resolve_template
from tests.handlers.policy_evaluation import resource_decision

SECURITY = "111111111111"
MANAGEMENT = "222222222222"
ORG_ID = "o-abcdefghij"
OUS = ["ou-ab12-abcdefgh", "ou-ab12-ijklmnop"]
REGIONS = ["us-east-1", "eu-west-1", "ap-southeast-2"]


@pytest.fixture(scope="module")
def central(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    def build(app: cdk.App) -> None:
        stack = cdk.Stack(app, "Security", env=cdk.Environment(account=SECURITY, region="us-east-1"))
        KeyQuarantineOrganization(
            stack,
            "Org",
            organization_id=ORG_ID,
            organizational_unit_ids=OUS,
            regions=REGIONS,
            delegated_admin_accounts=[MANAGEMENT],
        )

    assembly = synth(tmp_path_factory.mktemp("org") / "cdk.out", build)
    return dict(json.loads((assembly / "Security.template.json").read_text()), assembly=str(assembly))


def resources(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {lid: r for lid, r in template["Resources"].items() if r["Type"] == kind}


def stack_set(central: dict[str, Any]) -> dict[str, Any]:
    (found,) = resources(central, "AWS::CloudFormation::StackSet").values()
    return dict(found["Properties"])


@pytest.fixture(scope="module")
def member(central: dict[str, Any]) -> dict[str, Any]:
    return dict(json.loads(stack_set(central)["TemplateBody"]))


def named_role(template: dict[str, Any], name: str) -> dict[str, Any]:
    (role,) = [
        r for r in resources(template, "AWS::IAM::Role").values() if r["Properties"].get("RoleName") == name
    ]
    return role


def logical_id(template: dict[str, Any], kind: str) -> str:
    (found,) = resources(template, kind)
    return found


def test_stack_set_is_service_managed_and_deploys_automatically_to_the_ous_and_regions(
    central: dict[str, Any],
) -> None:
    properties = stack_set(central)
    assert properties["PermissionModel"] == "SERVICE_MANAGED"
    assert properties["AutoDeployment"] == {"Enabled": True, "RetainStacksOnAccountRemoval": False}
    assert properties["CallAs"] == "DELEGATED_ADMIN"
    assert properties["Capabilities"] == ["CAPABILITY_NAMED_IAM"]  # the member role has a fixed name
    (group,) = properties["StackInstancesGroup"]
    assert group == {"DeploymentTargets": {"OrganizationalUnitIds": OUS}, "Regions": REGIONS}
    preferences = properties["OperationPreferences"]
    assert preferences["RegionConcurrencyType"] == "PARALLEL"
    assert 0 < preferences["FailureTolerancePercentage"] < preferences["MaxConcurrentPercentage"] <= 100
    assert "TemplateURL" not in properties  # inline: a StackSet cannot use CDK file assets


def test_stack_set_parameters_are_the_central_bus_role_and_organization(central: dict[str, Any]) -> None:
    parameters = {p["ParameterKey"]: p["ParameterValue"] for p in stack_set(central)["Parameters"]}
    bus = logical_id(central, "AWS::Events::EventBus")
    (responder_role,) = [
        lid for lid in resources(central, "AWS::IAM::Role") if "Responder" in lid and "Sweep" not in lid
    ]
    (sweep_role,) = [lid for lid in resources(central, "AWS::IAM::Role") if "DailySweep" in lid]
    assert parameters == {
        "CentralEventBusArn": {"Fn::GetAtt": [bus, "Arn"]},
        "CentralResponderRoleArn": {"Fn::GetAtt": [responder_role, "Arn"]},
        "OrganizationId": ORG_ID,
        # the daily sweep enters every member account through the member role too
        TRUSTED_ROLES_PARAMETER: {"Fn::GetAtt": [sweep_role, "Arn"]},
        OPERATOR_ROLES_PARAMETER: "",  # none named: no operator role in the members
    }


def test_member_template_takes_those_parameters_and_has_no_assets(member: dict[str, Any]) -> None:
    assert set(member["Parameters"]) == {
        "CentralEventBusArn",
        "CentralResponderRoleArn",
        "OrganizationId",
        TRUSTED_ROLES_PARAMETER,
        OPERATOR_ROLES_PARAMETER,
    }
    text = json.dumps(member)
    assert "BootstrapVersion" not in text
    assert "AssetParameters" not in text
    assert "cdk-hnb659fds" not in text  # no bootstrap bucket or role: member accounts are not bootstrapped
    assert not resources(member, "AWS::Lambda::Function")


def test_member_template_is_cfn_lint_clean(member: dict[str, Any], tmp_path: Path) -> None:
    # Given the TemplateBody exactly as the StackSet carries it
    path = tmp_path / "member.template.json"
    path.write_text(json.dumps(member))
    # When cfn-lint reads it; Then it reports nothing (errors, warnings or informational)
    cfn_lint = Path(sys.executable).parent / "cfn-lint"
    result = subprocess.run([str(cfn_lint), str(path)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout


def test_central_template_is_cfn_lint_clean(central: dict[str, Any]) -> None:
    cfn_lint = Path(sys.executable).parent / "cfn-lint"
    path = Path(central["assembly"]) / "Security.template.json"
    result = subprocess.run([str(cfn_lint), str(path)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout


def test_member_role_trusts_only_the_central_roles_in_the_organization(member: dict[str, Any]) -> None:
    role = named_role(member, MEMBER_ROLE_NAME)
    assert role["Properties"]["RoleName"] == MEMBER_ROLE_NAME
    (statement,) = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert statement["Action"] == "sts:AssumeRole"
    assert statement["Effect"] == "Allow"
    root = json.dumps(statement["Principal"]["AWS"])
    assert '{"Ref": "CentralResponderRoleArn"}' in root  # the central account, taken from the role ARN
    assert root.endswith(':root"]]}')
    assert set(statement["Condition"]) == {"ArnEquals", "StringEquals"}
    assert statement["Condition"]["StringEquals"] == {"aws:PrincipalOrgID": {"Ref": "OrganizationId"}}


RESPONDER_ARN = f"arn:aws:iam::{SECURITY}:role/Security-Responder"
SWEEP_ARN = f"arn:aws:iam::{SECURITY}:role/Security-DailySweep"
OPERATOR_ARN = f"arn:aws:iam::{SECURITY}:role/kq-operator"


def assumers(role: dict[str, Any], member: dict[str, Any], **parameters: str) -> set[str]:
    """Which central roles the role's trust admits, as CloudFormation resolves it with the StackSet's parameters
    (a CommaDelimitedList as a list). A cross-account AssumeRole needs the role's trust to allow the caller (IAM
    User Guide, "Cross account resource access in IAM"); the callers' own policies allow sts:AssumeRole. moto
    ignores trust policies, so the trust is evaluated here."""
    values = {
        "CentralResponderRoleArn": RESPONDER_ARN,
        "OrganizationId": ORG_ID,
        "AWS::Partition": "aws",
        **{name: value.split(",") if value else [""] for name, value in parameters.items()},
    }
    trust = resolve_template(role["Properties"]["AssumeRolePolicyDocument"], member, values)
    candidates = [RESPONDER_ARN, SWEEP_ARN, OPERATOR_ARN, f"arn:aws:iam::{SECURITY}:role/AdminOfSecurity"]
    admitted = {
        arn
        for arn in candidates
        if resource_decision(
            trust,
            "sts:AssumeRole",
            arn,
            {"aws:PrincipalOrgID": ORG_ID},
            identity_allows=True,
            delegates_to_iam=False,
        )
        == "allow"
    }
    outsider = resource_decision(
        trust,
        "sts:AssumeRole",
        next(iter(admitted or {RESPONDER_ARN})),
        {"aws:PrincipalOrgID": "o-someoneelse"},
        identity_allows=True,
        delegates_to_iam=False,
    )
    assert outsider != "allow"  # never from outside the organization
    return admitted


@pytest.mark.parametrize(
    ("sweep", "allowed"), [(SWEEP_ARN, {RESPONDER_ARN, SWEEP_ARN}), ("", {RESPONDER_ARN})]
)
def test_member_responder_role_admits_the_responder_and_the_sweep_only(
    member: dict[str, Any], sweep: str, allowed: set[str]
) -> None:
    # Given the member responder role as the StackSet creates it, with or without a daily sweep
    role = named_role(member, MEMBER_ROLE_NAME)
    # Then the responder and the sweep may assume it; an operator or another central role may not (no empty ARN
    # in the trust when there is no sweep)
    trusted = {TRUSTED_ROLES_PARAMETER: sweep, OPERATOR_ROLES_PARAMETER: OPERATOR_ARN}
    assert assumers(role, member, **trusted) == allowed


def test_member_operator_role_admits_the_operators_only_and_grants_exactly_what_release_changes(
    member: dict[str, Any],
) -> None:
    # Given the member operator role as the StackSet creates it for the security account's operators
    role = named_role(member, MEMBER_OPERATOR_ROLE_NAME)
    parameters = {TRUSTED_ROLES_PARAMETER: SWEEP_ARN, OPERATOR_ROLES_PARAMETER: OPERATOR_ARN}
    # Then only the operators may assume it: not the responder, not the sweep
    assert assumers(role, member, **parameters) == {OPERATOR_ARN}
    # and it grants exactly release's IAM calls, on users only (release may set any boundary: the responder's
    # member role cannot)
    (policy,) = role["Properties"]["Policies"]
    (statement,) = policy["PolicyDocument"]["Statement"]
    assert sorted(statement["Action"]) == sorted(RELEASE_ACTIONS)
    assert json.dumps(statement["Resource"]).endswith(':user/*"]]}')
    # and it exists only in us-east-1, and only when operators are named
    values = {"AWS::Region": "us-east-1", OPERATOR_ROLES_PARAMETER: [OPERATOR_ARN]}
    condition = {"Condition": role["Condition"]}
    assert resolve_template(condition, member, values) is True
    assert resolve_template(condition, member, {**values, OPERATOR_ROLES_PARAMETER: [""]}) is False
    assert resolve_template(condition, member, {**values, "AWS::Region": "eu-west-1"}) is False


def test_member_role_grants_exactly_the_playbooks_iam_and_cloudtrail_actions(member: dict[str, Any]) -> None:
    # Given what the playbook's steps declare they call in the key's account (an opt-in step's only when opted in:
    # test_least_privilege_revocation.py)
    needed = {
        action
        for action in [
            *RESOLVE_ACTIONS,
            *(a for step in ALL_STEPS if step.opt_in is None for a in step.actions),
        ]
        if action.startswith(("iam:", "cloudtrail:"))
    }
    role = named_role(member, MEMBER_ROLE_NAME)
    (policy,) = role["Properties"]["Policies"]
    granted: set[str] = set()
    statements = policy["PolicyDocument"]["Statement"]
    for statement in [s for s in statements if s["Sid"].startswith("Playbook")]:
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        granted |= set(actions)
        if any(a.startswith("iam:") for a in actions):
            assert json.dumps(statement["Resource"]).endswith(':user/*"]]}')  # users, never roles
    # Then the role grants exactly those: nothing about the ledger, topic or bucket, which stay central
    assert granted == needed
    # and the central daily sweep's reads only: the credential report, and AWS's quarantine policies by prefix
    reads = {s["Sid"]: s for s in statements if not s["Sid"].startswith("Playbook")}
    assert set(reads) == {"SweepAccountReads", "SweepQuarantinePolicyReads"}
    assert sorted(reads["SweepAccountReads"]["Action"]) == sorted(set(AUDIT_ACTIONS) - POLICY_SCOPED_READS)
    assert json.dumps(reads["SweepQuarantinePolicyReads"]["Resource"]).endswith(
        ':iam::aws:policy/AWSCompromisedKeyQuarantine*"]]}'
    )
    assert "iam:UpdateAccessKey" in granted
    assert "iam:PutUserPolicy" in granted
    # a permissions boundary only ever AWS's AWSDenyAll (the fallback deny), on users
    (boundary,) = [s for s in statements if "iam:PutUserPermissionsBoundary" in json.dumps(s["Action"])]
    assert boundary["Action"] == "iam:PutUserPermissionsBoundary"
    assert json.dumps(boundary["Condition"]["StringEquals"]["iam:PermissionsBoundary"]).endswith(
        ':iam::aws:policy/AWSDenyAll"]]}'
    )


def test_global_signals_and_the_member_role_exist_only_in_us_east_1(member: dict[str, Any]) -> None:
    conditions = member["Conditions"]
    (in_global,) = [
        n for n, c in conditions.items() if c == {"Fn::Equals": [{"Ref": "AWS::Region"}, "us-east-1"]}
    ]
    (elsewhere,) = [n for n, c in conditions.items() if c == {"Fn::Not": [{"Condition": in_global}]}]
    rules = resources(member, "AWS::Events::Rule")
    global_rules = [r for r in rules.values() if r.get("Condition") == in_global]
    regional_rules = [r for r in rules.values() if r.get("Condition") == elsewhere]
    assert len(global_rules) == len(signal_patterns(DEFAULT_GUARDDUTY_FINDING_TYPES)) + len(categories())
    assert len(regional_rules) == len(regional_categories())
    assert len(rules) == len(global_rules) + len(regional_rules)
    for rule in regional_rules:
        assert "iam.amazonaws.com" not in json.dumps(rule["Properties"]["EventPattern"])
    named = named_role(member, MEMBER_ROLE_NAME)
    assert named["Condition"] == in_global  # IAM is global: one member role per account, not per region


def test_member_rules_forward_to_the_central_bus_with_a_put_events_only_role(member: dict[str, Any]) -> None:
    rules = resources(member, "AWS::Events::Rule")
    (forward_role,) = [
        lid for lid, r in resources(member, "AWS::IAM::Role").items() if "RoleName" not in r["Properties"]
    ]
    for rule in rules.values():
        (target,) = rule["Properties"]["Targets"]
        assert target["Arn"] == {"Ref": "CentralEventBusArn"}
        assert target["RoleArn"] == {"Fn::GetAtt": [forward_role, "Arn"]}
    (policy,) = resources(member, "AWS::IAM::Policy").values()
    assert policy["Properties"]["PolicyDocument"]["Statement"] == [
        {"Action": "events:PutEvents", "Effect": "Allow", "Resource": {"Ref": "CentralEventBusArn"}}
    ]


def test_bus_admits_put_events_only_from_the_organization(central: dict[str, Any]) -> None:
    bus = logical_id(central, "AWS::Events::EventBus")
    (policy,) = resources(central, "AWS::Events::EventBusPolicy").values()
    statement = policy["Properties"]["Statement"]
    assert policy["Properties"]["EventBusName"] == {"Ref": bus}
    assert statement["Action"] == "events:PutEvents"
    assert statement["Resource"] == {"Fn::GetAtt": [bus, "Arn"]}
    assert statement["Condition"] == {"StringEquals": {"aws:PrincipalOrgID": ORG_ID}}


def test_rules_on_the_organization_bus_deliver_to_the_responder(central: dict[str, Any]) -> None:
    bus = logical_id(central, "AWS::Events::EventBus")
    on_bus = [
        r for r in resources(central, "AWS::Events::Rule").values() if r["Properties"].get("EventBusName")
    ]
    assert len(on_bus) == len(signal_patterns(DEFAULT_GUARDDUTY_FINDING_TYPES)) + len(categories())
    # the responder's buffer queue, read by the responder in batches (as for the default bus's rules)
    (queue,) = [lid for lid in resources(central, "AWS::SQS::Queue") if "BufferQueue" in lid]
    for rule in on_bus:
        assert rule["Properties"]["EventBusName"] == {"Ref": bus}
        (target,) = rule["Properties"]["Targets"]
        assert target["Arn"] == {"Fn::GetAtt": [queue, "Arn"]}
        assert "DeadLetterConfig" in target


def test_responder_may_assume_only_the_member_role_inside_the_organization(central: dict[str, Any]) -> None:
    statements = [
        s
        for p in resources(central, "AWS::IAM::Policy").values()
        for s in p["Properties"]["PolicyDocument"]["Statement"]
    ]
    # the responder and the daily sweep (which sweeps every member account), each the member role only
    assumes = [s for s in statements if s["Action"] == "sts:AssumeRole"]
    assert len(assumes) == 2
    for assume in assumes:
        assert assume["Resource"] == {
            "Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}, f":iam::*:role/{MEMBER_ROLE_NAME}"]]
        }
        assert assume["Condition"] == {"StringEquals": {"aws:ResourceOrgID": ORG_ID}}
    (function,) = [
        f
        for lid, f in resources(central, "AWS::Lambda::Function").items()
        if "Responder" in lid and "Sweep" not in lid
    ]
    environment = function["Properties"]["Environment"]["Variables"]
    assert environment["KQ_MEMBER_ROLE_NAME"] == MEMBER_ROLE_NAME
    assert environment["KQ_DELEGATED_ADMINS"] == MANAGEMENT


@pytest.mark.parametrize(
    ("props", "message"),
    [
        ({"organization_id": "org-1"}, "not an organization id"),
        ({"organizational_unit_ids": []}, "at least one OU"),
        ({"organizational_unit_ids": ["eu-west-1"]}, "not OU or root ids"),
        ({"regions": ["eu-west-1"]}, "must include us-east-1"),
        ({"regions": "us-east-1"}, "list of region names"),
        ({"delegated_admin_accounts": ["mgmt"]}, "12-digit"),
        ({"max_concurrent_percentage": 0}, "max_concurrent_percentage must be 1-100"),
    ],
)
def test_bad_props_fail_with_a_message_naming_the_problem(props: dict[str, Any], message: str) -> None:
    stack = cdk.Stack(cdk.App(), "Security", env=cdk.Environment(region="us-east-1"))
    arguments: dict[str, Any] = {"organization_id": ORG_ID, "organizational_unit_ids": OUS, **props}
    with pytest.raises(ValueError, match=message):
        KeyQuarantineOrganization(stack, "Org", **arguments)


def test_passes_aws_solutions_checks_in_a_stack_pinned_to_an_account(tmp_path: Path) -> None:
    # Given the organization construct in a stack pinned to the security account, with cdk-nag's AwsSolutions
    def build(app: cdk.App) -> None:
        stack = cdk.Stack(app, "Security", env=cdk.Environment(account=SECURITY, region="us-east-1"))
        KeyQuarantineOrganization(stack, "Org", organization_id=ORG_ID, organizational_unit_ids=OUS)
        cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app))

    # When synthesized; Then every wildcard it needs is acknowledged with its reason: no violation is left
    outdir = synth(tmp_path, build, fail_on_errors=False)
    assert plugin_report(outdir, "AwsSolutions")["violations"] == []


def test_management_account_gets_the_same_member_construct_as_a_plain_stack(tmp_path: Path) -> None:
    # Given the member construct in a stack of the management account, with the security stack's outputs
    role_arn = f"arn:aws:iam::{SECURITY}:role/Security-OrgResponderRole-ABC"
    bus_arn = f"arn:aws:events:us-east-1:{SECURITY}:event-bus/SecurityOrgBus3A2E3AE3"
    sweep_arn = f"arn:aws:iam::{SECURITY}:role/Security-OrgDailySweepRole-DEF"

    def build(app: cdk.App) -> None:
        stack = cdk.Stack(app, "Management", env=cdk.Environment(account=MANAGEMENT, region="us-east-1"))
        KeyQuarantineMember(
            stack,
            "Member",
            central_event_bus_arn=bus_arn,
            central_responder_role_arn=role_arn,
            trusted_role_arns=[sweep_arn],
            operator_role_arns=[OPERATOR_ARN],
            organization_id=ORG_ID,
        )

    # When synthesized
    outdir = synth(tmp_path, build)
    template = json.loads((outdir / "Management.template.json").read_text())
    # Then the member role trusts the security account's responder and sweep roles, and the rules forward to its bus
    role = named_role(template, MEMBER_ROLE_NAME)
    (operators,) = named_role(template, MEMBER_OPERATOR_ROLE_NAME)["Properties"]["AssumeRolePolicyDocument"][
        "Statement"
    ]
    assert operators["Condition"]["ArnEquals"] == {"aws:PrincipalArn": [OPERATOR_ARN]}
    (statement,) = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert SECURITY in json.dumps(statement["Principal"])
    assert statement["Condition"]["ArnEquals"] == {"aws:PrincipalArn": [role_arn, sweep_arn]}
    targets = [
        r["Properties"]["Targets"][0]["Arn"] for r in resources(template, "AWS::Events::Rule").values()
    ]
    assert set(targets) == {bus_arn}


def test_member_construct_rejects_an_unknown_detection_category() -> None:
    stack = cdk.Stack(cdk.App(), "Management", env=cdk.Environment(region="us-east-1"))
    with pytest.raises(ValueError, match=r"unknown detection categories \['bitcoin'\]"):
        KeyQuarantineMember(
            stack,
            "Member",
            central_event_bus_arn="arn:aws:events:us-east-1:111111111111:event-bus/b",
            central_responder_role_arn="arn:aws:iam::111111111111:role/r",
            organization_id=ORG_ID,
            detections=["bitcoin"],
        )
