"""The key's trail: recorded CloudTrail histories replayed to the real client (moto has no LookupEvents)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from key_quarantine.handlers.trail import DEFAULT_BOUNDS, Throttle, TrailBounds, TrailQuery, follow_key
from key_quarantine.handlers.trail_changes import changes_of, keep_evidence
from tests.handlers.cloudtrail_replay import CloudTrailReplay, History

ACCOUNT = "111122223333"
KEY = "AKIAIOSFODNN7EXAMPLE"
ROLE_SESSION_KEY = "ASIAROLESESSION00001"
CHAINED_KEY = "ASIACHAINEDSESSION01"
SIGNAL = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
REGIONS = ("us-east-1", "eu-west-1")


class FakeTime:
    """A clock that sleeping advances: pacing is checked without waiting."""

    def __init__(self) -> None:
        self.now = 0.0
        self._lock = threading.Lock()

    def clock(self) -> float:
        with self._lock:
            return self.now

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.now += seconds


def attacker_history(session_name: str = "i-0abc") -> History:
    """Twenty minutes before the signal: a backdoor user with a key and a password, a role session, a role that
    trusts an outside account, a chained session writing a policy, and miners in another region."""
    history = History(ACCOUNT)
    start = SIGNAL - timedelta(minutes=20)
    history.call(KEY, "GetCallerIdentity", start, source="sts.amazonaws.com", read_only=True)
    history.call(KEY, "CreateUser", start + timedelta(minutes=1), request={"userName": "backup-admin"})
    history.call(
        KEY,
        "CreateAccessKey",
        start + timedelta(minutes=2),
        request={"userName": "backup-admin"},
        response={"accessKey": {"userName": "backup-admin", "accessKeyId": "AKIABACKDOOR00000001"}},
    )
    history.call(
        KEY, "CreateLoginProfile", start + timedelta(minutes=3), request={"userName": "backup-admin"}
    )
    history.call(
        KEY,
        "AttachUserPolicy",
        start + timedelta(minutes=3, seconds=30),
        request={"userName": "backup-admin", "policyArn": "arn:aws:iam::aws:policy/AdministratorAccess"},
    )
    history.call(
        KEY, "CreateUser", start + timedelta(minutes=4), request={"userName": "denied"}, error="AccessDenied"
    )
    session_arn = history.assume_role(
        KEY, start + timedelta(minutes=5), "deploy", session_name, ROLE_SESSION_KEY
    )
    history.call(
        ROLE_SESSION_KEY,
        "CreateRole",
        start + timedelta(minutes=6),
        session_arn=session_arn,
        request={
            "roleName": "support-access",
            "assumeRolePolicyDocument": '{"Principal":{"AWS":"999988887777"}}',
        },
        response={"role": {"arn": f"arn:aws:iam::{ACCOUNT}:role/support-access"}},
    )
    history.call(
        ROLE_SESSION_KEY,
        "CreateCluster",
        start + timedelta(minutes=7),
        session_arn=session_arn,
        source="ecs.amazonaws.com",
        region="eu-west-1",
    )
    history.session_token(
        ROLE_SESSION_KEY, start + timedelta(minutes=8), CHAINED_KEY, session_arn=session_arn
    )
    history.call(
        CHAINED_KEY,
        "PutUserPolicy",
        start + timedelta(minutes=9),
        session_arn=session_arn,
        request={"userName": "backup-admin", "policyName": "ops", "policyDocument": "{}"},
    )
    history.call(
        KEY,
        "CreateAccessKey",
        SIGNAL - timedelta(minutes=1),
        request={"userName": "leaked-deployer"},
        response={"accessKey": {"userName": "leaked-deployer", "accessKeyId": "AKIALATEKEY000000001"}},
    )
    return history


def trail_at(history: History, now: datetime, bounds: TrailBounds = DEFAULT_BOUNDS, **replay_options: Any):
    replay = CloudTrailReplay(history.records, lambda: now, **replay_options)
    aws = replay.aws()
    trail = follow_key(
        lambda region: aws.client("cloudtrail", region),
        TrailQuery(ACCOUNT, KEY, REGIONS, SIGNAL - timedelta(hours=24), now),
        bounds,
        Throttle(clock=lambda: 0.0, sleep=lambda _: None),
    )
    return trail, replay


def test_the_trail_follows_minted_sessions_and_finds_what_they_created(aws_credentials: None) -> None:
    # Given the attacker's history, once CloudTrail delivered all of it
    # When the trail is read fifteen minutes after the signal
    trail, replay = trail_at(attacker_history(), SIGNAL + timedelta(minutes=15))

    # Then the role session (depth 1) and the session it minted (depth 2) are found and searched
    sessions = {session.access_key_id: session for session in trail.sessions}
    assert set(sessions) == {ROLE_SESSION_KEY, CHAINED_KEY}
    role_session = sessions[ROLE_SESSION_KEY]
    assert (role_session.kind, role_session.depth, role_session.minted_by) == ("role-session", 1, KEY)
    assert role_session.role_arn == f"arn:aws:iam::{ACCOUNT}:role/deploy"
    assert role_session.session_name == "i-0abc"
    assert (sessions[CHAINED_KEY].kind, sessions[CHAINED_KEY].depth) == ("session-token", 2)
    # And every change is read, whoever of the three made it, and the denied CreateUser is not one
    changes = {(c.kind, c.target, c.identifier, c.by) for c in changes_of(trail.events)}
    assert changes == {
        ("user", "backup-admin", None, KEY),
        ("access-key", "backup-admin", "AKIABACKDOOR00000001", KEY),
        ("login-profile", "backup-admin", None, KEY),
        ("policy", "backup-admin", "arn:aws:iam::aws:policy/AdministratorAccess", KEY),
        ("role", "support-access", f"arn:aws:iam::{ACCOUNT}:role/support-access", ROLE_SESSION_KEY),
        ("policy", "backup-admin", "ops", CHAINED_KEY),
        ("access-key", "leaked-deployer", "AKIALATEKEY000000001", KEY),
    }
    # And the miner in the other configured region is in the trail
    assert any(e["EventName"] == "CreateCluster" and e["region"] == "eu-west-1" for e in trail.events)
    # And the bound holds: three principals in two regions, one page each
    assert trail.complete
    assert trail.calls == sum(replay.calls.values()) == 6


def test_seconds_after_the_signal_the_last_minutes_are_not_delivered_yet(aws_credentials: None) -> None:
    # Given the same history, read ten seconds after the signal (CloudTrail delivers within about 5 minutes)
    early, _ = trail_at(attacker_history(), SIGNAL + timedelta(seconds=10))
    late, _ = trail_at(attacker_history(), SIGNAL + timedelta(minutes=15))

    # Then the key made a second key a minute before the signal, and only the later look sees it
    def late_key(trail) -> bool:
        return any(c.identifier == "AKIALATEKEY000000001" for c in changes_of(trail.events))

    assert not late_key(early)
    assert late_key(late)


def test_pages_are_read_newest_first_fifty_at_a_time(aws_credentials: None) -> None:
    # Given 120 calls of the key in one region
    history = History(ACCOUNT)
    history.reads(KEY, 120, SIGNAL - timedelta(hours=1))

    # When the trail reads them
    trail, replay = trail_at(history, SIGNAL + timedelta(minutes=15))

    # Then three pages in us-east-1 (50, 50, 20) and one empty page in eu-west-1, newest first
    assert (replay.calls["us-east-1"], replay.calls["eu-west-1"]) == (3, 1)
    times = [event["EventTime"] for event in trail.events]
    assert len(times) == 120
    assert times == sorted(times, reverse=True)


def test_the_call_bound_holds_under_a_flood_and_says_what_it_left_unread(aws_credentials: None) -> None:
    # Given a key that made 3,000 cheap reads after an AssumeRole
    history = History(ACCOUNT)
    history.assume_role(KEY, SIGNAL - timedelta(hours=2), "deploy", "s", ROLE_SESSION_KEY)
    history.reads(KEY, 3000, SIGNAL - timedelta(hours=1))
    now = SIGNAL + timedelta(minutes=15)

    # When the trail is read with a budget of 8 calls, or of 3 pages per principal and region
    spent, spent_replay = trail_at(history, now, TrailBounds(max_calls=8))
    paged, paged_replay = trail_at(history, now, TrailBounds(max_pages=3))

    # Then each makes exactly the calls its bound allows, and says where it stopped and why
    assert spent.calls == sum(spent_replay.calls.values()) == 8
    assert {(u["access_key_id"], u["region"], u["reason"]) for u in spent.unfinished} == {
        (KEY, "us-east-1", "call budget spent")
    }
    assert paged.calls == sum(paged_replay.calls.values()) == 3 + 1
    assert {(u["access_key_id"], u["region"], u["reason"]) for u in paged.unfinished} == {
        (KEY, "us-east-1", "page limit")
    }
    # And the AssumeRole under the flood is not reached: the trail is incomplete, never silently short
    assert not spent.sessions
    assert not spent.complete


def test_depth_bound_reports_deeper_sessions_without_searching_them(aws_credentials: None) -> None:
    # Given the attacker's history and a depth of 1
    trail, _ = trail_at(attacker_history(), SIGNAL + timedelta(minutes=15), TrailBounds(max_depth=1))

    # Then the chained session is reported, not searched: its PutUserPolicy is not in the trail
    assert CHAINED_KEY in {session.access_key_id for session in trail.sessions}
    assert not any(event["AccessKeyId"] == CHAINED_KEY for event in trail.events)
    assert trail.calls == 4  # the key and the role session, in two regions


def test_throttling_is_paced_and_backed_off_and_shared_across_runs(aws_credentials: None) -> None:
    # Given CloudTrail's limit of 2 LookupEvents a second per region, and a responder pacing itself at 4
    fake = FakeTime()
    history = History(ACCOUNT)
    history.reads(KEY, 400, SIGNAL - timedelta(hours=1))
    replay = CloudTrailReplay(history.records, lambda: SIGNAL + timedelta(minutes=15), clock=fake.clock)
    aws = replay.aws()
    eager = Throttle(rate=4.0, clock=fake.clock, sleep=fake.sleep)

    # When two trails run one after the other through the same throttle
    runs = [
        follow_key(
            lambda region: aws.client("cloudtrail", region),
            TrailQuery(
                ACCOUNT, KEY, ("us-east-1",), SIGNAL - timedelta(hours=24), SIGNAL + timedelta(minutes=15)
            ),
            TrailBounds(max_calls=40),
            eager,
        )
        for _ in range(2)
    ]

    # Then CloudTrail throttled some calls, the trails backed off and still read all 400 events each
    assert all(len(run.events) == 400 for run in runs)
    assert sum(run.throttled for run in runs) == replay.throttled["us-east-1"] > 0
    # And at CloudTrail's own pace (2 a second) nothing is throttled, across both runs
    fake_paced = FakeTime()
    replay = CloudTrailReplay(history.records, lambda: SIGNAL + timedelta(minutes=15), clock=fake_paced.clock)
    aws = replay.aws()
    paced = Throttle(clock=fake_paced.clock, sleep=fake_paced.sleep)
    for _ in range(2):
        follow_key(
            lambda region: aws.client("cloudtrail", region),
            TrailQuery(
                ACCOUNT, KEY, ("us-east-1",), SIGNAL - timedelta(hours=24), SIGNAL + timedelta(minutes=15)
            ),
            TrailBounds(),
            paced,
        )
    assert not replay.throttled
    assert fake_paced.now == pytest.approx((2 * 8 - 1) / 2)  # 16 pages, the second run waited for the first


def test_writes_and_catalogue_calls_survive_a_flood_of_reads() -> None:
    # Given 1,000 cheap reads, then the real work: a write and a catalogue read (GetSecretValue)
    history = History(ACCOUNT)
    history.reads(KEY, 1000, SIGNAL - timedelta(hours=1))
    history.call(KEY, "CreateUser", SIGNAL - timedelta(hours=2), request={"userName": "x"})
    history.call(
        KEY,
        "GetSecretValue",
        SIGNAL - timedelta(hours=2),
        source="secretsmanager.amazonaws.com",
        read_only=True,
    )
    events = [
        {
            "EventId": r["eventID"],
            "EventName": r["eventName"],
            "EventSource": r["eventSource"],
            "ReadOnly": str(r["readOnly"]).lower(),
            "record": r,
        }
        for r in reversed(history.records)  # newest first, as LookupEvents gives them
    ]

    # When the evidence is capped at 100 events
    evidence = keep_evidence(events, cap=100)

    # Then both are kept, 98 reads fill the rest, and the 902 left out are counted by name
    names = [event["EventName"] for event in evidence["events"]]
    assert {"CreateUser", "GetSecretValue"} <= set(names)
    assert (evidence["kept"], evidence["left_out"]) == (100, 902)
    assert evidence["left_out_by_name"] == {"DescribeInstances": 902}
