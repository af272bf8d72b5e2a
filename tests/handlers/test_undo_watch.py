"""The undo watch (issue #11, item 6): the key's holder, from a role session opened before the containment, undoes
it with one IAM call; the watch's record reaches the responder, which tells a human at once (who, what, when, from
where, in CloudTrail's words) and contains again through the same incident, reported UNDONE. The pipeline's own
calls and a release are not undos, and nothing the holder can write makes its calls look like theirs."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from key_quarantine.handlers import batch, responder
from key_quarantine.handlers.aws import Aws
from key_quarantine.handlers.daily_sweep import sweep
from key_quarantine.handlers.ledger import Ledger
from key_quarantine.handlers.playbook import run_playbook
from key_quarantine.handlers.release import release_user
from key_quarantine.handlers.settings import (
    CONTAINED_AT_TAG,
    CONTAINMENT_POLICY_NAME,
    DEFAULT_EXEMPT_TAG,
    INCIDENT_TAG,
)
from key_quarantine.handlers.triggers import Trigger, TriggerFamily, parse_triggers
from tests.handlers.cloudtrail_replay import CloudTrailReplay
from tests.handlers.conftest import REGION, MotoAccount
from tests.handlers.test_containment import certificate_and_ssh_key
from tests.handlers.test_responder_wiring import context_for, quarantine_event
from tests.handlers.undo_records import (
    ATTACKER_IP,
    SESSION_NAME,
    Session,
    delivered,
    record,
    role_session,
    session_of,
)

RESPONDER_ROLE = "arn:aws:iam::123456789012:role/Security-KeyQuarantineResponderRole-1A2B3C4D5E6F"
SWEEP_ROLE = "arn:aws:iam::123456789012:role/Security-KeyQuarantineDailySweepRole-1A2B3C4D5E6F"
OPERATOR_ROLE = "arn:aws:iam::123456789012:role/secops-operator"
Call = tuple[str, dict[str, Any], dict[str, Any] | None]


@pytest.fixture
def watched(wired: MotoAccount, monkeypatch: pytest.MonkeyPatch) -> MotoAccount:
    """The wired account, with the roles the deployed construct names as its own and its operators'."""
    settings = dataclasses.replace(
        wired.settings,
        own_role_arns=frozenset({RESPONDER_ROLE, SWEEP_ROLE}),
        operator_role_arns=frozenset({OPERATOR_ROLE}),
    )
    monkeypatch.setattr(responder, "SETTINGS", settings)
    return dataclasses.replace(wired, settings=settings)


def contain(account: MotoAccount) -> None:
    """AWS's quarantine attach, answered: contained, finished in the ledger; its notice read."""
    responder.lambda_handler(quarantine_event(account, account.user), context_for(account.account_id))
    assert account.key_status()[account.key] == "Inactive"
    assert len(account.notifications()) == 1


def deliver(account: MotoAccount, identity: dict[str, Any], call: Call) -> dict[str, Any]:
    name, request, response = call
    event = delivered(account.account_id, record(account.account_id, identity, name, request, response))
    result: dict[str, Any] = responder.lambda_handler(event, context_for(account.account_id))
    return result


def steps_of(result: dict[str, Any]) -> dict[str, dict[str, str]]:
    (incident,) = result["incidents"]
    return {step["name"]: step for step in incident["steps"]}


# --- each watched call, made by the holder -----------------------------------------------------------------


@dataclass(frozen=True)
class Watched:
    """One way to undo: what the holder set up before the containment, the call, and what must hold after."""

    name: str
    call: Callable[[Session, MotoAccount, dict[str, str]], Call]
    holds: Callable[[MotoAccount, dict[str, str], dict[str, dict[str, str]]], None]
    before: Callable[[MotoAccount], dict[str, str]] = lambda _: {}
    undone: bool = True  # the alert's subject says UNDONE (else: our tags changed)


def _delete_deny(session: Session, account: MotoAccount, _: dict[str, str]) -> Call:
    session.iam.delete_user_policy(UserName=account.user, PolicyName=CONTAINMENT_POLICY_NAME)
    return "DeleteUserPolicy", {"userName": account.user, "policyName": CONTAINMENT_POLICY_NAME}, None


def _deny_back(account: MotoAccount, _: dict[str, str], steps: dict[str, dict[str, str]]) -> None:
    assert CONTAINMENT_POLICY_NAME in account.inline_policies()
    assert steps["deny-policy"]["detail"].startswith("UNDONE")


def _key_on(session: Session, account: MotoAccount, _: dict[str, str]) -> Call:
    session.iam.update_access_key(UserName=account.user, AccessKeyId=account.key, Status="Active")
    return "UpdateAccessKey", {"userName": account.user, "accessKeyId": account.key, "status": "Active"}, None


def _key_off(account: MotoAccount, _: dict[str, str], steps: dict[str, dict[str, str]]) -> None:
    assert account.key_status()[account.key] == "Inactive"
    assert steps["deactivate-keys"]["detail"].startswith("UNDONE")


def _new_key(session: Session, account: MotoAccount, _: dict[str, str]) -> Call:
    session.iam.delete_access_key(UserName=account.user, AccessKeyId=account.other_key)  # IAM allows two
    created = session.iam.create_access_key(UserName=account.user)["AccessKey"]
    response = {
        "accessKey": {"userName": account.user, "accessKeyId": created["AccessKeyId"], "status": "Active"}
    }
    return "CreateAccessKey", {"userName": account.user}, response


def _every_key_off(account: MotoAccount, _: dict[str, str], steps: dict[str, dict[str, str]]) -> None:
    assert set(account.key_status().values()) == {"Inactive"}
    assert steps["deactivate-keys"]["status"] == "done"


def _bedrock_key(account: MotoAccount) -> dict[str, str]:
    created = account.iam.create_service_specific_credential(
        UserName=account.user, ServiceName="bedrock.amazonaws.com"
    )["ServiceSpecificCredential"]
    return {"id": created["ServiceSpecificCredentialId"]}


def _bedrock_key_on(session: Session, account: MotoAccount, made: dict[str, str]) -> Call:
    session.iam.update_service_specific_credential(
        UserName=account.user, ServiceSpecificCredentialId=made["id"], Status="Active"
    )
    request = {"userName": account.user, "serviceSpecificCredentialId": made["id"], "status": "Active"}
    return "UpdateServiceSpecificCredential", request, None


def _bedrock_key_off(account: MotoAccount, made: dict[str, str], steps: dict[str, dict[str, str]]) -> None:
    (listed,) = account.iam.list_service_specific_credentials(UserName=account.user)[
        "ServiceSpecificCredentials"
    ]
    assert listed["Status"] == "Inactive"
    assert made["id"] in steps["deactivate-credentials"]["detail"]


def _ssh_key(account: MotoAccount) -> dict[str, str]:
    _, ssh = certificate_and_ssh_key()
    uploaded = account.iam.upload_ssh_public_key(UserName=account.user, SSHPublicKeyBody=ssh)
    return {"id": uploaded["SSHPublicKey"]["SSHPublicKeyId"]}


def _ssh_key_on(session: Session, account: MotoAccount, made: dict[str, str]) -> Call:
    session.iam.update_ssh_public_key(UserName=account.user, SSHPublicKeyId=made["id"], Status="Active")
    return (
        "UpdateSSHPublicKey",
        {"userName": account.user, "sSHPublicKeyId": made["id"], "status": "Active"},
        None,
    )


def _ssh_key_off(account: MotoAccount, made: dict[str, str], steps: dict[str, dict[str, str]]) -> None:
    assert account.iam.list_ssh_public_keys(UserName=account.user)["SSHPublicKeys"][0]["Status"] == "Inactive"
    assert made["id"] in steps["deactivate-credentials"]["detail"]


def _certificate(account: MotoAccount) -> dict[str, str]:
    pem, _ = certificate_and_ssh_key()
    uploaded = account.iam.upload_signing_certificate(UserName=account.user, CertificateBody=pem)
    return {"id": uploaded["Certificate"]["CertificateId"]}


def _certificate_on(session: Session, account: MotoAccount, made: dict[str, str]) -> Call:
    session.iam.update_signing_certificate(UserName=account.user, CertificateId=made["id"], Status="Active")
    return (
        "UpdateSigningCertificate",
        {"userName": account.user, "certificateId": made["id"], "status": "Active"},
        None,
    )


def _certificate_off(account: MotoAccount, made: dict[str, str], steps: dict[str, dict[str, str]]) -> None:
    assert (
        account.iam.list_signing_certificates(UserName=account.user)["Certificates"][0]["Status"]
        == "Inactive"
    )
    assert made["id"] in steps["deactivate-credentials"]["detail"]


def _password(session: Session, account: MotoAccount, _: dict[str, str]) -> Call:
    session.iam.create_login_profile(UserName=account.user, Password="Correct-Horse-9")
    return "CreateLoginProfile", {"userName": account.user, "passwordResetRequired": False}, None


def _quota_filled(account: MotoAccount) -> dict[str, str]:
    """The holder fills the user's 2,048-character inline quota first: the deny is held by the AWSDenyAll
    boundary (the fallback of issue #11, item 5)."""
    statement = {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::" + "x" * 1900}
    document = json.dumps({"Version": "2012-10-17", "Statement": [statement]})
    account.iam.put_user_policy(UserName=account.user, PolicyName="notes", PolicyDocument=document)
    allow_all = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
    created = account.iam.create_policy(PolicyName="everything", PolicyDocument=json.dumps(allow_all))
    return {"arn": created["Policy"]["Arn"]}


def _boundary(session: Session, account: MotoAccount, made: dict[str, str]) -> Call:
    session.iam.put_user_permissions_boundary(UserName=account.user, PermissionsBoundary=made["arn"])
    return "PutUserPermissionsBoundary", {"userName": account.user, "permissionsBoundary": made["arn"]}, None


def _no_boundary(session: Session, account: MotoAccount, _: dict[str, str]) -> Call:
    session.iam.delete_user_permissions_boundary(UserName=account.user)
    return "DeleteUserPermissionsBoundary", {"userName": account.user}, None


def _deny_all_back(account: MotoAccount, _: dict[str, str], steps: dict[str, dict[str, str]]) -> None:
    boundary = account.iam.get_user(UserName=account.user)["User"].get("PermissionsBoundary", {})
    assert boundary.get("PermissionsBoundaryArn") == "arn:aws:iam::aws:policy/AWSDenyAll"
    assert CONTAINMENT_POLICY_NAME not in account.inline_policies()  # the quota is still full
    assert steps["deny-policy"]["detail"].startswith("UNDONE")


def _untag(session: Session, account: MotoAccount, _: dict[str, str]) -> Call:
    session.iam.untag_user(UserName=account.user, TagKeys=[INCIDENT_TAG, CONTAINED_AT_TAG])
    return "UntagUser", {"userName": account.user, "tagKeys": [INCIDENT_TAG, CONTAINED_AT_TAG]}, None


def _exempt(session: Session, account: MotoAccount, _: dict[str, str]) -> Call:
    session.iam.tag_user(UserName=account.user, Tags=[{"Key": DEFAULT_EXEMPT_TAG, "Value": "true"}])
    return "TagUser", {"userName": account.user, "tags": [{"key": DEFAULT_EXEMPT_TAG, "value": "true"}]}, None


def _still_denied(account: MotoAccount, _: dict[str, str], steps: dict[str, dict[str, str]]) -> None:
    """Nothing IAM shows was undone: the deny still denies what the new way in could do, and IAM was asked."""
    assert CONTAINMENT_POLICY_NAME in account.inline_policies()
    assert set(account.key_status().values()) == {"Inactive"}
    assert "still in place (read from IAM)" in steps["deny-policy"]["detail"]


WATCHED = [
    Watched("delete-deny", _delete_deny, _deny_back),
    Watched("key-active", _key_on, _key_off),
    Watched("new-key", _new_key, _every_key_off),
    Watched("bedrock-key-active", _bedrock_key_on, _bedrock_key_off, _bedrock_key),
    Watched("ssh-key-active", _ssh_key_on, _ssh_key_off, _ssh_key),
    Watched("certificate-active", _certificate_on, _certificate_off, _certificate),
    Watched("console-password", _password, _still_denied),
    Watched("boundary-replaced", _boundary, _deny_all_back, _quota_filled),
    Watched("boundary-removed", _no_boundary, _deny_all_back, _quota_filled),
    Watched("our-tags-removed", _untag, _still_denied, undone=False),
    Watched("exempt-tag-set", _exempt, _still_denied, undone=False),
]


@pytest.mark.parametrize("case", WATCHED, ids=[case.name for case in WATCHED])
def test_each_watched_call_on_a_contained_user_is_told_at_once_and_contained_again(
    watched: MotoAccount, case: Watched
) -> None:
    # Given the holder made what it could before the signal, and AWS's quarantine attach was answered
    made = case.before(watched)
    contain(watched)
    # When the holder, from a role session it opened before the containment, makes the call
    session = role_session(watched)
    result = deliver(watched, session.identity, case.call(session, watched, made))
    # Then a human is told at once: who, what, when and from where, as CloudTrail recorded it
    alert, *follow_up = watched.notifications()
    expected = "UNDONE by i-0abc1234" if case.undone else "tags on contained user"
    assert expected in alert["Subject"], alert["Subject"]
    for fact in (session.arn, SESSION_NAME, ATTACKER_IP, "AssumedRole"):
        assert fact in alert["Message"]
    assert result["alert"]["status"] == "done"
    # And the same incident ran again: what IAM showed undone is redone, and the rest was checked
    steps = steps_of(result)
    case.holds(watched, made, steps)
    # And when something had been undone, a follow-up says it was contained again, by whom it was undone
    if any(step["detail"].startswith("UNDONE") for step in steps.values()):
        (again,) = follow_up
        assert again["Subject"].startswith("Leaked AWS access key contained AGAIN")
        assert session.arn in again["Message"]


def test_a_redelivered_undo_is_told_once(watched: MotoAccount) -> None:
    contain(watched)
    session = role_session(watched)
    name, request, response = _delete_deny(session, watched, {})
    event = delivered(
        watched.account_id, record(watched.account_id, session.identity, name, request, response)
    )
    context = context_for(watched.account_id)
    responder.lambda_handler(event, context)
    assert len(watched.notifications()) == 2  # the alert, and "contained AGAIN"
    again = responder.lambda_handler(event, context)  # SQS delivers at least once
    assert again["alert"]["status"] == "skipped"
    assert watched.notifications() == []
    assert CONTAINMENT_POLICY_NAME in watched.inline_policies()


# --- what is not an undo, and what cannot pass for one ------------------------------------------------------


def respond(
    account: MotoAccount, identity: dict[str, Any], call: Call
) -> tuple[dict[str, Any], dict[str, int]]:
    """The batch's answer to one record, with the AWS calls it cost."""
    name, request, response = call
    aws = Aws(region=REGION)
    event = delivered(account.account_id, record(account.account_id, identity, name, request, response))
    answer = batch.respond_to_batch(
        [batch.Delivery("m", event)],
        batch.Responder(account.settings, aws, context_for(account.account_id).invoked_function_arn),
    )
    return answer.results["m"], dict(aws.calls)


def test_the_responders_own_tags_are_not_an_undo_and_cost_no_call(watched: MotoAccount) -> None:
    contain(watched)
    ours = session_of(watched.account_id, RESPONDER_ROLE, "Security-KeyQuarantineResponderFunction")
    tags = [{"key": INCIDENT_TAG, "value": "x"}, {"key": CONTAINED_AT_TAG, "value": "2026-12-03T00:00:00Z"}]
    result, calls = respond(watched, ours, ("TagUser", {"userName": watched.user, "tags": tags}, None))
    assert result["status"] == "ignored"
    assert calls == {}
    assert watched.notifications() == []


@pytest.mark.parametrize(
    "disguise",
    ["the-responders-session-name", "a-role-named-like-ours", "an-operator-session-name"],
)
def test_the_holder_cannot_pass_for_the_responder_or_an_operator(watched: MotoAccount, disguise: str) -> None:
    # Given a contained user, and the holder's role session dressed as the pipeline (what it can choose: the
    # session's name, its own role's name and path), but not a session of the pipeline's roles (AWS writes that)
    contain(watched)
    if disguise == "the-responders-session-name":
        session = role_session(watched, session="Security-KeyQuarantineResponderFunction")
    elif disguise == "a-role-named-like-ours":  # the name is ours (taken), under another path
        session = role_session(watched, role=RESPONDER_ROLE.rsplit("/", 1)[-1], path="/evil/")
    else:
        session = role_session(watched, role="secops-operator", path="/evil/", session="alice")
    # When it removes the deny
    result = deliver(watched, session.identity, _delete_deny(session, watched, {}))
    # Then it is an undo: told, and contained again
    assert result["alert"]["status"] == "done"
    assert CONTAINMENT_POLICY_NAME in watched.inline_policies()


def test_an_operators_contain_tags_are_theirs_but_its_other_calls_are_watched(watched: MotoAccount) -> None:
    contain(watched)
    operator = session_of(watched.account_id, OPERATOR_ROLE, "alice")
    tags = [{"key": INCIDENT_TAG, "value": "x"}]
    result, _ = respond(watched, operator, ("TagUser", {"userName": watched.user, "tags": tags}, None))
    assert result["status"] == "ignored"
    # the exempt tag is not what contain writes; a deny removed outside a release is an undo whoever does it
    exempt = [{"key": DEFAULT_EXEMPT_TAG, "value": "true"}]
    result, _ = respond(watched, operator, ("TagUser", {"userName": watched.user, "tags": exempt}, None))
    assert result["alert"]["status"] == "done"


def test_a_release_is_not_an_undo(watched: MotoAccount) -> None:
    # Given a contained user that an operator releases (release closes its incidents in the ledger)
    contain(watched)
    aws = Aws(region=REGION)
    release_user(aws, watched.user, ledger=Ledger(aws, watched.table))
    # When the release's own calls reach the watch
    operator = session_of(watched.account_id, OPERATOR_ROLE, "alice")
    deleted = ("DeleteUserPolicy", {"userName": watched.user, "policyName": CONTAINMENT_POLICY_NAME}, None)
    untagged = ("UntagUser", {"userName": watched.user, "tagKeys": [INCIDENT_TAG, CONTAINED_AT_TAG]}, None)
    answers = [respond(watched, operator, call)[0] for call in (deleted, untagged)]
    # Then nobody is alerted and the release stands
    assert [answer["status"] for answer in answers] == ["ignored", "ignored"]
    assert "released" in answers[0]["reason"]
    assert watched.notifications() == []
    assert CONTAINMENT_POLICY_NAME not in watched.inline_policies()


def test_a_release_the_ledger_never_heard_of_is_an_undo(watched: MotoAccount) -> None:
    # A release without the ledger leaves the incidents open: its calls look like anyone's, and are answered so
    contain(watched)
    release_user(Aws(region=REGION), watched.user)
    operator = session_of(watched.account_id, OPERATOR_ROLE, "alice")
    result = deliver(
        watched,
        operator,
        ("DeleteUserPolicy", {"userName": watched.user, "policyName": CONTAINMENT_POLICY_NAME}, None),
    )
    assert result["alert"]["status"] == "done"
    assert CONTAINMENT_POLICY_NAME in watched.inline_policies()


def test_a_new_key_for_a_user_never_contained_costs_one_ledger_read(watched: MotoAccount) -> None:
    admin = session_of(watched.account_id, "arn:aws:iam::123456789012:role/admin", "bob")
    result, calls = respond(watched, admin, ("CreateAccessKey", {"userName": watched.bystander}, None))
    assert result["status"] == "ignored"
    assert "not contained by the responder" in result["reason"]
    assert calls == {"dynamodb:GetItem": 1}
    assert watched.key_status(watched.bystander) == {watched.bystander_key: "Active"}


def test_a_re_created_user_of_the_same_name_is_not_contained_again(watched: MotoAccount) -> None:
    # Given a contained user the owner deleted and created again under the same name
    contain(watched)
    iam = watched.iam
    iam.delete_user_policy(UserName=watched.user, PolicyName=CONTAINMENT_POLICY_NAME)
    for key in watched.key_status():
        iam.delete_access_key(UserName=watched.user, AccessKeyId=key)
    iam.delete_user(UserName=watched.user)
    iam.create_user(UserName=watched.user)
    new_key = iam.create_access_key(UserName=watched.user)["AccessKey"]["AccessKeyId"]
    # When the owner's new key reaches the watch
    admin = session_of(watched.account_id, "arn:aws:iam::123456789012:role/admin", "owner")
    result, _ = respond(watched, admin, ("CreateAccessKey", {"userName": watched.user}, None))
    # Then the new principal is left alone
    assert result["status"] == "ignored"
    assert "re-created" in result["reason"]
    assert watched.key_status() == {new_key: "Active"}


def test_a_new_key_made_by_a_users_own_key_is_an_undo_and_a_persistence_call() -> None:
    detail = record(
        "123456789012",
        {
            "type": "IAMUser",
            "userName": "dev",
            "accountId": "123456789012",
            "accessKeyId": "AKIAIOSFODNN7EXAMPLE",
            "arn": "arn:aws:iam::123456789012:user/dev",
            "principalId": "AIDAEXAMPLE",
        },
        "CreateAccessKey",
        {"userName": "dev"},
        {"accessKey": {"userName": "dev", "accessKeyId": "AKIAEXAMPLENEWKEY001", "status": "Active"}},
    )
    undo, abuse = parse_triggers(delivered("123456789012", detail))
    assert (undo.family, undo.user_name) == (TriggerFamily.UNDO, "dev")
    assert (abuse.family, abuse.category) == (TriggerFamily.ABUSE, "persistence")


# --- the daily sweep, when no watch event came --------------------------------------------------------------


def test_the_daily_sweep_finds_an_undone_containment_contains_again_and_says_who(
    account: MotoAccount,
) -> None:
    # Given a user contained on a GuardDuty finding (AWS attached no quarantine policy, so the sweep's check for
    # a missed quarantine cannot see it)
    aws = account.aws()
    finding = Trigger(
        TriggerFamily.GUARDDUTY,
        account.account_id,
        account.user,
        account.key,
        "GuardDuty finding",
        "f-1",
        from_aws=True,
    )
    run_playbook(finding, account.settings, aws, account.ledger(aws))
    assert CONTAINMENT_POLICY_NAME in account.inline_policies()
    account.notifications()
    # When the holder's role session deletes the deny and turns the key back on, and no watch event came
    # (the rule disabled, the event lost); CloudTrail recorded both calls
    session = role_session(account)
    calls = [_delete_deny(session, account, {}), _key_on(session, account, {})]
    at = datetime.now(UTC) + timedelta(minutes=1)
    records = [record(account.account_id, session.identity, *call, at=at) for call in calls]
    replay = CloudTrailReplay(records, lambda: at + timedelta(minutes=10))
    summary = sweep(account.settings, replay.aws(), account=account.account_id)
    # Then the sweep contained the user again, through the same incident, and says it was undone, and by whom
    assert account.key_status()[account.key] == "Inactive"
    assert CONTAINMENT_POLICY_NAME in account.inline_policies()
    (again,) = summary["recontained"]
    steps = {step["name"]: step for step in again["steps"]}
    assert steps["deny-policy"]["detail"].startswith("UNDONE")
    assert steps["deactivate-keys"]["detail"].startswith("UNDONE")
    who = steps["undone-by"]["detail"]
    for fact in (session.arn, ATTACKER_IP, "deleted the deny policy", f"set access key {account.key} Active"):
        assert fact in who
    # And a human hears it: the incident's follow-up, and the sweep's summary
    subjects = [n["Subject"] for n in account.notifications()]
    assert any(s.startswith("Leaked AWS access key contained AGAIN") for s in subjects), subjects
    assert any(s.startswith("key-quarantine daily sweep") for s in subjects), subjects


def test_the_daily_sweep_leaves_a_containment_that_holds_at_two_reads(account: MotoAccount) -> None:
    aws = account.aws()
    run_playbook(
        Trigger(TriggerFamily.GUARDDUTY, account.account_id, account.user, account.key, "GuardDuty", "f-1"),
        account.settings,
        aws,
        account.ledger(aws),
    )
    swept = Aws(region=REGION)
    summary = sweep(account.settings, swept, account=account.account_id)
    assert summary["recontained"] == []
    assert swept.calls["iam:ListAccessKeys"] == 1
    assert swept.calls["iam:GetUserPolicy"] == 1
    assert swept.calls["dynamodb:Scan"] == 1
    assert "iam:PutUserPolicy" not in swept.calls
