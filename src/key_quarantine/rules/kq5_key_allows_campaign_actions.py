"""KQ5: a user with a long-lived key may call what leaked-key campaigns call, and no boundary stops it."""

from __future__ import annotations

from collections.abc import Iterator

from key_quarantine import data
from key_quarantine.rules.base import Finding, Level, Rule, RuleContext

MAX_NAMED_ACTIONS = 10


def campaign_actions_by_priority() -> list[str]:
    """What the quarantine policy leaves allowed first (the worst), then what it denies, each sorted."""
    unquarantined = sorted(data.ABUSED_ACTIONS_NOT_QUARANTINED)
    return unquarantined + sorted(data.campaign_actions() - set(unquarantined))


def check(context: RuleContext) -> Iterator[Finding]:
    actions = campaign_actions_by_priority()
    for holder in context.keys.holders_with_active_keys():
        if holder.user is None:
            continue  # a user outside the app: its policies are unknown
        allowed = context.permissions_of(holder.user).effectively_allowed(actions)
        if allowed:
            named = ", ".join(allowed[:MAX_NAMED_ACTIONS])
            more = f" and {len(allowed) - MAX_NAMED_ACTIONS} more" if len(allowed) > MAX_NAMED_ACTIONS else ""
            message = (
                f"{holder.describe()} holds a long-lived access key and may call {len(allowed)} "
                f"action(s) leaked-key campaigns use: {named}{more}. No permissions boundary denies them."
            )
            yield RULE.finding(holder.user, message)


RULE = Rule(
    id="KQ5",
    level=Level.WARNING,
    name="Long-lived key allows campaign actions",
    info="A user with a long-lived key is allowed actions that leaked-key campaigns use.",
    explanation=(
        "Whoever finds the key gets these permissions, and AWS's quarantine policy does not deny several of them "
        "(sts:AssumeRole, secretsmanager:GetSecretValue, ses:SendEmail, ecs:RunTask ...). Scope the user's "
        "policies to what it needs, or set a permissions boundary that denies these actions; prefer short-lived "
        "credentials over a key."
    ),
    check=check,
)
