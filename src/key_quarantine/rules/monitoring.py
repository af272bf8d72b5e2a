"""Which EventBridge rules of the app would fire on which leak signals, and what the app declares it has.

Decided by evaluating each rule's EventPattern against the sample events in ``signals``, never by comparing
pattern text: a prefix, wildcard, ``anything-but`` or ``$or`` pattern counts exactly when EventBridge would
deliver the event to it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from key_quarantine.rules.declarations import Declaration, declarations_of
from key_quarantine.rules.event_pattern import CompiledPattern, EventPatternError, parse_pattern
from key_quarantine.rules.intrinsics import UNKNOWN, Resolver, ResourceAttribute
from key_quarantine.rules.model import AppModel, Resource, Stack, same_account
from key_quarantine.rules.signals import (
    GLOBAL_EVENTS_REGION,
    HEALTH_EXPOSURE_REQUIRED,
    QUARANTINE_ATTACH_REQUIRED,
    SAMPLE_ACCOUNT,
    Signal,
    SignalFamily,
    signals_for_account,
)

EVENT_RULE = "AWS::Events::Rule"
EVENT_BUS = "AWS::Events::EventBus"
ALL_MANAGEMENT_EVENTS_STATE = "ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS"
_UNRESOLVED_VALUE = "\x00unresolved"  # stands for a value known only at deploy time: it matches no sample


@dataclass(frozen=True)
class EventRuleView:
    """An ``AWS::Events::Rule`` as the rules see it."""

    resource: Resource
    enabled: bool
    state: str
    has_targets: bool
    bus_name: str | None  # None when it cannot be known before deployment
    pattern_problem: str | None
    matched: frozenset[str]
    signals: tuple[Signal, ...]

    @property
    def stack(self) -> Stack:
        return self.resource.stack

    @property
    def on_default_bus(self) -> bool:
        return self.bus_name in ("default", None)

    @property
    def can_deliver(self) -> bool:
        return self.enabled and self.has_targets and self.on_default_bus

    @property
    def covers_quarantine_attach(self) -> bool:
        return all(name in self.matched for name in QUARANTINE_ATTACH_REQUIRED)

    @property
    def covers_health_exposure(self) -> bool:
        return all(name in self.matched for name in HEALTH_EXPOSURE_REQUIRED)

    @property
    def is_quarantine_monitoring(self) -> bool:
        return self.can_deliver and (self.covers_quarantine_attach or self.covers_health_exposure)

    def matched_in(self, *families: SignalFamily) -> list[Signal]:
        return [s for s in self.signals if s.family in families and s.name in self.matched]


class MonitoringAnalysis:
    """Every event rule of the app, evaluated once against every signal."""

    def __init__(self, app: AppModel, resolver: Resolver) -> None:
        """``resolver`` is the app's; patterns get their own, which stands in for an unknown account and region."""
        self._app = app
        self._pattern_resolver = Resolver(
            app, pseudo_fallbacks={"AWS::AccountId": SAMPLE_ACCOUNT, "AWS::Region": GLOBAL_EVENTS_REGION}
        )
        self._resolver = resolver

    @cached_property
    def event_rules(self) -> list[EventRuleView]:
        return [
            self._view(resource)
            for resource in self._app.resources_of_type(EVENT_RULE)
            if "EventPattern" in resource.properties
        ]

    def quarantine_monitors_for(self, stack: Stack) -> list[EventRuleView]:
        """Rules that monitor quarantine signals for the account ``stack`` deploys to and can fire where they are."""
        return [
            rule
            for rule in self.event_rules
            if rule.is_quarantine_monitoring
            and same_account(rule.stack, stack)
            and self.receives_global_events(rule)
        ]

    def receives_global_events(self, rule: EventRuleView) -> bool:
        """In us-east-1 (or a region not known yet: KQ3 warns), or forwarded to from there."""
        region = rule.stack.root.region
        if region in (None, GLOBAL_EVENTS_REGION):
            return True
        return any(
            self.forwards_to(rule, signal)
            for signal in rule.signals
            if signal.name in rule.matched and signal.is_global
        )

    def declaration_for(self, stack: Stack, kind: str) -> Declaration | None:
        """An explicit declaration (external monitoring, existing trail) valid for ``stack``'s account."""
        for other, declarations in self._declarations:
            declared = declarations.get(kind)
            if declared is not None and same_account(other, stack):
                return declared
        return None

    @cached_property
    def _declarations(self) -> list[tuple[Stack, Mapping[str, Declaration]]]:
        """Each stack's declarations, read once (KQ1 and KQ6 ask for every key holder)."""
        return [(stack, declared) for stack in self._app.stacks if (declared := declarations_of(stack))]

    def forwards_to(self, target_rule: EventRuleView, signal: Signal) -> bool:
        """Whether a us-east-1 rule of the app forwards ``signal`` to the bus ``target_rule`` listens on."""
        for rule in self.event_rules:
            if rule.stack.root.region != GLOBAL_EVENTS_REGION or not rule.can_deliver:
                continue
            if signal.name in rule.matched and same_account(rule.stack, target_rule.stack):
                destinations = self._bus_destinations(rule.resource)
                if any(self._is_bus_of(target_rule, destination) for destination in destinations):
                    return True
        return False

    # --- building a view ----------------------------------------------------------------------------------

    def _view(self, resource: Resource) -> EventRuleView:
        signals = signals_for_account(resource.stack.root.account or SAMPLE_ACCOUNT)
        pattern, problem = self._compile(resource)
        matched = frozenset(s.name for s in signals if pattern is not None and pattern.matches(s.event))
        state = self._resolver.resolve(resource.stack, resource.properties.get("State", "ENABLED"))
        state_text = state if isinstance(state, str) else "ENABLED"
        return EventRuleView(
            resource=resource,
            enabled=state_text != "DISABLED",
            state=state_text,
            has_targets=_has_targets(resource.properties.get("Targets")),
            bus_name=self._bus_name(resource),
            pattern_problem=problem,
            matched=matched,
            signals=signals,
        )

    def _compile(self, resource: Resource) -> tuple[CompiledPattern | None, str | None]:
        raw = self._pattern_resolver.resolve_deep(resource.stack, resource.properties["EventPattern"])
        try:
            return parse_pattern(_without_unknowns(raw)), None
        except EventPatternError as error:
            return None, str(error)

    def _bus_name(self, resource: Resource) -> str | None:
        value = self._resolver.resolve(resource.stack, resource.properties.get("EventBusName", "default"))
        if isinstance(value, str):
            return value.rsplit("event-bus/", 1)[-1]
        if isinstance(value, ResourceAttribute) and value.resource.type == EVENT_BUS:
            return self._resolver.resolve_string(value.resource.stack, value.resource.properties.get("Name"))
        return None

    def _bus_destinations(self, resource: Resource) -> list[tuple[str | None, str | None]]:
        """(region, bus name) of each target that is an event bus; None where it cannot be known."""
        destinations: list[tuple[str | None, str | None]] = []
        for target in resource.properties.get("Targets") or []:
            arn = target.get("Arn") if isinstance(target, Mapping) else None
            value = self._resolver.resolve(resource.stack, arn)
            if isinstance(value, str) and ":event-bus/" in value:
                parts = value.split(":")
                destinations.append((parts[3] or None, value.rsplit("event-bus/", 1)[-1]))
            elif isinstance(value, ResourceAttribute) and value.resource.type == EVENT_BUS:
                bus = value.resource
                name = self._resolver.resolve_string(bus.stack, bus.properties.get("Name"))
                destinations.append((bus.stack.root.region, name))
        return destinations

    @staticmethod
    def _is_bus_of(rule: EventRuleView, destination: tuple[str | None, str | None]) -> bool:
        region, bus = destination
        region_fits = region is None or rule.stack.root.region is None or region == rule.stack.root.region
        bus_fits = bus is None or rule.bus_name is None or bus == rule.bus_name
        return region_fits and bus_fits


def _has_targets(targets: Any) -> bool:
    return isinstance(targets, list) and any(isinstance(t, Mapping) and t.get("Arn") for t in targets)


def _without_unknowns(value: Any) -> Any:
    if value is UNKNOWN or isinstance(value, ResourceAttribute):
        return _UNRESOLVED_VALUE
    if isinstance(value, Mapping):
        return {key: _without_unknowns(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_without_unknowns(item) for item in value]
    return value
