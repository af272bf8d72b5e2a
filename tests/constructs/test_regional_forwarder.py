"""Per-region stacks forward abuse detections to the responder's bus in us-east-1."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest

from key_quarantine import KeyQuarantine, KeyQuarantineRegionalForwarder
from key_quarantine.data.detections import regional_categories
from key_quarantine.rules.event_pattern import parse_pattern
from key_quarantine.rules.runner import scan_paths
from tests.cdk_apps import synth
from tests.handlers.test_detections import cloudtrail_event, long_term_key

ACCOUNT = "111122223333"
EVENTS = Path(__file__).resolve().parents[1] / "handlers" / "events"


@pytest.fixture(scope="module")
def assembly(tmp_path_factory: pytest.TempPathFactory) -> Path:
    def build(app: cdk.App) -> None:
        KeyQuarantine(
            cdk.Stack(app, "Responder", env=cdk.Environment(account=ACCOUNT, region="us-east-1")),
            "KeyQuarantine",
        )
        KeyQuarantineRegionalForwarder(
            cdk.Stack(app, "Frankfurt", env=cdk.Environment(account=ACCOUNT, region="eu-central-1")),
            "Forwarder",
        )

    return synth(tmp_path_factory.mktemp("regional") / "cdk.out", build)


def rules(assembly: Path, stack: str) -> dict[str, dict[str, Any]]:
    template = json.loads((assembly / f"{stack}.template.json").read_text())
    return {
        lid: r["Properties"] for lid, r in template["Resources"].items() if r["Type"] == "AWS::Events::Rule"
    }


def test_every_regional_category_is_forwarded_to_the_us_east_1_default_bus(assembly: Path) -> None:
    forwarding = rules(assembly, "Frankfurt")
    assert len(forwarding) == len(regional_categories()) + 1  # and GuardDuty's findings
    for properties in forwarding.values():
        (target,) = properties["Targets"]
        assert json.dumps(target["Arn"]).count("us-east-1") == 1
        assert json.dumps(target["Arn"]).endswith(':event-bus/default"]]}')
        assert "RoleArn" in target


def test_forwarded_calls_match_the_responders_detection_rules(assembly: Path) -> None:
    # Given an InvokeModel made in eu-central-1 with a user key, as the forwarder delivers it to us-east-1
    event = cloudtrail_event(
        "bedrock.amazonaws.com", "InvokeModel", long_term_key(), awsRegion="eu-central-1"
    )
    event["region"] = "eu-central-1"
    forwarded = [
        lid
        for lid, p in rules(assembly, "Frankfurt").items()
        if parse_pattern(p["EventPattern"]).matches(event)
    ]
    detected = [
        lid
        for lid, p in rules(assembly, "Responder").items()
        if "EventPattern" in p
        and lid.startswith("KeyQuarantineDetections")
        and parse_pattern(p["EventPattern"]).matches(event)
    ]
    # Then it is forwarded there and detected there
    assert len(forwarded) == 1
    assert len(detected) == 1


def test_global_iam_calls_are_not_forwarded_and_our_rules_agree(assembly: Path) -> None:
    create_user = cloudtrail_event("iam.amazonaws.com", "CreateUser", long_term_key(), awsRegion="us-east-1")
    assert not [
        lid
        for lid, p in rules(assembly, "Frankfurt").items()
        if parse_pattern(p["EventPattern"]).matches(create_user)
    ]
    # KQ3/KQ4 find nothing wrong with the forwarders: no IAM pattern outside us-east-1, read-only state where needed
    assert not [
        f for f in scan_paths([assembly]) if f.rule_id in ("KQ3", "KQ4") and f.stack.name == "Frankfurt"
    ]


def test_a_forwarder_in_a_second_region_answers_kq10(assembly: Path) -> None:
    # Given the responder in us-east-1 and a forwarder in eu-central-1: detections watch two regions
    assert [f for f in scan_paths([assembly]) if f.rule_id == "KQ10"] == []


def test_guardduty_findings_made_in_the_region_reach_the_responders_guardduty_rule(assembly: Path) -> None:
    # Given an attack sequence GuardDuty raised in eu-central-1 (findings are regional)
    finding = json.loads((EVENTS / "guardduty-attack-sequence.json").read_text())
    finding["region"] = finding["detail"]["region"] = "eu-central-1"
    # Then the forwarder sends it on, and the responder's GuardDuty rule takes it
    assert [
        lid
        for lid, p in rules(assembly, "Frankfurt").items()
        if parse_pattern(p["EventPattern"]).matches(finding)
    ]
    responder = [
        lid
        for lid, p in rules(assembly, "Responder").items()
        if lid.startswith("KeyQuarantineTriggers") and parse_pattern(p["EventPattern"]).matches(finding)
    ]
    assert len(responder) == 1
    assert "GuardDuty" in responder[0]


@pytest.mark.parametrize(
    ("env", "problem"),
    [
        (cdk.Environment(region="us-east-1"), "KeyQuarantine already detects in us-east-1"),
        (None, "needs a stack pinned to a region"),
    ],
)
def test_misplaced_forwarder_is_refused(env: cdk.Environment | None, problem: str) -> None:
    stack = cdk.Stack(cdk.App(), "S", env=env)
    with pytest.raises(ValueError, match=problem):
        KeyQuarantineRegionalForwarder(stack, "Forwarder")
