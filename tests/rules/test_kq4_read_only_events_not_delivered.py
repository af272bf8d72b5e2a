"""KQ4: rules that match read-only management events without ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.cfn import event_rule, quarantine_attach_pattern, scan, template, topic

ALL_EVENTS = "ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS"


def kq4(tmp_path: Path, rule: dict[str, Any]) -> list[Any]:
    return scan(
        tmp_path, {"App": template({"Alerts": topic(), "Watch": rule})}, rule="KQ4", region="us-east-1"
    )


@pytest.mark.parametrize(
    ("pattern", "named"),
    [
        ({"source": ["aws.bedrock"], "detail": {"eventName": ["InvokeModel"]}}, "bedrock:InvokeModel"),
        (
            {"detail": {"eventSource": ["ses.amazonaws.com"], "eventName": [{"prefix": "Get"}]}},
            "ses:GetSendQuota",
        ),
        ({"source": ["aws.sns"], "detail": {"eventName": ["GetSMSAttributes"]}}, "sns:GetSMSAttributes"),
    ],
    ids=["bedrock", "ses-prefix", "sns"],
)
@pytest.mark.parametrize("state", [None, "ENABLED"], ids=["default-state", "enabled"])
def test_read_only_pattern_without_all_management_events_is_flagged(
    tmp_path: Path, pattern: dict[str, Any], named: str, state: str | None
) -> None:
    findings = kq4(tmp_path, event_rule(pattern, state=state))
    assert [(f.logical_id, f.level, f.location) for f in findings] == [
        ("Watch", "warning", "Properties/State")
    ]
    assert named in findings[0].message


def test_all_management_events_state_is_compliant(tmp_path: Path) -> None:
    pattern = {"source": ["aws.bedrock"], "detail": {"eventName": ["InvokeModel"]}}
    assert kq4(tmp_path, event_rule(pattern, state=ALL_EVENTS)) == []


def test_write_only_pattern_is_not_applicable(tmp_path: Path) -> None:
    assert kq4(tmp_path, event_rule(quarantine_attach_pattern())) == []


def test_disabled_rule_is_not_applicable(tmp_path: Path) -> None:
    pattern = {"source": ["aws.bedrock"], "detail": {"eventName": ["InvokeModel"]}}
    assert kq4(tmp_path, event_rule(pattern, state="DISABLED")) == []
