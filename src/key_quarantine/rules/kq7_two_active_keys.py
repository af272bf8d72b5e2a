"""KQ7: one IAM user holds two active long-lived keys."""

from __future__ import annotations

from collections.abc import Iterator

from key_quarantine.rules.base import Finding, Level, Rule, RuleContext


def check(context: RuleContext) -> Iterator[Finding]:
    for holder in context.keys.holders_with_active_keys():
        # keys behind a Condition, an Fn::If Status or a Terraform count/for_each may be alternatives
        certain = [key for key in holder.active_keys if context.keys.is_certainly_active(key)]
        if len(certain) > 1:
            keys = ", ".join(f"'{key.logical_id}' (stack {key.stack.name})" for key in holder.active_keys)
            message = (
                f"{holder.describe()} holds {len(holder.active_keys)} active access keys: {keys}. Containing a "
                "leak means finding and deactivating every one of them."
            )
            yield RULE.finding(holder.anchor, message)


RULE = Rule(
    id="KQ7",
    level=Level.WARNING,
    name="Two active keys for one user",
    info="The IAM user holds more than one active long-lived access key.",
    explanation=(
        "Two keys exist for the minutes of a rotation, not for good: each is a separate secret to leak, and the "
        "older one is usually the forgotten one. Keep one active key (Status: Inactive on the other until it is "
        "deleted), or better, replace the user's keys with role-based, short-lived credentials."
    ),
    check=check,
)
