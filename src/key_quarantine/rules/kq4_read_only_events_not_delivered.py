"""KQ4: a rule meant to see read-only management events (InvokeModel, GetSendQuota) that never receives them."""

from __future__ import annotations

from collections.abc import Iterator

from key_quarantine.rules.base import Finding, Level, Rule, RuleContext
from key_quarantine.rules.monitoring import ALL_MANAGEMENT_EVENTS_STATE
from key_quarantine.rules.signals import SignalFamily

MAX_NAMED_EVENTS = 8


def check(context: RuleContext) -> Iterator[Finding]:
    for rule in context.monitoring.event_rules:
        if not rule.can_deliver or rule.state == ALL_MANAGEMENT_EVENTS_STATE:
            continue
        missed = [s.name.removeprefix("read-only:") for s in rule.matched_in(SignalFamily.READ_ONLY_ABUSE)]
        if missed:
            named = ", ".join(missed[:MAX_NAMED_EVENTS])
            more = f" and {len(missed) - MAX_NAMED_EVENTS} more" if len(missed) > MAX_NAMED_EVENTS else ""
            message = (
                f"Rule '{rule.resource.logical_id}' (stack {rule.stack.name}) matches read-only management events "
                f"({named}{more}) but its State is {rule.state}: EventBridge delivers read-only CloudTrail events "
                f"only to rules whose State is {ALL_MANAGEMENT_EVENTS_STATE}."
            )
            yield RULE.finding(rule.resource, message, location="Properties/State")


RULE = Rule(
    id="KQ4",
    level=Level.WARNING,
    name="Read-only abuse events never delivered",
    info="The rule matches read-only management events that EventBridge will not deliver to it.",
    explanation=(
        "LLMjacking and spam reconnaissance are read-only calls (bedrock:InvokeModel, ListFoundationModels, "
        "ses:GetSendQuota, sns:GetSMSAttributes). EventBridge delivers read-only CloudTrail management events "
        "only to rules with State ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS (in CDK set it on the CfnRule: "
        "rule.node.default_child.state = 'ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS')."
    ),
    check=check,
)
