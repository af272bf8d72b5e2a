"""The base install is the scanner alone: no aws-cdk-lib, no jsii, no boto3, no Node; the extras say what they add."""

from __future__ import annotations

import json
import subprocess
import zipfile
from email.parser import Parser
from pathlib import Path

import pytest

from key_quarantine.distribution import VERSION
from tests.cfn import access_key, template, user
from tests.packaging.conftest import REPO

pytestmark = pytest.mark.xdist_group("wheel")

TERRAFORM = REPO / "tests" / "fixtures" / "terraform" / "leaky"
NEEDS_AN_EXTRA = ("aws_cdk", "jsii", "constructs", "cdk_nag", "boto3", "botocore")


def run_isolated(venv: Path, program: str, *arguments: str) -> subprocess.CompletedProcess[str]:
    """A program of the venv with nothing else on PATH (so no node either)."""
    return subprocess.run(
        [str(venv / "bin" / program), *arguments],
        capture_output=True,
        text=True,
        env={"PATH": str(venv / "bin"), "HOME": str(venv)},
        check=False,
        cwd=venv,
    )


def installed_distributions(venv: Path) -> set[str]:
    (site_packages,) = venv.glob("lib/python3*/site-packages")
    return {p.name.split("-")[0].lower() for p in site_packages.glob("*.dist-info")}


def test_the_base_install_holds_none_of_the_extras(scan_only_venv: Path) -> None:
    installed = installed_distributions(scan_only_venv)
    assert {"cdk_key_quarantine", "pyyaml", "tree_sitter", "tree_sitter_hcl"} <= installed
    assert not installed & {"aws_cdk_lib", "jsii", "constructs", "cdk_nag", "boto3", "botocore"}


def test_scan_runs_without_aws_cdk_lib_or_node(scan_only_venv: Path, tmp_path: Path) -> None:
    # Given a template whose user holds an unmonitored key, and a Terraform folder with findings
    leaky = tmp_path / "leaky.json"
    leaky.write_text(json.dumps(template({"U": user(), "K": access_key({"Ref": "U"})})))
    report = tmp_path / "report.json"
    # When the scan-only install scans both
    ran = run_isolated(
        scan_only_venv, "key-quarantine", "scan", str(leaky), str(TERRAFORM), "--format", "json",
        "--output", str(report),
    )  # fmt: skip
    # Then it finds what the full install finds (exit 1 for errors), with no traceback
    assert ran.returncode == 1, ran.stderr
    rule_ids = {f["rule_id"] for f in json.loads(report.read_text())["findings"]}
    assert "KQ1" in rule_ids
    assert ran.stderr == ""
    # And the interpreter had no way to reach CDK or the AWS SDK
    probe = f"import importlib.util as u; print([m for m in {NEEDS_AN_EXTRA!r} if u.find_spec(m)])"
    assert run_isolated(scan_only_venv, "python", "-c", probe).stdout.strip() == "[]"


def test_what_needs_an_extra_says_which_in_one_line(scan_only_venv: Path) -> None:
    # When a command that acts on an account runs without boto3
    ran = run_isolated(scan_only_venv, "key-quarantine", "contain", "--user", "alice", "--dry-run")
    # Then it exits 2 with one line naming the extra
    assert ran.returncode == 2
    assert ran.stderr.strip().splitlines() == [
        "key-quarantine: error: key-quarantine contain needs botocore, which the scan-only install leaves out: "
        "pip install 'cdk-key-quarantine[aws]'"
    ]
    # And importing the construct without aws-cdk-lib names the CDK extra
    probe = "import key_quarantine\ntry:\n    key_quarantine.KeyQuarantine\nexcept ImportError as e:\n    print(e)"
    assert (
        "pip install 'cdk-key-quarantine[cdk]'" in run_isolated(scan_only_venv, "python", "-c", probe).stdout
    )
    assert run_isolated(scan_only_venv, "key-quarantine", "--version").stdout == f"key-quarantine {VERSION}\n"


def test_the_wheel_declares_ranges_and_keeps_cdk_in_an_extra(built_wheel: Path) -> None:
    with zipfile.ZipFile(built_wheel) as wheel:
        (name,) = [n for n in wheel.namelist() if n.endswith(".dist-info/METADATA")]
        metadata = Parser().parsestr(wheel.read(name).decode())
        assert any(n.endswith(".dist-info/licenses/LICENSE") for n in wheel.namelist())
    requirements = [r for r in metadata.get_all("Requires-Dist") or [] if 'extra == "dev"' not in r]
    assert requirements, "no dependencies declared"
    assert not [r for r in requirements if "==" in r.split(";")[0]], "exact pins cannot sit next to an app"
    for distribution in ("aws-cdk-lib", "cdk-nag", "constructs"):
        (declared,) = [r for r in requirements if r.startswith(distribution)]
        assert 'extra == "cdk"' in declared
    assert metadata["License-Expression"] == "Apache-2.0"
    assert metadata["Version"] == VERSION  # one place: key_quarantine/distribution.py
    assert set(metadata.get_all("Provides-Extra") or []) >= {"aws", "cdk"}
