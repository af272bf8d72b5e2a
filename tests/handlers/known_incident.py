"""A known incident's evidence, built the way the responder builds it: the attacker's recorded history replayed to
the real CloudTrail client, the trail followed and kept as evidence, the containment steps as they ran."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from key_quarantine.handlers.trail import Throttle, TrailQuery, follow_key
from key_quarantine.handlers.trail_changes import trail_evidence
from tests.handlers.cloudtrail_replay import CloudTrailReplay
from tests.handlers.test_trail import ACCOUNT, KEY, REGIONS, SIGNAL, attacker_history

CONTAINED_AT = SIGNAL + timedelta(seconds=4)
CONTAINED_STEPS = [
    {"name": "deactivate-keys", "status": "done", "detail": f"deactivated {KEY}"},
    {
        "name": "deny-policy",
        "status": "done",
        "detail": "put inline policy KeyQuarantineContainment (deny-all)",
    },
    {"name": "tag-user", "status": "done", "detail": "tagged key-quarantine:incident=0123456789abcdef0123"},
]


def known_incident(steps: list[dict[str, str]] | None = None, **history_options: Any) -> dict[str, Any]:
    history = attacker_history(**history_options)
    now = SIGNAL + timedelta(minutes=15)
    replay = CloudTrailReplay(history.records, lambda: now)
    aws = replay.aws()
    trail = follow_key(
        lambda region: aws.client("cloudtrail", region),
        TrailQuery(ACCOUNT, KEY, REGIONS, SIGNAL - timedelta(hours=24), now),
        throttle=Throttle(clock=lambda: 0.0, sleep=lambda _: None),
    )
    return {
        "incident_id": "0123456789abcdef0123",
        "trigger": {
            "family": "quarantine-policy",
            "reason": "AWS attached AWSCompromisedKeyQuarantineV3",
            "account": ACCOUNT,
            "event": {"time": SIGNAL.strftime("%Y-%m-%dT%H:%M:%SZ")},
        },
        "user": {"UserName": "leaked-deployer"},
        "access_keys": [{"access_key_id": KEY}],
        "response": {
            "steps": CONTAINED_STEPS if steps is None else steps,
            "contained_at": CONTAINED_AT.strftime("%Y-%m-%dT%H:%M:%SZ"),
        },
        "trail": trail_evidence(trail, cap=1000),
    }
