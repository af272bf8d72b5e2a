"""The KeyQuarantine construct's template: rules, role, queue, alarms, encryption, region; and our own rules."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from aws_cdk.assertions import Match, Template

from key_quarantine import Containment, Exemption, KeyQuarantine, ResponseMode
from key_quarantine.constructs.key_quarantine import heartbeat_filter
from key_quarantine.data.detections import categories
from key_quarantine.handlers.playbook import required_actions
from key_quarantine.handlers.policy_watch import WATCH_ACTIONS
from key_quarantine.handlers.settings import Settings
from key_quarantine.handlers.sweep import AUDIT_ACTIONS
from key_quarantine.rules.event_pattern import parse_pattern
from key_quarantine.rules.runner import scan_paths
from tests.cdk_apps import synth
from tests.handlers.test_triggers import sample

US_EAST_1 = cdk.Environment(account="111111111111", region="us-east-1")


@pytest.fixture(scope="module")
def assembly(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One app: the construct with defaults, beside an IAM user with a key (as users deploy it)."""

    def build(app: cdk.App) -> None:
        stack = cdk.Stack(app, "Security", env=US_EAST_1)
        KeyQuarantine(stack, "KeyQuarantine", notification_emails=["secops@example.com"])
        user = iam.User(stack, "Deployer")
        iam.AccessKey(stack, "DeployerKey", user=user)

    return synth(tmp_path_factory.mktemp("key-quarantine") / "cdk.out", build)


@pytest.fixture(scope="module")
def template(assembly: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((assembly / "Security.template.json").read_text())
    return loaded


def resources(template: dict[str, Any], resource_type: str) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in template["Resources"].items() if v["Type"] == resource_type}


def rule_patterns(template: dict[str, Any]) -> dict[str, Any]:
    rules = resources(template, "AWS::Events::Rule").items()
    return {
        lid: body["Properties"]["EventPattern"] for lid, body in rules if "EventPattern" in body["Properties"]
    }


def matching_rules(
    template: dict[str, Any], event: dict[str, Any], prefix: str = "KeyQuarantineTriggers"
) -> list[str]:
    """The rules (trigger rules unless ``prefix`` says otherwise) whose pattern matches the event."""
    patterns = rule_patterns(template).items()
    return sorted(lid for lid, p in patterns if lid.startswith(prefix) and parse_pattern(p).matches(event))


# --- trigger patterns against positive and negative events ------------------------------------------------


@pytest.mark.parametrize("version", ["", "V2", "V3", "V4", "V7"])
def test_quarantine_rule_fires_for_every_version(template: dict[str, Any], version: str) -> None:
    event = sample("cloudtrail-attach-quarantine.json")
    event["detail"]["requestParameters"]["policyArn"] = (
        f"arn:aws:iam::aws:policy/AWSCompromisedKeyQuarantine{version}"
    )
    assert [lid for lid in matching_rules(template, event) if "QuarantinePolicy" in lid]


@pytest.mark.parametrize(
    ("sample_name", "rule_name"),
    [
        ("health-credentials-exposed.json", "HealthRisk"),
        ("health-credentials-exposed.aws-health-tools.json", "HealthRisk"),
        ("guardduty-iam-user.json", "GuardDuty"),
    ],
)
def test_health_and_guardduty_rules_fire_on_the_samples(
    template: dict[str, Any], sample_name: str, rule_name: str
) -> None:
    (matched,) = matching_rules(template, sample(sample_name))
    assert rule_name in matched


def test_legacy_inline_quarantine_rule_fires(template: dict[str, Any]) -> None:
    event = sample("cloudtrail-attach-quarantine.json")
    event["detail"]["eventName"] = "PutUserPolicy"
    event["detail"]["requestParameters"] = {
        "userName": "u",
        "policyName": "AWSExposedCredentialPolicy_DO_NOT_REMOVE",
    }
    (matched,) = matching_rules(template, event)
    assert "LegacyQuarantine" in matched


@pytest.mark.parametrize(
    ("sample_name", "path", "value"),
    [
        (
            "cloudtrail-attach-quarantine.json",
            ["detail", "requestParameters", "policyArn"],
            "arn:aws:iam::aws:policy/ReadOnlyAccess",
        ),
        ("cloudtrail-attach-quarantine.json", ["detail", "eventName"], "DetachUserPolicy"),
        ("cloudtrail-attach-quarantine.json", ["source"], "aws.s3"),
        ("health-credentials-exposed.json", ["detail", "service"], "EC2"),
        (
            "health-credentials-exposed.json",
            ["detail", "eventTypeCode"],
            "AWS_EC2_INSTANCE_RETIREMENT_SCHEDULED",
        ),
        ("guardduty-iam-user.json", ["detail", "type"], "Recon:EC2/PortProbeUnprotectedPort"),
        ("guardduty-iam-user.json", ["detail", "resource", "resourceType"], "Instance"),
    ],
    ids=[
        "other-policy",
        "detach",
        "other-source",
        "health-not-risk",
        "health-other-code",
        "guardduty-other-type",
        "guardduty-instance",
    ],
)
def test_no_rule_fires_on_lookalike_events(
    template: dict[str, Any], sample_name: str, path: list[str], value: str
) -> None:
    event = sample(sample_name)
    target = event
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = value
    assert matching_rules(template, event) == []


# --- delivery, role, alarms, storage ----------------------------------------------------------------------


def test_every_rule_delivers_with_retries_and_a_dead_letter_queue(template: dict[str, Any]) -> None:
    rules = {
        lid: r
        for lid, r in resources(template, "AWS::Events::Rule").items()
        if "EventPattern" in r["Properties"]
    }
    assert len([lid for lid in rules if lid.startswith("KeyQuarantineTriggers")]) == 4
    assert len([lid for lid in rules if lid.startswith("KeyQuarantineDetections")]) == len(categories())
    assert len([lid for lid in rules if lid.startswith("KeyQuarantineCanary")]) == 1
    for lid, body in rules.items():
        if lid.startswith("KeyQuarantineTamper"):
            continue  # they notify the topic (tests/constructs/test_tamper_alarms.py)
        assert "EventBusName" not in body["Properties"]  # the default bus: custom events cannot claim aws.*
        (target,) = body["Properties"]["Targets"]
        assert target["RetryPolicy"] == {"MaximumEventAgeInSeconds": 7200, "MaximumRetryAttempts": 4}
        assert "DeadLetterConfig" in target
        assert body["Properties"].get("State", "ENABLED") in (
            "ENABLED",
            "ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS",
        )


def role_statements(template: dict[str, Any], role_prefix: str) -> list[dict[str, Any]]:
    return [
        statement
        for policy in resources(template, "AWS::IAM::Policy").values()
        if any(role["Ref"].startswith(role_prefix) for role in policy["Properties"]["Roles"])
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
    ]


def actions_of(statements: list[dict[str, Any]]) -> list[str]:
    return sorted(
        a for s in statements for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])
    )


def test_daily_sweep_runs_once_a_day_with_the_audit_reads(template: dict[str, Any]) -> None:
    schedules = [
        r
        for r in resources(template, "AWS::Events::Rule").values()
        if "ScheduleExpression" in r["Properties"]
    ]
    assert [s["Properties"]["ScheduleExpression"] for s in schedules] == ["rate(1 day)"]
    functions = resources(template, "AWS::Lambda::Function").values()
    (sweep,) = [f for f in functions if f["Properties"]["Handler"].endswith("daily_sweep.lambda_handler")]
    assert sweep["Properties"]["Environment"]["Variables"]["KQ_MAX_KEY_AGE_DAYS"] == "90"
    statements = role_statements(template, "KeyQuarantineDailySweepRole")
    (reads,) = [s for s in statements if s.get("Sid") == "AccountWideReads"]
    (policy_reads,) = [s for s in statements if s.get("Sid") == "QuarantinePolicyReads"]
    assert actions_of([reads, policy_reads]) == sorted({*AUDIT_ACTIONS, *WATCH_ACTIONS})
    # reads that take a policy resource are held to AWS's quarantine policies
    assert actions_of([policy_reads]) == ["iam:GetPolicyVersion", "iam:ListEntitiesForPolicy"]
    assert json.dumps(policy_reads["Resource"]).endswith(':iam::aws:policy/AWSCompromisedKeyQuarantine*"]]}')
    # it contains missed quarantines with the same playbook, so it has the same playbook actions
    assert actions_of([s for s in statements if s.get("Sid", "").startswith("Playbook")]) == sorted(
        required_actions()
    )


def test_role_grants_exactly_the_playbooks_declared_actions(template: dict[str, Any]) -> None:
    statements = [
        s
        for s in role_statements(template, "KeyQuarantineResponderRole")
        if s.get("Sid", "").startswith("Playbook")
    ]
    granted = sorted(
        action
        for s in statements
        for action in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])
    )
    assert granted == sorted(required_actions())
    (iam_statement,) = [s for s in statements if s["Sid"] == "PlaybookIam"]
    assert json.dumps(iam_statement["Resource"]).endswith(
        ':user/*"]]}'
    )  # users only: never a role, not its own
    # the fallback deny: a user's permissions boundary, only ever AWS's AWSDenyAll (in the stack's partition)
    (boundary,) = [s for s in statements if "iam:PutUserPermissionsBoundary" in json.dumps(s["Action"])]
    assert boundary["Action"] == "iam:PutUserPermissionsBoundary"
    assert boundary["Condition"] == {
        "StringEquals": {
            "iam:PermissionsBoundary": {
                "Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}, ":iam::aws:policy/AWSDenyAll"]]
            }
        }
    }
    assert boundary["Resource"] == iam_statement["Resource"]


def test_responder_function_and_its_failure_paths(template: dict[str, Any]) -> None:
    (function,) = [
        f
        for f in resources(template, "AWS::Lambda::Function").values()
        if f["Properties"].get("Handler", "").endswith("responder.lambda_handler")
    ]
    properties = function["Properties"]
    assert (properties["Runtime"], properties["Architectures"], properties["Handler"]) == (
        "python3.14",
        ["arm64"],
        "key_quarantine.handlers.responder.lambda_handler",
    )
    assert "DeadLetterConfig" in properties
    variables = properties["Environment"]["Variables"]
    assert (variables["KQ_MODE"], variables["KQ_CONTAINMENT"], variables["KQ_DELETE_KEYS"]) == (
        "contain",
        "deny-all",
        "false",
    )
    configs = resources(template, "AWS::Lambda::EventInvokeConfig")
    assert [c["Properties"]["MaximumRetryAttempts"] for c in configs.values()] == [
        2,
        2,
    ]  # responder and sweep


def test_alarms_on_dead_letters_and_errors_notify_the_topic(template: dict[str, Any]) -> None:
    alarms = resources(template, "AWS::CloudWatch::Alarm")
    metrics = sorted(a["Properties"]["MetricName"] for a in alarms.values())
    assert metrics == [
        "ApproximateNumberOfMessagesVisible",
        "CanaryHeartbeat",
        "Errors",
        "HandedBack",
        "NumberOfMessagesPublished",  # the heartbeat's notice reached the notification topic
    ]
    for alarm in alarms.values():
        assert (
            alarm["Properties"]["AlarmActions"] == [{"Ref": Match.any_value()}]
            or alarm["Properties"]["AlarmActions"]
        )


def test_storage_is_encrypted_private_and_tls_only(assembly: Path) -> None:
    template = Template.from_json(json.loads((assembly / "Security.template.json").read_text()))
    template.has_resource_properties("AWS::SNS::Topic", {"KmsMasterKeyId": Match.any_value()})
    template.has_resource_properties("AWS::SQS::Queue", {"KmsMasterKeyId": Match.any_value()})
    template.has_resource_properties(
        "AWS::DynamoDB::Table",
        {"SSESpecification": Match.object_like({"SSEEnabled": True, "SSEType": "KMS"})},
    )
    template.has_resource_properties(
        "AWS::S3::Bucket",
        {
            "VersioningConfiguration": {"Status": "Enabled"},
            "PublicAccessBlockConfiguration": {
                "BlockPublicAcls": True,
                "BlockPublicPolicy": True,
                "IgnorePublicAcls": True,
                "RestrictPublicBuckets": True,
            },
            "LoggingConfiguration": Match.any_value(),
        },
    )
    template.has_resource_properties(
        "AWS::S3::BucketPolicy",
        {
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        Match.object_like(
                            {"Effect": "Deny", "Condition": {"Bool": {"aws:SecureTransport": "false"}}}
                        )
                    ]
                )
            }
        },
    )
    # the notification topic's e-mail leaves out the daily heartbeat notice; the alarm topic's gets everything
    template.has_resource_properties(
        "AWS::SNS::Subscription",
        {"Protocol": "email", "Endpoint": "secops@example.com", "FilterPolicy": heartbeat_filter()},
    )
    template.resource_properties_count_is(
        "AWS::SNS::Subscription", {"Protocol": "email", "FilterPolicy": Match.absent()}, 1
    )


def test_our_rules_find_the_construct_complete(assembly: Path) -> None:
    # Given the construct beside a user with a key, the KeyQuarantine rules find monitoring, in the right
    # region, that needs no trail (AWS Health): no KQ1, KQ3, KQ4 or KQ6
    findings = {f.rule_id for f in scan_paths([assembly])}
    assert findings.isdisjoint({"KQ1", "KQ3", "KQ4", "KQ6"})


def test_cfn_lint_accepts_the_construct(assembly: Path) -> None:
    cfn_lint = Path(sys.executable).parent / "cfn-lint"
    project = Path(__file__).resolve().parents[2]
    result = subprocess.run(
        [str(cfn_lint), str(assembly / "Security.template.json")],
        capture_output=True,
        text=True,
        cwd=project,
        check=False,
    )
    assert result.returncode == 0, result.stdout


def test_lambda_asset_holds_only_the_handlers_and_data(assembly: Path) -> None:
    (asset,) = [p for p in assembly.glob("asset.*") if (p / "key_quarantine").is_dir()]
    files = sorted(str(p.relative_to(asset)) for p in asset.rglob("*") if p.is_file())
    assert "key_quarantine/handlers/responder.py" in files
    assert all(
        f.startswith(("key_quarantine/handlers/", "key_quarantine/data/"))
        or f == "key_quarantine/__init__.py"
        for f in files
    )
    assert not any("rules/" in f or "constructs/" in f or f.endswith("checks.py") for f in files)


# --- props and region -------------------------------------------------------------------------------------


def test_stack_in_another_region_fails_with_a_clear_message() -> None:
    stack = cdk.Stack(cdk.App(), "Eu", env=cdk.Environment(region="eu-west-1"))
    with pytest.raises(
        ValueError,
        match=r"must be deployed in us-east-1, not eu-west-1.*env=Environment\(region='us-east-1'\)",
    ):
        KeyQuarantine(stack, "KeyQuarantine")


def test_environment_agnostic_stack_gets_a_warning() -> None:
    app = cdk.App()
    stack = cdk.Stack(app, "Anywhere")
    KeyQuarantine(stack, "KeyQuarantine")
    warnings = [
        m for m in app.synth().get_stack_by_name("Anywhere").messages if str(m.level).endswith("WARNING")
    ]
    assert any("environment-agnostic" in str(m.entry.data) for m in warnings)


def test_existing_bucket_and_object_lock_together_are_refused() -> None:
    stack = cdk.Stack(cdk.App(), "S", env=US_EAST_1)
    bucket = s3.Bucket.from_bucket_name(stack, "Existing", "my-evidence")
    with pytest.raises(ValueError, match="evidence_object_lock applies to the bucket KeyQuarantine creates"):
        KeyQuarantine(stack, "KeyQuarantine", existing_evidence_bucket=bucket, evidence_object_lock=True)


def test_object_lock_and_options_reach_the_template() -> None:
    stack = cdk.Stack(cdk.App(), "S", env=US_EAST_1)
    construct = KeyQuarantine(
        stack,
        "KeyQuarantine",
        evidence_object_lock=True,
        mode=ResponseMode.NOTIFY,
        containment=Containment.REVOKE_OLDER_SESSIONS,
        exemptions=[Exemption("/break-glass/", "sealed envelope, audited monthly")],
        guardduty_finding_types=(),
        daily_sweep=False,
        detections=(),
    )
    template = Template.from_stack(stack)
    template.has_resource_properties("AWS::S3::Bucket", {"ObjectLockEnabled": True})
    rules = template.find_resources("AWS::Events::Rule")
    pipeline = [lid for lid in rules if "Tamper" not in lid]
    # no GuardDuty rule, no sweep schedule or canary, no detections: the 3 triggers and the undo watch
    assert len(pipeline) == 4
    assert construct.sweep is None
    variables = template.find_resources("AWS::Lambda::Function")
    assert any(
        v["Properties"]["Environment"]["Variables"].get("KQ_CONTAINMENT") == "revoke-older-sessions"
        for v in variables.values()
    )
    # the deployed exemptions reach the responder's settings, the only place they come from
    environments = [v["Properties"]["Environment"]["Variables"] for v in variables.values()]
    (deployed,) = {
        Settings.from_environment({"KQ_EXEMPTIONS": e["KQ_EXEMPTIONS"]}).exemptions
        for e in environments
        if "KQ_EXEMPTIONS" in e
    }
    assert deployed == (Exemption("/break-glass/", "sealed envelope, audited monthly"),)
    assert set(construct.triggers.rules) == {"QuarantinePolicy", "LegacyQuarantine", "HealthRisk"}


@pytest.mark.parametrize(
    ("props", "message"),
    [
        ({"revoke_role_sessions": True}, "revoke_role_sessions needs revocable_roles"),
        ({"revocable_roles": ["*"]}, "revocable_roles is set but revoke_role_sessions is off"),
        ({"revoke_role_sessions": True, "revocable_roles": ["/apps"]}, "a revocable role is"),
        ({"revoke_role_sessions": True, "revocable_roles": ["arn:aws:iam::1:user/x"]}, "a revocable role is"),
    ],
)
def test_role_session_revocation_props_are_checked_first(props: dict[str, Any], message: str) -> None:
    stack = cdk.Stack(cdk.App(), "S", env=US_EAST_1)
    with pytest.raises(ValueError, match=message):
        KeyQuarantine(stack, "KeyQuarantine", **props)


def test_role_session_revocation_is_off_by_default(template: dict[str, Any]) -> None:
    (function,) = [
        f
        for f in resources(template, "AWS::Lambda::Function").values()
        if f["Properties"]["Handler"].endswith("responder.lambda_handler")
    ]
    variables = function["Properties"]["Environment"]["Variables"]
    assert (variables["KQ_REVOKE_ROLE_SESSIONS"], variables["KQ_REVOCABLE_ROLES"]) == ("false", "")
    granted = json.dumps(role_statements(template, "KeyQuarantineResponderRole"))
    assert "iam:PutRolePolicy" not in granted.replace('"iam:*Role*"', "")
