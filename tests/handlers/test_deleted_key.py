"""Rotate, then delete the named key (issue 11, item 2): the signal for a key that no longer exists still finds
its user, contains that user (every key), and says the key was deleted and by whom.

The attacker holds the leaked key K1 for minutes before the signal: with K1 it creates K2, with K2 it deletes K1
(the self-service permissions AWS's "manage your own access keys" policy grants). IAM then answers NoSuchEntity
for K1; CloudTrail (replayed from a recorded history: moto has no LookupEvents) still has the calls.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from key_quarantine.cli import respond as respond_cli
from key_quarantine.cli.main import main
from key_quarantine.handlers import batch
from key_quarantine.handlers.aws import Aws
from key_quarantine.handlers.batch import Delivery, Responder
from tests.handlers.cloudtrail_replay import CloudTrailReplay, History
from tests.handlers.conftest import MotoAccount
from tests.handlers.test_cannot_contain import guardduty
from tests.handlers.test_responder_wiring import context_for
from tests.handlers.test_triggers import sample

VICTIM = "victim"
LEAKED_AT = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=40)


@dataclass(frozen=True)
class Rotation:
    k1: str  # the leaked key, deleted
    k2: str  # the attacker's new key
    history: History


@pytest.fixture
def rotated(account: MotoAccount, monkeypatch: pytest.MonkeyPatch) -> Rotation:
    monkeypatch.setattr(batch, "GROUP_WORKERS", 1)  # moto's DynamoDB is not thread-safe
    # Given the leaked key K1 of user "victim", in the attacker's hands
    account.iam.create_user(UserName=VICTIM)
    leaked = account.iam.create_access_key(UserName=VICTIM)["AccessKey"]
    as_k1 = Aws.with_credentials(leaked["AccessKeyId"], leaked["SecretAccessKey"]).iam
    # When the attacker rotates: K1 creates K2 for its own user, K2 deletes K1
    new = as_k1.create_access_key()["AccessKey"]
    as_k2 = Aws.with_credentials(new["AccessKeyId"], new["SecretAccessKey"]).iam
    as_k2.delete_access_key(AccessKeyId=leaked["AccessKeyId"])
    # And CloudTrail recorded it (the deletion names no user: a user deleting its own key)
    history = History(account.account_id)
    k1, k2 = leaked["AccessKeyId"], new["AccessKeyId"]
    history.call(k1, "GetCallerIdentity", LEAKED_AT, source="sts.amazonaws.com", user=VICTIM, read_only=True)
    history.call(
        k1,
        "CreateAccessKey",
        LEAKED_AT + timedelta(minutes=1),
        user=VICTIM,
        request={},
        response={"accessKey": {"accessKeyId": k2, "userName": VICTIM, "status": "Active"}},
    )
    history.call(
        k2, "DeleteAccessKey", LEAKED_AT + timedelta(minutes=2), user=VICTIM, request={"accessKeyId": k1}
    )
    return Rotation(k1, k2, history)


def answer(
    account: MotoAccount, rotation: Rotation, event: dict[str, Any], now: datetime
) -> batch.BatchResult:
    aws = CloudTrailReplay(rotation.history.records, lambda: now).aws()
    responder = Responder(account.settings, aws, context_for(account.account_id).invoked_function_arn)
    return batch.respond_to_batch([Delivery("m1", json.dumps(event))], responder)


def old_health(account: MotoAccount, key: str) -> dict[str, Any]:
    event = sample("health-credentials-exposed.aws-health-tools.json")  # names the key only, no user
    event["account"] = account.account_id
    event["detail"]["affectedEntities"][0]["entityValue"] = key
    return event


def messages(account: MotoAccount) -> list[str]:
    return [message["Message"] for message in account.notifications()]


def test_a_health_signal_for_a_deleted_key_finds_its_user_in_cloudtrail_and_contains_every_key(
    account: MotoAccount, rotated: Rotation
) -> None:
    result = answer(account, rotated, old_health(account, rotated.k1), LEAKED_AT + timedelta(minutes=30))
    # Then the user is found (CloudTrail's DeleteAccessKey), and its remaining key, the attacker's, is contained
    assert result.failed == []
    assert result.results["m1"]["user"] == VICTIM
    assert account.key_status(VICTIM) == {rotated.k2: "Inactive"}
    assert account.inline_policies(VICTIM) == ["KeyQuarantineContainment"]
    assert account.key_status(account.bystander) == {account.bystander_key: "Active"}
    # And the notice says the key was deleted, by whom and when
    (message,) = messages(account)
    deleted_at = (LEAKED_AT + timedelta(minutes=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert (
        f"the named key {rotated.k1} no longer exists: deleted by arn:aws:iam::{account.account_id}:user/{VICTIM} "
        f"at {deleted_at}"
    ) in message


def test_a_finding_naming_the_user_and_a_deleted_key_contains_the_user_then_says_who_deleted_it(
    account: MotoAccount, rotated: Rotation
) -> None:
    event = guardduty(account.account_id, "IAMUser", VICTIM, rotated.k1)
    result = answer(account, rotated, event, LEAKED_AT + timedelta(minutes=30))
    steps = {step["name"]: step for step in result.results["m1"]["steps"]}
    # Then containment did not wait for CloudTrail: the user is contained, every key
    assert account.key_status(VICTIM) == {rotated.k2: "Inactive"}
    assert result.results["m1"]["access_key_ids"] == [rotated.k2]
    # And the deletion is found after containment, and told
    assert steps["deleted-key"]["status"] == "done"
    assert f"user/{VICTIM} at" in steps["deleted-key"]["detail"]
    (message,) = messages(account)
    assert f"Deleted key: the named key {rotated.k1} no longer exists: deleted by" in message


def test_before_the_deletion_is_delivered_the_keys_own_calls_name_its_user(
    account: MotoAccount, rotated: Rotation
) -> None:
    # Given CloudTrail has delivered K1's own calls (GetCallerIdentity, CreateAccessKey) but not the deletion yet
    now = LEAKED_AT + timedelta(minutes=6, seconds=30)
    result = answer(account, rotated, old_health(account, rotated.k1), now)
    # Then the user is found from the key's calls and contained, and the notice says who deleted it is not known
    assert result.results["m1"]["user"] == VICTIM
    assert account.key_status(VICTIM) == {rotated.k2: "Inactive"}
    (message,) = messages(account)
    assert "CloudTrail does not show who deleted it (yet" in message


def test_an_owner_nobody_can_name_yet_is_told_at_once_then_contained_on_the_retry(
    account: MotoAccount, rotated: Rotation
) -> None:
    # Given the signal arrives before CloudTrail delivered any of the attacker's calls
    event = old_health(account, rotated.k1)
    first = answer(account, rotated, event, LEAKED_AT + timedelta(minutes=3))
    # Then a human is told at once (never a log line only), and the message goes back to be tried again
    assert first.failed == ["m1"]
    (told,) = messages(account)
    assert told.startswith(f"NOT CONTAINED: access key {rotated.k1} is not in this account.")
    assert "CloudTrail names no user for it" in told
    assert f"AttributeKey=AccessKeyId,AttributeValue={rotated.k1}" in told
    assert account.key_status(VICTIM) == {rotated.k2: "Active"}
    # When the retry comes once CloudTrail has the calls
    retry = answer(account, rotated, event, LEAKED_AT + timedelta(minutes=30))
    # Then the user is contained and the human hears that too (and not the first notice again)
    assert retry.failed == []
    assert account.key_status(VICTIM) == {rotated.k2: "Inactive"}
    (contained,) = messages(account)
    assert "NOT CONTAINED" not in contained
    assert f"Who: IAM user {VICTIM}" in contained


def test_contain_by_a_deleted_key_id_from_a_shell(
    account: MotoAccount,
    rotated: Rotation,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    replay = CloudTrailReplay(rotated.history.records, lambda: LEAKED_AT + timedelta(minutes=30))
    monkeypatch.setattr(respond_cli, "Aws", replay.aws)  # the CLI's clients, with CloudTrail replayed
    assert main(["contain", "--access-key-id", rotated.k1, "--format", "json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert (document["user"], document["access_key_ids"]) == (VICTIM, [rotated.k2])
    assert account.key_status(VICTIM) == {rotated.k2: "Inactive"}


def test_a_key_nobody_can_place_is_one_line_and_exit_2_from_a_shell(
    account: MotoAccount,
    rotated: Rotation,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    replay = CloudTrailReplay([], lambda: LEAKED_AT + timedelta(minutes=30))
    monkeypatch.setattr(respond_cli, "Aws", replay.aws)
    assert main(["contain", "--access-key-id", rotated.k1]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1
    assert f"NOT CONTAINED: access key {rotated.k1} is not in this account" in error


def test_the_dry_run_of_a_deleted_keys_signal_changes_nothing(
    account: MotoAccount, rotated: Rotation
) -> None:
    account.settings = dataclasses.replace(account.settings, dry_run=True)
    result = answer(account, rotated, old_health(account, rotated.k1), LEAKED_AT + timedelta(minutes=30))
    assert result.results["m1"]["user"] == VICTIM
    assert account.key_status(VICTIM) == {rotated.k2: "Active"}


def test_an_event_naming_a_user_and_another_users_key_is_refused(account: MotoAccount) -> None:
    # Given a finding that names one user and a key IAM says is another's (the event contradicts itself)
    event = guardduty(account.account_id, "IAMUser", account.bystander, account.key)
    result = answer(
        account, Rotation(account.key, account.other_key, History(account.account_id)), event, LEAKED_AT
    )
    # Then nobody is touched
    assert result.results["m1"]["status"] == "refused"
    assert "belongs to IAM user 'leaked-deployer', not 'bystander'" in result.results["m1"]["reason"]
    assert (
        set(account.key_status().values())
        == set(account.key_status(account.bystander).values())
        == {"Active"}
    )
