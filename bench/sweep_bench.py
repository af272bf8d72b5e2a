"""The audit's listing calls and wall time for 5,000 users on a moto server, beside per-user listing.

    .venv/bin/python bench/sweep_bench.py --users 5000

Users are created in the moto server's backend directly (the same process), then both approaches run over HTTP:
the audit (credential report + quarantine policies' entities) and the per-user peer (ListUsers pages, then
ListAccessKeys and GetAccessKeyLastUsed for every user and key). Results: bench/results/sweep.json and stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path
from typing import Any

from respond_bench import start_server

HERE = Path(__file__).resolve().parent


def per_user_listing(aws: Any) -> int:
    """The peer: what a sweep without the credential report has to call."""
    iam = aws.iam
    for page in iam.get_paginator("list_users").paginate():
        for user in page["Users"]:
            for key in iam.list_access_keys(UserName=user["UserName"])["AccessKeyMetadata"]:
                iam.get_access_key_last_used(AccessKeyId=key["AccessKeyId"])
    return sum(aws.calls.values())


def main() -> None:
    from moto.core import DEFAULT_ACCOUNT_ID  # noqa: PLC0415 - benchmark-only dependencies
    from moto.iam.models import iam_backends  # noqa: PLC0415

    from key_quarantine.handlers.aws import Aws  # noqa: PLC0415
    from key_quarantine.handlers.sweep import run_audit  # noqa: PLC0415

    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--users", type=int, default=5000)
    parser.add_argument("--output", type=Path, default=HERE / "results" / "sweep.json")
    arguments = parser.parse_args()
    server, os.environ["AWS_ENDPOINT_URL"] = start_server()
    try:
        backend = iam_backends[DEFAULT_ACCOUNT_ID]["global"]
        for number in range(arguments.users):
            backend.create_user(region_name="us-east-1", user_name=f"user-{number}", path="/", tags=[])
            backend.create_access_key(user_name=f"user-{number}")
        audit_aws = Aws.with_credentials("bench", "bench")  # moto accepts any key
        started = time.perf_counter()
        audit = run_audit(audit_aws)
        audit_seconds = time.perf_counter() - started
        peer_aws = Aws.with_credentials("bench", "bench")
        started = time.perf_counter()
        peer_calls = per_user_listing(peer_aws)
        peer_seconds = time.perf_counter() - started
    finally:
        server.stop()
    audit_calls = sum(audit.calls.values())
    results = {
        "users": arguments.users,
        "audit": {"api_calls": audit_calls, "calls": audit.calls, "seconds": round(audit_seconds, 2)},
        "per_user_listing": {"api_calls": peer_calls, "seconds": round(peer_seconds, 2)},
        "fewer_calls": round(peer_calls / audit_calls, 1),
    }
    arguments.output.parent.mkdir(parents=True, exist_ok=True)
    arguments.output.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
