"""``TamperAlarms``: tell the topic when anyone switches our watch off: rules, functions, roles, trail, evidence,
keys, topics, tables.

Every pattern names our resources through CloudFormation references (rule, function, role and bucket names are
tokens in the pattern), never wildcards, and leaves out calls CloudFormation made (``userIdentity.invokedBy``
``cloudformation.amazonaws.com``): our own deployments do not alarm. A failed attempt alarms too.

Regions: IAM's CloudTrail events reach EventBridge only in us-east-1; Lambda, EventBridge, CloudTrail and S3 events
in the region of the resource. KeyQuarantine is pinned to us-east-1, so every watch is in its stack.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

import aws_cdk as cdk
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs

from constructs import Construct
from key_quarantine.constructs.event_patterns import event_pattern
from key_quarantine.constructs.handler_code import HANDLER_RUNTIME, handler_code
from key_quarantine.data import CLOUDTRAIL_DETAIL_TYPE
from key_quarantine.data.detections import not_by_cloudformation
from key_quarantine.handlers.tamper import REENABLE_ACTIONS

#: Rule calls by the request field that names the rule: one tamper rule each, as one pattern naming every rule
#: twice would pass EventBridge's 2,048-character pattern limit with CloudFormation's 64-character names.
RULE_CALLS = {"name": ("DisableRule", "DeleteRule", "PutRule"), "rule": ("RemoveTargets", "PutTargets")}
#: Names one such rule lists (64 characters each at most): the rest go to a second rule of the same calls.
RULE_NAMES_PER_PATTERN = 20
#: Lambda's CloudTrail event names carry an API version (UpdateFunctionCode20150331v2): matched by prefix.
FUNCTION_CALL_PREFIXES = (
    "UpdateFunction",
    "DeleteFunction",
    "PutFunction",
    "AddPermission",
    "RemovePermission",
)
ROLE_CALLS = (
    "PutRolePolicy",
    "DeleteRolePolicy",
    "AttachRolePolicy",
    "DetachRolePolicy",
    "UpdateAssumeRolePolicy",
    "DeleteRole",
    "PutRolePermissionsBoundary",
    "DeleteRolePermissionsBoundary",
    "UpdateRole",
)
TRAIL_CALLS = ("StopLogging", "DeleteTrail", "UpdateTrail", "PutEventSelectors")
#: Calls that replace or remove the whole stack: a CloudFormation deployment by anyone who may deploy it. Our own
#: deployments alarm too (the message says to check); CloudFormation's calls for nested stacks do not.
STACK_CALLS = (
    "DeleteStack",
    "UpdateStack",
    "ExecuteChangeSet",
    "UpdateTerminationProtection",
    "SetStackPolicy",
)
#: Calls that drop the signals waiting in a queue or stop them reaching the responder.
QUEUE_CALLS = ("DeleteQueue", "PurgeQueue", "SetQueueAttributes", "AddPermission", "RemovePermission")
#: Disabling or deleting the queue's event source mapping stops the responder silently (no errors, no DLQ).
MAPPING_CALL_PREFIXES = ("UpdateEventSourceMapping", "DeleteEventSourceMapping")
#: Bucket calls that delete evidence or stop the deletion alarm (the EventBridge switch is PutBucketNotification).
BUCKET_CALLS = (
    "DeleteBucket",
    "PutBucketPolicy",
    "DeleteBucketPolicy",
    "PutBucketLifecycle",
    "PutBucketVersioning",
    "PutBucketNotification",
    "PutObjectLockConfiguration",
)
#: Calls that switch a key off for the pipeline or hand its use to someone (the key policy lets only the named
#: admins make them: an attempt alarms too).
KEY_CALLS = (
    "DisableKey",
    "ScheduleKeyDeletion",
    "PutKeyPolicy",
    "CreateGrant",
    "RevokeGrant",
    "RetireGrant",
    "DisableKeyRotation",
    "DeleteImportedKeyMaterial",
)
#: Calls that silence a topic: a subscription removed or filtered, the topic's policy, key or delivery changed.
TOPIC_CALLS = (
    "Unsubscribe",
    "SetSubscriptionAttributes",
    "SetTopicAttributes",
    "DeleteTopic",
    "AddPermission",
    "RemovePermission",
)
#: Calls that drop the ledger's or the signals' items or change who may write them.
TABLE_CALLS = (
    "DeleteTable",
    "UpdateTable",
    "PutResourcePolicy",
    "DeleteResourcePolicy",
    "UpdateTimeToLive",
    "UpdateContinuousBackups",
)
REENABLE_HANDLER = "key_quarantine.handlers.tamper.lambda_handler"


def cloudtrail_pattern(
    source: str, event_names: Sequence[Any], request: dict[str, Any] | None = None
) -> dict[str, Any]:
    """A management call to ``source`` (e.g. ``aws.iam``) naming ``request``, not made by CloudFormation."""
    detail: dict[str, Any] = {
        "eventSource": [f"{source.removeprefix('aws.')}.amazonaws.com"],
        "eventName": list(event_names),
        "userIdentity": {"invokedBy": not_by_cloudformation()},
    }
    if request:
        detail["requestParameters"] = request
    return {"source": [source], "detail-type": [CLOUDTRAIL_DETAIL_TYPE], "detail": detail}


def rules_pattern(rule_names: Sequence[str], field: str) -> dict[str, Any]:
    """Calls that name a rule in ``field`` (``name`` or ``rule``, see ``RULE_CALLS``)."""
    return cloudtrail_pattern("aws.events", RULE_CALLS[field], {field: list(rule_names)})


def functions_pattern(function_names: Sequence[str]) -> dict[str, Any]:
    """A function is named by its name, a full or partial ARN, each optionally with a qualifier."""
    forms: list[Any] = []
    for name in function_names:
        forms += [
            name,
            {"prefix": f"{name}:"},
            {"suffix": f":function:{name}"},
            {"wildcard": f"*:function:{name}:*"},
        ]
    prefixes = [{"prefix": call} for call in FUNCTION_CALL_PREFIXES]
    return cloudtrail_pattern("aws.lambda", prefixes, {"functionName": forms})


def roles_pattern(role_names: Sequence[str]) -> dict[str, Any]:
    return cloudtrail_pattern("aws.iam", ROLE_CALLS, {"roleName": list(role_names)})


def queues_pattern(queue_names: Sequence[str]) -> dict[str, Any]:
    """SQS names a queue by its URL (``https://sqs.<region>.amazonaws.com/<account>/<name>``): the last segment."""
    return cloudtrail_pattern(
        "aws.sqs", QUEUE_CALLS, {"queueUrl": [{"suffix": f"/{n}"} for n in queue_names]}
    )


def mappings_pattern(mapping_ids: Sequence[str], queue_arns: Sequence[str]) -> dict[str, Any]:
    """A mapping is named by its UUID in the request, and its queue in the answer (CloudTrail records both)."""
    by_id = {"uUID": list(mapping_ids)}
    if not queue_arns:
        return cloudtrail_pattern("aws.lambda", [{"prefix": c} for c in MAPPING_CALL_PREFIXES], by_id)
    pattern = cloudtrail_pattern("aws.lambda", [{"prefix": call} for call in MAPPING_CALL_PREFIXES])
    pattern["detail"]["$or"] = [
        {"requestParameters": by_id},
        {"responseElements": {"eventSourceArn": list(queue_arns)}},
    ]
    return pattern


def keys_pattern(key_ids: Sequence[str]) -> dict[str, Any]:
    """KMS names a key by id, key ARN (``...:key/<id>``) or alias; our keys have no alias (CreateAlias is not
    delegated to IAM), so the id and ARN forms cover every call that can reach them."""
    forms: list[Any] = []
    for key_id in key_ids:
        forms += [key_id, {"suffix": f":key/{key_id}"}]
    return cloudtrail_pattern("aws.kms", KEY_CALLS, {"keyId": forms})


def topics_pattern(topic_arns: Sequence[str]) -> dict[str, Any]:
    """Topic calls name ``topicArn``; subscription calls a ``subscriptionArn`` that is the topic's ARN + ``:<id>``."""
    pattern = cloudtrail_pattern("aws.sns", TOPIC_CALLS)
    pattern["detail"]["$or"] = [
        {"requestParameters": {"topicArn": list(topic_arns)}},
        {"requestParameters": {"subscriptionArn": [{"prefix": f"{arn}:"} for arn in topic_arns]}},
    ]
    return pattern


def tables_pattern(table_names: Sequence[str], table_arns: Sequence[str]) -> dict[str, Any]:
    """Table calls name ``tableName``; the resource-policy calls ``resourceArn``."""
    pattern = cloudtrail_pattern("aws.dynamodb", TABLE_CALLS)
    pattern["detail"]["$or"] = [
        {"requestParameters": {"tableName": list(table_names)}},
        {"requestParameters": {"resourceArn": list(table_arns)}},
    ]
    return pattern


def stack_pattern(stack_name: str, stack_id: str) -> dict[str, Any]:
    return cloudtrail_pattern("aws.cloudformation", STACK_CALLS, {"stackName": [stack_name, stack_id]})


def trail_pattern(trail_names: Sequence[str] | None) -> dict[str, Any]:
    """``None``: every trail of the account (any trail logging is what feeds the CloudTrail rules)."""
    if trail_names is None:
        return cloudtrail_pattern("aws.cloudtrail", TRAIL_CALLS)
    forms: list[Any] = []
    for name in trail_names:
        forms += [name, {"suffix": f":trail/{name}"}]
    pattern = cloudtrail_pattern("aws.cloudtrail", TRAIL_CALLS)
    # PutEventSelectors names the trail ``trailName``; the other calls ``name``
    pattern["detail"]["$or"] = [{"requestParameters": {field: forms}} for field in ("name", "trailName")]
    return pattern


def bucket_calls_pattern(bucket_name: str) -> dict[str, Any]:
    return cloudtrail_pattern("aws.s3", BUCKET_CALLS, {"bucketName": [bucket_name]})


def object_deleted_pattern(bucket_name: str) -> dict[str, Any]:
    """S3's own EventBridge notification (no data-event trail needed): a delete marker or a permanent delete."""
    return {
        "source": ["aws.s3"],
        "detail-type": ["Object Deleted"],
        "detail": {"bucket": {"name": [bucket_name]}},
    }


def disable_rule_pattern(rule_names: Sequence[str]) -> dict[str, Any]:
    return cloudtrail_pattern("aws.events", ["DisableRule"], {"name": list(rule_names)})


class TamperAlarms(Construct):
    """One rule a kind of resource, each notifying the topic; optionally a handler that re-enables our rules.

    :param topic: where alerts go.
    :param rules: our EventBridge rules (on the default bus): disabled, deleted, retargeted or rewritten.
    :param functions: our functions: code, configuration, concurrency, permissions changed or deleted.
    :param roles: our functions' roles: policies or trust changed, role deleted.
    :param queues: our queues (the buffer, the dead letters): deleted, purged, their attributes or permissions
        changed (default none).
    :param event_source_mappings: the ids of our functions' event source mappings: disabled, changed or deleted
        (default none).
    :param evidence_bucket: our evidence: objects deleted, bucket policy, lifecycle, versioning or notification
        changed. A bucket KeyQuarantine created gets EventBridge notifications turned on; an existing bucket must
        have them turned on by its owner (S3 > Properties > Amazon EventBridge) or deletions go unseen.
    :param keys: our KMS keys: disabled, scheduled for deletion, their policy or grants changed (default none).
    :param topics: our topics: a subscription removed or filtered, the topic changed or deleted (default none).
    :param tables: our tables (ledger, signals): deleted, changed, their resource policy changed (default none).
    :param key_watchers: more topics the key alarm also notifies (default none): a disabled key silences the
        topics it encrypts, so the key alarm goes to topics under another key as well.
    :param trail_names: names (or ARNs) of the trails to watch (default None: every trail in the account, since
        any trail logging is what the CloudTrail rules depend on).
    :param reenable_on_tamper: re-enable ``reenable_rules`` when someone disables one (default False: an operator
        may disable a rule on purpose, e.g. to stop a misfiring responder; the alarm fires either way).
    :param reenable_rules: the rules the handler may re-enable (default none).

    :ivar rules: the tamper rules by what they watch (Functions, Roles, Trail, Stack, Queues, Mappings, Topics,
        Tables, Keys, BucketCalls, ObjectDeleted, Rules, RuleTargets).
    :ivar reenabler: the re-enable function, or None.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        topic: sns.ITopic,
        rules: Sequence[events.IRule],
        functions: Sequence[lambda_.IFunction],
        roles: Sequence[iam.IRole],
        evidence_bucket: s3.IBucket,
        queues: Sequence[sqs.IQueue] = (),
        event_source_mappings: Sequence[str] = (),
        keys: Sequence[kms.IKey] = (),
        topics: Sequence[sns.ITopic] = (),
        tables: Sequence[dynamodb.ITable] = (),
        key_watchers: Sequence[sns.ITopic] = (),
        trail_names: Sequence[str] | None = None,
        reenable_on_tamper: bool = False,
        reenable_rules: Sequence[events.IRule] = (),
    ) -> None:
        super().__init__(scope, construct_id)
        self._topic = topic
        self.reenabler = (
            self._reenabler(reenable_rules, topic) if reenable_on_tamper and reenable_rules else None
        )
        self.rules: dict[str, events.Rule] = {}
        if isinstance(evidence_bucket, s3.Bucket):
            # On the CfnBucket itself: CDK's own switch deploys a notifications custom resource (another Lambda)
            cfn_bucket = cast("s3.CfnBucket", evidence_bucket.node.default_child)
            cfn_bucket.add_property_override(
                "NotificationConfiguration.EventBridgeConfiguration.EventBridgeEnabled", value=True
            )
        else:
            cdk.Annotations.of(self).add_warning_v2(
                "key-quarantine:evidence-notifications",
                "Evidence deletion alarms need EventBridge notifications on the existing evidence bucket: turn them "
                "on (S3 > Properties > Amazon EventBridge), or deleted evidence goes unseen.",
            )
        watched_functions = [*functions, *([self.reenabler] if self.reenabler else [])]
        watched_roles = [*roles, *([self.reenabler.role] if self.reenabler and self.reenabler.role else [])]
        own = {
            "Functions": (
                functions_pattern([f.function_name for f in watched_functions]),
                "our functions changed",
            ),
            "Roles": (
                roles_pattern([r.role_name for r in watched_roles]),
                "our roles or their policies changed",
            ),
            "Trail": (trail_pattern(trail_names), "CloudTrail logging stopped or changed"),
            "Stack": (
                stack_pattern(cdk.Stack.of(self).stack_name, cdk.Stack.of(self).stack_id),
                "our stack updated or deleted through CloudFormation",
            ),
            "BucketCalls": (bucket_calls_pattern(evidence_bucket.bucket_name), "the evidence bucket changed"),
            "ObjectDeleted": (object_deleted_pattern(evidence_bucket.bucket_name), "evidence deleted"),
        }
        if queues:
            own["Queues"] = (queues_pattern([q.queue_name for q in queues]), "our queues changed")
        if event_source_mappings:
            own["Mappings"] = (
                mappings_pattern(event_source_mappings, [q.queue_arn for q in queues]),
                "the responder's event source mapping changed",
            )
        if topics:
            own["Topics"] = (topics_pattern([t.topic_arn for t in topics]), "our notifications were silenced")
        if tables:
            own["Tables"] = (
                tables_pattern([t.table_name for t in tables], [t.table_arn for t in tables]),
                "our ledger or signals table changed",
            )
        for name, (pattern, what) in own.items():
            self.rules[name] = self._rule(name, pattern, what)
        if keys:
            self.rules["Keys"] = self._rule(
                "Keys",
                keys_pattern([k.key_id for k in keys]),
                "a key of the pipeline was switched off or shared",
                also_notify=key_watchers,
            )
        # Last, so they watch the other tamper rules too. A rule cannot report its own disabling (EventBridge
        # evaluates that call after the rule is off) nor, without a reference cycle, its watcher's; the canary
        # still proves the trigger path daily.
        watched = [*rules, *self.rules.values(), *([self._reenable_rule] if self.reenabler else [])]
        watchers = self._rules_watch("Rules", watched, "name", "our EventBridge rules changed")
        self._rules_watch(
            "RuleTargets", [*watched, *watchers], "rule", "our EventBridge rules' targets changed"
        )

    def _rules_watch(
        self, name: str, watched: Sequence[events.IRule], field: str, what: str
    ) -> list[events.IRule]:
        """As many rules as the names need: a pattern holds RULE_NAMES_PER_PATTERN of them (Rules, Rules2 ...)."""
        made: list[events.IRule] = []
        for start in range(0, len(watched), RULE_NAMES_PER_PATTERN):
            chunk = watched[start : start + RULE_NAMES_PER_PATTERN]
            rule_id = name if start == 0 else f"{name}{start // RULE_NAMES_PER_PATTERN + 1}"
            self.rules[rule_id] = self._rule(
                rule_id, rules_pattern([r.rule_name for r in chunk], field), what
            )
            made.append(self.rules[rule_id])
        return made

    def _rule(
        self, name: str, pattern: dict[str, Any], what: str, also_notify: Sequence[sns.ITopic] = ()
    ) -> events.Rule:
        message = _message(what, pattern)
        return events.Rule(
            self,
            name,
            description=f"key-quarantine tamper alarm: {what}",
            event_pattern=event_pattern(pattern),
            targets=[targets.SnsTopic(topic, message=message) for topic in (self._topic, *also_notify)],
        )

    def _reenabler(self, rules: Sequence[events.IRule], topic: sns.ITopic) -> lambda_.Function:
        role = iam.Role(
            self,
            "ReenableRole",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description="key-quarantine: re-enables our EventBridge rules, and nothing else",
        )
        role.add_to_policy(
            iam.PolicyStatement(actions=list(REENABLE_ACTIONS), resources=[rule.rule_arn for rule in rules])
        )
        log_group = logs.LogGroup(
            self,
            "ReenableLogs",
            retention=logs.RetentionDays.ONE_YEAR,
            removal_policy=cdk.RemovalPolicy.RETAIN,
        )
        log_group.grant_write(role)
        topic.grant_publish(role)
        cdk.Validations.of(role).acknowledge(
            cdk.Acknowledgment(
                id="AwsSolutions::AwsSolutions-IAM5[Action::kms:GenerateDataKey*]",
                reason="CDK's publish grant on the topic's own KMS key.",
            )
        )
        function = lambda_.Function(
            self,
            "Reenable",
            runtime=HANDLER_RUNTIME,
            architecture=lambda_.Architecture.ARM_64,
            handler=REENABLE_HANDLER,
            code=handler_code(),
            role=role,
            log_group=log_group,
            timeout=cdk.Duration.seconds(30),
            environment={
                "KQ_WATCHED_RULES": ",".join(rule.rule_name for rule in rules),
                "KQ_TOPIC_ARN": topic.topic_arn,
            },
            description="key-quarantine: re-enables a rule of ours that someone disabled",
        )
        pattern = disable_rule_pattern([rule.rule_name for rule in rules])
        self._reenable_rule = events.Rule(
            self,
            "ReenableOnDisable",
            description="key-quarantine: re-enable a disabled rule of ours",
            event_pattern=event_pattern(pattern),
            targets=[targets.LambdaFunction(function, retry_attempts=4)],
        )
        return function


def _message(what: str, pattern: dict[str, Any]) -> events.RuleTargetInput:
    """A readable alert with who, what and when; S3's deletion events carry other fields than CloudTrail's."""
    field = events.EventField.from_path
    if pattern["detail-type"] == ["Object Deleted"]:
        return events.RuleTargetInput.from_text(
            f"key-quarantine TAMPER ALERT: {what}. Object {field('$.detail.object.key')} deleted from "
            f"{field('$.detail.bucket.name')} by {field('$.detail.requester')} from "
            f"{field('$.detail.source-ip-address')} at {field('$.time')} ({field('$.detail.deletion-type')})."
        )
    return events.RuleTargetInput.from_text(
        f"key-quarantine TAMPER ALERT: {what}. {field('$.detail.eventName')} by "
        f"{field('$.detail.userIdentity.arn')} from {field('$.detail.sourceIPAddress')} at "
        f"{field('$.detail.eventTime')} in {field('$.detail.awsRegion')} (CloudTrail event "
        f"{field('$.detail.eventID')}). If it was not a deployment of ours, treat the account as compromised."
    )
