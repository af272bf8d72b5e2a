"""KQ10 (the KQ3 family): abuse detections that watch one region, where campaigns use every region they can."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator

from key_quarantine.rules.base import Finding, Level, Rule, RuleContext
from key_quarantine.rules.monitoring import EventRuleView
from key_quarantine.rules.signals import SignalFamily


def check(context: RuleContext) -> Iterator[Finding]:
    by_account: dict[str | None, list[EventRuleView]] = defaultdict(list)
    for rule in context.monitoring.event_rules:
        if rule.can_deliver and rule.stack.root.region and rule.matched_in(SignalFamily.READ_ONLY_ABUSE):
            by_account[rule.stack.root.account].append(rule)
    for account, rules in by_account.items():
        regions = {rule.stack.root.region for rule in rules}
        if len(regions) == 1:
            yield _finding(rules[0], regions.pop() or "", _declared_regions(context, account) - regions)


def _declared_regions(context: RuleContext, account: str | None) -> set[str]:
    """Regions the app's stacks in the account are pinned to: where its own workloads, and keys' users, run."""
    return {
        stack.root.region
        for stack in context.app.stacks
        if stack.root.region and stack.root.account == account
    }


def _finding(rule: EventRuleView, region: str, undetected: set[str]) -> Finding:
    also = (
        f" The app also deploys to {', '.join(sorted(undetected))}, which nothing watches."
        if undetected
        else ""
    )
    message = (
        f"Abuse detection rules of this account (e.g. '{rule.resource.logical_id}', stack {rule.stack.name}) are "
        f"all in {region}: calls made with a leaked key in any other region (Bedrock, SES, EC2, ECS ...) reach "
        f"EventBridge only there, and never these rules.{also}"
    )
    return RULE.finding(rule.resource, message, location="Properties/EventPattern")


RULE = Rule(
    id="KQ10",
    level=Level.WARNING,
    name="Abuse detection in one region only",
    info="Every abuse detection rule of the account is in one region, so calls made in other regions are never seen.",
    explanation=(
        "Leaked-key campaigns run models, miners and mail in every region the account allows, and each region's "
        "CloudTrail events reach EventBridge only in that region. Add KeyQuarantineRegionalForwarder to a stack "
        "pinned to each region you use (or that is enabled), or disable the regions you do not use with an SCP "
        "and acknowledge this finding."
    ),
    check=check,
)
