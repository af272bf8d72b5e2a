"""Recall and false positives per rule on Terraform written the way people write it, and scan time against checkov.

    .venv/bin/python bench/terraform_corpus_bench.py [--units 300] [--repeats 3] [--before OLD/src]

Fetches nothing. Inputs: the Terraform fixtures of tests/fixtures/terraform (each shaped like a real case: the
iam-user module called several times, secrets through expressions, files and templates, permissions as Terraform
writes them, CDKTF's JSON) with the findings each is written to contain (LABELS, reviewed by hand), and a
generated corpus of ``--units`` calls of an iam-user-shaped module whose switches (create, pgp_key, key count,
policy) vary per call; the generator knows what each call must give. checkov (bench/.venv-checkov, installed on
first run, as scan_bench.py does) runs on the same folders: as it has no rule of ours, its column counts the
expected findings whose resource or output any checkov check fails. Each tool runs as a whole process; times are
medians of --repeats runs. Results go to bench/results/terraform_corpus.json and stdout.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

from scan_bench import OFFLINE, checkov_command, ensure_checkov
from scan_bench import median_seconds as scan_median_seconds
from synth_bench import machine

HERE = Path(__file__).resolve().parent
FIXTURES = HERE.parent / "tests" / "fixtures" / "terraform"
RULES = ("KQ1", "KQ2", "KQ5", "KQ7", "KQ8")

#: What each fixture is written to contain (rule, address or output), for the rules measured here.
LABELS: dict[str, set[tuple[str, str]]] = {
    "iam_user_examples": {
        ("KQ1", "module.iam_user.aws_iam_user.this[0]"),
        ("KQ1", "module.iam_user2.aws_iam_user.this[0]"),
        ("KQ1", "module.rotating[0].aws_iam_user.this[0]"),
        ("KQ1", 'module.team["alice"].aws_iam_user.this[0]'),
        ("KQ1", 'module.team["bob"].aws_iam_user.this[0]'),
        ("KQ2", "iam_access_key_secret"),
        ("KQ2", "iam_access_key_ses_smtp_password_v4"),
        ("KQ2", "alice_secret"),
        ("KQ7", "module.rotating[0].aws_iam_user.this[0]"),
    },
    "expressions": {
        ("KQ1", "aws_iam_user.app"),
        ("KQ1", "aws_iam_user.fleet"),
        ("KQ1", "aws_iam_user.signer"),
        ("KQ1", 'aws_iam_user.admin["ops-1"]'),
        ("KQ1", 'aws_iam_user.admin["ops-2"]'),
        ("KQ2", "aws_ssm_parameter.through_local"),
        ("KQ2", "aws_ssm_parameter.fleet_secrets"),
        ("KQ2", "aws_instance.worker"),
        ("KQ2", "secret_unless_ssm"),
        ("KQ7", "aws_iam_user.fleet"),
    },
    "files": {
        ("KQ1", "aws_iam_user.ci"),
        ("KQ2", "aws_launch_template.runners"),
        ("KQ2", "local_file.credentials"),
        ("KQ2", "data.archive_file.bundle"),
        ("KQ2", "smtp_password"),
    },
    "permissions": {
        *{
            ("KQ1", f"aws_iam_user.{user}")
            for user in ("secrets_reader", "mailer", "reporter", "analyst", "modeler")
        },
        *{
            ("KQ5", f"aws_iam_user.{user}")
            for user in ("secrets_reader", "mailer", "reporter", "analyst", "modeler")
        },
        ("KQ8", "aws_iam_user.analyst"),
        ("KQ8", "aws_iam_user.modeler"),
    },
    "tf_json": {
        ("KQ1", "aws_iam_user.deployer"),
        ("KQ2", "aws_lambda_function.uploader"),
        ("KQ2", "secret"),
        ("KQ5", "aws_iam_user.deployer"),
        ("KQ8", "aws_iam_user.deployer"),
    },
}

MODULE = """
variable "name" { type = string }
variable "create" {
  type    = bool
  default = true
}
variable "pgp_key" {
  type    = string
  default = ""
}
variable "keys" {
  type    = number
  default = 1
}
variable "read_secrets" {
  type    = bool
  default = false
}

resource "aws_iam_user" "this" {
  count = var.create ? 1 : 0
  name  = var.name
}

resource "aws_iam_access_key" "plain" {
  count = var.create && var.pgp_key == "" ? var.keys : 0
  user  = aws_iam_user.this[0].name
}

resource "aws_iam_access_key" "encrypted" {
  count   = var.create && var.pgp_key != "" ? var.keys : 0
  user    = aws_iam_user.this[0].name
  pgp_key = var.pgp_key
}

data "aws_iam_policy_document" "read" {
  statement {
    actions   = ["secretsmanager:GetSecretValue"]
    resources = ["*"]
  }
}

resource "aws_iam_user_policy" "read" {
  count  = var.create && var.read_secrets ? 1 : 0
  name   = "read"
  user   = aws_iam_user.this[0].name
  policy = data.aws_iam_policy_document.read.json
}

output "secret" {
  value     = try(aws_iam_access_key.plain[0].secret, "")
  sensitive = true
}

output "encrypted_secret" {
  value = try(aws_iam_access_key.encrypted[0].encrypted_secret, "")
}
"""


def generated_corpus(folder: Path, units: int) -> set[tuple[str, str]]:
    """``units`` module calls; returns what they must give."""
    (folder / "modules" / "user").mkdir(parents=True)
    (folder / "modules" / "user" / "main.tf").write_text(MODULE)
    blocks = ['provider "aws" {\n  region = "us-east-1"\n}\n']
    expected: set[tuple[str, str]] = set()
    for unit in range(units):
        create, pgp, keys, reads = unit % 5 != 0, unit % 4 == 0, 2 if unit % 7 == 0 else 1, unit % 6 == 0
        blocks.append(
            f'module "u{unit}" {{\n  source = "./modules/user"\n  name = "user-{unit}"\n'
            f"  create = {str(create).lower()}\n  keys = {keys}\n  read_secrets = {str(reads).lower()}\n"
            + (f'  pgp_key = "keybase:user{unit}"\n' if pgp else "")
            + "}\n"
            f'output "secret_{unit}" {{\n  value = module.u{unit}.secret\n  sensitive = true\n}}\n'
            f'output "encrypted_{unit}" {{\n  value = module.u{unit}.encrypted_secret\n}}\n'
        )
        user = f"module.u{unit}.aws_iam_user.this[0]"
        if create:
            expected.add(("KQ1", user))
            expected |= {("KQ7", user)} if keys == 2 else set()
            expected |= {("KQ5", user)} if reads else set()
            expected |= {("KQ2", f"secret_{unit}")} if not pgp else set()
    (folder / "main.tf").write_text("\n".join(blocks))
    return expected


def scan_command(source: Path | None) -> list[str]:
    """Our scan; with ``source``, the package from that src folder (another commit's checkout)."""
    if source is None:
        return [str(Path(sys.executable).parent / "key-quarantine"), "scan"]
    program = f"import sys; sys.path.insert(0, {str(source)!r}); from key_quarantine.cli.main import main; "
    return [sys.executable, "-c", program + "sys.exit(main(sys.argv[1:]))", "scan"]


def ours(path: Path, source: Path | None = None) -> set[tuple[str, str]]:
    ran = subprocess.run(
        [*scan_command(source), str(path), "--format", "json"], capture_output=True, text=True, check=False
    )
    if ran.returncode == 2:
        return set()
    return {
        (f["rule_id"], f["logical_id"]) for f in json.loads(ran.stdout)["findings"] if f["rule_id"] in RULES
    }


def checkov_flagged(checkov: str, path: Path) -> tuple[set[str], int]:
    ran = subprocess.run(
        checkov_command(checkov, "-d", path, "terraform"),
        capture_output=True,
        text=True,
        check=False,
        env=OFFLINE,
    )
    document = json.loads(ran.stdout or "{}")
    reports = document if isinstance(document, list) else [document]
    failed = [check for report in reports for check in (report.get("results") or {}).get("failed_checks", [])]
    return {str(check["resource"]) for check in failed}, len(failed)


def score(expected: set[tuple[str, str]], found: set[tuple[str, str]]) -> dict[str, dict[str, int]]:
    table: dict[str, dict[str, int]] = {}
    for rule in RULES:
        want = {item for item in expected if item[0] == rule}
        got = {item for item in found if item[0] == rule}
        table[rule] = {"expected": len(want), "found": len(want & got), "false_positives": len(got - want)}
    return table


def median_seconds(command: list[str], repeats: int) -> float:
    return round(scan_median_seconds(command, repeats)[0], 2)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--units", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--output", type=Path, default=HERE / "results" / "terraform_corpus.json")
    parser.add_argument(
        "--before", type=Path, help="src folder of an earlier checkout, scored (and timed) beside"
    )
    arguments = parser.parse_args()
    checkov = str(ensure_checkov())
    results: dict[str, object] = {"machine": machine(), "inputs": {}}
    totals: Counter[tuple[str, str]] = Counter()
    with tempfile.TemporaryDirectory(prefix="kq-tf-corpus-") as scratch:
        corpus = Path(scratch) / f"generated-{arguments.units}"
        inputs = {name: (FIXTURES / name, labels) for name, labels in LABELS.items()}
        inputs[corpus.name] = (corpus, generated_corpus(corpus, arguments.units))
        for name, (path, expected) in inputs.items():
            found = ours(path)
            flagged, failed_checks = checkov_flagged(checkov, path)
            table = score(expected, found)
            before = score(expected, ours(path, arguments.before)) if arguments.before else None
            for rule, row in table.items():
                totals[(rule, "expected")] += row["expected"]
                totals[(rule, "found")] += row["found"]
                totals[(rule, "false_positives")] += row["false_positives"]
                row["checkov_flags_it"] = sum(
                    1 for r, address in expected if r == rule and address in flagged
                )
                totals[(rule, "checkov_flags_it")] += row["checkov_flags_it"]
                if before is not None:
                    row["found_before"] = before[rule]["found"]
                    row["false_positives_before"] = before[rule]["false_positives"]
                    totals[(rule, "found_before")] += row["found_before"]
                    totals[(rule, "false_positives_before")] += row["false_positives_before"]
            results["inputs"][name] = {  # type: ignore[index]
                "per_rule": table,
                "checkov_failed_checks": failed_checks,
                "median_seconds": {
                    "key-quarantine scan": median_seconds(
                        [*scan_command(None), str(path)], arguments.repeats
                    ),
                    **(
                        {
                            "key-quarantine scan (before)": median_seconds(
                                [*scan_command(arguments.before), str(path)], arguments.repeats
                            )
                        }
                        if arguments.before
                        else {}
                    ),
                    "checkov": median_seconds(
                        checkov_command(checkov, "-d", path, "terraform"), arguments.repeats
                    ),
                },
            }
    results["totals"] = {
        rule: {metric: count for (name, metric), count in totals.items() if name == rule} for rule in RULES
    }
    arguments.output.parent.mkdir(parents=True, exist_ok=True)
    arguments.output.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
