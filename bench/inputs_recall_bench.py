"""Recall and false positives on inputs as people keep them: folders, CloudFormation as AWS accepts it, literal keys.

    .venv/bin/python bench/inputs_recall_bench.py [--before OLD/src]

Fetches nothing. Each case is one `key-quarantine scan` (a whole process) of fixtures shaped like a real case
(tests/fixtures/folders, cloudformation, literal_keys), with the findings it is written to contain (LABELS,
reviewed by hand) for KQ1, KQ2, KQ7 and KQ9. With --before, the same cases run on another checkout's src (e.g.
`git archive <commit> src | tar x -C OLD`): a case that exits 2 there counts as nothing found. Results go to
bench/results/inputs_recall.json and a Markdown table on stdout.
"""

from __future__ import annotations

import argparse
import json
import subprocess
from pathlib import Path
from typing import Any

from synth_bench import machine
from terraform_corpus_bench import scan_command

HERE = Path(__file__).resolve().parent
FIXTURES = HERE.parent / "tests" / "fixtures"
RULES = ("KQ1", "KQ2", "KQ7", "KQ9")
CFN = "cloudformation"

#: (what the case is, the paths scanned together, the findings it is written to contain).
CASES: list[tuple[str, list[str], set[tuple[str, str]]]] = [
    (
        "repository folder: CloudFormation + Terraform with a local module + cdk.out, beside k8s, Rain, "
        "node_modules, .terraform",
        ["folders/repo"],
        {("KQ1", "DeployerUser"), ("KQ1", "ReportsUser"), ("KQ1", "module.ci_user.aws_iam_user.this")},
    ),
    (
        "the same folder given twice, and a file inside it",
        ["folders/repo", "folders/repo", "folders/repo/infra/cloudformation/iam-users.yaml"],
        {("KQ1", "DeployerUser"), ("KQ1", "ReportsUser"), ("KQ1", "module.ci_user.aws_iam_user.this")},
    ),
    (
        "two inputs without an account: one's monitoring does not cover the other's key",
        [f"{CFN}/quarantine-monitoring.yaml", "folders/repo/infra/cloudformation/iam-users.yaml"],
        {("KQ1", "ReportsUser")},
    ),
    (
        "Fn::ForEach users, keys and secret outputs",
        [f"{CFN}/language-extensions-users.yaml"],
        {
            ("KQ1", "DataDeployer"),
            ("KQ1", "WebDeployer"),
            ("KQ2", "DataDeployerSecret"),
            ("KQ2", "WebDeployerSecret"),
        },
    ),
    ("Fn::ForEach over a Mappings list", [f"{CFN}/language-extensions-from-mapping.yaml"], set()),
    ("SAM EventBridgeRule event as monitoring", [f"{CFN}/sam-monitoring.yaml"], set()),
    ("SAM CloudWatchEvent event, disabled", [f"{CFN}/sam-disabled-monitoring.yaml"], {("KQ1", "CiUser")}),
    (
        "rotation: Condition and Fn::If Status on keys",
        [f"{CFN}/rotation-keys.yaml"],
        {("KQ1", "Integration")},
    ),
    (
        "secret handed to a custom resource (a warning)",
        [f"{CFN}/custom-resource-secret.yaml"],
        {("KQ1", "Exporter"), ("KQ2", "VaultEntry")},
    ),
    (
        "literal keys in Terraform: provider, heredoc, tfvars (and decoys)",
        ["literal_keys/terraform"],
        {("KQ9", "provider.aws"), ("KQ9", "aws_instance.runner"), ("KQ9", "var.deploy_access_key")},
    ),
    (
        "literal keys in CloudFormation: parameter default, function environment",
        ["literal_keys/cloudformation"],
        {("KQ9", "BackupAccessKeyId"), ("KQ9", "Uploader")},
    ),
]


def scan(paths: list[str], source: Path | None) -> tuple[set[tuple[str, str]], int, list[tuple[str, str]]]:
    """(findings of the measured rules, exit code, every finding listed: duplicates show as repeats)."""
    command = [*scan_command(source), *(str(FIXTURES / p) for p in paths), "--format", "json"]
    ran = subprocess.run(command, capture_output=True, text=True, check=False)
    if ran.returncode == 2:
        return set(), 2, []
    listed = [
        (f["rule_id"], f["logical_id"]) for f in json.loads(ran.stdout)["findings"] if f["rule_id"] in RULES
    ]
    return set(listed), ran.returncode, listed


def score(source: Path | None) -> list[dict[str, object]]:
    rows = []
    for name, paths, expected in CASES:
        found, exit_code, listed = scan(paths, source)
        rows.append(
            {
                "case": name,
                "expected": len(expected),
                "found": len(expected & found),
                "false_positives": sorted(found - expected),
                "missed": sorted(expected - found),
                "duplicates": len(listed) - len(set(listed)),
                "exit": exit_code,
            }
        )
    return rows


def render(results: dict[str, Any]) -> str:
    lines = [
        f"Machine: {results['machine']}.",
        "",
        "| case | expected | found | false positives | duplicates | exit | before: found | before: false positives "
        "| before: exit |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    before = results.get("before") or [None] * len(CASES)
    for row, old in zip(results["rows"], before, strict=True):
        then = f"{old['found']} | {len(old['false_positives'])} | {old['exit']}" if old else "— | — | —"
        lines.append(
            f"| {row['case']} | {row['expected']} | {row['found']} | {len(row['false_positives'])} "
            f"| {row['duplicates']} | {row['exit']} | {then} |"
        )
    rows = results["rows"]
    found, total = sum(r["found"] for r in rows), sum(r["expected"] for r in rows)
    false_positives, duplicates = (
        sum(len(r["false_positives"]) for r in rows),
        sum(r["duplicates"] for r in rows),
    )
    lines += ["", f"Recall {found}/{total}, false positives {false_positives}, duplicates {duplicates}."]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--before", type=Path, metavar="SRC", help="also run the cases on this src folder")
    parser.add_argument("--output", type=Path, default=HERE / "results" / "inputs_recall.json")
    arguments = parser.parse_args()
    results: dict[str, Any] = {"machine": machine(), "rows": score(None)}
    if arguments.before:
        results["before"] = score(arguments.before.resolve())
    arguments.output.parent.mkdir(parents=True, exist_ok=True)
    arguments.output.write_text(json.dumps(results, indent=2) + "\n")
    print(render(results))


if __name__ == "__main__":
    main()
