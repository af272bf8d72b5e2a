"""KQ6: quarantine monitoring that relies on CloudTrail, in an account where the app has no trail."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from key_quarantine.rules.base import Finding, Level, Rule, RuleContext
from key_quarantine.rules.declarations import EXISTING_TRAIL
from key_quarantine.rules.model import Resource, same_account

TRAIL = "AWS::CloudTrail::Trail"


def check(context: RuleContext) -> Iterator[Finding]:
    trails = [t for t in context.app.resources_of_type(TRAIL) if _logs_management_writes(context, t)]
    for rule in context.monitoring.event_rules:
        if not (rule.is_quarantine_monitoring and rule.covers_quarantine_attach):
            continue
        account_monitors = context.monitoring.quarantine_monitors_for(rule.stack)
        if any(other.covers_health_exposure for other in account_monitors):
            continue  # AWS Health events arrive without a trail
        if any(same_account(trail.stack, rule.stack) for trail in trails):
            continue
        if context.monitoring.declaration_for(rule.stack, EXISTING_TRAIL):
            continue
        message = (
            f"Rule '{rule.resource.logical_id}' (stack {rule.stack.name}) waits for the CloudTrail event of AWS "
            "attaching the quarantine policy, but the app has no logging CloudTrail trail for this account: "
            "EventBridge receives CloudTrail API events only while a trail logs management events."
        )
        yield RULE.finding(rule.resource, message)


def _logs_management_writes(context: RuleContext, trail: Resource) -> bool:
    properties = trail.properties
    if context.resolver.resolve(trail.stack, properties.get("IsLogging", True)) in (False, "false", "False"):
        return False
    selectors = properties.get("EventSelectors")
    if isinstance(selectors, list) and selectors:
        return any(_selector_logs_writes(selector) for selector in selectors)
    advanced = properties.get("AdvancedEventSelectors")
    if isinstance(advanced, list) and advanced:
        return any(_advanced_selector_logs_management(selector) for selector in advanced)
    return True  # with no selectors a trail logs all management events


def _selector_logs_writes(selector: Any) -> bool:
    if not isinstance(selector, Mapping):
        return True
    includes = selector.get("IncludeManagementEvents", True) not in (False, "false")
    return includes and selector.get("ReadWriteType", "All") in ("All", "WriteOnly")


def _advanced_selector_logs_management(selector: Any) -> bool:
    fields = selector.get("FieldSelectors", []) if isinstance(selector, Mapping) else []
    return any(
        isinstance(f, Mapping)
        and f.get("Field") == "eventCategory"
        and "Management" in (f.get("Equals") or [])
        for f in fields
    )


RULE = Rule(
    id="KQ6",
    level=Level.WARNING,
    name="Quarantine monitoring without a CloudTrail trail",
    info="Quarantine monitoring waits for a CloudTrail event, and the app has no trail that logs it.",
    explanation=(
        "EventBridge receives 'AWS API Call via CloudTrail' events, AWS attaching the quarantine policy among "
        "them, only while a CloudTrail trail logs management write events in the account (an organization trail "
        "counts). Add an AWS::CloudTrail::Trail, also match AWS Health AWS_RISK_* events (which need no trail), "
        "or declare the trail that exists with declare_existing_trail(stack, reason=...) (template Metadata "
        "KeyQuarantine.ExistingCloudTrailTrail)."
    ),
    check=check,
)
