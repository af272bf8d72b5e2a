"""KQ3: a rule for IAM CloudTrail or global AWS Health events outside us-east-1, where they never arrive."""

from __future__ import annotations

from collections.abc import Iterator

from key_quarantine.rules.base import Finding, Level, Rule, RuleContext
from key_quarantine.rules.monitoring import EventRuleView
from key_quarantine.rules.signals import GLOBAL_EVENTS_REGION, Signal


def check(context: RuleContext) -> Iterator[Finding]:
    for rule in context.monitoring.event_rules:
        region = rule.stack.root.region
        if not rule.can_deliver or region == GLOBAL_EVENTS_REGION:
            continue
        unforwarded = [
            signal
            for signal in rule.signals
            if signal.is_global
            and signal.name in rule.matched
            and not context.monitoring.forwards_to(rule, signal)
        ]
        if unforwarded:
            yield _finding(rule, region, unforwarded)


def _finding(rule: EventRuleView, region: str | None, unforwarded: list[Signal]) -> Finding:
    families = "; ".join(sorted({signal.family.value for signal in unforwarded}))
    also_regional = any(not s.is_global and s.name in rule.matched for s in rule.signals)
    if region is None:
        message = (
            f"Rule '{rule.resource.logical_id}' (stack {rule.stack.name}) watches events ({families}) which "
            f"EventBridge delivers only in {GLOBAL_EVENTS_REGION}, and the stack has no region: pin the stack to "
            f"env=Environment(region='{GLOBAL_EVENTS_REGION}') or it fires only if deployed there."
        )
        return RULE.finding(rule.resource, message, level=Level.WARNING, location="Properties/EventPattern")
    message = (
        f"Rule '{rule.resource.logical_id}' (stack {rule.stack.name}, {region}) watches events ({families}) "
        f"which EventBridge delivers only in {GLOBAL_EVENTS_REGION}, and nothing in the app forwards them from "
        f"{GLOBAL_EVENTS_REGION}: that part of it can never fire."
    )
    level = Level.WARNING if also_regional else Level.ERROR
    return RULE.finding(rule.resource, message, level=level, location="Properties/EventPattern")


RULE = Rule(
    id="KQ3",
    level=Level.ERROR,
    name="Quarantine monitoring that can never fire",
    info="An EventBridge rule for IAM CloudTrail or global AWS Health events is deployed where those never arrive.",
    explanation=(
        "IAM is global: its CloudTrail events, AWS attaching the quarantine policy among them, and global AWS "
        "Health events such as AWS_RISK_CREDENTIALS_EXPOSED reach EventBridge only in us-east-1. Deploy the rule "
        "in a stack pinned to us-east-1, or add a us-east-1 rule that forwards the same events to this region's "
        "event bus. In an environment-agnostic stack this is a warning: pin the region."
    ),
    check=check,
)
