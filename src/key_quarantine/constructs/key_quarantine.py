"""``KeyQuarantine``: contain a leaked IAM access key within seconds of any signal, and keep the evidence."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

import aws_cdk as cdk
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cloudwatch_actions
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions

from constructs import Construct
from key_quarantine.constructs.detection_rules import DetectionRules
from key_quarantine.constructs.pipeline_canary import PipelineCanary
from key_quarantine.constructs.pipeline_policies import (
    TABLE_ADMIN_ACTIONS,
    TABLE_WRITE_ACTIONS,
    ArnList,
    alarm_source,
    allow_service_delivery,
    allow_use_by,
    default_admins,
    deny_except,
    pipeline_key,
)
from key_quarantine.constructs.responder_function import ResponderFunction
from key_quarantine.constructs.responder_queue import ResponderQueue
from key_quarantine.constructs.tamper_alarms import TamperAlarms
from key_quarantine.constructs.trigger_rules import DEFAULT_GUARDDUTY_FINDING_TYPES, TriggerRules
from key_quarantine.constructs.undo_watch import UndoWatch
from key_quarantine.data import GLOBAL_EVENTS_REGION, QUARANTINE_POLICY_NAME_PREFIX
from key_quarantine.data.detections import categories as detection_categories
from key_quarantine.handlers.batch import HANDED_BACK
from key_quarantine.handlers.canary import HEARTBEAT_NAMESPACE, NOTICE_KIND_ATTRIBUTE
from key_quarantine.handlers.correlation import CORRELATIONS, Thresholds
from key_quarantine.handlers.ledger import SWEEP_ACTIONS as LEDGER_SWEEP_ACTIONS
from key_quarantine.handlers.ledger_seal import SEAL_ACTIONS
from key_quarantine.handlers.policy_watch import WATCH_ACTIONS
from key_quarantine.handlers.settings import (
    DEFAULT_EXEMPT_TAG,
    STACK_OUTPUTS,
    Containment,
    Exemption,
    ResponseMode,
    check_revocable_roles,
    exemptions_to_environment,
    revocable_role_patterns,
)
from key_quarantine.handlers.sweep import AUDIT_ACTIONS, POLICY_SCOPED_READS

SWEEP_HANDLER = "key_quarantine.handlers.daily_sweep.lambda_handler"


class KeyQuarantine(Construct):
    """Auto-remediation for leaked long-lived IAM access keys. Deploy it in a stack pinned to us-east-1.

    Every prop is keyword-only; defaults are the safe ones.

    :param mode: ``ResponseMode.CONTAIN`` (default) deactivates the key and denies the user;
        ``ResponseMode.NOTIFY`` only records evidence and notifies.
    :param containment: ``Containment.DENY_ALL`` (default): an inline Deny of everything on the user;
        ``Containment.REVOKE_OLDER_SESSIONS``: deny credentials issued before the containment (ends STS
        sessions already minted from the key, lets fresh ones through once the key is replaced).
    :param delete_keys: delete the leaked keys after the evidence is kept (default False: deactivate only).
    :param remove_console_access: delete the user's console password too (default False).
    :param exemptions: the principals the responder only notifies about (default none): each an
        ``Exemption(principal, reason)`` whose principal is an IAM user name, a user ARN or a path prefix
        (``/break-glass/``). The only way to exempt a user: a tag can be written by the key's holder.
    :param exempt_tag: a tag that used to exempt; a user carrying it who is not in ``exemptions`` is contained
        and the notice says the tag was ignored (default ``key-quarantine:exempt``).
    :param revoke_role_sessions: when the key's trail shows it assumed a role (``AssumeRole``), put the IAM
        console's "Revoke active sessions" policy (``AWSRevokeOlderSessions``: deny every action to tokens issued
        before now) on that role (default False: each such session is reported with the exact command, and stays
        valid until it expires, up to 12 h). The trade-off: it denies *every* session of that role issued before
        now, the owner's workloads on the role included, until the inline policy is removed (new sessions work).
        Only roles in ``revocable_roles`` are ever touched, and only with that one policy.
    :param revocable_roles: the roles ``revoke_role_sessions`` may act on (required when it is on; default none):
        each ``*`` (every role of the account), a path prefix (``/apps/``), a role name (at path ``/``) or a role
        ARN. From deployed configuration only, never from a tag: the key's holder may tag roles
        (``iam:TagRole`` is in no quarantine policy). The stack's own roles and ``pipeline_admin_arns`` are never
        revocable, whatever the patterns say.
    :param dry_run: log and notify the plan, change nothing (default False).
    :param existing_topic: an SNS topic to notify; default a new KMS-encrypted topic.
    :param notification_emails: addresses subscribed to the topic (default none).
    :param existing_evidence_bucket: a bucket for evidence; default a new versioned, encrypted, TLS-only one.
    :param evidence_object_lock: turn on S3 Object Lock (governance, 365 days) on the new evidence bucket
        (default False; cannot be combined with ``existing_evidence_bucket``).
    :param cloudtrail_lookback_hours: how far back the evidence searches CloudTrail (default 24).
    :param cloudtrail_regions: regions whose CloudTrail is searched (default the stack's region).
    :param guardduty_finding_types: GuardDuty finding types that trigger a response (default
        ``DEFAULT_GUARDDUTY_FINDING_TYPES``; empty turns the GuardDuty rule off).
    :param security_hub: also import a finding in AWS Security Hub (ASFF) (default False).
    :param daily_sweep: once a day, audit the account from the credential report, respond to users AWS
        quarantined whose keys are still active (a missed event) and send one summary (default True).
    :param max_key_age_days: the sweep reports active keys older than this (default 90).
    :param max_unused_key_days: the sweep reports active keys unused this long (default 30).
    :param detections: abuse categories to watch for calls made with long-lived user keys (default all:
        ``key_quarantine.data.detections.categories()``, listed in DETECTIONS.md); empty turns detections off.
        Calls by roles, AWS services and CloudFormation never match.
    :param contain_on_detection: detection categories, or correlations (``CORRELATIONS``: ``ecs-multi-region``,
        ``ec2-mining-setup``, ``secrets-sweep`` ...), that contain the key (default none: notify with evidence).
    :param correlation_thresholds: regions, call counts and windows of the correlations (default
        ``Thresholds()``: 3 regions in 60 minutes, 15 minutes, 5 calls in 10 minutes, 10 secret reads in 10).
    :param detection_allow_list: user names or access key ids expected to make those calls (e.g. an application
        user that calls Bedrock): never acted on (default none).
    :param tamper_alarms: notify when anyone but CloudFormation disables, deletes or changes our rules,
        functions, roles, the CloudTrail trail, or deletes evidence (default True); see ``TamperAlarms``.
    :param watched_trail_names: trails whose StopLogging/DeleteTrail/UpdateTrail/PutEventSelectors alarm (default
        None: every trail in the account).
    :param reenable_on_tamper: also re-enable a trigger, detection, sweep or canary rule someone disabled
        (default False: an operator may disable one on purpose; the alarm fires either way).
    :param pipeline_admin_arns: the roles that may disable or delete the construct's KMS keys, change their
        policies or grants, change or delete its queues and tables (default: the stack's CloudFormation execution
        role from CDK's bootstrap, so that deployments still can; required when the stack's synthesizer has none).
        Every other principal of the account is denied those calls, whatever its IAM policy says.
    :param operator_role_arns: roles people run ``key-quarantine contain/release/replay-dlq`` with: they may use
        the pipeline key, write the ledger, read the dead letters and send to the buffer (default none). Every
        other principal of the account may not, whatever its IAM policy says.

    :ivar encryption_key: the pipeline's key (topic, queues, tables); ``alarm_key``: the alarm topic's own key;
        ``seal_key``: the HMAC key that seals the ledger's items (``handlers.ledger_seal``).
    :ivar alarm_topic: where alarms and tamper alerts go, encrypted with ``alarm_key``: a disabled or
        unusable pipeline key does not silence them.
    :ivar topic: the notification topic.
    :ivar evidence_bucket: where evidence is written.
    :ivar ledger: the incident ledger table.
    :ivar signals: recent abuse calls per key (TTL), for correlation.
    :ivar responder: the responder function (``responder.function``, ``.role``, ``.dead_letter_queue``).
    :ivar buffer: the queue between the rules and the responder (``buffer.queue``), read in batches.
    :ivar responder_target: the EventBridge target that delivers to the responder through ``buffer`` (retries,
        dead letters).
    :ivar triggers: the EventBridge rules (``triggers.rules``).
    :ivar detections: the abuse detection rules (``detections.rules``, by category).
    :ivar undo_watch: the rule on calls that undo a containment (``undo_watch.rule``): a contained user's deny
        deleted, a credential set Active, its boundary removed, a new key or password, our tags changed. The
        responder tells a human and contains again, unless the caller is the pipeline's own role or a release.
    :ivar alarms: the alarms on dead letters, responder errors, and signals handed back to the queue.
    :ivar sweep: the daily sweep function (``sweep.function``), or None when ``daily_sweep`` is False.
    :ivar canary: the sweep's canary rule, its missing-heartbeat alarm and missing-notice alarm (the heartbeat's
        notice never reached ``topic``), or None when ``daily_sweep`` is False. E-mail subscriptions to ``topic``
        filter the heartbeat notice out.
    :ivar tamper: the tamper alarms (``tamper.rules``), or None when ``tamper_alarms`` is False.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        mode: ResponseMode = ResponseMode.CONTAIN,
        containment: Containment = Containment.DENY_ALL,
        delete_keys: bool = False,
        remove_console_access: bool = False,
        exemptions: Sequence[Exemption] = (),
        exempt_tag: str = DEFAULT_EXEMPT_TAG,
        revoke_role_sessions: bool = False,
        revocable_roles: Sequence[str] = (),
        dry_run: bool = False,
        existing_topic: sns.ITopic | None = None,
        notification_emails: Sequence[str] = (),
        existing_evidence_bucket: s3.IBucket | None = None,
        evidence_object_lock: bool = False,
        cloudtrail_lookback_hours: int = 24,
        cloudtrail_regions: Sequence[str] | None = None,
        guardduty_finding_types: Sequence[str] = DEFAULT_GUARDDUTY_FINDING_TYPES,
        security_hub: bool = False,
        daily_sweep: bool = True,
        max_key_age_days: int = 90,
        max_unused_key_days: int = 30,
        detections: Sequence[str] | None = None,
        contain_on_detection: Sequence[str] = (),
        detection_allow_list: Sequence[str] = (),
        correlation_thresholds: Thresholds | None = None,
        tamper_alarms: bool = True,
        watched_trail_names: Sequence[str] | None = None,
        reenable_on_tamper: bool = False,
        pipeline_admin_arns: Sequence[str] | None = None,
        operator_role_arns: Sequence[str] = (),
    ) -> None:
        chosen = list(detection_categories() if detections is None else detections)
        known = {*detection_categories(), *CORRELATIONS}
        unknown = sorted({*chosen, *contain_on_detection} - known)
        if unknown:
            raise ValueError(f"unknown detection categories {unknown}; known: {', '.join(sorted(known))}")
        if existing_evidence_bucket is not None and evidence_object_lock:
            raise ValueError(
                "evidence_object_lock applies to the bucket KeyQuarantine creates: set it on your own bucket"
            )
        if cloudtrail_lookback_hours <= 0:
            raise ValueError("cloudtrail_lookback_hours must be positive")
        super().__init__(scope, construct_id)
        stack = cdk.Stack.of(self)
        _check_region(self, stack)
        self.admins = list(default_admins(stack) if pipeline_admin_arns is None else pipeline_admin_arns)
        if not self.admins:
            raise ValueError(
                "pipeline_admin_arns is needed: the stack's synthesizer names no CloudFormation execution role, and "
                "the role that deploys the stack must be allowed to change the construct's keys and queues"
            )
        self.operators = list(operator_role_arns)
        self.encryption_key = pipeline_key(
            self, "Key", description="key-quarantine: topic, queue and ledger encryption", admins=self.admins
        )
        self.alarm_key = pipeline_key(
            self, "AlarmKey", description="key-quarantine: the alarm topic's encryption", admins=self.admins
        )
        self.seal_key = pipeline_key(
            self,
            "LedgerSealKey",
            description="key-quarantine: seals the ledger's word (HMAC), usable by the responder's roles only",
            admins=self.admins,
            key_spec=kms.KeySpec.HMAC_256,
            key_usage=kms.KeyUsage.GENERATE_VERIFY_MAC,
        )
        self.topic = existing_topic or self._new_topic()
        self.alarm_topic = sns.Topic(
            self,
            "Alarms",
            display_name="key-quarantine alarms",
            master_key=self.alarm_key,
            enforce_ssl=True,
        )
        for address in notification_emails:
            _without_heartbeats(self.topic.add_subscription(subscriptions.EmailSubscription(address)))
            self.alarm_topic.add_subscription(subscriptions.EmailSubscription(address))
        self.evidence_bucket = existing_evidence_bucket or self._new_evidence_bucket(
            object_lock=evidence_object_lock
        )
        self.ledger = dynamodb.Table(
            self,
            "Ledger",
            partition_key=dynamodb.Attribute(name="incident_id", type=dynamodb.AttributeType.STRING),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            encryption=dynamodb.TableEncryption.CUSTOMER_MANAGED,
            encryption_key=self.encryption_key,
            removal_policy=cdk.RemovalPolicy.RETAIN,
        )
        self.signals = dynamodb.Table(
            self,
            "Signals",
            partition_key=dynamodb.Attribute(name="identity", type=dynamodb.AttributeType.STRING),
            sort_key=dynamodb.Attribute(name="at", type=dynamodb.AttributeType.STRING),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            time_to_live_attribute="expires",
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            encryption=dynamodb.TableEncryption.CUSTOMER_MANAGED,
            encryption_key=self.encryption_key,
        )
        regions = list(cloudtrail_regions or [stack.region])
        environment = {
            "KQ_MODE": mode.value,
            "KQ_CONTAINMENT": containment.value,
            "KQ_DELETE_KEYS": str(delete_keys).lower(),
            "KQ_REMOVE_CONSOLE_ACCESS": str(remove_console_access).lower(),
            "KQ_EXEMPT_TAG": exempt_tag,
            "KQ_EXEMPTIONS": exemptions_to_environment(tuple(exemptions)),
            "KQ_DRY_RUN": str(dry_run).lower(),
            "KQ_TOPIC_ARN": self.topic.topic_arn,
            "KQ_EVIDENCE_BUCKET": self.evidence_bucket.bucket_name,
            "KQ_LEDGER_TABLE": self.ledger.table_name,
            "KQ_SIGNALS_TABLE": self.signals.table_name,
            "KQ_LOOKBACK_HOURS": str(cloudtrail_lookback_hours),
            "KQ_REGIONS": ",".join(regions),
            "KQ_SECURITY_HUB": str(security_hub).lower(),
            "KQ_MAX_KEY_AGE_DAYS": str(max_key_age_days),
            "KQ_MAX_UNUSED_KEY_DAYS": str(max_unused_key_days),
            "KQ_CONTAIN_CATEGORIES": ",".join(contain_on_detection),
            "KQ_ALLOW_LIST": ",".join(detection_allow_list),
            "KQ_CORRELATION": (correlation_thresholds or Thresholds()).to_environment(),
            "KQ_CANARY": str(daily_sweep).lower(),
            "KQ_LEDGER_MAC_KEY": self.seal_key.key_arn,
            "KQ_REVOKE_ROLE_SESSIONS": str(revoke_role_sessions).lower(),
            "KQ_REVOCABLE_ROLES": ",".join(revocable_roles if revoke_role_sessions else ()),
        }
        revocable = self._revocation(stack, revoke_role_sessions=revoke_role_sessions, roles=revocable_roles)
        buffer_arn = ArnList()  # the buffer is made after the responder it feeds; the second look sends to it
        resources_by_service = {
            "s3": [self.evidence_bucket.arn_for_objects("incidents/*")],
            "sqs": buffer_arn.token(),
            "sns": [self.topic.topic_arn],
            "dynamodb": [self.ledger.table_arn, self.signals.table_arn],
            "kms": [self.seal_key.key_arn],
            "securityhub": [
                stack.format_arn(
                    service="securityhub", resource="product", resource_name=f"{stack.account}/default"
                )
            ],
        }
        self.responder = ResponderFunction(
            self,
            "Responder",
            encryption_key=self.encryption_key,
            environment=environment,
            resources_by_service=resources_by_service,
            revocable_roles=revocable,
        )
        self.sweep_schedule: events.Rule | None = None
        self.sweep = self._daily_sweep(environment, resources_by_service, revocable) if daily_sweep else None
        functions = [self.responder, *([self.sweep] if self.sweep else [])]
        for function in functions:
            self.encryption_key.grant_encrypt_decrypt(function.role)
        self._protect_tables([f.role.role_arn for f in functions])
        self._allow_deliveries(stack)
        self.buffer = ResponderQueue(
            self,
            "Buffer",
            function=self.responder.function,
            encryption_key=self.encryption_key,
            dead_letter_queue=self.responder.dead_letter_queue,
            senders=self.operators,
            dead_letter_readers=self.operators,
            admins=self.admins,
        )
        buffer_arn.arns.append(self.buffer.queue.queue_arn)
        self.responder.function.add_environment("KQ_SECOND_LOOK_QUEUE_URL", self.buffer.queue.queue_url)
        self.responder_target = self.buffer.target()
        self.triggers = TriggerRules(
            self, "Triggers", target=self.responder_target, guardduty_finding_types=guardduty_finding_types
        )
        self.detections = DetectionRules(self, "Detections", categories=chosen, target=self.responder_target)
        self.undo_watch = self._undo_watch(
            functions, exempt_tag, persistence_detected="persistence" in chosen
        )
        self.alarms = self._alarms()
        self.canary = (
            PipelineCanary(
                self,
                "Canary",
                target=self.responder_target,
                responder=self.responder.function,
                sender=self.sweep.role,
                topic=self.alarm_topic,
                notices=self.topic,
            )
            if self.sweep
            else None
        )
        self.tamper = (
            self._tamper_alarms(watched_trail_names, reenable=reenable_on_tamper) if tamper_alarms else None
        )
        self._after_every_resource(stack, functions)

    def _after_every_resource(self, stack: cdk.Stack, functions: Sequence[ResponderFunction]) -> None:
        """What reads the whole construct: key use by its functions, wildcards explained, outputs, protected roles."""
        self._allow_key_use(functions)
        self._explain_wildcards(stack)
        self._outputs()
        self._protect_own_roles(stack)

    def _allow_deliveries(self, stack: cdk.Stack) -> None:
        # EventBridge delivers to the buffer and its dead letters; it sends KMS no aws:SourceArn or
        # aws:SourceAccount for a target's encryption (the queue policies name the rules instead). CDK's SNS target
        # adds the same statement to a topic's key.
        allow_service_delivery(self.encryption_key, "EventBridgeDelivers", "events.amazonaws.com", None)
        allow_service_delivery(
            self.alarm_key, "CloudWatchAlarmsNotify", "cloudwatch.amazonaws.com", alarm_source(stack)
        )

    def _undo_watch(
        self, functions: Sequence[ResponderFunction], exempt_tag: str, *, persistence_detected: bool
    ) -> UndoWatch:
        """The watch on calls that undo a containment; the responder knows its own roles and the operators'."""
        own_roles = [f.role for f in functions]
        self.responder.function.add_environment(
            "KQ_OWN_ROLE_ARNS", cdk.Fn.join(",", [role.role_arn for role in own_roles])
        )
        self.responder.function.add_environment("KQ_OPERATOR_ROLE_ARNS", ",".join(self.operators))
        return UndoWatch(
            self,
            "UndoWatch",
            target=self.responder_target,
            own_roles=own_roles,
            exempt_tag=exempt_tag,
            creations_by_user_keys=not persistence_detected,
        )

    def _outputs(self) -> None:
        """What `key-quarantine drill` reads from the deployed stack, under fixed names (one construct a stack)."""
        values = {"ledger": self.ledger.table_name, "topic": self.topic.topic_arn}
        for what, name in STACK_OUTPUTS.items():
            output = cdk.CfnOutput(self, name, value=values[what], description=f"key-quarantine: the {what}")
            output.override_logical_id(name)

    def _allow_key_use(self, functions: Sequence[ResponderFunction]) -> None:
        """Who may use each key, by ``aws:PrincipalArn`` (so an operator role need not exist when the policy is
        set): our functions' roles and the operators on the pipeline key; the re-enabler on the alarm key."""
        ours = [*(f.role.role_arn for f in functions), *self.operators]
        allow_use_by(self.encryption_key, ours)
        allow_use_by(self.alarm_key, [r.role_arn for r in self._alarm_publishers()])
        allow_use_by(self.seal_key, ours, SEAL_ACTIONS)

    def _alarm_publishers(self) -> list[iam.IRole]:
        reenabler = self.tamper.reenabler if self.tamper else None
        return [reenabler.role] if reenabler and reenabler.role else []

    def _protect_tables(self, writers: Sequence[str]) -> None:
        """Only our functions and the operators write the ledger; only the responder the signals table."""
        for table, allowed in ((self.ledger, [*writers, *self.operators]), (self.signals, writers[:1])):
            table.add_to_resource_policy(deny_except("OnlyOursWrite", TABLE_WRITE_ACTIONS, allowed))
            table.add_to_resource_policy(
                deny_except("OnlyAdminsChangeTheTable", TABLE_ADMIN_ACTIONS, self.admins)
            )

    def _tamper_alarms(self, trail_names: Sequence[str] | None, *, reenable: bool) -> TamperAlarms:
        functions = [self.responder, *([self.sweep] if self.sweep else [])]
        pipeline_rules: list[events.IRule] = [
            *self.triggers.rules.values(),
            *self.detections.rules.values(),
            self.undo_watch.rule,
            *([self.canary.rule] if self.canary else []),
            *([self.sweep_schedule] if self.sweep_schedule else []),
        ]
        return TamperAlarms(
            self,
            "Tamper",
            topic=self.alarm_topic,
            rules=pipeline_rules,
            functions=[f.function for f in functions],
            roles=[f.role for f in functions],
            evidence_bucket=self.evidence_bucket,
            queues=[self.buffer.queue, self.responder.dead_letter_queue],
            event_source_mappings=[self.buffer.event_source_mapping_id],
            keys=[self.encryption_key, self.alarm_key, self.seal_key],
            topics=[self.topic, self.alarm_topic],
            tables=[self.ledger, self.signals],
            key_watchers=[self.topic],
            trail_names=trail_names,
            reenable_on_tamper=reenable,
            reenable_rules=pipeline_rules,
        )

    def _revocation(self, stack: cdk.Stack, *, revoke_role_sessions: bool, roles: Sequence[str]) -> list[str]:
        """The role ARN patterns the role-session revocation may act on in this account (none when it is off);
        ``revocable_roles`` keeps the entries, for a member account's role."""
        _check_revocation(revoke_role_sessions, tuple(roles))
        self.revocable_roles: tuple[str, ...] = tuple(roles) if revoke_role_sessions else ()
        return revocable_role_patterns(self.revocable_roles, stack.partition, stack.account)

    def _protect_own_roles(self, stack: cdk.Stack) -> None:
        """The role-session revocation never acts on the stack's roles made so far (ours, CDK's) or the admins'."""
        if not self.revocable_roles:
            return
        roles = [role.attr_arn for role in stack.node.find_all() if isinstance(role, iam.CfnRole)]
        for function in (self.responder, *([self.sweep] if self.sweep else [])):
            function.protect_roles([*roles, *self.admins])

    def _daily_sweep(
        self,
        environment: dict[str, str],
        resources_by_service: dict[str, list[str]],
        revocable: Sequence[str] = (),
    ) -> ResponderFunction:
        sweep = ResponderFunction(
            self,
            "DailySweep",
            encryption_key=self.encryption_key,
            environment=environment,
            resources_by_service=resources_by_service,
            revocable_roles=revocable,
            handler=SWEEP_HANDLER,
            account_wide_actions=sorted({*AUDIT_ACTIONS, *WATCH_ACTIONS} - POLICY_SCOPED_READS),
            description="key-quarantine daily sweep: finds what events missed and sends one summary",
        )
        stack = cdk.Stack.of(self)
        quarantine_policies = stack.format_arn(
            service="iam",
            region="",
            account="aws",
            resource="policy",
            resource_name=f"{QUARANTINE_POLICY_NAME_PREFIX}*",
        )
        sweep.role.add_to_policy(
            iam.PolicyStatement(
                sid="ContainedUsers", actions=list(LEDGER_SWEEP_ACTIONS), resources=[self.ledger.table_arn]
            )
        )
        sweep.role.add_to_policy(
            iam.PolicyStatement(
                sid="QuarantinePolicyReads",
                actions=sorted(POLICY_SCOPED_READS),
                resources=[quarantine_policies],
            )
        )
        self.sweep_schedule = events.Rule(
            self,
            "DailySweepSchedule",
            description="key-quarantine: the daily sweep",
            schedule=events.Schedule.rate(cdk.Duration.days(1)),
            targets=[targets.LambdaFunction(sweep.function, retry_attempts=2)],
        )
        return sweep

    def _explain_wildcards(self, stack: cdk.Stack) -> None:
        """The responder role's wildcards, each acknowledged for cdk-nag with the reason it cannot be narrower."""
        reasons = {
            "Action::kms:ReEncrypt*": "CDK's encrypt/decrypt grant on this construct's own KMS key.",
            "Action::kms:GenerateDataKey*": "CDK's encrypt/decrypt grant on this construct's own KMS key.",
        }
        account = "<AWS::AccountId>" if cdk.Token.is_unresolved(stack.account) else stack.account
        reasons[f"Resource::arn:<AWS::Partition>:iam::aws:policy/{QUARANTINE_POLICY_NAME_PREFIX}*"] = (
            "AWS's quarantine policy family, by prefix: the sweep reads every version AWS adds."
        )
        reasons[f"Resource::arn:<AWS::Partition>:iam::{account}:user/*"] = (
            "The responder must contain whichever IAM user leaks a key; users only, never roles."
        )
        if isinstance(self.evidence_bucket, s3.Bucket):
            bucket_id = stack.resolve(stack.get_logical_id(self.evidence_bucket.node.default_child))  # type: ignore[arg-type]
            reasons[f"Resource::<{bucket_id}.Arn>/incidents/*"] = "Evidence objects, one folder an incident."
        reasons["Resource::*"] = (
            "cloudtrail:LookupEvents, the credential report and cloudwatch:PutMetricData (scoped by its namespace "
            "condition) support no resource-level permissions."
        )
        for function in (self.responder, *([self.sweep] if self.sweep else [])):
            for evidence, reason in reasons.items():
                cdk.Validations.of(function.role).acknowledge(
                    cdk.Acknowledgment(id=f"AwsSolutions::AwsSolutions-IAM5[{evidence}]", reason=reason)
                )

    def _new_topic(self) -> sns.Topic:
        return sns.Topic(
            self,
            "Notifications",
            display_name="Leaked AWS access keys",
            master_key=self.encryption_key,
            enforce_ssl=True,
        )

    def _new_evidence_bucket(self, *, object_lock: bool) -> s3.Bucket:
        access_logs = s3.Bucket(
            self,
            "EvidenceAccessLogs",
            # ACLs off: log delivery is granted by bucket policy, whatever the app's S3 feature flags say
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            versioned=True,
            removal_policy=cdk.RemovalPolicy.RETAIN,
        )
        cdk.Validations.of(access_logs).acknowledge(
            cdk.Acknowledgment(
                id="AwsSolutions::AwsSolutions-S1", reason="This is the access-log bucket itself."
            )
        )
        evidence = s3.Bucket(
            self,
            "Evidence",
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            versioned=True,
            object_lock_enabled=object_lock or None,
            object_lock_default_retention=_lock_retention() if object_lock else None,
            removal_policy=cdk.RemovalPolicy.RETAIN,
        )
        _log_access(evidence, to=access_logs, prefix="evidence/")
        return evidence

    def _alarms(self) -> list[cloudwatch.Alarm]:
        dead_letters = cloudwatch.Alarm(
            self,
            "DeadLettersAlarm",
            alarm_description="key-quarantine: leak signals the responder could not finish (see the dead-letter queue)",
            metric=self.responder.dead_letter_queue.metric_approximate_number_of_messages_visible(
                period=cdk.Duration.minutes(1)
            ),
            threshold=1,
            evaluation_periods=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        errors = cloudwatch.Alarm(
            self,
            "ResponderErrorsAlarm",
            alarm_description="key-quarantine: the responder failed a step (containment may be incomplete)",
            metric=self.responder.function.metric_errors(period=cdk.Duration.minutes(1)),
            threshold=1,
            evaluation_periods=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        alarms = [dead_letters, errors, self._handed_back_alarm()]
        for alarm in alarms:
            alarm.add_alarm_action(cloudwatch_actions.SnsAction(self.alarm_topic))
        return alarms

    def _handed_back_alarm(self) -> cloudwatch.Alarm:
        """Messages whose response failed go back to the queue without failing the invocation: counted from the
        responder's log, so that a failure alarms at once rather than when the message is dead-lettered."""
        handed_back = logs.MetricFilter(
            self,
            "HandedBackFilter",
            log_group=self.responder.function.log_group,
            metric_namespace=HEARTBEAT_NAMESPACE,
            metric_name="HandedBack",
            filter_pattern=logs.FilterPattern.literal(f'"{HANDED_BACK}"'),
            metric_value="1",
        )
        return cloudwatch.Alarm(
            self,
            "HandedBackAlarm",
            alarm_description="key-quarantine: the responder failed a step and handed the signal back to its queue",
            metric=handed_back.metric(period=cdk.Duration.minutes(1), statistic="Sum"),
            threshold=1,
            evaluation_periods=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )


def heartbeat_filter() -> dict[str, Any]:
    """An e-mail subscription's filter: every message but the canary's heartbeat notice (which has the attribute;
    notices from EventBridge and the playbook have none)."""
    return {NOTICE_KIND_ATTRIBUTE: [{"exists": False}]}


def _without_heartbeats(subscription: sns.Subscription) -> None:
    # on the CfnSubscription: CDK's SubscriptionFilter cannot say "attribute absent"
    cast("sns.CfnSubscription", subscription.node.default_child).filter_policy = heartbeat_filter()


def _lock_retention() -> s3.ObjectLockRetention:
    return s3.ObjectLockRetention.governance(cdk.Duration.days(365))


def _log_access(bucket: s3.Bucket, *, to: s3.Bucket, prefix: str) -> None:
    """Server access logging granted by bucket policy, not the legacy log-delivery ACL (which CDK would choose
    unless the app sets @aws-cdk/aws-s3:serverAccessLogsUseBucketPolicy): same result whatever the app's flags."""
    cfn_bucket = cast("s3.CfnBucket", bucket.node.default_child)
    cfn_bucket.logging_configuration = s3.CfnBucket.LoggingConfigurationProperty(
        destination_bucket_name=to.bucket_name, log_file_prefix=prefix
    )
    to.add_to_resource_policy(
        iam.PolicyStatement(
            sid="S3ServerAccessLogs",
            principals=[iam.ServicePrincipal("logging.s3.amazonaws.com")],
            actions=["s3:PutObject"],
            resources=[to.arn_for_objects(f"{prefix}*")],
            conditions={
                "ArnLike": {"aws:SourceArn": bucket.bucket_arn},
                "StringEquals": {"aws:SourceAccount": cdk.Stack.of(bucket).account},
            },
        )
    )


def _check_revocation(revoke_role_sessions: bool, revocable_roles: tuple[str, ...]) -> None:
    if revoke_role_sessions and not revocable_roles:
        raise ValueError(
            "revoke_role_sessions needs revocable_roles: the roles whose older sessions may be denied (* for every "
            "role of the account, a path prefix such as /apps/, role names or ARNs)"
        )
    if revocable_roles and not revoke_role_sessions:
        raise ValueError(
            "revocable_roles is set but revoke_role_sessions is off: turn it on, or drop the roles"
        )
    check_revocable_roles(revocable_roles)


def _check_region(construct: Construct, stack: cdk.Stack) -> None:
    """IAM CloudTrail events and global AWS Health events reach EventBridge only in us-east-1."""
    if cdk.Token.is_unresolved(stack.region):
        cdk.Annotations.of(construct).add_warning_v2(
            "key-quarantine:region",
            "KeyQuarantine is in an environment-agnostic stack: it works only if deployed to us-east-1 "
            "(IAM and global AWS Health events arrive nowhere else). Pin the stack: env=Environment(region='us-east-1').",
        )
    elif stack.region != GLOBAL_EVENTS_REGION:
        raise ValueError(
            f"KeyQuarantine must be deployed in us-east-1, not {stack.region}: IAM CloudTrail events and global AWS "
            "Health events reach EventBridge only there. Put it in a stack with env=Environment(region='us-east-1'); "
            "for detections in other regions, forward their events to that stack's event bus."
        )
