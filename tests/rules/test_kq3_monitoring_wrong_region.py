"""KQ3: monitoring for global events (IAM CloudTrail, AWS Health risk) where they never arrive."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from key_quarantine.rules.runner import scan_paths
from tests.cfn import event_rule, health_risk_pattern, quarantine_attach_pattern, scan, template, topic

MONITOR = {"Alerts": topic(), "Watch": event_rule(quarantine_attach_pattern())}
BEDROCK = {"source": ["aws.bedrock"], "detail": {"eventName": ["InvokeModel"]}}


def write_assembly(directory: Path, stacks: dict[str, tuple[str, dict[str, Any]]]) -> Path:
    """A minimal cloud assembly: name -> (environment region, template)."""
    directory.mkdir(parents=True)
    artifacts = {}
    for name, (region, body) in stacks.items():
        (directory / f"{name}.template.json").write_text(json.dumps(body))
        artifacts[name] = {
            "type": "aws:cloudformation:stack",
            "environment": f"aws://111111111111/{region}",
            "properties": {"templateFile": f"{name}.template.json"},
        }
    (directory / "manifest.json").write_text(json.dumps({"version": "55.0.0", "artifacts": artifacts}))
    return directory


def kq3(findings: list[Any]) -> list[Any]:
    return [f for f in findings if f.rule_id == "KQ3"]


def test_quarantine_rule_pinned_to_another_region_is_an_error(tmp_path: Path) -> None:
    findings = scan(tmp_path, {"App": template(MONITOR)}, rule="KQ3", region="eu-west-1")
    assert [(f.logical_id, f.level) for f in findings] == [("Watch", "error")]
    assert "eu-west-1" in findings[0].message
    assert "us-east-1" in findings[0].message


def test_health_rule_in_another_region_is_an_error(tmp_path: Path) -> None:
    resources = {"Alerts": topic(), "Watch": event_rule(health_risk_pattern())}
    findings = scan(tmp_path, {"App": template(resources)}, rule="KQ3", region="ap-south-1")
    assert [(f.logical_id, f.level) for f in findings] == [("Watch", "error")]


def test_environment_agnostic_stack_is_a_warning_to_pin_the_region(tmp_path: Path) -> None:
    findings = scan(tmp_path, {"App": template(MONITOR)}, rule="KQ3")
    assert [(f.logical_id, f.level) for f in findings] == [("Watch", "warning")]
    assert "pin the stack" in findings[0].message


def test_rule_that_also_matches_regional_events_is_a_warning(tmp_path: Path) -> None:
    # Given a rule matching both IAM events and Bedrock (regional) events, in eu-west-1
    pattern = {"$or": [quarantine_attach_pattern(), BEDROCK]}
    resources = {"Alerts": topic(), "Watch": event_rule(pattern)}
    findings = scan(tmp_path, {"App": template(resources)}, rule="KQ3", region="eu-west-1")
    # Then only its global part is dead: a warning
    assert [(f.logical_id, f.level) for f in findings] == [("Watch", "warning")]


def test_rule_in_us_east_1_is_compliant(tmp_path: Path) -> None:
    assert scan(tmp_path, {"App": template(MONITOR)}, rule="KQ3", region="us-east-1") == []


def test_forwarding_from_us_east_1_to_the_regional_bus_is_compliant(tmp_path: Path) -> None:
    # Given a us-east-1 stack forwarding quarantine events to the eu-west-1 default bus, where a rule waits
    forwarder = template(
        {
            "Forward": event_rule(
                quarantine_attach_pattern(),
                targets=[{"Arn": "arn:aws:events:eu-west-1:111111111111:event-bus/default", "Id": "eu"}],
            )
        }
    )
    regional = template(MONITOR)
    assembly = write_assembly(
        tmp_path / "cdk.out", {"Forwarder": ("us-east-1", forwarder), "Regional": ("eu-west-1", regional)}
    )
    # Then the regional rule can fire
    assert kq3(scan_paths([assembly])) == []


def test_forwarding_to_another_region_does_not_help(tmp_path: Path) -> None:
    forwarder = template(
        {
            "Forward": event_rule(
                quarantine_attach_pattern(),
                targets=[{"Arn": "arn:aws:events:eu-central-1:111111111111:event-bus/default", "Id": "eu"}],
            )
        }
    )
    assembly = write_assembly(
        tmp_path / "cdk.out",
        {"Forwarder": ("us-east-1", forwarder), "Regional": ("eu-west-1", template(MONITOR))},
    )
    assert [(f.stack.name, f.logical_id) for f in kq3(scan_paths([assembly]))] == [("Regional", "Watch")]


def test_regional_only_rule_is_not_applicable(tmp_path: Path) -> None:
    resources = {
        "Alerts": topic(),
        "Watch": event_rule(BEDROCK, state="ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS"),
    }
    assert scan(tmp_path, {"App": template(resources)}, rule="KQ3", region="eu-west-1") == []


def test_disabled_rule_is_not_applicable(tmp_path: Path) -> None:
    resources = {"Alerts": topic(), "Watch": event_rule(quarantine_attach_pattern(), state="DISABLED")}
    assert scan(tmp_path, {"App": template(resources)}, rule="KQ3", region="eu-west-1") == []
