"""KQ8: long-lived credentials for Amazon Bedrock."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from key_quarantine.rules.runner import scan_paths
from tests.cfn import access_key, ids, scan, template, user

INVOKE = {
    "PolicyName": "p",
    "PolicyDocument": {"Statement": [{"Effect": "Allow", "Action": "bedrock:Invoke*", "Resource": "*"}]},
}


def kq8(tmp_path: Path, resources: dict[str, Any]) -> list[Any]:
    return scan(tmp_path, {"App": template(resources)}, rule="KQ8")


def test_bedrock_api_key_user_is_flagged_even_without_an_access_key(tmp_path: Path) -> None:
    findings = kq8(tmp_path, {"U": user("BedrockAPIKey-abcd")})
    assert ids(findings) == [("KQ8", "U")]
    assert "BedrockAPIKey-abcd" in findings[0].message


def test_user_with_key_that_may_invoke_models_is_flagged(tmp_path: Path) -> None:
    findings = kq8(tmp_path, {"U": user(Policies=[INVOKE]), "K": access_key({"Ref": "U"})})
    assert ids(findings) == [("KQ8", "U")]


def test_user_that_may_invoke_models_without_a_key_is_compliant(tmp_path: Path) -> None:
    assert kq8(tmp_path, {"U": user(Policies=[INVOKE])}) == []


def test_user_with_key_and_no_bedrock_access_is_not_applicable(tmp_path: Path) -> None:
    assert kq8(tmp_path, {"U": user("ci"), "K": access_key({"Ref": "U"})}) == []


def terraform_kq8(tmp_path: Path, service: str, status: str = "Active") -> list[tuple[str, str]]:
    (tmp_path / "main.tf").write_text(
        'resource "aws_iam_user" "app" {\n  name = "llm-app"\n}\n'
        'resource "aws_iam_service_specific_credential" "key" {\n'
        f'  service_name = "{service}"\n  user_name    = aws_iam_user.app.name\n  status       = "{status}"\n}}\n'
    )
    return [(f.rule_id, f.logical_id) for f in scan_paths([tmp_path]) if f.rule_id == "KQ8"]


def test_terraform_bedrock_service_specific_credential_is_flagged(tmp_path: Path) -> None:
    # Given a Bedrock long-term API key made in Terraform for a user with any name
    findings = terraform_kq8(tmp_path, "bedrock.amazonaws.com")
    # Then the credential itself is the finding (CloudFormation has no such resource type)
    assert findings == [("KQ8", "aws_iam_service_specific_credential.key")]


def test_terraform_other_or_inactive_service_credentials_are_not_applicable(tmp_path: Path) -> None:
    for folder, service, status in (
        ("cc", "codecommit.amazonaws.com", "Active"),
        ("off", "bedrock.amazonaws.com", "Inactive"),
    ):
        (tmp_path / folder).mkdir()
        assert terraform_kq8(tmp_path / folder, service, status) == []
