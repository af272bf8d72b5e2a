"""``key-quarantine scan``: the contract in DESIGN.md (exit codes, JSON, text, --output, acknowledgements)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_iam as iam

from key_quarantine.cli.main import main
from tests.cdk_apps import synth
from tests.cfn import access_key, event_rule, quarantine_attach_pattern, template, topic, user

CONTRACT_FIELDS = {
    "rule_id",
    "level",
    "stack",
    "logical_id",
    "resource_type",
    "construct_path",
    "message",
    "acknowledged",
}


def write(path: Path, body: dict[str, Any]) -> Path:
    path.write_text(json.dumps(body))
    return path


@pytest.fixture
def leaky_template(tmp_path: Path) -> Path:
    """KQ1 (error) and KQ7 (warning)."""
    resources = {"U": user(), "K1": access_key({"Ref": "U"}), "K2": access_key({"Ref": "U"})}
    return write(tmp_path / "leaky.json", template(resources))


@pytest.fixture
def warning_template(tmp_path: Path) -> Path:
    """Only KQ7 (warning): monitored, with a trail declared."""
    resources = {
        "U": user(),
        "K1": access_key({"Ref": "U"}),
        "K2": access_key({"Ref": "U"}),
        "Alerts": topic(),
        "Watch": event_rule(quarantine_attach_pattern()),
    }
    metadata = {"KeyQuarantine": {"ExistingCloudTrailTrail": "org trail"}}
    return write(tmp_path / "warn.json", template(resources, Metadata=metadata))


def test_json_report_follows_the_contract(leaky_template: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # When scanning a template with an error and a warning as JSON
    exit_code = main(["scan", str(leaky_template), "--format", "json", "--region", "us-east-1"])
    document = json.loads(capsys.readouterr().out)
    # Then the document has the contract's fields and counts, and the error makes it exit 1
    assert exit_code == 1
    assert all(set(finding) >= CONTRACT_FIELDS for finding in document["findings"])
    assert [(f["rule_id"], f["level"], f["logical_id"]) for f in document["findings"]] == [
        ("KQ1", "error", "U"),
        ("KQ7", "warning", "U"),
    ]
    assert document["summary"] == {"error": 1, "warning": 1, "info": 0}


@pytest.mark.parametrize(
    ("fail_on", "expected"),
    [("error", 0), ("warning", 1), ("never", 0)],
)
def test_fail_on_threshold(warning_template: Path, fail_on: str, expected: int) -> None:
    assert main(["scan", str(warning_template), "--region", "us-east-1", "--fail-on", fail_on]) == expected


def test_errors_fail_unless_fail_on_never(leaky_template: Path) -> None:
    assert main(["scan", str(leaky_template), "--fail-on", "never"]) == 0
    assert main(["scan", str(leaky_template)]) == 1


def test_text_report_reads_like_cdk_nag(leaky_template: Path, capsys: pytest.CaptureFixture[str]) -> None:
    main(["scan", str(leaky_template), "--region", "us-east-1"])
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("[Error at U (")
    assert "leaky.json:1)] KQ1: IAM user 'U'" in lines[0]
    assert lines[1].startswith("[Warning at U (")
    assert ")] KQ7:" in lines[1]
    assert lines[-1] == "KeyQuarantine: 1 error(s), 1 warning(s), 0 info; 0 acknowledged."


def test_output_file_gets_the_report(
    leaky_template: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "report.json"
    main(["scan", str(leaky_template), "--format", "json", "--output", str(target)])
    assert json.loads(target.read_text())["summary"]["error"] == 1
    assert "1 error(s)" in capsys.readouterr().out
    assert target.stat().st_mode & 0o044, "the report is readable like any file the user writes"


def test_bad_input_keeps_an_existing_report(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # Given a report from an earlier run, and a garbled template
    target = tmp_path / "report.json"
    target.write_text("earlier report")
    garbled = tmp_path / "broken.json"
    garbled.write_text('{"Resources": ')
    # When the scan fails on the input
    exit_code = main(["scan", str(garbled), "--output", str(target)])
    # Then it exits 2, names the file and the problem, and the earlier report is untouched
    assert exit_code == 2
    assert f"key-quarantine: error: {garbled}: not valid JSON" in capsys.readouterr().err
    assert target.read_text() == "earlier report"


def test_output_into_a_missing_folder_is_a_clear_error(
    leaky_template: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["scan", str(leaky_template), "--output", str(tmp_path / "nope" / "r.json")]) == 2
    assert "does not exist" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argument_of", "problem"),
    [
        (lambda tmp: tmp / "missing.out", "no such file or directory"),
        (lambda tmp: write(tmp / "no-resources.json", {"Outputs": {}}), "no 'Resources' object"),
    ],
    ids=["missing", "not-a-template"],
)
def test_command_line_bad_input_exits_2_without_a_traceback(
    tmp_path: Path, argument_of: Any, problem: str
) -> None:
    # Given the installed console script
    command = [str(Path(sys.executable).parent / "key-quarantine"), "scan", str(argument_of(tmp_path))]
    # When run on bad input
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    # Then exit 2, one clear line, no traceback
    assert result.returncode == 2
    assert problem in result.stderr
    assert "Traceback" not in result.stderr


def test_unknown_format_is_a_usage_error(leaky_template: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as raised:
        main(["scan", str(leaky_template), "--format", "xml"])
    assert raised.value.code == 2
    assert "invalid choice: 'xml'" in capsys.readouterr().err


def test_acknowledgements_recorded_in_a_cloud_assembly_are_honoured(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a synthesized app whose KQ1 finding was acknowledged with Validations.of(...).acknowledge
    def build(app: cdk.App) -> None:
        stack = cdk.Stack(app, "S", env=cdk.Environment(region="us-east-1"))
        user_construct = iam.User(stack, "BreakGlass")
        iam.AccessKey(stack, "Key", user=user_construct)
        cdk.Validations.of(user_construct).acknowledge(
            cdk.Acknowledgment(id="KeyQuarantine::KQ1", reason="Break-glass user in a sealed envelope")
        )

    assembly = synth(tmp_path / "cdk.out", build)
    # When scanned
    exit_code = main(["scan", str(assembly), "--format", "json"])
    (finding,) = json.loads(capsys.readouterr().out)["findings"]
    # Then the finding is reported as acknowledged, with its reason, and does not fail the scan
    assert exit_code == 0
    assert (finding["rule_id"], finding["acknowledged"]) == ("KQ1", True)
    assert finding["acknowledgement_reason"] == "Break-glass user in a sealed envelope"


def test_cdk_nag_v2_suppression_metadata_in_a_template_is_honoured(tmp_path: Path) -> None:
    suppressed = user()
    suppressed["Metadata"] = {
        "cdk_nag": {"rules_to_suppress": [{"id": "KQ1", "reason": "sealed break-glass user"}]}
    }
    path = write(tmp_path / "t.json", template({"U": suppressed, "K": access_key({"Ref": "U"})}))
    assert main(["scan", str(path)]) == 0
