"""The second look: seconds after the signal CloudTrail has not delivered the key's last minutes; one delayed
follow-up per incident, through the buffer queue, reads the trail again and contains what it finds."""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

from key_quarantine.handlers import batch
from key_quarantine.handlers.batch import Delivery, FinishedMemo, Responder, respond_to_batch
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


def signal_at(account: MotoAccount, at: datetime, event_id: str) -> dict[str, Any]:
    """AWS's quarantine attach for the user, as EventBridge delivers it at ``at`` (a new delivery: its own id)."""
    event = quarantine_event(account, account.user)
    event["id"] = event["detail"]["eventID"] = event_id
    event["time"] = event["detail"]["eventTime"] = at.strftime("%Y-%m-%dT%H:%M:%SZ")
    return event


@pytest.fixture
def answered(
    account: MotoAccount, buffer: str
) -> tuple[MotoAccount, History, dict[str, datetime], Responder]:
    """The attacker's work, its first signal answered (no second look configured: only later signals look again)."""
    history = History(account.account_id)
    attack(account, history)
    clock = {"now": datetime.now(UTC)}
    replay = CloudTrailReplay(history.records, lambda: clock["now"])
    settings = dataclasses.replace(account.settings, regions=(REGION,))
    responder = Responder(
        settings,
        replay.aws(REGION),
        f"arn:aws:lambda:{REGION}:{account.account_id}:function:r",
        memo=FinishedMemo(wall=lambda: clock["now"]),
    )
    READS[id(responder)] = replay
    first = respond_to_batch([Delivery("signal", signal_at(account, clock["now"], "first"))], responder)
    assert first.failed == []
    assert len(account.notifications()) == 1
    clock["first"] = clock["now"]
    return account, history, clock, responder


READS: dict[
    int, CloudTrailReplay
] = {}  # each responder's replayed CloudTrail (it counts the LookupEvents made)


def lookups(responder: Responder, deliver: Callable[[], object]) -> int:
    def made() -> int:
        return READS[id(responder)].order.count("cloudtrail:LookupEvents")

    before = made()
    deliver()
    return made() - before


def test_a_later_signal_reads_the_trail_again_and_contains_and_tells_what_is_new(
    answered: tuple[MotoAccount, History, dict[str, datetime], Responder],
) -> None:
    account, history, clock, responder = answered
    # Given one more user the key made a minute before the first look, which CloudTrail had not delivered then
    account.iam.create_user(UserName="late-user")
    late_key = account.iam.create_access_key(UserName="late-user")["AccessKey"]["AccessKeyId"]
    history.call(
        account.key, "CreateUser", clock["first"] - timedelta(minutes=1), request={"userName": "late-user"}
    )
    # When a later signal for the same incident arrives, past what the first look could see
    clock["now"] = clock["first"] + timedelta(minutes=20)
    later = signal_at(account, clock["first"] + timedelta(minutes=19), "later")
    read = lookups(responder, lambda: respond_to_batch([Delivery("later", later)], responder))
    # Then the trail was read again, what it made is contained, and a follow-up says so
    assert read > 0
    assert account.key_status("late-user") == {late_key: "Inactive"}
    (follow_up,) = account.notifications()
    assert follow_up["Subject"].startswith(
        f"A later signal: another look at the leaked key of {account.user}"
    )
    assert "user late-user: deactivated 1 key(s)" in follow_up["Message"]


def test_a_repeat_costs_no_trail_and_a_later_signal_with_nothing_new_sends_nothing(
    answered: tuple[MotoAccount, History, dict[str, datetime], Responder],
) -> None:
    account, _history, clock, responder = answered
    # When the first signal is delivered again (a duplicate: same id, same time), even much later
    clock["now"] = clock["first"] + timedelta(minutes=40)
    again = signal_at(account, clock["first"], "first")
    # Then it reads no trail and tells nobody
    assert lookups(responder, lambda: respond_to_batch([Delivery("again", again)], responder)) == 0
    # When a later signal arrives with nothing new in the trail
    later = signal_at(account, clock["first"] + timedelta(minutes=39), "later")
    assert lookups(responder, lambda: respond_to_batch([Delivery("later", later)], responder)) > 0
    # Then the trail was read, and no notice went out: nothing new to tell
    assert account.notifications() == []
    # And that later signal delivered again, or another within what that look covered, reads nothing more
    soon = signal_at(account, clock["first"] + timedelta(minutes=45), "soon")
    for repeat in (later, soon):
        assert lookups(responder, lambda r=repeat: respond_to_batch([Delivery("r", r)], responder)) == 0
    # And one past it looks again (one look per finished look, bounded by time, not by how many signals)
    clock["now"] = clock["first"] + timedelta(minutes=60)
    past = signal_at(account, clock["first"] + timedelta(minutes=59), "past")
    assert lookups(responder, lambda: respond_to_batch([Delivery("past", past)], responder)) > 0
