"""The undo watch: what one watched call costs the responder, by what it turns out to be.

    .venv/bin/python bench/undo_bench.py --runs 20

moto in process (``mock_aws``, with the tests' service-credential addition), the responder module as the Lambda
imports it, a fresh account per run. Each run: AWS's quarantine attach is answered (the user contained), then one
watched call's CloudTrail record (built as tests/handlers/undo_records.py builds it) goes through the batch path.
Scenarios: a new key for a user never contained; the responder's own TagUser; the holder's role session deleting
the deny (told, contained again); the holder removing our tags (told, nothing to redo). Reported per scenario: the
AWS calls (median, max, by operation) and the milliseconds (median, max) of the batch's answer.
Results: bench/results/undo.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # the tests' helpers: moto's missing service credentials, the records
RESPONDER_ROLE = "arn:aws:iam::123456789012:role/Security-KeyQuarantineResponderRole-1A2B3C4D5E6F"
SCENARIOS = ("never-contained", "responders-own-tags", "deny-deleted", "tags-removed")


def run(scenario: str) -> tuple[dict[str, int], float]:
    """One fresh account: contain, then answer one watched call; its calls and milliseconds."""
    import dataclasses  # noqa: PLC0415 - inside the mock, as the tests do

    from tests.handlers.conftest import REGION, build_account  # noqa: PLC0415
    from tests.handlers.test_responder_wiring import context_for, quarantine_event  # noqa: PLC0415
    from tests.handlers.undo_records import delivered, record, role_session, session_of  # noqa: PLC0415

    from key_quarantine.handlers import batch, responder  # noqa: PLC0415
    from key_quarantine.handlers.aws import Aws  # noqa: PLC0415
    from key_quarantine.handlers.settings import CONTAINMENT_POLICY_NAME, INCIDENT_TAG  # noqa: PLC0415

    account = build_account()
    settings = dataclasses.replace(account.settings, own_role_arns=frozenset({RESPONDER_ROLE}))
    responder.SETTINGS, responder.FINISHED, batch.GROUP_WORKERS = settings, batch.FinishedMemo(), 1
    context = context_for(account.account_id)
    responder.lambda_handler(quarantine_event(account, account.user), context)
    user = account.user
    if scenario == "never-contained":
        identity = session_of(account.account_id, "arn:aws:iam::123456789012:role/admin", "bob")
        call: tuple[str, dict[str, Any]] = ("CreateAccessKey", {"userName": account.bystander})
    elif scenario == "responders-own-tags":
        identity = session_of(account.account_id, RESPONDER_ROLE, "responder")
        call = ("TagUser", {"userName": user, "tags": [{"key": INCIDENT_TAG, "value": "x"}]})
    else:
        session = role_session(account)
        identity = session.identity
        if scenario == "deny-deleted":
            session.iam.delete_user_policy(UserName=user, PolicyName=CONTAINMENT_POLICY_NAME)
            call = ("DeleteUserPolicy", {"userName": user, "policyName": CONTAINMENT_POLICY_NAME})
        else:
            session.iam.untag_user(UserName=user, TagKeys=[INCIDENT_TAG])
            call = ("UntagUser", {"userName": user, "tagKeys": [INCIDENT_TAG]})
    event = delivered(account.account_id, record(account.account_id, identity, *call))
    aws = Aws(region=REGION)
    began = time.perf_counter()
    batch.respond_to_batch(
        [batch.Delivery("m", event)], batch.Responder(settings, aws, context.invoked_function_arn)
    )
    return dict(aws.calls), (time.perf_counter() - began) * 1000


def measure(scenario: str, runs: int) -> dict[str, Any]:
    from moto import mock_aws  # noqa: PLC0415
    from tests import moto_service_credentials  # noqa: PLC0415

    moto_service_credentials.install()
    totals, times, operations = [], [], Counter[str]()
    for _ in range(runs):
        with mock_aws():
            calls, ms = run(scenario)
        totals.append(sum(calls.values()))
        times.append(ms)
        operations.update(calls)
    return {
        "scenario": scenario,
        "runs": runs,
        "calls_median": statistics.median(totals),
        "calls_max": max(totals),
        "calls_by_operation_per_run": {k: v / runs for k, v in sorted(operations.items())},
        "ms_median": round(statistics.median(times), 1),
        "ms_max": round(max(times), 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20, help="fresh accounts per scenario (20)")
    arguments = parser.parse_args()
    for name, value in {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench"}.items():
        os.environ[name] = value
    os.environ["AWS_DEFAULT_REGION"] = "us-east-1"
    results = [measure(scenario, arguments.runs) for scenario in SCENARIOS]
    out = HERE / "results" / "undo.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(results, indent=1) + "\n")
    for result in results:
        print(json.dumps({k: v for k, v in result.items() if k != "calls_by_operation_per_run"}))


if __name__ == "__main__":
    main()
