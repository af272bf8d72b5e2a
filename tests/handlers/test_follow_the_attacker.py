"""The key's holder, minutes before the signal, makes a user with a key and a password, puts a key on another user,
opens a role session and makes a user with it. Containment of the named user comes first and is unchanged; what
the trail shows the key made is contained right after; the role session is reported with its revocation."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import boto3
import pytest
from botocore.exceptions import ClientError

from key_quarantine.handlers.playbook import run_playbook
from key_quarantine.handlers.settings import CONTAINMENT_POLICY_NAME, ResponseMode
from tests.handlers.cloudtrail_replay import CloudTrailReplay, History
from tests.handlers.conftest import REGION, MotoAccount
from tests.handlers.test_playbook import manual_trigger, steps_of


def attack(account: MotoAccount, history: History) -> dict[str, str]:
    """What the key's holder does with the key's permissions (in moto), recorded as CloudTrail records it."""
    iam, key, start = account.iam, account.key, datetime.now(UTC) - timedelta(minutes=30)
    iam.create_user(UserName="backup-admin")
    history.call(key, "CreateUser", start, request={"userName": "backup-admin"})
    iam.tag_user(UserName="backup-admin", Tags=[{"Key": account.settings.exempt_tag, "Value": "yes"}])
    history.call(key, "TagUser", start + timedelta(minutes=1), request={"userName": "backup-admin"})
    backdoor = iam.create_access_key(UserName="backup-admin")["AccessKey"]["AccessKeyId"]
    history.access_key(key, start + timedelta(minutes=2), "backup-admin", backdoor)
    iam.create_login_profile(UserName="backup-admin", Password="Attacker-Pa55word!")
    history.call(
        key, "CreateLoginProfile", start + timedelta(minutes=3), request={"userName": "backup-admin"}
    )
    planted = iam.create_access_key(UserName=account.bystander)["AccessKey"]["AccessKeyId"]
    history.access_key(key, start + timedelta(minutes=4), account.bystander, planted)
    role = iam.create_role(RoleName="deploy", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    session = boto3.client("sts", region_name=REGION).assume_role(RoleArn=role, RoleSessionName="ops")
    session_key = session["Credentials"]["AccessKeyId"]
    session_arn = history.assume_role(key, start + timedelta(minutes=5), "deploy", "ops", session_key)
    iam.create_user(UserName="helper")
    helper_key = iam.create_access_key(UserName="helper")["AccessKey"]["AccessKeyId"]
    history.call(
        session_key,
        "CreateUser",
        start + timedelta(minutes=6),
        session_arn=session_arn,
        request={"userName": "helper"},
    )
    history.access_key(
        session_key, start + timedelta(minutes=7), "helper", helper_key, session_arn=session_arn
    )
    return {"backdoor": backdoor, "planted": planted, "helper_key": helper_key, "session_key": session_key}


@pytest.fixture
def attacked(account: MotoAccount) -> tuple[MotoAccount, History, dict[str, str]]:
    history = History(account.account_id)
    return account, history, attack(account, history)


def test_what_the_trail_made_is_contained_right_after_the_named_user(
    attacked: tuple[MotoAccount, History, dict[str, str]],
) -> None:
    account, history, made = attacked
    # Given CloudTrail has delivered the attacker's calls
    replay = CloudTrailReplay(history.records, lambda: datetime.now(UTC) + timedelta(minutes=10))
    aws = replay.aws(REGION)
    settings = dataclasses.replace(account.settings, regions=(REGION,))

    # When the leak signal for the named key is answered
    outcome = run_playbook(manual_trigger(account.account_id, account.user, account.key), settings, aws)

    # Then the named user is contained first: no LookupEvents before its key and its deny policy
    order = replay.order
    first_lookup = order.index("cloudtrail:LookupEvents")
    assert order.index("iam:UpdateAccessKey") < first_lookup
    assert order.index("iam:PutUserPolicy") < first_lookup
    # And the user the key made is contained whatever its tag says: key inactive, deny policy, no password
    assert account.key_status("backup-admin") == {made["backdoor"]: "Inactive"}
    assert account.inline_policies("backup-admin") == [CONTAINMENT_POLICY_NAME]
    with pytest.raises(ClientError, match="NoSuchEntity"):
        account.iam.get_login_profile(UserName="backup-admin")
    # And the key it planted on a bystander is inactive, the bystander's own key untouched
    assert account.key_status(account.bystander) == {
        account.bystander_key: "Active",
        made["planted"]: "Inactive",
    }
    assert account.inline_policies(account.bystander) == []
    # And the user its role session made is contained too (the trail followed the session's ASIA id)
    assert account.key_status("helper") == {made["helper_key"]: "Inactive"}
    assert steps_of(outcome)["contain-derived"][0] == "done"
    # And the notice says what else was contained, and that the role session lives on, with the page's link
    (message,) = account.notifications()
    assert "Also contained (made by the key's trail): user backup-admin" in message["Message"]
    assert f"access-key {account.bystander}: deactivated" in message["Message"]
    assert "Role session NOT ended by the deny on the user: arn:aws:iam::" in message["Message"]
    assert "Report: s3://key-quarantine-evidence/incidents/" in message["Message"]
    assert (
        "(link valid 60 minutes at most: https://key-quarantine-evidence.s3.amazonaws.com/incidents/"
        in message["Message"]
    )
    # And the evidence records what was done to each, and the page sits beside it
    (evidence,) = account.evidence_objects()
    contained = {d["target"] for d in evidence["derived"] if d["kind"] != "role-session"}
    assert contained == {"backup-admin", account.bystander, "helper"}
    (session,) = [d for d in evidence["derived"] if d["kind"] == "role-session"]
    assert session["access_key_id"] == made["session_key"]
    assert session["done"] == "reported, valid until it expires (revoke_role_sessions is off)"
    assert [s["access_key_id"] for s in evidence["cloudtrail"]["sessions"]] == [made["session_key"]]
    keys = [o["Key"] for o in boto3.client("s3").list_objects_v2(Bucket=account.bucket)["Contents"]]
    assert any(k.endswith(".html") for k in keys)


def test_in_notify_mode_the_trail_is_reported_and_nothing_it_made_is_touched(
    attacked: tuple[MotoAccount, History, dict[str, str]],
) -> None:
    account, history, made = attacked
    replay = CloudTrailReplay(history.records, lambda: datetime.now(UTC) + timedelta(minutes=10))
    settings = dataclasses.replace(account.settings, regions=(REGION,), mode=ResponseMode.NOTIFY)
    outcome = run_playbook(
        manual_trigger(account.account_id, account.user, account.key), settings, replay.aws(REGION)
    )
    assert steps_of(outcome)["contain-derived"][0] == "skipped"
    assert account.key_status("backup-admin") == {made["backdoor"]: "Active"}
    (evidence,) = account.evidence_objects()
    assert {c["target"] for c in evidence["cloudtrail"]["changes"]} >= {"backup-admin", "helper"}
