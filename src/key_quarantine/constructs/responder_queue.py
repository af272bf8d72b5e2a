"""The buffer between EventBridge and the responder: an SQS queue read in batches by an event source mapping.

A leaked key under abuse produces thousands of matching events a minute. Delivered straight to the Lambda, each
is an invocation of its own (thousands running at once, each reading IAM, which throttles per account); through
this queue they arrive in batches the responder groups by key, with a bounded number of batches in flight.
"""

from __future__ import annotations

from collections.abc import Sequence

import aws_cdk as cdk
import jsii
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as sources
from aws_cdk import aws_sqs as sqs
from aws_cdk.interfaces.aws_events import IRuleRef

from constructs import Construct
from key_quarantine.constructs.pipeline_policies import (
    QUEUE_ADMIN_ACTIONS,
    QUEUE_RECEIVE_ACTIONS,
    ArnList,
    deny_except,
)
from key_quarantine.constructs.responder_function import RESPONDER_TIMEOUT

#: Messages a batch: at most this many distinct keys answered by one invocation within its timeout.
DEFAULT_BATCH_SIZE = 100
#: How long the mapping gathers a batch: a burst fills it at once, a lone signal waits at most this long.
DEFAULT_BATCHING_WINDOW = cdk.Duration.seconds(5)
#: Batches in flight at once: IAM throttles calls per account, and each new incident makes about 20 of them.
DEFAULT_MAXIMUM_CONCURRENCY = 5
#: Deliveries of a message before it is dead-lettered (a failed response is retried this many times, minus one).
DEFAULT_MAX_RECEIVE_COUNT = 5
#: EventBridge's retries when the queue refuses a delivery (KMS or policy trouble), then its dead-letter queue.
DELIVERY_RETRY_ATTEMPTS = 4
DELIVERY_MAX_EVENT_AGE = cdk.Duration.hours(2)


class ResponderQueue(Construct):
    """A KMS-encrypted queue that only the construct's rules may send to, read by the responder in batches.

    :param function: the responder, given an event source mapping on the queue (with ReportBatchItemFailures,
        so that only the messages of a failed response are delivered again).
    :param encryption_key: the key that encrypts the queue.
    :param dead_letter_queue: where messages go after ``max_receive_count`` deliveries, and where EventBridge
        puts events it could not deliver to the queue.
    :param batch_size: messages a batch (default ``DEFAULT_BATCH_SIZE``, 100).
    :param batching_window: how long a batch is gathered (default ``DEFAULT_BATCHING_WINDOW``, 5 seconds).
    :param maximum_concurrency: batches in flight at once (default ``DEFAULT_MAXIMUM_CONCURRENCY``, 5; 2 to 1000).
    :param max_receive_count: deliveries before a message is dead-lettered (default ``DEFAULT_MAX_RECEIVE_COUNT``, 5).
    :param senders: principals (role ARNs) that may send to the queues besides our rules (default none: the
        responder's own role is always one, it dead-letters its failed asynchronous invocations).
    :param dead_letter_readers: principals that may receive and delete dead letters (``replay-dlq``; default none).
    :param admins: principals that may change, purge or delete the queues (default none: nobody).

    Every other principal of the account is denied ``SendMessage`` unless the call comes from one of our rules
    (``aws:SourceArn``, each rule that binds ``target()``), receive/delete on the buffer unless it is the
    responder's role, and the queue-changing calls.

    :ivar queue: the buffer queue.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        function: lambda_.IFunction,
        encryption_key: kms.IKey,
        dead_letter_queue: sqs.IQueue,
        batch_size: int = DEFAULT_BATCH_SIZE,
        batching_window: cdk.Duration = DEFAULT_BATCHING_WINDOW,
        maximum_concurrency: int = DEFAULT_MAXIMUM_CONCURRENCY,
        max_receive_count: int = DEFAULT_MAX_RECEIVE_COUNT,
        senders: Sequence[str] = (),
        dead_letter_readers: Sequence[str] = (),
        admins: Sequence[str] = (),
    ) -> None:
        if not 2 <= maximum_concurrency <= 1000:  # noqa: PLR2004 - the range Lambda accepts
            raise ValueError(f"maximum_concurrency must be between 2 and 1000, not {maximum_concurrency}")
        if not 1 <= batch_size <= 10_000:  # noqa: PLR2004 - the range Lambda accepts for a standard queue
            raise ValueError(f"batch_size must be between 1 and 10000, not {batch_size}")
        super().__init__(scope, construct_id)
        self._dead_letter_queue = dead_letter_queue
        self.queue = sqs.Queue(
            self,
            "Queue",
            encryption=sqs.QueueEncryption.KMS,
            encryption_master_key=encryption_key,
            enforce_ssl=True,
            # AWS advises six times the function's timeout, so a batch still running is not delivered twice
            visibility_timeout=cdk.Duration.seconds(RESPONDER_TIMEOUT.to_seconds() * 6),
            retention_period=cdk.Duration.days(4),
            dead_letter_queue=sqs.DeadLetterQueue(
                queue=dead_letter_queue, max_receive_count=max_receive_count
            ),
        )
        self._rule_arns = ArnList()
        self._protect(function, senders, dead_letter_readers, admins)
        event_source = sources.SqsEventSource(
            self.queue,
            batch_size=batch_size,
            max_batching_window=batching_window,
            max_concurrency=maximum_concurrency,
            report_batch_item_failures=True,
        )
        function.add_event_source(event_source)
        self.event_source_mapping_id = event_source.event_source_mapping_id

    def _protect(
        self,
        function: lambda_.IFunction,
        senders: Sequence[str],
        readers: Sequence[str],
        admins: Sequence[str],
    ) -> None:
        own = [function.role.role_arn] if function.role else []
        allowed_senders = [*own, *senders]
        for queue, receivers in ((self.queue, own), (self._dead_letter_queue, [*readers, *admins])):
            queue.add_to_resource_policy(_deny_send_except(self._rule_arns, allowed_senders))
            queue.add_to_resource_policy(deny_except("OnlyOursReceive", QUEUE_RECEIVE_ACTIONS, receivers))
            queue.add_to_resource_policy(deny_except("OnlyAdminsChangeTheQueue", QUEUE_ADMIN_ACTIONS, admins))

    def target(self) -> events.IRuleTarget:
        """A rule target: each rule that uses it is admitted by the queue's policy (aws:SourceArn), no other."""
        return _QueueTarget(self.queue, self._dead_letter_queue, self._rule_arns)


def _deny_send_except(rule_arns: ArnList, senders: Sequence[str]) -> iam.PolicyStatement:
    """Both must fail for a Deny: not one of our rules (EventBridge sends the rule's ARN) and not a named sender."""
    return iam.PolicyStatement(
        sid="OnlyOurRulesSend",
        effect=iam.Effect.DENY,
        principals=[iam.StarPrincipal()],  # "*": EventBridge itself too, for a rule that is not ours
        actions=["sqs:SendMessage"],
        resources=["*"],
        conditions={"ArnNotEquals": {"aws:SourceArn": rule_arns.token(), "aws:PrincipalArn": list(senders)}},
    )


@jsii.implements(events.IRuleTarget)
class _QueueTarget:
    """Like CDK's SqsQueue target, but it admits each rule by its ARN even though the queue is KMS-encrypted (CDK's
    own target then grants every EventBridge rule, of any account, unless a feature flag is set)."""

    def __init__(self, queue: sqs.IQueue, dead_letter_queue: sqs.IQueue, rule_arns: ArnList) -> None:
        self._queue = queue
        self._dead_letter_queue = dead_letter_queue
        self._rule_arns = rule_arns

    def bind(self, rule: IRuleRef, id: str | None = None) -> events.RuleTargetConfig:  # noqa: ARG002
        rule_arn = rule.rule_ref.rule_arn
        self._rule_arns.arns.append(rule_arn)
        for queue in (self._queue, self._dead_letter_queue):
            queue.add_to_resource_policy(
                iam.PolicyStatement(
                    sid=f"Allow{cdk.Names.node_unique_id(rule.node)}"[:100],
                    principals=[iam.ServicePrincipal("events.amazonaws.com")],
                    actions=["sqs:SendMessage"],
                    resources=[queue.queue_arn],
                    conditions={"ArnEquals": {"aws:SourceArn": rule_arn}},
                )
            )
        return events.RuleTargetConfig(
            arn=self._queue.queue_arn,
            target_resource=self._queue,
            dead_letter_config=events.CfnRule.DeadLetterConfigProperty(arn=self._dead_letter_queue.queue_arn),
            retry_policy=events.CfnRule.RetryPolicyProperty(
                maximum_retry_attempts=DELIVERY_RETRY_ATTEMPTS,
                maximum_event_age_in_seconds=int(DELIVERY_MAX_EVENT_AGE.to_seconds()),
            ),
        )
