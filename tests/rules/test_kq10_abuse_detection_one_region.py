"""KQ10: abuse detection rules that all sit in one region (the two-region case: test_regional_forwarder)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from key_quarantine.data.detections import detection_pattern
from tests.cfn import event_rule, quarantine_attach_pattern, scan, template, topic

ALL_EVENTS = "ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS"


def kq10(tmp_path: Path, rules: dict[str, Any], region: str | None = "us-east-1") -> list[Any]:
    return scan(tmp_path, {"App": template({"Alerts": topic(), **rules})}, rule="KQ10", region=region)


def test_detections_in_one_region_are_flagged(tmp_path: Path) -> None:
    # Given the construct's LLMjacking detection, in us-east-1 only
    findings = kq10(tmp_path, {"Llm": event_rule(detection_pattern("llmjacking"), state=ALL_EVENTS)})
    # Then a warning says calls made elsewhere are never seen
    assert [(f.logical_id, f.level) for f in findings] == [("Llm", "warning")]
    assert "all in us-east-1" in findings[0].message


def test_quarantine_monitoring_alone_is_not_applicable(tmp_path: Path) -> None:
    # IAM and quarantine events are global: one us-east-1 rule is where they are (KQ3's business)
    assert kq10(tmp_path, {"Quarantine": event_rule(quarantine_attach_pattern())}) == []


def test_an_environment_agnostic_stack_is_not_judged(tmp_path: Path) -> None:
    rules = {"Llm": event_rule(detection_pattern("llmjacking"), state=ALL_EVENTS)}
    assert kq10(tmp_path, rules, region=None) == []
