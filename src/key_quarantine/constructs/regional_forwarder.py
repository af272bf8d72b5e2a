"""``KeyQuarantineRegionalForwarder``: abuse detections in another region, forwarded to the responder's region.

Abuse calls (Bedrock, SES, ECS ...) are seen by EventBridge only in the region where they are made. Add this
construct to a stack of the same app pinned to each other region you use; it forwards the calls made there with
long-lived user keys to the default event bus in us-east-1, where ``KeyQuarantine``'s detection rules (and its
correlation across regions) pick them up. GuardDuty findings are regional too: it forwards those of
``guardduty_finding_types`` as well, to the responder's GuardDuty rule.
"""

from __future__ import annotations

from collections.abc import Sequence

import aws_cdk as cdk
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets

from constructs import Construct
from key_quarantine.constructs.detection_rules import abuse_rule
from key_quarantine.constructs.event_patterns import event_pattern
from key_quarantine.constructs.trigger_rules import DEFAULT_GUARDDUTY_FINDING_TYPES, guardduty_pattern
from key_quarantine.data import GLOBAL_EVENTS_REGION
from key_quarantine.data.detections import regional_categories


class KeyQuarantineRegionalForwarder(Construct):
    """Forwards this region's abuse detections to the responder's default event bus in us-east-1.

    :param detections: categories to forward (default every category with regional calls).
    :param responder_account: the account of the KeyQuarantine stack (default this stack's account).
    :param guardduty_finding_types: GuardDuty finding types to forward (default ``DEFAULT_GUARDDUTY_FINDING_TYPES``,
        as ``KeyQuarantine``'s own GuardDuty rule; empty forwards none).

    :ivar rules: the forwarding rules by category, and ``GuardDuty``.
    :ivar destination: the us-east-1 default event bus the rules deliver to.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        detections: Sequence[str] | None = None,
        responder_account: str | None = None,
        guardduty_finding_types: Sequence[str] = DEFAULT_GUARDDUTY_FINDING_TYPES,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = cdk.Stack.of(self)
        if cdk.Token.is_unresolved(stack.region):
            raise ValueError(
                "KeyQuarantineRegionalForwarder needs a stack pinned to a region (env=Environment(region=...))"
            )
        if stack.region == GLOBAL_EVENTS_REGION:
            raise ValueError(
                "KeyQuarantineRegionalForwarder is for other regions: KeyQuarantine already detects in us-east-1"
            )
        chosen = list(regional_categories() if detections is None else detections)
        unknown = sorted(set(chosen) - set(regional_categories()))
        if unknown:
            raise ValueError(
                f"no regional calls to forward for {unknown}; regional categories: {', '.join(regional_categories())}"
            )
        account = responder_account or stack.account
        self.destination = events.EventBus.from_event_bus_arn(
            self,
            "ResponderBus",
            f"arn:{stack.partition}:events:{GLOBAL_EVENTS_REGION}:{account}:event-bus/default",
        )
        self.rules: dict[str, events.Rule] = {}
        for category in chosen:
            self.rules[category] = abuse_rule(
                self,
                category,
                description=f"key-quarantine: forward {category} calls made with long-lived keys to {GLOBAL_EVENTS_REGION}",
                target=targets.EventBus(self.destination),
                regional_only=True,
            )
        if guardduty_finding_types:
            pattern = guardduty_pattern(guardduty_finding_types)
            self.rules["GuardDuty"] = events.Rule(
                self,
                "GuardDuty",
                description=f"key-quarantine: forward GuardDuty IAM-user findings to {GLOBAL_EVENTS_REGION}",
                event_pattern=event_pattern(pattern),
                targets=[targets.EventBus(self.destination)],
            )
