"""``key-quarantine replay-dlq`` end to end: the installed command, a real HTTP moto server, a dead-letter queue."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest

from tests.e2e.test_cli_on_moto_server import Server, leaked_user, moto_server, run, server, statuses
from tests.samples import sample_event

__all__ = ["moto_server", "server"]


def sqs(server: Server) -> Any:
    return boto3.client(
        "sqs",
        endpoint_url=server.environment["AWS_ENDPOINT_URL"],
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def dead_letters(server: Server, *bodies: str) -> str:
    queue_url: str = sqs(server).create_queue(QueueName="dead-letters")["QueueUrl"]
    for body in bodies:
        sqs(server).send_message(QueueUrl=queue_url, MessageBody=body)
    return queue_url


def remaining(server: Server, queue_url: str) -> list[str]:
    messages = sqs(server).receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", [])
    return [m["Body"] for m in messages]


def quarantine(server: Server, user: str) -> str:
    event = sample_event("cloudtrail-attach-quarantine.json")
    event["account"] = event["detail"]["recipientAccountId"] = server.account_id
    event["detail"]["requestParameters"]["userName"] = user
    return json.dumps(event)


def test_replay_answers_each_message_and_deletes_it(server: Server) -> None:
    # Given two dead-lettered quarantine signals for two users (the responder could not finish them)
    keys = {user: leaked_user(server, user) for user in ("ci-deployer", "batch-job")}
    queue_url = dead_letters(server, *(quarantine(server, user) for user in keys))
    # When the operator replays the queue
    result = run(server, "replay-dlq", "--queue-url", queue_url, "--format", "json")
    # Then both are contained, reported per message, and deleted
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["summary"] == {"received": 2, "deleted": 2, "kept": 0}
    assert sorted(entry["user"] for entry in document["messages"]) == sorted(keys)
    assert all(statuses(server, user) == {key: "Inactive"} for user, key in keys.items())
    assert remaining(server, queue_url) == []


def test_dry_run_changes_nothing_and_keeps_the_messages(server: Server) -> None:
    key = leaked_user(server)
    queue_url = dead_letters(server, quarantine(server, "ci-deployer"))
    result = run(server, "replay-dlq", "--queue-url", queue_url, "--dry-run")
    assert result.returncode == 0, result.stderr
    assert "kept" in result.stdout
    assert statuses(server, "ci-deployer") == {key: "Active"}
    assert len(remaining(server, queue_url)) == 1  # visible again at once


def test_unknown_message_format_exits_2_and_stays(server: Server) -> None:
    # Given a leak signal and a message that is no EventBridge event
    key = leaked_user(server)
    queue_url = dead_letters(server, quarantine(server, "ci-deployer"), "{not json")
    # When replayed
    result = run(server, "replay-dlq", "--queue-url", queue_url, "--format", "json")
    # Then the signal is answered and deleted, the unknown message stays, and the exit code says so
    assert result.returncode == 2
    assert "not leak signals this responder acts on" in result.stderr
    assert "Traceback" not in result.stderr
    by_status = {entry["status"]: entry for entry in json.loads(result.stdout)["messages"]}
    assert (by_status["responded"]["action"], by_status["malformed"]["action"]) == ("deleted", "kept")
    assert statuses(server, "ci-deployer") == {key: "Inactive"}
    assert remaining(server, queue_url) == ["{not json"]


def test_max_limits_how_many_are_answered(server: Server) -> None:
    for user in ("a-user", "b-user", "c-user"):
        leaked_user(server, user)
    queue_url = dead_letters(server, *(quarantine(server, user) for user in ("a-user", "b-user", "c-user")))
    result = run(server, "replay-dlq", "--queue-url", queue_url, "--max", "2", "--format", "json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["summary"]["deleted"] == 2
    assert len(remaining(server, queue_url)) == 1


@pytest.mark.parametrize(
    ("arguments", "problem"),
    [
        (
            ["--queue-url", "http://localhost/123456789012/no-such-queue"],
            "not a queue these credentials can read",
        ),
        (["--queue-url", "q", "--max", "0"], "must be a positive whole number"),
    ],
    ids=["unknown-queue", "bad-max"],
)
def test_bad_queue_exits_2_with_a_clear_message(server: Server, arguments: list[str], problem: str) -> None:
    result = run(server, "replay-dlq", *arguments)
    assert result.returncode == 2
    assert problem in result.stderr
    assert "Traceback" not in result.stderr
