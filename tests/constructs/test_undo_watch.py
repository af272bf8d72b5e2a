"""The undo watch's synthesized rule: it matches each call that can undo a containment, as CloudTrail records it,
and not the pipeline's own sessions, failed calls or calls that undo nothing; the responder learns its own roles.
(cfn-lint and both rule packs run on the same default construct in test_key_quarantine.py.)"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Template

from key_quarantine import KeyQuarantine
from key_quarantine.data.detections import detection_pattern
from key_quarantine.handlers.settings import (
    CONTAINED_AT_TAG,
    CONTAINMENT_POLICY_NAME,
    DEFAULT_EXEMPT_TAG,
    INCIDENT_TAG,
    Settings,
)
from key_quarantine.handlers.triggers import TriggerFamily, parse_triggers
from key_quarantine.rules.event_pattern import parse_pattern
from tests.cdk_apps import synth
from tests.deployed import ACCOUNT, Deployed
from tests.handlers.undo_records import delivered, record, session_of

OPERATOR = f"arn:aws:iam::{ACCOUNT}:role/secops-operator"
ATTACKER = session_of(ACCOUNT, f"arn:aws:iam::{ACCOUNT}:role/ops-automation", "i-0abc1234")
USER_KEY = {
    "type": "IAMUser",
    "principalId": "AIDAEXAMPLEPRINCIPAL1",
    "arn": f"arn:aws:iam::{ACCOUNT}:user/dev",
    "accountId": ACCOUNT,
    "accessKeyId": "AKIAIOSFODNN7EXAMPLE",
    "userName": "dev",
}
KEY = "AKIAIOSFODNN7EXAMPLE"
#: Each watched call on user "dev" as CloudTrail records its request (and, for a new key, its response).
UNDOS: dict[str, tuple[str, dict[str, Any], dict[str, Any] | None]] = {
    "deny-deleted": ("DeleteUserPolicy", {"userName": "dev", "policyName": CONTAINMENT_POLICY_NAME}, None),
    "key-active": ("UpdateAccessKey", {"userName": "dev", "accessKeyId": KEY, "status": "Active"}, None),
    "bedrock-key-active": (
        "UpdateServiceSpecificCredential",
        {"userName": "dev", "serviceSpecificCredentialId": "ACCAEXAMPLE000000001", "status": "Active"},
        None,
    ),
    "ssh-key-active": (
        "UpdateSSHPublicKey",
        {"userName": "dev", "sSHPublicKeyId": "APKAEXAMPLE000000001", "status": "Active"},
        None,
    ),
    "certificate-active": (
        "UpdateSigningCertificate",
        {"userName": "dev", "certificateId": "EXAMPLECERT0000000001", "status": "Active"},
        None,
    ),
    "boundary-removed": ("DeleteUserPermissionsBoundary", {"userName": "dev"}, None),
    "boundary-replaced": (
        "PutUserPermissionsBoundary",
        {"userName": "dev", "permissionsBoundary": f"arn:aws:iam::{ACCOUNT}:policy/everything"},
        None,
    ),
    "new-key": (
        "CreateAccessKey",
        {"userName": "dev"},
        {"accessKey": {"userName": "dev", "accessKeyId": "AKIAEXAMPLENEWKEY001", "status": "Active"}},
    ),
    "password": ("CreateLoginProfile", {"userName": "dev", "passwordResetRequired": False}, None),
    "tags-removed": ("UntagUser", {"userName": "dev", "tagKeys": [INCIDENT_TAG]}, None),
    "contained-at-rewritten": (
        "TagUser",
        {"userName": "dev", "tags": [{"key": CONTAINED_AT_TAG, "value": "2030-01-01T00:00:00Z"}]},
        None,
    ),
    "exempt-tag": (
        "TagUser",
        {"userName": "dev", "tags": [{"key": DEFAULT_EXEMPT_TAG, "value": "true"}]},
        None,
    ),
}
#: Calls of the same names that undo nothing.
HARMLESS: dict[str, tuple[str, dict[str, Any], dict[str, Any] | None]] = {
    "another-policy-deleted": ("DeleteUserPolicy", {"userName": "dev", "policyName": "app-access"}, None),
    "key-inactive": ("UpdateAccessKey", {"userName": "dev", "accessKeyId": KEY, "status": "Inactive"}, None),
    "other-tags": ("TagUser", {"userName": "dev", "tags": [{"key": "team", "value": "payments"}]}, None),
    "other-tags-removed": ("UntagUser", {"userName": "dev", "tagKeys": ["team"]}, None),
    "a-role-policy": ("DeleteRolePolicy", {"roleName": "app", "policyName": CONTAINMENT_POLICY_NAME}, None),
}


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    def build(app: cdk.App) -> None:
        stack = cdk.Stack(app, "Security", env=cdk.Environment(account=ACCOUNT, region="us-east-1"))
        KeyQuarantine(stack, "KeyQuarantine", operator_role_arns=[OPERATOR])

    assembly = synth(tmp_path_factory.mktemp("undo-watch") / "cdk.out", build)
    loaded: dict[str, Any] = json.loads((Path(assembly) / "Security.template.json").read_text())
    return loaded


def only(template: dict[str, Any], prefix: str, resource_type: str) -> str:
    (found,) = [
        lid
        for lid, r in template["Resources"].items()
        if lid.startswith(prefix) and r["Type"] == resource_type
    ]
    return found


def watch(template: dict[str, Any]) -> Any:
    rule = template["Resources"][only(template, "KeyQuarantineUndoWatch", "AWS::Events::Rule")]
    return parse_pattern(Deployed(template).resolve(rule["Properties"]["EventPattern"]))


def event_of(
    identity: dict[str, Any], call: tuple[str, dict[str, Any], dict[str, Any] | None], **extra: Any
) -> Any:
    return delivered(ACCOUNT, record(ACCOUNT, identity, *call, **extra))


@pytest.mark.parametrize("name", UNDOS)
def test_the_watch_matches_each_undo_and_the_responder_reads_it(template: dict[str, Any], name: str) -> None:
    event = event_of(ATTACKER, UNDOS[name])
    assert watch(template).matches(event)
    (trigger,) = parse_triggers(event)
    assert (trigger.family, trigger.user_name) == (TriggerFamily.UNDO, "dev")
    assert ATTACKER["arn"] in trigger.reason


@pytest.mark.parametrize("name", HARMLESS)
def test_the_watch_leaves_calls_that_undo_nothing(template: dict[str, Any], name: str) -> None:
    assert not watch(template).matches(event_of(ATTACKER, HARMLESS[name]))


def test_the_watch_leaves_failed_calls(template: dict[str, Any]) -> None:
    assert not watch(template).matches(event_of(ATTACKER, UNDOS["deny-deleted"], error="AccessDenied"))


@pytest.mark.parametrize("role", ["KeyQuarantineResponderRole", "KeyQuarantineDailySweepRole"])
def test_the_pipelines_own_sessions_do_not_match(template: dict[str, Any], role: str) -> None:
    # Given a session of the responder's or the sweep's role (as Lambda opens it) writing our tags
    arn = Deployed(template).arn(only(template, role, "AWS::IAM::Role"))
    ours = session_of(ACCOUNT, arn, "Security-KeyQuarantineFunction-1A2B3C4D5E6F")
    tags = {
        "userName": "dev",
        "tags": [{"key": INCIDENT_TAG, "value": "i"}, {"key": CONTAINED_AT_TAG, "value": "t"}],
    }
    assert not watch(template).matches(event_of(ours, ("TagUser", tags, None)))
    # And the same session name on another role, or the same role name under another path, still matches
    path = arn.replace(":role/", ":role/evil/")
    for other in (
        session_of(ACCOUNT, path, "x"),
        session_of(ACCOUNT, f"arn:aws:iam::{ACCOUNT}:role/other", "x"),
    ):
        assert watch(template).matches(event_of(other, ("TagUser", tags, None)))


def test_a_new_key_made_by_a_users_own_key_arrives_once(template: dict[str, Any]) -> None:
    # The persistence detection delivers it; the watch leaves it (one delivery), and the responder reads both
    event = event_of(USER_KEY, UNDOS["new-key"])
    assert not watch(template).matches(event)
    assert parse_pattern(detection_pattern("persistence")).matches(event)
    assert [t.family for t in parse_triggers(event)] == [TriggerFamily.UNDO, TriggerFamily.ABUSE]


def test_without_the_persistence_detection_the_watch_takes_a_users_own_new_key() -> None:
    stack = cdk.Stack(cdk.App(), "Security", env=cdk.Environment(account=ACCOUNT, region="us-east-1"))
    KeyQuarantine(stack, "KeyQuarantine", detections=())
    assert watch(Template.from_stack(stack).to_json()).matches(event_of(USER_KEY, UNDOS["new-key"]))


def test_the_responder_knows_its_own_roles_and_the_operators(template: dict[str, Any]) -> None:
    deployed = Deployed(template)
    function = template["Resources"][
        only(template, "KeyQuarantineResponderFunction", "AWS::Lambda::Function")
    ]
    variables = {
        k: deployed.resolve(v) for k, v in function["Properties"]["Environment"]["Variables"].items()
    }
    settings = Settings.from_environment(variables)
    roles = {
        deployed.arn(only(template, r, "AWS::IAM::Role"))
        for r in ("KeyQuarantineResponderRole", "KeyQuarantineDailySweepRole")
    }
    assert settings.own_role_arns == roles
    assert settings.operator_role_arns == {OPERATOR}


def test_the_sweep_may_scan_the_ledger_and_nothing_else(template: dict[str, Any]) -> None:
    statements = [
        s
        for lid, r in template["Resources"].items()
        if r["Type"] == "AWS::IAM::Policy" and lid.startswith("KeyQuarantineDailySweep")
        for s in r["Properties"]["PolicyDocument"]["Statement"]
    ]
    (scan,) = [s for s in statements if s.get("Sid") == "ContainedUsers"]
    assert scan["Action"] == "dynamodb:Scan"
    assert scan["Resource"] == {
        "Fn::GetAtt": [only(template, "KeyQuarantineLedger", "AWS::DynamoDB::Table"), "Arn"]
    }
    assert not [s for s in statements if "dynamodb:Scan" in json.dumps(s.get("Action")) and s is not scan]
