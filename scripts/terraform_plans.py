"""Write the plan JSON of each Terraform fixture with the real terraform, offline (the test compares findings).

    .venv/bin/python scripts/terraform_plans.py [NAME ...]

Needs ``terraform`` on PATH and the AWS provider in a filesystem mirror (``KQ_TF_PLUGINS``, default
/opt/tf-plugins). Each fixture is copied to a scratch folder with an override file that gives the provider fake
credentials and skips every AWS call, then ``terraform init``, ``plan -refresh=false`` and ``show -json``; the
result goes to tests/fixtures/terraform/plans/NAME.json. A fixture's plan.tfvars holds what an operator would pass
with -var (the HCL scan leaves those variables undecided). Nothing is fetched from a network.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

# ruff: noqa: S603, S607, T201 - a developer's script: runs terraform from PATH and says what it wrote

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures" / "terraform"
PLANS = FIXTURES / "plans"
#: Fixtures terraform itself refuses (they test our errors), that hold no configuration of their own, or that
#: need providers other than AWS (the offline mirror holds only hashicorp/aws), or that are parser tests only.
NOT_PLANNED = {"broken", "plans", "files", "syntax"}
OFFLINE_PROVIDER = """provider "aws" {
  access_key                  = "AKIAIOSFODNN7EXAMPLE"
  secret_key                  = "not-a-secret"
  skip_credentials_validation = true
  skip_requesting_account_id  = true
  skip_metadata_api_check     = true
  skip_region_validation      = true
}
"""
CLI_CONFIG = """provider_installation {{
  filesystem_mirror {{
    path    = "{plugins}"
    include = ["registry.terraform.io/*/*"]
  }}
  direct {{
    exclude = ["registry.terraform.io/*/*"]
  }}
}}
"""


def plan(name: str, scratch: Path, environment: dict[str, str]) -> None:
    work = scratch / name
    shutil.copytree(FIXTURES / name, work, ignore=shutil.ignore_patterns(".terraform*"))
    # variables the configuration leaves to the operator (HCL scans see them undecided)
    variables = ["-var-file=plan.tfvars"] if (work / "plan.tfvars").exists() else []
    if not (work / "zz_offline_override.tf").exists():
        (work / "zz_offline_override.tf").write_text(OFFLINE_PROVIDER)
    for command in (
        ["terraform", "init", "-input=false", "-no-color", "-backend=false"],
        ["terraform", "plan", "-refresh=false", "-input=false", "-no-color", "-out=plan.bin", *variables],
    ):
        subprocess.run(command, cwd=work, env=environment, check=True, capture_output=True)
    shown = subprocess.run(
        ["terraform", "show", "-json", "plan.bin"], cwd=work, env=environment, check=True, capture_output=True
    ).stdout
    document = json.loads(shown)
    document.pop("timestamp", None)
    PLANS.mkdir(exist_ok=True)
    (PLANS / f"{name}.json").write_text(json.dumps(document, indent=1, sort_keys=True) + "\n")
    print(f"{name}: {PLANS / f'{name}.json'}")


def main() -> None:
    names = sys.argv[1:] or sorted(
        path.name for path in FIXTURES.iterdir() if path.is_dir() and path.name not in NOT_PLANNED
    )
    with tempfile.TemporaryDirectory(prefix="kq-tf-plans-") as scratch:
        config = Path(scratch) / "terraform.rc"
        config.write_text(CLI_CONFIG.format(plugins=os.environ.get("KQ_TF_PLUGINS", "/opt/tf-plugins")))
        environment = {**os.environ, "TF_CLI_CONFIG_FILE": str(config), "TF_IN_AUTOMATION": "1"}
        failed = []
        for name in names:
            try:
                plan(name, Path(scratch), environment)
            except subprocess.CalledProcessError as error:
                failed.append(name)
                print(
                    f"{name}: {' '.join(error.cmd[:2])} failed:\n{error.stderr.decode()[-2000:]}",
                    file=sys.stderr,
                )
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
