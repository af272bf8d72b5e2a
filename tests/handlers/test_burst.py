"""Bursts, driven through the Lambda entry point in batches as the SQS event source mapping delivers them.

10,000 abuse calls with one key: one incident, one containment, one notification, AWS calls within the stated
bound. 500 keys in the same minute: every one contained, nothing left to dead-letter.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import uuid
from collections import Counter
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

from key_quarantine.constructs.responder_queue import DEFAULT_BATCH_SIZE
from key_quarantine.handlers import batch, responder, trail
from key_quarantine.handlers.aws import Aws
from key_quarantine.handlers.batch import HANDED_BACK, FinishedMemo
from key_quarantine.handlers.ledger import CONTAINED_PREFIX
from key_quarantine.handlers.playbook import RECORD_HANDED_BACK
from key_quarantine.handlers.triggers import manual_trigger
from tests.handlers.conftest import REGION, MotoAccount, create_signals_table
from tests.handlers.test_detections import cloudtrail_event, in_account, long_term_key
from tests.handlers.test_responder_wiring import context_for, quarantine_event
from tests.handlers.test_triggers import sample

START = datetime.now(UTC).replace(microsecond=0)
# The bound stated in docs/ARCHITECTURE.md: C(N events, B batches) <= P + (5 + d)B. Per batch, the signals write and query, at
# most one ledger read (an execution environment that has not yet seen the incident finish), two IAM reads that
# check a finished containment still holds (ListAccessKeys, GetUserPolicy), and one escalation write per distinct
# (call, severity) of the key in the batch (d; one here); P is one playbook run.
PER_BATCH = 5 + 1


def one_run(keys_of_user: int, target_keys: int = 1, regions: int = 1) -> int:
    """P: ledger (read, open, claim, record, the user's containment item) + survey (GetUser, ListUserTags, ListAccessKeys) + contain (every
    active key, the deny, 3 lists of other credentials) + tag + notify + evidence (IAM reads, LookupEvents,
    PutObject); docs/ARCHITECTURE.md lists the calls."""
    evidence = (
        11 + keys_of_user + regions * target_keys + 2
    )  # the trail: a page a region; the document, its page
    return 5 + 3 + (keys_of_user + 1 + 3) + 1 + 1 + evidence


@pytest.fixture
def burst(account: MotoAccount, monkeypatch: pytest.MonkeyPatch) -> MotoAccount:
    settings = dataclasses.replace(
        account.settings, signals_table=create_signals_table(), contain_categories=frozenset({"llmjacking"})
    )
    monkeypatch.setattr(responder, "SETTINGS", settings)
    monkeypatch.setattr(responder, "FINISHED", FinishedMemo())
    monkeypatch.setattr(responder, "AWS", Aws(region=REGION))
    # moto's DynamoDB is not thread-safe (a Query racing a PutItem raises "dictionary changed size during
    # iteration"): keys are answered one at a time here; test_keys_of_a_batch_are_answered_side_by_side runs them
    # side by side without DynamoDB
    monkeypatch.setattr(batch, "GROUP_WORKERS", 1)
    return account


def invoke_model(account: MotoAccount, user: str, key: str, second: int) -> dict[str, Any]:
    event = cloudtrail_event(
        "bedrock.amazonaws.com",
        "InvokeModel",
        long_term_key(user, key),
        eventTime=(START + timedelta(seconds=second)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        eventID=str(uuid.uuid4()),
    )
    return in_account(event, account.account_id)


def sqs_batches(events: Sequence[dict[str, Any]], size: int = DEFAULT_BATCH_SIZE) -> Iterator[dict[str, Any]]:
    """What the event source mapping hands the function: records whose body is the EventBridge event as JSON."""
    for start in range(0, len(events), size):
        yield {
            "Records": [
                {"messageId": str(uuid.uuid4()), "body": json.dumps(event), "eventSource": "aws:sqs"}
                for event in events[start : start + size]
            ]
        }


def deliver(account: MotoAccount, events: Sequence[dict[str, Any]]) -> tuple[Counter[str], list[str]]:
    """Every batch through the handler: the AWS calls made, and the message ids it asked to be delivered again."""
    calls: Counter[str] = Counter()
    failed: list[str] = []
    for records in sqs_batches(events):
        result = responder.lambda_handler(records, context_for(account.account_id))
        calls.update(responder.AWS.calls)
        failed += [item["itemIdentifier"] for item in result["batchItemFailures"]]
    return calls, failed


def notification_count(account: MotoAccount) -> int:
    sqs = boto3.client("sqs", region_name=REGION)
    attributes = sqs.get_queue_attributes(
        QueueUrl=account.inbox_url, AttributeNames=["ApproximateNumberOfMessages"]
    )
    return int(attributes["Attributes"]["ApproximateNumberOfMessages"])  # exact in moto


def test_ten_thousand_calls_with_one_key_are_one_incident_at_a_bounded_cost(burst: MotoAccount) -> None:
    # Given 10,000 InvokeModel calls with the leaked key within one minute (llmjacking opted in to contain)
    events = [invoke_model(burst, burst.user, burst.key, second % 60) for second in range(10_000)]
    # When they arrive in batches as the queue delivers them
    calls, failed = deliver(burst, events)
    # Then the user is contained once: its two keys deactivated, one deny policy, one tag, one notification
    assert burst.key_status() == {burst.key: "Inactive", burst.other_key: "Inactive"}
    assert calls["iam:UpdateAccessKey"] == 2, calls
    for operation in ("iam:PutUserPolicy", "iam:TagUser", "sns:Publish"):
        assert calls[operation] == 1, (operation, calls)
    assert notification_count(burst) == 1
    ledger = boto3.client("dynamodb", region_name=REGION).scan(TableName=burst.table)["Items"]
    incidents = [item for item in ledger if not item["incident_id"]["S"].startswith(CONTAINED_PREFIX)]
    assert len(incidents) == 1  # and the user's containment item, which the undo watch reads
    assert len(ledger) == 2
    # And the calls stay within the bound: one playbook run (the user has two keys), at most three calls a batch
    batches = -(-len(events) // DEFAULT_BATCH_SIZE)
    assert sum(calls.values()) <= one_run(keys_of_user=2) + PER_BATCH * batches, calls
    # once in the survey, once in the evidence: one run; then each later batch checks the containment still holds
    assert calls["iam:ListAccessKeys"] == 2 + (batches - 1), calls
    assert calls["iam:GetUserPolicy"] == batches - 1, calls
    # And correlation stayed bounded and correct: one signals item a batch, holding every call counted
    items = boto3.client("dynamodb", region_name=REGION).scan(TableName="signals")["Items"]
    signals = [item for item in items if not item["identity"]["S"].startswith("notice#")]
    assert len(signals) == batches
    assert sum(int(c["M"]["count"]["N"]) for item in signals for c in item["calls"]["L"]) == len(events)
    # And nothing is left to deliver again
    assert failed == []


def test_five_hundred_keys_in_one_minute_are_all_contained(
    burst: MotoAccount, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # Given 500 users whose keys are all abused within the same minute, two calls each, interleaved (evidence is
    # off to keep this test fast on moto: its cost per incident is measured in bench/burst_bench.py)
    monkeypatch.setattr(responder, "SETTINGS", dataclasses.replace(responder.SETTINGS, evidence_bucket=None))
    # and the keys' trails take no wait at all: a trail that would wait for CloudTrail's pace is left to the second
    # look at once (the responder waits at most one slot, trail.MAX_WAIT_SECONDS; test_trail.py proves both)
    monkeypatch.setattr(trail, "THROTTLE", trail.Throttle(max_wait=0.0))
    users = [f"leaked-{number:03}" for number in range(500)]
    keys = {}
    for user in users:
        burst.iam.create_user(UserName=user)
        keys[user] = burst.iam.create_access_key(UserName=user)["AccessKey"]["AccessKeyId"]
    events = [invoke_model(burst, user, keys[user], rep * 30) for rep in range(2) for user in users]
    # When they arrive in batches
    calls, failed = deliver(burst, events)
    # Then every key is contained, each once, each user notified once, and nothing is to be delivered again
    assert all(burst.key_status(user) == {keys[user]: "Inactive"} for user in users)
    assert calls["iam:UpdateAccessKey"] == calls["iam:PutUserPolicy"] == calls["sns:Publish"] == len(users)
    assert notification_count(burst) == len(users)
    assert failed == [], [r.getMessage() for r in caplog.records if "failed" in r.getMessage()]


def test_keys_of_a_batch_are_answered_side_by_side(
    burst: MotoAccount, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given eight leaked keys in one batch, four answered at a time (no ledger or signals: see the fixture)
    monkeypatch.setattr(batch, "GROUP_WORKERS", 4)
    monkeypatch.setattr(
        responder, "SETTINGS", dataclasses.replace(responder.SETTINGS, ledger_table=None, signals_table=None)
    )
    keys = {}
    for number in range(8):
        user = f"side-by-side-{number}"
        burst.iam.create_user(UserName=user)
        keys[user] = burst.iam.create_access_key(UserName=user)["AccessKey"]["AccessKeyId"]
    # When they arrive together
    calls, failed = deliver(burst, [invoke_model(burst, user, key, 0) for user, key in keys.items()])
    # Then each is contained and notified once
    assert failed == []
    assert all(burst.key_status(user) == {key: "Inactive"} for user, key in keys.items())
    assert calls["sns:Publish"] == len(keys)
    assert burst.key_status() == {burst.key: "Active", burst.other_key: "Active"}  # bystanders untouched


def test_a_malformed_message_is_dead_lettered_alone(
    burst: MotoAccount, caplog: pytest.LogCaptureFixture
) -> None:
    # Given a batch with a leak signal, a message that is not JSON, and an event that is no leak signal
    good = copy.deepcopy(sample("cloudtrail-attach-quarantine.json"))
    good["account"] = good["detail"]["recipientAccountId"] = burst.account_id
    good["detail"]["requestParameters"]["userName"] = burst.user
    records = [
        {"messageId": "good", "body": json.dumps(good), "eventSource": "aws:sqs"},
        {"messageId": "garbage", "body": "{not json", "eventSource": "aws:sqs"},
        {
            "messageId": "noise",
            "body": json.dumps({"source": "aws.s3", "detail": {}}),
            "eventSource": "aws:sqs",
        },
    ]
    # When the handler gets it
    result = responder.lambda_handler({"Records": records}, context_for(burst.account_id))
    # Then only the malformed message is handed back (to be dead-lettered); the leak is contained
    assert result == {"batchItemFailures": [{"itemIdentifier": "garbage"}]}
    # And the hand-back is logged in the line the construct's alarm counts
    responder_lines = [
        json.loads(r.getMessage()) for r in caplog.records if r.name == "key_quarantine.responder"
    ]
    assert any(line.get("status") == HANDED_BACK for line in responder_lines)
    assert burst.key_status()[burst.key] == "Inactive"


def test_the_finished_memo_forgets_after_its_max_age_so_a_release_is_seen() -> None:
    # Given an execution environment that saw an incident finish
    now = [0.0]
    memo = FinishedMemo(max_age=600, clock=lambda: now[0])
    trigger = manual_trigger("123456789012", "ci-deployer", None)
    memo.add(trigger)
    # Then repeats within ten minutes cost nothing, and after that the ledger is asked again
    now[0] = 600
    assert trigger in memo
    now[0] = 601
    assert trigger not in memo


class InvocationClock:
    """The Lambda's time left, in a fake clock that only a slow CloudTrail read moves (no timed assertions)."""

    def __init__(self, left_ms: int) -> None:
        self.left_ms = left_ms
        self.timeline: list[tuple[str, str]] = []  # the calls in order, when an OrderedAws shares it

    def remaining_ms(self) -> int:
        return self.left_ms


class OrderedAws(Aws):
    """Clients that also keep the order of their calls, with the user each names, in ``order`` (shared with the
    slow trail's reads)."""

    def __init__(self, region: str, order: list[tuple[str, str]]) -> None:
        super().__init__(region=region)
        self.order = order

    def _count(self, model: Any, **kwargs: Any) -> None:
        super()._count(model, **kwargs)
        body = kwargs.get("params", {}).get("body")  # IAM's query protocol: the request's fields
        self.order.append((model.name, str(body.get("UserName", "")) if isinstance(body, dict) else ""))


@pytest.fixture
def slow_trail(monkeypatch: pytest.MonkeyPatch) -> tuple[InvocationClock, list[str]]:
    """Each CloudTrail page costs 30 s of the invocation (LookupEvents at 2 a second, a busy trail); the keys
    read, in order. moto has no LookupEvents: the page is empty."""
    clock, read = InvocationClock(120_000), []

    def page(search: Any, client: Any, token: str | None) -> dict[str, Any]:
        read.append(search.principal.access_key_id)
        clock.timeline.append(("LookupEvents", search.principal.access_key_id))
        clock.left_ms -= 30_000
        return {"Events": []}

    monkeypatch.setattr(trail._Search, "_page", page)
    return clock, read


def answering(account: MotoAccount, clock: InvocationClock, aws: Aws | None = None) -> batch.Responder:
    return batch.Responder(
        responder.SETTINGS,
        aws or responder.AWS,
        context_for(account.account_id).invoked_function_arn,
        remaining_ms=clock.remaining_ms,
    )


def steps_of(result: dict[str, Any]) -> dict[str, str]:
    return {step["name"]: step["status"] for step in result["steps"]}


def test_every_key_of_a_batch_is_contained_before_any_trail_is_read_and_late_evidence_comes_back(
    burst: MotoAccount, slow_trail: tuple[InvocationClock, list[str]]
) -> None:
    # Given a batch naming two users' keys, an invocation with 70 s left and a trail that reads slowly
    clock, read = slow_trail
    clock.left_ms = 70_000
    events = [
        invoke_model(burst, burst.user, burst.key, 0),
        invoke_model(burst, burst.bystander, burst.bystander_key, 1),
    ]
    deliveries = [batch.Delivery(f"m{n}", json.dumps(event)) for n, event in enumerate(events)]
    # When the batch is answered
    result = batch.respond_to_batch(deliveries, answering(burst, clock))
    # Then both keys are contained, though only the first run's trail could be read in time
    assert burst.key_status()[burst.key] == "Inactive"
    assert burst.key_status(burst.bystander) == {burst.bystander_key: "Inactive"}
    assert read == [burst.key]
    # and the second's record steps go back to the queue, its containment recorded, not lost
    assert result.failed == ["m1"]
    assert steps_of(result.results["m1"])[RECORD_HANDED_BACK] == "failed"
    assert steps_of(result.results["m1"])["deactivate-keys"] == "done"
    assert "notify" not in steps_of(result.results["m1"])
    # When the redelivery arrives in a fresh invocation
    clock.left_ms = 70_000
    again = batch.respond_to_batch(deliveries[1:], answering(burst, clock))
    # Then its evidence and notice follow, and the key stays contained
    assert again.failed == []
    assert steps_of(again.results["m1"])["notify"] == "done"
    assert steps_of(again.results["m1"])["evidence"] == "done"
    assert read == [burst.key, burst.bystander_key]
    assert burst.key_status(burst.bystander) == {burst.bystander_key: "Inactive"}


def test_a_dozen_fresh_abuse_keys_ahead_of_the_quarantine_event_cannot_defer_its_containment(
    burst: MotoAccount, slow_trail: tuple[InvocationClock, list[str]]
) -> None:
    # Given a batch where a dozen abuse groups (fresh keys the attacker drives) arrived before AWS's quarantine
    # attach for the leaked user, each with a slow trail to read
    clock, read = slow_trail
    decoys = {f"decoy-{n}": "" for n in range(12)}
    for user in decoys:
        burst.iam.create_user(UserName=user)
        decoys[user] = burst.iam.create_access_key(UserName=user)["AccessKey"]["AccessKeyId"]
    abuse = [invoke_model(burst, user, key, n) for n, (user, key) in enumerate(decoys.items())]
    deliveries = [batch.Delivery(f"abuse{n}", json.dumps(event)) for n, event in enumerate(abuse)]
    deliveries.append(batch.Delivery("quarantine", json.dumps(quarantine_event(burst, burst.user))))
    aws = OrderedAws(REGION, clock.timeline)
    # When the batch is answered
    result = batch.respond_to_batch(deliveries, answering(burst, clock, aws))
    # Then the quarantined user's containment is the batch's first write, and every key is contained before any
    # trail is read
    containment = {"UpdateAccessKey", "PutUserPolicy"}
    writes = [(name, user) for name, user in aws.order if name in containment]
    assert writes[0][1] == burst.user
    last_write = max(i for i, (name, _) in enumerate(aws.order) if name in containment)
    assert aws.order.index(("LookupEvents", read[0])) > last_write
    assert {user for _, user in writes} == {burst.user, *decoys}
    assert burst.key_status() == {burst.key: "Inactive", burst.other_key: "Inactive"}
    assert all(burst.key_status(user) == {key: "Inactive"} for user, key in decoys.items())
    assert set(read[:2]) == {burst.key, burst.other_key}
    # and the quarantine's own evidence and notice came first; only abuse groups went back, for their evidence
    assert "quarantine" not in result.failed
    assert steps_of(result.results["quarantine"])["notify"] == "done"
    handed_back = {m for m, r in result.results.items() if steps_of(r).get(RECORD_HANDED_BACK) == "failed"}
    assert handed_back
    assert set(result.failed) == handed_back
    assert all(steps_of(result.results[m])["deactivate-keys"] == "done" for m in handed_back)


def test_with_too_little_time_the_confirmed_leak_is_still_contained_and_only_abuse_is_deferred(
    burst: MotoAccount, slow_trail: tuple[InvocationClock, list[str]]
) -> None:
    # Given an invocation that starts with less than the reserve left, and a dozen abuse groups ahead
    clock, read = slow_trail
    clock.left_ms = batch.GROUP_TIME_RESERVE_MS - 1
    abuse = [invoke_model(burst, f"decoy-{n}", f"AKIADECOY{n:011d}", n) for n in range(12)]
    deliveries = [batch.Delivery(f"abuse{n}", json.dumps(event)) for n, event in enumerate(abuse)]
    deliveries.append(batch.Delivery("quarantine", json.dumps(quarantine_event(burst, burst.user))))
    # When the batch is answered
    result = batch.respond_to_batch(deliveries, answering(burst, clock))
    # Then the AWS-confirmed signal is contained all the same; its record steps come back with the abuse groups,
    # which were not started at all
    assert burst.key_status() == {burst.key: "Inactive", burst.other_key: "Inactive"}
    assert steps_of(result.results["quarantine"])[RECORD_HANDED_BACK] == "failed"
    assert {result.results[f"abuse{n}"]["status"] for n in range(12)} == {"deferred"}
    assert sorted(result.failed) == sorted([*(f"abuse{n}" for n in range(12)), "quarantine"])
    assert read == []


def test_an_hour_of_calls_looks_at_the_trail_again_once_per_covered_window(
    burst: MotoAccount, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given an hour of InvokeModel calls with the leaked key, delivered as they happen (the responder's clock is
    # the last call's time): each a later signal of the same incident once the first look is finished
    clock = {"now": START}
    monkeypatch.setattr(responder, "FINISHED", FinishedMemo(wall=lambda: clock["now"]))
    events = [invoke_model(burst, burst.user, burst.key, second) for second in range(0, 3600, 2)]
    for event in events:
        event["time"] = event["detail"]["eventTime"]
    calls: Counter[str] = Counter()
    looks = 0
    for records in sqs_batches(events):
        clock["now"] = max(datetime.fromisoformat(json.loads(r["body"])["time"]) for r in records["Records"])
        result = responder.lambda_handler(records, context_for(burst.account_id))
        assert result["batchItemFailures"] == []
        calls.update(responder.AWS.calls)
        looks += responder.AWS.calls["iam:GetUser"] > 0  # a run resolves the user; a repeat does not
    # Then the trail is read again at most once per window the last look covered (the second look's delay, 15
    # minutes, counted from when that look finished), not once per signal: the first look and 2 or 3 more
    window = 900
    assert 3 <= looks <= 1 + 3600 // window, looks
    # And the calls stay within the stated bound: a look costs at most a playbook run
    batches = -(-len(events) // DEFAULT_BATCH_SIZE)
    assert sum(calls.values()) <= looks * one_run(keys_of_user=2) + PER_BATCH * batches, calls
    # And a later look that finds nothing new tells nobody: one notice for the incident
    assert notification_count(burst) == 1
