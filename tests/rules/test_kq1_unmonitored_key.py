"""KQ1: a long-lived key without quarantine monitoring, decided by evaluating patterns against sample events."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from key_quarantine.rules.runner import scan_paths
from tests.cfn import (
    QUARANTINE_PREFIX,
    access_key,
    event_rule,
    health_risk_pattern,
    ids,
    quarantine_attach_pattern,
    scan,
    template,
    topic,
    user,
)

USER_AND_KEY = {"Deployer": user("deployer"), "DeployerKey": access_key({"Ref": "Deployer"})}


def kq1(tmp_path: Path, resources: dict[str, Any], **options: Any) -> list[Any]:
    return scan(tmp_path, {"App": template(resources)}, rule="KQ1", **options)


# --- noncompliant ----------------------------------------------------------------------------------------


def test_user_with_key_and_no_rules_is_flagged_on_the_user(tmp_path: Path) -> None:
    # Given a user holding a key by Ref and no event rules
    # When the rules run
    findings = kq1(tmp_path, USER_AND_KEY)
    # Then KQ1 flags the user, naming its key
    assert ids(findings) == [("KQ1", "Deployer")]
    assert "'DeployerKey'" in findings[0].message
    assert findings[0].level == "error"


def test_key_by_literal_user_name_is_attributed_to_the_app_user(tmp_path: Path) -> None:
    findings = kq1(tmp_path, {"Deployer": user("deployer"), "Key": access_key("deployer")})
    assert ids(findings) == [("KQ1", "Deployer")]


def test_key_for_a_user_outside_the_app_is_flagged_on_the_key(tmp_path: Path) -> None:
    findings = kq1(tmp_path, {"Key": access_key("someone-else")})
    assert ids(findings) == [("KQ1", "Key")]
    assert "'someone-else' (not defined in this app)" in findings[0].message


def test_key_in_another_stack_by_import_value_is_found(tmp_path: Path) -> None:
    # Given the user in one stack, exported, and its key in another stack importing it
    users = template(
        {"Deployer": user()},
        Outputs={"DeployerName": {"Value": {"Ref": "Deployer"}, "Export": {"Name": "Users:DeployerName"}}},
    )
    keys = template({"Key": access_key({"Fn::ImportValue": "Users:DeployerName"})})
    # When both are scanned as one app
    findings = scan(tmp_path, {"Users": users, "Keys": keys}, rule="KQ1")
    # Then the user is flagged in its own stack, with the key named
    assert [(f.stack.name, f.logical_id) for f in findings] == [("Users", "Deployer")]
    assert "'Key'" in findings[0].message


@pytest.mark.parametrize(
    ("rule", "explanation"),
    [
        (
            event_rule(quarantine_attach_pattern([QUARANTINE_PREFIX + "V3"])),
            "AWSCompromisedKeyQuarantineV4, AWSCompromisedKeyQuarantineV5.",
        ),
        (event_rule(quarantine_attach_pattern(), state="DISABLED"), "is DISABLED"),
        (event_rule(quarantine_attach_pattern(), targets=[]), "has no target"),
        (event_rule(quarantine_attach_pattern(), bus="security-bus"), "event bus 'security-bus'"),
        (
            event_rule(
                {"source": ["aws.health"], "detail": {"eventMetadata": {"userName": [{"exists": True}]}}}
            ),
            "only some AWS Health risk events",
        ),
    ],
    ids=["pinned-version", "disabled", "no-target", "custom-bus", "health-new-shape-only"],
)
def test_rules_that_look_like_monitoring_but_do_not_fire_are_explained(
    tmp_path: Path, rule: dict[str, Any], explanation: str
) -> None:
    # Given a rule that matches some quarantine signal but would not deliver all of them
    findings = kq1(tmp_path, {**USER_AND_KEY, "Alerts": topic(), "Watch": rule})
    # Then the key is unmonitored and the finding says why the rule does not count
    assert ids(findings) == [("KQ1", "Deployer")]
    assert explanation in findings[0].message


def test_pattern_value_known_only_at_deploy_time_does_not_count(tmp_path: Path) -> None:
    pattern = quarantine_attach_pattern([{"Ref": "PolicyArnParameter"}])
    resources = {**USER_AND_KEY, "Alerts": topic(), "Watch": event_rule(pattern)}
    body = template(resources, Parameters={"PolicyArnParameter": {"Type": "String"}})
    assert ids(scan(tmp_path, {"App": body}, rule="KQ1")) == [("KQ1", "Deployer")]


def test_monitoring_in_another_account_does_not_cover_the_user(tmp_path: Path) -> None:
    # Given monitoring deployed to account 2 and the user in account 1 (a cloud assembly with two environments)
    monitored = template({"Alerts": topic(), "Watch": event_rule(quarantine_attach_pattern())})
    users = template(USER_AND_KEY)
    assembly = tmp_path / "cdk.out"
    assembly.mkdir()
    (assembly / "Monitoring.template.json").write_text(json.dumps(monitored))
    (assembly / "Users.template.json").write_text(json.dumps(users))
    manifest = {
        "version": "55.0.0",
        "artifacts": {
            name: {
                "type": "aws:cloudformation:stack",
                "environment": f"aws://{account}/us-east-1",
                "properties": {"templateFile": f"{name}.template.json"},
            }
            for name, account in (("Monitoring", "222222222222"), ("Users", "111111111111"))
        },
    }
    (assembly / "manifest.json").write_text(json.dumps(manifest))
    # When scanned
    findings = [f for f in scan_paths([assembly]) if f.rule_id == "KQ1"]
    # Then the user is still unmonitored
    assert [(f.stack.name, f.logical_id) for f in findings] == [("Users", "Deployer")]


# --- compliant -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "pattern",
    [
        quarantine_attach_pattern(),
        quarantine_attach_pattern([{"wildcard": "arn:aws:iam::aws:policy/AWSCompromisedKeyQuarantine*"}]),
        {
            "source": ["aws.iam"],
            "detail": {
                "requestParameters": {"policyArn": [{"suffix": "Quarantine"}, {"prefix": QUARANTINE_PREFIX}]}
            },
        },
        health_risk_pattern(),
        {"source": ["aws.health"], "detail": {"eventTypeCode": ["AWS_RISK_CREDENTIALS_EXPOSED"]}},
        {"$or": [{"source": ["aws.health"]}, {"detail": {"eventName": ["AttachUserPolicy"]}}]},
        {"source": ["aws.iam"], "detail": {"eventName": [{"anything-but": ["CreateUser", "DeleteUser"]}]}},
        json.dumps(health_risk_pattern()),
    ],
    ids=[
        "prefix",
        "wildcard",
        "suffix-or-prefix",
        "health-family",
        "health-exposed",
        "$or",
        "anything-but",
        "json-string",
    ],
)
def test_monitoring_that_matches_every_version_or_the_health_event_satisfies_kq1(
    tmp_path: Path, pattern: Any
) -> None:
    findings = kq1(tmp_path, {**USER_AND_KEY, "Alerts": topic(), "Watch": event_rule(pattern)})
    assert findings == []


def test_monitoring_in_another_stack_of_the_same_account_counts(tmp_path: Path) -> None:
    monitoring = template({"Alerts": topic(), "Watch": event_rule(quarantine_attach_pattern())})
    findings = scan(tmp_path, {"Users": template(USER_AND_KEY), "Security": monitoring}, rule="KQ1")
    assert findings == []


def test_monitoring_declared_external_with_a_reason_counts(tmp_path: Path) -> None:
    declared = template(USER_AND_KEY, Metadata={"KeyQuarantine": {"ExternalQuarantineMonitoring": "SEC-142"}})
    assert scan(tmp_path, {"App": declared}, rule="KQ1") == []


def test_declaration_without_a_reason_does_not_count(tmp_path: Path) -> None:
    declared = template(USER_AND_KEY, Metadata={"KeyQuarantine": {"ExternalQuarantineMonitoring": "  "}})
    assert ids(scan(tmp_path, {"App": declared}, rule="KQ1")) == [("KQ1", "Deployer")]


def test_inactive_key_is_not_a_live_credential(tmp_path: Path) -> None:
    resources = {"Deployer": user(), "Key": access_key({"Ref": "Deployer"}, Status="Inactive")}
    assert kq1(tmp_path, resources) == []


# --- not applicable --------------------------------------------------------------------------------------


def test_user_without_key_is_not_applicable(tmp_path: Path) -> None:
    assert kq1(tmp_path, {"Deployer": user("deployer"), "Alerts": topic()}) == []
