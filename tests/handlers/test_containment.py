"""Containment the key's holder cannot escape (issue #11): each test plays the attacker first, then checks the fix."""

from __future__ import annotations

import dataclasses
from typing import Any

import boto3
import pytest

from key_quarantine.cli.main import main
from key_quarantine.handlers.playbook import run_playbook
from key_quarantine.handlers.settings import CONTAINMENT_POLICY_NAME, Exemption, Settings, SettingsError
from key_quarantine.handlers.triggers import manual_trigger
from tests.handlers.conftest import REGION, MotoAccount


def as_holder_of(account: MotoAccount, user: str) -> Any:
    """IAM as the leaked key's holder: a key of ``user`` with its secret, as a client would sign with it (the
    fixture's second key makes way: IAM allows two per user)."""
    for key in account.iam.list_access_keys(UserName=user)["AccessKeyMetadata"]:
        if key["AccessKeyId"] not in (account.key, account.bystander_key):
            account.iam.delete_access_key(UserName=user, AccessKeyId=key["AccessKeyId"])
    created = account.iam.create_access_key(UserName=user)["AccessKey"]
    return boto3.client(
        "iam",
        region_name=REGION,
        aws_access_key_id=created["AccessKeyId"],
        aws_secret_access_key=created["SecretAccessKey"],
    )


def steps_of(outcome: Any) -> dict[str, tuple[str, str]]:
    return {s.name: (s.status.value, s.detail) for s in outcome.steps}


# --- 1. self-exemption ------------------------------------------------------------------------------------


def test_a_user_that_tags_itself_exempt_is_contained_and_told_the_tag_was_ignored(
    account: MotoAccount,
) -> None:
    # Given the key's holder tags its own user exempt (no quarantine policy version denies iam:TagUser)
    attacker = as_holder_of(account, account.user)
    attacker.tag_user(UserName=account.user, Tags=[{"Key": "key-quarantine:exempt", "Value": "true"}])
    # When the leak is answered
    outcome = run_playbook(
        manual_trigger(account.account_id, account.user, account.key), account.settings, account.aws()
    )
    # Then the tag bought nothing: the key is inactive and the deny is on the user
    assert account.key_status()[account.key] == "Inactive"
    assert CONTAINMENT_POLICY_NAME in account.inline_policies()
    assert steps_of(outcome)["deactivate-keys"][0] == "done"
    # and the human is told the tag was there and why it was ignored
    (message,) = account.notifications()
    assert "not contained" not in message["Subject"]
    assert "key-quarantine:exempt, which does not exempt" in message["Message"]
    assert "key's holder" in message["Message"]


@pytest.mark.parametrize(
    "principal",
    ["leaked-deployer", "arn:aws:iam::123456789012:user/break-glass/leaked-deployer", "/break-glass/"],
    ids=["name", "arn", "path-prefix"],
)
def test_a_deployed_exemption_notifies_only_and_says_why(account: MotoAccount, principal: str) -> None:
    # Given the user lives under /break-glass/ and the deployed configuration exempts it
    account.iam.update_user(UserName=account.user, NewPath="/break-glass/")
    settings = dataclasses.replace(account.settings, exemptions=(Exemption(principal, "sealed envelope"),))
    # When its key is reported
    outcome = run_playbook(
        manual_trigger(account.account_id, account.user, account.key), settings, account.aws()
    )
    # Then nothing is changed and the notice names the exemption and its reason
    assert account.key_status()[account.key] == "Active"
    assert account.inline_policies() == []
    assert "exempt by the deployed configuration" in steps_of(outcome)["deactivate-keys"][1]
    (message,) = account.notifications()
    assert "not contained" in message["Subject"]
    assert f"{principal} (sealed envelope)" in message["Message"]


def test_an_exemption_of_another_user_or_path_does_not_cover_this_one(account: MotoAccount) -> None:
    settings = dataclasses.replace(
        account.settings,
        exemptions=(Exemption("bystander", "app user"), Exemption("/break-glass/", "sealed envelope")),
    )
    run_playbook(manual_trigger(account.account_id, account.user, account.key), settings, account.aws())
    assert account.key_status()[account.key] == "Inactive"


def test_exemptions_come_from_the_environment_and_bad_ones_fail_fast() -> None:
    raw = (
        '[{"principal": "/break-glass/", "reason": "sealed"}, {"principal": "ci", "reason": "rotated daily"}]'
    )
    assert Settings.from_environment({"KQ_EXEMPTIONS": raw}).exemptions == (
        Exemption("/break-glass/", "sealed"),
        Exemption("ci", "rotated daily"),
    )
    for bad in (
        '[{"principal": "ci"}]',
        '[{"principal": "ci", "reason": " "}]',
        '{"ci": 1}',
        "ci",
        '[{"principal": "/x", "reason": "r"}]',
    ):
        with pytest.raises(SettingsError, match="invalid responder setting"):
            Settings.from_environment({"KQ_EXEMPTIONS": bad})


def test_the_cli_exempt_flag_is_checked_before_anything_runs(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["contain", "--user", "someone", "--exempt", "someone"])
    assert exited.value.code == 2
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert "needs a principal and a reason" in error
    assert "Traceback" not in error
