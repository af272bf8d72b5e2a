"""Events to Triggers: the published samples, every family, and what must be refused."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from key_quarantine.constructs.trigger_rules import DEFAULT_GUARDDUTY_FINDING_TYPES, guardduty_pattern
from key_quarantine.handlers.playbook import run_playbook
from key_quarantine.handlers.triggers import TriggerError, TriggerFamily, manual_trigger, parse_event
from key_quarantine.rules.event_pattern import parse_pattern
from tests.handlers.conftest import MotoAccount
from tests.samples import sample_event

LOCAL_EVENTS = Path(__file__).resolve().parent / "events"


def sample(name: str) -> dict[str, Any]:
    """A published sample (packaged copy), or one of this folder's constructed events."""
    if (LOCAL_EVENTS / name).exists():
        event: dict[str, Any] = json.loads((LOCAL_EVENTS / name).read_text())
        return event
    return sample_event(name)


def test_cloudtrail_quarantine_attach_names_the_user_not_a_key() -> None:
    trigger = parse_event(sample("cloudtrail-attach-quarantine.json"))
    assert (trigger.family, trigger.account, trigger.user_name, trigger.access_key_id) == (
        TriggerFamily.QUARANTINE_POLICY,
        "123456789012",
        "leaked-user",
        None,  # userIdentity is not to be trusted: every key of the user is contained
    )
    assert "AWSCompromisedKeyQuarantineV3" in trigger.reason


@pytest.mark.parametrize("version", ["", "V2", "V3", "V4", "V9"])
def test_every_quarantine_version_is_a_trigger(version: str) -> None:
    event = sample("cloudtrail-attach-quarantine.json")
    event["detail"]["requestParameters"]["policyArn"] = (
        f"arn:aws:iam::aws:policy/AWSCompromisedKeyQuarantine{version}"
    )
    assert parse_event(event).family is TriggerFamily.QUARANTINE_POLICY


def test_legacy_inline_quarantine_is_a_trigger() -> None:
    event = sample("cloudtrail-attach-quarantine.json")
    event["detail"]["eventName"] = "PutUserPolicy"
    event["detail"]["requestParameters"] = {
        "userName": "old-user",
        "policyName": "AWSExposedCredentialPolicy_DO_NOT_REMOVE",
    }
    trigger = parse_event(event)
    assert (trigger.family, trigger.user_name) == (TriggerFamily.LEGACY_QUARANTINE, "old-user")


def test_health_event_current_shape() -> None:
    event = sample("health-credentials-exposed.json")
    # the published sample is sanitised: 10-digit account, a key id in affectedAccount; make them real
    event["account"] = "123456789012"
    event["detail"]["affectedAccount"] = "123456789012"
    for field in ("publicKey",):
        event["detail"]["eventMetadata"][field] = "AKIAIOSFODNN7EXAMPLE"
    event["detail"]["affectedEntities"][0]["entityValue"] = "AKIAIOSFODNN7EXAMPLE"
    trigger = parse_event(event)
    assert (trigger.family, trigger.user_name, trigger.access_key_id) == (
        TriggerFamily.HEALTH_RISK,
        "test-1",
        "AKIAIOSFODNN7EXAMPLE",
    )
    assert trigger.event_id == "acf0ec863d311e61f725cc6ba09b94d9798e78869a17"


def test_health_event_old_shape_has_only_the_key() -> None:
    event = sample("health-credentials-exposed.aws-health-tools.json")
    event["detail"]["affectedEntities"][0]["entityValue"] = "AKIAIOSFODNN7EXAMPLE"
    trigger = parse_event(event)
    assert (trigger.user_name, trigger.access_key_id) == (None, "AKIAIOSFODNN7EXAMPLE")


def test_health_event_with_the_placeholder_key_is_refused() -> None:
    with pytest.raises(TriggerError, match="names no access key and no user"):
        parse_event(sample("health-credentials-exposed.aws-health-tools.json"))


def test_health_sample_as_published_is_refused_for_its_sanitised_account() -> None:
    with pytest.raises(TriggerError, match="not a 12-digit AWS account id"):
        parse_event(sample("health-credentials-exposed.json"))


def test_guardduty_iam_user_finding() -> None:
    trigger = parse_event(sample("guardduty-iam-user.json"))
    assert (trigger.family, trigger.user_name, trigger.access_key_id) == (
        TriggerFamily.GUARDDUTY,
        "leaked-user",
        "AKIAIOSFODNN7EXAMPLE",
    )


def test_guardduty_finding_on_session_credentials_contains_the_user() -> None:
    event = sample("guardduty-iam-user.json")
    event["detail"]["resource"]["accessKeyDetails"]["accessKeyId"] = "ASIAEXAMPLESESSION01"
    trigger = parse_event(event)
    assert (trigger.user_name, trigger.access_key_id) == ("leaked-user", None)


def mutate(name: str, path: list[str], value: Any) -> dict[str, Any]:
    event = copy.deepcopy(sample(name))
    target = event
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = value
    return event


@pytest.mark.parametrize(
    ("event", "problem"),
    [
        ({"source": "aws.iam"}, "no 'detail' object"),
        (mutate("cloudtrail-attach-quarantine.json", ["source"], "aws.s3"), "not leak signals"),
        (
            mutate("cloudtrail-attach-quarantine.json", ["detail", "errorCode"], "AccessDenied"),
            "failed (AccessDenied)",
        ),
        (
            mutate("cloudtrail-attach-quarantine.json", ["detail", "eventName"], "GetUser"),
            "iam.amazonaws.com GetUser is not a leak signal",
        ),
        (
            mutate("cloudtrail-attach-quarantine.json", ["detail", "requestParameters", "userName"], "a/b"),
            "not a valid IAM user name",
        ),
        (mutate("cloudtrail-attach-quarantine.json", ["account"], "12345"), "not a 12-digit"),
        (
            mutate("cloudtrail-attach-quarantine.json", ["detail", "recipientAccountId"], "999999999999"),
            "differ",
        ),
        (
            mutate("health-credentials-exposed.aws-health-tools.json", ["detail", "service"], "EC2"),
            "not an AWS_RISK_* event",
        ),
        (
            mutate(
                "guardduty-iam-user.json",
                ["detail", "resource", "accessKeyDetails", "userType"],
                "FederatedUser",
            ),
            "not an IAM user",
        ),
        (
            mutate("guardduty-iam-user.json", ["detail", "resource", "accessKeyDetails", "userName"], None),
            "names no IAM user",
        ),
    ],
    ids=[
        "no-detail",
        "other-source",
        "failed-call",
        "other-policy",
        "bad-user",
        "bad-account",
        "bad-recipient",
        "not-risk",
        "federated-user-finding",
        "no-user",
    ],
)
def test_events_that_are_not_leak_signals_are_refused(event: dict[str, Any], problem: str) -> None:
    with pytest.raises(
        TriggerError, match=problem.replace("(", r"\(").replace(")", r"\)").replace("*", r"\*")
    ):
        parse_event(event)


def test_other_policy_attached_with_a_long_lived_key_is_a_persistence_signal() -> None:
    # Given a user's own key attaching ReadOnlyAccess (not AWS quarantining it)
    event = mutate(
        "cloudtrail-attach-quarantine.json",
        ["detail", "requestParameters", "policyArn"],
        "arn:aws:iam::aws:policy/ReadOnlyAccess",
    )
    trigger = parse_event(event)
    # Then it is the persistence detection, about that user and key
    assert (trigger.family, trigger.category, trigger.user_name, trigger.access_key_id) == (
        TriggerFamily.ABUSE,
        "persistence",
        "leaked-user",
        "AKIAIOSFODNN7EXAMPLE",
    )


def test_abuse_call_by_a_role_is_not_a_signal() -> None:
    event = mutate("cloudtrail-attach-quarantine.json", ["detail", "userIdentity", "type"], "AssumedRole")
    event["detail"]["requestParameters"]["policyArn"] = "arn:aws:iam::aws:policy/ReadOnlyAccess"
    with pytest.raises(TriggerError, match="called by a AssumedRole"):
        parse_event(event)


def test_manual_trigger_validates_its_input() -> None:
    with pytest.raises(TriggerError, match="not a long-term access key id"):
        manual_trigger("123456789012", None, "not-a-key")
    assert manual_trigger("123456789012", "ci", None).family is TriggerFamily.MANUAL


def test_an_attack_sequence_names_the_credential_among_its_actors() -> None:
    # Given an AttackSequence:IAM/CompromisedCredentials finding: no accessKeyDetails, the key is an actor's
    event = sample("guardduty-attack-sequence.json")
    # Then the default GuardDuty rule delivers it, and it names that user and long-term key
    assert parse_pattern(guardduty_pattern(DEFAULT_GUARDDUTY_FINDING_TYPES)).matches(event)
    trigger = parse_event(event)
    assert (trigger.family, trigger.user_name, trigger.access_key_id) == (
        TriggerFamily.GUARDDUTY,
        "leaked-user",
        "AKIAIOSFODNN7EXAMPLE",
    )
    assert "AttackSequence:IAM/CompromisedCredentials" in trigger.reason


def test_an_attack_sequence_prefers_the_users_long_term_key_over_a_session() -> None:
    event = sample("guardduty-attack-sequence.json")
    actors = event["detail"]["service"]["detection"]["sequence"]["actors"]
    session = copy.deepcopy(actors[0])
    session["user"]["credentialUid"] = "ASIAEXAMPLESESSION01"
    actors.insert(0, session)
    assert parse_event(event).access_key_id == "AKIAIOSFODNN7EXAMPLE"
    del actors[1]  # only the session: the user, every key
    assert (parse_event(event).user_name, parse_event(event).access_key_id) == ("leaked-user", None)


def test_an_attack_sequence_of_another_accounts_user_contains_nobody() -> None:
    event = sample("guardduty-attack-sequence.json")
    event["detail"]["service"]["detection"]["sequence"]["actors"][0]["user"]["account"] = {
        "uid": "999999999999"
    }
    with pytest.raises(TriggerError, match="names no IAM user, role session or root"):
        parse_event(event)


def test_an_attack_sequence_on_a_role_session_tells_a_human_with_the_role() -> None:
    # Given the sequence's actor is a session of role app-role: nothing the responder may contain
    event = sample("guardduty-attack-sequence.json")
    user = event["detail"]["service"]["detection"]["sequence"]["actors"][0]["user"]
    user.update(type="AssumedRole", name="app-role", credentialUid="ASIAEXAMPLEROLESESS1")
    trigger = parse_event(event)
    # Then the trigger carries what to tell, naming the role and how to revoke its sessions
    assert trigger.cannot_contain is not None
    assert trigger.user_name is None
    assert "role app-role" in trigger.cannot_contain.found
    assert "AWSRevokeOlderSessions" in trigger.cannot_contain.command + trigger.cannot_contain.next_step


def test_an_attack_sequence_on_a_users_long_term_key_contains_it(account: MotoAccount) -> None:
    # Given GuardDuty's attack sequence names the leaked user's key as the actor's credential
    event = sample("guardduty-attack-sequence.json")
    event["account"] = event["detail"]["accountId"] = account.account_id
    user = event["detail"]["service"]["detection"]["sequence"]["actors"][0]["user"]
    user.update(name=account.user, credentialUid=account.key, account={"uid": account.account_id})
    # When the responder acts on it (GuardDuty findings contain, as the settings say)
    outcome = run_playbook(parse_event(event), account.settings, account.aws())
    # Then that key is deactivated
    assert not outcome.failed
    assert account.key_status()[account.key] == "Inactive"


def test_health_event_for_a_bedrock_api_key_names_its_user() -> None:
    # Given AWS Health about an exposed Bedrock long-term API key: the affected entity is the service-specific
    # credential (ACCA...), the user is the BedrockAPIKey-* user AWS created for it (not verified on a captured
    # event: the parser accepts the current payload shape with such values)
    event = sample_event("health-credentials-exposed.json")
    event["account"] = event["detail"]["affectedAccount"] = "123456789012"  # the sample's are sanitised
    event["detail"]["affectedEntities"] = [{"entityValue": "ACCAEXAMPLE123EXAMPLE"}]
    event["detail"]["eventMetadata"]["publicKey"] = "ACCAEXAMPLE123EXAMPLE"
    event["detail"]["eventMetadata"]["userName"] = "BedrockAPIKey-x1y2"
    trigger = parse_event(event)
    # Then the user is contained (every credential of it), and the reason names the credential
    assert (trigger.family, trigger.user_name, trigger.access_key_id) == (
        TriggerFamily.HEALTH_RISK,
        "BedrockAPIKey-x1y2",
        None,
    )
    assert "service-specific credential ACCAEXAMPLE123EXAMPLE" in trigger.reason
    del event["detail"]["eventMetadata"]["userName"]
    with pytest.raises(TriggerError, match="only the service-specific credential ACCAEXAMPLE123EXAMPLE"):
        parse_event(event)


def test_aws_quarantining_a_bedrock_api_keys_user_is_a_trigger_for_that_user() -> None:
    # Given AWS attaching its quarantine policy to the BedrockAPIKey-* user behind a leaked Bedrock API key
    event = sample("cloudtrail-attach-quarantine.json")
    event["detail"]["requestParameters"]["userName"] = "BedrockAPIKey-x1y2"
    trigger = parse_event(event)
    # Then the user is the one to contain (its service-specific credential with it), no access key named
    assert (trigger.family, trigger.user_name, trigger.access_key_id) == (
        TriggerFamily.QUARANTINE_POLICY,
        "BedrockAPIKey-x1y2",
        None,
    )
