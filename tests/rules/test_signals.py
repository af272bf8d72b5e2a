"""The sample events the rules evaluate patterns against, and the packaged copies of AWS's samples."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from key_quarantine import data
from key_quarantine.rules.signals import (
    QUARANTINE_ATTACH_REQUIRED,
    SignalFamily,
    all_signals,
    signals_for_account,
)
from tests.samples import PACKAGED_NAME

SHARED_EVENTS = Path(__file__).resolve().parents[3] / "shared" / "events"


@pytest.mark.skipif(not SHARED_EVENTS.is_dir(), reason="shared/ is not beside this clone")
@pytest.mark.parametrize("name", sorted(PACKAGED_NAME))
def test_packaged_samples_equal_the_shared_ones(name: str) -> None:
    packaged = data.DATA_DIR / "signal_events" / f"{PACKAGED_NAME[name]}.json"
    assert json.loads(packaged.read_text()) == json.loads((SHARED_EVENTS / name).read_text())


def test_every_known_quarantine_policy_and_a_future_one_is_sampled() -> None:
    names = {s.name for s in all_signals() if s.family is SignalFamily.QUARANTINE_ATTACH}
    assert names == set(QUARANTINE_ATTACH_REQUIRED)
    assert "attach:AWSCompromisedKeyQuarantineV5" in names


def test_every_risk_code_is_sampled_in_both_shapes() -> None:
    names = {s.name for s in all_signals() if s.family is SignalFamily.HEALTH_RISK}
    assert len(names) == 2 * len(data.AWS_RISK_EVENT_TYPE_CODES)


def test_samples_move_to_the_stack_account() -> None:
    (event,) = [
        s.event
        for s in signals_for_account("222222222222")
        if s.name == "attach:AWSCompromisedKeyQuarantineV4"
    ]
    assert (event["account"], event["detail"]["recipientAccountId"]) == ("222222222222", "222222222222")
    assert event["detail"]["requestParameters"]["policyArn"].endswith("V4")


def test_read_only_catalogue_events_are_quarantine_or_campaign_actions() -> None:
    # Cross-check the abuse catalogue with AWS's quarantine action list: what it denies is abused, and
    # every read-only event we watch is either denied by it or one of the known gaps it leaves.
    denied = {a.lower() for a in data.quarantine_denied_actions()}
    gaps = {a.lower() for a in data.ABUSED_ACTIONS_NOT_QUARANTINED}
    in_both = [
        e for e in data.abuse_events() if f"{e.event_source.split('.')[0]}:{e.event_name}".lower() in denied
    ]
    assert len(in_both) >= 10
    assert "bedrock:invokemodel" in denied
    assert "secretsmanager:getsecretvalue" in gaps
