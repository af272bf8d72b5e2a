"""What organization mode costs the responder: API calls and sequential rounds per response, against the same
events answered in the responder's own account; and the member template's size and synthesis time.

    .venv/bin/python bench/org_bench.py --members 50 --events-per-member 4

In-process moto (mock_aws): an organization with N member accounts, each with a leaked user and the member role
from the synthesized member template. Every member gets the same number of quarantine events (the first one
contains, the others are replays the ledger answers). The peer is the single-account responder: the same events
in its own account. Times are moto's, not AWS's: call counts are the result; times only compare the two modes.
Results: bench/results/org.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REGION = "us-east-1"


@dataclass(frozen=True)
class Context:
    invoked_function_arn: str


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--members", type=int, default=50)
    parser.add_argument("--events-per-member", type=int, default=4)
    parser.add_argument("--output", type=Path, default=HERE / "results" / "org.json")
    args = parser.parse_args()
    os.environ.update(
        {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench", "AWS_DEFAULT_REGION": REGION}
    )
    os.environ.pop("AWS_ENDPOINT_URL", None)
    sys.path.insert(0, str(HERE.parent / "src"))
    template, synth_seconds = _member_template()
    results = {
        "members": args.members,
        "events_per_member": args.events_per_member,
        "member_template_bytes": len(json.dumps(template, separators=(",", ":")).encode()),
        "member_template_synth_seconds": round(synth_seconds, 2),
        "organization": _run(template, args.members, args.events_per_member, organization=True),
        "single_account": _run(template, args.members, args.events_per_member, organization=False),
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=2))
    print(json.dumps(results, indent=2))


def _member_template() -> tuple[dict[str, Any], float]:
    from key_quarantine.constructs.organization_member import member_template  # noqa: PLC0415

    started = time.perf_counter()
    template = member_template()
    return template, time.perf_counter() - started


def _run(template: dict[str, Any], members: int, per_member: int, *, organization: bool) -> dict[str, Any]:
    import boto3  # noqa: PLC0415
    from moto import mock_aws  # noqa: PLC0415

    from key_quarantine.handlers import responder  # noqa: PLC0415
    from key_quarantine.handlers.aws import Aws  # noqa: PLC0415
    from key_quarantine.handlers.organization import MEMBER_ROLE_NAME, Membership  # noqa: PLC0415
    from key_quarantine.handlers.settings import Settings  # noqa: PLC0415

    with mock_aws():
        central = boto3.client("sts", region_name=REGION).get_caller_identity()["Account"]
        table = "ledger"
        boto3.client("dynamodb", region_name=REGION).create_table(
            TableName=table,
            KeySchema=[{"AttributeName": "incident_id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "incident_id", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        accounts = _accounts(template, members) if organization else [(central, boto3.client("iam"))]
        for _account, iam in accounts:
            for index in range(members if not organization else 1):
                user = f"leaked-{index}" if not organization else "leaked-0"
                iam.create_user(UserName=user)
                iam.create_access_key(UserName=user)
        responder.SETTINGS = Settings(
            ledger_table=table, member_role_name=MEMBER_ROLE_NAME if organization else None
        )
        responder.AWS = Aws(region=REGION)
        responder.MEMBERSHIP = Membership(responder.AWS)
        context = Context(f"arn:aws:lambda:{REGION}:{central}:function:responder")
        events = [
            (account, f"leaked-{index if not organization else 0}")
            for account, _ in accounts
            for index in range(members if not organization else 1)
            for _ in range(per_member)
        ]
        calls: Counter[str] = Counter()
        seconds = []
        for account, user in events:
            started = time.perf_counter()
            result = responder.lambda_handler(_event(account, user), context)
            seconds.append(time.perf_counter() - started)
            if result["status"] != "responded":
                raise SystemExit(f"the benchmark's event was not answered: {result}")
            calls.update(result["calls"])  # the responder's account and the member's, from one counter each
    return {
        "events": len(events),
        "calls_per_event": round(sum(calls.values()) / len(events), 2),
        "calls": dict(sorted(calls.items())),
        "median_ms_per_event_on_moto": round(statistics.median(seconds) * 1000, 1),
    }


def _accounts(template: dict[str, Any], members: int) -> list[tuple[str, Any]]:
    """N member accounts, each with a role of the member role's name. moto checks no permissions here (the
    test suite proves the template's role is enough, under moto's IAM enforcement): this counts calls."""
    import boto3  # noqa: PLC0415

    orgs = boto3.client("organizations", region_name=REGION)
    orgs.create_organization(FeatureSet="ALL")
    (role,) = [
        r["Properties"] for r in template["Resources"].values() if "RoleName" in r.get("Properties", {})
    ]
    trust = {"Version": "2012-10-17", "Statement": []}
    found = []
    for index in range(members):
        account = orgs.create_account(AccountName=f"m{index}", Email=f"m{index}@example.com")[
            "CreateAccountStatus"
        ]["AccountId"]
        credentials = boto3.client("sts", region_name=REGION).assume_role(
            RoleArn=f"arn:aws:iam::{account}:role/OrganizationAccountAccessRole", RoleSessionName="bench"
        )["Credentials"]
        iam = boto3.client(
            "iam",
            aws_access_key_id=credentials["AccessKeyId"],
            aws_secret_access_key=credentials["SecretAccessKey"],
            aws_session_token=credentials["SessionToken"],
        )
        iam.create_role(RoleName=role["RoleName"], AssumeRolePolicyDocument=json.dumps(trust))
        found.append((account, iam))
    return found


def _event(account: str, user: str) -> dict[str, Any]:
    from key_quarantine.data import signal_event  # noqa: PLC0415

    event: dict[str, Any] = json.loads(json.dumps(signal_event("cloudtrail-attach-quarantine")))
    event["account"] = event["detail"]["recipientAccountId"] = account
    event["detail"]["requestParameters"]["userName"] = user
    return event


if __name__ == "__main__":
    main()
