"""The leaked key's trail in CloudTrail: the calls of the key and of every session it minted.

``LookupEvents`` by the key id in every configured region (newest first, 50 a page). A call that minted
credentials (``AssumeRole*``, ``GetSessionToken``, ``GetFederationToken``) names the new ``ASIA`` id in its
response; that id is searched in turn, to ``TrailBounds.max_depth`` (the key is depth 0). The whole trail makes at
most ``TrailBounds.max_calls`` LookupEvents calls, retries included: what the budget, throttling or an error left
unread is listed in ``Trail.unfinished``, so a notice can say so and the second look can finish it.

LookupEvents is limited to 2 requests per second per account and region; ``Throttle`` paces every call to that
rate and, when AWS throttles anyway, pushes the next call of that account and region back for every trail of the
execution environment (one ``THROTTLE`` is shared by all runs of an invocation, and of the next ones).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from key_quarantine.data import GLOBAL_EVENTS_REGION
from key_quarantine.handlers.timestamps import stamp

TRAIL_ACTIONS = ("cloudtrail:LookupEvents",)
PAGE_LIMIT = "page limit"
CUT_SHORT = frozenset({PAGE_LIMIT, "call budget spent"})
DEFERRED = "deferred: CloudTrail's 2 calls a second are in use (the second look reads it)"
PAGE_SIZE = 50  # LookupEvents' most events a page
LOOKUPS_PER_SECOND = 2.0  # per account and region (CloudTrail's documented limit)
THROTTLE_RETRIES = 3
MAX_WAIT_SECONDS = 0.5  # a call waits for one slot at most (its own pace); past it the second look reads it
EPOCH_MILLISECONDS = 1e11  # a larger epoch number counts milliseconds
THROTTLED = frozenset(
    {"ThrottlingException", "Throttling", "TooManyRequestsException", "RequestLimitExceeded"}
)
MINTING_CALLS = {
    "AssumeRole": "role-session",
    "AssumeRoleWithSAML": "role-session",
    "AssumeRoleWithWebIdentity": "role-session",
    "GetSessionToken": "session-token",
    "GetFederationToken": "federation-token",
}


@dataclass(frozen=True)
class TrailBounds:
    """How far a trail goes: sessions of sessions to ``max_depth``; LookupEvents calls in all (retries counted);
    pages per principal and region (50 events each)."""

    max_depth: int = 2
    max_calls: int = 64  # the key's 40 pages, other regions, 20 IAM calls by name, sessions
    max_pages: int = 40


@dataclass(frozen=True)
class Session:
    """Credentials the trail minted: searched in turn, contained or reported."""

    access_key_id: str
    kind: str  # role-session | session-token | federation-token
    minted_by: str
    issued_at: str
    expires_at: str | None
    region: str
    depth: int
    arn: str | None = None  # the assumed-role or federated-user ARN
    role_arn: str | None = None
    session_name: str | None = None


@dataclass
class Trail:
    """What the trail read: events (newest first per principal), sessions, and what was left unread."""

    key: str
    regions: tuple[str, ...]
    since: str
    until: str
    bounds: TrailBounds
    events: list[dict[str, Any]] = field(default_factory=list)
    sessions: list[Session] = field(default_factory=list)
    unfinished: list[dict[str, str]] = field(default_factory=list)
    calls: int = 0
    throttled: int = 0
    searched_by_name: list[str] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        return not self.unfinished

    def as_json(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "regions": list(self.regions),
            "since": self.since,
            "until": self.until,
            "bounds": asdict(self.bounds),
            "calls": self.calls,
            "throttled": self.throttled,
            "complete": self.complete,
            "unfinished": self.unfinished,
            "searched_by_name": self.searched_by_name,
            "sessions": [asdict(session) for session in self.sessions],
        }


class Throttle:
    """One pace per (account, region) for every LookupEvents of the execution environment, with shared backoff."""

    def __init__(
        self,
        rate: float = LOOKUPS_PER_SECOND,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        max_wait: float = MAX_WAIT_SECONDS,
    ) -> None:
        self._interval = 1.0 / rate
        self._max_wait = max_wait
        self._clock = clock
        self._sleep = sleep
        self._next: dict[tuple[str, str], float] = {}
        self._lock = threading.Lock()

    def acquire(self, account: str, region: str) -> bool:
        """Wait for this account and region's next slot and take it; False (no slot taken) when the wait would be
        longer than ``max_wait``: under a burst the trail is left to the second look, never queued for long."""
        with self._lock:
            now = self._clock()
            slot = max(now, self._next.get((account, region), now))
            if slot - now > self._max_wait:
                return False
            self._next[(account, region)] = slot + self._interval
        if slot > now:
            self._sleep(slot - now)
        return True

    def back_off(self, account: str, region: str, attempt: int) -> None:
        """AWS throttled us: every caller of this account and region waits (0.5 s, 1 s, 2 s ...)."""
        with self._lock:
            pause = self._clock() + 0.5 * 2**attempt
            self._next[(account, region)] = max(self._next.get((account, region), 0.0), pause)


THROTTLE = Throttle()


class _Budget:
    def __init__(self, calls: int) -> None:
        self._left = calls
        self._lock = threading.Lock()

    def take(self) -> bool:
        with self._lock:
            if self._left <= 0:
                return False
            self._left -= 1
            return True


@dataclass(frozen=True)
class _Principal:
    access_key_id: str
    since: datetime
    depth: int


@dataclass(frozen=True)
class TrailQuery:
    """Whose trail, where and when: ``key`` of ``account`` in ``regions`` between ``since`` and ``until``."""

    account: str
    key: str
    regions: tuple[str, ...]
    since: datetime
    until: datetime
    #: IAM calls searched by name (one page each, kept when one of the trail's keys made them) when a flood of
    #: the key's calls stopped its search in us-east-1 early: IAM's changes are not lost under the flood.
    by_name: tuple[str, ...] = ()


DEFAULT_BOUNDS = TrailBounds()


def follow_key(
    cloudtrail: Callable[[str], Any],
    query: TrailQuery,
    bounds: TrailBounds = DEFAULT_BOUNDS,
    throttle: Throttle | None = None,
) -> Trail:
    """The trail of ``query.key`` and of the sessions it minted. ``cloudtrail(region)`` gives a region's client."""
    trail = Trail(query.key, query.regions, stamp(query.since), stamp(query.until), bounds)
    walk = _Walk(cloudtrail, query, bounds, throttle or THROTTLE, _Budget(bounds.max_calls))
    seen_events, seen_keys = set[str](), {query.key}
    level = [_Principal(query.key, query.since, 0)]
    with ThreadPoolExecutor(max_workers=min(4, len(query.regions))) as pool:
        while level:
            searches = [search for found in pool.map(walk.searcher(level), query.regions) for search in found]
            minted: list[Session] = []
            for search in searches:
                trail.calls += search.calls
                trail.throttled += search.throttled
                if search.stopped:
                    trail.unfinished.append(search.unfinished())
                fresh = [event for event in search.events if event["EventId"] not in seen_events]
                seen_events.update(event["EventId"] for event in fresh)
                trail.events += fresh
                minted += search.minted()
            level = []
            for session in minted:
                if session.access_key_id in seen_keys:
                    continue
                seen_keys.add(session.access_key_id)
                trail.sessions.append(session)
                if session.depth <= bounds.max_depth:
                    level.append(_Principal(session.access_key_id, _time(session.issued_at), session.depth))
    _search_by_name(walk, trail, seen_events, seen_keys)
    return trail


def _search_by_name(walk: _Walk, trail: Trail, seen_events: set[str], keys: set[str]) -> None:
    """When the flood stopped a search in IAM's region early, each IAM change call by name, one page each."""
    flooded = any(u["region"] == GLOBAL_EVENTS_REGION and u["reason"] in CUT_SHORT for u in trail.unfinished)
    if not flooded or GLOBAL_EVENTS_REGION not in walk.query.regions:
        return
    for name in walk.query.by_name:
        search = _Search(
            walk,
            GLOBAL_EVENTS_REGION,
            _Principal(walk.query.key, walk.query.since, 0),
            ("EventName", name),
            1,
        )
        search.run()
        trail.calls += search.calls
        trail.throttled += search.throttled
        fresh = [e for e in search.events if e.get("AccessKeyId") in keys and e["EventId"] not in seen_events]
        seen_events.update(event["EventId"] for event in fresh)
        trail.events += fresh
        trail.searched_by_name.append(name)
        if search.stopped and search.stopped != PAGE_LIMIT:
            trail.unfinished.append({**search.unfinished(), "access_key_id": f"EventName={name}"})
            return


@dataclass(frozen=True)
class _Walk:
    cloudtrail: Callable[[str], Any]
    query: TrailQuery
    bounds: TrailBounds
    throttle: Throttle
    budget: _Budget

    def searcher(self, principals: list[_Principal]) -> Callable[[str], list[_Search]]:
        """Search each principal in one region, one after the other (the region's pace is one queue)."""

        def in_region(region: str) -> list[_Search]:
            searches = [_Search(self, region, principal) for principal in principals]
            for search in searches:
                search.run()
            return searches

        return in_region


@dataclass
class _Search:
    walk: _Walk
    region: str
    principal: _Principal
    attribute: tuple[str, str] | None = None  # default: the principal's access key id
    pages: int | None = None  # default: the bound's max_pages
    events: list[dict[str, Any]] = field(default_factory=list)
    stopped: str = ""  # why the search ended before the last page
    calls: int = 0
    throttled: int = 0

    def unfinished(self) -> dict[str, str]:
        return {"access_key_id": self.principal.access_key_id, "region": self.region, "reason": self.stopped}

    def minted(self) -> list[Session]:
        depth = self.principal.depth + 1
        return [session for event in self.events if (session := minted_session(event, depth)) is not None]

    def run(self) -> None:
        """The principal's events in this region, newest first; ``stopped`` says why it ended early."""
        token: str | None = None
        client = self.walk.cloudtrail(self.region)
        for _ in range(self.pages or self.walk.bounds.max_pages):
            page = self._page(client, token)
            if isinstance(page, str):
                self.stopped = page
                return
            self.events += [_with_record(event, self.region) for event in page.get("Events", [])]
            token = page.get("NextToken")
            if not token:
                return
        self.stopped = PAGE_LIMIT

    def _page(self, client: Any, token: str | None) -> dict[str, Any] | str:
        name, value = self.attribute or ("AccessKeyId", self.principal.access_key_id)
        request: dict[str, Any] = {
            "LookupAttributes": [{"AttributeKey": name, "AttributeValue": value}],
            "StartTime": self.principal.since,
            "EndTime": self.walk.query.until,
            "MaxResults": PAGE_SIZE,
        }
        if token:
            request["NextToken"] = token
        account, throttle = self.walk.query.account, self.walk.throttle
        for attempt in range(THROTTLE_RETRIES + 1):
            if not self.walk.budget.take():
                return "call budget spent"
            if not throttle.acquire(account, self.region):
                return DEFERRED
            self.calls += 1
            try:
                return dict(client.lookup_events(**request))
            except ClientError as error:
                if error.response.get("Error", {}).get("Code") not in THROTTLED:
                    return f"error: {error.response.get('Error', {}).get('Code', 'Unknown')}"
                self.throttled += 1
                throttle.back_off(account, self.region, attempt)
            except Exception as error:  # noqa: BLE001 - a trail cut short is recorded, never a failed response
                return f"error: {type(error).__name__}"
        return "throttled"


def _with_record(event: Mapping[str, Any], region: str) -> dict[str, Any]:
    """A LookupEvents event with its CloudTrail record parsed (``record``) and the region it was found in."""
    raw = event.get("CloudTrailEvent")
    try:
        record = json.loads(raw) if isinstance(raw, str) else {}
    except json.JSONDecodeError:
        record = {}
    return {**event, "region": region, "record": record if isinstance(record, dict) else {}}


def minted_session(event: Mapping[str, Any], depth: int) -> Session | None:
    """The credentials a successful AssumeRole*/GetSessionToken/GetFederationToken call gave out, if any."""
    kind = MINTING_CALLS.get(str(event.get("EventName")))
    record = event.get("record") or {}
    if kind is None or record.get("errorCode"):
        return None
    response = record.get("responseElements") or {}
    credentials = response.get("credentials") or {}
    new_key = credentials.get("accessKeyId")
    if not isinstance(new_key, str) or not new_key:
        return None
    request = record.get("requestParameters") or {}
    assumed = response.get("assumedRoleUser") or response.get("federatedUser") or {}
    return Session(
        access_key_id=new_key,
        kind=kind,
        minted_by=str(event.get("AccessKeyId") or record.get("userIdentity", {}).get("accessKeyId", "")),
        issued_at=str(record.get("eventTime") or stamp(_as_datetime(event.get("EventTime")))),
        expires_at=_expiry(credentials.get("expiration")),
        region=str(event.get("region") or record.get("awsRegion", "")),
        depth=depth,
        arn=assumed.get("arn"),
        role_arn=request.get("roleArn"),
        session_name=request.get("roleSessionName") or request.get("name"),
    )


def _expiry(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value
    try:
        return stamp(_as_datetime(value))
    except (TypeError, ValueError, OSError):
        return str(value)


def _as_datetime(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value
    if isinstance(value, int | float):  # some records carry epoch milliseconds
        return datetime.fromtimestamp(value / 1000 if value > EPOCH_MILLISECONDS else value).astimezone()
    return _time(str(value))


def _time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))
