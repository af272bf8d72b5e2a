"""End to end through the real, pinned cdk CLI: the example app passes, the leaky app fails on every rule."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from key_quarantine.rules import ALL_RULES

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("cdk-cli")]

PROJECT = Path(__file__).resolve().parents[2]
CDK = PROJECT / "node_modules" / ".bin" / "cdk"


@dataclass(frozen=True)
class Synthesis:
    exit_code: int
    output: str
    assembly: Path


def cdk_synth(outdir: Path, *extra: str) -> Synthesis:
    if not CDK.exists():
        pytest.fail("the pinned CDK CLI is not installed: run `make test` (it runs npm ci)")
    environment = {**os.environ, "CDK_VALIDATION": "false", "CDK_DISABLE_CLI_TELEMETRY": "true"}
    command = [str(CDK), "synth", "--quiet", "--no-notices", "--output", str(outdir), *extra]
    result = subprocess.run(
        command, cwd=PROJECT, capture_output=True, text=True, env=environment, check=False, timeout=300
    )
    return Synthesis(result.returncode, result.stdout + result.stderr, outdir)


@pytest.fixture(scope="session")
def example_app(tmp_path_factory: pytest.TempPathFactory) -> Synthesis:
    return cdk_synth(tmp_path_factory.mktemp("example") / "cdk.out")


@pytest.fixture(scope="session")
def leaky_app(tmp_path_factory: pytest.TempPathFactory) -> Synthesis:
    app = f"{sys.executable} examples/leaky_app/app.py"
    return cdk_synth(tmp_path_factory.mktemp("leaky") / "cdk.out", "--app", app, "**")


def templates(assembly: Path) -> list[Path]:
    return sorted(assembly.rglob("*.template.json"))


def test_example_app_synthesizes_with_both_packs(example_app: Synthesis) -> None:
    # The example app acknowledges what it must, with reasons, and declares its external monitoring
    assert example_app.exit_code == 0, example_app.output
    report = json.loads((example_app.assembly / "validation-report.json").read_text())
    plugins = {p["pluginName"]: p for p in report["pluginReports"]}
    assert plugins["KeyQuarantine"]["violations"] == []
    assert [v["ruleName"] for v in plugins["KeyQuarantine"]["suppressedViolations"]] == ["KQ5"]
    assert re.search(
        r"KeyQuarantine: 1 finding \(1 acknowledged\) — \d+ users?, \d+ keys? checked", example_app.output
    )


def test_leaky_app_fails_synthesis_and_prints_every_rule(leaky_app: Synthesis) -> None:
    assert leaky_app.exit_code != 0
    for rule in ALL_RULES:
        assert f"[{rule.id}]" in leaky_app.output, f"{rule.id} not printed"
    assert "Acknowledge with 'KeyQuarantine::KQ1'" in leaky_app.output
    assert "Dev/Users/LegacyDeployer/Resource" in leaky_app.output


def test_scan_of_the_leaky_assembly_agrees_with_synth(leaky_app: Synthesis) -> None:
    # Given the assembly cdk wrote, scanned by the command-line front end
    command = [
        str(Path(sys.executable).parent / "key-quarantine"),
        "scan",
        str(leaky_app.assembly),
        "--format",
        "json",
    ]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    findings = json.loads(result.stdout)["findings"]
    # Then it finds what synth printed, and exits 1 for the errors
    report = json.loads((leaky_app.assembly / "validation-report.json").read_text())
    printed = sorted(
        v["ruleName"]
        for p in report["pluginReports"]
        for v in p["violations"]
        if p["pluginName"] == "KeyQuarantine"
    )
    assert sorted(f["rule_id"] for f in findings) == printed
    assert result.returncode == 1


def test_cfn_lint_accepts_what_we_synthesize(example_app: Synthesis, leaky_app: Synthesis) -> None:
    cfn_lint = shutil.which("cfn-lint", path=str(Path(sys.executable).parent))
    assert cfn_lint is not None
    ours = subprocess.run(
        [cfn_lint, *map(str, templates(example_app.assembly))], capture_output=True, text=True, check=False
    )
    assert ours.returncode == 0, ours.stdout
    # The leaky app is wrong on purpose for our rules, never for CloudFormation: no cfn-lint errors (bit 2)
    leaky = subprocess.run(
        [cfn_lint, *map(str, templates(leaky_app.assembly))], capture_output=True, text=True, check=False
    )
    assert leaky.returncode & 2 == 0, leaky.stdout
