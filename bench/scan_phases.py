"""Where the time of ``key-quarantine scan`` of a Terraform folder goes, phase by phase, for both HCL front ends.

    .venv/bin/python bench/scan_phases.py            # the 2,000-resource folder of scan_bench.py, medians of 5

Phases: interpreter start (``python -c pass``), imports of the scan command, reading and parsing the .tf files,
building the model, running the rules, writing the JSON report. Start-up and imports are measured in fresh
processes; the other phases in one process per repeat, with the parser's caches emptied. "previous" is
python-hcl2 8.1.4 (a dev dependency, kept for the differential test) put in place of tree-sitter's front end.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]

# after the path set-up above (E402)
from tests.rules.test_hcl_differential import python_hcl2_parse  # noqa: E402

from key_quarantine.cli import report  # noqa: E402
from key_quarantine.rules import hcl, terraform, terraform_expressions  # noqa: E402
from key_quarantine.rules.model import AppModel  # noqa: E402
from key_quarantine.rules.runner import run_rules  # noqa: E402
from scan_bench import terraform_folder  # noqa: E402

IMPORTS = "import key_quarantine.cli.main"


def fresh_process_ms(code: str, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True)
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


def phases_ms(folder: Path, repeats: int, *, previous: bool) -> dict[str, float]:
    parse: Callable[[str], Any] = python_hcl2_parse if previous else hcl.parse
    samples: dict[str, list[float]] = {"parse": [], "model": [], "rules": [], "report": []}
    original = hcl.parse
    for _ in range(repeats):
        terraform_expressions.forget_caches()
        started = time.perf_counter()
        for path in sorted(folder.glob("*.tf")):
            parse(path.read_text(encoding="utf-8"))
        samples["parse"].append(time.perf_counter() - started)
        terraform_expressions.forget_caches()
        hcl.parse = parse  # type: ignore[assignment]
        try:
            started = time.perf_counter()
            stack = terraform.load_directory(folder)
            model_and_parse = time.perf_counter() - started
        finally:
            hcl.parse = original  # type: ignore[assignment]
        samples["model"].append(model_and_parse - samples["parse"][-1])
        started = time.perf_counter()
        findings = run_rules(AppModel([stack]))
        samples["rules"].append(time.perf_counter() - started)
        started = time.perf_counter()
        report.as_json(findings)
        samples["report"].append(time.perf_counter() - started)
    return {phase: round(statistics.median(values) * 1000, 1) for phase, values in samples.items()}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--terraform-resources", type=int, default=2_000)
    parser.add_argument("--repeats", type=int, default=5)
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="kq-scan-phases-") as scratch:
        folder = Path(scratch) / "terraform"
        terraform_folder(folder, arguments.terraform_resources)
        results = {
            "interpreter start (ms)": round(fresh_process_ms("pass", arguments.repeats), 1),
            "interpreter + scan imports (ms)": round(fresh_process_ms(IMPORTS, arguments.repeats), 1),
            "tree-sitter (ms)": phases_ms(folder, arguments.repeats, previous=False),
            "previous: python-hcl2 (ms)": phases_ms(folder, arguments.repeats, previous=True),
        }
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
