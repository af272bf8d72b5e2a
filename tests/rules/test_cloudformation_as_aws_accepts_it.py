"""CloudFormation as AWS accepts it: Fn::ForEach expanded, SAM's rule events as monitoring, keys that exist or
are active only under a condition, a secret handed to a custom resource (fixtures shaped like real templates)."""

from __future__ import annotations

from pathlib import Path

import pytest

from key_quarantine.rules.base import Finding, Level
from key_quarantine.rules.loader import InputError, load_app
from key_quarantine.rules.runner import run_rules

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "cloudformation"


def findings(name: str) -> list[Finding]:
    return run_rules(load_app([FIXTURES / name]))


def found(name: str, rule: str) -> list[str]:
    return sorted(f.logical_id for f in findings(name) if f.rule_id == rule)


def test_for_each_is_expanded_into_one_user_key_and_output_per_element() -> None:
    # Given Transform AWS::LanguageExtensions with a user and key per team, and each secret in an output
    # Then each team's user is unmonitored (KQ1) and each team's secret leaks through its output (KQ2)
    assert found("language-extensions-users.yaml", "KQ1") == ["DataDeployer", "WebDeployer"]
    assert found("language-extensions-users.yaml", "KQ2") == ["DataDeployerSecret", "WebDeployerSecret"]
    (stack,) = load_app([FIXTURES / "language-extensions-users.yaml"]).stacks
    assert stack.resources["WebDeployer"].properties["UserName"] == {"Fn::Sub": "deployer-Web"}


def test_for_each_over_a_mapping_list_with_alphanumeric_names() -> None:
    (stack,) = load_app([FIXTURES / "language-extensions-from-mapping.yaml"]).stacks
    assert sorted(stack.resources) == ["Bucketdev", "Bucketprod", "Operator"]


def test_a_collection_known_only_at_deployment_is_a_note_not_a_failure(tmp_path: Path) -> None:
    path = tmp_path / "t.yaml"
    path.write_text(
        "Transform: AWS::LanguageExtensions\nParameters:\n  Names: {Type: CommaDelimitedList}\nResources:\n"
        "  Fn::ForEach::Users: [Name, !Ref Names, {'${Name}': {Type: AWS::IAM::User}}]\n"
        "  Kept: {Type: AWS::IAM::User}\n"
    )
    (stack,) = load_app([path]).stacks
    assert list(stack.resources) == ["Kept"]
    assert any("Fn::ForEach::Users" in note and "known only at deployment" in note for note in stack.notes)


def test_a_malformed_for_each_is_bad_input(tmp_path: Path) -> None:
    path = tmp_path / "t.yaml"
    path.write_text("Transform: AWS::LanguageExtensions\nResources:\n  Fn::ForEach::Users: [Name, [a]]\n")
    with pytest.raises(InputError, match=r"t\.yaml: Resources/Fn::ForEach::Users: Fn::ForEach takes"):
        load_app([path])


def test_a_sam_eventbridge_rule_event_is_quarantine_monitoring() -> None:
    # Given a SAM function whose EventBridgeRule event matches every quarantine attach, and a user with a key
    # Then the key is monitored: no KQ1
    assert found("sam-monitoring.yaml", "KQ1") == []


def test_a_disabled_sam_cloudwatch_event_is_not_monitoring_and_says_why() -> None:
    (finding,) = [f for f in findings("sam-disabled-monitoring.yaml") if f.rule_id == "KQ1"]
    assert finding.logical_id == "CiUser"
    assert "Rule 'HealthWatcherRiskEvents'" in finding.message
    assert "DISABLED" in finding.message


def test_keys_active_only_under_a_condition_are_not_two_certainly_active_keys() -> None:
    # Given one key Active unless a switch is set, one created only during a rotation, one Inactive either way
    # Then the user holds one key that may be active at a time as far as the template can tell: no KQ7,
    # but the key is still a key (KQ1)
    assert found("rotation-keys.yaml", "KQ7") == []
    (kq1,) = [f for f in findings("rotation-keys.yaml") if f.rule_id == "KQ1"]
    assert "'CurrentKey', 'NextKey'" in kq1.message  # LegacyKey is Inactive in both branches


def test_two_unconditional_active_keys_beside_the_conditional_ones_are_still_kq7(tmp_path: Path) -> None:
    second_key = (
        "  SecondKey:\n    Type: AWS::IAM::AccessKey\n    Properties:\n      UserName: !Ref Integration\n"
    )
    text = (FIXTURES / "rotation-keys.yaml").read_text() + second_key
    path = tmp_path / "t.yaml"
    # one unconditional key beside the switched one: still one certainly active key
    path.write_text(text)
    assert [f.logical_id for f in run_rules(load_app([path])) if f.rule_id == "KQ7"] == []
    # the switch removed: two keys active in every deployment
    path.write_text(text.replace("      Status: !If [NewKeyLive, Inactive, Active]\n", ""))
    assert [f.logical_id for f in run_rules(load_app([path])) if f.rule_id == "KQ7"] == ["Integration"]


def test_a_secret_handed_to_a_custom_resource_is_a_warning_with_the_reason() -> None:
    (finding,) = [f for f in findings("custom-resource-secret.yaml") if f.rule_id == "KQ2"]
    assert (finding.logical_id, finding.level, finding.location) == (
        "VaultEntry",
        Level.WARNING,
        "Properties/SecretAccessKey",
    )
    assert "custom resource" in finding.message
    assert "provider" in finding.message
