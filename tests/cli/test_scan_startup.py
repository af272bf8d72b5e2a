"""What ``key-quarantine scan`` loads: start-up is a large share of a scan's time, so it imports only what it uses."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "terraform"
#: CDK (jsii starts node), the AWS SDK (the responder's, ~120 ms), and the HCL parser the scan no longer uses.
NOT_NEEDED_TO_SCAN = ("aws_cdk", "jsii", "constructs", "cdk_nag", "botocore", "boto3", "hcl2", "lark")
PROBE = """
import json, sys
from key_quarantine.cli.main import main
code = main(["scan", sys.argv[1], "--format", "json", "--output", sys.argv[2]])
print(json.dumps({"exit": code, "modules": sorted(sys.modules)}))
"""


def test_scanning_terraform_imports_neither_cdk_nor_the_aws_sdk(tmp_path: Path) -> None:
    # Given a fresh interpreter
    # When it scans a Terraform folder with findings
    ran = subprocess.run(
        [sys.executable, "-c", PROBE, str(FIXTURES / "leaky"), str(tmp_path / "report.json")],
        capture_output=True,
        text=True,
        check=True,
    )
    result = json.loads(ran.stdout.splitlines()[-1])
    # Then the scan ran and found something
    assert result["exit"] == 1
    assert json.loads((tmp_path / "report.json").read_text())["findings"]
    # And it loaded the tree-sitter parser but none of the packages a scan does not need
    modules = set(result["modules"])
    assert "tree_sitter_hcl" in modules
    assert not {name for name in modules if name.split(".")[0] in NOT_NEEDED_TO_SCAN}


def test_the_aws_commands_still_load_what_they_need(tmp_path: Path) -> None:
    # Given the contain/release/respond/audit/policies commands, whose code now loads only when they run
    # When one runs with an event file that does not exist
    ran = subprocess.run(
        [sys.executable, "-m", "key_quarantine.cli.main", "respond", str(tmp_path / "missing.json")],
        capture_output=True,
        text=True,
        check=False,
    )
    # Then it reaches the responder and fails with a clear message, not an import error
    assert ran.returncode == 2
    assert "missing.json" in ran.stderr
    assert "Traceback" not in ran.stderr
