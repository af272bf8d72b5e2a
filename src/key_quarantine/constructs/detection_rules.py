"""EventBridge rules for abuse AWS does not quarantine: one rule a category of the abuse catalogue."""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import aws_events as events

from constructs import Construct
from key_quarantine.constructs.event_patterns import event_pattern
from key_quarantine.data.detections import detection_pattern, events_of, needs_all_management_events

ALL_MANAGEMENT_EVENTS = "ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS"


def abuse_rule(
    scope: Construct,
    category: str,
    *,
    description: str,
    target: events.IRuleTarget,
    regional_only: bool = False,
    event_bus: events.IEventBus | None = None,
) -> events.Rule:
    """One category's rule, able to see its read-only calls (KQ4)."""
    pattern = detection_pattern(category, regional_only=regional_only)
    rule = events.Rule(
        scope,
        "".join(part.capitalize() for part in category.split("-")),
        description=description,
        event_bus=event_bus,
        event_pattern=event_pattern(pattern),
        targets=[target],
    )
    if needs_all_management_events(category):
        cfn_rule = rule.node.default_child
        if isinstance(cfn_rule, events.CfnRule):
            cfn_rule.state = ALL_MANAGEMENT_EVENTS  # read-only calls reach no other rule
    return rule


class DetectionRules(Construct):
    """Delivers each category's calls made with a long-lived user key to the responder (through ``target``).

    :param event_bus: the bus the rules listen on (default the account's default bus).

    :ivar rules: the rules by category.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        categories: Sequence[str],
        target: events.IRuleTarget,
        event_bus: events.IEventBus | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        self.rules: dict[str, events.Rule] = {}
        for category in categories:
            names = sorted({event.event_name for event in events_of(category)})
            description = f"key-quarantine detection {category}: {', '.join(names)[:400]}"
            self.rules[category] = abuse_rule(
                self, category, description=description, target=target, event_bus=event_bus
            )
