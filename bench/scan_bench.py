"""`key-quarantine scan` against checkov and cfn-lint on the same generated files, in one run.

    .venv/bin/python bench/scan_bench.py            # checkov is installed into bench/.venv-checkov on first run

Inputs (generated each run, deterministic): one CloudFormation template of 10,000 resources (IAM users, each with an
access key and an inline policy; every 50th key's secret in an SSM parameter) and a Terraform folder of 2,000
resources of the same kinds over 20 files. Each tool runs as a whole process, as in CI; the number kept is the
median wall time of --repeats runs. Results go to bench/results/scan.json and stdout.

On Terraform, "key-quarantine scan (python-hcl2)" is our scan with the HCL front end it had before tree-sitter
(python-hcl2 8.1.4, a dev dependency kept for the differential test), for a before/after in the same run.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import venv
from pathlib import Path

from synth_bench import machine  # the same machine line in every results file

HERE = Path(__file__).resolve().parent
CHECKOV_VERSION = "3.3.30"
CHECKOV_VENV = HERE / ".venv-checkov"


def cloudformation_template(resources: int) -> dict[str, object]:
    body: dict[str, object] = {}
    for number in range(resources // 3):
        body[f"User{number}"] = {"Type": "AWS::IAM::User", "Properties": {"UserName": f"user-{number}"}}
        body[f"Key{number}"] = {
            "Type": "AWS::IAM::AccessKey",
            "Properties": {"UserName": {"Ref": f"User{number}"}},
        }
        body[f"Policy{number}"] = {
            "Type": "AWS::IAM::Policy",
            "Properties": {
                "PolicyName": f"policy-{number}",
                "Users": [{"Ref": f"User{number}"}],
                "PolicyDocument": {
                    "Version": "2012-10-17",
                    "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}],
                },
            },
        }
        if number % 50 == 0:
            body[f"Leak{number}"] = {
                "Type": "AWS::SSM::Parameter",
                "Properties": {
                    "Type": "String",
                    "Value": {"Fn::GetAtt": [f"Key{number}", "SecretAccessKey"]},
                },
            }
    return {"AWSTemplateFormatVersion": "2010-09-09", "Resources": body}


def terraform_folder(folder: Path, resources: int, files: int = 20) -> None:
    folder.mkdir(parents=True)
    (folder / "provider.tf").write_text('provider "aws" {\n  region = "us-east-1"\n}\n')
    users = resources // 3
    per_file = -(-users // files)
    for file_number in range(files):
        numbers = range(file_number * per_file, min(users, (file_number + 1) * per_file))
        (folder / f"users_{file_number:02d}.tf").write_text(
            "\n".join(_user_blocks(number) for number in numbers)
        )


def _user_blocks(number: int) -> str:
    return (
        f'resource "aws_iam_user" "u{number}" {{\n  name = "user-{number}"\n}}\n\n'
        f'resource "aws_iam_access_key" "k{number}" {{\n  user = aws_iam_user.u{number}.name\n}}\n\n'
        f'resource "aws_iam_user_policy" "p{number}" {{\n  user = aws_iam_user.u{number}.name\n'
        f'  policy = jsonencode({{ Version = "2012-10-17", Statement = [{{ Effect = "Allow", Action = "s3:GetObject", Resource = "*" }}] }})\n}}\n'
    )


#: Our scan with python-hcl2 in place of tree-sitter's front end (the adapter the differential test uses).
PREVIOUS_FRONT_END = """
import sys
sys.path.insert(0, sys.argv[1])
from key_quarantine.rules import hcl
from tests.rules.test_hcl_differential import python_hcl2_parse
hcl.parse = python_hcl2_parse
from key_quarantine.cli.main import main
sys.exit(main(sys.argv[2:]))
"""


def ensure_checkov() -> Path:
    executable = CHECKOV_VENV / "bin" / "checkov"
    if not executable.exists():
        venv.create(CHECKOV_VENV, with_pip=True)
        subprocess.run(
            [str(CHECKOV_VENV / "bin" / "pip"), "install", "--quiet", f"checkov=={CHECKOV_VERSION}"],
            check=True,
        )
    return executable


#: checkov would otherwise call its vendor's API for guideline mappings; this machine has no network to give it.
OFFLINE = {**os.environ, "BC_SKIP_MAPPING": "TRUE"}


def checkov_command(checkov: str, target_flag: str, target: Path, framework: str) -> list[str]:
    """checkov on one file (-f) or folder (-d), JSON out, nothing downloaded."""
    return [
        checkov,
        target_flag,
        str(target),
        "--framework",
        framework,
        "--quiet",
        "--compact",
        "-o",
        "json",
        "--skip-download",
    ]


def median_seconds(command: list[str], repeats: int) -> tuple[float, int]:
    times, code = [], 0
    for _ in range(repeats):
        started = time.perf_counter()
        code = subprocess.run(command, capture_output=True, check=False, env=OFFLINE).returncode
        times.append(time.perf_counter() - started)
    return statistics.median(times), code


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cloudformation-resources", type=int, default=10_000)
    parser.add_argument("--terraform-resources", type=int, default=2_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--output", type=Path, default=HERE / "results" / "scan.json")
    arguments = parser.parse_args()
    ours = str(Path(sys.executable).parent / "key-quarantine")
    cfn_lint = str(Path(sys.executable).parent / "cfn-lint")
    checkov = str(ensure_checkov())
    checkov_version = subprocess.run(
        [checkov, "--version"], capture_output=True, text=True, check=True
    ).stdout.strip()
    with tempfile.TemporaryDirectory(prefix="kq-scan-bench-") as scratch:
        template = Path(scratch) / "users.template.json"
        template.write_text(json.dumps(cloudformation_template(arguments.cloudformation_resources), indent=1))
        folder = Path(scratch) / "terraform"
        terraform_folder(folder, arguments.terraform_resources)
        repeats = arguments.repeats
        scan_terraform = ["scan", str(folder), "--format", "json"]
        runs = {
            "cloudformation": {
                "key-quarantine scan": median_seconds(
                    [ours, "scan", str(template), "--format", "json"], repeats
                ),
                "checkov": median_seconds(
                    checkov_command(checkov, "-f", template, "cloudformation"), repeats
                ),
                "cfn-lint": median_seconds([cfn_lint, str(template)], repeats),
            },
            "terraform": {
                "key-quarantine scan": median_seconds([ours, *scan_terraform], repeats),
                "key-quarantine scan (python-hcl2)": median_seconds(
                    [sys.executable, "-c", PREVIOUS_FRONT_END, str(HERE.parent), *scan_terraform], repeats
                ),
                "checkov": median_seconds(checkov_command(checkov, "-d", folder, "terraform"), repeats),
            },
        }
    results = {
        "machine": machine(),
        "checkov": checkov_version,
        "repeats": arguments.repeats,
        "inputs": {
            "cloudformation_resources": arguments.cloudformation_resources,
            "terraform_resources": arguments.terraform_resources,
        },
        "median_seconds": {
            kind: {tool: round(value[0], 2) for tool, value in tools.items()} for kind, tools in runs.items()
        },
        "exit_codes": {
            kind: {tool: value[1] for tool, value in tools.items()} for kind, tools in runs.items()
        },
    }
    arguments.output.parent.mkdir(parents=True, exist_ok=True)
    arguments.output.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
