"""Folders as people keep them: recursive, every kind in one folder, non-templates skipped with a note, each
input read once, and account contexts never merged across inputs that do not declare the same account."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from key_quarantine.cli.main import main
from key_quarantine.rules.loader import InputError, load_app
from key_quarantine.rules.model import SKIPPED
from key_quarantine.rules.runner import run_rules
from tests.cfn import access_key, event_rule, quarantine_attach_pattern, template, topic, trail, user

REPO = Path(__file__).resolve().parents[1] / "fixtures" / "folders" / "repo"


def kq1(*paths: Path, account: str | None = None) -> list[str]:
    findings = run_rules(load_app(paths, account=account))
    return sorted(f.logical_id for f in findings if f.rule_id == "KQ1")


def test_a_repository_is_read_recursively_every_kind_once() -> None:
    # Given a repository with CloudFormation, Terraform (calling a local module), a cdk.out, Kubernetes
    # manifests, a Rain module, a linter config, vendored packages and Terraform's downloaded modules
    # When the whole repository is scanned
    # Then the template, the module's user (once, through its call) and the assembly's stack are found,
    # and nothing from node_modules/, .terraform/ or the assembly's own files
    assert kq1(REPO) == ["DeployerUser", "ReportsUser", "module.ci_user.aws_iam_user.this"]


def test_the_report_says_what_was_read_and_why_files_were_skipped() -> None:
    inputs = load_app([REPO]).inputs
    read = {(i.path.relative_to(REPO).as_posix(), i.kind) for i in inputs if i.kind != SKIPPED}
    skipped = {i.path.relative_to(REPO).as_posix(): i.detail for i in inputs if i.kind == SKIPPED}
    assert read == {
        ("cdk.out", "cloud assembly"),
        ("infra/cloudformation/iam-users.yaml", "CloudFormation"),
        ("infra/terraform", "Terraform"),
    }
    assert set(skipped) == {
        "infra/cloudformation/bucket.module.yaml",
        "infra/cloudformation/cfn-lint.json",
        "infra/terraform/modules/ci_user",
        "k8s/deployment.yaml",
    }
    assert "several YAML documents" in skipped["k8s/deployment.yaml"]
    assert "rain pkg" in skipped["infra/cloudformation/bucket.module.yaml"]
    assert "local module" in skipped["infra/terraform/modules/ci_user"]


def test_text_and_json_reports_list_the_inputs(capsys: pytest.CaptureFixture[str]) -> None:
    main(["scan", str(REPO)])
    text = capsys.readouterr().out.splitlines()
    assert text[-2] == (
        "Read 1 cloud assembly, 1 Terraform configuration, 1 CloudFormation template; "
        "skipped 4 files (--verbose says which and why)."
    )
    main(["scan", str(REPO), "--verbose"])
    assert any(
        line.startswith("Skipped ") and "k8s/deployment.yaml" in line
        for line in capsys.readouterr().out.splitlines()
    )
    main(["scan", str(REPO), "--format", "json"])
    kinds = sorted(i["kind"] for i in json.loads(capsys.readouterr().out)["inputs"])
    assert kinds == ["CloudFormation", "Terraform", "cloud assembly", *[SKIPPED] * 4]


def test_the_same_path_twice_does_not_double_findings() -> None:
    once = run_rules(load_app([REPO]))
    again = run_rules(
        load_app([REPO, REPO / "infra" / "cloudformation" / "iam-users.yaml", REPO / "cdk.out", REPO])
    )
    tf_file = run_rules(load_app([REPO / "infra" / "terraform", REPO / "infra" / "terraform" / "main.tf"]))
    assert [(f.rule_id, f.logical_id) for f in again] == [(f.rule_id, f.logical_id) for f in once]
    assert sum(f.rule_id == "KQ1" for f in tf_file) == 1


def test_a_broken_template_in_a_folder_is_still_an_error(tmp_path: Path) -> None:
    shutil.copytree(REPO / "infra" / "cloudformation", tmp_path / "cfn")
    (tmp_path / "cfn" / "broken.yaml").write_text(
        "AWSTemplateFormatVersion: '2010-09-09'\nResources: [unclosed\n"
    )
    with pytest.raises(InputError, match=r"broken\.yaml: not valid YAML"):
        load_app([tmp_path])


def test_a_folder_of_only_non_templates_is_an_error(tmp_path: Path) -> None:
    shutil.copytree(REPO / "k8s", tmp_path / "k8s")
    with pytest.raises(InputError, match="no CloudFormation templates or Terraform files"):
        load_app([tmp_path])


def monitoring_template() -> dict[str, object]:
    return template({"Alerts": topic(), "Watch": event_rule(quarantine_attach_pattern()), "Trail": trail()})


def test_monitoring_of_one_input_does_not_cover_another_that_declares_no_account(tmp_path: Path) -> None:
    # Given the monitoring in one project's folder and a user with a key in another's, neither naming an account
    (tmp_path / "security").mkdir()
    (tmp_path / "app").mkdir()
    (tmp_path / "security" / "monitoring.json").write_text(json.dumps(monitoring_template()))
    (tmp_path / "app" / "short.json").write_text(
        json.dumps(template({"U": user(), "K": access_key({"Ref": "U"})}))
    )
    # When both are scanned together, the key is still unmonitored: nothing says they share an account
    assert kq1(tmp_path / "security", tmp_path / "app") == ["U"]
    # But in one input (one folder), or when both declare the same account, the monitoring counts
    (tmp_path / "app" / "monitoring.json").write_text(json.dumps(monitoring_template()))
    assert kq1(tmp_path / "app") == []
    (tmp_path / "app" / "monitoring.json").unlink()
    assert kq1(tmp_path / "security", tmp_path / "app", account="111111111111") == []


def test_a_user_name_in_another_input_is_another_user(tmp_path: Path) -> None:
    # Given two projects without an account, each with a key for a user named "ci" (one defines the user)
    (tmp_path / "one").mkdir()
    (tmp_path / "two").mkdir()
    (tmp_path / "one" / "a.json").write_text(
        json.dumps(template({"U": user("ci"), "K1": access_key({"Ref": "U"})}))
    )
    (tmp_path / "two" / "b.json").write_text(json.dumps(template({"K2": access_key("ci")})))
    # Then their keys are not two keys of one user (no KQ7), unless both declare the same account
    seen = run_rules(load_app([tmp_path / "one", tmp_path / "two"]))
    assert [f.rule_id for f in seen if f.rule_id == "KQ7"] == []
    declared = run_rules(load_app([tmp_path / "one", tmp_path / "two"], account="111111111111"))
    assert [(f.rule_id, f.logical_id) for f in declared if f.rule_id == "KQ7"] == [("KQ7", "U")]
