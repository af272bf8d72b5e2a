"""The ledger's word is sealed: a principal that can write the table pre-writes a "finished, every step done" item
for its own user (incident ids are sha256 of public fields). Unsealed, the responder believes it and does nothing;
sealed with a KMS HMAC key only our roles may use, the forgery is not believed and the key is contained.

moto enforces neither the table's resource policy nor the key policy (test_pipeline_policies evaluates those):
here the attacker writes the table directly, as it could if it got past them.
"""

from __future__ import annotations

import base64
import dataclasses
import json

import boto3
import pytest

from key_quarantine.handlers import batch
from key_quarantine.handlers.aws import Aws
from key_quarantine.handlers.batch import Delivery, FinishedMemo, Responder, respond_to_batch
from key_quarantine.handlers.ledger import RECORD, finished_marker, open_ledger
from key_quarantine.handlers.ledger_seal import seal_name
from key_quarantine.handlers.playbook import incident_id_of
from key_quarantine.handlers.tell_human import notice_id_of
from key_quarantine.handlers.triggers import parse_event, parse_triggers
from tests.handlers.conftest import REGION, MotoAccount
from tests.handlers.test_cannot_contain import ROOT_KEY, guardduty
from tests.handlers.test_responder_wiring import quarantine_event


@pytest.fixture
def sealed(account: MotoAccount, monkeypatch: pytest.MonkeyPatch) -> MotoAccount:
    monkeypatch.setattr(batch, "GROUP_WORKERS", 1)  # moto's DynamoDB is not thread-safe
    mac_key = boto3.client("kms", region_name=REGION).create_key(
        KeySpec="HMAC_256", KeyUsage="GENERATE_VERIFY_MAC"
    )["KeyMetadata"]["Arn"]
    return dataclasses.replace(
        account, settings=dataclasses.replace(account.settings, ledger_mac_key=mac_key)
    )


def answer(account: MotoAccount, message_id: str = "m1", aws: Aws | None = None) -> dict[str, object]:
    responder = Responder(
        account.settings,
        aws or Aws(region=REGION),
        f"arn:aws:lambda:{REGION}:{account.account_id}:function:r",
        memo=FinishedMemo(),
    )
    event = quarantine_event(account, account.user)
    return respond_to_batch([Delivery(message_id, json.dumps(event))], responder).results[message_id]


def forge_finished(account: MotoAccount, *, with_seal: str | None = None) -> None:
    """The attacker's item: every step done and finished, for its own user's next quarantine."""
    trigger = parse_event(quarantine_event(account, account.user))
    incident_id = incident_id_of(trigger, account.user)
    marker = finished_marker(trigger)
    done = {"M": {"status": {"S": "done"}, "detail": {"S": "contained"}, "at": {"S": "2026-12-02T00:00:00Z"}}}
    item = {
        "incident_id": {"S": incident_id},
        "account": {"S": account.account_id},
        "user": {"S": account.user},
        "steps": {"M": dict.fromkeys(("deactivate-keys", "deny-policy", "notify"), done)},
        "claims": {"M": {"notify": {"S": "2026-12-02T00:00:00Z"}}},
        marker: {"S": "2026-12-02T00:00:00Z"},
    }
    if with_seal is not None:
        item[seal_name(marker)] = {"S": with_seal}
        item[seal_name("claim:notify")] = {"S": with_seal}
    boto3.client("dynamodb", region_name=REGION).put_item(TableName=account.table, Item=item)


def test_unsealed_a_forged_finished_item_costs_a_redundant_containment(account: MotoAccount) -> None:
    # Given no seal key, and the attacker's pre-written "finished" item
    forge_finished(account)
    # When AWS's quarantine of the attacker's user arrives
    result = answer(account)
    # Then the finish is checked against IAM before it is believed (the containment issue): the key is found
    # active and contained, at the cost of one redundant response
    assert result["status"] == "responded"
    assert account.key_status()[account.key] == "Inactive"


@pytest.mark.parametrize("seal", [None, base64.b64encode(b"\0" * 32).decode(), "not base64 !"])
def test_sealed_a_forged_finished_item_is_not_believed_and_the_key_is_contained(
    sealed: MotoAccount, seal: str | None
) -> None:
    # Given the seal key configured, and the forged item without a seal, with a made-up one, or a malformed one
    forge_finished(sealed, with_seal=seal)
    # When AWS's quarantine of the user arrives
    result = answer(sealed)
    # Then the forgery is not believed: the key is contained and the security team is told
    assert result["status"] == "responded"
    assert sealed.key_status()[sealed.key] == "Inactive"
    assert sealed.notifications(), "the forged notify claim must not suppress the notice"


def test_a_seal_cannot_be_moved_to_another_incident(sealed: MotoAccount) -> None:
    # Given a genuine, sealed, finished incident of the bystander (the attacker can read the ledger)
    bystander = dataclasses.replace(sealed, user=sealed.bystander, key=sealed.bystander_key)
    answer(bystander)
    dynamodb = boto3.client("dynamodb", region_name=REGION)
    trigger = parse_event(quarantine_event(sealed, sealed.bystander))
    genuine = dynamodb.get_item(
        TableName=sealed.table, Key={"incident_id": {"S": incident_id_of(trigger, sealed.bystander)}}
    )["Item"]
    marker = finished_marker(trigger)
    # When the attacker copies that seal onto its own forged item
    forge_finished(sealed, with_seal=genuine[seal_name(marker)]["S"])
    # Then it is not believed either (the seal binds the incident id)
    answer(sealed)
    assert sealed.key_status()[sealed.key] == "Inactive"


def test_a_genuine_finished_incident_is_still_believed(sealed: MotoAccount) -> None:
    # Given an incident the responder finished and sealed: one seal per claim, step recorded and finished marker
    aws = Aws(region=REGION)
    first = answer(sealed, "m1", aws)
    assert first["status"] == "responded"
    trigger = parse_event(quarantine_event(sealed, sealed.user))
    item = boto3.client("dynamodb", region_name=REGION).get_item(
        TableName=sealed.table, Key={"incident_id": {"S": incident_id_of(trigger, sealed.user)}}
    )["Item"]
    seals = [name for name in item if name.startswith("seal:")]
    assert (
        aws.calls["kms:GenerateMac"] == len(seals) == len(item["steps"]["M"]) + len(item["claims"]["M"]) + 1
    )
    calls_before = len(sealed.notifications())
    # When a duplicate delivery arrives in a fresh execution environment (no memo)
    second = answer(sealed, "m2")
    # Then one ledger read and one VerifyMac answer it: already finished, no second notice
    assert second["steps"][0]["detail"].endswith("is already finished")  # type: ignore[index]
    assert calls_before >= 1
    assert sealed.notifications() == []


def root_key_finding(account: MotoAccount) -> str:
    """GuardDuty on the root user's key: the responder cannot contain it, so its notice is all there is."""
    return json.dumps(guardduty(account.account_id, "Root", "Root", ROOT_KEY))


def answer_root_finding(account: MotoAccount) -> dict[str, object]:
    responder = Responder(
        account.settings, Aws(region=REGION), f"arn:aws:lambda:{REGION}:{account.account_id}:function:r"
    )
    return respond_to_batch([Delivery("m1", root_key_finding(account))], responder).results["m1"]


def forge_notice_claim(account: MotoAccount, *, with_seal: str | None = None) -> str:
    """The attacker's item: the "cannot contain" notice of its own root key marked as told already (notice ids
    are sha256 of public fields of the finding)."""
    (trigger,) = parse_triggers(json.loads(root_key_finding(account)))
    assert trigger.cannot_contain is not None
    notice_id = notice_id_of(trigger, trigger.cannot_contain)
    item = {
        "incident_id": {"S": notice_id},
        "account": {"S": account.account_id},
        "status": {"S": "told"},
        "created_at": {"S": "2026-12-02T00:00:00Z"},
    }
    if with_seal is not None:
        item[seal_name(RECORD)] = {"S": with_seal}
    boto3.client("dynamodb", region_name=REGION).put_item(TableName=account.table, Item=item)
    return notice_id


def test_unsealed_a_forged_notice_claim_silences_the_root_key_notice(account: MotoAccount) -> None:
    # Given no seal key, and the attacker's pre-written "told" claim for its root key's notice
    forge_notice_claim(account)
    # When GuardDuty's finding on the root key arrives
    result = answer_root_finding(account)
    # Then the forged claim is believed: nobody hears of the root key (what the seal is for)
    steps = {step["name"]: step["status"] for step in result["steps"]}  # type: ignore[attr-defined]
    assert steps["notify"] == "skipped"
    assert account.notifications() == []


@pytest.mark.parametrize("seal", [None, base64.b64encode(b"\0" * 32).decode(), "not base64 !"])
def test_sealed_a_forged_notice_claim_cannot_silence_the_notice(
    sealed: MotoAccount, seal: str | None
) -> None:
    # Given the seal key configured, and the attacker's "told" claim without a seal, a made-up or a malformed one
    notice_id = forge_notice_claim(sealed, with_seal=seal)
    # When GuardDuty's finding on the root key arrives
    result = answer_root_finding(sealed)
    # Then the claim is not believed: the notice goes out, and the claim is now the responder's, sealed
    steps = {step["name"]: step["status"] for step in result["steps"]}  # type: ignore[attr-defined]
    assert steps["notify"] == "done"
    (notice,) = sealed.notifications()
    assert notice["Subject"].startswith("NOT CONTAINED")
    item = boto3.client("dynamodb", region_name=REGION).get_item(
        TableName=sealed.table, Key={"incident_id": {"S": notice_id}}
    )["Item"]
    assert item[seal_name(RECORD)]["S"] != seal
    # and a repeat of the same finding (the genuine claim standing) is told no second time
    again = answer_root_finding(sealed)
    assert {step["name"]: step["status"] for step in again["steps"]}["notify"] == "skipped"  # type: ignore[attr-defined]
    assert sealed.notifications() == []


def test_sealed_a_forged_refusal_cannot_silence_the_refusal_notice(sealed: MotoAccount) -> None:
    # Given the attacker pre-wrote the refusal record of an event it will send about a neighbour account
    (trigger,) = parse_triggers(json.loads(root_key_finding(sealed)))
    refusal = "refused#forged-in-advance"
    boto3.client("dynamodb", region_name=REGION).put_item(
        TableName=sealed.table,
        Item={"incident_id": {"S": refusal}, "status": {"S": "refused"}, "created_at": {"S": "2026-12-02"}},
    )
    ledger = open_ledger(Aws(region=REGION), sealed.table, sealed.settings.ledger_mac_key)
    assert ledger is not None
    # When the responder records the refusal: Then it counts as the first (so it is told), and only once
    assert ledger.record_refusal(refusal, trigger, "not an active account of this organization")
    assert not ledger.record_refusal(refusal, trigger, "not an active account of this organization")
