"""The second look: seconds after the signal CloudTrail has not delivered the key's last minutes; one delayed
follow-up per incident, through the buffer queue, reads the trail again and contains what it finds."""

from __future__ import annotations

import dataclasses
import json
import time
from datetime import UTC, datetime, timedelta

import boto3
import pytest

from key_quarantine.handlers import batch
from key_quarantine.handlers.batch import Delivery, Responder, respond_to_batch
from tests.handlers.cloudtrail_replay import CloudTrailReplay, History
from tests.handlers.conftest import REGION, MotoAccount
from tests.handlers.test_follow_the_attacker import attack
from tests.handlers.test_responder_wiring import quarantine_event


@pytest.fixture
def buffer(account: MotoAccount, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setattr(batch, "GROUP_WORKERS", 1)  # moto's DynamoDB is not thread-safe
    return boto3.client("sqs", region_name=REGION).create_queue(QueueName="buffer")["QueueUrl"]


def test_the_second_look_contains_what_cloudtrail_had_not_delivered_yet(
    account: MotoAccount, buffer: str
) -> None:
    # Given the attacker's work, and one more key made a minute before the signal (not delivered for ~5 minutes)
    history = History(account.account_id)
    attack(account, history)
    account.iam.create_user(UserName="late-user")
    late_key = account.iam.create_access_key(UserName="late-user")["AccessKey"]["AccessKeyId"]
    history.call(
        account.key, "CreateUser", datetime.now(UTC) - timedelta(minutes=1), request={"userName": "late-user"}
    )
    clock = {"now": datetime.now(UTC)}
    replay = CloudTrailReplay(history.records, lambda: clock["now"])
    settings = dataclasses.replace(
        account.settings, regions=(REGION,), second_look_queue_url=buffer, second_look_delay_seconds=1
    )
    responder = Responder(
        settings, replay.aws(REGION), f"arn:aws:lambda:{REGION}:{account.account_id}:function:r"
    )

    # When the signal is answered seconds after it
    first = respond_to_batch([Delivery("signal", quarantine_event(account, account.user))], responder)

    # Then what was delivered is contained, the late user not yet, and one second look is on its way
    assert first.failed == []
    assert account.key_status("backup-admin") == dict.fromkeys(account.key_status("backup-admin"), "Inactive")
    assert account.key_status("late-user") == {late_key: "Active"}
    (second_look,) = _receive(buffer)
    assert [m["Subject"] for m in account.notifications()] == [
        f"Leaked AWS access key contained: {account.user}"
    ]

    # When it comes back fifteen minutes later, CloudTrail having delivered everything
    clock["now"] += timedelta(minutes=15)
    respond_to_batch([Delivery("look", second_look)], responder)

    # Then the late user is contained, and a follow-up notice says so
    assert account.key_status("late-user") == {late_key: "Inactive"}
    (follow_up,) = account.notifications()
    assert follow_up["Subject"].startswith(f"Second look at the leaked key of {account.user}")
    assert "user late-user: deactivated 1 key(s)" in follow_up["Message"]
    # And it is idempotent: the same second look again sends nothing new and schedules nothing more
    respond_to_batch([Delivery("look-again", second_look)], responder)
    assert account.notifications() == []
    assert _receive(buffer, wait=1.5) == []


def _receive(queue: str, wait: float = 1.5) -> list[str]:
    time.sleep(wait)  # the message's DelaySeconds (1 s here; 900 in a deployment)
    messages = boto3.client("sqs", region_name=REGION).receive_message(QueueUrl=queue, MaxNumberOfMessages=10)
    bodies = [m["Body"] for m in messages.get("Messages", [])]
    for body in bodies:
        assert "kq-second-look" in json.loads(body)
    return bodies
