"""Edges found on real records: a Health event naming several keys, `respond` from a shell deciding like the
Lambda, deeply nested JSON, a replay without a ledger. (GuardDuty sample findings: test_cannot_contain.py.)"""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from key_quarantine.cli.main import main
from key_quarantine.handlers import batch, responder
from key_quarantine.handlers.batch import Delivery, FinishedMemo
from key_quarantine.handlers.playbook import run_playbook
from key_quarantine.handlers.settings import CONTAINED_AT_TAG
from key_quarantine.handlers.triggers import TriggerError, manual_trigger, parse_event, parse_triggers
from tests.handlers.conftest import REGION, MotoAccount, build_account
from tests.handlers.test_responder_wiring import context_for
from tests.handlers.test_triggers import sample


def health_event(account_id: str, public_key: str, user: str, *other_keys: str) -> dict[str, Any]:
    """The current Health shape (made real: 12-digit account), naming ``public_key`` and ``other_keys``."""
    event = sample("health-credentials-exposed.json")
    event["account"] = event["detail"]["affectedAccount"] = account_id
    event["detail"]["eventMetadata"].update(publicKey=public_key, userName=user)
    event["detail"]["affectedEntities"] = [{"entityValue": key} for key in (public_key, *other_keys)]
    return event


def second_leaked_user(account: MotoAccount) -> str:
    account.iam.create_user(UserName="second-leak")
    return str(account.iam.create_access_key(UserName="second-leak")["AccessKey"]["AccessKeyId"])


# --- a Health event naming several keys -------------------------------------------------------------------


def test_a_health_event_is_one_trigger_per_key_and_the_user_name_is_the_public_keys() -> None:
    event = health_event("123456789012", "AKIAIOSFODNN7EXAMPLE", "test-1", "AKIAIOSFODNN7EXAMPLF")
    triggers = parse_triggers(event)
    assert [(t.user_name, t.access_key_id) for t in triggers] == [
        ("test-1", "AKIAIOSFODNN7EXAMPLE"),
        (None, "AKIAIOSFODNN7EXAMPLF"),  # whose key it is, IAM says (GetAccessKeyLastUsed)
    ]
    # the one-trigger parser never silently drops the second key
    with pytest.raises(TriggerError, match="names 2 access keys"):
        parse_event(event)


def test_several_keys_without_a_public_key_take_no_user_name_on_trust() -> None:
    event = health_event("123456789012", "AKIAIOSFODNN7EXAMPLE", "test-1", "AKIAIOSFODNN7EXAMPLF")
    del event["detail"]["eventMetadata"]["publicKey"]
    assert [t.user_name for t in parse_triggers(event)] == [None, None]


def test_a_health_event_naming_two_keys_contains_both(wired: MotoAccount) -> None:
    # Given AWS Health reports two exposed keys of two users in one event
    second_key = second_leaked_user(wired)
    event = health_event(wired.account_id, wired.key, wired.user, second_key)
    # When the responder answers it
    result = responder.lambda_handler(event, context_for(wired.account_id))
    # Then both keys are contained, each as an incident of its own; the bystander is untouched
    assert [incident["user"] for incident in result["incidents"]] == [wired.user, "second-leak"]
    assert wired.key_status()[wired.key] == "Inactive"
    assert wired.key_status("second-leak") == {second_key: "Inactive"}
    assert wired.inline_policies("second-leak") == ["KeyQuarantineContainment"]
    assert wired.key_status(wired.bystander) == {wired.bystander_key: "Active"}


def test_one_failing_key_of_a_health_event_sends_the_message_back(wired: MotoAccount) -> None:
    # Given a Health event whose second key IAM cannot answer for right now (throttled)
    second_key = second_leaked_user(wired)
    event = health_event(wired.account_id, wired.key, wired.user, second_key)
    aws = wired.aws()
    iam = aws.client("iam")

    def throttle(params: dict[str, Any], **_: Any) -> None:
        if params.get("AccessKeyId") == second_key:
            raise iam.exceptions.ClientError(
                {"Error": {"Code": "Throttling", "Message": "Rate exceeded"}}, "GetAccessKeyLastUsed"
            )

    iam.meta.events.register("provide-client-params.iam.GetAccessKeyLastUsed", throttle)
    answer = batch.respond_to_batch(
        [Delivery("m1", json.dumps(event))],
        batch.Responder(wired.settings, aws, context_for(wired.account_id).invoked_function_arn),
    )
    # Then the first key is contained, and the message goes back for the second
    assert wired.key_status()[wired.key] == "Inactive"
    assert answer.failed == ["m1"]
    assert [incident["status"] for incident in answer.results["m1"]["incidents"]] == ["responded", "failed"]


# --- respond from a shell decides like the Lambda ---------------------------------------------------------


def iam_state() -> dict[str, Any]:
    iam = boto3.client("iam", region_name=REGION)
    users = [u["UserName"] for u in iam.list_users()["Users"]]
    return {  # by status, not key id: each fresh account mints its own ids
        user: (
            sorted(k["Status"] for k in iam.list_access_keys(UserName=user)["AccessKeyMetadata"]),
            iam.list_user_policies(UserName=user)["PolicyNames"],
        )
        for user in users
    }


def answered_by_lambda(event: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> tuple[str, Any]:
    with mock_aws():
        account = build_account()
        monkeypatch.setattr(responder, "SETTINGS", account.settings)
        monkeypatch.setattr(responder, "FINISHED", FinishedMemo())
        result = responder.lambda_handler(event, context_for(account.account_id))
        incidents = result.get("incidents", [result])
        return ",".join(incident["status"] for incident in incidents), iam_state()


def answered_by_cli(
    event: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> tuple[str, Any]:
    path = tmp_path / "event.json"
    path.write_text(json.dumps(event))
    with mock_aws():
        account = build_account()
        exit_code = main(
            [
                "respond",
                str(path),
                "--format",
                "json",
                "--topic-arn",
                account.topic_arn,
                "--evidence-bucket",
                account.bucket,
                "--ledger-table",
                account.table,
            ]
        )
        output = capsys.readouterr()
        if exit_code == 0:
            document = json.loads(output.out)
            statuses = ",".join("responded" for _ in document.get("incidents", [document]))
        else:
            statuses = output.err.split(": ")[3] if exit_code == 2 else f"exit {exit_code}"
        return statuses, iam_state()


def own_quarantine_event() -> dict[str, Any]:
    event = sample("cloudtrail-attach-quarantine.json")
    event["detail"]["requestParameters"]["userName"] = "leaked-deployer"
    return event


def reported_by_a_neighbour() -> dict[str, Any]:
    # an account outside the organization forwards a Health event about this one (organizational view field)
    event = health_event("123456789012", "AKIAIOSFODNN7EXAMPLE", "leaked-deployer")
    event["account"] = "999999999999"
    return event


def about_another_account() -> dict[str, Any]:
    event = own_quarantine_event()
    event["account"] = event["detail"]["recipientAccountId"] = "999999999999"
    return event


@pytest.mark.parametrize(
    ("make_event", "decision"),
    [
        (own_quarantine_event, "responded"),
        (reported_by_a_neighbour, "refused"),
        (about_another_account, "refused"),
    ],
    ids=["own-account", "reported-by-a-neighbour", "another-account"],
)
@pytest.mark.usefixtures("aws_credentials")
def test_respond_from_a_shell_takes_the_lambdas_decision(
    make_event: Any,
    decision: str,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Given the same event handed to the Lambda and to `key-quarantine respond`, each in a fresh account
    monkeypatch.setattr(batch, "GROUP_WORKERS", 1)
    lambda_decision, lambda_state = answered_by_lambda(make_event(), monkeypatch)
    cli_decision, cli_state = answered_by_cli(make_event(), tmp_path, capsys)
    # Then both decide the same, and leave IAM in the same state
    assert (lambda_decision, cli_decision) == (decision, decision)
    assert cli_state == lambda_state


def test_respond_from_a_shell_contains_every_key_a_health_event_names(
    account: MotoAccount, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    second_key = second_leaked_user(account)
    path = tmp_path / "event.json"
    path.write_text(json.dumps(health_event(account.account_id, account.key, account.user, second_key)))
    assert main(["respond", str(path), "--format", "json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert [incident["user"] for incident in document["incidents"]] == [account.user, "second-leak"]
    assert account.key_status("second-leak") == {second_key: "Inactive"}


# --- deeply nested JSON -----------------------------------------------------------------------------------


@pytest.mark.parametrize("depth", [100_000, 500], ids=["beyond-the-decoder", "decodable-but-absurd"])
def test_a_deeply_nested_event_file_is_one_line_and_exit_2(
    depth: int, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "deep.json"
    path.write_text('{"detail": ' * depth + "{}" + "}" * depth)
    assert main(["respond", str(path)]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1
    assert "nested more than 64 levels deep" in error


def test_a_deeply_nested_message_is_kept_and_the_rest_of_the_batch_answered(wired: MotoAccount) -> None:
    # Given a batch with a message nested beyond what the JSON decoder takes, and a genuine quarantine event
    genuine = own_quarantine_event()
    genuine["account"] = genuine["detail"]["recipientAccountId"] = wired.account_id
    deliveries = [Delivery("deep", "[" * 100_000 + "]" * 100_000), Delivery("real", json.dumps(genuine))]
    answer = batch.respond_to_batch(
        deliveries,
        batch.Responder(wired.settings, wired.aws(), context_for(wired.account_id).invoked_function_arn),
    )
    # Then the deep one is kept for a person (dead-lettered after retries), and the genuine one contained
    assert answer.results["deep"]["status"] == "malformed"
    assert "nested more than 64 levels deep" in answer.results["deep"]["reason"]
    assert answer.failed == ["deep"]
    assert wired.key_status()[wired.key] == "Inactive"


# --- replay without a ledger ------------------------------------------------------------------------------


def contained_at(account: MotoAccount) -> str:
    tags = {t["Key"]: t["Value"] for t in account.iam.list_user_tags(UserName=account.user)["Tags"]}
    return tags[CONTAINED_AT_TAG]


def test_a_replay_without_a_ledger_keeps_the_first_containment_time(account: MotoAccount) -> None:
    # Given a responder without a ledger (the CLI's default) that contained a user
    no_ledger = dataclasses.replace(account.settings, ledger_table=None)
    trigger = manual_trigger(account.account_id, account.user, None)
    run_playbook(trigger, no_ledger, account.aws())
    first = contained_at(account)
    # When the same event is answered again a moment later
    time.sleep(1.1)  # the tag has whole seconds
    replay = run_playbook(trigger, no_ledger, account.aws())
    # Then the first containment time, which is evidence, is kept, and the replay says so
    assert contained_at(account) == first
    assert f"kept {CONTAINED_AT_TAG}={first}" in {s.name: s.detail for s in replay.steps}["tag-user"]
