"""Signals the responder cannot contain are told to a human at once: root keys, role sessions, sample findings.

Each was dropped with a log line (or, for a sample finding, acted on as real) before; each test plays the signal
through the Lambda handler and reads what a human receives on the topic.
"""

from __future__ import annotations

import dataclasses
import json
import shlex
from pathlib import Path
from typing import Any

import pytest
from botocore.stub import Stubber

from key_quarantine.cli.main import main
from key_quarantine.handlers import batch, responder
from key_quarantine.handlers.batch import Delivery, FinishedMemo
from key_quarantine.handlers.triggers import parse_event
from tests.handlers.conftest import MotoAccount
from tests.handlers.test_real_records import health_event
from tests.handlers.test_responder_wiring import context_for
from tests.handlers.test_triggers import sample

ROOT_KEY = "AKIAROOTEXAMPLEKEY01"


def guardduty(account_id: str, user_type: str, user: str, key: str, **extra: Any) -> dict[str, Any]:
    event = sample("guardduty-iam-user.json")
    event["account"] = event["detail"]["accountId"] = account_id
    event["detail"]["resource"]["accessKeyDetails"].update(userType=user_type, userName=user, accessKeyId=key)
    event["detail"].update(extra)
    return event


def handle(account: MotoAccount, event: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = responder.lambda_handler(event, context_for(account.account_id))
    return result


def unchanged(account: MotoAccount) -> bool:
    return set(account.key_status().values()) == {"Active"} and account.inline_policies() == []


def test_a_root_key_health_exposure_tells_a_human_what_to_do(wired: MotoAccount) -> None:
    # Given AWS Health reports the root user's access key exposed (the responder cannot touch root keys)
    event = health_event(wired.account_id, ROOT_KEY, "root")
    # When the responder answers it
    result = handle(wired, event)
    # Then a human hears at once: what was found, why not contained, and the exact step and command
    (message,) = wired.notifications()
    assert message["Subject"].startswith("NOT CONTAINED, act now: AWS Health AWS_RISK_CREDENTIALS_EXPOSED")
    body = message["Message"]
    assert body.startswith(
        f"NOT CONTAINED: AWS Health AWS_RISK_CREDENTIALS_EXPOSED for the root user's access key {ROOT_KEY}."
    )
    assert "only the root user can change them" in body
    assert "sign in as the root user" in body
    assert f"Command: aws iam update-access-key --access-key-id {ROOT_KEY} --status Inactive" in body
    # And the result says so in the playbook's shape, and nothing in IAM changed
    steps = {step["name"]: (step["status"], step["detail"]) for step in result["steps"]}
    assert steps["contain"][0] == "skipped"
    assert steps["notify"][0] == "done"
    assert unchanged(wired)


def test_a_guardduty_finding_on_root_credentials_tells_a_human(wired: MotoAccount) -> None:
    handle(wired, guardduty(wired.account_id, "Root", "Root", ROOT_KEY))
    (message,) = wired.notifications()
    assert "on the root user's credentials (key AKIAROOTEXAMPLEKEY01)" in message["Message"]
    assert "--access-key-id AKIAROOTEXAMPLEKEY01 --status Inactive" in message["Message"]


def test_a_guardduty_finding_on_a_role_session_gives_the_command_that_revokes_it(wired: MotoAccount) -> None:
    # Given GuardDuty flags a session of role "deployer" (role sessions outlive anything done to a user)
    wired.iam.create_role(
        RoleName="deployer", AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": []})
    )
    handle(wired, guardduty(wired.account_id, "AssumedRole", "deployer", "ASIAEXAMPLESESSION01"))
    (message,) = wired.notifications()
    body = message["Message"]
    assert "on a session of role deployer (key ASIAEXAMPLESESSION01)" in body
    assert "revoke every session of role deployer issued before" in body
    # Then the command a human is given is one IAM accepts as it stands, and it denies older tokens only
    command = shlex.split(body.split("Command: ", 1)[1].splitlines()[0])
    assert command[:3] == ["aws", "iam", "put-role-policy"]
    options = dict(zip(command[3::2], command[4::2], strict=True))
    wired.iam.put_role_policy(
        RoleName=options["--role-name"],
        PolicyName=options["--policy-name"],
        PolicyDocument=options["--policy-document"],
    )
    (statement,) = json.loads(options["--policy-document"])["Statement"]
    assert (statement["Effect"], statement["Action"]) == ("Deny", ["*"])
    assert set(statement["Condition"]["DateLessThan"]) == {"aws:TokenIssueTime"}
    assert options["--policy-name"] == "AWSRevokeOlderSessions"


def test_a_sample_finding_on_a_real_user_notifies_only_and_says_it_is_a_sample(wired: MotoAccount) -> None:
    # Given someone generated GuardDuty sample findings that name a real user and key
    event = guardduty(wired.account_id, "IAMUser", wired.user, wired.key)
    event["detail"]["service"] = {"additionalInfo": {"sample": True, "type": "default"}}
    # When the responder answers it
    handle(wired, event)
    # Then nothing is contained, and the notice says it was a sample and how to find who made it
    assert unchanged(wired)
    (message,) = wired.notifications()
    assert (
        "GuardDuty sample finding UnauthorizedAccess:IAMUser/MaliciousIPCaller.Custom" in message["Message"]
    )
    assert "CreateSampleFindings" in message["Message"]


def test_the_same_finding_delivered_again_is_told_once(
    wired: MotoAccount, monkeypatch: pytest.MonkeyPatch
) -> None:
    event = guardduty(wired.account_id, "Root", "Root", ROOT_KEY)
    handle(wired, event)
    monkeypatch.setattr(
        responder, "FINISHED", FinishedMemo()
    )  # another environment: only the ledger remembers
    second = handle(wired, event)
    assert len(wired.notifications()) == 1
    assert {step["name"]: step["status"] for step in second["steps"]}["notify"] == "skipped"


def test_a_notice_that_could_not_be_sent_fails_the_delivery_and_the_retry_sends_it(
    wired: MotoAccount,
) -> None:
    # Given the topic is unreachable for the first delivery
    event = json.dumps(guardduty(wired.account_id, "Root", "Root", ROOT_KEY))
    broken = dataclasses.replace(wired.settings, topic_arn=wired.topic_arn + "-missing")
    own_arn = context_for(wired.account_id).invoked_function_arn
    first = batch.respond_to_batch([Delivery("m1", event)], batch.Responder(broken, wired.aws(), own_arn))
    # Then the message goes back to the queue (never a log line only)
    assert first.failed == ["m1"]
    # And its retry, with the topic back, sends the notice
    retry = batch.respond_to_batch(
        [Delivery("m1", event)], batch.Responder(wired.settings, wired.aws(), own_arn)
    )
    assert retry.failed == []
    assert len(wired.notifications()) == 1


def test_two_roles_flagged_in_one_batch_are_two_notices(wired: MotoAccount) -> None:
    events = [
        guardduty(wired.account_id, "AssumedRole", role, "ASIAEXAMPLESESSION01", id=f"finding-{role}")
        for role in ("deployer", "builder")
    ]
    own_arn = context_for(wired.account_id).invoked_function_arn
    deliveries = [Delivery(f"m{i}", json.dumps(event)) for i, event in enumerate(events)]
    batch.respond_to_batch(deliveries, batch.Responder(wired.settings, wired.aws(), own_arn))
    assert sorted("role builder" in m["Message"] for m in wired.notifications()) == [False, True]


def test_respond_from_a_shell_prints_the_next_step(
    account: MotoAccount, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "root.json"
    path.write_text(json.dumps(guardduty(account.account_id, "Root", "Root", ROOT_KEY)))
    assert main(["respond", str(path)]) == 0
    output = capsys.readouterr().out
    assert "skipped  contain: not contained: these are the root user's credentials" in output
    assert f"aws iam update-access-key --access-key-id {ROOT_KEY} --status Inactive" in output


def test_an_iam_user_finding_is_still_contained_as_before() -> None:
    trigger = parse_event(sample("guardduty-iam-user.json"))
    assert (trigger.cannot_contain, trigger.user_name, trigger.from_aws) == (None, "leaked-user", True)


def test_a_key_iam_says_is_the_root_users_tells_a_human(wired: MotoAccount) -> None:
    # Given an old Health event naming only a key, which IAM answers for without a user (a root key: moto
    # cannot make one, so IAM's answer is stubbed; the topic and ledger are moto's)
    aws = wired.aws()
    iam = aws.client("iam")
    with Stubber(iam) as stub:
        stub.add_response(
            "get_access_key_last_used", {"AccessKeyLastUsed": {"ServiceName": "s3", "Region": "us-east-1"}}
        )
        event = sample("health-credentials-exposed.aws-health-tools.json")
        event["account"] = wired.account_id
        event["detail"]["affectedEntities"][0]["entityValue"] = ROOT_KEY
        own_arn = context_for(wired.account_id).invoked_function_arn
        answer = batch.respond_to_batch(
            [Delivery("m1", json.dumps(event))], batch.Responder(wired.settings, aws, own_arn)
        )
    # Then nothing else was asked of IAM, and a human hears what to do
    assert answer.failed == []
    (message,) = wired.notifications()
    assert message["Message"].startswith(f"NOT CONTAINED: access key {ROOT_KEY} is the root user's.")
    assert f"--access-key-id {ROOT_KEY} --status Inactive" in message["Message"]
