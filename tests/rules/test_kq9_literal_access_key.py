"""KQ9: an access key id and its secret written literally in CloudFormation or Terraform (fixtures shaped like
tutorials, goat labs and old samples), never printed in full."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from key_quarantine.cli.main import main
from key_quarantine.rules import RULES_BY_ID
from key_quarantine.rules.kq9_literal_access_key import literal_keys, mask
from key_quarantine.rules.loader import load_app
from key_quarantine.rules.runner import run_rules
from tests.cfn import access_key, ids, scan, template, user

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "literal_keys"
KEY_ID = "AKIAW2E4R6T8Y1U3I5O7"
SECRET = "Pq3Rs6Tu9Vw2Xy5Za8Bc/De1Fg4Hi7Jk0Lm+NoPq"


def kq9(*paths: Path) -> list[tuple[str, str, str]]:
    findings = run_rules(load_app(paths), [RULES_BY_ID["KQ9"]])
    return [(f.logical_id, f.location, f.message) for f in findings]


def test_terraform_provider_heredoc_and_tfvars_are_each_found() -> None:
    # Given a configuration with literal provider credentials, a key exported in user data, and a key in tfvars
    found = {logical_id: location for logical_id, location, _ in kq9(FIXTURES / "terraform")}
    # Then each is one finding on the block (or variable) that holds it, with its line
    assert found == {
        "provider.aws": "line 5",
        "aws_instance.runner": "line 23",
        "var.deploy_access_key": "line 1",
    }


def test_the_documented_example_key_and_a_lone_key_id_are_not_findings() -> None:
    messages = " ".join(message for _, _, message in kq9(FIXTURES / "terraform"))
    assert "AKIAIOSFODNN7EXAMPLE" not in messages
    assert "AKIAR2D5F7H9K3M6P8S4" not in messages  # an id with only a commit hash beside it


def test_cloudformation_parameter_default_and_function_environment_are_found() -> None:
    found = {(logical_id, location) for logical_id, location, _ in kq9(FIXTURES / "cloudformation")}
    assert found == {
        ("BackupAccessKeyId", "Parameters/BackupAccessKeyId/Default"),
        ("Uploader", "Properties/Environment/Variables/AWS_ACCESS_KEY_ID"),
    }


def test_a_key_in_a_json_template_resource_is_an_error_on_that_resource(tmp_path: Path) -> None:
    # Given a user whose tags carry a key and its secret (in a minified JSON template)
    resources = {"U": user(Tags=[{"Key": "id", "Value": KEY_ID}, {"Key": "secret", "Value": SECRET}])}
    findings = scan(tmp_path, {"App": template(resources)}, rule="KQ9")
    assert ids(findings) == [("KQ9", "U")]
    assert findings[0].level.value == "error"
    assert findings[0].location == "Properties/Tags/0/Value"


def test_a_key_created_by_the_template_is_not_literal(tmp_path: Path) -> None:
    resources = {"U": user(), "K": access_key({"Ref": "U"})}
    assert scan(tmp_path, {"App": template(resources)}, rule="KQ9") == []


def test_the_secret_is_never_printed_only_its_last_four_characters(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    # Given a template with a literal key, scanned in every output format
    path = tmp_path / "app.json"
    path.write_text(json.dumps(template({"U": user(Tags=[{"Key": KEY_ID, "Value": SECRET}])})))
    outputs = []
    for output_format in ("text", "json", "sarif"):
        assert main(["scan", str(path), "--format", output_format, "--verbose"]) == 1
        outputs.append(capsys.readouterr().out)
    # Then the id is shown (to find and deactivate it), the secret only masked to its last four characters
    for output in outputs:
        assert KEY_ID in output
        assert SECRET not in output
        assert SECRET[:-4] not in output
        assert mask(SECRET) in output


def test_a_session_key_id_counts_and_the_secret_must_be_beside_it() -> None:
    near = f'id = "ASIAV6B3N8M2K5J7H4G1"\nsecret = "{SECRET}"\n'
    far = f'id = "ASIAV6B3N8M2K5J7H4G1"\n{"#" * 600}\nsecret = "{SECRET}"\n'
    assert [(key_id, line) for key_id, _, line in literal_keys(near)] == [("ASIAV6B3N8M2K5J7H4G1", 1)]
    assert list(literal_keys(far)) == []


def test_hex_digests_and_words_are_not_secrets() -> None:
    digest = "9fceb02d0ae598e95dc970b74767f19372d61af8"
    word = "ThisIsAVeryLongIdentifierWithoutAnyDigit"
    assert list(literal_keys(f"{KEY_ID} {digest} {word}")) == []
