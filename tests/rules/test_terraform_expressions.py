"""A secret that flows through Terraform expressions is still a leak; what Terraform can decide is decided."""

from __future__ import annotations

from pathlib import Path

import pytest

from key_quarantine.rules.base import Finding
from key_quarantine.rules.runner import scan_paths

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "terraform"


@pytest.fixture(scope="module")
def expressions() -> dict[tuple[str, str], Finding]:
    return {(f.rule_id, f.logical_id): f for f in scan_paths([FIXTURES / "expressions"])}


@pytest.fixture(scope="module")
def files() -> dict[tuple[str, str], Finding]:
    return {(f.rule_id, f.logical_id): f for f in scan_paths([FIXTURES / "files"])}


@pytest.mark.parametrize(
    "leak",
    [
        "aws_ssm_parameter.through_local",  # locals
        "aws_ssm_parameter.fleet_secrets",  # join(",", k[*].secret) over count = 2
        "aws_instance.worker",  # base64encode(templatefile(...)) into user data
        "secret_unless_ssm",  # var ? null : secret
    ],
)
def test_secret_through_an_expression_is_a_leak(
    expressions: dict[tuple[str, str], Finding], leak: str
) -> None:
    assert ("KQ2", leak) in expressions


@pytest.mark.parametrize(
    "leak",
    [
        "aws_launch_template.runners",  # data.template_file rendered into user data
        "local_file.credentials",  # the secret written to a file
        "data.archive_file.bundle",  # and into a zip
        "smtp_password",  # try(k.ses_smtp_password, ""), the AWS provider's older attribute
    ],
)
def test_secret_into_files_and_templates_is_a_leak(files: dict[tuple[str, str], Finding], leak: str) -> None:
    assert ("KQ2", leak) in files


def test_user_data_finding_says_who_reads_it(files: dict[tuple[str, str], Finding]) -> None:
    assert "ec2:DescribeLaunchTemplateVersions" in files[("KQ2", "aws_launch_template.runners")].message


def test_conditional_leak_says_under_which_condition(expressions: dict[tuple[str, str], Finding]) -> None:
    # var.ssm_enabled has no default: the configuration does not decide it, so the finding names the condition
    message = expressions[("KQ2", "secret_unless_ssm")].message
    assert "only when var.ssm_enabled is false" in message


def test_decided_condition_is_not_conditional(tmp_path: Path) -> None:
    # Given the same output with the variable decided by terraform.tfvars (which Terraform reads itself)
    folder = tmp_path / "decided"
    folder.mkdir()
    (folder / "main.tf").write_text((FIXTURES / "expressions" / "main.tf").read_text())
    (folder / "init.sh.tpl").write_text("${secret}")
    (folder / "terraform.tfvars").write_text("ssm_enabled = true\n")
    findings = {(f.rule_id, f.logical_id) for f in scan_paths([folder])}
    # Then with ssm_enabled = true the output is null: no leak there, the others remain
    assert ("KQ2", "secret_unless_ssm") not in findings
    assert ("KQ2", "aws_ssm_parameter.through_local") in findings


def test_pgp_encrypted_key_exposes_no_plaintext(expressions: dict[tuple[str, str], Finding]) -> None:
    # With pgp_key set Terraform never sets secret: neither encrypted_secret nor secret is a plaintext leak
    assert ("KQ2", "signer_encrypted_secret") not in expressions
    assert ("KQ2", "signer_secret") not in expressions
    assert ("KQ1", "aws_iam_user.signer") in expressions  # the key itself is still a long-lived key


def test_count_two_is_two_keys_and_count_zero_is_nothing(expressions: dict[tuple[str, str], Finding]) -> None:
    assert ("KQ7", "aws_iam_user.fleet") in expressions
    assert "aws_iam_access_key.fleet[1]" in expressions[("KQ7", "aws_iam_user.fleet")].message
    assert not any("disabled" in logical_id for _, logical_id in expressions)


def test_for_each_over_a_literal_set_and_over_a_resource(expressions: dict[tuple[str, str], Finding]) -> None:
    # aws_iam_user.admin for_each a local toset(); its keys for_each = aws_iam_user.admin, user = each.value.name
    assert ("KQ1", 'aws_iam_user.admin["ops-1"]') in expressions
    assert ("KQ1", 'aws_iam_user.admin["ops-2"]') in expressions
    message = expressions[("KQ1", 'aws_iam_user.admin["ops-1"]')].message
    assert "'aws_iam_access_key.admin[\"ops-1\"]'" in message
    assert not any(logical_id == "aws_iam_access_key.admin" for _, logical_id in expressions)
