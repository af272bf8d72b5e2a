"""Who attached the quarantine policy: AWS itself, or an ordinary principal (item 9 of issue 11).

AWS's own attach is recorded with the quarantined user's identity and ``AWS Internal`` as source and user agent
(FACTS.md); anyone else's attach says who and from where. Only AWS's word runs the irreversible steps.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest

from key_quarantine.handlers import batch
from key_quarantine.handlers.batch import Delivery, Responder
from key_quarantine.handlers.release import release_user
from key_quarantine.handlers.triggers import ATTACHED_BY_A_PRINCIPAL, TriggerFamily, parse_event
from tests.handlers.conftest import MotoAccount
from tests.handlers.test_responder_wiring import context_for
from tests.handlers.test_triggers import sample

MALLORY = {
    "type": "IAMUser",
    "principalId": "AIDAMALLORYEXAMPLE01",
    "arn": "arn:aws:iam::123456789012:user/mallory",
    "accountId": "123456789012",
    "accessKeyId": "AKIAMALLORYEXAMPLE01",
    "userName": "mallory",
}


def attached_by(
    identity: dict[str, Any], source_ip: str, agent: str, user: str = "leaked-user"
) -> dict[str, Any]:
    event = sample("cloudtrail-attach-quarantine.json")
    event["detail"].update(userIdentity=identity, sourceIPAddress=source_ip, userAgent=agent)
    event["detail"]["requestParameters"]["userName"] = user
    return event


def test_awss_own_attach_is_from_aws() -> None:
    trigger = parse_event(sample("cloudtrail-attach-quarantine.json"))
    assert (trigger.from_aws, trigger.allows_irreversible, trigger.category) == (True, True, None)
    assert trigger.reason == "AWS attached AWSCompromisedKeyQuarantineV3"
    assert trigger.actor is not None
    assert trigger.actor.startswith("arn:aws:iam::123456789012:user/leaked-user (from AWS Internal")


def test_the_legacy_inline_policy_written_by_aws_internal_is_from_aws() -> None:
    event = sample("cloudtrail-attach-quarantine.json")
    event["detail"].update(eventName="PutUserPolicy", userAgent="aws-internal/3 aws-sdk-java/1.11.706")
    event["detail"]["requestParameters"] = {
        "userName": "leaked-user",
        "policyName": "AWSExposedCredentialPolicy_DO_NOT_REMOVE",
    }
    trigger = parse_event(event)
    assert (trigger.family, trigger.from_aws) == (TriggerFamily.LEGACY_QUARANTINE, True)


@pytest.mark.parametrize(
    ("identity", "source_ip", "agent"),
    [
        (MALLORY, "203.0.113.9", "aws-cli/2.15.0"),  # an admin (or an attacker) attaching it on someone else
        (
            MALLORY,
            "AWS Internal",
            "AWS Internal",
        ),  # AWS Internal, but not the quarantined user's own identity
        (
            {**MALLORY, "userName": "leaked-user", "arn": "arn:aws:iam::123456789012:user/leaked-user"},
            "198.51.100.7",
            "Boto3/1.35",
        ),  # the leaked key quarantining its own user, from the attacker's machine
        (
            {"type": "AssumedRole", "arn": "arn:aws:sts::123456789012:assumed-role/admin/s"},
            "AWS Internal",
            "x",
        ),
    ],
    ids=["other-principal", "aws-internal-other-identity", "own-key-from-outside", "role-session"],
)
def test_an_attach_by_an_ordinary_principal_is_not_aws_and_says_who(
    identity: dict[str, Any], source_ip: str, agent: str
) -> None:
    trigger = parse_event(attached_by(identity, source_ip, agent))
    # Then it still names the user to contain (reversibly), but never as AWS's word
    assert (trigger.family, trigger.user_name) == (TriggerFamily.QUARANTINE_POLICY, "leaked-user")
    assert (trigger.from_aws, trigger.allows_irreversible) == (False, False)
    assert trigger.category == ATTACHED_BY_A_PRINCIPAL  # an incident apart from AWS's own attach
    assert trigger.reason.startswith(f"{identity['arn']} (from {source_ip}, user agent {agent}) attached ")
    assert "not AWS" in trigger.reason


def test_signals_only_aws_can_send_are_from_aws() -> None:
    health = sample("health-credentials-exposed.aws-health-tools.json")
    health["detail"]["affectedEntities"][0]["entityValue"] = "AKIAIOSFODNN7EXAMPLE"
    assert parse_event(health).from_aws
    assert parse_event(sample("guardduty-iam-user.json")).from_aws


# --- what the playbook does with it -----------------------------------------------------------------------


@pytest.fixture
def irreversible(account: MotoAccount, monkeypatch: pytest.MonkeyPatch) -> MotoAccount:
    """An account whose responder deletes keys and console passwords: the settings this attack abuses."""
    monkeypatch.setattr(batch, "GROUP_WORKERS", 1)  # moto's DynamoDB is not thread-safe
    account.settings = dataclasses.replace(account.settings, delete_keys=True, remove_console_access=True)
    account.iam.create_login_profile(UserName=account.user, Password="Break-glass-1!")
    return account


def attach_on(account: MotoAccount, identity: dict[str, Any], source_ip: str, agent: str) -> str:
    event = attached_by({**identity, "accountId": account.account_id}, source_ip, agent, user=account.user)
    event["account"] = event["detail"]["recipientAccountId"] = account.account_id
    return json.dumps(event)


def answer(account: MotoAccount, *bodies: str) -> batch.BatchResult:
    responder = Responder(
        account.settings, account.aws(), context_for(account.account_id).invoked_function_arn
    )
    return batch.respond_to_batch([Delivery(f"m{i}", body) for i, body in enumerate(bodies)], responder)


def has_console_password(account: MotoAccount) -> bool:
    try:
        account.iam.get_login_profile(UserName=account.user)
    except account.iam.exceptions.NoSuchEntityException:
        return False
    return True


def test_a_principal_attaching_a_quarantine_policy_on_someone_contains_reversibly_and_says_who(
    irreversible: MotoAccount,
) -> None:
    # Given mallory (an ordinary principal) attaches AWSCompromisedKeyQuarantineV3 on a break-glass user
    answer(irreversible, attach_on(irreversible, MALLORY, "203.0.113.9", "aws-cli/2.15.0"))
    # Then the user is contained reversibly: keys inactive, not deleted; console password kept; deny in place
    assert irreversible.key_status() == {irreversible.key: "Inactive", irreversible.other_key: "Inactive"}
    assert has_console_password(irreversible)
    assert irreversible.inline_policies() == ["KeyQuarantineContainment"]
    # And the notice says who attached it, and that it was not AWS
    (message,) = irreversible.notifications()
    assert "arn:aws:iam::123456789012:user/mallory (from 203.0.113.9" in message["Message"]
    assert "not AWS" in message["Message"]
    # And the evidence records who it was
    (evidence,) = irreversible.evidence_objects()
    assert evidence["trigger"]["actor"].startswith("arn:aws:iam::123456789012:user/mallory (from 203.0.113.9")
    assert evidence["trigger"]["from_aws"] is False
    # And release can undo all of it (the keys named one by one: no AWS signal named them, issue 11 item 3)
    keys = (irreversible.key, irreversible.other_key)
    release_user(irreversible.aws(), irreversible.user, reactivate_keys=keys)
    assert set(irreversible.key_status().values()) == {"Active"}


def test_awss_own_attach_runs_the_irreversible_steps_even_after_a_principals(
    irreversible: MotoAccount,
) -> None:
    # Given mallory's attach was answered first (reversibly), then AWS itself quarantines the same user
    own = {
        "type": "IAMUser",
        "arn": f"arn:aws:iam::{irreversible.account_id}:user/{irreversible.user}",
        "userName": irreversible.user,
        "accessKeyId": irreversible.key,
    }
    answer(irreversible, attach_on(irreversible, MALLORY, "203.0.113.9", "aws-cli/2.15.0"))
    assert has_console_password(irreversible)
    result = answer(irreversible, attach_on(irreversible, own, "AWS Internal", "AWS Internal"))
    # Then AWS's word is not taken for the finished incident of mallory's: the keys and password go
    assert result.failed == []
    assert irreversible.key_status() == {}
    assert not has_console_password(irreversible)
