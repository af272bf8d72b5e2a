"""The Lambda entry point, and the whole path: the construct's synthesized rules in moto's EventBridge, routed
to SQS (moto runs no Lambda without Docker), and each delivered event handed to the handler."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import boto3
import pytest

from key_quarantine import KeyQuarantine
from key_quarantine.handlers import responder
from tests.cdk_apps import synth
from tests.handlers.conftest import REGION, MotoAccount
from tests.handlers.test_triggers import sample


@dataclass(frozen=True)
class LambdaContext:
    invoked_function_arn: str


def context_for(account_id: str) -> LambdaContext:
    return LambdaContext(f"arn:aws:lambda:{REGION}:{account_id}:function:key-quarantine-responder")


def quarantine_event(account: MotoAccount, user: str) -> dict[str, Any]:
    event = sample("cloudtrail-attach-quarantine.json")
    event["account"] = event["detail"]["recipientAccountId"] = account.account_id
    event["detail"]["requestParameters"]["userName"] = user
    return event


def test_handler_contains_and_returns_the_contract(wired: MotoAccount) -> None:
    result = responder.lambda_handler(quarantine_event(wired, wired.user), context_for(wired.account_id))
    assert result["status"] == "responded"
    assert set(result) >= {"incident_id", "user", "access_key_ids", "steps"}
    assert wired.key_status() == {wired.key: "Inactive", wired.other_key: "Inactive"}
    (evidence,) = wired.evidence_objects()
    assert evidence["trigger"]["event"]["detail"]["requestParameters"]["userName"] == wired.user  # verbatim


def test_handler_ignores_what_is_not_a_leak_signal(wired: MotoAccount) -> None:
    result = responder.lambda_handler({"source": "aws.s3", "detail": {}}, context_for(wired.account_id))
    assert result["status"] == "ignored"


def test_handler_refuses_an_event_for_another_account(wired: MotoAccount) -> None:
    event = quarantine_event(wired, wired.user)
    event["account"] = event["detail"]["recipientAccountId"] = "999999999999"
    result = responder.lambda_handler(event, context_for(wired.account_id))
    assert result["status"] == "refused"
    assert wired.key_status()[wired.key] == "Active"


def test_handler_refuses_a_user_that_does_not_exist(wired: MotoAccount) -> None:
    result = responder.lambda_handler(quarantine_event(wired, "nobody"), context_for(wired.account_id))
    assert (result["status"], "does not exist" in result["reason"]) == ("refused", True)


def test_failed_step_fails_the_invocation_for_retry(
    wired: MotoAccount, monkeypatch: pytest.MonkeyPatch
) -> None:
    broken = type(wired.settings)(**{**wired.settings.__dict__, "evidence_bucket": "no-such-bucket-kq"})
    monkeypatch.setattr(responder, "SETTINGS", broken)
    with pytest.raises(responder.IncompleteResponseError, match="a step failed"):
        responder.lambda_handler(quarantine_event(wired, wired.user), context_for(wired.account_id))
    assert wired.key_status()[wired.key] == "Inactive"  # containment happened anyway


@pytest.fixture(scope="module")
def construct_rules(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    def build(app: cdk.App) -> None:
        KeyQuarantine(cdk.Stack(app, "Security", env=cdk.Environment(region=REGION)), "KeyQuarantine")

    assembly = synth(tmp_path_factory.mktemp("wiring") / "cdk.out", build)
    template = json.loads((assembly / "Security.template.json").read_text())
    return {
        lid: r["Properties"]
        for lid, r in template["Resources"].items()
        if r["Type"] == "AWS::Events::Rule" and "EventPattern" in r["Properties"]  # not the sweep's schedule
    }


def test_synthesized_rules_deliver_leak_signals_to_the_handler(
    wired: MotoAccount, construct_rules: dict[str, Any]
) -> None:
    # Given the construct's rules in EventBridge, each routed to a queue standing in for the buffer queue
    events, sqs = boto3.client("events", region_name=REGION), boto3.client("sqs", region_name=REGION)
    queue_url = sqs.create_queue(QueueName="responder-stand-in")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    for logical_id, properties in construct_rules.items():
        events.put_rule(Name=logical_id, EventPattern=json.dumps(properties["EventPattern"]), State="ENABLED")
        events.put_targets(Rule=logical_id, Targets=[{"Id": "responder", "Arn": queue_arn}])
    # When AWS's signals arrive (a quarantine attach for the leaked user) along with unrelated noise
    noise = {"Source": "aws.s3", "DetailType": "Object Created", "Detail": json.dumps({"bucket": "x"})}
    health = sample("health-credentials-exposed.json")["detail"]
    health.update(affectedAccount=wired.account_id, affectedEntities=[{"entityValue": wired.key}])
    health["eventMetadata"].update(publicKey=wired.key, userName=wired.user)
    guardduty = sample("guardduty-iam-user.json")["detail"]
    guardduty["accountId"] = wired.account_id
    guardduty["resource"]["accessKeyDetails"].update(accessKeyId=wired.other_key, userName=wired.user)
    entries = [
        {"Source": "aws.health", "DetailType": "AWS Health Event", "Detail": json.dumps(health)},
        {"Source": "aws.guardduty", "DetailType": "GuardDuty Finding", "Detail": json.dumps(guardduty)},
        {
            "Source": "aws.iam",
            "DetailType": "AWS API Call via CloudTrail",
            "Detail": json.dumps(quarantine_event(wired, wired.user)["detail"]),
        },
        noise,
    ]
    events.put_events(Entries=entries)
    messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", [])
    delivered = [json.loads(m["Body"]) for m in messages]
    # Then exactly the three leak signals are delivered, and the handler contains on them as one SQS batch
    # (the quarantine attach arrives twice: its own rule and the persistence detection, since the CloudTrail
    # record names the user's own key; the handler resolves both to the same user)
    sources = sorted(event["source"] for event in delivered)
    assert sources == ["aws.guardduty", "aws.health", "aws.iam", "aws.iam"], delivered
    records = []
    for message, event in zip(messages, delivered, strict=True):
        # moto 5.2.5 leaves the top-level "account" out of what it delivers; EventBridge always sets it
        assert "account" not in event
        event["account"] = wired.account_id
        records.append(
            {"messageId": message["MessageId"], "body": json.dumps(event), "eventSource": "aws:sqs"}
        )
    result = responder.lambda_handler({"Records": records}, context_for(wired.account_id))
    assert result == {"batchItemFailures": []}
    assert wired.key_status() == {wired.key: "Inactive", wired.other_key: "Inactive"}
    assert wired.key_status(wired.bystander) == {wired.bystander_key: "Active"}


def test_module_reads_its_settings_once_at_import() -> None:
    source = Path(responder.__file__).read_text()
    assert "SETTINGS = Settings.from_environment()" in source
