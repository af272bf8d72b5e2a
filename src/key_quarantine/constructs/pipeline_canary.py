"""``PipelineCanary``: a rule that admits the sweep's canary into the trigger path, and an alarm on its heartbeat."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cloudwatch_actions
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns

from constructs import Construct
from key_quarantine.constructs.event_patterns import event_pattern
from key_quarantine.handlers.canary import (
    CANARY_DETAIL_TYPE,
    CANARY_SOURCE,
    HEARTBEAT_DIMENSION,
    HEARTBEAT_METRIC,
    HEARTBEAT_NAMESPACE,
)

#: A daily canary leaves at least one hourly heartbeat in any 25 hours; an hour of slack for the schedule.
HEARTBEAT_WINDOW_HOURS = 25


def canary_pattern() -> dict[str, list[str]]:
    return {"source": [CANARY_SOURCE], "detail-type": [CANARY_DETAIL_TYPE]}


class PipelineCanary(Construct):
    """The canary's own rule on the default bus, delivering like every trigger rule, and the missing-heartbeat alarm.

    :param target: the trigger path's target (the same delivery as the leak-signal rules).
    :param responder: the function that records the heartbeat (the alarm's metric dimension).
    :param sender: the principal that sends the canary (granted ``events:PutEvents`` on the default bus).
    :param topic: where the alarms notify (the alarm topic, under a key of its own).
    :param notices: the topic the responder publishes its heartbeat notice to (default None: no notice alarm).

    :ivar rule: the canary rule.
    :ivar alarm: ALARM when no heartbeat arrived in ``HEARTBEAT_WINDOW_HOURS`` hours (missing data breaches).
    :ivar notice_alarm: ALARM when nothing was published to ``notices`` in that window: the heartbeat reached the
        responder but not the topic (its key disabled or re-policed, its policy changed), or None.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        target: events.IRuleTarget,
        responder: lambda_.IFunction,
        sender: iam.IGrantable,
        topic: sns.ITopic,
        notices: sns.ITopic | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        pattern = canary_pattern()
        self.rule = events.Rule(
            self,
            "Rule",
            description="key-quarantine: the daily sweep's canary, through the trigger path",
            event_pattern=event_pattern(pattern),
            targets=[target],
        )
        events.EventBus.from_event_bus_name(self, "DefaultBus", "default").grant_put_events_to(sender)
        heartbeat = cloudwatch.Metric(
            namespace=HEARTBEAT_NAMESPACE,
            metric_name=HEARTBEAT_METRIC,
            dimensions_map={HEARTBEAT_DIMENSION: responder.function_name},
            statistic="Sum",
            period=cdk.Duration.hours(1),
        )
        self.alarm = _missing_for_a_day(
            self,
            "MissingHeartbeat",
            heartbeat,
            "key-quarantine: no canary heartbeat in 25 hours; the trigger path (rules, delivery, responder) "
            "or the daily sweep is broken or was tampered with",
            topic,
        )
        self.notice_alarm = (
            _missing_for_a_day(
                self,
                "MissingNotice",
                notices.metric_number_of_messages_published(period=cdk.Duration.hours(1), statistic="Sum"),
                "key-quarantine: nothing reached the notification topic in 25 hours, not even the canary's "
                "heartbeat notice; the topic, its KMS key or its policy is broken or was tampered with",
                topic,
            )
            if notices is not None
            else None
        )


def _missing_for_a_day(
    scope: Construct, construct_id: str, metric: cloudwatch.IMetric, description: str, topic: sns.ITopic
) -> cloudwatch.Alarm:
    """Hourly sums, 25 of 25 below 1, missing data breaching: a daily event plus an hour of slack."""
    alarm = cloudwatch.Alarm(
        scope,
        construct_id,
        alarm_description=description,
        metric=metric,
        threshold=1,
        evaluation_periods=HEARTBEAT_WINDOW_HOURS,
        datapoints_to_alarm=HEARTBEAT_WINDOW_HOURS,
        comparison_operator=cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
        treat_missing_data=cloudwatch.TreatMissingData.BREACHING,
    )
    alarm.add_alarm_action(cloudwatch_actions.SnsAction(topic))
    return alarm
