"""Containment the key's holder cannot escape (issue #11): each test plays the attacker first, then checks the fix."""

from __future__ import annotations

import dataclasses
import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from moto import mock_aws
from moto.core import set_initial_no_auth_action_count

from key_quarantine.cli.main import main
from key_quarantine.handlers import batch, responder
from key_quarantine.handlers.aws import Aws
from key_quarantine.handlers.incident_report import render
from key_quarantine.handlers.playbook import Incident, Outcome, run_playbook
from key_quarantine.handlers.release import release_user
from key_quarantine.handlers.settings import (
    CONTAINMENT_POLICY_NAME,
    Containment,
    Exemption,
    Settings,
    SettingsError,
)
from key_quarantine.handlers.steps.deactivate_credentials import CredentialsError, deactivate_credentials
from key_quarantine.handlers.steps.deny_policy import containment_policy, quota_full
from key_quarantine.handlers.triggers import TriggerFamily, manual_trigger
from tests.handlers.conftest import REGION, MotoAccount
from tests.handlers.faults import Fault, Injector
from tests.handlers.test_policy_effect import ALLOW_ALL, outcome_of, session_for
from tests.handlers.test_responder_wiring import context_for, quarantine_event


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


def answer_leak(account: MotoAccount) -> Outcome:
    """The leak of the account's key answered with the ledger, as the responder and ``contain`` answer it."""
    aws = account.aws()
    return run_playbook(
        manual_trigger(account.account_id, account.user, account.key),
        account.settings,
        aws,
        account.ledger(aws),
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


# --- 3. a second key, and every other credential ----------------------------------------------------------


def certificate_and_ssh_key() -> tuple[str, str]:
    """A self-signed X.509 certificate and an OpenSSH public key, as the holder would upload them."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "holder")])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    ssh = key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    return certificate.public_bytes(serialization.Encoding.PEM).decode(), ssh.decode()


def test_every_credential_the_holder_added_before_the_signal_is_turned_off(account: MotoAccount) -> None:
    # Given the holder of the leaked key K1 made itself a second key, a Bedrock API key, an SSH key for
    # CodeCommit and a signing certificate before any signal (all self-service IAM calls)
    attacker = as_holder_of(account, account.user)
    (k2,) = set(account.key_status()) - {account.key}
    bedrock = attacker.create_service_specific_credential(
        UserName=account.user, ServiceName="bedrock.amazonaws.com"
    )["ServiceSpecificCredential"]["ServiceSpecificCredentialId"]
    pem, ssh = certificate_and_ssh_key()
    certificate = attacker.upload_signing_certificate(UserName=account.user, CertificateBody=pem)
    ssh_key = attacker.upload_ssh_public_key(UserName=account.user, SSHPublicKeyBody=ssh)
    # When AWS names K1 only
    outcome = answer_leak(account)
    # Then every credential of the user is off, not just K1
    iam = account.iam
    assert account.key_status() == {account.key: "Inactive", k2: "Inactive"}
    (listed,) = iam.list_service_specific_credentials(UserName=account.user)["ServiceSpecificCredentials"]
    assert listed["Status"] == "Inactive"
    assert iam.list_signing_certificates(UserName=account.user)["Certificates"][0]["Status"] == "Inactive"
    assert iam.list_ssh_public_keys(UserName=account.user)["SSHPublicKeys"][0]["Status"] == "Inactive"
    assert not outcome.failed
    # And the notice lists each, before and after
    (message,) = account.notifications()
    body = message["Message"]
    assert body.startswith("Contained: ")
    assert f"{account.key} (named)" in body
    assert k2 in body
    for credential_id in (
        bedrock,
        certificate["Certificate"]["CertificateId"],
        ssh_key["SSHPublicKey"]["SSHPublicKeyId"],
    ):
        assert f"{credential_id} Active -> Inactive" in body


def test_release_turns_back_on_only_the_key_the_signal_named(account: MotoAccount) -> None:
    # Given an incident that found K1 (named) and the holder's K2 active, and turned both off
    as_holder_of(account, account.user)
    (k2,) = set(account.key_status()) - {account.key}
    answer_leak(account)
    # When the operator releases with --reactivate
    aws = account.aws()
    steps = {s.name: s for s in release_user(aws, account.user, reactivate=True, ledger=account.ledger(aws))}
    # Then K1 is back, the holder's K2 stays off, and the operator is told why
    assert account.key_status() == {account.key: "Active", k2: "Inactive"}
    assert (
        f"kept inactive (not found active and named by a signal; name one with --reactivate-key): {k2}"
        in (steps["reactivate-keys"].detail)
    )
    # And only naming K2 turns it on
    release_user(aws, account.user, reactivate_keys=(k2,))
    assert account.key_status()[k2] == "Active"


def stubbed_iam() -> tuple[Incident, Any]:
    """An incident and its own IAM client (real botocore), to stub with the calls moto lacks."""
    aws = Aws.with_credentials("AKIAEXAMPLE", "secret", region=REGION)
    user = "BedrockAPIKey-x"
    incident = Incident(
        trigger=manual_trigger("123456789012", user, None), settings=Settings(), aws=aws, user_name=user
    )
    return incident, aws.iam


def test_service_specific_credentials_are_deactivated_with_the_calls_iam_documents() -> None:
    # Given a Bedrock API key user with one active and one inactive long-term API key (real IAM shapes)
    incident, iam = stubbed_iam()
    user, created = "BedrockAPIKey-x", datetime(2026, 12, 1, tzinfo=UTC)
    listed = [
        {
            "UserName": user,
            "Status": status,
            "ServiceSpecificCredentialId": "ACCA" + str(n) * 16,
            "CreateDate": created,
            "ServiceName": "bedrock.amazonaws.com",
        }
        for n, status in ((1, "Active"), (2, "Inactive"))
    ]
    with Stubber(iam) as stub:
        stub.add_response(
            "list_service_specific_credentials", {"ServiceSpecificCredentials": listed}, {"UserName": user}
        )
        stub.add_response(
            "update_service_specific_credential",
            {},
            {"UserName": user, "ServiceSpecificCredentialId": "ACCA" + "1" * 16, "Status": "Inactive"},
        )
        stub.add_response(
            "list_ssh_public_keys", {"SSHPublicKeys": [], "IsTruncated": False}, {"UserName": user}
        )
        stub.add_response(
            "list_signing_certificates", {"Certificates": [], "IsTruncated": False}, {"UserName": user}
        )
        # When the step runs
        detail = deactivate_credentials(incident)
        # Then exactly the active one was updated, and the detail says so
        stub.assert_no_pending_responses()
    assert detail == f"service-specific credential ACCA{'1' * 16} Active -> Inactive"


def test_a_kind_that_cannot_be_listed_fails_the_step_but_not_the_others() -> None:
    incident, iam = stubbed_iam()
    user = "BedrockAPIKey-x"
    with Stubber(iam) as stub:
        stub.add_client_error("list_service_specific_credentials", "AccessDenied", http_status_code=403)
        stub.add_response(
            "list_ssh_public_keys",
            {
                "SSHPublicKeys": [
                    {
                        "UserName": user,
                        "SSHPublicKeyId": "APKA" + "2" * 16,
                        "Status": "Active",
                        "UploadDate": datetime(2026, 12, 1, tzinfo=UTC),
                    }
                ],
                "IsTruncated": False,
            },
            {"UserName": user},
        )
        stub.add_response(
            "update_ssh_public_key",
            {},
            {"UserName": user, "SSHPublicKeyId": "APKA" + "2" * 16, "Status": "Inactive"},
        )
        stub.add_response(
            "list_signing_certificates", {"Certificates": [], "IsTruncated": False}, {"UserName": user}
        )
        with pytest.raises(
            CredentialsError, match="NOT all deactivated: service-specific credentials: ClientError"
        ):
            deactivate_credentials(incident)
        stub.assert_no_pending_responses()


# --- 10. the notice tells what happened -------------------------------------------------------------------


def test_a_deny_that_cannot_be_written_is_the_notice_first_line(account: MotoAccount) -> None:
    # Given IAM refuses the deny policy with AccessDenied (not the quota the holder can fill: no fallback)
    aws = account.aws()
    Injector(aws, "iam", "PutUserPolicy", Fault.ACCESS_DENIED).install()
    # When the leak is answered
    outcome = run_playbook(
        manual_trigger(account.account_id, account.user, account.key), account.settings, aws
    )
    # Then the first line says NOT CONTAINED and why, and what did hold
    (message,) = account.notifications()
    first = message["Message"].splitlines()[0]
    assert message["Subject"].startswith("Leaked AWS access key NOT CONTAINED")
    assert first.startswith("NOT CONTAINED: deny-policy failed (ClientError")
    assert "AccessDenied" in first
    assert f"{account.key} (named)" in first.split("done: deactivated ")[1]
    assert outcome.failed


def test_a_containment_after_a_notify_only_one_sends_a_follow_up(account: MotoAccount) -> None:
    # Given a detection category that notifies only, answered once (one notice: not contained)
    aws = account.aws()
    trigger = dataclasses.replace(
        manual_trigger(account.account_id, account.user, account.key),
        family=TriggerFamily.ABUSE,
        category="llmjacking",
        reason="Bedrock calls",
    )
    run_playbook(trigger, account.settings, aws, account.ledger(aws))
    # When the same incident is then answered with containment (the category opted in by a later signal)
    contain = dataclasses.replace(account.settings, contain_categories=frozenset({"llmjacking"}))
    run_playbook(trigger, contain, aws, account.ledger(aws))
    # And delivered again
    run_playbook(trigger, contain, aws, account.ledger(aws))
    # Then two notices, the last one matching IAM
    first, follow_up = account.notifications()
    assert "not contained" in first["Subject"]
    assert follow_up["Subject"].startswith("Leaked AWS access key contained")
    assert account.key_status()[account.key] == "Inactive"


# --- 6. undo after containment ----------------------------------------------------------------------------


def undo_containment(account: MotoAccount) -> None:
    """What the holder does from a role session opened before containment: delete our deny, key back on."""
    account.iam.delete_user_policy(UserName=account.user, PolicyName=CONTAINMENT_POLICY_NAME)
    account.iam.update_access_key(UserName=account.user, AccessKeyId=account.key, Status="Active")


def test_a_repeat_signal_after_an_undo_re_contains_and_says_it_was_undone(wired: MotoAccount) -> None:
    # Given AWS's quarantine attach was answered: contained, finished in the ledger and in this environment's memo
    context = context_for(wired.account_id)
    responder.lambda_handler(quarantine_event(wired, wired.user), context)
    assert wired.key_status()[wired.key] == "Inactive"
    # When the holder undoes it and the same signal arrives again
    undo_containment(wired)
    result = responder.lambda_handler(quarantine_event(wired, wired.user), context)
    # Then the "already finished" was checked against IAM, not believed: contained again
    assert wired.key_status()[wired.key] == "Inactive"
    assert CONTAINMENT_POLICY_NAME in wired.inline_policies()
    steps = {s["name"]: s for s in result["steps"]}
    assert steps["deactivate-keys"]["detail"].startswith("UNDONE")
    assert steps["deny-policy"]["detail"].startswith("UNDONE")
    # And a human hears it: a second notice that says so
    _first, again = wired.notifications()
    assert again["Subject"].startswith("Leaked AWS access key contained AGAIN")
    assert "UNDONE" in again["Message"]


def test_a_repeat_signal_with_the_containment_intact_costs_two_reads_and_changes_nothing(
    wired: MotoAccount,
) -> None:
    context = context_for(wired.account_id)
    responder.lambda_handler(quarantine_event(wired, wired.user), context)
    aws = Aws(region=REGION)
    result = batch.respond_to_batch(
        [batch.Delivery("m", quarantine_event(wired, wired.user))],
        batch.Responder(wired.settings, aws, context.invoked_function_arn, memo=responder.FINISHED),
    ).results["m"]
    assert result["steps"][0]["name"] == "all"
    assert dict(aws.calls) == {"iam:ListAccessKeys": 1, "iam:GetUserPolicy": 1}
    assert len(wired.notifications()) == 1


def test_the_operators_second_contain_redoes_an_undone_containment(account: MotoAccount) -> None:
    aws = account.aws()
    trigger = manual_trigger(account.account_id, account.user, None)
    run_playbook(trigger, account.settings, aws, account.ledger(aws))
    undo_containment(account)
    outcome = run_playbook(trigger, account.settings, aws, account.ledger(aws))
    assert account.key_status()[account.key] == "Inactive"
    assert CONTAINMENT_POLICY_NAME in account.inline_policies()
    assert steps_of(outcome)["deny-policy"][1].startswith("UNDONE")


# --- 7. same name, new user -------------------------------------------------------------------------------


def test_a_re_created_user_of_the_same_name_is_a_new_incident(wired: MotoAccount) -> None:
    # Given the user was contained (AWS's quarantine attach names the user, not a key) and the incident finished
    context = context_for(wired.account_id)
    first = responder.lambda_handler(quarantine_event(wired, wired.user), context)
    # When the owner deletes the user and re-creates it with the same name, and its new key leaks
    iam = wired.iam
    for key in iam.list_access_keys(UserName=wired.user)["AccessKeyMetadata"]:
        iam.delete_access_key(UserName=wired.user, AccessKeyId=key["AccessKeyId"])
    for name in iam.list_user_policies(UserName=wired.user)["PolicyNames"]:
        iam.delete_user_policy(UserName=wired.user, PolicyName=name)
    iam.delete_user(UserName=wired.user)
    iam.create_user(UserName=wired.user)
    new_key = iam.create_access_key(UserName=wired.user)["AccessKey"]["AccessKeyId"]
    second = responder.lambda_handler(quarantine_event(wired, wired.user), context)
    # Then the new user is contained, as a new incident, and the old record is kept
    assert wired.key_status() == {new_key: "Inactive"}
    assert CONTAINMENT_POLICY_NAME in wired.inline_policies()
    assert {s["name"]: s["status"] for s in second["steps"]}["deactivate-keys"] == "done"
    items = boto3.client("dynamodb", region_name=REGION).scan(TableName=wired.table)["Items"]
    ids = {item["incident_id"]["S"] for item in items}
    assert first["incident_id"] in ids
    assert any(i.startswith(f"{first['incident_id']}#replaced#") for i in ids)
    assert len(wired.notifications()) == 2


def test_aws_quarantining_a_bedrock_api_key_user_turns_its_api_key_off(wired: MotoAccount) -> None:
    """A Bedrock long-term API key is a service-specific credential of a ``BedrockAPIKey-*`` user (FACTS.md): the
    quarantine AWS attaches to that user leaves the API key working, and the user has no access key to turn off."""
    # Given a Bedrock API key (its user holds no access key) whose holder calls models with it
    user = "BedrockAPIKey-k3q9"
    wired.iam.create_user(UserName=user)
    api_key = wired.iam.create_service_specific_credential(
        UserName=user, ServiceName="bedrock.amazonaws.com"
    )["ServiceSpecificCredential"]["ServiceSpecificCredentialId"]
    # When AWS's quarantine attach on that user reaches the deployed responder
    result = responder.lambda_handler(quarantine_event(wired, user), context_for(wired.account_id))
    # Then the API key itself is off, the deny is on the user, and the notice names the API key
    (listed,) = wired.iam.list_service_specific_credentials(UserName=user)["ServiceSpecificCredentials"]
    assert listed["Status"] == "Inactive"
    assert CONTAINMENT_POLICY_NAME in wired.iam.list_user_policies(UserName=user)["PolicyNames"]
    assert {s["name"]: s["status"] for s in result["steps"]}["deactivate-credentials"] == "done"
    (message,) = wired.notifications()
    assert message["Message"].startswith("Contained: ")
    assert f"{api_key} Active -> Inactive" in message["Message"]


# --- 5. the deny cannot be written (the holder filled the user's inline-policy quota) ----------------------

DENY_ALL = "arn:aws:iam::aws:policy/AWSDenyAll"
INLINE_QUOTA = 2048  # characters of all a user's inline policies together, whitespace not counted


def filler_policy(size: int) -> str:
    """A harmless inline policy of exactly ``size`` characters (whitespace-free), as the holder would write."""
    document: dict[str, Any] = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "sts:GetCallerIdentity", "Resource": "*", "Sid": ""}],
    }
    empty = len(json.dumps(document, separators=(",", ":")))
    document["Statement"][0]["Sid"] = "F" * (size - empty)
    return json.dumps(document, separators=(",", ":"))


def fill_inline_quota(iam: Any, user: str, room: int = 40) -> str:
    """What the holder does first: with its own key, fill the user's inline quota but for ``room`` characters,
    less than any deny document needs. Returns the filler it wrote."""
    names = iam.list_user_policies(UserName=user)["PolicyNames"]
    documents = [
        json.dumps(iam.get_user_policy(UserName=user, PolicyName=n)["PolicyDocument"]) for n in names
    ]
    used = sum(len(re.sub(r"\s", "", document)) for document in documents)
    filler = filler_policy(INLINE_QUOTA - used - room)
    iam.put_user_policy(UserName=user, PolicyName="cache", PolicyDocument=filler)
    return filler


def boundary_on(account: MotoAccount, user: str | None = None) -> str | None:
    found = account.iam.get_user(UserName=user or account.user)["User"].get("PermissionsBoundary") or {}
    return found.get("PermissionsBoundaryArn")


def user_tags(account: MotoAccount) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in account.iam.list_user_tags(UserName=account.user)["Tags"]}


def ledger_boundary_records(account: MotoAccount) -> list[str]:
    items = boto3.client("dynamodb", region_name=REGION).scan(TableName=account.table)["Items"]
    return [item["boundary_replaced"]["M"]["arn"]["S"] for item in items if "boundary_replaced" in item]


def owner_boundary(account: MotoAccount, name: str = "org-boundary") -> str:
    """A boundary of the account's own (customer managed), as an owner sets one."""
    document = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
    arn: str = account.iam.create_policy(PolicyName=name, PolicyDocument=json.dumps(document))["Policy"][
        "Arn"
    ]
    return arn


def test_moto_now_refuses_what_iam_refuses_past_the_users_inline_quota(account: MotoAccount) -> None:
    # Given the quota filled but for 40 characters, When our deny (about 100) is written, Then IAM says LimitExceeded
    fill_inline_quota(account.iam, account.user)
    deny = json.dumps(containment_policy(Containment.DENY_ALL, datetime.now(UTC)))
    with pytest.raises(ClientError) as refused:
        account.iam.put_user_policy(
            UserName=account.user, PolicyName=CONTAINMENT_POLICY_NAME, PolicyDocument=deny
        )
    assert refused.value.response["Error"]["Code"] == "LimitExceeded"
    # while replacing the holder's own policy by a same-size one stays allowed (IAM counts the user's total)
    account.iam.put_user_policy(UserName=account.user, PolicyName="cache", PolicyDocument=filler_policy(1900))


def test_a_full_inline_quota_is_answered_with_the_deny_all_boundary(account: MotoAccount) -> None:
    # Given the key's holder filled the user's inline-policy quota with its own key before the signal
    attacker = as_holder_of(account, account.user)
    fill_inline_quota(attacker, account.user)
    # When the leak is answered
    outcome = answer_leak(account)
    # Then AWS's AWSDenyAll holds the user as its permissions boundary, and the step says which deny held and why
    assert boundary_on(account) == DENY_ALL
    assert CONTAINMENT_POLICY_NAME not in account.inline_policies()
    status, detail = steps_of(outcome)["deny-policy"]
    assert status == "done"
    assert detail.startswith(
        "deny held by permissions boundary AWSDenyAll (inline policy quota full: LimitExceeded)"
    )
    assert outcome.contained
    assert not outcome.failed
    # and that there was no boundary before, in the ledger and on the user (for release)
    assert ledger_boundary_records(account) == ["none"]
    assert user_tags(account)["key-quarantine:boundary-replaced"] == "none"
    # And the notice's first line is the truth: contained, by the boundary
    (message,) = account.notifications()
    assert message["Subject"].startswith("Leaked AWS access key contained:")
    first = message["Message"].splitlines()[0]
    assert first.startswith("Contained: ")
    assert "deny held by permissions boundary AWSDenyAll (inline policy quota full: LimitExceeded)" in first
    # and the incident page says how to undo it: release, which puts back what the boundary replaced
    (evidence,) = account.evidence_objects()
    assert (
        "release --user leaked-deployer (puts back the permissions boundary AWSDenyAll replaced)"
        in render(evidence)
    )


def test_an_error_the_holder_cannot_cause_does_not_replace_the_users_boundary(account: MotoAccount) -> None:
    # Given IAM refuses our deny for a reason that is not the quota (AccessDenied)
    aws = account.aws()
    Injector(aws, "iam", "PutUserPolicy", Fault.ACCESS_DENIED).install()
    outcome = run_playbook(
        manual_trigger(account.account_id, account.user, account.key), account.settings, aws
    )
    # Then the step fails as before and the user's boundary is left alone
    assert steps_of(outcome)["deny-policy"][0] == "failed"
    assert boundary_on(account) is None


@pytest.mark.parametrize(
    ("code", "message", "expected"),
    [
        ("LimitExceeded", "Maximum policy size of 2048 bytes exceeded for user u", True),
        ("MalformedPolicyDocument", "Policy document size exceeds the quota", True),
        ("MalformedPolicyDocument", "Syntax errors in policy.", False),  # not something the holder did
        ("AccessDenied", "not authorized", False),
        ("Throttling", "Rate exceeded", False),
    ],
)
def test_only_the_quota_the_holder_can_fill_turns_to_the_boundary(
    code: str, message: str, *, expected: bool
) -> None:
    error = ClientError({"Error": {"Code": code, "Message": message}}, "PutUserPolicy")
    assert quota_full(error) is expected


def test_a_refused_boundary_on_a_full_quota_says_both_in_the_first_line(account: MotoAccount) -> None:
    # Given a full quota, and IAM refusing the boundary as well (an SCP, say)
    fill_inline_quota(account.iam, account.user)
    aws = account.aws()
    Injector(aws, "iam", "PutUserPermissionsBoundary", Fault.ACCESS_DENIED).install()
    outcome = run_playbook(
        manual_trigger(account.account_id, account.user, account.key), account.settings, aws
    )
    # Then the notice says NOT CONTAINED, why the inline deny failed and that the fallback was refused
    (message,) = account.notifications()
    first = message["Message"].splitlines()[0]
    assert first.startswith(
        "NOT CONTAINED: deny-policy failed (DenyBlockedError: inline policy quota full: LimitExceeded"
    )
    assert "the AWSDenyAll boundary was refused too" in first
    assert "AccessDenied" in first
    assert not outcome.contained


def test_the_boundary_denies_the_holders_key_what_the_full_quota_let_it_keep(aws_credentials: None) -> None:
    """moto's IAM authorization, with the boundary evaluated as IAM does (tests/moto_user_boundaries.py)."""
    results: dict[str, dict[str, str]] = {}
    self_service = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": [
                    "iam:ListUserPolicies",
                    "iam:GetUserPolicy",
                    "iam:PutUserPolicy",
                    "iam:DeleteUserPermissionsBoundary",
                    "s3:ListAllMyBuckets",
                ],
                "Resource": "*",
            }
        ],
    }

    @set_initial_no_auth_action_count(6)  # set-up calls run unauthenticated; everything after is checked
    @mock_aws
    def scenario() -> None:
        iam = boto3.client("iam", region_name=REGION)
        iam.create_user(UserName="responder")
        iam.put_user_policy(UserName="responder", PolicyName="all", PolicyDocument=json.dumps(ALLOW_ALL))
        responder_key = iam.create_access_key(UserName="responder")["AccessKey"]
        iam.create_user(UserName="leaked")
        iam.put_user_policy(UserName="leaked", PolicyName="app", PolicyDocument=json.dumps(self_service))
        leaked = iam.create_access_key(UserName="leaked")["AccessKey"]
        holder = session_for(leaked)
        # Given the holder fills the quota with its own key, and its key still works
        filler = fill_inline_quota(holder.client("iam"), "leaked")
        results["before"] = holder_attempts(holder, filler)
        # When the responder (another principal) contains the user
        account = holder.client("sts").get_caller_identity()["Account"]
        as_responder = Aws.with_credentials(responder_key["AccessKeyId"], responder_key["SecretAccessKey"])
        run_playbook(manual_trigger(account, "leaked", leaked["AccessKeyId"]), Settings(), as_responder)
        # Then every call of the key is denied, freeing itself of the boundary included
        results["after"] = holder_attempts(holder, filler)

    scenario()
    assert set(results["before"].values()) == {"allowed"}
    assert results["after"] == dict.fromkeys(results["before"], "AccessDenied")


def holder_attempts(holder: boto3.Session, filler: str) -> dict[str, str]:
    """What the holder tries: read data, rewrite its own inline policy (the same filler: the quota stays full),
    take the boundary off."""
    iam = holder.client("iam")
    calls = {
        "s3:ListAllMyBuckets": lambda: holder.client("s3").list_buckets(),
        "iam:PutUserPolicy": lambda: iam.put_user_policy(
            UserName="leaked", PolicyName="cache", PolicyDocument=filler
        ),
        "iam:DeleteUserPermissionsBoundary": lambda: iam.delete_user_permissions_boundary(UserName="leaked"),
    }
    return {action: outcome_of(call).split(":")[0] for action, call in calls.items()}


def test_a_repeat_signal_with_the_boundary_holding_costs_three_reads_and_changes_nothing(
    wired: MotoAccount,
) -> None:
    # Given the quota was full and the incident finished contained by the boundary
    fill_inline_quota(wired.iam, wired.user)
    context = context_for(wired.account_id)
    responder.lambda_handler(quarantine_event(wired, wired.user), context)
    assert boundary_on(wired) == DENY_ALL
    # When the same signal is delivered again
    aws = Aws(region=REGION)
    result = batch.respond_to_batch(
        [batch.Delivery("m", quarantine_event(wired, wired.user))],
        batch.Responder(wired.settings, aws, context.invoked_function_arn, memo=responder.FINISHED),
    ).results["m"]
    # Then IAM is asked (keys, our inline policy: absent, the user's boundary: ours) and nothing is written
    assert result["steps"][0]["name"] == "all"
    assert dict(aws.calls) == {"iam:ListAccessKeys": 1, "iam:GetUserPolicy": 1, "iam:GetUser": 1}
    assert len(wired.notifications()) == 1


def test_a_boundary_the_holder_swapped_is_redone_reported_undone_and_the_owners_is_what_release_restores(
    wired: MotoAccount,
) -> None:
    # Given the owner's own boundary on the user, a full quota, and the signal answered by AWSDenyAll
    owners = owner_boundary(wired)
    wired.iam.put_user_permissions_boundary(UserName=wired.user, PermissionsBoundary=owners)
    fill_inline_quota(wired.iam, wired.user)
    context = context_for(wired.account_id)
    first = responder.lambda_handler(quarantine_event(wired, wired.user), context)
    assert (
        f"the boundary it replaced: {owners}"
        in {s["name"]: s for s in first["steps"]}["deny-policy"]["detail"]
    )
    # When the holder, from a role session opened before, swaps our boundary for its own and turns the key back on
    holders = owner_boundary(wired, "holder-boundary")
    wired.iam.put_user_permissions_boundary(UserName=wired.user, PermissionsBoundary=holders)
    wired.iam.update_access_key(UserName=wired.user, AccessKeyId=wired.key, Status="Active")
    again = responder.lambda_handler(quarantine_event(wired, wired.user), context)
    # Then the finish was not believed: AWSDenyAll is back, reported UNDONE, and the human hears it
    assert boundary_on(wired) == DENY_ALL
    deny = {s["name"]: s for s in again["steps"]}["deny-policy"]["detail"]
    assert deny.startswith("UNDONE: ")
    assert "deny held by permissions boundary AWSDenyAll" in deny
    _first, notice = wired.notifications()
    assert notice["Subject"].startswith("Leaked AWS access key contained AGAIN")
    # And the first record stays: the owner's boundary, not the holder's, in the ledger and the tag
    assert ledger_boundary_records(wired) == [owners]
    assert user_tags(wired)["key-quarantine:boundary-replaced"] == owners
    # so that release puts the owner's back
    aws = wired.aws()
    steps = {s.name: s for s in release_user(aws, wired.user, ledger=wired.ledger(aws))}
    assert boundary_on(wired) == owners
    assert (
        steps["restore-boundary"].detail
        == f"restored boundary {owners} in place of AWSDenyAll (recorded in the ledger)"
    )
    assert "key-quarantine:boundary-replaced" not in user_tags(wired)


@pytest.mark.parametrize("had_boundary", [True, False], ids=["owner-boundary", "none"])
def test_release_restores_the_boundary_the_deny_replaced_and_removes_ours(
    account: MotoAccount, *, had_boundary: bool
) -> None:
    # Given a user contained by AWSDenyAll because its inline quota was full
    before = owner_boundary(account) if had_boundary else None
    if before:
        account.iam.put_user_permissions_boundary(UserName=account.user, PermissionsBoundary=before)
    fill_inline_quota(account.iam, account.user)
    answer_leak(account)
    assert boundary_on(account) == DENY_ALL
    # When the operator releases the user
    aws = account.aws()
    steps = {s.name: s for s in release_user(aws, account.user, ledger=account.ledger(aws))}
    # Then the user has what it had before, ours is gone, and so is our record
    assert boundary_on(account) == before
    assert steps["restore-boundary"].status.value == "done"
    assert "recorded in the ledger" in steps["restore-boundary"].detail
    assert not {"key-quarantine:boundary-replaced", "key-quarantine:incident"} & set(user_tags(account))
    assert steps["remove-deny-policy"].status.value == "skipped"  # the inline deny was never written


def test_release_without_a_ledger_reads_the_tag_and_says_whose_word_it_is(account: MotoAccount) -> None:
    owners = owner_boundary(account)
    account.iam.put_user_permissions_boundary(UserName=account.user, PermissionsBoundary=owners)
    fill_inline_quota(account.iam, account.user)
    aws = account.aws()
    run_playbook(manual_trigger(account.account_id, account.user, account.key), account.settings, aws)
    steps = {s.name: s for s in release_user(aws, account.user)}
    assert boundary_on(account) == owners
    assert "which the key's holder could write: check it" in steps["restore-boundary"].detail


def test_release_leaves_alone_a_deny_all_boundary_it_has_no_record_of_putting(account: MotoAccount) -> None:
    # Given the owner itself parked the user behind AWSDenyAll (no incident, no tag)
    account.iam.put_user_permissions_boundary(UserName=account.user, PermissionsBoundary=DENY_ALL)
    aws = account.aws()
    steps = {s.name: s for s in release_user(aws, account.user, ledger=account.ledger(aws))}
    assert boundary_on(account) == DENY_ALL
    assert steps["restore-boundary"].status.value == "skipped"
    assert "left in place" in steps["restore-boundary"].detail


def test_a_holder_that_also_filled_the_users_tags_cannot_stop_the_boundary(account: MotoAccount) -> None:
    # Given the holder filled the inline quota and the user's 50 tags
    attacker = as_holder_of(account, account.user)
    fill_inline_quota(attacker, account.user)
    attacker.tag_user(UserName=account.user, Tags=[{"Key": f"t{i}", "Value": "x"} for i in range(50)])
    owners = owner_boundary(account)
    account.iam.put_user_permissions_boundary(UserName=account.user, PermissionsBoundary=owners)
    # When the leak is answered
    outcome = answer_leak(account)
    # Then the boundary holds all the same, and the record of the one replaced is in the ledger (and the detail)
    assert boundary_on(account) == DENY_ALL
    detail = steps_of(outcome)["deny-policy"][1]
    assert f"the boundary it replaced: {owners} (not tagged on the user: LimitExceeded" in detail
    assert ledger_boundary_records(account) == [owners]
    aws = account.aws()
    release_user(aws, account.user, ledger=account.ledger(aws))
    assert boundary_on(account) == owners
