"""The playbook on moto, step by step: nothing to do, success, AWS error, replay; and the safety rules."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime

import boto3
import pytest
from botocore.stub import Stubber

from key_quarantine.handlers.ledger import Ledger
from key_quarantine.handlers.playbook import required_actions, run_playbook
from key_quarantine.handlers.settings import (
    CONTAINMENT_POLICY_NAME,
    INCIDENT_TAG,
    Containment,
    Exemption,
    ResponseMode,
)
from key_quarantine.handlers.steps import ALL_STEPS, PlaybookError, Status
from key_quarantine.handlers.steps.deny_policy import containment_policy
from key_quarantine.handlers.triggers import manual_trigger
from tests.handlers.conftest import MotoAccount


def steps_of(outcome: object) -> dict[str, tuple[str, str]]:
    return {s.name: (s.status.value, s.detail) for s in outcome.steps}  # type: ignore[attr-defined]


def test_containment_deactivates_the_key_denies_the_user_and_records_everything(account: MotoAccount) -> None:
    # Given a leaked key named by the event
    aws = account.aws()
    trigger = manual_trigger(account.account_id, account.user, account.key)
    # When the playbook runs
    outcome = run_playbook(trigger, account.settings, aws, account.ledger(aws))
    steps = steps_of(outcome)
    # Then every key of the user is inactive (its holder may have made the second), the deny policy attached,
    # the user tagged
    assert account.key_status() == {account.key: "Inactive", account.other_key: "Inactive"}
    assert account.inline_policies() == [CONTAINMENT_POLICY_NAME]
    tags = {t["Key"]: t["Value"] for t in account.iam.list_user_tags(UserName=account.user)["Tags"]}
    assert tags[INCIDENT_TAG] == outcome.incident_id
    # And evidence and one notification a human can act on exist
    (evidence,) = account.evidence_objects()
    assert evidence["user"]["UserName"] == account.user
    assert {k["access_key_id"]: (k["status_before"], k["status_after"]) for k in evidence["access_keys"]} == {
        account.key: ("Active", "Inactive"),
        account.other_key: ("Active", "Inactive"),
    }
    (message,) = account.notifications()
    assert account.key in message["Message"]
    assert f"key-quarantine release --user {account.user}" in message["Message"]
    assert "s3://key-quarantine-evidence/incidents/" in message["Message"]
    assert {name for name, (status, _) in steps.items() if status == "done"} == {
        "deactivate-keys",
        "deny-policy",
        "evidence",
        "tag-user",
        "notify",
    }
    assert not outcome.failed
    # And the bystander is untouched
    assert account.key_status(account.bystander) == {account.bystander_key: "Active"}
    assert account.inline_policies(account.bystander) == []


def test_event_without_a_key_contains_every_key_of_the_user(account: MotoAccount) -> None:
    aws = account.aws()
    run_playbook(manual_trigger(account.account_id, account.user, None), account.settings, aws)
    assert account.key_status() == {account.key: "Inactive", account.other_key: "Inactive"}


def test_event_without_a_user_resolves_it_from_the_key(account: MotoAccount) -> None:
    outcome = run_playbook(
        manual_trigger(account.account_id, None, account.key), account.settings, account.aws()
    )
    assert outcome.user == account.user
    assert account.key_status()[account.key] == "Inactive"


def test_nothing_to_do_when_the_keys_are_already_inactive(account: MotoAccount) -> None:
    for key in (account.key, account.other_key):
        account.iam.update_access_key(UserName=account.user, AccessKeyId=key, Status="Inactive")
    outcome = run_playbook(
        manual_trigger(account.account_id, account.user, account.key), account.settings, account.aws()
    )
    assert steps_of(outcome)["deactivate-keys"][0] == "skipped"
    assert steps_of(outcome)["deny-policy"][0] == "done"


def test_replay_finishes_nothing_twice_and_notifies_once(account: MotoAccount) -> None:
    # Given the same event delivered twice
    trigger = manual_trigger(account.account_id, account.user, account.key)
    first_aws = account.aws()
    run_playbook(trigger, account.settings, first_aws, account.ledger(first_aws))
    second_aws = account.aws()
    replay = run_playbook(trigger, account.settings, second_aws, account.ledger(second_aws))
    # Then the replay does no step again, writes no second evidence and sends no second notification
    assert {status for status, _ in steps_of(replay).values()} == {"skipped"}
    assert "iam:UpdateAccessKey" not in replay.calls
    assert len(account.evidence_objects()) == 1
    assert len(account.notifications()) == 1


def test_replay_finishes_a_step_that_failed_the_first_time(account: MotoAccount) -> None:
    # Given a first delivery whose notification failed (the topic was wrong)
    broken = dataclasses.replace(account.settings, topic_arn=account.topic_arn + "-missing")
    trigger = manual_trigger(account.account_id, account.user, account.key)
    aws = account.aws()
    first = run_playbook(trigger, broken, aws, account.ledger(aws))
    assert steps_of(first)["notify"][0] == "failed"
    assert first.failed
    # And containment still happened
    assert account.key_status()[account.key] == "Inactive"
    # When EventBridge retries with the topic fixed
    retry_aws = account.aws()
    retry = run_playbook(trigger, account.settings, retry_aws, account.ledger(retry_aws))
    # Then only the unfinished step runs
    assert steps_of(retry)["notify"][0] == "done"
    assert steps_of(retry)["deactivate-keys"][0] == "skipped"
    assert len(account.notifications()) == 1


def test_aws_error_in_one_step_does_not_stop_the_others(account: MotoAccount) -> None:
    # Given an evidence bucket that does not exist
    settings = dataclasses.replace(account.settings, evidence_bucket="no-such-bucket-kq")
    outcome = run_playbook(
        manual_trigger(account.account_id, account.user, account.key), settings, account.aws()
    )
    steps = steps_of(outcome)
    # Then evidence failed and says why, while containment, tags and the notification happened
    assert steps["evidence"][0] == "failed"
    assert "NoSuchBucket" in steps["evidence"][1]
    assert steps["deactivate-keys"][0] == steps["deny-policy"][0] == steps["notify"][0] == "done"
    assert outcome.failed


def test_ledger_failure_never_blocks_containment(account: MotoAccount) -> None:
    aws = account.aws()
    broken_ledger = Ledger(aws, "no-such-table")
    outcome = run_playbook(
        manual_trigger(account.account_id, account.user, account.key), account.settings, aws, broken_ledger
    )
    assert account.key_status()[account.key] == "Inactive"
    assert steps_of(outcome)["ledger"][0] == "failed"


def test_exempt_user_gets_notify_only(account: MotoAccount) -> None:
    settings = dataclasses.replace(account.settings, exemptions=(Exemption(account.user, "break-glass"),))
    outcome = run_playbook(
        manual_trigger(account.account_id, account.user, account.key), settings, account.aws()
    )
    assert account.key_status()[account.key] == "Active"
    assert account.inline_policies() == []
    assert "exempt" in steps_of(outcome)["deactivate-keys"][1]
    (message,) = account.notifications()
    assert "not contained" in message["Subject"]


def test_notify_mode_changes_nothing_but_tells(account: MotoAccount) -> None:
    settings = dataclasses.replace(account.settings, mode=ResponseMode.NOTIFY)
    run_playbook(manual_trigger(account.account_id, account.user, account.key), settings, account.aws())
    assert account.key_status()[account.key] == "Active"
    assert len(account.notifications()) == 1


def test_dry_run_changes_nothing(account: MotoAccount) -> None:
    settings = account.settings.with_dry_run(True)
    aws = account.aws()
    outcome = run_playbook(
        manual_trigger(account.account_id, account.user, account.key), settings, aws, account.ledger(aws)
    )
    assert account.key_status()[account.key] == "Active"
    assert account.inline_policies() == []
    assert account.evidence_objects() == []
    assert account.notifications() == []
    assert all("dry run" in detail or status == "skipped" for status, detail in steps_of(outcome).values())
    assert not any(
        call.split(":")[1].startswith(("Update", "Put", "Tag", "Delete", "Publish")) for call in outcome.calls
    )


def test_delete_keys_and_remove_console_access_when_asked(account: MotoAccount) -> None:
    account.iam.create_login_profile(UserName=account.user, Password="Correct-Horse-Battery-9")
    settings = dataclasses.replace(account.settings, delete_keys=True, remove_console_access=True)
    outcome = run_playbook(
        manual_trigger(account.account_id, account.user, account.key), settings, account.aws()
    )
    assert account.key_status() == {account.other_key: "Inactive"}  # the named key deleted, the other off
    assert steps_of(outcome)["remove-console-access"][0] == "done"
    (evidence,) = account.evidence_objects()
    assert any(k["access_key_id"] == account.key for k in evidence["access_keys"])  # kept before deleting


def test_security_hub_finding_in_asff(account: MotoAccount) -> None:
    settings = dataclasses.replace(account.settings, security_hub=True)
    outcome = run_playbook(
        manual_trigger(account.account_id, account.user, account.key), settings, account.aws()
    )
    assert steps_of(outcome)["security-hub"][0] == "done"
    findings = boto3.client("securityhub", region_name="us-east-1").get_findings()["Findings"]
    assert [f["Id"] for f in findings] == [f"key-quarantine/{outcome.incident_id}"]
    assert findings[0]["Resources"][0]["Id"].endswith(f":user/{account.user}")


def test_cloudtrail_lookup_is_paginated_and_capped_but_writes_are_never_left_out(
    account: MotoAccount,
) -> None:
    # Given CloudTrail (not in moto) stubbed with two pages: four cheap reads and, on the last page, a write
    settings = dataclasses.replace(account.settings, evidence_event_cap=3, regions=("us-east-1",))
    aws = account.aws()
    cloudtrail = aws.client("cloudtrail", "us-east-1")
    stubber = Stubber(cloudtrail)
    reads = [{"EventId": f"e{i}", "EventName": "DescribeInstances", "ReadOnly": "true"} for i in range(4)]
    write = {"EventId": "w", "EventName": "CreateUser", "ReadOnly": "false"}
    stubber.add_response("lookup_events", {"Events": reads[:2], "NextToken": "next"})
    stubber.add_response("lookup_events", {"Events": [*reads[2:], write]})
    with stubber:
        outcome = run_playbook(manual_trigger(account.account_id, account.user, account.key), settings, aws)
    # Then the evidence holds the write and reads up to the cap, and counts the reads it left out
    (evidence,) = account.evidence_objects()
    kept = [event["EventId"] for event in evidence["cloudtrail"]["events"]]
    assert kept == ["w", "e0", "e1"]
    assert evidence["cloudtrail"]["left_out_by_name"] == {"DescribeInstances": 2}
    assert "2 read-only events left out past the cap of 3" in steps_of(outcome)["evidence"][1]


def test_unknown_user_or_foreign_key_is_refused_before_any_change(account: MotoAccount) -> None:
    with pytest.raises(PlaybookError, match="does not exist"):
        run_playbook(manual_trigger(account.account_id, "nobody", None), account.settings, account.aws())
    with pytest.raises(PlaybookError, match="belongs to IAM user 'bystander'"):
        run_playbook(
            manual_trigger(account.account_id, account.user, account.bystander_key),
            account.settings,
            account.aws(),
        )
    with pytest.raises(PlaybookError, match="not in this account"):
        run_playbook(
            manual_trigger(account.account_id, None, "AKIA" + "Z" * 16), account.settings, account.aws()
        )
    assert account.key_status(account.bystander) == {account.bystander_key: "Active"}


def test_responder_never_acts_on_its_own_principal(account: MotoAccount) -> None:
    settings = dataclasses.replace(account.settings, acting_user=account.user)
    with pytest.raises(PlaybookError, match="it is the principal running this response"):
        run_playbook(manual_trigger(account.account_id, account.user, account.key), settings, account.aws())


def test_revoke_older_sessions_form() -> None:
    now = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
    document = containment_policy(Containment.REVOKE_OLDER_SESSIONS, now)
    older, long_lived = document["Statement"]
    assert older["Condition"] == {"DateLessThan": {"aws:TokenIssueTime": "2026-11-25T12:00:00Z"}}
    assert long_lived["Condition"] == {"Null": {"aws:TokenIssueTime": "true"}}
    for statement in (older, long_lived):
        assert (statement["Effect"], statement["Action"], statement["Resource"]) == ("Deny", "*", "*")
    assert json.loads(json.dumps(document)) == document


def test_required_actions_are_the_union_of_the_steps() -> None:
    declared = {action for step in ALL_STEPS for action in step.actions}
    opt_ins = {step.opt_in for step in ALL_STEPS if step.opt_in}
    assert declared <= set(required_actions(opted_in=opt_ins))
    # an opt-in step's actions are granted only when opted in: by default the role can change no role
    assert "iam:PutRolePolicy" not in required_actions()
    assert "iam:PutRolePolicy" in required_actions(opted_in={"revoke_role_sessions"})
    assert {"iam:UpdateAccessKey", "iam:PutUserPolicy", "sns:Publish", "dynamodb:PutItem"} <= set(
        required_actions()
    )
    assert all(status in Status for status in Status)
