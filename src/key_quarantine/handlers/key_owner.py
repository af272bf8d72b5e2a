"""Whose key it was, when IAM no longer knows it: CloudTrail's ``DeleteAccessKey`` and the key's own calls.

Someone who holds a leaked key for a minute before the first signal can create a second key and delete the named
one; IAM then answers ``NoSuchEntity`` for it. CloudTrail still has the deletion (IAM records it in the global
events region: the user in ``requestParameters.userName``, or the caller itself when it deleted its own key) and the
key's earlier calls (their ``userIdentity.userName``). First page only (newest first): the latest deletion and
the latest calls are what matter.

CloudTrail delivers a record about five minutes after the call: an owner not found yet may be found on a retry.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from key_quarantine.data import GLOBAL_EVENTS_REGION
from key_quarantine.handlers.trail import PAGE_SIZE, THROTTLE

ACTIONS = ("cloudtrail:LookupEvents",)


@dataclass(frozen=True)
class Deletion:
    """A ``DeleteAccessKey`` of the key: whose key it was, who deleted it and when."""

    user: str | None
    by: str
    at: str

    def describe(self) -> str:
        return f"deleted by {self.by} at {self.at}"


@dataclass(frozen=True)
class Owner:
    """What CloudTrail says about a key IAM no longer knows; ``unanswered`` lists the lookups that failed."""

    user: str | None
    deletion: Deletion | None
    unanswered: list[str] = field(default_factory=list)


def find_owner(
    cloudtrail: Callable[[str], Any], account: str, key: str, regions: tuple[str, ...], since: datetime
) -> Owner:
    """The key's user from its deletion, else from its own calls (in ``regions``). One parallel round: the
    deletion, and the key's calls in every region but the global-events one, whose LookupEvents pace (2 a second)
    the deletion's lookup already takes; that region's calls are read only when nothing named the user."""
    deletion_lookup = (GLOBAL_EVENTS_REGION, "EventName", "DeleteAccessKey")
    first = [deletion_lookup] + [(r, "AccessKeyId", key) for r in regions if r != GLOBAL_EVENTS_REGION]
    answers = _lookup_all(cloudtrail, account, since, first)
    deletion = _deletion(answers[deletion_lookup][0], account, key)
    user = (deletion.user if deletion else None) or _caller_of(answers, account, key)
    if user is None and GLOBAL_EVENTS_REGION in regions:
        answers |= _lookup_all(cloudtrail, account, since, [(GLOBAL_EVENTS_REGION, "AccessKeyId", key)])
        user = _caller_of(answers, account, key)
    unanswered = [
        f"{region} {attribute}: {why}" for (region, attribute, _), (_, why) in answers.items() if why
    ]
    return Owner(user, deletion, unanswered)


def _lookup_all(
    cloudtrail: Callable[[str], Any], account: str, since: datetime, lookups: list[tuple[str, str, str]]
) -> dict[tuple[str, str, str], tuple[list[Mapping[str, Any]], str]]:
    """Each lookup's records, and why it has none when it failed ("" when it answered)."""
    with ThreadPoolExecutor(max_workers=len(lookups)) as pool:
        pages = list(pool.map(lambda lookup: first_page(cloudtrail, account, since, lookup), lookups))
    return {
        lookup: ([], page) if isinstance(page, str) else ([record_of(event) for event in page], "")
        for lookup, page in zip(lookups, pages, strict=True)
    }


def _caller_of(
    answers: dict[tuple[str, str, str], tuple[list[Mapping[str, Any]], str]], account: str, key: str
) -> str | None:
    callers = (
        _own_user(record, account, key)
        for (_, attribute, _), (records, _) in answers.items()
        if attribute == "AccessKeyId"
        for record in records
    )
    return next((user for user in callers if user), None)


def find_deletion(
    cloudtrail: Callable[[str], Any], account: str, key: str, since: datetime
) -> Deletion | None:
    """The key's latest ``DeleteAccessKey``, or None (not recorded, not delivered yet, or CloudTrail failed)."""
    page = first_page(cloudtrail, account, since, (GLOBAL_EVENTS_REGION, "EventName", "DeleteAccessKey"))
    return _deletion([record_of(event) for event in page], account, key) if isinstance(page, list) else None


def first_page(
    cloudtrail: Callable[[str], Any], account: str, since: datetime, lookup: tuple[str, str, str]
) -> list[Mapping[str, Any]] | str:
    """The first page of a lookup (region, attribute, value), or why there is none."""
    region, attribute, value = lookup
    THROTTLE.acquire(account, region)
    try:
        answer = cloudtrail(region).lookup_events(
            LookupAttributes=[{"AttributeKey": attribute, "AttributeValue": value}],
            StartTime=since,
            MaxResults=PAGE_SIZE,
        )
    except Exception as error:  # noqa: BLE001 - an owner not found is told to a human, with this reason
        return f"{type(error).__name__}: {error}"
    return list(answer.get("Events", []))


def record_of(event: Mapping[str, Any]) -> Mapping[str, Any]:
    try:
        record = json.loads(str(event.get("CloudTrailEvent") or "{}"))
    except json.JSONDecodeError:
        return {}
    return record if isinstance(record, dict) else {}


def _deletion(records: list[Mapping[str, Any]], account: str, key: str) -> Deletion | None:
    for record in records:  # newest first
        request = record.get("requestParameters") or {}
        if record.get("errorCode") or request.get("accessKeyId") != key:
            continue
        identity = record.get("userIdentity") or {}
        # without a userName, IAM deleted the caller's own key
        user = request.get("userName") or _own_user(record, account, None)
        by = str(identity.get("arn") or identity.get("principalId") or "an unknown principal")
        return Deletion(user if isinstance(user, str) else None, by, str(record.get("eventTime", "?")))
    return None


def _own_user(record: Mapping[str, Any], account: str, key: str | None) -> str | None:
    """The IAM user who made the call (with ``key``, when given), if it is one of this account's."""
    identity = record.get("userIdentity") or {}
    if identity.get("type") != "IAMUser" or identity.get("accountId", account) != account:
        return None
    if key is not None and identity.get("accessKeyId") != key:
        return None
    user = identity.get("userName")
    return user if isinstance(user, str) else None
