"""The key's trail against the evidence it replaces: what each keeps of a known incident under a flood of reads.

The history is the tests' attacker (a backdoor user with a key and a password, AdministratorAccess, a role session,
a role trusting an outside account, a chained session, a miner in a second region) followed by N cheap reads
(DescribeInstances, newest), replayed to the real CloudTrail client (tests/handlers/cloudtrail_replay.py). The
*peer* is the evidence step at ``--peer-ref`` (git archive): LookupEvents by the leaked key only, capped at 1,000.
Each design runs in a fresh process on its own code. "CloudTrail time" is the time the calls take at CloudTrail's
2 LookupEvents a second per region (the trail paces itself; the peer's calls would be throttled to the same).

    .venv/bin/python bench/trail_bench.py [--reads 1500] [--peer-ref 01dc653]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.burst_bench import export_peer  # noqa: E402
from bench.synth_bench import machine  # noqa: E402


def history(reads: int) -> Any:
    from tests.handlers.attacker_history import KEY, SIGNAL, attacker_history  # noqa: PLC0415

    recorded = attacker_history()
    recorded.reads(
        KEY, reads, SIGNAL - timedelta(minutes=10)
    )  # one a second, from 10 minutes before the signal
    return recorded


def run_design(design: str, reads: int) -> dict[str, Any]:
    from tests.handlers.attacker_history import ACCOUNT, KEY, REGIONS, SIGNAL  # noqa: PLC0415
    from tests.handlers.cloudtrail_replay import CloudTrailReplay  # noqa: PLC0415

    recorded = history(reads)
    writes = {r["eventID"] for r in recorded.records if not r["readOnly"] or r["eventName"] == "AssumeRole"}
    now = SIGNAL + timedelta(minutes=15)
    replay = CloudTrailReplay(recorded.records, lambda: now)
    aws = replay.aws()
    started = time.perf_counter()
    if design == "trail":
        kept, sessions, changes, paced = _trail(aws, ACCOUNT, KEY, regions=REGIONS, signal=SIGNAL, now=now)
    else:
        kept, sessions, changes, paced = _peer(aws, ACCOUNT, KEY, REGIONS, SIGNAL), 0, 0, None
    wall = time.perf_counter() - started
    calls = sum(replay.calls.values())
    return {
        "design": design,
        "events_recorded": len(recorded.records),
        "lookup_calls": calls,
        "events_kept": len(kept),
        "writes_kept": len(writes & {e["EventId"] for e in kept}),
        "writes_recorded": len(writes),
        "sessions_found": sessions,
        "changes_found": changes,
        "cloudtrail_seconds": paced if paced is not None else round(max(replay.calls.values()) / 2, 1),
        "wall_seconds": round(wall, 2),
    }


def _trail(
    aws: Any, account: str, key: str, *, regions: Any, signal: Any, now: Any
) -> tuple[Any, int, int, float]:
    from key_quarantine.handlers.trail import Throttle, TrailQuery, follow_key  # noqa: PLC0415
    from key_quarantine.handlers.trail_changes import trails_evidence  # noqa: PLC0415

    waited = [0.0]
    throttle = Throttle(
        clock=lambda: waited[0], sleep=lambda s: waited.__setitem__(0, waited[0] + s), max_wait=1e9
    )
    trail = follow_key(
        lambda region: aws.client("cloudtrail", region),
        TrailQuery(account, key, tuple(regions), signal - timedelta(hours=24), now),
        throttle=throttle,
    )
    evidence = trails_evidence([trail], cap=1000)
    return evidence["events"], len(evidence["sessions"]), len(evidence["changes"]), round(waited[0], 1)


def _peer(aws: Any, account: str, key: str, regions: Any, signal: Any) -> Any:
    from key_quarantine.handlers.playbook import Incident, cloudtrail_activity  # noqa: PLC0415
    from key_quarantine.handlers.settings import Settings  # noqa: PLC0415
    from key_quarantine.handlers.triggers import Trigger, TriggerFamily  # noqa: PLC0415

    trigger = Trigger(TriggerFamily.MANUAL, account, "leaked-deployer", key, "bench")
    incident = Incident(trigger, Settings(regions=tuple(regions)), aws, target_keys=[key], started_at=signal)
    return cloudtrail_activity(incident)["events"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reads", type=int, default=1500)
    parser.add_argument("--peer-ref", default="01dc653")
    parser.add_argument("--design", choices=("trail", "peer"), help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.design:
        print(json.dumps(run_design(arguments.design, arguments.reads)))
        return
    results = []
    with tempfile.TemporaryDirectory() as folder:
        peer_src = export_peer(arguments.peer_ref, Path(folder))
        for design, source in (("trail", ROOT / "src"), ("peer", peer_src)):
            environment = {
                **os.environ,
                "PYTHONPATH": f"{source}{os.pathsep}{ROOT}",
                "AWS_ACCESS_KEY_ID": "b",
                "AWS_SECRET_ACCESS_KEY": "b",
                "AWS_DEFAULT_REGION": "us-east-1",
            }
            done = subprocess.run(
                [sys.executable, __file__, "--design", design, "--reads", str(arguments.reads)],
                env=environment,
                capture_output=True,
                text=True,
                check=True,
            )
            results.append(json.loads(done.stdout.strip().splitlines()[-1]))
    document = {
        "machine": machine(),
        "reads": arguments.reads,
        "peer_ref": arguments.peer_ref,
        "results": results,
    }
    (ROOT / "bench" / "results" / "trail.json").write_text(json.dumps(document, indent=2) + "\n")
    print(json.dumps(document, indent=2))


if __name__ == "__main__":
    main()
