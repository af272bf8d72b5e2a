"""Bursts: what 10,000 matching events for one key, and 1,000 events for 500 keys in one minute, cost.

    .venv/bin/python bench/burst_bench.py                      # both designs, both scenarios
    .venv/bin/python bench/burst_bench.py --events 2000 --keys 100 --peer-ref ''   # quicker, no peer

Each run is a fresh process with moto in process (``mock_aws``) and the responder module imported as the Lambda
does. Buffered (this design): the events are handed to the handler as the SQS event source mapping delivers them,
in batches of ``DEFAULT_BATCH_SIZE``, one warm execution environment. Peer (the direct-invoke design, the code at
``--peer-ref``, exported from git): one invocation per event, all in one warm execution environment (its most
favourable case: a real burst spreads over many environments, each paying its cold start and its own reads). Reported: events handled, AWS
calls made (by operation and in all), incidents in the ledger, notifications, containments (UpdateAccessKey),
deliveries that would be retried then dead-lettered, wall time. Results: bench/results/burst.json.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import subprocess
import sys
import tarfile
import tempfile
import time
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from io import BytesIO
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
REGION = "us-east-1"
BATCH_SIZE = (
    100  # key_quarantine.constructs.responder_queue.DEFAULT_BATCH_SIZE (not imported: no aws_cdk here)
)


def invoke_model(account: str, user: str, key: str, at: datetime) -> dict[str, Any]:
    """An EventBridge event carrying a CloudTrail InvokeModel record made with a long-lived user key."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "AWS API Call via CloudTrail",
        "source": "aws.bedrock",
        "account": account,
        "time": at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": REGION,
        "resources": [],
        "detail": {
            "eventVersion": "1.09",
            "userIdentity": {
                "type": "IAMUser",
                "principalId": "AIDAEXAMPLEPRINCIPAL1",
                "arn": f"arn:aws:iam::{account}:user/{user}",
                "accountId": account,
                "accessKeyId": key,
                "userName": user,
            },
            "eventTime": at.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "eventSource": "bedrock.amazonaws.com",
            "eventName": "InvokeModel",
            "awsRegion": REGION,
            "sourceIPAddress": "203.0.113.7",
            "eventID": str(uuid.uuid4()),
            "readOnly": True,
            "eventType": "AwsApiCall",
            "managementEvent": True,
            "recipientAccountId": account,
        },
    }


def build_account(users: int) -> dict[str, Any]:
    import boto3  # noqa: PLC0415 - inside the mock

    iam, sqs, sns = (boto3.client(s, region_name=REGION) for s in ("iam", "sqs", "sns"))
    dynamodb = boto3.client("dynamodb", region_name=REGION)
    keys = {}
    for number in range(users):
        user = f"leaked-{number:04}"
        iam.create_user(UserName=user)
        keys[user] = iam.create_access_key(UserName=user)["AccessKey"]["AccessKeyId"]
    topic = sns.create_topic(Name="alerts")["TopicArn"]
    inbox = sqs.create_queue(QueueName="inbox")["QueueUrl"]
    inbox_arn = sqs.get_queue_attributes(QueueUrl=inbox, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=inbox_arn)
    boto3.client("s3", region_name=REGION).create_bucket(Bucket="evidence")
    dynamodb.create_table(
        TableName="ledger",
        KeySchema=[{"AttributeName": "incident_id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "incident_id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    dynamodb.create_table(
        TableName="signals",
        KeySchema=[
            {"AttributeName": "identity", "KeyType": "HASH"},
            {"AttributeName": "at", "KeyType": "RANGE"},
        ],
        AttributeDefinitions=[
            {"AttributeName": "identity", "AttributeType": "S"},
            {"AttributeName": "at", "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    account = boto3.client("sts", region_name=REGION).get_caller_identity()["Account"]
    return {"account": account, "keys": keys, "topic": topic, "inbox": inbox}


def run_once(design: str, scenario: str, events: int, keys: int) -> dict[str, Any]:
    """One design on one scenario, in this process (the key_quarantine on sys.path is the design's code)."""
    from moto import mock_aws  # noqa: PLC0415

    # the tests' moto addition: moto 5.2.5 has no service-specific credentials, which containment lists (without it
    # every batch fails its deactivate-credentials step and is handed back)
    sys.path.append(str(ROOT))
    from tests import moto_service_credentials  # noqa: PLC0415

    moto_service_credentials.install()
    for name, value in {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench"}.items():
        os.environ[name] = value
    os.environ["AWS_DEFAULT_REGION"] = REGION
    with mock_aws():
        setup = build_account(1 if scenario == "one-key" else keys)
        settings_module = importlib.import_module("key_quarantine.handlers.settings")
        responder = importlib.import_module("key_quarantine.handlers.responder")
        if (
            design == "buffered"
        ):  # moto's DynamoDB is not thread-safe: keys one at a time (slower, not faster)
            importlib.import_module("key_quarantine.handlers.batch").GROUP_WORKERS = 1
        responder.SETTINGS = settings_module.Settings(
            topic_arn=setup["topic"],
            evidence_bucket="evidence",
            ledger_table="ledger",
            signals_table="signals",
            contain_categories=frozenset({"llmjacking"}),
        )
        start_at = datetime.now(UTC)
        users = list(setup["keys"])
        stream = [
            invoke_model(
                setup["account"],
                users[n % len(users)],
                setup["keys"][users[n % len(users)]],
                start_at + timedelta(seconds=n * 60 // events),
            )
            for n in range(events)
        ]
        context = type(
            "Context", (), {"invoked_function_arn": f"arn:aws:lambda:{REGION}:{setup['account']}:function:r"}
        )
        calls: Counter[str] = Counter()
        retried = 0
        began = time.perf_counter()
        if design == "buffered":
            for first in range(0, len(stream), BATCH_SIZE):
                records = [
                    {"messageId": str(uuid.uuid4()), "body": json.dumps(e), "eventSource": "aws:sqs"}
                    for e in stream[first : first + BATCH_SIZE]
                ]
                result = responder.lambda_handler({"Records": records}, context)
                calls.update(responder.AWS.calls)
                retried += len(result["batchItemFailures"])
        else:
            for event in stream:
                responder.AWS.calls.clear()
                try:
                    responder.lambda_handler(event, context)
                except responder.IncompleteResponseError:
                    retried += 1
                calls.update(responder.AWS.calls)
        wall = time.perf_counter() - began
        return {
            "design": design,
            "scenario": scenario,
            "events": events,
            "keys": len(users),
            "calls": sum(calls.values()),
            "calls_by_operation": dict(sorted(calls.items())),
            "containments": calls["iam:UpdateAccessKey"],
            "incidents": ledger_items(),
            "notifications": inbox_count(setup["inbox"]),
            "retried_or_dead_lettered": retried,
            "contained_keys": contained(setup["keys"]),
            "wall_seconds": round(wall, 2),
        }


def ledger_items() -> int:
    import boto3  # noqa: PLC0415

    return int(boto3.client("dynamodb", region_name=REGION).scan(TableName="ledger", Select="COUNT")["Count"])


def inbox_count(inbox: str) -> int:
    import boto3  # noqa: PLC0415

    attributes = boto3.client("sqs", region_name=REGION).get_queue_attributes(
        QueueUrl=inbox, AttributeNames=["ApproximateNumberOfMessages"]
    )
    return int(attributes["Attributes"]["ApproximateNumberOfMessages"])


def contained(keys: dict[str, str]) -> int:
    import boto3  # noqa: PLC0415

    iam = boto3.client("iam", region_name=REGION)
    return sum(
        1
        for user in keys
        if all(k["Status"] == "Inactive" for k in iam.list_access_keys(UserName=user)["AccessKeyMetadata"])
    )


def export_peer(ref: str, into: Path) -> Path:
    """The package as it is at ``ref`` (git archive), so the peer runs its own code."""
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", ref, "src/key_quarantine"],
        capture_output=True,
        check=True,
    ).stdout
    with tarfile.open(fileobj=BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")
    return into / "src"


def measure(design: str, scenario: str, arguments: argparse.Namespace, source: Path) -> dict[str, Any]:
    events = arguments.events if design == "buffered" else arguments.peer_events
    command = [sys.executable, __file__, "--run", design, "--scenario", scenario]
    command += [
        "--events",
        str(events if scenario == "one-key" else 2 * arguments.keys),
        "--keys",
        str(arguments.keys),
    ]
    environment = {**os.environ, "PYTHONPATH": str(source)}
    done = subprocess.run(command, env=environment, capture_output=True, text=True, check=True)
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=10_000, help="events for the one-key burst (10000)")
    parser.add_argument(
        "--keys", type=int, default=500, help="keys abused in the same minute, 2 events each (500)"
    )
    parser.add_argument("--peer-ref", default="main", help="git ref of the direct-invoke peer ('' to skip)")
    parser.add_argument(
        "--peer-events",
        type=int,
        default=1_000,
        help="events for the peer's one-key burst (1000: its cost grows with the square of the burst on moto)",
    )
    parser.add_argument("--run", choices=("buffered", "direct"), help=argparse.SUPPRESS)
    parser.add_argument("--scenario", choices=("one-key", "many-keys"), help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.run:
        print(json.dumps(run_once(arguments.run, arguments.scenario, arguments.events, arguments.keys)))
        return
    results = []
    with tempfile.TemporaryDirectory() as folder:
        designs = [("buffered", ROOT / "src")]
        if arguments.peer_ref:
            designs.append(("direct", export_peer(arguments.peer_ref, Path(folder))))
        for scenario in ("one-key", "many-keys"):
            for design, source in designs:
                result = measure(design, scenario, arguments, source)
                results.append(result)
                shown = {k: v for k, v in result.items() if k != "calls_by_operation"}
                print(json.dumps(shown), flush=True)
    output = HERE / "results" / "burst.json"
    output.parent.mkdir(exist_ok=True)
    output.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
