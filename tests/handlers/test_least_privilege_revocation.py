"""Least privilege with ``revoke_role_sessions`` on, proven on the synthesized roles with the condition-aware
evaluator (moto authorizes IAM calls against resource ``*`` only): the responder may put the revocation policy on
the revocable roles and do nothing else to any role, never to its own or the stack's, even next to an over-broad
grant someone adds later. The organization's member role gets the same scoped grant."""

from __future__ import annotations

import json
from typing import Any

import aws_cdk as cdk
import pytest

from key_quarantine import KeyQuarantine
from key_quarantine.constructs.organization_member import member_template
from key_quarantine.handlers.organization import MEMBER_ROLE_NAME
from key_quarantine.handlers.playbook import required_actions
from tests.cdk_apps import synth
from tests.deployed import ACCOUNT, REGION, Deployed
from tests.handlers.policy_evaluation import decision
from tests.handlers.test_least_privilege import policy_of

ROLES = ["KeyQuarantineResponderRole", "KeyQuarantineDailySweepRole"]
ROLE = f"arn:aws:iam::{ACCOUNT}:role/"
ALLOW_ALL = {"Effect": "Allow", "Action": "*", "Resource": "*"}
#: every other thing a responder could do to a role (the key's holder's next moves, were it the responder)
OTHER_ROLE_ACTIONS = [
    "iam:AttachRolePolicy",
    "iam:DeleteRolePolicy",
    "iam:UpdateAssumeRolePolicy",
    "iam:PassRole",
    "iam:TagRole",
    "iam:UntagRole",
    "iam:DeleteRole",
    "iam:PutRolePermissionsBoundary",
    "iam:UpdateRole",
    "iam:GetRole",
    "iam:CreateRole",
]


def deployed_with(
    tmp_path_factory: pytest.TempPathFactory, revocable: list[str]
) -> tuple[dict[str, Any], Deployed]:
    def build(app: cdk.App) -> None:
        stack = cdk.Stack(app, "Security", env=cdk.Environment(account=ACCOUNT, region=REGION))
        KeyQuarantine(
            stack,
            "KeyQuarantine",
            revoke_role_sessions=True,
            revocable_roles=revocable,
            reenable_on_tamper=True,
        )

    assembly = synth(tmp_path_factory.mktemp("revocation") / "cdk.out", build)
    template = json.loads((assembly / "Security.template.json").read_text())
    return template, Deployed(template)


@pytest.fixture(scope="module")
def scoped(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], Deployed]:
    return deployed_with(tmp_path_factory, ["/apps/", "deploy"])


@pytest.fixture(scope="module")
def everywhere(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], Deployed]:
    return deployed_with(tmp_path_factory, ["*"])


def widened(policy: dict[str, Any]) -> dict[str, Any]:
    return {**policy, "Statement": [*policy["Statement"], ALLOW_ALL]}


@pytest.mark.parametrize("role_prefix", ROLES)
def test_the_revocation_policy_may_go_on_the_revocable_roles_only(
    scoped: tuple[dict[str, Any], Deployed], role_prefix: str
) -> None:
    template, resolver = scoped
    policy = policy_of(template, resolver, role_prefix)
    # the roles the prop names: under /apps/, and "deploy" at /
    for role in ("apps/web", "apps/team/batch", "deploy"):
        assert decision(policy, "iam:PutRolePolicy", ROLE + role, {}) == "allow", role
    # any other role: explicitly denied, as before the prop existed
    for role in ("payroll", "ops/deploy", "deploy-prod", "Admin"):
        assert decision(policy, "iam:PutRolePolicy", ROLE + role, {}) == "explicit-deny", role
    # a role of the same name in another account is not this account's
    assert decision(policy, "iam:PutRolePolicy", "arn:aws:iam::999999999999:role/deploy", {}) != "allow"


@pytest.mark.parametrize("role_prefix", ROLES)
@pytest.mark.parametrize("fixture", ["scoped", "everywhere"])
def test_nothing_else_on_any_role_nor_its_own_or_the_stacks_even_after_an_over_broad_grant(
    request: pytest.FixtureRequest, fixture: str, role_prefix: str
) -> None:
    template, resolver = request.getfixturevalue(fixture)
    policy = widened(policy_of(template, resolver, role_prefix))
    revocable, other = ROLE + "apps/web", ROLE + "payroll"
    # Then on a revocable role only the revocation goes through; every other role action, anywhere, is denied
    assert decision(policy, "iam:PutRolePolicy", revocable, {}) == "allow"
    for action in OTHER_ROLE_ACTIONS:
        for role in (revocable, other):
            assert decision(policy, action, role, {}) == "explicit-deny", (action, role)
    # And its own role, the stack's other roles and the deploying admin role are never revocable, even under "*"
    own = [resolver.arn(k) for k, b in template["Resources"].items() if b["Type"] == "AWS::IAM::Role"]
    admin = f"arn:aws:iam::{ACCOUNT}:role/cdk-hnb659fds-cfn-exec-role-{ACCOUNT}-{REGION}"
    for role in [*own, admin]:
        assert decision(policy, "iam:PutRolePolicy", role, {}) == "explicit-deny", role
    # And stacks stay out of reach, while containing a user stays allowed
    stack = f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/Security/1"
    assert decision(policy, "cloudformation:DeleteStack", stack, {}) == "explicit-deny"
    assert (
        decision(policy, "iam:UpdateAccessKey", f"arn:aws:iam::{ACCOUNT}:user/leaked-deployer", {}) == "allow"
    )


def test_every_role_of_the_stack_is_protected(everywhere: tuple[dict[str, Any], Deployed]) -> None:
    # Given revocable "*" and a stack with more roles than the two functions' (the tamper re-enabler's)
    template, resolver = everywhere
    roles = [k for k, b in template["Resources"].items() if b["Type"] == "AWS::IAM::Role"]
    assert len(roles) >= 3
    # Then neither function may put the revocation on any of them
    for role_prefix in ROLES:
        policy = widened(policy_of(template, resolver, role_prefix))
        for role in roles:
            assert decision(policy, "iam:PutRolePolicy", resolver.arn(role), {}) == "explicit-deny", role


def test_the_role_is_exactly_the_opted_in_steps_actions(scoped: tuple[dict[str, Any], Deployed]) -> None:
    template, resolver = scoped
    statements = [
        s
        for s in policy_of(template, resolver, ROLES[0])["Statement"]
        if s.get("Sid", "").startswith("Playbook")
    ]
    granted = sorted(
        a for s in statements for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])
    )
    assert granted == sorted(required_actions(opted_in={"revoke_role_sessions"}))
    (on_users,) = [s for s in statements if s["Sid"] == "PlaybookIam"]
    assert "iam:PutRolePolicy" not in on_users["Action"]


def member_policy(revocable: list[str]) -> dict[str, Any]:
    template = member_template(revocable_roles=revocable)
    (role,) = [
        b
        for b in template["Resources"].values()
        if b["Type"] == "AWS::IAM::Role" and b["Properties"].get("RoleName") == MEMBER_ROLE_NAME
    ]
    statements = [s for p in role["Properties"]["Policies"] for s in p["PolicyDocument"]["Statement"]]
    return {"Version": "2012-10-17", "Statement": Deployed(template).resolve(statements)}


def test_the_member_role_gets_the_same_scoped_grant_only_when_opted_in() -> None:
    own = ROLE + MEMBER_ROLE_NAME
    # Given the member role without the prop: it can change no role
    off = member_policy([])
    assert decision(off, "iam:PutRolePolicy", ROLE + "apps/web", {}) == "implicit-deny"
    # Given it with the prop (the central construct's entries)
    on = widened(member_policy(["/apps/"]))
    assert decision(on, "iam:PutRolePolicy", ROLE + "apps/web", {}) == "allow"
    assert decision(on, "iam:PutRolePolicy", ROLE + "payroll", {}) == "explicit-deny"
    for action in OTHER_ROLE_ACTIONS:
        assert decision(on, action, ROLE + "apps/web", {}) == "explicit-deny", action
    for action in ("iam:PutRolePolicy", "iam:UpdateAssumeRolePolicy", "iam:AttachRolePolicy"):
        assert decision(on, action, own, {}) == "explicit-deny", action
    on_star = widened(member_policy(["*"]))
    assert decision(on_star, "iam:PutRolePolicy", own, {}) == "explicit-deny"
