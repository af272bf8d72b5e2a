"""EventBridge patterns for abuse AWS does not quarantine, built from the abuse event catalogue (data only)."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from key_quarantine.data import CLOUDTRAIL_DETAIL_TYPE, AbuseEvent, abuse_events

#: Calls made with a long-lived user key, or a session minted from one (GetSessionToken): userIdentity.type is
#: IAMUser for both. Roles (AssumedRole) and AWS services (AWSService) never match.
LONG_LIVED_USER = "IAMUser"


def categories() -> tuple[str, ...]:
    return tuple(dict.fromkeys(event.category for event in abuse_events()))


def events_of(category: str) -> list[AbuseEvent]:
    found = [event for event in abuse_events() if event.category == category]
    if not found:
        raise ValueError(f"unknown detection category {category!r}; known: {', '.join(categories())}")
    return found


#: IAM is global: its calls reach EventBridge only in us-east-1, so regional forwarders leave them out.
GLOBAL_EVENT_SOURCES = frozenset({"iam.amazonaws.com"})


def regional_categories() -> tuple[str, ...]:
    """Categories with at least one call that is seen in the region where it is made."""
    return tuple(
        c for c in categories() if any(e.event_source not in GLOBAL_EVENT_SOURCES for e in events_of(c))
    )


def detection_pattern(category: str, *, regional_only: bool = False) -> dict[str, Any]:
    """The category's calls by a long-lived user key. Failed calls match too: a denied probe is still a probe.

    ``regional_only`` leaves out global (IAM) calls, for rules outside us-east-1.
    """
    by_source: dict[str, list[str]] = defaultdict(list)
    for event in events_of(category):
        if not (regional_only and event.event_source in GLOBAL_EVENT_SOURCES):
            by_source[event.event_source].append(event.event_name)
    calls = [
        {"eventSource": [source], "eventName": sorted(names)} for source, names in sorted(by_source.items())
    ]
    detail: dict[str, Any] = {"userIdentity": {"type": [LONG_LIVED_USER]}}
    if len(calls) == 1:
        detail.update(calls[0])
    else:
        detail["$or"] = (
            calls  # an event name only counts with its own service (ses GetAccount, not another's)
        )
    return {
        "detail-type": [CLOUDTRAIL_DETAIL_TYPE],
        "source": sorted({"aws." + source.split(".")[0] for source in by_source}),
        "detail": detail,
    }


def needs_all_management_events(category: str) -> bool:
    """Read-only calls reach a rule only with State ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS."""
    return any(event.read_only for event in events_of(category))
