"""KQ1: an IAM user holds a long-lived access key and nothing in its account watches for AWS quarantining it."""

from __future__ import annotations

from collections.abc import Iterator

from key_quarantine.rules.base import Finding, Level, Rule, RuleContext
from key_quarantine.rules.declarations import EXTERNAL_MONITORING
from key_quarantine.rules.keys import KeyHolder
from key_quarantine.rules.model import Stack, same_account
from key_quarantine.rules.monitoring import EventRuleView
from key_quarantine.rules.signals import SignalFamily


def check(context: RuleContext) -> Iterator[Finding]:
    for holder in context.keys.holders_with_active_keys():
        stack = holder.anchor.stack
        if context.monitoring.quarantine_monitors_for(stack):
            continue
        if context.monitoring.declaration_for(stack, EXTERNAL_MONITORING):
            continue
        yield RULE.finding(holder.anchor, _message(context, holder))


def _message(context: RuleContext, holder: KeyHolder) -> str:
    keys = ", ".join(f"'{key.logical_id}'" for key in holder.active_keys)
    noun = "key" if len(holder.active_keys) == 1 else "keys"
    message = (
        f"{holder.describe()} holds the long-lived access {noun} {keys}, and no enabled EventBridge rule in this "
        "account fires when AWS attaches an AWSCompromisedKeyQuarantine* policy or reports AWS_RISK_* for it."
    )
    stack = holder.anchor.stack  # only reached when no rule monitors the stack: every near miss is one
    near_misses = [_near_miss(rule) for rule in context.monitoring.event_rules if _is_near_miss(rule, stack)]
    return " ".join([message, *near_misses])


def _is_near_miss(rule: EventRuleView, stack: Stack) -> bool:
    """A rule of the same account that matches some quarantine signal but does not count as monitoring."""
    families = (SignalFamily.QUARANTINE_ATTACH, SignalFamily.HEALTH_RISK)
    return same_account(rule.stack, stack) and bool(rule.matched_in(*families))


def _near_miss(rule: EventRuleView) -> str:
    """Why a rule that looks like monitoring does not count."""
    name = f"Rule '{rule.resource.logical_id}' (stack {rule.stack.name})"
    if not rule.enabled:
        return f"{name} is DISABLED."
    if not rule.has_targets:
        return f"{name} has no target."
    if not rule.on_default_bus:
        return f"{name} listens on event bus '{rule.bus_name}', where AWS does not deliver its events."
    if rule.is_quarantine_monitoring:
        return (
            f"{name} is in {rule.stack.root.region}, where IAM and AWS Health events never arrive (see KQ3)."
        )
    attach = rule.matched_in(SignalFamily.QUARANTINE_ATTACH)
    missed = [s.name.split(":", 1)[1] for s in rule.signals if s.family is SignalFamily.QUARANTINE_ATTACH]
    missed = [n for n in missed if f"attach:{n}" not in rule.matched]
    if attach:
        return f"{name} matches only some quarantine policies; it misses {', '.join(missed)}."
    return (
        f"{name} matches only some AWS Health risk events, not AWS_RISK_CREDENTIALS_EXPOSED in both shapes."
    )


RULE = Rule(
    id="KQ1",
    level=Level.ERROR,
    name="Long-lived access key without quarantine monitoring",
    info="The IAM user holds a long-lived access key and nothing in its account reacts when AWS quarantines it.",
    explanation=(
        "When AWS finds a key exposed it attaches an AWSCompromisedKeyQuarantine* policy, which leaves the key "
        "active and allows sts:AssumeRole, secretsmanager:GetSecretValue, ses:SendEmail and more. Add the "
        "KeyQuarantine construct in a us-east-1 stack of this account, or an enabled EventBridge rule with a "
        "target whose pattern matches AttachUserPolicy with policyArn prefix "
        "arn:aws:iam::aws:policy/AWSCompromisedKeyQuarantine (every version, future ones included) or AWS Health "
        "AWS_RISK_* events. If monitoring is deployed outside this app, declare it with "
        "declare_external_monitoring(stack, reason=...) (template Metadata KeyQuarantine."
        "ExternalQuarantineMonitoring). Better still, replace the key with short-lived credentials (IAM roles, "
        "OIDC federation, IAM Identity Center)."
    ),
    check=check,
)
