"""What finding the user of a deleted key costs: rounds to containment and calls per incident (issue 11, item 2).

    .venv/bin/python bench/deleted_key_bench.py --incidents 20

Each incident is a fresh IAM user on a local moto server whose leaked key K1 was rotated (K2 created) and deleted
before the signal; CloudTrail's history of it is replayed to the real botocore client (moto has no LookupEvents,
tests/handlers/cloudtrail_replay.py). Rounds are counted as in respond_bench.py (overlapping calls form one round,
until both containment calls are done). The peer is the same signal for a key that still exists, the path that
was the only one before. Results: bench/results/deleted_key.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]  # respond_bench's helpers, and the recorded-history replay

from tests.handlers.cloudtrail_replay import CloudTrailReplay, History  # noqa: E402

from respond_bench import Call, _finish, rounds_to_containment, start_server  # noqa: E402

SHAPES = {
    "key only, key still exists (2017 Health shape): the peer": ("key-only", False),
    "key only, key rotated and deleted": ("key-only", True),
    "user and deleted key (GuardDuty, current Health)": ("user-and-key", True),
}


def run_shape(count: int, shape: str, deleted: bool) -> dict[str, Any]:
    from key_quarantine.handlers.aws import Aws  # noqa: PLC0415
    from key_quarantine.handlers.playbook import run_playbook  # noqa: PLC0415
    from key_quarantine.handlers.settings import Settings  # noqa: PLC0415
    from key_quarantine.handlers.triggers import manual_trigger  # noqa: PLC0415

    admin = Aws.with_credentials("bench", "bench")
    account = admin.client("sts").get_caller_identity()["Account"]
    history = History(account)
    now = datetime.now(UTC) + timedelta(minutes=30)  # every record delivered
    rounds, to_containment, calls_per_incident, lookups = [], [], [], []
    for number in range(count):
        user = f"{shape}-{'deleted' if deleted else 'kept'}-{number}"
        admin.iam.create_user(UserName=user)
        k1 = admin.iam.create_access_key(UserName=user)["AccessKey"]["AccessKeyId"]
        if deleted:
            k2 = admin.iam.create_access_key(UserName=user)["AccessKey"]["AccessKeyId"]
            admin.iam.delete_access_key(UserName=user, AccessKeyId=k1)
            history.call(k2, "DeleteAccessKey", datetime.now(UTC), user=user, request={"accessKeyId": k1})
        replay = CloudTrailReplay(history.records, lambda: now)
        aws, calls = _timed(replay.aws())
        trigger = manual_trigger(account, user if shape == "user-and-key" else None, k1)
        started = time.perf_counter()
        run_playbook(trigger, Settings(), aws)
        depth, contained_at = rounds_to_containment(calls)
        rounds.append(depth)
        to_containment.append((contained_at - started) * 1000)
        # the replay answers LookupEvents before botocore's before-call hooks, where Aws counts: add its own count
        calls_per_incident.append(sum(aws.calls.values()) + sum(replay.calls.values()))
        lookups.append(sum(replay.calls.values()))
    return {
        "rounds_to_containment": statistics.median(rounds),
        "max_rounds": max(rounds),
        "ms_to_containment_median": round(statistics.median(to_containment), 1),
        "calls_per_incident_median": statistics.median(calls_per_incident),
        "lookup_events_per_incident_median": statistics.median(lookups),
    }


def _timed(aws: Any) -> tuple[Any, list[Call]]:
    calls: list[Call] = []
    for service in ("iam", "cloudtrail"):
        client = aws.client(service)
        client.meta.events.register(  # before the replay answers (in before-call)
            "before-parameter-build", lambda model, **_: calls.append(Call(model.name, time.perf_counter()))
        )
        client.meta.events.register("after-call", lambda model, **_: _finish(calls, model.name))
    return aws, calls


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--incidents", type=int, default=20)
    parser.add_argument("--output", type=Path, default=HERE / "results" / "deleted_key.json")
    arguments = parser.parse_args()
    server, endpoint = start_server()
    moto_any_key = {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench"}  # moto accepts any key
    os.environ.update(AWS_ENDPOINT_URL=endpoint, **moto_any_key)
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    try:
        results = {
            "incidents_per_shape": arguments.incidents,
            "load_average": os.getloadavg(),
            "shapes": {name: run_shape(arguments.incidents, *shape) for name, shape in SHAPES.items()},
        }
    finally:
        server.stop()
    arguments.output.parent.mkdir(exist_ok=True)
    arguments.output.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
