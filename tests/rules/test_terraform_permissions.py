"""KQ5/KQ8 on permissions as Terraform writes them, and statements scoped to resources (any front end)."""

from __future__ import annotations

from pathlib import Path

import pytest

from key_quarantine.rules.base import Finding
from key_quarantine.rules.loader import load_app
from key_quarantine.rules.managed_policies import aws_managed_policy, provenance
from key_quarantine.rules.runner import run_rules, scan_paths

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "terraform"


@pytest.fixture(scope="module")
def permissions() -> dict[tuple[str, str], Finding]:
    return {(f.rule_id, f.logical_id): f for f in scan_paths([FIXTURES / "permissions"])}


def test_policy_document_data_source_is_read(permissions: dict[tuple[str, str], Finding]) -> None:
    message = permissions[("KQ5", "aws_iam_user.secrets_reader")].message
    assert "secretsmanager:GetSecretValue" in message
    assert "sts:AssumeRole" in message  # on a role ARN: the resource of sts:AssumeRole is an IAM role


def test_policy_read_with_file_is_read(permissions: dict[tuple[str, str], Finding]) -> None:
    assert "ses:SendEmail" in permissions[("KQ5", "aws_iam_user.mailer")].message


def test_one_bucket_allows_that_bucket_not_the_account(permissions: dict[tuple[str, str], Finding]) -> None:
    # templatefile() policy: s3:* on arn:aws:s3:::acme-reports and its objects
    message = permissions[("KQ5", "aws_iam_user.reporter")].message
    assert "s3:GetObject" in message
    assert "s3:ListAllMyBuckets" not in message  # takes only Resource "*"
    assert "secretsmanager" not in message


def test_policy_attachment_reaches_users_and_groups(permissions: dict[tuple[str, str], Finding]) -> None:
    # aws_iam_policy_attachment: AmazonBedrockFullAccess onto a user and onto a group the modeler is in
    assert ("KQ8", "aws_iam_user.analyst") in permissions
    assert ("KQ8", "aws_iam_user.modeler") in permissions


def test_every_aws_managed_policy_is_known(permissions: dict[tuple[str, str], Finding]) -> None:
    # AmazonEC2FullAccess was not among the five policies known before
    assert "ec2:RunInstances" in permissions[("KQ5", "aws_iam_user.analyst")].message
    assert len(aws_managed_policy("arn:aws:iam::aws:policy/ReadOnlyAccess")["Statement"]) >= 1  # type: ignore[index]
    assert aws_managed_policy("arn:aws-us-gov:iam::aws:policy/AdministratorAccess") is not None
    assert aws_managed_policy("arn:aws:iam::aws:policy/NoSuchPolicyEver") is None
    assert provenance()["source"]


def _template(statement: dict[str, object], tmp_path: Path) -> Path:
    import json  # noqa: PLC0415

    template = {
        "Resources": {
            "User": {"Type": "AWS::IAM::User"},
            "Key": {"Type": "AWS::IAM::AccessKey", "Properties": {"UserName": {"Ref": "User"}}},
            "Policy": {
                "Type": "AWS::IAM::Policy",
                "Properties": {
                    "PolicyName": "p",
                    "Users": [{"Ref": "User"}],
                    "PolicyDocument": {"Version": "2012-10-17", "Statement": [statement]},
                },
            },
        }
    }
    path = tmp_path / "t.json"
    path.write_text(json.dumps(template))
    return path


def _kq5(path: Path) -> str:
    (finding,) = [f for f in run_rules(load_app([path])) if f.rule_id == "KQ5"]
    return finding.message


def test_cloudformation_statement_on_one_bucket(tmp_path: Path) -> None:
    message = _kq5(
        _template(
            {"Effect": "Allow", "Action": "s3:*", "Resource": "arn:aws:s3:::only-this-bucket/*"}, tmp_path
        )
    )
    assert "s3:PutObject" in message
    assert "s3:ListAllMyBuckets" not in message


def test_a_deny_of_one_resource_does_not_deny_everywhere(tmp_path: Path) -> None:
    path = _template({"Effect": "Allow", "Action": "secretsmanager:*", "Resource": "*"}, tmp_path)
    text = path.read_text().replace(
        '"Statement": [',
        '"Statement": [{"Effect": "Deny", "Action": "secretsmanager:GetSecretValue", '
        '"Resource": "arn:aws:secretsmanager:us-east-1:111111111111:secret:prod-*"}, ',
    )
    path.write_text(text)
    assert "secretsmanager:GetSecretValue" in _kq5(path)
