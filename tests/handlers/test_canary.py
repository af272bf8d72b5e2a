"""The pipeline canary, end to end on moto: the daily sweep puts the canary event, the construct's synthesized rule in
moto's EventBridge delivers it (to SQS, standing in for the Lambda target), the responder records the heartbeat.
And the canary can never make the responder act on a user."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import aws_cdk as cdk
import boto3
import pytest
from botocore.stub import Stubber

from key_quarantine import KeyQuarantine
from key_quarantine.constructs.key_quarantine import heartbeat_filter
from key_quarantine.handlers import responder
from key_quarantine.handlers.aws import Aws
from key_quarantine.handlers.batch import Delivery, Responder, respond_to_batch
from key_quarantine.handlers.canary import (
    CANARY_DETAIL_TYPE,
    CANARY_SOURCE,
    HEARTBEAT_METRIC,
    HEARTBEAT_NAMESPACE,
    HEARTBEAT_NOTICE,
    NOTICE_KIND_ATTRIBUTE,
)
from key_quarantine.handlers.daily_sweep import sweep
from key_quarantine.handlers.triggers import TriggerError, parse_event
from tests.cdk_apps import synth
from tests.handlers.conftest import REGION, MotoAccount
from tests.handlers.test_responder_wiring import context_for
from tests.handlers.test_triggers import sample

FUNCTION_NAME = "key-quarantine-responder"  # the name in context_for's ARN


@pytest.fixture(scope="module")
def pipeline_rules(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The rules that deliver to the responder: triggers, detections and the canary (not tamper: they notify)."""

    def build(app: cdk.App) -> None:
        KeyQuarantine(cdk.Stack(app, "Security", env=cdk.Environment(region=REGION)), "KeyQuarantine")

    assembly = synth(tmp_path_factory.mktemp("canary") / "cdk.out", build)
    template = json.loads((assembly / "Security.template.json").read_text())
    return {
        lid: r["Properties"]["EventPattern"]
        for lid, r in template["Resources"].items()
        if r["Type"] == "AWS::Events::Rule" and "EventPattern" in r["Properties"] and "Tamper" not in lid
    }


@pytest.fixture
def wired(account: MotoAccount, monkeypatch: pytest.MonkeyPatch) -> MotoAccount:
    monkeypatch.setattr(responder, "SETTINGS", account.settings)
    return account


def route_to_queue(rules: dict[str, Any]) -> str:
    events, sqs = boto3.client("events", region_name=REGION), boto3.client("sqs", region_name=REGION)
    queue_url = sqs.create_queue(QueueName="responder-stand-in")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    for name, pattern in rules.items():
        events.put_rule(Name=name, EventPattern=json.dumps(pattern), State="ENABLED")
        events.put_targets(Rule=name, Targets=[{"Id": "responder", "Arn": arn}])
    return queue_url


def delivered(queue_url: str) -> list[dict[str, Any]]:
    sqs = boto3.client("sqs", region_name=REGION)
    messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", [])
    return [json.loads(m["Body"]) for m in messages]


def heartbeats() -> float:
    statistics = boto3.client("cloudwatch", region_name=REGION).get_metric_statistics(
        Namespace=HEARTBEAT_NAMESPACE,
        MetricName=HEARTBEAT_METRIC,
        Dimensions=[{"Name": "FunctionName", "Value": FUNCTION_NAME}],
        StartTime="2000-01-01T00:00:00Z",
        EndTime="2100-01-01T00:00:00Z",
        Period=86400 * 365,
        Statistics=["Sum"],
    )
    return sum(point["Sum"] for point in statistics["Datapoints"])


def test_sweep_canary_reaches_the_responder_through_the_synthesized_rule(
    wired: MotoAccount, pipeline_rules: dict[str, Any]
) -> None:
    # Given the construct's responder rules in EventBridge, each delivering to a queue
    queue_url = route_to_queue(pipeline_rules)
    keys_before = wired.key_status()
    # When the daily sweep runs with the canary on
    summary = sweep(replace(wired.settings, canary=True), Aws(region=REGION), account=wired.account_id)
    assert summary["canary"].startswith("sent ")
    # Then exactly one event arrives: the canary, through its own rule only
    (event,) = delivered(queue_url)
    assert (event["source"], event["detail-type"]) == (CANARY_SOURCE, CANARY_DETAIL_TYPE)
    event["account"] = wired.account_id  # moto 5.2.5 leaves it out; EventBridge always sets it
    # And the responder answers it with a heartbeat, and acts on no one
    assert heartbeats() == 0
    result = responder.lambda_handler(event, context_for(wired.account_id))
    assert result["status"] == "heartbeat"
    assert heartbeats() == 1
    assert wired.key_status() == keys_before
    assert wired.inline_policies() == []


def test_sweep_without_the_canary_sends_nothing(wired: MotoAccount, pipeline_rules: dict[str, Any]) -> None:
    queue_url = route_to_queue(pipeline_rules)
    summary = sweep(wired.settings, Aws(region=REGION), account=wired.account_id)
    assert summary["canary"] == "off"
    assert delivered(queue_url) == []


def test_a_canary_eventbridge_refuses_is_in_the_summary_and_the_sweep_still_finishes(
    wired: MotoAccount,
) -> None:
    # Given EventBridge refusing the canary (e.g. the sweep's permission was removed)
    aws = Aws(region=REGION)
    stubber = Stubber(aws.client("events"))
    stubber.add_client_error("put_events", service_error_code="AccessDeniedException", http_status_code=400)
    with stubber:
        summary = sweep(replace(wired.settings, canary=True), aws, account=wired.account_id)
    # Then the sweep reports it (the missing heartbeat alarms a day later) and its audit is intact
    assert summary["canary"].startswith("failed: AccessDeniedException"), summary["canary"]
    assert summary["status"] == "swept"
    assert "summary" in summary


def test_a_canary_naming_a_user_still_only_beats(wired: MotoAccount) -> None:
    # Given anyone with events:PutEvents dressing a canary up as a quarantine of the leaked user
    event = {
        "id": "forged",
        "source": CANARY_SOURCE,
        "detail-type": CANARY_DETAIL_TYPE,
        "account": wired.account_id,
        "detail": {
            "eventSource": "iam.amazonaws.com",
            "eventName": "AttachUserPolicy",
            "requestParameters": {
                "userName": wired.user,
                "policyArn": "arn:aws:iam::aws:policy/AWSCompromisedKeyQuarantineV3",
            },
        },
    }
    keys_before = wired.key_status()
    # When the responder gets it, Then it records a heartbeat and touches no user
    assert responder.lambda_handler(event, context_for(wired.account_id))["status"] == "heartbeat"
    assert wired.key_status() == keys_before
    assert wired.inline_policies() == []
    # and the leak-signal parser never accepts the canary source
    with pytest.raises(TriggerError):
        parse_event(event)


def test_a_canary_source_with_another_detail_type_is_ignored(wired: MotoAccount) -> None:
    event = {"source": CANARY_SOURCE, "detail-type": "AWS API Call via CloudTrail", "detail": {}}
    result = responder.lambda_handler(event, context_for(wired.account_id))
    assert (result["status"], heartbeats()) == ("ignored", 0)


def test_a_heartbeat_cloudwatch_refuses_goes_back_alone_and_the_leak_is_still_contained(
    wired: MotoAccount,
) -> None:
    # Given a batch with the daily canary and a real leak signal, and CloudWatch refusing the heartbeat
    leak = sample("cloudtrail-attach-quarantine.json")
    leak["account"] = leak["detail"]["recipientAccountId"] = wired.account_id
    leak["detail"]["requestParameters"]["userName"] = wired.user
    canary = {
        "id": "c1",
        "source": CANARY_SOURCE,
        "detail-type": CANARY_DETAIL_TYPE,
        "detail": {"sent_at": "now"},
    }
    aws = Aws(region=REGION)
    batch_responder = Responder(
        replace(responder.SETTINGS, ledger_table=None),
        aws,
        f"arn:aws:lambda:{REGION}:{wired.account_id}:function:r",
    )
    with Stubber(aws.client("cloudwatch")) as stub:
        stub.add_client_error("put_metric_data", "AccessDenied", "no", http_status_code=403)
        # When the batch is answered
        result = respond_to_batch(
            [Delivery("canary", json.dumps(canary)), Delivery("leak", json.dumps(leak))], batch_responder
        )
    # Then only the canary goes back to the queue, and the leaked key is contained
    assert result.failed == ["canary"]
    assert wired.key_status()[wired.key] == "Inactive"


def canary_event() -> dict[str, Any]:
    return {
        "id": "c1",
        "source": CANARY_SOURCE,
        "detail-type": CANARY_DETAIL_TYPE,
        "detail": {"sent_at": "now"},
    }


def test_the_heartbeat_reaches_the_topic_and_the_email_filter_keeps_it_out_of_mailboxes(
    wired: MotoAccount,
) -> None:
    # Given a subscription filtered like the construct's e-mail subscriptions, beside the account's inbox
    sns, sqs = boto3.client("sns", region_name=REGION), boto3.client("sqs", region_name=REGION)
    mailbox = sqs.create_queue(QueueName="mailbox")["QueueUrl"]
    mailbox_arn = sqs.get_queue_attributes(QueueUrl=mailbox, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    sns.subscribe(
        TopicArn=wired.settings.topic_arn,
        Protocol="sqs",
        Endpoint=mailbox_arn,
        Attributes={"FilterPolicy": json.dumps(heartbeat_filter())},
    )
    # When the canary reaches the responder
    result = responder.lambda_handler(canary_event(), context_for(wired.account_id))
    # Then the heartbeat was published to the topic (the MissingNotice alarm counts NumberOfMessagesPublished)
    assert (result["status"], result["notice"]) == ("heartbeat", "published")
    (notice,) = wired.notifications()
    assert notice["MessageAttributes"][NOTICE_KIND_ATTRIBUTE]["Value"] == HEARTBEAT_NOTICE
    # and the filtered subscription got nothing, while a real notice still reaches it
    assert sqs.receive_message(QueueUrl=mailbox).get("Messages", []) == []
    sns.publish(TopicArn=wired.settings.topic_arn, Message="a leak was contained")
    (mail,) = sqs.receive_message(QueueUrl=mailbox)["Messages"]
    assert json.loads(mail["Body"])["Message"] == "a leak was contained"


def test_a_heartbeat_the_topic_refuses_goes_back_to_the_queue(wired: MotoAccount) -> None:
    # Given the topic's key disabled by someone (SNS refuses the publish): the heartbeat metric alone would hide it
    aws = Aws(region=REGION)
    batch_responder = Responder(
        responder.SETTINGS, aws, f"arn:aws:lambda:{REGION}:{wired.account_id}:function:r"
    )
    with Stubber(aws.client("sns")) as stub:
        stub.add_client_error("publish", "KMSDisabled", "key disabled", http_status_code=400)
        result = respond_to_batch([Delivery("canary", json.dumps(canary_event()))], batch_responder)
    # Then the canary goes back (retried, then dead-lettered: the dead-letter alarm is on the alarm topic)
    assert result.failed == ["canary"]
    assert result.results["canary"]["status"] == "heartbeat-failed"
