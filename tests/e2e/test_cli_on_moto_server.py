"""The responder's CLI end to end: a real HTTP moto server, the installed command, AWS_ENDPOINT_URL."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto.server import ThreadedMotoServer

from key_quarantine.handlers.ledger import CONTAINED_PREFIX
from tests.samples import sample_event

COMMAND = str(Path(sys.executable).parent / "key-quarantine")


@dataclass(frozen=True)
class Server:
    environment: dict[str, str]
    iam: Any
    account_id: str


@pytest.fixture(scope="module")
def moto_server() -> Iterator[str]:
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    moto.start()
    host, port = moto.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        moto.stop()


@pytest.fixture
def server(moto_server: str) -> Server:
    # one server per module; every test starts from an empty account (moto's reset endpoint)
    urllib.request.urlopen(urllib.request.Request(f"{moto_server}/moto-api/reset", method="POST"), timeout=10)  # noqa: S310 - loopback
    host_url = moto_server
    environment = {
        **os.environ,
        "AWS_ENDPOINT_URL": host_url,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    environment.pop("AWS_PROFILE", None)
    session = boto3.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1"
    )
    iam = session.client("iam", endpoint_url=environment["AWS_ENDPOINT_URL"])
    sts = session.client("sts", endpoint_url=environment["AWS_ENDPOINT_URL"])
    return Server(environment, iam, sts.get_caller_identity()["Account"])


def run(server: Server, *arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [COMMAND, *arguments],
        env=server.environment,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def leaked_user(server: Server, name: str = "ci-deployer") -> str:
    server.iam.create_user(UserName=name)
    return str(server.iam.create_access_key(UserName=name)["AccessKey"]["AccessKeyId"])


def statuses(server: Server, user: str) -> dict[str, str]:
    return {
        k["AccessKeyId"]: k["Status"] for k in server.iam.list_access_keys(UserName=user)["AccessKeyMetadata"]
    }


def test_contain_then_release(server: Server) -> None:
    key = leaked_user(server)
    # When an operator contains the key by its id
    contained = run(server, "contain", "--access-key-id", key, "--format", "json")
    assert contained.returncode == 0, contained.stderr
    document = json.loads(contained.stdout)
    # Then the output follows the contract and the account shows the containment
    assert set(document) == {"incident_id", "user", "access_key_ids", "steps"}
    assert (document["user"], document["access_key_ids"]) == ("ci-deployer", [key])
    assert {s["name"]: s["status"] for s in document["steps"]}["deactivate-keys"] == "done"
    assert statuses(server, "ci-deployer") == {key: "Inactive"}
    assert server.iam.list_user_policies(UserName="ci-deployer")["PolicyNames"] == [
        "KeyQuarantineContainment"
    ]
    # When released without --reactivate: our policy goes, the key stays off
    released = run(server, "release", "--user", "ci-deployer", "--format", "json")
    assert released.returncode == 0, released.stderr
    assert server.iam.list_user_policies(UserName="ci-deployer")["PolicyNames"] == []
    assert statuses(server, "ci-deployer") == {key: "Inactive"}
    # And --reactivate without a ledger turns nothing on: nothing records which keys a signal named
    assert run(server, "release", "--user", "ci-deployer", "--reactivate").returncode == 0
    assert statuses(server, "ci-deployer") == {key: "Inactive"}
    # But the operator may name the key
    assert run(server, "release", "--user", "ci-deployer", "--reactivate-key", key).returncode == 0
    assert statuses(server, "ci-deployer") == {key: "Active"}


def test_contain_dry_run_changes_nothing(server: Server) -> None:
    key = leaked_user(server)
    result = run(server, "contain", "--user", "ci-deployer", "--dry-run")
    assert result.returncode == 0, result.stderr
    assert "dry run: would deactivate" in result.stdout
    assert statuses(server, "ci-deployer") == {key: "Active"}


def test_respond_to_a_saved_event(server: Server, tmp_path: Path) -> None:
    key = leaked_user(server)
    event = sample_event("cloudtrail-attach-quarantine.json")
    event["account"] = event["detail"]["recipientAccountId"] = server.account_id
    event["detail"]["requestParameters"]["userName"] = "ci-deployer"
    path = tmp_path / "event.json"
    path.write_text(json.dumps(event))
    result = run(server, "respond", str(path), "--format", "json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["user"] == "ci-deployer"
    assert statuses(server, "ci-deployer") == {key: "Inactive"}


def test_a_released_user_who_leaks_again_is_contained_again(server: Server, tmp_path: Path) -> None:
    # Given a ledger, and a quarantine the responder answered
    dynamodb = boto3.client(
        "dynamodb",
        endpoint_url=server.environment["AWS_ENDPOINT_URL"],
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    dynamodb.create_table(
        TableName="ledger",
        KeySchema=[{"AttributeName": "incident_id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "incident_id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    leaked_user(server)
    event = sample_event("cloudtrail-attach-quarantine.json")
    event["account"] = event["detail"]["recipientAccountId"] = server.account_id
    event["detail"]["requestParameters"]["userName"] = "ci-deployer"
    path = tmp_path / "event.json"
    path.write_text(json.dumps(event))
    assert run(server, "respond", str(path), "--ledger-table", "ledger").returncode == 0
    # When an operator releases the user (with the ledger), and AWS quarantines the user's key again later
    released = run(server, "release", "--user", "ci-deployer", "--ledger-table", "ledger", "--format", "json")
    assert released.returncode == 0, released.stderr
    closed = {s["name"]: s for s in json.loads(released.stdout)["steps"]}["close-incidents"]
    assert closed["status"] == "done", closed
    assert server.iam.list_user_policies(UserName="ci-deployer")["PolicyNames"] == []
    again = run(server, "respond", str(path), "--ledger-table", "ledger", "--format", "json")
    # Then the user is contained again, as a new incident, and the first one is still on record
    assert again.returncode == 0, again.stderr
    steps = {s["name"]: s["status"] for s in json.loads(again.stdout)["steps"]}
    assert steps["deny-policy"] == "done", steps
    assert server.iam.list_user_policies(UserName="ci-deployer")["PolicyNames"] == [
        "KeyQuarantineContainment"
    ]
    ids = [item["incident_id"]["S"] for item in dynamodb.scan(TableName="ledger")["Items"]]
    assert sum("#released#" in incident for incident in ids) == 1
    assert len([i for i in ids if not i.startswith(CONTAINED_PREFIX)]) == 2  # and the user's containment item


@pytest.mark.parametrize(
    ("arguments", "problem"),
    [
        (["contain", "--user", "nobody"], "IAM user 'nobody' does not exist"),
        (["contain", "--access-key-id", "AKIA" + "Q" * 16], "is not in this account"),
        (["contain", "--access-key-id", "not-a-key"], "is not a long-term access key id"),
        (["release", "--user", "nobody"], "does not exist"),
        (["respond", "missing-event.json"], "missing-event.json: no such file"),
    ],
    ids=["unknown-user", "unknown-key", "malformed-key", "release-unknown", "missing-event"],
)
def test_bad_input_exits_2_with_a_clear_message(server: Server, arguments: list[str], problem: str) -> None:
    result = run(server, *arguments)
    assert result.returncode == 2
    assert problem in result.stderr
    assert "Traceback" not in result.stderr


def test_unreadable_or_foreign_event_exits_2(server: Server, tmp_path: Path) -> None:
    garbled = tmp_path / "garbled.json"
    garbled.write_text("{not json")
    assert "not a JSON event" in run(server, "respond", str(garbled)).stderr
    foreign = sample_event("cloudtrail-attach-quarantine.json")  # account 123456789012 is not moto's
    foreign["account"] = foreign["detail"]["recipientAccountId"] = "999999999999"
    path = tmp_path / "foreign.json"
    path.write_text(json.dumps(foreign))
    result = run(server, "respond", str(path))
    assert (result.returncode, "refused: event for account 999999999999" in result.stderr) == (2, True)


def test_the_operator_cannot_contain_their_own_user(server: Server) -> None:
    # Given credentials of an IAM user (the operator), who asks to contain themself
    leaked_user(server, "operator")
    key = server.iam.create_access_key(UserName="operator")["AccessKey"]
    environment = {
        **server.environment,
        "AWS_ACCESS_KEY_ID": key["AccessKeyId"],
        "AWS_SECRET_ACCESS_KEY": key["SecretAccessKey"],
    }
    result = subprocess.run(
        [COMMAND, "contain", "--user", "operator"],
        env=environment,
        capture_output=True,
        text=True,
        check=False,
    )
    # Then it is refused before any change
    assert result.returncode == 2
    assert "it is the principal running this response" in result.stderr
    assert set(statuses(server, "operator").values()) == {"Active"}


def test_missing_event_file_is_named_before_anything_else(tmp_path: Path) -> None:
    environment = {key: value for key, value in os.environ.items() if not key.startswith("AWS_")}
    environment["AWS_SHARED_CREDENTIALS_FILE"] = str(tmp_path / "none")
    environment["AWS_CONFIG_FILE"] = str(tmp_path / "none")
    result = subprocess.run(
        [COMMAND, "respond", str(tmp_path / "missing.json")],
        env=environment,
        capture_output=True,
        text=True,
        check=False,
    )
    assert (result.returncode, "missing.json: no such file" in result.stderr) == (2, True)


def test_unreachable_endpoint_says_so(tmp_path: Path) -> None:
    environment = {
        **os.environ,
        "AWS_ENDPOINT_URL": "http://127.0.0.1:9",
        "AWS_ACCESS_KEY_ID": "x",
        "AWS_SECRET_ACCESS_KEY": "x",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_MAX_ATTEMPTS": "1",
    }
    result = subprocess.run(
        [COMMAND, "contain", "--user", "someone"],
        env=environment,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 2
    assert "cannot reach AWS" in result.stderr
