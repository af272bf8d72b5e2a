"""KQ8: long-lived credentials for Amazon Bedrock."""

from __future__ import annotations

from pathlib import Path
from typing import Any

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
