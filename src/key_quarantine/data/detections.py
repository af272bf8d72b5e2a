"""EventBridge patterns for abuse AWS does not quarantine, built from the abuse event catalogue (data only).

The handler side reads the same entries: ``entry_for`` finds the catalogue entry a CloudTrail record stands for,
with the small subset of EventBridge matching the catalogue's ``match`` fields use (values, ``exists``).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from typing import Any

from key_quarantine.data import CLOUDTRAIL_DETAIL_TYPE, AbuseEvent, abuse_events

#: The callers a leaked user key can be: the key itself or a GetSessionToken session (IAMUser), and a
#: GetFederationToken session (FederatedUser). Roles (AssumedRole) and AWS (AWSService, AWSAccount) never match.
USER_KEY_CALLERS = ("IAMUser", "FederatedUser")
#: The root user's own calls (its access key, or a console session) match too: it cannot be contained, only told.
ROOT = "Root"
#: Calls CloudFormation makes while deploying a user's stack carry this; they are the deploy, not the key's holder.
CLOUDFORMATION = "cloudformation.amazonaws.com"

#: Global services: their calls reach EventBridge only in us-east-1, so regional forwarders leave them out.
GLOBAL_EVENT_SOURCES = frozenset({"iam.amazonaws.com", "organizations.amazonaws.com"})


def categories() -> tuple[str, ...]:
    return tuple(dict.fromkeys(event.category for event in abuse_events()))


def events_of(category: str) -> list[AbuseEvent]:
    found = [event for event in abuse_events() if event.category == category]
    if not found:
        raise ValueError(f"unknown detection category {category!r}; known: {', '.join(categories())}")
    return found


def regional_categories() -> tuple[str, ...]:
    """Categories with at least one call that is seen in the region where it is made."""
    return tuple(
        c for c in categories() if any(e.event_source not in GLOBAL_EVENT_SOURCES for e in events_of(c))
    )


def not_by_cloudformation() -> list[Any]:
    """``invokedBy`` absent (a person or a program calling directly) or anything but CloudFormation."""
    return [{"exists": False}, {"anything-but": [CLOUDFORMATION]}]


def detection_pattern(category: str, *, regional_only: bool = False) -> dict[str, Any]:
    """The category's calls by a leaked user key. Failed calls match too: a denied probe is still a probe.

    ``regional_only`` leaves out global (IAM, Organizations) calls, for rules outside us-east-1.
    """
    chosen = [
        event
        for event in events_of(category)
        if not (regional_only and event.event_source in GLOBAL_EVENT_SOURCES)
    ]
    calls = _call_patterns(chosen)
    detail: dict[str, Any] = {
        "userIdentity": {"type": [*USER_KEY_CALLERS, ROOT], "invokedBy": not_by_cloudformation()}
    }
    if len(calls) == 1:
        detail.update(calls[0])
    else:
        detail["$or"] = (
            calls  # an event name only counts with its own service (ses GetAccount, not another's)
        )
    return {
        "detail-type": [CLOUDTRAIL_DETAIL_TYPE],
        "source": sorted({"aws." + event.event_source.split(".")[0] for event in chosen}),
        "detail": detail,
    }


def _call_patterns(chosen: list[AbuseEvent]) -> list[dict[str, Any]]:
    """One alternative per service for plain calls, and one per call that narrows its parameters."""
    by_source: dict[str, list[str]] = defaultdict(list)
    narrowed = []
    for event in chosen:
        if event.match:
            narrowed.append(
                {"eventSource": [event.event_source], "eventName": [event.event_name], **event.match}
            )
        elif event.event_name not in by_source[event.event_source]:
            by_source[event.event_source].append(event.event_name)
    plain = [{"eventSource": [s], "eventName": sorted(names)} for s, names in sorted(by_source.items())]
    return plain + narrowed


def needs_all_management_events(category: str) -> bool:
    """Read-only calls reach a rule only with State ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS."""
    return any(event.read_only for event in events_of(category))


def entry_for(detail: Mapping[str, Any]) -> AbuseEvent | None:
    """The catalogue entry a CloudTrail record is: the most specific one (an entry with ``match`` first)."""
    candidates = _BY_CALL.get((str(detail.get("eventSource")), str(detail.get("eventName"))), ())
    return next((event for event in candidates if fields_match(detail, event.match)), None)


def fields_match(value: Any, pattern: Mapping[str, Any]) -> bool:
    """EventBridge matching for the forms the catalogue uses: nested objects, listed values, ``exists``.

    As in EventBridge, a field holding an array matches when any of its elements does.
    """
    for key, wanted in pattern.items():
        found = _values(value, key)
        if isinstance(wanted, Mapping):
            if not any(fields_match(item, wanted) for item in found if isinstance(item, Mapping)):
                return False
        elif not any(_leaf_matches(item, option) for option in wanted for item in found or [_ABSENT]):
            return False
    return True


_ABSENT = object()


def _values(value: Any, key: str) -> list[Any]:
    items = value if isinstance(value, list) else [value]
    found: list[Any] = []
    for item in items:
        if isinstance(item, Mapping) and key in item:
            inner = item[key]
            found += inner if isinstance(inner, list) else [inner]
    return found


def _leaf_matches(item: Any, option: Any) -> bool:
    if isinstance(option, Mapping) and set(option) == {"exists"}:
        return (item is not _ABSENT and not isinstance(item, Mapping)) is option["exists"]
    return item is not _ABSENT and type(item) is type(option) and item == option


def _by_call() -> dict[tuple[str, str], tuple[AbuseEvent, ...]]:
    table: dict[tuple[str, str], list[AbuseEvent]] = defaultdict(list)
    for event in abuse_events():
        table[(event.event_source, event.event_name)].append(event)
    return {call: tuple(sorted(events, key=lambda e: not e.match)) for call, events in table.items()}


_BY_CALL = _by_call()
