"""KQ5: what a leaked key's holder may do, from inline, managed and group policies and the boundary."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.cfn import access_key, scan, template, user


def policy(*statements: dict[str, Any]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def allow(action: Any, resource: str = "*") -> dict[str, Any]:
    return {"Effect": "Allow", "Action": action, "Resource": resource}


def deny(action: Any) -> dict[str, Any]:
    return {"Effect": "Deny", "Action": action, "Resource": "*"}


def kq5(tmp_path: Path, resources: dict[str, Any]) -> list[Any]:
    base = {"Key": access_key({"Ref": "Deployer"})}
    return scan(tmp_path, {"App": template({**base, **resources})}, rule="KQ5")


@pytest.mark.parametrize(
    ("resources", "named"),
    [
        (
            {
                "Deployer": user(
                    Policies=[{"PolicyName": "p", "PolicyDocument": policy(allow("sts:AssumeRole"))}]
                )
            },
            "sts:AssumeRole",
        ),
        (
            {"Deployer": user(ManagedPolicyArns=["arn:aws:iam::aws:policy/AdministratorAccess"])},
            "ses:SendEmail",
        ),
        (
            {
                "Deployer": user(ManagedPolicyArns=[{"Ref": "Managed"}]),
                "Managed": {
                    "Type": "AWS::IAM::ManagedPolicy",
                    "Properties": {"PolicyDocument": policy(allow("secretsmanager:Get*"))},
                },
            },
            "secretsmanager:GetSecretValue",
        ),
        (
            {
                "Deployer": user(),
                "Attached": {
                    "Type": "AWS::IAM::Policy",
                    "Properties": {
                        "PolicyName": "p",
                        "PolicyDocument": policy(allow("ses:Send*")),
                        "Users": [{"Ref": "Deployer"}],
                    },
                },
            },
            "ses:SendRawEmail",
        ),
        (
            {
                "Deployer": user(Groups=[{"Ref": "Admins"}]),
                "Admins": {
                    "Type": "AWS::IAM::Group",
                    "Properties": {
                        "Policies": [{"PolicyName": "p", "PolicyDocument": policy(allow("ecs:*"))}]
                    },
                },
            },
            "ecs:RunTask",
        ),
        (
            {
                "Deployer": user("deployer"),
                "Ops": {"Type": "AWS::IAM::Group", "Properties": {"GroupName": "ops"}},
                "Membership": {
                    "Type": "AWS::IAM::UserToGroupAddition",
                    "Properties": {"GroupName": "ops", "Users": ["deployer"]},
                },
                "OpsPolicy": {
                    "Type": "AWS::IAM::GroupPolicy",
                    "Properties": {
                        "GroupName": "ops",
                        "PolicyName": "p",
                        "PolicyDocument": policy(allow("bedrock:InvokeModel")),
                    },
                },
            },
            "bedrock:InvokeModel",
        ),
        (
            {
                "Deployer": user(
                    Policies=[
                        {
                            "PolicyName": "p",
                            "PolicyDocument": policy(
                                {"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"}
                            ),
                        }
                    ]
                )
            },
            "codebuild:StartBuild",
        ),
    ],
    ids=[
        "inline",
        "aws-managed-admin",
        "app-managed-wildcard",
        "policy-resource",
        "group-inline",
        "group-by-name",
        "not-action",
    ],
)
def test_allowed_campaign_actions_are_named(tmp_path: Path, resources: dict[str, Any], named: str) -> None:
    findings = kq5(tmp_path, resources)
    assert [(f.logical_id, f.level) for f in findings] == [("Deployer", "warning")]
    assert named in findings[0].message


def test_own_deny_removes_the_action(tmp_path: Path) -> None:
    document = policy(allow(["sts:AssumeRole", "s3:GetObject"]), deny("sts:*"))
    findings = kq5(tmp_path, {"Deployer": user(Policies=[{"PolicyName": "p", "PolicyDocument": document}])})
    assert "s3:GetObject" in findings[0].message
    assert "sts:AssumeRole" not in findings[0].message


def test_boundary_that_denies_them_is_compliant(tmp_path: Path) -> None:
    resources = {
        "Deployer": user(
            ManagedPolicyArns=["arn:aws:iam::aws:policy/AdministratorAccess"],
            PermissionsBoundary={"Ref": "Boundary"},
        ),
        "Boundary": {
            "Type": "AWS::IAM::ManagedPolicy",
            "Properties": {"PolicyDocument": policy(allow("s3:GetBucketLocation"))},
        },
    }
    assert kq5(tmp_path, resources) == []


def test_boundary_outside_the_app_cannot_be_read_and_is_trusted(tmp_path: Path) -> None:
    resources = {
        "Deployer": user(
            ManagedPolicyArns=["arn:aws:iam::aws:policy/AdministratorAccess"],
            PermissionsBoundary="arn:aws:iam::111111111111:policy/org-boundary",
        )
    }
    assert kq5(tmp_path, resources) == []


def test_narrow_permissions_are_compliant(tmp_path: Path) -> None:
    document = policy(allow("s3:GetBucketLocation"), allow("cloudwatch:PutMetricData"))
    assert kq5(tmp_path, {"Deployer": user(Policies=[{"PolicyName": "p", "PolicyDocument": document}])}) == []


def test_user_without_key_is_not_applicable(tmp_path: Path) -> None:
    resources = {"Admin": user(ManagedPolicyArns=["arn:aws:iam::aws:policy/AdministratorAccess"])}
    assert scan(tmp_path, {"App": template(resources)}, rule="KQ5") == []
