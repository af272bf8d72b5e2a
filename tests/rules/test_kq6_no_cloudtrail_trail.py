"""KQ6: CloudTrail-based quarantine monitoring with no trail in the app."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.cfn import event_rule, health_risk_pattern, quarantine_attach_pattern, scan, template, topic, trail

MONITOR = {"Alerts": topic(), "Watch": event_rule(quarantine_attach_pattern())}


def kq6(tmp_path: Path, resources: dict[str, Any], **sections: Any) -> list[Any]:
    return scan(tmp_path, {"App": template({**MONITOR, **resources}, **sections)}, rule="KQ6")


@pytest.mark.parametrize(
    "resources",
    [
        {},
        {"Trail": trail(IsLogging=False)},
        {"Trail": trail(EventSelectors=[{"IncludeManagementEvents": False}])},
        {"Trail": trail(EventSelectors=[{"ReadWriteType": "ReadOnly"}])},
        {
            "Trail": trail(
                AdvancedEventSelectors=[{"FieldSelectors": [{"Field": "eventCategory", "Equals": ["Data"]}]}]
            )
        },
    ],
    ids=["no-trail", "not-logging", "no-management-events", "read-only", "data-events-only"],
)
def test_cloudtrail_monitoring_without_a_logging_trail_is_flagged(
    tmp_path: Path, resources: dict[str, Any]
) -> None:
    findings = kq6(tmp_path, resources)
    assert [(f.logical_id, f.level) for f in findings] == [("Watch", "warning")]


@pytest.mark.parametrize(
    "resources",
    [
        {"Trail": trail()},
        {"Trail": trail(EventSelectors=[{"ReadWriteType": "WriteOnly"}])},
        {
            "Trail": trail(
                AdvancedEventSelectors=[
                    {"FieldSelectors": [{"Field": "eventCategory", "Equals": ["Management"]}]}
                ]
            )
        },
        {"Health": event_rule(health_risk_pattern())},
    ],
    ids=["trail", "write-only-trail", "advanced-management", "health-monitoring-needs-no-trail"],
)
def test_a_logging_trail_or_health_monitoring_is_compliant(tmp_path: Path, resources: dict[str, Any]) -> None:
    assert kq6(tmp_path, resources) == []


def test_declared_existing_trail_is_compliant(tmp_path: Path) -> None:
    metadata = {"KeyQuarantine": {"ExistingCloudTrailTrail": "Organization trail org-main"}}
    assert kq6(tmp_path, {}, Metadata=metadata) == []


def test_no_monitoring_is_not_applicable(tmp_path: Path) -> None:
    assert scan(tmp_path, {"App": template({"Alerts": topic()})}, rule="KQ6") == []
