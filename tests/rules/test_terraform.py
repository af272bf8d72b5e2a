"""Terraform into the engine: .tf folders with modules, plan JSON, inline acknowledgements, bad input."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from key_quarantine.cli.main import main
from key_quarantine.rules.loader import InputError, load_app
from key_quarantine.rules.runner import scan_paths

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "terraform"


def found(path: Path, **options: Any) -> set[tuple[str, str]]:
    return {(f.rule_id, f.logical_id) for f in scan_paths([path], **options) if not f.acknowledged}


def test_module_shaped_like_iam_user_is_followed_with_its_variables() -> None:
    # Given a root calling a local module (the iam-user module's shape) and re-exporting the key's secret
    findings = found(FIXTURES / "iam_user_module")
    # Then the user inside the module holds the key (var.name followed), and the root output leaks its secret
    assert ("KQ1", "module.ci_deployer.aws_iam_user.this") in findings
    assert ("KQ2", "ci_deployer_secret") in findings
    # And the pgp / no-pgp key pair behind count is not "two active keys"
    assert not any(rule == "KQ7" for rule, _ in findings)


def test_module_user_name_comes_from_the_caller() -> None:
    (stack,) = load_app([FIXTURES / "iam_user_module"]).stacks
    assert stack.kind == "terraform"
    assert stack.region == "us-east-1"
    assert stack.resources["module.ci_deployer.aws_iam_user.this"].properties["UserName"] == "ci-deployer"


def test_leaky_configuration_finds_every_mistake_with_file_and_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    exit_code = main(["scan", str(FIXTURES / "leaky"), "--format", "json"])
    document = json.loads(capsys.readouterr().out)
    by_rule = {(f["rule_id"], f["logical_id"]): f for f in document["findings"]}
    assert exit_code == 1
    assert set(by_rule) >= {
        ("KQ1", "aws_iam_user.legacy"),
        ("KQ2", "aws_lambda_function.uploader"),
        ("KQ2", "aws_ssm_parameter.legacy_secret"),
        ("KQ2", "legacy_secret"),
        ("KQ3", "aws_cloudwatch_event_rule.quarantine_in_wrong_region"),
        ("KQ5", "aws_iam_user.legacy"),
    }
    # a SecureString parameter is encrypted: not a leak
    assert ("KQ2", "aws_ssm_parameter.legacy_secret_encrypted") not in by_rule
    # a sensitive output is still a leak, and says why
    assert "sensitive = true only hides it" in by_rule[("KQ2", "legacy_secret")]["message"]
    lambda_finding = by_rule[("KQ2", "aws_lambda_function.uploader")]
    assert lambda_finding["source_file"].endswith("leaky/main.tf")
    assert isinstance(lambda_finding["source_line"], int)
    assert (
        'resource "aws_lambda_function" "uploader"'
        in (FIXTURES / "leaky" / "main.tf").read_text().splitlines()[lambda_finding["source_line"] - 1]
    )


def test_inline_acknowledgement_comment_is_honoured_and_reported(capsys: pytest.CaptureFixture[str]) -> None:
    main(["scan", str(FIXTURES / "leaky"), "--format", "json"])
    (kq7,) = [f for f in json.loads(capsys.readouterr().out)["findings"] if f["rule_id"] == "KQ7"]
    assert kq7["acknowledged"] is True
    assert kq7["acknowledgement_reason"] == "the rotated key is deleted in change CHG-2231 on Friday"


def test_monitored_configuration_is_clean() -> None:
    # jsonencode() event pattern, a separate aws_cloudwatch_event_target, a logging trail, the key in Secrets Manager
    assert found(FIXTURES / "monitored") == set()


def test_plan_json_follows_configured_references() -> None:
    findings = found(FIXTURES / "plan.json")
    assert findings == {("KQ2", "aws_ssm_parameter.deployer_secret"), ("KQ2", "deployer_secret")}


def test_plan_json_without_monitoring_flags_the_user(tmp_path: Path) -> None:
    plan = json.loads((FIXTURES / "plan.json").read_text())
    plan["planned_values"]["root_module"]["child_modules"] = []
    plan["configuration"]["root_module"]["module_calls"] = {}
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(plan))
    assert ("KQ1", "aws_iam_user.deployer") in found(path)


def test_single_tf_file_can_be_scanned(tmp_path: Path) -> None:
    shutil.copy(FIXTURES / "leaky" / "main.tf", tmp_path / "only.tf")
    (tmp_path / "other.tf").write_text('resource "aws_iam_user" "other" {\n  name = "other"\n}\n')
    (stack,) = load_app([tmp_path / "only.tf"]).stacks
    assert "aws_iam_user.other" not in stack.resources
    assert "aws_iam_user.legacy" in stack.resources


@pytest.mark.parametrize(
    ("make", "problem"),
    [
        (lambda _tmp: FIXTURES / "broken", "main.tf: not valid HCL"),
        (
            lambda tmp: _write(tmp / "plan.json", {"format_version": "2.0", "planned_values": {}}),
            "plan format_version '2.0' is not supported",
        ),
    ],
    ids=["unparsable-hcl", "plan-of-another-format"],
)
def test_bad_terraform_input_is_a_clear_error(
    tmp_path: Path, make: Any, problem: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path = make(tmp_path)
    with pytest.raises(InputError, match=problem):
        load_app([path])
    assert main(["scan", str(path)]) == 2
    assert problem in capsys.readouterr().err


def _write(path: Path, document: dict[str, Any]) -> Path:
    path.write_text(json.dumps(document))
    return path
