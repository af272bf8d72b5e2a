"""Terraform as Terraform instantiates it: module calls, count/for_each, modules.json, *.tf.json."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from key_quarantine.cli.main import main
from key_quarantine.rules.loader import load_app
from key_quarantine.rules.runner import scan_paths

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "terraform"


def found(path: Path) -> set[tuple[str, str]]:
    return {(f.rule_id, f.logical_id) for f in scan_paths([path]) if not f.acknowledged}


@pytest.fixture(scope="module")
def examples() -> set[tuple[str, str]]:
    return found(FIXTURES / "iam_user_examples")


def test_a_module_called_twice_is_two_instances_and_the_second_leaks(examples: set[tuple[str, str]]) -> None:
    # Given the iam-user example: the module called for iam_user (pgp key) and iam_user2 (no pgp key)
    # Then both users are there, and iam_user2's secret, re-exported by two root outputs, is a leak
    assert ("KQ1", "module.iam_user.aws_iam_user.this[0]") in examples
    assert ("KQ1", "module.iam_user2.aws_iam_user.this[0]") in examples
    assert ("KQ2", "iam_access_key_secret") in examples
    assert ("KQ2", "iam_access_key_ses_smtp_password_v4") in examples


def test_a_pgp_encrypted_secret_is_not_a_plaintext_leak(examples: set[tuple[str, str]]) -> None:
    assert ("KQ2", "encrypted_secret") not in examples


def test_a_literal_false_passed_to_a_module_creates_nothing(examples: set[tuple[str, str]]) -> None:
    # iam_user3 passes create_user = false: no user, no key, so no KQ1 (a false positive before)
    assert not any("iam_user3" in address for _, address in examples)
    (stack,) = load_app([FIXTURES / "iam_user_examples"]).stacks
    assert not any("iam_user3" in address for address in stack.resources)


def test_count_and_for_each_on_modules_and_resources_make_each_instance(
    examples: set[tuple[str, str]],
) -> None:
    # for_each = toset(["alice", "bob"]) on the module: one user each, named from each.key
    assert ("KQ1", 'module.team["alice"].aws_iam_user.this[0]') in examples
    assert ("KQ1", 'module.team["bob"].aws_iam_user.this[0]') in examples
    assert ("KQ2", "alice_secret") in examples
    # count = 1 on the module and key_count = 2 inside: two certain keys for one user
    assert ("KQ7", "module.rotating[0].aws_iam_user.this[0]") in examples
    (stack,) = load_app([FIXTURES / "iam_user_examples"]).stacks
    assert stack.resources['module.team["alice"].aws_iam_user.this[0]'].properties["UserName"] == "team-alice"
    keys = [a for a in stack.resources if a.startswith("module.rotating[0].aws_iam_access_key.this_no_pgp")]
    assert keys == [
        "module.rotating[0].aws_iam_access_key.this_no_pgp[0]",
        "module.rotating[0].aws_iam_access_key.this_no_pgp[1]",
    ]


def test_registry_module_is_read_from_modules_json(tmp_path: Path) -> None:
    # Given a root calling a registry module that terraform init installed under .terraform/modules
    root = _root_calling(tmp_path, 'source = "terraform-aws-modules/iam/aws//modules/iam-user"')
    installed = root / ".terraform" / "modules" / "ci" / "modules" / "iam-user"
    shutil.copytree(FIXTURES / "iam_user_examples" / "modules" / "iam-user", installed)
    manifest = {
        "Modules": [
            {"Key": "", "Source": "", "Dir": "."},
            {
                "Key": "ci",
                "Source": "registry.terraform.io/terraform-aws-modules/iam/aws//modules/iam-user",
                "Version": "5.39.0",
                "Dir": ".terraform/modules/ci/modules/iam-user",
            },
        ]
    }
    (root / ".terraform" / "modules" / "modules.json").write_text(json.dumps(manifest))
    # Then the module's user and the secret its output carries are found
    assert found(root) >= {("KQ1", "module.ci.aws_iam_user.this[0]"), ("KQ2", "ci_secret")}


def test_a_module_that_cannot_be_followed_is_said_in_the_report(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a registry module and no terraform init
    root = _root_calling(tmp_path, 'source = "terraform-aws-modules/iam/aws//modules/iam-user"')
    # When it is scanned, the text report (exit 0: nothing was found) says which call was not followed
    assert main(["scan", str(root)]) == 0
    text = capsys.readouterr().out
    assert "Note: module.ci (source 'terraform-aws-modules/iam/aws//modules/iam-user'" in text
    assert "was not followed" in text
    assert "terraform init" in text
    # And the JSON report lists it too
    assert main(["scan", str(root), "--format", "json"]) == 0
    (note,) = json.loads(capsys.readouterr().out)["notes"]
    assert "module.ci" in note


def _root_calling(tmp_path: Path, source: str) -> Path:
    root = tmp_path / "root"
    root.mkdir()
    (root / "main.tf").write_text(
        f'module "ci" {{\n  {source}\n  version = "5.39.0"\n  name = "ci"\n}}\n\n'
        'output "ci_secret" {\n  value     = module.ci.iam_access_key_secret\n  sensitive = true\n}\n'
    )
    return root


def test_a_folder_of_only_tf_json_is_terraform() -> None:
    # Given a CDKTF-shaped cdk.tf.json (no .tf, no manifest.json)
    findings = found(FIXTURES / "tf_json")
    # Then it is read like .tf: the user, the secret in the Lambda environment and in the output
    assert findings >= {
        ("KQ1", "aws_iam_user.deployer"),
        ("KQ2", "aws_lambda_function.uploader"),
        ("KQ2", "secret"),
        ("KQ5", "aws_iam_user.deployer"),
    }


def test_tf_json_findings_point_at_the_block_line(capsys: pytest.CaptureFixture[str]) -> None:
    main(["scan", str(FIXTURES / "tf_json" / "cdk.tf.json"), "--format", "json"])
    (kq1,) = [f for f in json.loads(capsys.readouterr().out)["findings"] if f["rule_id"] == "KQ1"]
    lines = (FIXTURES / "tf_json" / "cdk.tf.json").read_text().splitlines()
    assert lines[kq1["source_line"] - 1].strip().startswith('"deployer"')


def test_invalid_tf_json_is_one_clear_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "main.tf.json").write_text('{"resource": {')
    assert main(["scan", str(tmp_path)]) == 2
    error = capsys.readouterr().err
    assert "main.tf.json: not valid Terraform JSON: line 1" in error
    assert "Traceback" not in error


def test_a_cloudformation_scan_does_not_load_the_terraform_evaluator(tmp_path: Path) -> None:
    # Given a fresh interpreter scanning one CloudFormation template
    template = tmp_path / "t.json"
    template.write_text(json.dumps({"Resources": {"U": {"Type": "AWS::IAM::User"}}}))
    probe = (
        "import sys; from key_quarantine.cli.main import main; main(['scan', sys.argv[1]]); "
        "print(sorted(m for m in sys.modules if m.startswith('key_quarantine.rules.terraform')))"
    )
    ran = subprocess.run(
        [sys.executable, "-c", probe, str(template)], capture_output=True, text=True, check=True
    )
    # Then only the light front door of the Terraform reader was imported (start-up is most of a small scan)
    assert ran.stdout.splitlines()[-1] == "['key_quarantine.rules.terraform']"
