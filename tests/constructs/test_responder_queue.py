"""The buffer between the rules and the responder: queue, its policy and encryption, the event source mapping."""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sqs as sqs

from key_quarantine.constructs.responder_function import RESPONDER_TIMEOUT
from key_quarantine.constructs.responder_queue import (
    DEFAULT_BATCH_SIZE,
    DEFAULT_MAX_RECEIVE_COUNT,
    DEFAULT_MAXIMUM_CONCURRENCY,
    ResponderQueue,
)
from key_quarantine.data.detections import categories
from key_quarantine.handlers.batch import HANDED_BACK
from tests.constructs.test_key_quarantine import assembly, resources, template

__all__ = ["assembly", "template"]


def buffer_queue(template: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    (found,) = [
        (lid, q)
        for lid, q in resources(template, "AWS::SQS::Queue").items()
        if lid.startswith("KeyQuarantineBuffer")
    ]
    return found


def event_rules(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The rules that carry leak signals and undos (and the canary that proves their path), not the tamper alarms'."""
    prefixes = (
        "KeyQuarantineTriggers",
        "KeyQuarantineDetections",
        "KeyQuarantineUndoWatch",
        "KeyQuarantineCanary",
    )
    return {lid: r for lid, r in resources(template, "AWS::Events::Rule").items() if lid.startswith(prefixes)}


def test_every_rule_delivers_to_the_buffer_queue(template: dict[str, Any]) -> None:
    queue_id, _ = buffer_queue(template)
    assert len(event_rules(template)) == 4 + len(categories()) + 1 + 1  # the undo watch, the canary
    for rule in event_rules(template).values():
        (target,) = rule["Properties"]["Targets"]
        assert target["Arn"] == {"Fn::GetAtt": [queue_id, "Arn"]}


def test_queue_is_encrypted_and_dead_letters_after_the_receive_limit(template: dict[str, Any]) -> None:
    _, queue = buffer_queue(template)
    properties = queue["Properties"]
    assert "KmsMasterKeyId" in properties
    assert properties["RedrivePolicy"]["maxReceiveCount"] == DEFAULT_MAX_RECEIVE_COUNT
    (dead_letters,) = [
        lid
        for lid in resources(template, "AWS::SQS::Queue")
        if lid.startswith("KeyQuarantineResponderDeadLetters")
    ]
    assert properties["RedrivePolicy"]["deadLetterTargetArn"] == {"Fn::GetAtt": [dead_letters, "Arn"]}
    # a batch still running is never handed to a second invocation: six times the function's timeout
    assert properties["VisibilityTimeout"] == 6 * RESPONDER_TIMEOUT.to_seconds()


def test_queue_policy_admits_only_our_rules(template: dict[str, Any]) -> None:
    queue_id, _ = buffer_queue(template)
    (policy,) = [
        p
        for p in resources(template, "AWS::SQS::QueuePolicy").values()
        if {"Ref": queue_id} in p["Properties"]["Queues"]
    ]
    statements = policy["Properties"]["PolicyDocument"]["Statement"]
    allows = [s for s in statements if s["Effect"] == "Allow"]
    assert all(s["Principal"] == {"Service": "events.amazonaws.com"} for s in allows)
    senders = {s["Condition"]["ArnEquals"]["aws:SourceArn"]["Fn::GetAtt"][0] for s in allows}
    assert senders == set(event_rules(template))
    assert any(
        s["Effect"] == "Deny" and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
        for s in statements
    )


def test_responder_reads_the_queue_in_bounded_batches(template: dict[str, Any]) -> None:
    (mapping,) = resources(template, "AWS::Lambda::EventSourceMapping").values()
    properties = mapping["Properties"]
    assert properties["BatchSize"] == DEFAULT_BATCH_SIZE
    assert properties["MaximumBatchingWindowInSeconds"] == 5
    assert properties["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert properties["ScalingConfig"] == {"MaximumConcurrency": DEFAULT_MAXIMUM_CONCURRENCY}
    assert properties["FunctionName"]["Ref"].startswith("KeyQuarantineResponderFunction")


def test_eventbridge_may_use_the_pipeline_key_to_deliver_and_the_queue_names_the_rules(
    template: dict[str, Any],
) -> None:
    """EventBridge's use of the key carries no aws:SourceArn/aws:SourceAccount condition: the Amazon SNS Developer
    Guide ("Enable compatibility between event sources from AWS services and encrypted topics",
    https://docs.aws.amazon.com/sns/latest/dg/sns-key-management.html#compatibility-with-aws-services) says those
    keys are not supported in a KMS key policy for EventBridge delivery, so a condition on them would drop every
    signal. The queue's own policy admits the rules by aws:SourceArn, which SQS does receive."""
    (key,) = [
        k for lid, k in resources(template, "AWS::KMS::Key").items() if lid.startswith("KeyQuarantineKey")
    ]
    (statement,) = [
        s for s in key["Properties"]["KeyPolicy"]["Statement"] if s.get("Sid") == "EventBridgeDelivers"
    ]
    assert statement["Principal"] == {"Service": "events.amazonaws.com"}
    assert sorted(statement["Action"]) == ["kms:Decrypt", "kms:GenerateDataKey*"]
    assert "Condition" not in statement


@pytest.mark.parametrize(("option", "value"), [("maximum_concurrency", 1), ("batch_size", 0)])
def test_out_of_range_settings_are_refused_with_their_name(option: str, value: int) -> None:
    stack = cdk.Stack(cdk.App(), "S")
    function = lambda_.Function.from_function_name(stack, "F", "f")
    with pytest.raises(ValueError, match=option):
        ResponderQueue(
            stack,
            "Q",
            function=function,
            encryption_key=kms.Key(stack, "K"),
            dead_letter_queue=sqs.Queue(stack, "D"),
            **{option: value},
        )


def test_a_signal_handed_back_to_the_queue_alarms_at_once(template: dict[str, Any]) -> None:
    # a failed response no longer fails the invocation (ReportBatchItemFailures): its log line is counted instead
    (metric_filter,) = resources(template, "AWS::Logs::MetricFilter").values()
    properties = metric_filter["Properties"]
    assert properties["FilterPattern"] == f'"{HANDED_BACK}"'
    assert properties["LogGroupName"]["Ref"].startswith("KeyQuarantineResponderLogs")
    (transformation,) = properties["MetricTransformations"]
    (alarm,) = [a for lid, a in resources(template, "AWS::CloudWatch::Alarm").items() if "HandedBack" in lid]
    assert (alarm["Properties"]["MetricName"], alarm["Properties"]["Namespace"]) == (
        transformation["MetricName"],
        transformation["MetricNamespace"],
    )
    assert alarm["Properties"]["Threshold"] == 1
    (action,) = alarm["Properties"]["AlarmActions"]
    assert action["Ref"].startswith("KeyQuarantineAlarms")  # the alarm topic, under its own key
