"""KeyQuarantineChecks as a cdk-nag 3 pack: one callback per synthesis, failing, printing, acknowledging."""

from __future__ import annotations

import json
from pathlib import Path

import aws_cdk as cdk
import pytest
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_sns as sns
from cdk_nag import AwsSolutionsChecks

from key_quarantine import KeyQuarantineChecks, declare_existing_trail, declare_external_monitoring
from key_quarantine.checks import SUMMARY_RULE_NAME, _struct
from tests.cdk_apps import plugin_report, rule_names, synth

US_EAST_1 = cdk.Environment(account="111111111111", region="us-east-1")


def user_with_key(stack: cdk.Stack, name: str = "Deployer") -> iam.User:
    user = iam.User(stack, name)
    iam.AccessKey(stack, f"{name}Key", user=user)
    return user


def quarantine_monitoring(stack: cdk.Stack) -> None:
    events.Rule(
        stack,
        "QuarantineWatch",
        event_pattern=events.EventPattern(
            source=["aws.iam"],
            detail={
                "requestParameters": {
                    "policyArn": events.Match.prefix("arn:aws:iam::aws:policy/AWSCompromisedKeyQuarantine")
                }
            },
        ),
        targets=[targets.SnsTopic(sns.Topic(stack, "Alerts"))],
    )


class CountingChecks(KeyQuarantineChecks):
    """Records how CDK calls the pack, to prove the one-callback design is what runs."""

    validate_calls = 0
    resource_calls = 0

    def validate(self, context: cdk.IPolicyValidationContext) -> cdk.PolicyValidationPluginReport:
        type(self).validate_calls += 1
        return super().validate(context)

    def _check_resource(self, node: cdk.CfnResource) -> None:  # noqa: ARG002 - NagPack's signature
        type(self).resource_calls += 1


def test_validate_runs_once_per_synthesis_and_never_per_resource(tmp_path: Path) -> None:
    # Given an app of three stacks with several resources each, and the pack registered
    def build(app: cdk.App) -> None:
        for index in range(3):
            user_with_key(cdk.Stack(app, f"S{index}", env=US_EAST_1))
        cdk.Validations.of(app).add_plugins(CountingChecks(app))

    # When synthesized (errors do not fail synth here, so the report can be read)
    outdir = synth(tmp_path, build, fail_on_errors=False)
    # Then CDK called our validate once, the per-resource hook never, and KQ1 is reported for each stack
    assert (CountingChecks.validate_calls, CountingChecks.resource_calls) == (1, 0)
    report = plugin_report(outdir)
    assert rule_names(report["violations"]) == ["KQ1", "KQ1", "KQ1"]


def test_error_fails_synthesis_with_a_cdk_nag_style_message(tmp_path: Path) -> None:
    def build(app: cdk.App) -> None:
        user_with_key(cdk.Stack(app, "S", env=US_EAST_1))
        cdk.Validations.of(app).add_plugins(KeyQuarantineChecks(app))

    with pytest.raises(RuntimeError, match="ValidationFailed"):
        synth(tmp_path, build)
    report = plugin_report(tmp_path)
    assert report["conclusion"] == "failure"
    (violation,) = report["violations"]
    assert violation["ruleName"] == "KQ1"
    assert violation["severity"] == "error"
    assert violation["description"].startswith("[KQ1] IAM user")
    assert violation["violatingConstructs"][0]["constructPath"] == "S/Deployer/Resource"


def warnings_only(app: cdk.App, *, strict: bool) -> None:
    stack = cdk.Stack(app, "S", env=US_EAST_1)
    user = user_with_key(stack)
    iam.AccessKey(stack, "SecondKey", user=user)  # KQ7, a warning
    quarantine_monitoring(stack)
    declare_existing_trail(stack, reason="Organization trail in the management account")
    cdk.Validations.of(app).add_plugins(KeyQuarantineChecks(app, strict=strict))


def test_warnings_print_but_pass(tmp_path: Path) -> None:
    outdir = synth(tmp_path, lambda app: warnings_only(app, strict=False))
    report = plugin_report(outdir)
    assert rule_names(report["violations"]) == ["KQ7"]
    assert report["violations"][0]["severity"] == "warning"


def test_strict_fails_on_warnings(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="ValidationFailed"):
        synth(tmp_path, lambda app: warnings_only(app, strict=True))


def test_acknowledgement_suppresses_and_is_recorded(tmp_path: Path) -> None:
    # Given a finding acknowledged on the user with a reason
    def build(app: cdk.App) -> None:
        user = user_with_key(cdk.Stack(app, "S", env=US_EAST_1))
        cdk.Validations.of(user).acknowledge(
            cdk.Acknowledgment(id="KeyQuarantine::KQ1", reason="Break-glass user, watched by the SOC")
        )
        cdk.Validations.of(app).add_plugins(KeyQuarantineChecks(app))

    # When synthesized with failing on errors: it passes
    outdir = synth(tmp_path, build)
    # Then the finding is recorded as suppressed with its reason
    report = plugin_report(outdir)
    assert report["violations"] == []
    (suppressed,) = report["suppressedViolations"]
    assert (suppressed["acknowledgedId"], suppressed["reason"]) == (
        "KeyQuarantine::KQ1",
        "Break-glass user, watched by the SOC",
    )


def test_key_in_another_stack_and_stage_stacks_are_checked(tmp_path: Path) -> None:
    # Given a user in one stack of a Stage, and its key in another stack of that Stage
    def build(app: cdk.App) -> None:
        stage = cdk.Stage(app, "Prod", env=US_EAST_1)
        users = cdk.Stack(stage, "Users")
        user = iam.User(users, "Deployer")
        iam.AccessKey(cdk.Stack(stage, "Keys"), "Key", user=user)
        cdk.Validations.of(app).add_plugins(KeyQuarantineChecks(app))

    outdir = synth(tmp_path, build, fail_on_errors=False)
    # Then KQ1 is found on the user, through the cross-stack reference, inside the Stage assembly
    report = plugin_report(outdir)
    (violation,) = report["violations"]
    assert violation["violatingConstructs"][0]["constructPath"] == "Prod/Users/Deployer/Resource"


def test_declared_external_monitoring_satisfies_kq1(tmp_path: Path) -> None:
    def build(app: cdk.App) -> None:
        stack = cdk.Stack(app, "S", env=US_EAST_1)
        user_with_key(stack)
        declare_external_monitoring(stack, reason="Org-wide responder in the security account (SEC-142)")
        declare_existing_trail(stack, reason="Organization trail")
        cdk.Validations.of(app).add_plugins(KeyQuarantineChecks(app))

    outdir = synth(tmp_path, build)
    assert rule_names(plugin_report(outdir)["violations"]) == [SUMMARY_RULE_NAME]  # nothing found
    template = (outdir / "S.template.json").read_text()
    assert "ExternalQuarantineMonitoring" in template
    assert "ExistingCloudTrailTrail" in template


@pytest.mark.parametrize("reason", ["", "   "])
def test_declaration_needs_a_reason(reason: str) -> None:
    app = cdk.App()
    stack = cdk.Stack(app, "S")
    with pytest.raises(ValueError, match="needs a reason"):
        declare_external_monitoring(stack, reason=reason)


def test_runs_next_to_aws_solutions_checks(tmp_path: Path) -> None:
    def build(app: cdk.App) -> None:
        stack = cdk.Stack(app, "S", env=US_EAST_1)
        user_with_key(stack)
        sns.Topic(stack, "Unencrypted")  # AwsSolutions-SNS2/SNS3
        cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app), KeyQuarantineChecks(app))

    outdir = synth(tmp_path, build, fail_on_errors=False)
    assert rule_names(plugin_report(outdir)["violations"]) == ["KQ1"]
    assert "AwsSolutions-SNS3" in rule_names(plugin_report(outdir, "AwsSolutions")["violations"])


def test_verbose_adds_the_fix(tmp_path: Path) -> None:
    def build(app: cdk.App) -> None:
        user_with_key(cdk.Stack(app, "S", env=US_EAST_1))
        cdk.Validations.of(app).add_plugins(KeyQuarantineChecks(app, verbose=True))

    outdir = synth(tmp_path, build, fail_on_errors=False)
    (violation,) = plugin_report(outdir)["violations"]
    assert "KeyQuarantine construct" in violation["suggestedFix"]


def test_acknowledgement_on_the_app_suppresses_in_every_stage(tmp_path: Path) -> None:
    # Given an error acknowledged on the App itself, and an unacknowledged warning, in a Stage's stack
    def build(app: cdk.App) -> None:
        stack = cdk.Stack(cdk.Stage(app, "Prod", env=US_EAST_1), "S")
        user = user_with_key(stack)
        iam.AccessKey(stack, "SecondKey", user=user)  # KQ7
        cdk.Validations.of(app).acknowledge(cdk.Acknowledgment(id="KeyQuarantine::KQ1", reason="Sandbox app"))
        cdk.Validations.of(app).add_plugins(KeyQuarantineChecks(app))

    # When synthesized failing on errors: it passes, with KQ1 suppressed and KQ7 printed
    report = plugin_report(synth(tmp_path, build))
    assert rule_names(report["violations"]) == ["KQ7"]
    assert rule_names(report["suppressedViolations"]) == ["KQ1"]


def test_strict_still_fails_on_warnings_when_something_else_is_acknowledged(tmp_path: Path) -> None:
    # Given strict mode, an acknowledged error and an unacknowledged warning
    def build(app: cdk.App) -> None:
        stack = cdk.Stack(app, "S", env=US_EAST_1)
        user = user_with_key(stack)
        iam.AccessKey(stack, "SecondKey", user=user)  # KQ7
        cdk.Validations.of(user).acknowledge(cdk.Acknowledgment(id="KeyQuarantine::KQ1", reason="Sandbox"))
        cdk.Validations.of(app).add_plugins(KeyQuarantineChecks(app, strict=True))

    # Then synthesis fails on the warning (CDK recomputes success from severities after acknowledgements)
    with pytest.raises(RuntimeError, match=r"ValidationFailed: ERROR \[KQ7\]"):
        synth(tmp_path, build)


def test_nothing_found_prints_one_summary_line_and_the_report_has_the_plugin(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a monitored account with four users, three of them holding one key each
    def build(app: cdk.App) -> None:
        stack = cdk.Stack(app, "S", env=US_EAST_1)
        quarantine_monitoring(stack)
        declare_existing_trail(stack, reason="Organization trail")
        for name in ("Ci", "Backup", "Reports"):
            user_with_key(stack, name)
        iam.User(stack, "Console")
        cdk.Validations.of(app).add_plugins(KeyQuarantineChecks(app))

    # When synthesized (failing on errors)
    outdir = synth(tmp_path, build)
    # Then one line says the rules ran and what they checked
    printed = [line for line in capsys.readouterr().err.splitlines() if line.startswith("KeyQuarantine")]
    assert printed == ["KeyQuarantine: 0 findings — 4 users, 3 keys checked"]
    # And validation-report.json has the plugin's entry: a success, whose only violation is the summary
    reports = json.loads((outdir / "validation-report.json").read_text())["pluginReports"]
    (entry,) = [p for p in reports if p["pluginName"] == "KeyQuarantine"]
    assert entry["conclusion"] == "success"
    (summary,) = entry["violations"]
    assert (summary["ruleName"], summary["severity"], summary["violatingConstructs"]) == (
        SUMMARY_RULE_NAME,
        "info",
        [],
    )
    assert summary["description"] == printed[0]
    assert entry["metadata"] == {"summary": printed[0], "users": "4", "keys": "3"}


def test_findings_are_counted_in_the_summary_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    def build(app: cdk.App) -> None:
        stack = cdk.Stack(app, "S", env=US_EAST_1)
        iam.AccessKey(stack, "Second", user=user_with_key(stack))
        cdk.Validations.of(app).add_plugins(KeyQuarantineChecks(app))

    outdir = synth(tmp_path, build, fail_on_errors=False)
    assert "KeyQuarantine: 2 findings — 1 user, 2 keys checked" in capsys.readouterr().err  # KQ1, KQ7
    assert SUMMARY_RULE_NAME not in rule_names(plugin_report(outdir)["violations"])


def test_structs_built_without_type_checks_equal_the_checked_constructor() -> None:
    values = {
        "resource_logical_id": "User",
        "template_path": "S.template.json",
        "locations": ["Properties"],
    }
    checked = cdk.PolicyViolatingResource(**values)  # type: ignore[arg-type]
    assert _struct(cdk.PolicyViolatingResource, **values) == checked
    violation = {
        "rule_name": "KQ1",
        "description": "d",
        "severity": "error",
        "violating_resources": [checked],
    }
    assert _struct(cdk.PolicyViolation, fix=None, **violation) == cdk.PolicyViolation(**violation)  # type: ignore[arg-type]
