"""Who the responder may act for in organization mode: membership (cached ListAccounts), reporters, settings."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws

from key_quarantine.handlers.aws import Aws
from key_quarantine.handlers.batch import Delivery, Responder, respond_to_batch
from key_quarantine.handlers.organization import (
    MEMBER_ROLE_NAME,
    Membership,
    MemberUnreachableError,
    RefusedAccountError,
    member_clients,
    session_name,
)
from key_quarantine.handlers.playbook import Incident
from key_quarantine.handlers.settings import Settings, SettingsError
from key_quarantine.handlers.steps.security_hub import asff_finding
from key_quarantine.handlers.triggers import TriggerFamily, manual_trigger, parse_event
from tests.handlers.conftest import REGION
from tests.handlers.test_triggers import sample

CENTRAL_ARN = "arn:aws:lambda:us-east-1:123456789012:function:responder"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def organization(aws_credentials: None) -> Iterator[dict[str, Any]]:
    with mock_aws():
        orgs = boto3.client("organizations", region_name=REGION)
        orgs.create_organization(FeatureSet="ALL")
        member = orgs.create_account(AccountName="m", Email="m@example.com")["CreateAccountStatus"][
            "AccountId"
        ]
        yield {"orgs": orgs, "member": member}


def test_membership_lists_the_organization_once_and_answers_from_the_cache(
    organization: dict[str, Any],
) -> None:
    # Given a membership view over the organization
    aws = Aws(region=REGION)
    clock = Clock()
    membership = Membership(aws, clock=clock)
    # When it is asked about a member, then the same member again, then a stranger within a minute
    answers = [membership.contains(organization["member"]) for _ in range(3)]
    clock.now += 30
    stranger = membership.contains("999999999999")
    # Then one ListAccounts answered all of it
    assert answers == [True, True, True]
    assert stranger is False
    assert aws.calls["organizations:ListAccounts"] == 1


def test_an_unknown_account_refreshes_the_list_at_most_once_a_minute(organization: dict[str, Any]) -> None:
    aws = Aws(region=REGION)
    clock = Clock()
    membership = Membership(aws, clock=clock)
    assert membership.contains(organization["member"])
    # Given an account that joins the organization after the list was taken
    joined = organization["orgs"].create_account(AccountName="n", Email="n@example.com")[
        "CreateAccountStatus"
    ]["AccountId"]
    # When it is asked about within the minute, it is not known yet; after the minute, the list is refreshed
    assert membership.contains(joined) is False
    clock.now += 61
    assert membership.contains(joined) is True
    assert aws.calls["organizations:ListAccounts"] == 2


def test_stale_list_is_refreshed_even_for_known_accounts(organization: dict[str, Any]) -> None:
    aws = Aws(region=REGION)
    clock = Clock()
    membership = Membership(aws, clock=clock)
    membership.contains(organization["member"])
    clock.now += 301
    membership.contains(organization["member"])
    assert aws.calls["organizations:ListAccounts"] == 2


def test_without_organization_mode_another_account_is_refused() -> None:
    trigger = manual_trigger("210987654321", "someone", None)
    with pytest.raises(RefusedAccountError, match="responder runs in 123456789012"):
        member_clients(trigger, CENTRAL_ARN, Settings(), Aws(region=REGION), Membership(Aws(region=REGION)))


def test_own_account_needs_no_role() -> None:
    trigger = manual_trigger("123456789012", "someone", None)
    settings = Settings(member_role_name=MEMBER_ROLE_NAME)
    assert (
        member_clients(trigger, CENTRAL_ARN, settings, Aws(region=REGION), Membership(Aws(region=REGION)))
        is None
    )


@pytest.mark.parametrize(
    ("code", "status"),
    [
        ("AccessDeniedException", 400),  # not (yet) the management account or a delegated administrator
        ("TooManyRequestsException", 400),  # throttled, after botocore's own retries
    ],
)
def test_membership_that_cannot_be_listed_is_retried_never_dropped(
    aws_credentials: None, code: str, status: int
) -> None:
    # Given Organizations failing the responder's ListAccounts (moto lists nothing instead, so it is stubbed)
    trigger = manual_trigger("210987654321", "someone", None)
    settings = Settings(member_role_name=MEMBER_ROLE_NAME)
    aws = Aws(region=REGION)
    with Stubber(aws.client("organizations")) as stub:
        stub.add_client_error("list_accounts", code, "no", http_status_code=status)
        # When the responder checks membership; Then the event fails to be tried again (then dead-lettered)
        with pytest.raises(
            MemberUnreachableError, match=r"cannot list the organization.s accounts.*will retry"
        ):
            member_clients(trigger, CENTRAL_ARN, settings, aws, Membership(aws))


@pytest.mark.parametrize(
    ("code", "status"),
    [
        ("AccessDenied", 403),  # the member stack not deployed, or being redeployed
        ("Throttling", 400),
        ("InternalFailure", 500),
    ],
)
def test_member_role_that_cannot_be_assumed_is_retried_never_dropped(
    organization: dict[str, Any], code: str, status: int
) -> None:
    # Given a member account of the organization whose role STS will not hand out
    trigger = manual_trigger(organization["member"], "someone", None)
    settings = Settings(member_role_name=MEMBER_ROLE_NAME)
    aws = Aws(region=REGION)
    with Stubber(aws.client("sts")) as stub:
        stub.add_client_error("assume_role", code, "no", http_status_code=status)
        # When the responder asks for the member's credentials; Then the event is tried again, naming the role
        with pytest.raises(MemberUnreachableError, match=MEMBER_ROLE_NAME):
            member_clients(trigger, CENTRAL_ARN, settings, aws, Membership(aws))


def test_unreachable_member_hands_back_its_messages_alone(organization: dict[str, Any]) -> None:
    # Given a batch with a leak in this account and one in a member account whose role STS is throttling
    iam = boto3.client("iam", region_name=REGION)
    iam.create_user(UserName="leaky")
    iam.create_access_key(UserName="leaky")
    events = []
    for account in ("123456789012", organization["member"]):
        event = sample("cloudtrail-attach-quarantine.json")
        event["account"] = event["detail"]["recipientAccountId"] = account
        event["detail"]["requestParameters"]["userName"] = "leaky"
        events.append(event)
    aws = Aws(region=REGION)
    responder = Responder(
        Settings(member_role_name=MEMBER_ROLE_NAME), aws, CENTRAL_ARN, membership=Membership(aws)
    )
    with Stubber(aws.client("sts")) as stub:
        stub.add_client_error("assume_role", "Throttling", "slow down", http_status_code=400)
        # When the batch is answered
        result = respond_to_batch(
            [Delivery("own", json.dumps(events[0])), Delivery("member", json.dumps(events[1]))], responder
        )
    # Then only the member's message goes back to the queue (to be retried), and the local leak is contained
    assert result.failed == ["member"]
    assert "will retry" in result.results["member"]["reason"]
    assert iam.list_access_keys(UserName="leaky")["AccessKeyMetadata"][0]["Status"] == "Inactive"


def test_event_remembers_the_account_eventbridge_says_it_came_from() -> None:
    event = sample("health-credentials-exposed.json")
    event["account"] = "111111111111"
    event["detail"]["affectedAccount"] = "222222222222"
    trigger = parse_event(event)
    assert (trigger.account, trigger.reported_by) == ("222222222222", "111111111111")


def test_session_name_names_the_incident_within_the_sts_limit() -> None:
    trigger = manual_trigger("123456789012", "u" * 64, None)
    name = session_name(trigger)
    assert name.startswith(f"key-quarantine.{TriggerFamily.MANUAL.value}.uuu")
    assert len(name) == 64


def test_delegated_admins_setting_must_be_account_ids() -> None:
    assert Settings.from_environment(
        {"KQ_DELEGATED_ADMINS": "111111111111, 222222222222"}
    ).delegated_admins == {
        "111111111111",
        "222222222222",
    }
    with pytest.raises(SettingsError, match="KQ_DELEGATED_ADMINS must hold 12-digit account ids, not mgmt"):
        Settings.from_environment({"KQ_DELEGATED_ADMINS": "mgmt"})


def test_security_hub_finding_for_a_member_is_imported_under_the_responders_product() -> None:
    # Given an incident about a member's key, handled by the security account's responder
    trigger = manual_trigger("210987654321", "someone", None)
    incident = Incident(trigger, Settings(), Aws(region=REGION), responder_account="123456789012")
    incident.user_name = "someone"
    # When its ASFF finding is built; Then the product is the importer's, the account the member's
    finding = asff_finding(incident, REGION)
    assert finding["ProductArn"] == "arn:aws:securityhub:us-east-1:123456789012:product/123456789012/default"
    assert finding["AwsAccountId"] == "210987654321"
    assert finding["Resources"][0]["Id"] == "arn:aws:iam::210987654321:user/someone"


def test_guardduty_finding_naming_another_account_is_believed_only_from_a_delegated_administrator() -> None:
    # Given a GuardDuty finding about account 210987654321, reported by account 333333333333
    event = json.loads((Path(__file__).parent / "events" / "guardduty-iam-user.json").read_text())
    event["account"] = "333333333333"
    event["detail"]["accountId"] = "210987654321"
    trigger = parse_event(event)
    settings = Settings(member_role_name=MEMBER_ROLE_NAME)
    # When the reporter is not a delegated administrator; Then the responder refuses before any AWS call
    aws = Aws(region=REGION)
    with pytest.raises(
        RefusedAccountError, match="account 333333333333 reported an event about account 210987654321"
    ):
        member_clients(trigger, CENTRAL_ARN, settings, aws, Membership(aws))
    assert not aws.calls
