"""Tamper alarms in the synthesized template: each monitored resource's tamper calls alarm, our own deployments
(CloudFormation) and other resources' changes do not; the canary's rule and alarm; the scoped responder role."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_s3 as s3
from aws_cdk.assertions import Template
from cdk_nag import AwsSolutionsChecks

from key_quarantine import KeyQuarantine
from key_quarantine.constructs.tamper_alarms import (
    BUCKET_CALLS,
    KEY_CALLS,
    QUEUE_CALLS,
    ROLE_CALLS,
    STACK_CALLS,
    TABLE_CALLS,
    TOPIC_CALLS,
    TRAIL_CALLS,
)
from key_quarantine.data.detections import categories
from key_quarantine.handlers.canary import CANARY_DETAIL_TYPE, CANARY_SOURCE
from key_quarantine.rules.event_pattern import parse_pattern
from tests.cdk_apps import plugin_report, synth
from tests.deployed import ACCOUNT, PSEUDO, REGION, STACK, Deployed

ENV = cdk.Environment(account=ACCOUNT, region=REGION)
CLOUDFORMATION = "cloudformation.amazonaws.com"
PATTERN_LIMIT = 2048  # EventBridge's default event pattern size, in characters


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The construct with re-enabling on, so every watched resource kind is in one template."""

    def build(app: cdk.App) -> None:
        KeyQuarantine(cdk.Stack(app, "Security", env=ENV), "KeyQuarantine", reenable_on_tamper=True)
        cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app))

    assembly = synth(tmp_path_factory.mktemp("tamper") / "cdk.out", build, fail_on_errors=False)
    loaded: dict[str, Any] = json.loads((assembly / "Security.template.json").read_text())
    loaded["path"] = str(assembly / "Security.template.json")
    loaded["nag"] = plugin_report(assembly, "AwsSolutions")
    return loaded


def logical_id(template: dict[str, Any], prefix: str, resource_type: str) -> str:
    (found,) = [
        lid
        for lid, body in template["Resources"].items()
        if lid.startswith(prefix) and body["Type"] == resource_type and "AccessLogs" not in lid
    ]
    return found


def tamper_rules(template: dict[str, Any], deployed: Deployed) -> dict[str, Any]:
    return {
        lid: parse_pattern(deployed.resolve(body["Properties"]["EventPattern"]))
        for lid, body in template["Resources"].items()
        if lid.startswith("KeyQuarantineTamper")
        and body["Type"] == "AWS::Events::Rule"
        and "Reenable" not in lid
    }


def alarming(template: dict[str, Any], event: dict[str, Any]) -> list[str]:
    """The tamper rules (short names; Rules2 is Rules' second part) that fire on the event, once deployed."""
    rules = tamper_rules(template, Deployed(template))
    return sorted(
        lid.removeprefix("KeyQuarantineTamper")[:-8].rstrip("0123456789")
        for lid, pattern in rules.items()
        if pattern.matches(event)
    )


def cloudtrail(
    service: str, event_name: str, request: dict[str, Any], *, invoked_by: str | None = None
) -> dict[str, Any]:
    """The event EventBridge delivers for a management call recorded by CloudTrail."""
    identity: dict[str, Any] = {
        "type": "IAMUser",
        "arn": f"arn:aws:iam::{ACCOUNT}:user/mallory",
        "accountId": ACCOUNT,
        "accessKeyId": "AKIAIOSFODNN7EXAMPLE",
        "userName": "mallory",
    }
    if invoked_by is not None:  # CloudFormation acting for the deployer: an assumed role, invokedBy set
        identity.update(type="AssumedRole", arn=f"arn:aws:sts::{ACCOUNT}:assumed-role/cdk-deploy/session")
        identity["invokedBy"] = invoked_by
    return {
        "version": "0",
        "id": "6a7e8feb-b491-4cf7-a9f1-bf3703467718",
        "detail-type": "AWS API Call via CloudTrail",
        "source": f"aws.{service}",
        "account": ACCOUNT,
        "time": "2026-11-25T21:00:00Z",
        "region": REGION,
        "resources": [],
        "detail": {
            "eventVersion": "1.09",
            "userIdentity": identity,
            "eventTime": "2026-11-25T21:00:00Z",
            "eventSource": f"{service}.amazonaws.com",
            "eventName": event_name,
            "awsRegion": REGION,
            "sourceIPAddress": invoked_by or "203.0.113.7",
            "requestParameters": request,
            "responseElements": None,
            "eventID": "3e5b1f0c-1111-4a2b-9c3d-5e6f7a8b9c0d",
            "eventType": "AwsApiCall",
            "recipientAccountId": ACCOUNT,
        },
    }


def object_deleted(bucket: str, deletion_type: str) -> dict[str, Any]:
    return {
        "version": "0",
        "id": "2ee9cc15-d022-99ea-1fb8-1b1bac4850f9",
        "detail-type": "Object Deleted",
        "source": "aws.s3",
        "account": ACCOUNT,
        "time": "2026-11-25T21:00:00Z",
        "region": REGION,
        "resources": [f"arn:aws:s3:::{bucket}"],
        "detail": {
            "version": "0",
            "bucket": {"name": bucket},
            "object": {"key": "incidents/abc/evidence.json", "sequencer": "617f0837b476e463"},
            "request-id": "0BH729840619AG5K",
            "requester": ACCOUNT,
            "source-ip-address": "203.0.113.7",
            "reason": "DeleteObject",
            "deletion-type": deletion_type,
        },
    }


# --- each monitored resource: the tamper calls that alarm -------------------------------------------------

Case = Callable[[Deployed, dict[str, Any]], tuple[dict[str, Any], str]]


def rule(prefix: str) -> Callable[[Deployed, dict[str, Any]], str]:
    return lambda d, t: d.name(logical_id(t, prefix, "AWS::Events::Rule"))


def function(prefix: str) -> Callable[[Deployed, dict[str, Any]], str]:
    return lambda d, t: d.name(logical_id(t, prefix, "AWS::Lambda::Function"))


def function_arn(prefix: str) -> Callable[[Deployed, dict[str, Any]], str]:
    return lambda d, t: d.arn(logical_id(t, prefix, "AWS::Lambda::Function"))


def role(prefix: str) -> Callable[[Deployed, dict[str, Any]], str]:
    return lambda d, t: d.name(logical_id(t, prefix, "AWS::IAM::Role"))


def bucket(d: Deployed, t: dict[str, Any]) -> str:
    return d.name(logical_id(t, "KeyQuarantineEvidence", "AWS::S3::Bucket"))


def queue_url(prefix: str) -> Callable[[Deployed, dict[str, Any]], str]:
    """SQS's CloudTrail events name a queue by its URL."""
    return lambda d, t: (
        f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/{d.name(logical_id(t, prefix, 'AWS::SQS::Queue'))}"
    )


def mapping_id(d: Deployed, t: dict[str, Any]) -> str:
    return d.name(
        logical_id(t, "KeyQuarantineResponderFunctionSqsEventSource", "AWS::Lambda::EventSourceMapping")
    )


def key_id(prefix: str) -> Callable[[Deployed, dict[str, Any]], str]:
    return lambda d, t: d.name(logical_id(t, prefix, "AWS::KMS::Key"))


def topic_arn(prefix: str) -> Callable[[Deployed, dict[str, Any]], str]:
    return lambda d, t: d.name(logical_id(t, prefix, "AWS::SNS::Topic"))  # a topic's Ref is its ARN


def table(prefix: str, form: str = "name") -> Callable[[Deployed, dict[str, Any]], str]:
    return lambda d, t: getattr(d, form)(logical_id(t, prefix, "AWS::DynamoDB::Table"))


PIPELINE_KEY, ALARM_KEY = key_id("KeyQuarantineKey"), key_id("KeyQuarantineAlarmKey")
SEAL_KEY = key_id("KeyQuarantineLedgerSealKey")
NOTIFICATIONS, ALARMS = topic_arn("KeyQuarantineNotifications"), topic_arn("KeyQuarantineAlarms")
SUBSCRIPTION = "7f6c1d2e-0000-4000-8000-000000000000"
BUFFER, DEAD_LETTERS = queue_url("KeyQuarantineBufferQueue"), queue_url("KeyQuarantineResponderDeadLetters")
RESPONDER, SWEEP = function("KeyQuarantineResponderFunction"), function("KeyQuarantineDailySweepFunction")
RESPONDER_ARN = function_arn("KeyQuarantineResponderFunction")
TAMPER_CASES: list[tuple[str, str, str, Callable[[Deployed, dict[str, Any]], dict[str, Any]]]] = [
    (
        "Rules",
        "events",
        "DisableRule",
        lambda d, t: {"name": rule("KeyQuarantineTriggersQuarantinePolicy")(d, t)},
    ),
    ("Rules", "events", "DeleteRule", lambda d, t: {"name": rule("KeyQuarantineDetectionsLlmjacking")(d, t)}),
    ("Rules", "events", "PutRule", lambda d, t: {"name": rule("KeyQuarantineDailySweepSchedule")(d, t)}),
    ("Rules", "events", "DisableRule", lambda d, t: {"name": rule("KeyQuarantineCanaryRule")(d, t)}),
    ("Rules", "events", "DisableRule", lambda d, t: {"name": rule("KeyQuarantineTamperFunctions")(d, t)}),
    # the holder's next move once it meets the undo watch: switch the watch off, then undo the containment
    ("Rules", "events", "DisableRule", lambda d, t: {"name": rule("KeyQuarantineUndoWatchRule")(d, t)}),
    ("Rules", "events", "DeleteRule", lambda d, t: {"name": rule("KeyQuarantineUndoWatchRule")(d, t)}),
    (
        "RuleTargets",
        "events",
        "RemoveTargets",
        lambda d, t: {"rule": rule("KeyQuarantineUndoWatchRule")(d, t), "ids": ["Target0"]},
    ),
    (
        "RuleTargets",
        "events",
        "RemoveTargets",
        lambda d, t: {"rule": rule("KeyQuarantineTriggersHealthRisk")(d, t), "ids": ["Target0"]},
    ),
    ("RuleTargets", "events", "PutTargets", lambda d, t: {"rule": rule("KeyQuarantineTamperRules2")(d, t)}),
    ("Functions", "lambda", "UpdateFunctionCode20150331v2", lambda d, t: {"functionName": RESPONDER(d, t)}),
    (
        "Functions",
        "lambda",
        "UpdateFunctionConfiguration20150331v2",
        lambda d, t: {"functionName": RESPONDER_ARN(d, t)},
    ),
    (
        "Functions",
        "lambda",
        "DeleteFunction20150331",
        lambda d, t: {"functionName": f"{ACCOUNT}:function:{SWEEP(d, t)}"},  # a partial ARN
    ),
    ("Functions", "lambda", "PutFunctionConcurrency20171031", lambda d, t: {"functionName": SWEEP(d, t)}),
    (
        "Functions",
        "lambda",
        "RemovePermission20150331v2",
        lambda d, t: {"functionName": f"{RESPONDER(d, t)}:$LATEST", "statementId": "x"},
    ),
    (
        "Functions",
        "lambda",
        "AddPermission20150331v2",
        lambda d, t: {"functionName": f"{RESPONDER_ARN(d, t)}:1", "principal": "*"},
    ),
    (
        "Functions",
        "lambda",
        "UpdateFunctionCode20150331v2",
        lambda d, t: {"functionName": function("KeyQuarantineTamperReenable")(d, t)},
    ),
    *[
        ("Roles", "iam", call, lambda d, t: {"roleName": role("KeyQuarantineResponderRole")(d, t)})
        for call in ROLE_CALLS
    ],
    ("Roles", "iam", "PutRolePolicy", lambda d, t: {"roleName": role("KeyQuarantineDailySweepRole")(d, t)}),
    (
        "Roles",
        "iam",
        "AttachRolePolicy",
        lambda d, t: {"roleName": role("KeyQuarantineTamperReenableRole")(d, t)},
    ),
    *[("Trail", "cloudtrail", call, lambda _d, _t: {"name": "organization-trail"}) for call in TRAIL_CALLS],
    *[("Stack", "cloudformation", call, lambda _d, _t: {"stackName": STACK}) for call in STACK_CALLS],
    ("Stack", "cloudformation", "DeleteStack", lambda _d, _t: {"stackName": PSEUDO["AWS::StackId"]}),
    *[("Queues", "sqs", call, lambda d, t: {"queueUrl": BUFFER(d, t)}) for call in QUEUE_CALLS],
    ("Queues", "sqs", "PurgeQueue", lambda d, t: {"queueUrl": DEAD_LETTERS(d, t)}),
    (
        "Mappings",
        "lambda",
        "UpdateEventSourceMapping20150331",
        lambda d, t: {"uUID": mapping_id(d, t), "enabled": False},
    ),
    ("Mappings", "lambda", "DeleteEventSourceMapping20150331", lambda d, t: {"uUID": mapping_id(d, t)}),
    *[("BucketCalls", "s3", call, lambda d, t: {"bucketName": bucket(d, t)}) for call in BUCKET_CALLS],
    *[("Keys", "kms", call, lambda d, t: {"keyId": PIPELINE_KEY(d, t)}) for call in KEY_CALLS],
    (
        "Keys",
        "kms",
        "DisableKey",
        lambda d, t: {"keyId": f"arn:aws:kms:{REGION}:{ACCOUNT}:key/{ALARM_KEY(d, t)}"},
    ),
    ("Keys", "kms", "ScheduleKeyDeletion", lambda d, t: {"keyId": SEAL_KEY(d, t)}),
    *[
        ("Topics", "sns", call, lambda d, t: {"subscriptionArn": f"{NOTIFICATIONS(d, t)}:{SUBSCRIPTION}"})
        for call in ("Unsubscribe", "SetSubscriptionAttributes")
    ],
    *[
        ("Topics", "sns", call, lambda d, t: {"topicArn": ALARMS(d, t)})
        for call in TOPIC_CALLS
        if call not in {"Unsubscribe", "SetSubscriptionAttributes"}
    ],
    *[
        ("Tables", "dynamodb", call, lambda d, t: {"tableName": table("KeyQuarantineLedger")(d, t)})
        for call in TABLE_CALLS
    ],
    (
        "Tables",
        "dynamodb",
        "PutResourcePolicy",
        lambda d, t: {"resourceArn": table("KeyQuarantineSignals", "arn")(d, t), "policy": "{}"},
    ),
]


@pytest.mark.parametrize(
    ("watch", "service", "event_name", "request_for"),
    TAMPER_CASES,
    ids=[f"{case[0]}-{case[2]}-{n}" for n, case in enumerate(TAMPER_CASES)],
)
def test_tamper_call_alarms_unless_cloudformation_made_it(
    template: dict[str, Any],
    watch: str,
    service: str,
    event_name: str,
    request_for: Callable[[Deployed, dict[str, Any]], dict[str, Any]],
) -> None:
    # Given the deployed names of our resources
    request = request_for(Deployed(template), template)
    # When someone makes the call directly, Then exactly that resource kind's tamper rule fires
    assert alarming(template, cloudtrail(service, event_name, request)) == [watch]
    # and a failed attempt alarms too, and so does a call another AWS service made on someone's behalf
    failed = cloudtrail(service, event_name, request)
    failed["detail"]["errorCode"] = "AccessDenied"
    assert alarming(template, failed) == [watch]
    assert alarming(template, cloudtrail(service, event_name, request, invoked_by="ssm.amazonaws.com")) == [
        watch
    ]
    # When CloudFormation makes it (our own deployment), Then nothing fires
    assert alarming(template, cloudtrail(service, event_name, request, invoked_by=CLOUDFORMATION)) == []


@pytest.mark.parametrize(
    ("service", "event_name", "parameters"),
    [
        ("events", "DisableRule", {"name": "someone-elses-rule"}),
        ("events", "RemoveTargets", {"rule": "someone-elses-rule", "ids": ["1"]}),
        ("lambda", "UpdateFunctionCode20150331v2", {"functionName": "someone-elses-function"}),
        (
            "lambda",
            "DeleteFunction20150331",
            {"functionName": f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:Security-KeyQuarantine-copy"},
        ),
        ("iam", "PutRolePolicy", {"roleName": "someone-elses-role"}),
        (
            "iam",
            "DeleteRole",
            {"roleName": "Security-KeyQuarantineResponder"},
        ),  # a prefix of ours is not ours
        ("s3", "DeleteBucket", {"bucketName": "someone-elses-bucket"}),
        ("cloudformation", "DeleteStack", {"stackName": "SecurityCopy"}),
        ("kms", "DisableKey", {"keyId": "1234abcd-12ab-34cd-56ef-1234567890ab"}),
        (
            "sns",
            "Unsubscribe",
            {"subscriptionArn": f"arn:aws:sns:{REGION}:{ACCOUNT}:other-topic:{SUBSCRIPTION}"},
        ),
        ("sns", "SetTopicAttributes", {"topicArn": f"arn:aws:sns:{REGION}:{ACCOUNT}:other-topic"}),
        ("dynamodb", "DeleteTable", {"tableName": "someone-elses-table"}),
    ],
)
def test_changes_to_other_resources_do_not_alarm(
    template: dict[str, Any], service: str, event_name: str, parameters: dict[str, Any]
) -> None:
    assert alarming(template, cloudtrail(service, event_name, parameters)) == []


def test_other_queues_and_mappings_do_not_alarm_but_a_mapping_moved_off_our_queue_does(
    template: dict[str, Any],
) -> None:
    deployed = Deployed(template)
    buffer = BUFFER(deployed, template)
    # Given a queue whose name ends like ours, and another function's mapping: nothing fires
    lookalike = buffer.replace(f"/{ACCOUNT}/", f"/{ACCOUNT}/copy-of-")
    assert alarming(template, cloudtrail("sqs", "DeleteQueue", {"queueUrl": lookalike})) == []
    other_mapping = {"uUID": "a1b2c3d4-0000-1111-2222-333344445555", "enabled": False}
    assert alarming(template, cloudtrail("lambda", "UpdateEventSourceMapping20150331", other_mapping)) == []
    # When a mapping CloudTrail names only by the queue it reads (the answer) is deleted, Then it alarms
    deleted = cloudtrail("lambda", "DeleteEventSourceMapping20150331", other_mapping)
    queue_arn = deployed.arn(logical_id(template, "KeyQuarantineBufferQueue", "AWS::SQS::Queue"))
    deleted["detail"]["responseElements"] = {"uUID": other_mapping["uUID"], "eventSourceArn": queue_arn}
    assert alarming(template, deleted) == ["Mappings"]


@pytest.mark.parametrize(
    ("service", "event_name", "field", "resource"),
    [
        ("events", "DescribeRule", "name", rule("KeyQuarantineTriggersQuarantinePolicy")),
        ("events", "EnableRule", "name", rule("KeyQuarantineTriggersQuarantinePolicy")),
        ("lambda", "GetFunction20150331v2", "functionName", RESPONDER),
        ("iam", "GetRolePolicy", "roleName", role("KeyQuarantineResponderRole")),
        ("s3", "GetBucketPolicy", "bucketName", bucket),
    ],
)
def test_reads_of_our_resources_do_not_alarm(
    template: dict[str, Any],
    service: str,
    event_name: str,
    field: str,
    resource: Callable[[Deployed, dict[str, Any]], str],
) -> None:
    request = {field: resource(Deployed(template), template)}
    assert alarming(template, cloudtrail(service, event_name, request)) == []


@pytest.mark.parametrize("deletion_type", ["Delete Marker Created", "Permanently Deleted"])
def test_deleted_evidence_alarms_through_s3s_own_notification(
    template: dict[str, Any], deletion_type: str
) -> None:
    evidence = bucket(Deployed(template), template)
    assert alarming(template, object_deleted(evidence, deletion_type)) == ["ObjectDeleted"]
    assert alarming(template, object_deleted("someone-elses-bucket", deletion_type)) == []
    # and the bucket sends them: EventBridge notifications on, without a notifications custom resource
    (body,) = [
        b
        for lid, b in template["Resources"].items()
        if lid == logical_id(template, "KeyQuarantineEvidence", "AWS::S3::Bucket")
    ]
    assert body["Properties"]["NotificationConfiguration"] == {
        "EventBridgeConfiguration": {"EventBridgeEnabled": True}
    }
    assert not [b for b in template["Resources"].values() if b["Type"] == "Custom::S3BucketNotifications"]


def test_every_tamper_rule_notifies_the_alarm_topic_with_who_what_and_when(template: dict[str, Any]) -> None:
    """The alarm topic has a key of its own; the key alarm also goes to the notification topic, so that either
    key being off leaves one channel that tells."""
    topic = logical_id(template, "KeyQuarantineAlarms", "AWS::SNS::Topic")
    notifications = logical_id(template, "KeyQuarantineNotifications", "AWS::SNS::Topic")
    rules = {
        lid: body["Properties"]
        for lid, body in template["Resources"].items()
        if lid.startswith("KeyQuarantineTamper")
        and body["Type"] == "AWS::Events::Rule"
        and "Reenable" not in lid
    }
    # functions, roles, trail, stack, queues, mapping, topics, tables, keys, bucket, objects, and rules and targets
    # in two parts each (their names do not fit one pattern)
    assert len(rules) == 15
    for lid, properties in rules.items():
        assert "EventBusName" not in properties  # the default bus, where AWS's own events arrive
        target, *others = properties["Targets"]
        assert target["Arn"] == {"Ref": topic}
        assert [o["Arn"] for o in others] == ([{"Ref": notifications}] if "TamperKeys" in lid else [])
        paths = set(target["InputTransformer"]["InputPathsMap"].values())
        assert {"$.detail.eventName", "$.detail.userIdentity.arn"} <= paths or {
            "$.detail.object.key",
            "$.detail.requester",
        } <= paths


def test_patterns_fit_eventbridges_size_limit_with_the_longest_names(template: dict[str, Any]) -> None:
    # CloudFormation's generated names are at most 64 characters: resolve every Ref to one that long
    longest = Deployed(template, name_length=64)
    rules = [
        body["Properties"]["EventPattern"]
        for body in template["Resources"].values()
        if body["Type"] == "AWS::Events::Rule" and "EventPattern" in body["Properties"]
    ]
    sizes = [len(json.dumps(longest.resolve(pattern))) for pattern in rules]
    assert max(sizes) <= PATTERN_LIMIT, sizes


def test_reenable_handler_may_enable_only_our_pipeline_rules(template: dict[str, Any]) -> None:
    deployed = Deployed(template)
    function_id = logical_id(template, "KeyQuarantineTamperReenable", "AWS::Lambda::Function")
    properties = template["Resources"][function_id]["Properties"]
    watched = deployed.resolve(properties["Environment"]["Variables"]["KQ_WATCHED_RULES"]).split(",")
    assert len(watched) == 7 + len(
        categories()
    )  # 4 triggers, the detections, the undo watch, the canary, the sweep's schedule
    role_id = logical_id(template, "KeyQuarantineTamperReenableRole", "AWS::IAM::Role")
    statements = [
        s
        for body in template["Resources"].values()
        if body["Type"] == "AWS::IAM::Policy" and body["Properties"]["Roles"] == [{"Ref": role_id}]
        for s in body["Properties"]["PolicyDocument"]["Statement"]
    ]
    (enable,) = [s for s in statements if s["Action"] == "events:EnableRule"]
    arns = deployed.resolve(enable["Resource"])
    assert sorted(arn.rsplit("/", 1)[1] for arn in arns) == sorted(watched)
    # and its rule fires on DisableRule of those rules only
    (reenable_rule,) = [
        b["Properties"]["EventPattern"]
        for lid, b in template["Resources"].items()
        if lid.startswith("KeyQuarantineTamperReenableOnDisable") and b["Type"] == "AWS::Events::Rule"
    ]
    pattern = parse_pattern(deployed.resolve(reenable_rule))
    assert pattern.matches(cloudtrail("events", "DisableRule", {"name": watched[0]}))
    undo_watch = rule("KeyQuarantineUndoWatchRule")(deployed, template)
    assert undo_watch in watched
    assert pattern.matches(cloudtrail("events", "DisableRule", {"name": undo_watch}))
    assert not pattern.matches(cloudtrail("events", "DisableRule", {"name": "someone-elses-rule"}))
    assert not pattern.matches(
        cloudtrail("events", "DisableRule", {"name": watched[0]}, invoked_by=CLOUDFORMATION)
    )


def test_aws_solutions_checks_pass_with_each_wildcard_explained(template: dict[str, Any]) -> None:
    assert template["nag"]["violations"] == [], [v["ruleName"] for v in template["nag"]["violations"]]
    assert template["nag"]["conclusion"] == "success"


def test_cfn_lint_accepts_the_template_with_tamper_alarms_and_reenabling(template: dict[str, Any]) -> None:
    cfn_lint = Path(sys.executable).parent / "cfn-lint"
    project = Path(__file__).resolve().parents[2]
    result = subprocess.run(
        [str(cfn_lint), template["path"]], capture_output=True, text=True, cwd=project, check=False
    )
    assert result.returncode == 0, result.stdout


# --- the watched trail, an existing bucket, switching it off ----------------------------------------------


def test_named_trails_narrow_the_trail_watch() -> None:
    stack = cdk.Stack(cdk.App(), "Security", env=ENV)
    KeyQuarantine(stack, "KeyQuarantine", watched_trail_names=["org-trail"], daily_sweep=False, detections=())
    template = Template.from_stack(stack).to_json()
    trail_arn = f"arn:aws:cloudtrail:{REGION}:{ACCOUNT}:trail/org-trail"
    assert alarming(template, cloudtrail("cloudtrail", "StopLogging", {"name": "org-trail"})) == ["Trail"]
    assert alarming(template, cloudtrail("cloudtrail", "StopLogging", {"name": trail_arn})) == ["Trail"]
    assert alarming(template, cloudtrail("cloudtrail", "StopLogging", {"name": "scratch-trail"})) == []
    # PutEventSelectors (management events off blinds every CloudTrail rule) names the trail ``trailName``
    selectors = {"trailName": "org-trail", "eventSelectors": []}
    assert alarming(template, cloudtrail("cloudtrail", "PutEventSelectors", selectors)) == ["Trail"]


def test_an_existing_evidence_bucket_is_watched_and_its_owner_is_told_to_send_events() -> None:
    app = cdk.App()
    stack = cdk.Stack(app, "Security", env=ENV)
    existing = s3.Bucket.from_bucket_name(stack, "Existing", "my-evidence")
    KeyQuarantine(stack, "KeyQuarantine", existing_evidence_bucket=existing, daily_sweep=False, detections=())
    template = Template.from_stack(stack).to_json()
    assert alarming(template, object_deleted("my-evidence", "Permanently Deleted")) == ["ObjectDeleted"]
    warnings = [str(m.entry.data) for m in app.synth().get_stack_by_name("Security").messages]
    assert any("EventBridge notifications on the existing evidence bucket" in w for w in warnings)


def test_tamper_alarms_can_be_switched_off() -> None:
    stack = cdk.Stack(cdk.App(), "Security", env=ENV)
    construct = KeyQuarantine(stack, "KeyQuarantine", tamper_alarms=False, daily_sweep=False, detections=())
    assert construct.tamper is None
    rules = Template.from_stack(stack).find_resources("AWS::Events::Rule")
    assert not [lid for lid in rules if "Tamper" in lid]


# --- the canary: its rule, delivery and the missing-heartbeat alarm ---------------------------------------


def test_canary_rule_admits_only_the_canary_and_delivers_like_a_trigger(template: dict[str, Any]) -> None:
    canary_id = logical_id(template, "KeyQuarantineCanaryRule", "AWS::Events::Rule")
    trigger_id = logical_id(template, "KeyQuarantineTriggersQuarantinePolicy", "AWS::Events::Rule")
    canary, trigger = (template["Resources"][lid]["Properties"] for lid in (canary_id, trigger_id))
    assert canary["EventPattern"] == {"source": [CANARY_SOURCE], "detail-type": [CANARY_DETAIL_TYPE]}
    assert "EventBusName" not in canary
    assert [{**t, "Id": ""} for t in canary["Targets"]] == [{**t, "Id": ""} for t in trigger["Targets"]]


def test_missing_heartbeat_alarm_breaches_after_25_hours_without_data(template: dict[str, Any]) -> None:
    responder = logical_id(template, "KeyQuarantineResponderFunction", "AWS::Lambda::Function")
    topic = logical_id(template, "KeyQuarantineAlarms", "AWS::SNS::Topic")
    (alarm,) = [
        b["Properties"]
        for b in template["Resources"].values()
        if b["Type"] == "AWS::CloudWatch::Alarm" and b["Properties"].get("MetricName") == "CanaryHeartbeat"
    ]
    assert (alarm["Namespace"], alarm["Statistic"], alarm["Period"]) == ("KeyQuarantine", "Sum", 3600)
    assert alarm["Dimensions"] == [{"Name": "FunctionName", "Value": {"Ref": responder}}]
    assert (alarm["EvaluationPeriods"], alarm["DatapointsToAlarm"]) == (25, 25)
    assert (alarm["ComparisonOperator"], alarm["Threshold"]) == ("LessThanThreshold", 1)
    assert alarm["TreatMissingData"] == "breaching"
    assert alarm["AlarmActions"] == [{"Ref": topic}]  # the alarm topic: the pipeline's key may be what broke


def test_sweep_may_put_events_on_the_default_bus_only(template: dict[str, Any]) -> None:
    role_id = logical_id(template, "KeyQuarantineDailySweepRole", "AWS::IAM::Role")
    statements = [
        s
        for body in template["Resources"].values()
        if body["Type"] == "AWS::IAM::Policy" and {"Ref": role_id} in body["Properties"]["Roles"]
        for s in body["Properties"]["PolicyDocument"]["Statement"]
    ]
    (put,) = [s for s in statements if s["Action"] == "events:PutEvents"]
    assert (
        Deployed(template).resolve(put["Resource"]) == f"arn:aws:events:{REGION}:{ACCOUNT}:event-bus/default"
    )
