"""Least privilege, proven on the synthesized roles: each declared action only on the resources it needs, and no
change to its own role, any role, or a stack, even next to an over-broad grant someone adds later."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import aws_cdk as cdk
import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws
from moto.core import set_initial_no_auth_action_count

from key_quarantine import KeyQuarantine
from key_quarantine.handlers.canary import HEARTBEAT_NAMESPACE
from key_quarantine.handlers.playbook import required_actions
from tests.cdk_apps import synth
from tests.deployed import ACCOUNT, REGION, Deployed
from tests.handlers.policy_evaluation import decision

ROLES = ["KeyQuarantineResponderRole", "KeyQuarantineDailySweepRole"]
#: Actions IAM authorizes without resource-level permissions (Service Authorization Reference: no resource type).
RESOURCELESS = {"cloudtrail:LookupEvents", "cloudwatch:PutMetricData"}
HEARTBEAT = {"cloudwatch:namespace": HEARTBEAT_NAMESPACE}
DENY_ALL = "arn:aws:iam::aws:policy/AWSDenyAll"
#: What the responder's own calls carry: the heartbeat's namespace, AWSDenyAll as the only boundary it sets.
OWN_REQUESTS = {**HEARTBEAT, "iam:PermissionsBoundary": DENY_ALL}


@pytest.fixture(scope="module")
def deployed(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], Deployed]:
    def build(app: cdk.App) -> None:
        stack = cdk.Stack(app, "Security", env=cdk.Environment(account=ACCOUNT, region=REGION))
        KeyQuarantine(stack, "KeyQuarantine", security_hub=True)

    assembly = synth(tmp_path_factory.mktemp("least-privilege") / "cdk.out", build)
    template = json.loads((assembly / "Security.template.json").read_text())
    return template, Deployed(template)


def lid(template: dict[str, Any], prefix: str, resource_type: str) -> str:
    (found,) = [
        k
        for k, b in template["Resources"].items()
        if k.startswith(prefix) and b["Type"] == resource_type and "AccessLogs" not in k
    ]
    return found


def policy_of(template: dict[str, Any], deployed: Deployed, role_prefix: str) -> dict[str, Any]:
    role = lid(template, role_prefix, "AWS::IAM::Role")
    statements = [
        statement
        for body in template["Resources"].values()
        if body["Type"] == "AWS::IAM::Policy" and {"Ref": role} in body["Properties"]["Roles"]
        for statement in body["Properties"]["PolicyDocument"]["Statement"]
    ]
    return {"Version": "2012-10-17", "Statement": deployed.resolve(statements)}


def own_resources(template: dict[str, Any], deployed: Deployed, role_prefix: str) -> dict[str, str]:
    """A resource each service's declared actions are meant for, as deployed."""
    return {
        "iam": f"arn:aws:iam::{ACCOUNT}:user/leaked-deployer",
        "s3": deployed.arn(lid(template, "KeyQuarantineEvidence", "AWS::S3::Bucket"))
        + "/incidents/abc/evidence.json",
        "sns": deployed.name(lid(template, "KeyQuarantineNotifications", "AWS::SNS::Topic")),
        "dynamodb": deployed.arn(lid(template, "KeyQuarantineLedger", "AWS::DynamoDB::Table")),
        "securityhub": f"arn:aws:securityhub:{REGION}:{ACCOUNT}:product/{ACCOUNT}/default",
        "sqs": deployed.arn(lid(template, "KeyQuarantineBufferQueue", "AWS::SQS::Queue")),  # the second look
        "cloudtrail": "*",
        "cloudwatch": "*",
        "role": deployed.arn(lid(template, role_prefix, "AWS::IAM::Role")),
        # the playbook's KMS actions are the ledger's seals (GenerateMac/VerifyMac), on the HMAC key only
        "kms": deployed.arn(lid(template, "KeyQuarantineLedgerSealKey", "AWS::KMS::Key")),
    }


@pytest.mark.parametrize("role_prefix", ROLES)
def test_every_declared_action_is_allowed_on_its_own_resource(
    deployed: tuple[dict[str, Any], Deployed], role_prefix: str
) -> None:
    template, resolver = deployed
    policy, resources = (
        policy_of(template, resolver, role_prefix),
        own_resources(template, resolver, role_prefix),
    )
    for action in required_actions():
        assert decision(policy, action, resources[action.split(":")[0]], OWN_REQUESTS) == "allow", action


@pytest.mark.parametrize("role_prefix", ROLES)
def test_only_resourceless_actions_are_granted_on_star(
    deployed: tuple[dict[str, Any], Deployed], role_prefix: str
) -> None:
    template, resolver = deployed
    policy = policy_of(template, resolver, role_prefix)
    starred = {
        action
        for s in policy["Statement"]
        if s["Effect"] == "Allow" and s["Resource"] == "*" and s.get("Sid", "").startswith("Playbook")
        for action in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])
    }
    assert starred == RESOURCELESS
    (metrics,) = [s for s in policy["Statement"] if s.get("Sid") == "PlaybookCloudwatch"]
    assert metrics["Condition"] == {"StringEquals": HEARTBEAT}


OTHER_RESOURCE_CASES: list[tuple[str, Callable[[dict[str, str]], str], dict[str, str]]] = [
    ("iam:UpdateAccessKey", lambda _r: f"arn:aws:iam::{ACCOUNT}:role/AppRole", {}),  # roles are never touched
    ("iam:PutUserPolicy", lambda _r: "arn:aws:iam::999999999999:user/leaked-deployer", {}),  # another account
    ("iam:CreateUser", lambda r: r["iam"], {}),  # not declared
    ("iam:CreateAccessKey", lambda r: r["iam"], {}),
    ("s3:PutObject", lambda _r: "arn:aws:s3:::someone-elses-bucket/incidents/x", {}),
    ("s3:PutObject", lambda r: r["s3"].replace("/incidents/abc/evidence.json", "/other/x"), {}),
    ("s3:DeleteObject", lambda r: r["s3"], {}),
    ("sns:Publish", lambda _r: f"arn:aws:sns:{REGION}:{ACCOUNT}:someone-elses-topic", {}),
    ("dynamodb:PutItem", lambda _r: f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/someone-elses-table", {}),
    ("dynamodb:DeleteItem", lambda r: r["dynamodb"], {}),
    ("cloudwatch:PutMetricData", lambda _r: "*", {"cloudwatch:namespace": "AWS/Lambda"}),
    ("kms:Decrypt", lambda _r: f"arn:aws:kms:{REGION}:{ACCOUNT}:key/someone-elses-key", {}),
]


@pytest.mark.parametrize("role_prefix", ROLES)
@pytest.mark.parametrize(("action", "resource_for", "context"), OTHER_RESOURCE_CASES)
def test_other_resources_and_undeclared_actions_are_not_allowed(
    deployed: tuple[dict[str, Any], Deployed],
    role_prefix: str,
    action: str,
    resource_for: Callable[[dict[str, str]], str],
    context: dict[str, str],
) -> None:
    template, resolver = deployed
    policy, resources = (
        policy_of(template, resolver, role_prefix),
        own_resources(template, resolver, role_prefix),
    )
    assert decision(policy, action, resource_for(resources), context) == "implicit-deny"


@pytest.mark.parametrize("role_prefix", ROLES)
@pytest.mark.parametrize(
    "boundary",
    [
        "arn:aws:iam::aws:policy/AdministratorAccess",  # what would free the user again
        f"arn:aws:iam::{ACCOUNT}:policy/AWSDenyAll",  # a look-alike of the account's own, which anyone could edit
        "arn:aws:iam::aws:policy/AWSDenyAllButS3",
        None,  # the condition key absent
    ],
)
def test_the_responder_can_set_no_permissions_boundary_but_aws_deny_all(
    deployed: tuple[dict[str, Any], Deployed], role_prefix: str, boundary: str | None
) -> None:
    template, resolver = deployed
    policy = policy_of(template, resolver, role_prefix)
    user = own_resources(template, resolver, role_prefix)["iam"]
    # AWSDenyAll on a user: allowed (the fallback deny)
    assert (
        decision(policy, "iam:PutUserPermissionsBoundary", user, {"iam:PermissionsBoundary": DENY_ALL})
        == "allow"
    )
    # any other boundary, or none named: not
    context = {} if boundary is None else {"iam:PermissionsBoundary": boundary}
    assert decision(policy, "iam:PutUserPermissionsBoundary", user, context) == "implicit-deny"
    # nor taking a boundary off (release runs as the operator), nor AWSDenyAll on a role
    assert decision(policy, "iam:DeleteUserPermissionsBoundary", user, {}) == "implicit-deny"
    role = own_resources(template, resolver, role_prefix)["role"]
    assert (
        decision(policy, "iam:PutRolePermissionsBoundary", role, {"iam:PermissionsBoundary": DENY_ALL})
        != "allow"
    )


ROLE_AND_STACK_CASES: list[tuple[str, Callable[[dict[str, str]], str]]] = [
    ("iam:PutRolePolicy", lambda r: r["role"]),
    ("iam:AttachRolePolicy", lambda r: r["role"]),
    ("iam:UpdateAssumeRolePolicy", lambda r: r["role"]),
    ("iam:DeleteRole", lambda r: r["role"]),
    ("iam:PutRolePermissionsBoundary", lambda r: r["role"]),
    ("iam:TagRole", lambda r: r["role"]),
    ("iam:GetRole", lambda r: r["role"]),
    ("iam:UpdateAccessKey", lambda r: r["role"]),  # any IAM action on its own role
    ("iam:CreateRole", lambda _r: f"arn:aws:iam::{ACCOUNT}:role/Backdoor"),
    ("iam:AttachRolePolicy", lambda _r: f"arn:aws:iam::{ACCOUNT}:role/AppRole"),
    ("iam:PassRole", lambda _r: f"arn:aws:iam::{ACCOUNT}:role/AppRole"),
    ("iam:CreatePolicyVersion", lambda _r: f"arn:aws:iam::{ACCOUNT}:policy/AppPolicy"),
    ("cloudformation:UpdateStack", lambda _r: f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/Security/1"),
    ("cloudformation:DeleteStack", lambda _r: f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/Security/1"),
    ("cloudformation:CreateStack", lambda _r: f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/Other/2"),
]


@pytest.mark.parametrize("role_prefix", ROLES)
@pytest.mark.parametrize(("action", "resource_for"), ROLE_AND_STACK_CASES)
def test_role_and_stack_changes_are_explicitly_denied_even_after_an_over_broad_grant(
    deployed: tuple[dict[str, Any], Deployed],
    role_prefix: str,
    action: str,
    resource_for: Callable[[dict[str, str]], str],
) -> None:
    # Given the role's policy, and someone later attaching Allow * on * to it
    template, resolver = deployed
    policy, resources = (
        policy_of(template, resolver, role_prefix),
        own_resources(template, resolver, role_prefix),
    )
    widened = {
        **policy,
        "Statement": [*policy["Statement"], {"Effect": "Allow", "Action": "*", "Resource": "*"}],
    }
    # Then the role still cannot change roles (its own first) or stacks
    assert decision(widened, action, resource_for(resources), {}) == "explicit-deny"
    # while containing a user stays allowed
    assert decision(widened, "iam:UpdateAccessKey", resources["iam"], {}) == "allow"


@pytest.mark.parametrize(
    ("policy", "expected"),
    [
        ("arn:aws:iam::aws:policy/AWSCompromisedKeyQuarantineV3", "allow"),
        ("arn:aws:iam::aws:policy/AWSCompromisedKeyQuarantineV7", "allow"),  # versions AWS adds later
        ("arn:aws:iam::aws:policy/AdministratorAccess", "implicit-deny"),
        (
            f"arn:aws:iam::{ACCOUNT}:policy/AWSCompromisedKeyQuarantine",
            "implicit-deny",
        ),  # a look-alike of ours
    ],
)
def test_sweep_reads_only_the_quarantine_policies(
    deployed: tuple[dict[str, Any], Deployed], policy: str, expected: str
) -> None:
    template, resolver = deployed
    sweep = policy_of(template, resolver, "KeyQuarantineDailySweepRole")
    for action in ("iam:GetPolicyVersion", "iam:ListEntitiesForPolicy"):
        assert decision(sweep, action, policy, {}) == expected, action


def outcome_of(call: Callable[[], Any]) -> str:
    try:
        call()
    except ClientError as error:
        return str(error.response["Error"]["Code"])
    return "allowed"


@pytest.mark.usefixtures("aws_credentials")
def test_moto_enforces_the_denies_on_real_calls(deployed: tuple[dict[str, Any], Deployed]) -> None:
    # moto authorizes IAM calls against resource "*", so it can check the resource-"*" Deny, not user/* scoping
    template, resolver = deployed
    role_name = resolver.name(lid(template, "KeyQuarantineResponderRole", "AWS::IAM::Role"))
    denies = [s for s in policy_of(template, resolver, ROLES[0])["Statement"] if s["Effect"] == "Deny"]
    widened = {
        "Version": "2012-10-17",
        "Statement": [*denies, {"Effect": "Allow", "Action": "*", "Resource": "*"}],
    }
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ],
    }
    results: dict[str, str] = {}

    @set_initial_no_auth_action_count(7)  # set-up calls run unauthenticated; everything after is checked
    @mock_aws
    def scenario() -> None:
        iam = boto3.client("iam", region_name=REGION)
        iam.create_role(RoleName=role_name, AssumeRolePolicyDocument=json.dumps(trust))
        iam.create_role(RoleName="AppRole", AssumeRolePolicyDocument=json.dumps(trust))
        iam.create_user(UserName="responder")
        iam.put_user_policy(
            UserName="responder", PolicyName="synthesized", PolicyDocument=json.dumps(widened)
        )
        key = iam.create_access_key(UserName="responder")["AccessKey"]
        iam.create_user(UserName="leaked")
        leaked = iam.create_access_key(UserName="leaked")["AccessKey"]["AccessKeyId"]
        # When the responder's credentials make each call
        session = boto3.Session(
            aws_access_key_id=key["AccessKeyId"],
            aws_secret_access_key=key["SecretAccessKey"],
            region_name=REGION,
        )
        as_responder, stacks = session.client("iam"), session.client("cloudformation")
        admin = json.dumps(
            {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
        )
        calls: dict[str, Callable[[], Any]] = {
            "contain-user": lambda: as_responder.update_access_key(
                UserName="leaked", AccessKeyId=leaked, Status="Inactive"
            ),
            "own-role-policy": lambda: as_responder.put_role_policy(
                RoleName=role_name, PolicyName="escalate", PolicyDocument=admin
            ),
            "own-role-trust": lambda: as_responder.update_assume_role_policy(
                RoleName=role_name, PolicyDocument=admin
            ),
            "other-role": lambda: as_responder.attach_role_policy(
                RoleName="AppRole", PolicyArn="arn:aws:iam::aws:policy/AdministratorAccess"
            ),
            "new-role": lambda: as_responder.create_role(
                RoleName="Backdoor", AssumeRolePolicyDocument=json.dumps(trust)
            ),
            "stack": lambda: stacks.delete_stack(StackName="Security"),
        }
        results.update({name: outcome_of(call) for name, call in calls.items()})

    scenario()
    # Then containing the user works, and every role or stack change is refused
    assert results.pop("contain-user") == "allowed"
    assert set(results.values()) == {"AccessDenied"}, results
