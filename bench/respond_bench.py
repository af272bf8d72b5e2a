"""How fast a leaked key is contained: sequential AWS call rounds from event to containment, wall time per
incident against a local moto server, and the cold import time of the Lambda module.

    .venv/bin/python bench/respond_bench.py --incidents 50

Rounds: every API call is timed (botocore before/after hooks); calls that overlap in time form one round. The
number reported is how many rounds complete before both containment calls (UpdateAccessKey, PutUserPolicy)
have finished. The floor is 2: the responder must learn the user's exempt tag before changing anything, then
contain. The peer is the same playbook run strictly one call after another. Results: bench/results/respond.json.
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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
CONTAINMENT = {"UpdateAccessKey", "PutUserPolicy"}


@dataclass
class Call:
    name: str
    start: float
    end: float = 0.0


def start_server() -> tuple[Any, str]:
    from moto.server import ThreadedMotoServer  # noqa: PLC0415 - the benchmark's own dependency

    sys.path.insert(
        0, str(HERE.parent)
    )  # the tests' moto addition: moto 5.2.5 has no service-specific credentials
    from tests import moto_service_credentials  # noqa: PLC0415

    moto_service_credentials.install()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    return server, f"http://{host}:{port}"


def timed_aws(endpoint: str) -> tuple[Any, list[Call]]:
    """Warm clients (as in a Lambda environment after its first event) whose every call is timed."""
    from key_quarantine.handlers.aws import Aws  # noqa: PLC0415

    os.environ["AWS_ENDPOINT_URL"] = endpoint
    aws = Aws.with_credentials("bench", "bench")  # moto accepts any key
    calls: list[Call] = []
    for service in ("iam", "sts"):
        client = aws.client(service)
        client.meta.events.register(
            "before-call", lambda model, **_: calls.append(Call(model.name, time.perf_counter()))
        )
        client.meta.events.register("after-call", lambda model, **_: _finish(calls, model.name))
    return aws, calls


def _finish(calls: list[Call], name: str) -> None:
    for call in reversed(calls):
        if call.name == name and not call.end:
            call.end = time.perf_counter()
            return


def rounds_to_containment(calls: list[Call]) -> tuple[int, float]:
    """Rounds of overlapping calls until both containment calls are done; and that moment."""
    contained_at = max(c.end for c in calls if c.name in CONTAINMENT)
    before = sorted((c for c in calls if c.start < contained_at), key=lambda c: c.start)
    rounds, round_end = 0, -1.0
    for call in before:
        if call.start >= round_end:
            rounds += 1
            round_end = call.end
        else:
            round_end = max(round_end, call.end)
    return rounds, contained_at


def run_incidents(endpoint: str, count: int, shape: str, *, sequential: bool) -> dict[str, Any]:
    from key_quarantine.handlers import playbook  # noqa: PLC0415
    from key_quarantine.handlers.settings import Settings  # noqa: PLC0415
    from key_quarantine.handlers.steps import resolve  # noqa: PLC0415
    from key_quarantine.handlers.triggers import manual_trigger  # noqa: PLC0415

    aws, calls = timed_aws(endpoint)
    iam, account = aws.client("iam"), aws.client("sts").get_caller_identity()["Account"]
    rounds, to_containment, whole = [], [], []
    for number in range(count):
        user = f"{shape}-{'seq' if sequential else 'par'}-{number}"
        iam.create_user(UserName=user)
        key = iam.create_access_key(UserName=user)["AccessKey"]["AccessKeyId"]
        trigger = manual_trigger(
            account, None if shape == "key-only" else user, None if shape == "user-only" else key
        )
        calls.clear()
        started = time.perf_counter()
        if sequential:
            with _one_call_at_a_time(playbook, resolve):
                playbook.run_playbook(trigger, Settings(), aws)
        else:
            playbook.run_playbook(trigger, Settings(), aws)
        finished = time.perf_counter()
        depth, contained_at = rounds_to_containment(calls)
        rounds.append(depth)
        to_containment.append((contained_at - started) * 1000)
        whole.append((finished - started) * 1000)
    return {
        "rounds_to_containment": statistics.median(rounds),
        "max_rounds": max(rounds),
        "ms_to_containment_median": statistics.median(to_containment),
        "ms_per_incident_median": statistics.median(whole),
    }


class _one_call_at_a_time:  # noqa: N801 - used as a context manager
    """The peer: the same playbook with its parallel rounds run one call after another."""

    def __init__(self, *modules: Any) -> None:
        self._modules = modules  # every module that opens a parallel round

    def __enter__(self) -> None:
        import concurrent.futures  # noqa: PLC0415

        class Serial(concurrent.futures.ThreadPoolExecutor):
            def __init__(self, *_: Any, **__: Any) -> None:
                super().__init__(max_workers=1)

        self._original = concurrent.futures.ThreadPoolExecutor
        for module in self._modules:
            module.ThreadPoolExecutor = Serial

    def __exit__(self, *_: object) -> None:
        for module in self._modules:
            module.ThreadPoolExecutor = self._original


def cold_import_ms(
    module: str, runs: int, *, already_imported: str = "time", shipped_bytecode: bool = False
) -> float:
    """Median import time of ``module`` in fresh processes, after ``already_imported`` (not counted).

    Installed packages (botocore) import from the bytecode pip compiled at install time. Our own modules are
    compiled from source on every import, as on Lambda, whose /var/task is read-only so Python cannot cache
    bytecode there. ``shipped_bytecode`` imports them from the function asset as ``handler_code`` bundles it when
    the runtime's Python is at hand (this interpreter standing in for the runtime's).
    """
    code = f"import time, {already_imported}; t = time.perf_counter(); import {module}; print((time.perf_counter() - t) * 1000)"
    environment = {**os.environ, "AWS_DEFAULT_REGION": "us-east-1", "PYTHONDONTWRITEBYTECODE": "1"}
    if shipped_bytecode:
        from key_quarantine.constructs.handler_code import CompiledSources  # noqa: PLC0415 - imports aws_cdk

        asset = tempfile.mkdtemp(prefix="kq-asset-")
        CompiledSources(sys.executable).try_bundle(asset)
        environment["PYTHONPATH"] = asset
    times = [
        float(
            subprocess.run(
                [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=environment
            ).stdout
        )
        for _ in range(runs)
    ]
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--incidents", type=int, default=50)
    parser.add_argument("--import-runs", type=int, default=20)
    parser.add_argument("--output", type=Path, default=HERE / "results" / "respond.json")
    arguments = parser.parse_args()
    server, endpoint = start_server()
    try:
        shapes = {}
        for shape in ("user-and-key", "key-only", "user-only"):
            shapes[shape] = {
                "playbook": run_incidents(endpoint, arguments.incidents, shape, sequential=False),
                "one-call-at-a-time": run_incidents(endpoint, arguments.incidents, shape, sequential=True),
            }
    finally:
        server.stop()
    results = {
        "incidents_per_shape": arguments.incidents,
        "shapes": shapes,
        "cold_import_ms": {
            "boto3 (what most Lambdas import)": cold_import_ms("boto3", arguments.import_runs),
            "botocore.session (the floor for any AWS SDK call)": cold_import_ms(
                "botocore.session", arguments.import_runs
            ),
            "key_quarantine.handlers.responder": cold_import_ms(
                "key_quarantine.handlers.responder", arguments.import_runs
            ),
            "key_quarantine.handlers.responder, botocore already imported (our own code)": cold_import_ms(
                "key_quarantine.handlers.responder",
                arguments.import_runs,
                already_imported="botocore.session",
            ),
            "key_quarantine.handlers.responder, from the asset with its bytecode": cold_import_ms(
                "key_quarantine.handlers.responder", arguments.import_runs, shipped_bytecode=True
            ),
            "the same, botocore already imported (our own code, from bytecode)": cold_import_ms(
                "key_quarantine.handlers.responder",
                arguments.import_runs,
                already_imported="botocore.session",
                shipped_bytecode=True,
            ),
        },
    }
    arguments.output.parent.mkdir(parents=True, exist_ok=True)
    arguments.output.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
