"""Synth time with no pack, AwsSolutionsChecks, KeyQuarantineChecks and both, at several app sizes, in one run;
then `key-quarantine scan` time on the largest assembly.

    make bench            # = .venv/bin/python bench/synth_bench.py --users 500 2000 5000 --repeats 3
    .venv/bin/python bench/synth_bench.py --worst-case-only    # only the worst-case rows (2,000 users)

Each measurement is a fresh Python process running bench/generated_app.py (jsii starts once per process, as in
`cdk synth`). Two numbers per run: the whole app.synth() (where validation plugins run), and the time inside each
pack's validate() call, which is the pack's cost measured directly (the difference of two whole-synth times is
noisier than the costs being compared). Medians over --repeats. Results go to bench/results/synth.json and a
Markdown table on standard output (copied into BENCHMARKS.md).
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, cast

HERE = Path(__file__).resolve().parent
PACKS = ("none", "aws-solutions", "key-quarantine", "both")
#: The worst case for KeyQuarantineChecks: every user's key unmonitored, one KQ1 error each, all handed to CDK.
WORST_CASE_PACKS = ("none", "aws-solutions", "key-quarantine")
Timings = dict[str, float]


def synth_once(users: int, stacks: int, packs: str, outdir: Path, *, unmonitored: bool) -> Timings:
    """One synth in a fresh process; ``cpu_s`` is the CPU time of the whole process tree (Python and jsii's
    node), which a busy shared machine inflates far less than wall time."""
    command = [sys.executable, str(HERE / "generated_app.py"), "--users", str(users), "--stacks", str(stacks)]
    command += ["--packs", packs, "--outdir", str(outdir)] + (["--unmonitored"] if unmonitored else [])
    before = _children_cpu_seconds()
    result = subprocess.run(command, capture_output=True, text=True, check=True)
    timings: Timings = json.loads(result.stdout.strip().splitlines()[-1])
    timings["cpu_s"] = _children_cpu_seconds() - before
    return timings


def _children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def median_run(
    users: int, stacks: int, packs: str, repeats: int, workdir: Path, *, unmonitored: bool = False
) -> Timings:
    runs = []
    for attempt in range(repeats):
        outdir = workdir / f"{users}-{packs}-{attempt}{'-unmonitored' if unmonitored else ''}"
        runs.append(synth_once(users, stacks, packs, outdir, unmonitored=unmonitored))
    return {key: statistics.median(run[key] for run in runs) for key in runs[0]}


def scan_seconds(assembly: Path, repeats: int) -> float:
    executable = Path(sys.executable).parent / "key-quarantine"
    command = [str(executable), "scan", str(assembly), "--format", "json", "--fail-on", "never"]
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        subprocess.run(command, capture_output=True, check=True)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def machine() -> str:
    cpuinfo = Path("/proc/cpuinfo").read_text().splitlines()
    model = next(
        (line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name")),
        platform.processor(),
    )
    cores = sum(1 for line in cpuinfo if line.startswith("processor"))
    return f"{model}, {cores} cores, Python {platform.python_version()}, {platform.system()} {platform.release()}"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--users", type=int, nargs="+", default=[500, 2000, 5000])
    parser.add_argument("--stacks", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--output", type=Path, default=HERE / "results" / "synth.json")
    parser.add_argument("--worst-case-users", type=int, default=2000)
    parser.add_argument("--worst-case-only", action="store_true", help="only the worst-case rows")
    parser.add_argument(
        "--render", type=Path, metavar="JSON", help="only print the table of an earlier run's results"
    )
    arguments = parser.parse_args()
    if arguments.render:
        saved = json.loads(arguments.render.read_text())
        print(render(saved, arguments.users) if "runs" in saved else render_worst_case(saved))
        return
    if arguments.worst_case_only:
        run_worst_case_only(arguments)
        return
    largest = max(arguments.users)
    results: dict[str, object] = {
        "machine": machine(),
        "stacks": arguments.stacks,
        "repeats": arguments.repeats,
    }
    with tempfile.TemporaryDirectory(prefix="kq-bench-") as scratch:
        workdir = Path(scratch)
        runs: dict[str, dict[str, Timings]] = {}
        for users in arguments.users:
            runs[str(users)] = {
                p: median_run(users, arguments.stacks, p, arguments.repeats, workdir) for p in PACKS
            }
            print(f"{users} users done", file=sys.stderr)
        runs[f"{largest}-unmonitored"] = {
            "key-quarantine": median_run(
                largest, arguments.stacks, "key-quarantine", arguments.repeats, workdir, unmonitored=True
            )
        }
        results["runs"] = runs
        results["scan_s"] = scan_seconds(workdir / f"{largest}-key-quarantine-0", arguments.repeats)
        results["worst_case"] = worst_case(arguments, workdir)
    arguments.output.parent.mkdir(parents=True, exist_ok=True)
    arguments.output.write_text(json.dumps(results, indent=2) + "\n")
    print(render(results, arguments.users))
    print(render_worst_case(results))


def worst_case(arguments: argparse.Namespace, workdir: Path) -> dict[str, object]:
    """No pack, AwsSolutions and KeyQuarantine on one app whose every key is unmonitored, interleaved per
    repeat so that a change in the machine's load falls on all three alike."""
    users = arguments.worst_case_users
    runs: dict[str, list[Timings]] = {pack: [] for pack in WORST_CASE_PACKS}
    for attempt in range(arguments.repeats):
        for pack in WORST_CASE_PACKS:
            outdir = workdir / f"worst-{users}-{pack}-{attempt}"
            runs[pack].append(synth_once(users, arguments.stacks, pack, outdir, unmonitored=True))
    medians = {
        pack: {key: statistics.median(run[key] for run in rs) for key in rs[0]} for pack, rs in runs.items()
    }
    findings = json.loads(
        (workdir / f"worst-{users}-key-quarantine-0" / "validation-report.json").read_text()
    )
    (entry,) = [p for p in findings["pluginReports"] if p["pluginName"] == "KeyQuarantine"]
    return {
        "users": users,
        "medians": medians,
        "kq1_reported": sum(
            len(v["violatingConstructs"]) for v in entry["violations"] if v["ruleName"] == "KQ1"
        ),
    }


def run_worst_case_only(arguments: argparse.Namespace) -> None:
    results: dict[str, object] = {
        "machine": machine(),
        "stacks": arguments.stacks,
        "repeats": arguments.repeats,
    }
    with tempfile.TemporaryDirectory(prefix="kq-bench-") as scratch:
        results["worst_case"] = worst_case(arguments, Path(scratch))
    output = arguments.output.with_name("synth-worst-case.json")
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(results, indent=2) + "\n")
    print(render_worst_case(results))


def render_worst_case(results: dict[str, object]) -> str:
    worst = cast("dict[str, Any]", results["worst_case"])
    medians = worst["medians"]
    base, base_cpu = medians["none"]["synth_s"], medians["none"]["cpu_s"]
    aws = medians["aws-solutions"]["synth_s"] - base
    kq = medians["key-quarantine"]["synth_s"] - base
    aws_cpu = medians["aws-solutions"]["cpu_s"] - base_cpu
    kq_cpu = medians["key-quarantine"]["cpu_s"] - base_cpu
    return "\n".join(
        [
            f"Worst case: {worst['users']} users, every key unmonitored ({worst['kq1_reported']} KQ1 errors reported "
            f"to CDK). Machine: {results['machine']}. Median of {results['repeats']} fresh processes, interleaved.",
            "",
            "| pack | whole synth (s) | overhead over no pack (s) | the pack's validate (s) | CPU, process tree (s) "
            "| CPU overhead over no pack (s) |",
            "| --- | ---: | ---: | ---: | ---: | ---: |",
            f"| none | {base:.2f} | — | — | {base_cpu:.2f} | — |",
            f"| AwsSolutionsChecks | {medians['aws-solutions']['synth_s']:.2f} | {aws:.2f} "
            f"| {medians['aws-solutions']['aws_solutions_validate_s']:.2f} | {medians['aws-solutions']['cpu_s']:.2f} "
            f"| {aws_cpu:.2f} |",
            f"| KeyQuarantineChecks | {medians['key-quarantine']['synth_s']:.2f} | {kq:.2f} "
            f"| {medians['key-quarantine']['key_quarantine_validate_s']:.2f} | {medians['key-quarantine']['cpu_s']:.2f} "
            f"| {kq_cpu:.2f} |",
            "",
            f"KeyQuarantine's overhead / AwsSolutions': {kq / aws:.2f}x wall, {kq_cpu / aws_cpu:.2f}x CPU "
            "(goal: at most 0.5x).",
        ]
    )


def render(results: dict[str, object], sizes: list[int]) -> str:
    runs = cast("dict[str, dict[str, Timings]]", results["runs"])
    lines = [
        f"Machine: {results['machine']}. Median of {results['repeats']} fresh processes.",
        "",
        "| users (+ keys) | stacks | synth, no pack (s) | synth, AwsSolutions (s) | synth, KeyQuarantine (s) | synth, both (s) "
        "| AwsSolutions validate (s) | KeyQuarantine validate (s) | both: AwsSolutions + KeyQuarantine validate (s) |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for users in sizes:
        row = runs[str(users)]
        lines.append(
            f"| {users} | {row['none']['stacks']:.0f} | {row['none']['synth_s']:.2f} | {row['aws-solutions']['synth_s']:.2f} "
            f"| {row['key-quarantine']['synth_s']:.2f} | {row['both']['synth_s']:.2f} "
            f"| {row['aws-solutions']['aws_solutions_validate_s']:.2f} | {row['key-quarantine']['key_quarantine_validate_s']:.2f} "
            f"| {row['both']['aws_solutions_validate_s']:.2f} + {row['both']['key_quarantine_validate_s']:.2f} |"
        )
    small, large = min(sizes), max(sizes)
    cost = {size: runs[str(size)]["key-quarantine"]["key_quarantine_validate_s"] for size in sizes}
    worst = runs[f"{large}-unmonitored"]["key-quarantine"]
    lines += [
        "",
        f"KeyQuarantineChecks cost at {large} users / at {small} users: {cost[large] / cost[small]:.1f}x "
        f"({cost[large]:.2f} s / {cost[small]:.2f} s; linear would be {large / small:.0f}x).",
        f"Worst case, {large} unmonitored users (one KQ1 error each, all reported through jsii): "
        f"KeyQuarantine validate {worst['key_quarantine_validate_s']:.2f} s, whole synth {worst['synth_s']:.2f} s.",
        f"`key-quarantine scan` of the {large}-user assembly: {results['scan_s']:.2f} s (whole process, median).",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
