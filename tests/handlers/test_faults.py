"""Every AWS call the playbook makes, failing four ways (throttled, access denied, service error, read timeout), in
real botocore clients in front of moto.

For each: containment happens whenever the failing call is not itself containment (or needed to find the user);
a failure makes the delivery fail (its SQS message is handed back, then dead-lettered) instead of being dropped;
retries are bounded (5 attempts in botocore's standard mode, with jittered backoff; none for access denied); and
once the fault clears, the next delivery finishes the incident: nothing is lost.
"""

from __future__ import annotations

import dataclasses
import json
import types
import uuid
from dataclasses import dataclass, field
from typing import Any

import boto3
import botocore.endpoint
import pytest

from key_quarantine.constructs.responder_queue import DEFAULT_MAX_RECEIVE_COUNT
from key_quarantine.handlers import responder, trail
from key_quarantine.handlers.aws import MAX_ATTEMPTS, Aws
from key_quarantine.handlers.batch import Delivery, FinishedMemo, Responder, respond_to_batch
from key_quarantine.handlers.ledger import finished_marker
from key_quarantine.handlers.playbook import incident_id_of
from key_quarantine.handlers.settings import CONTAINMENT_POLICY_NAME, Settings
from key_quarantine.handlers.triggers import parse_event
from tests.handlers.conftest import REGION, MotoAccount, create_signals_table
from tests.handlers.faults import RETRYABLE, Fault, Injector
from tests.handlers.test_burst import invoke_model, notification_count
from tests.handlers.test_responder_wiring import context_for
from tests.handlers.test_triggers import sample

LEDGER, SIGNALS = "key-quarantine-ledger", "signals"


@dataclass(frozen=True)
class Call:
    """One AWS call of the playbook, where it sits, and what a persistent failure of it must (not) do."""

    service: str
    operation: str
    phase: str  # before (finding the user and keys), contain, record, ledger, signals
    table: str | None = None
    fails_delivery: bool = True
    names_user: bool = True  # False: the event names only the key, so the user is looked up first
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return f"{self.service}:{self.operation}" + (f"[{self.table}]" if self.table else "")


CALLS = [
    Call("iam", "GetAccessKeyLastUsed", "before", names_user=False),
    Call("iam", "ListUserTags", "before"),
    Call("iam", "ListAccessKeys", "before"),
    Call("iam", "UpdateAccessKey", "contain"),
    Call("iam", "PutUserPolicy", "contain"),
    Call("iam", "DeleteLoginProfile", "record"),
    Call("iam", "GetUser", "before"),  # the survey: the user's unique id and path (exemptions)
    Call("iam", "ListGroupsForUser", "record"),
    Call("iam", "ListAttachedUserPolicies", "record"),
    Call("iam", "ListUserPolicies", "record"),
    Call("iam", "ListMFADevices", "record"),
    Call("iam", "GetLoginProfile", "record"),
    Call("iam", "GetAccessKeyLastUsed", "record"),  # evidence: when each key was last used
    Call(
        "cloudtrail", "LookupEvents", "record", fails_delivery=False
    ),  # partial evidence, the error recorded
    Call("s3", "PutObject", "record"),
    Call("iam", "TagUser", "record"),
    Call("sns", "Publish", "record"),
    Call("securityhub", "BatchImportFindings", "record"),
    Call("iam", "DeleteAccessKey", "record", settings={"delete_keys": True}),
    Call("dynamodb", "GetItem", "ledger", LEDGER, fails_delivery=False),  # "is it finished?" unanswered: run
    Call("dynamodb", "PutItem", "ledger", LEDGER),
    Call("dynamodb", "UpdateItem", "ledger", LEDGER),
    Call("dynamodb", "PutItem", "signals", SIGNALS),
    Call("dynamodb", "Query", "signals", SIGNALS),
]


@pytest.fixture
def signals(account: MotoAccount) -> str:
    return create_signals_table(SIGNALS)


@pytest.fixture
def delays(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """botocore's backoff sleeps, recorded instead of slept (the delays are still computed by botocore)."""
    slept: list[float] = []
    monkeypatch.setattr(botocore.endpoint, "time", types.SimpleNamespace(sleep=slept.append))
    return slept


def leak_event(account: MotoAccount, call: Call) -> dict[str, Any]:
    if call.phase == "signals":
        return invoke_model(account, account.user, account.key, 0)
    event = sample("health-credentials-exposed.json")
    detail = event["detail"]
    event["account"] = detail["affectedAccount"] = account.account_id
    detail["affectedEntities"] = [{"entityValue": account.key}]
    detail["eventMetadata"]["publicKey"] = account.key
    if call.names_user:
        detail["eventMetadata"]["userName"] = account.user
    else:
        detail["eventMetadata"].pop("userName", None)
    return event


def responder_for(account: MotoAccount, call: Call) -> Responder:
    settings = dataclasses.replace(
        account.settings,
        security_hub=True,
        remove_console_access=True,
        signals_table=SIGNALS,
        contain_categories=frozenset({"llmjacking"}),
        **call.settings,
    )
    return Responder(settings, Aws(region=REGION), context_for(account.account_id).invoked_function_arn)


def contained(account: MotoAccount, settings: Settings) -> tuple[bool, bool]:
    """(the key is no longer active, the deny policy is on the user)."""
    status = account.key_status().get(account.key, "deleted" if settings.delete_keys else "missing")
    return status in ("Inactive", "deleted"), CONTAINMENT_POLICY_NAME in account.inline_policies()


def ledger_finished(account: MotoAccount, event: dict[str, Any]) -> bool:
    trigger = parse_event(event)
    item = boto3.client("dynamodb", region_name=REGION).get_item(
        TableName=LEDGER, Key={"incident_id": {"S": incident_id_of(trigger, account.user)}}
    )
    return finished_marker(trigger) in item.get("Item", {})


@pytest.mark.parametrize("call", CALLS, ids=[f"{c.id}-{c.phase}" for c in CALLS])
def test_a_failing_call_never_loses_the_leak(
    account: MotoAccount, signals: str, delays: list[float], call: Call, monkeypatch: pytest.MonkeyPatch
) -> None:
    for fault in Fault:  # one moto account, a leaked user of its own for each fault
        delays.clear()
        # each fault's own CloudTrail pace: a throttled trail's shared back-off (seconds) must not defer the
        # next fault's trail, which would then never reach the failing call
        monkeypatch.setattr(trail, "THROTTLE", trail.Throttle())
        fail_and_recover(leaked_user(account, fault), delays, call, fault)


def leaked_user(account: MotoAccount, fault: Fault) -> MotoAccount:
    user = f"leaked-{fault.value}"
    account.iam.create_user(UserName=user)
    key = account.iam.create_access_key(UserName=user)["AccessKey"]["AccessKeyId"]
    other_key = account.iam.create_access_key(UserName=user)["AccessKey"]["AccessKeyId"]
    account.iam.create_login_profile(UserName=user, Password="Leaked-pass-1!")
    return dataclasses.replace(account, user=user, key=key, other_key=other_key)


def fail_and_recover(account: MotoAccount, delays: list[float], call: Call, fault: Fault) -> None:
    # Given the call failing on every attempt
    responder = responder_for(account, call)
    injector = Injector(responder.aws, call.service, call.operation, fault, call.table).install()
    event = leak_event(account, call)
    message = Delivery(str(uuid.uuid4()), json.dumps(event))
    notified_before = notification_count(account)
    # When the leak signal is delivered
    first = respond_to_batch([message], responder)
    # Then the call was really made, and retried a bounded number of times, with jitter
    made = responder.aws.calls[f"{call.service}:{call.operation}"]
    assert 0 < injector.attempts <= MAX_ATTEMPTS * made, fault
    if fault in RETRYABLE:
        if call.table is None:  # (a DynamoDB call counts both tables)
            assert injector.attempts == MAX_ATTEMPTS * made, fault
        assert delays, fault
        assert all(0 <= delay <= 20 for delay in delays), fault
        assert len(set(delays)) > 1, fault  # jittered, not a fixed schedule
    else:
        assert injector.attempts <= made, fault  # access denied is not retried
    # And containment happened unless the failing call is containment or comes before it
    expected = {
        "before": (False, False),
        "contain": (call.operation != "UpdateAccessKey", call.operation != "PutUserPolicy"),
    }
    assert contained(account, responder.settings) == expected.get(call.phase, (True, True)), fault
    # And a failure fails the delivery (to be delivered again, then dead-lettered), never drops it
    assert first.failed == ([message.message_id] if call.fails_delivery else []), (fault, first.results)
    # When the fault clears and the queue delivers the message again
    injector.clear()
    again = respond_to_batch([message], responder) if first.failed else first
    # Then the incident is finished: contained, recorded, notified (twice at most when the ledger could not
    # record the first notification: a second message beats none; twice when containment failed at first: the
    # first notice said NOT CONTAINED, the follow-up says contained, so the last one matches IAM)
    assert again.failed == [], (fault, again.results)
    assert contained(account, responder.settings) == (True, True), fault
    assert ledger_finished(account, event), fault
    notified = notification_count(account) - notified_before
    assert notified == 1 or (call.phase in ("ledger", "contain") and notified == 2), (fault, notified)


def test_throttling_is_answered_by_retries_that_succeed(
    account: MotoAccount, signals: str, delays: list[float]
) -> None:
    # Given IAM throttling the deny policy twice, then answering
    call = Call("iam", "PutUserPolicy", "contain")
    account = leaked_user(account, Fault.THROTTLED)
    responder = responder_for(account, call)
    injector = Injector(responder.aws, "iam", "PutUserPolicy", Fault.THROTTLED, failures=2).install()
    # When the signal is delivered
    result = respond_to_batch([Delivery("m", leak_event(account, call))], responder)
    # Then the third attempt succeeded within the same delivery, after two jittered backoff sleeps
    assert result.failed == []
    assert contained(account, responder.settings) == (True, True)
    assert injector.attempts == 2
    assert len(delays) == 2


def test_a_message_that_keeps_failing_ends_in_the_dead_letter_queue(
    account: MotoAccount, signals: str, delays: list[float], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given the buffer queue as the construct declares it (dead-lettered after the receive limit), holding a leak
    # signal whose deny policy IAM keeps refusing
    sqs = boto3.client("sqs", region_name=REGION)
    dead_letters = sqs.create_queue(QueueName="dead-letters")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=dead_letters, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    redrive = {"deadLetterTargetArn": arn, "maxReceiveCount": DEFAULT_MAX_RECEIVE_COUNT}
    buffer = sqs.create_queue(QueueName="buffer", Attributes={"RedrivePolicy": json.dumps(redrive)})[
        "QueueUrl"
    ]
    call = Call("iam", "PutUserPolicy", "contain")
    body = json.dumps(leak_event(account, call))
    sqs.send_message(QueueUrl=buffer, MessageBody=body)
    aws = Aws(region=REGION)
    Injector(aws, "iam", "PutUserPolicy", Fault.ACCESS_DENIED).install()
    monkeypatch.setattr(responder, "SETTINGS", responder_for(account, call).settings)
    monkeypatch.setattr(responder, "AWS", aws)
    monkeypatch.setattr(responder, "FINISHED", FinishedMemo())
    # When the event source mapping polls as SQS allows: what is answered is deleted, what is handed back returns
    deliveries = 0
    while received := sqs.receive_message(QueueUrl=buffer, VisibilityTimeout=0).get("Messages", []):
        deliveries += 1
        records = [
            {"messageId": m["MessageId"], "body": m["Body"], "eventSource": "aws:sqs"} for m in received
        ]
        answer = responder.lambda_handler({"Records": records}, context_for(account.account_id))
        handed_back = {failure["itemIdentifier"] for failure in answer["batchItemFailures"]}
        for message in received:
            if message["MessageId"] not in handed_back:
                sqs.delete_message(QueueUrl=buffer, ReceiptHandle=message["ReceiptHandle"])
        assert deliveries <= DEFAULT_MAX_RECEIVE_COUNT
    # Then after the receive limit the message is in the dead-letter queue, unchanged, for replay-dlq
    assert deliveries == DEFAULT_MAX_RECEIVE_COUNT
    parked = sqs.receive_message(QueueUrl=dead_letters).get("Messages", [])
    assert [m["Body"] for m in parked] == [body]
    # And the key was deactivated on the first delivery all the same: only the deny policy is missing
    assert contained(account, responder.SETTINGS) == (True, False)
