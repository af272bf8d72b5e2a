"""The re-enable handler on moto: a disabled rule of ours is enabled again and the topic is told; nothing else."""

from __future__ import annotations

from typing import Any

import boto3
import pytest

from key_quarantine.handlers.aws import Aws
from key_quarantine.handlers.tamper import reenable
from tests.handlers.conftest import REGION, MotoAccount

OURS, THEIRS = "Security-KeyQuarantineTriggersHealthRisk-1A2B3C", "app-nightly-job"


def disable_rule_event(name: str, **detail: Any) -> dict[str, Any]:
    return {
        "source": "aws.events",
        "detail-type": "AWS API Call via CloudTrail",
        "detail": {
            "eventSource": "events.amazonaws.com",
            "eventName": "DisableRule",
            "eventTime": "2026-11-25T21:00:00Z",
            "eventID": "b1c2",
            "userIdentity": {"type": "IAMUser", "arn": "arn:aws:iam::123456789012:user/mallory"},
            "requestParameters": {"name": name},
            **detail,
        },
    }


@pytest.fixture
def rules(account: MotoAccount) -> Any:
    events = boto3.client("events", region_name=REGION)
    for name in (OURS, THEIRS):
        events.put_rule(Name=name, ScheduleExpression="rate(1 day)", State="DISABLED")
    return events


def state(events: Any, name: str) -> str:
    return str(events.describe_rule(Name=name)["State"])


def test_a_disabled_rule_of_ours_is_enabled_again_and_the_topic_told(
    account: MotoAccount, rules: Any
) -> None:
    # Given our rule and someone else's, both disabled; When the DisableRule call for ours arrives
    result = reenable(
        disable_rule_event(OURS), Aws(region=REGION), watched=frozenset({OURS}), topic_arn=account.topic_arn
    )
    # Then ours is enabled again, theirs is left alone, and the message names who disabled it
    assert result == {
        "status": "re-enabled",
        "rule": OURS,
        "disabled_by": "arn:aws:iam::123456789012:user/mallory",
    }
    assert (state(rules, OURS), state(rules, THEIRS)) == ("ENABLED", "DISABLED")
    (notification,) = account.notifications()
    assert OURS in notification["Message"]
    assert "user/mallory" in notification["Message"]


@pytest.mark.parametrize(
    ("event", "reason"),
    [
        (disable_rule_event(THEIRS), "not one of ours"),
        (disable_rule_event(OURS, errorCode="AccessDeniedException"), "not a successful DisableRule"),
        (disable_rule_event(OURS, eventName="DeleteRule"), "not a successful DisableRule"),
        ({"source": "aws.events", "detail": "garbage"}, "not a successful DisableRule"),
    ],
    ids=["someone-elses-rule", "failed-call", "delete-needs-a-redeploy", "malformed"],
)
def test_anything_else_is_ignored_and_nothing_is_enabled(
    account: MotoAccount, rules: Any, event: dict[str, Any], reason: str
) -> None:
    result = reenable(event, Aws(region=REGION), watched=frozenset({OURS}), topic_arn=account.topic_arn)
    assert result["status"] == "ignored"
    assert reason in result["reason"]
    assert (state(rules, OURS), state(rules, THEIRS)) == ("DISABLED", "DISABLED")
    assert account.notifications() == []
