"""Organization mode end to end on moto with several accounts: a member's leak signal travels through the
synthesized member rule to the synthesized organization-bus rule, and the central handler contains the key in
the member account through the member role (built from the synthesized member template), keeping the ledger and
the evidence central. Events about accounts outside the organization are refused and recorded.

moto facts this relies on (checked here): the account is derived from the credentials, so a session from
``sts:AssumeRole`` into another account's role acts in that account; moto does not check that the role exists or
that its trust policy admits the caller, so the test asserts which role was assumed; a rule targeting another
account's bus re-puts the event there, but under the receiving account's id (AWS keeps the original ``account``).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import boto3
import pytest
from moto import mock_aws
from moto.core.authorization import enable_iam_authentication
from moto.sts.models import sts_backends

from key_quarantine import KeyQuarantineOrganization
from key_quarantine.cli.main import main
from key_quarantine.constructs.organization_member import OPERATOR_ROLES_PARAMETER, TRUSTED_ROLES_PARAMETER
from key_quarantine.handlers import responder
from key_quarantine.handlers.aws import Aws
from key_quarantine.handlers.batch import FinishedMemo
from key_quarantine.handlers.daily_sweep import sweep
from key_quarantine.handlers.ledger import CONTAINED_PREFIX, Ledger
from key_quarantine.handlers.organization import (
    MEMBER_OPERATOR_ROLE_NAME,
    MEMBER_ROLE_NAME,
    Membership,
    assume_member_role,
)
from key_quarantine.handlers.playbook import run_playbook
from key_quarantine.handlers.settings import CONTAINMENT_POLICY_NAME, Settings
from key_quarantine.handlers.triggers import manual_trigger
from tests.cdk_apps import synth
from tests.cfn import resolve_template
from tests.handlers.conftest import REGION, MotoAccount, build_account
from tests.handlers.test_containment import fill_inline_quota
from tests.handlers.test_responder_wiring import context_for
from tests.handlers.test_sweep import install_quarantine_policy
from tests.handlers.test_triggers import sample

OUTSIDER = "999999999999"
CENTRAL_ROLE = "key-quarantine-responder"
OPERATOR_ROLE = "key-quarantine-operator"
SWEEP_ROLE = "key-quarantine-sweep"
ALLOW_ALL = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}


@pytest.fixture(scope="module")
def templates(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    def build(app: cdk.App) -> None:
        stack = cdk.Stack(app, "Security", env=cdk.Environment(region=REGION))
        KeyQuarantineOrganization(
            stack, "Org", organization_id="o-abcdefghij", organizational_unit_ids=["r-ab12"], regions=[REGION]
        )

    assembly = synth(tmp_path_factory.mktemp("org-e2e") / "cdk.out", build)
    central = json.loads((Path(assembly) / "Security.template.json").read_text())
    (stack_set,) = [r for r in central["Resources"].values() if r["Type"] == "AWS::CloudFormation::StackSet"]
    return {"central": central, "member": json.loads(stack_set["Properties"]["TemplateBody"])}


@dataclass
class Organization:
    central: MotoAccount
    member: str
    admin: str  # a delegated administrator (e.g. the Health organizational view account)
    member_session: boto3.Session
    central_queue: str

    def member_iam(self) -> Any:
        return self.member_session.client("iam")

    def member_keys(self) -> dict[str, str]:
        keys = self.member_iam().list_access_keys(UserName="leaked-deployer")["AccessKeyMetadata"]
        return {key["AccessKeyId"]: key["Status"] for key in keys}

    def delivered(self) -> list[dict[str, Any]]:
        sqs = boto3.client("sqs", region_name=REGION)
        messages = sqs.receive_message(QueueUrl=self.central_queue, MaxNumberOfMessages=10).get(
            "Messages", []
        )
        return [json.loads(m["Body"]) for m in messages]

    def ledger_items(self) -> list[dict[str, Any]]:
        table = self.central.table
        return list(boto3.client("dynamodb", region_name=REGION).scan(TableName=table)["Items"])


def session_in(account: str, role: str = "OrganizationAccountAccessRole") -> boto3.Session:
    credentials = boto3.client("sts", region_name=REGION).assume_role(
        RoleArn=f"arn:aws:iam::{account}:role/{role}", RoleSessionName="test-setup"
    )["Credentials"]
    return boto3.Session(
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
        region_name=REGION,
    )


@pytest.fixture
def organization(
    aws_credentials: None, templates: dict[str, dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> Iterator[Organization]:
    with mock_aws():
        central = build_account()
        orgs = boto3.client("organizations", region_name=REGION)
        org_id = orgs.create_organization(FeatureSet="ALL")["Organization"]["Id"]
        member, admin = (
            orgs.create_account(AccountName=name, Email=f"{name}@example.com")["CreateAccountStatus"][
                "AccountId"
            ]
            for name in ("workload", "health-admin")
        )
        bus_arn = _central_bus(templates["central"])
        queue = _central_rules(templates["central"])
        member_session = session_in(member)
        _member_stack(
            templates["member"],
            member_session,
            account=member,
            org_id=org_id,
            central_account=central.account_id,
            bus_arn=bus_arn,
        )
        iam = member_session.client("iam")
        iam.create_user(UserName="leaked-deployer")
        iam.create_access_key(UserName="leaked-deployer")
        settings = Settings(
            topic_arn=central.topic_arn,
            evidence_bucket=central.bucket,
            ledger_table=central.table,
            member_role_name=MEMBER_ROLE_NAME,
            delegated_admins=frozenset({admin}),
        )
        monkeypatch.setattr(responder, "SETTINGS", settings)
        monkeypatch.setattr(responder, "MEMBERSHIP", Membership(Aws(region=REGION)))
        yield Organization(central, member, admin, member_session, queue)


def _central_bus(central: dict[str, Any]) -> str:
    (bus,) = [r for r in central["Resources"].values() if r["Type"] == "AWS::Events::EventBus"]
    events = boto3.client("events", region_name=REGION)
    return str(events.create_event_bus(Name=bus["Properties"]["Name"])["EventBusArn"])


def _central_rules(central: dict[str, Any]) -> str:
    """The organization-bus rules as synthesized, each routed to a queue standing in for the responder."""
    (bus_id,) = [lid for lid, r in central["Resources"].items() if r["Type"] == "AWS::Events::EventBus"]
    bus_name = central["Resources"][bus_id]["Properties"]["Name"]
    sqs, events = boto3.client("sqs", region_name=REGION), boto3.client("events", region_name=REGION)
    url = sqs.create_queue(QueueName="central-responder")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    on_bus = {
        lid: r["Properties"]
        for lid, r in central["Resources"].items()
        if r["Type"] == "AWS::Events::Rule" and r["Properties"].get("EventBusName") == {"Ref": bus_id}
    }
    assert on_bus
    for name, properties in on_bus.items():
        events.put_rule(Name=name, EventBusName=bus_name, EventPattern=json.dumps(properties["EventPattern"]))
        events.put_targets(Rule=name, EventBusName=bus_name, Targets=[{"Id": "responder", "Arn": arn}])
    return str(url)


def _member_stack(
    member_template: dict[str, Any],
    session: boto3.Session,
    *,
    account: str,
    org_id: str,
    central_account: str,
    bus_arn: str,
) -> None:
    """What the StackSet creates in the member's us-east-1: the member roles and the forwarding rules."""
    names = {
        "CentralEventBusArn": bus_arn,
        "CentralResponderRoleArn": f"arn:aws:iam::{central_account}:role/{CENTRAL_ROLE}",
        TRUSTED_ROLES_PARAMETER: [f"arn:aws:iam::{central_account}:role/{SWEEP_ROLE}"],
        OPERATOR_ROLES_PARAMETER: [f"arn:aws:iam::{central_account}:role/{OPERATOR_ROLE}"],
        "OrganizationId": org_id,
        "AWS::Partition": "aws",
        "AWS::AccountId": account,
        "AWS::Region": REGION,
    }
    resources = member_template["Resources"]
    iam = session.client("iam")
    for found in resources.values():
        role = found.get("Properties", {})
        if "RoleName" not in role or not resolve_template(
            {"Condition": found["Condition"]}, member_template, names
        ):
            continue
        iam.create_role(
            RoleName=role["RoleName"],
            AssumeRolePolicyDocument=json.dumps(
                resolve_template(role["AssumeRolePolicyDocument"], member_template, names)
            ),
        )
        for policy in role["Policies"]:
            iam.put_role_policy(
                RoleName=role["RoleName"],
                PolicyName=policy["PolicyName"],
                PolicyDocument=json.dumps(resolve_template(policy["PolicyDocument"], member_template, names)),
            )
    global_condition = next(
        name
        for name, c in member_template["Conditions"].items()
        if c == {"Fn::Equals": [{"Ref": "AWS::Region"}, REGION]}
    )
    events = session.client("events")
    for name, rule in resources.items():
        if rule["Type"] == "AWS::Events::Rule" and rule.get("Condition") == global_condition:
            (target,) = rule["Properties"]["Targets"]
            events.put_rule(Name=name, EventPattern=json.dumps(rule["Properties"]["EventPattern"]))
            events.put_targets(
                Rule=name,
                Targets=[{"Id": "central", "Arn": resolve_template(target["Arn"], member_template, names)}],
            )


def quarantine_detail(account: str) -> dict[str, Any]:
    detail = dict(sample("cloudtrail-attach-quarantine.json")["detail"])
    detail["recipientAccountId"] = account
    detail["requestParameters"] = {**detail["requestParameters"], "userName": "leaked-deployer"}
    return detail


def health_event(reported_by: str, affected: str, key: str) -> dict[str, Any]:
    event = sample("health-credentials-exposed.json")
    event["account"] = reported_by
    event["detail"].update(affectedAccount=affected, affectedEntities=[{"entityValue": key}])
    event["detail"]["eventMetadata"].update(publicKey=key, userName="leaked-deployer")
    return event


def central_context(org: Organization) -> Any:
    return context_for(org.central.account_id)


def test_member_signal_reaches_the_central_handler_which_contains_the_key_in_the_member(
    organization: Organization,
) -> None:
    org = organization
    (key,) = org.member_keys()
    # Given AWS attaches its quarantine policy to a user of the member account (an event on the member's bus)
    org.member_session.client("events").put_events(
        Entries=[
            {
                "Source": "aws.iam",
                "DetailType": "AWS API Call via CloudTrail",
                "Detail": json.dumps(quarantine_detail(org.member)),
            }
        ]
    )
    # When the member rule forwards it to the organization bus and the central rule delivers it
    delivered = [e for e in org.delivered() if e["detail"]["eventName"] == "AttachUserPolicy"]
    assert delivered, "the synthesized rules did not carry the member's event to the central responder"
    results = []
    for event in delivered:
        # moto re-puts a forwarded event under the receiving account; EventBridge keeps the member's account
        event["account"] = org.member
        results.append(responder.lambda_handler(event, central_context(org)))
    # Then the key is contained in the MEMBER account, through the member role
    assert all(r["status"] == "responded" for r in results), results
    assert org.member_keys() == {key: "Inactive"}
    assert org.member_iam().list_user_policies(UserName="leaked-deployer")["PolicyNames"] == [
        CONTAINMENT_POLICY_NAME
    ]
    assumed = sts_backends[org.member]["aws"].assumed_roles
    sessions = {(r.role_arn, r.session_name) for r in assumed if r.role_arn.endswith(MEMBER_ROLE_NAME)}
    assert (
        f"arn:aws:iam::{org.member}:role/{MEMBER_ROLE_NAME}",
        "key-quarantine.quarantine-policy.leaked-deployer",
    ) in sessions
    # and the central account's own user of the same name is untouched
    assert set(org.central.key_status().values()) == {"Active"}
    # and the ledger and the evidence are in the central account
    (evidence,) = org.central.evidence_objects()
    assert evidence["trigger"]["account"] == org.member
    assert evidence["access_keys"][0]["status_after"] == "Inactive"
    incidents = [i for i in org.ledger_items() if not i["incident_id"]["S"].startswith(CONTAINED_PREFIX)]
    (incident,) = [i for i in incidents if i["account"]["S"] == org.member]
    assert set(incident["steps"]["M"]) >= {"deactivate-keys", "deny-policy", "evidence", "notify"}


def test_event_claiming_an_account_outside_the_organization_is_refused_and_recorded(
    organization: Organization,
) -> None:
    org = organization
    # Given a quarantine event naming an account that is not in the organization
    event = sample("cloudtrail-attach-quarantine.json")
    event["account"] = OUTSIDER
    event["detail"] = quarantine_detail(OUTSIDER)
    # When it reaches the central handler (twice: a retry)
    first = responder.lambda_handler(event, central_context(org))
    again = responder.lambda_handler(event, central_context(org))
    # Then nothing is assumed or changed, and the refusal is in the log result, the ledger and one notification
    assert first["status"] == again["status"] == "refused"
    assert "not an active account of this organization" in first["reason"]
    assert not [
        r for r in sts_backends[OUTSIDER]["aws"].assumed_roles if r.role_arn.endswith(MEMBER_ROLE_NAME)
    ]
    (item,) = [i for i in org.ledger_items() if i["account"]["S"] == OUTSIDER]
    assert item["status"]["S"] == "refused"
    assert item["incident_id"]["S"].startswith("refused#")
    notes = org.central.notifications()
    assert [n["Subject"] for n in notes] == [f"Refused a leak signal for account {OUTSIDER}"]


def test_health_organizational_view_event_is_routed_to_the_affected_member(
    organization: Organization,
) -> None:
    org = organization
    (key,) = org.member_keys()
    # Given the management account's (here: the central account's) Health organizational view reports a
    # member's exposed key
    event = health_event(reported_by=org.central.account_id, affected=org.member, key=key)
    # When the central handler receives it
    result = responder.lambda_handler(event, central_context(org))
    # Then the key is contained in the affected member, not in the reporting account
    assert result["status"] == "responded", result
    assert org.member_keys() == {key: "Inactive"}
    assert set(org.central.key_status().values()) == {"Active"}


def test_health_event_from_a_delegated_administrator_is_routed(organization: Organization) -> None:
    org = organization
    (key,) = org.member_keys()
    result = responder.lambda_handler(health_event(org.admin, org.member, key), central_context(org))
    assert result["status"] == "responded", result
    assert org.member_keys() == {key: "Inactive"}


def test_member_cannot_name_another_account_in_a_health_event(organization: Organization) -> None:
    org = organization
    (key,) = org.member_keys()
    # Given a member account's event that names another member as the affected account
    event = health_event(reported_by=org.admin, affected=org.member, key=key)
    event["account"] = org.member
    event["detail"]["affectedAccount"] = org.admin
    # When the central handler receives it; Then it is refused and recorded, nothing assumed
    result = responder.lambda_handler(event, central_context(org))
    assert result["status"] == "refused"
    assert f"account {org.member} reported an event about account {org.admin}" in result["reason"]
    assert [i["status"]["S"] for i in org.ledger_items()] == ["refused"]
    assert org.member_keys() == {key: "Active"}


def _playbook_in_member(org: Organization, *, without: str | None = None) -> dict[str, str]:
    """Run the playbook as the central admin, in the member through the member role, with moto checking IAM."""
    central_iam = boto3.client("iam", region_name=REGION)
    central_iam.create_user(UserName="central-admin")
    central_iam.put_user_policy(
        UserName="central-admin", PolicyName="all", PolicyDocument=json.dumps(ALLOW_ALL)
    )
    admin_key = central_iam.create_access_key(UserName="central-admin")["AccessKey"]
    # moto authorizes every non-S3 request against Resource "*", so the template's user/* scope (asserted in
    # tests/constructs/test_organization.py) is widened here; the actions are exactly the template's
    member_iam = org.member_iam()
    policy = member_iam.get_role_policy(RoleName=MEMBER_ROLE_NAME, PolicyName="Playbook")["PolicyDocument"]
    for statement in policy["Statement"]:
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        statement.update(Action=[a for a in actions if a != without], Resource="*")
    member_iam.put_role_policy(
        RoleName=MEMBER_ROLE_NAME, PolicyName="Playbook", PolicyDocument=json.dumps(policy)
    )
    (key,) = org.member_keys()
    trigger = manual_trigger(org.member, "leaked-deployer", key)
    with enable_iam_authentication():
        central = Aws.with_credentials(admin_key["AccessKeyId"], admin_key["SecretAccessKey"], REGION)
        member = assume_member_role(central, trigger, "aws", MEMBER_ROLE_NAME)
        outcome = run_playbook(
            trigger, responder.SETTINGS, central, Ledger(central, org.central.table), member=member
        )
    return {step.name: f"{step.status.value}: {step.detail}" for step in outcome.steps}


def test_member_role_from_the_template_is_enough_for_the_whole_playbook(organization: Organization) -> None:
    # Given the member role exactly as the member template defines it, and moto enforcing IAM policies
    # When the central responder contains a key in the member account through it
    steps = _playbook_in_member(organization)
    # Then no step is denied: containment, evidence (IAM reads; CloudTrail lookups are not in moto) and tags
    assert not [s for s in steps.values() if s.startswith("failed")], steps
    assert steps["deactivate-keys"].startswith("done")
    assert steps["deny-policy"].startswith("done")
    assert steps["evidence"].startswith("done")
    assert steps["tag-user"].startswith("done")


def test_member_role_missing_an_action_is_denied_that_step(organization: Organization) -> None:
    # Given the member role without iam:UpdateAccessKey
    steps = _playbook_in_member(organization, without="iam:UpdateAccessKey")
    # Then that step fails as AWS would deny it, and the others still run
    assert steps["deactivate-keys"].startswith("failed"), steps
    assert "not authorized to perform: iam:UpdateAccessKey" in steps["deactivate-keys"]
    assert steps["deny-policy"].startswith("done")


def test_the_daily_sweep_finds_a_missed_quarantine_in_a_member_account(organization: Organization) -> None:
    # Given a member account whose user AWS quarantined while the signal was missed (its key still active)
    arn = install_quarantine_policy(account=organization.member)
    organization.member_iam().attach_user_policy(UserName="leaked-deployer", PolicyArn=arn)
    aws = Aws(region=REGION)
    # When the central daily sweep runs in organization mode
    summary = sweep(responder.SETTINGS, aws, account=organization.central.account_id)
    # Then every member account was swept through the member role, and the missed quarantine contained there
    swept = {member["account"]: member for member in summary["members"]}
    assert set(swept) == {organization.member, organization.admin}
    assert swept[organization.member]["summary"].get("quarantined-key-still-active") == 1
    (response,) = swept[organization.member]["responses"]
    assert response["user"] == "leaked-deployer"
    assert set(organization.member_keys().values()) == {"Inactive"}
    # with one AssumeRole per member account, and the incident kept in the central ledger under the member
    assert aws.calls["sts:AssumeRole"] == 2
    accounts = {item.get("account", {}).get("S") for item in organization.ledger_items()}
    assert organization.member in accounts


def _central_operator(org: Organization, monkeypatch: pytest.MonkeyPatch) -> None:
    """The CLI's credentials: an operator of the security account (moto checks IAM policies for it below)."""
    central_iam = boto3.client("iam", region_name=REGION)
    central_iam.create_user(UserName="operator")
    central_iam.put_user_policy(UserName="operator", PolicyName="all", PolicyDocument=json.dumps(ALLOW_ALL))
    key = central_iam.create_access_key(UserName="operator")["AccessKey"]
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", key["AccessKeyId"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", key["SecretAccessKey"])
    # moto authorizes IAM calls against Resource "*": the template's user/* scope (asserted in
    # tests/constructs/test_organization.py) is widened here; the actions are exactly the template's
    member_iam = org.member_iam()
    role = MEMBER_OPERATOR_ROLE_NAME
    policy = member_iam.get_role_policy(RoleName=role, PolicyName="Release")["PolicyDocument"]
    for statement in policy["Statement"]:
        statement["Resource"] = "*"
    member_iam.put_role_policy(RoleName=role, PolicyName="Release", PolicyDocument=json.dumps(policy))


def test_release_from_the_security_account_closes_the_central_incident_so_the_next_leak_is_answered(
    organization: Organization, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    org = organization
    (key,) = org.member_keys()
    # Given a member's leaked key contained by the central responder, its incident finished in the central ledger
    first = responder.lambda_handler(
        health_event(org.central.account_id, org.member, key), central_context(org)
    )
    assert first["status"] == "responded", first
    assert org.member_keys() == {key: "Inactive"}
    # When an operator of the security account releases the user, naming the member account, with moto checking
    # IAM policies (the member role's exactly as the template grants them)
    _central_operator(org, monkeypatch)
    with enable_iam_authentication():
        code = main(
            [
                *("release", "--user", "leaked-deployer", "--account", org.member, "--reactivate"),
                *("--ledger-table", org.central.table, "--format", "json"),
            ]
        )
    # Then the deny policy is gone and the key is back on in the MEMBER account, through its operator role
    steps = {s["name"]: s["status"] for s in json.loads(capsys.readouterr().out)["steps"]}
    assert code == 0, steps
    assert steps == {
        **dict.fromkeys(("remove-deny-policy", "untag-user", "reactivate-keys", "close-incidents"), "done"),
        "restore-boundary": "skipped",  # the deny policy held: no AWSDenyAll boundary to take back
    }
    assert org.member_iam().list_user_policies(UserName="leaked-deployer")["PolicyNames"] == []
    assert org.member_keys() == {key: "Active"}
    assumed = sts_backends[org.member]["aws"].assumed_roles
    assert (
        f"arn:aws:iam::{org.member}:role/{MEMBER_OPERATOR_ROLE_NAME}",
        "key-quarantine.release.leaked-deployer",
    ) in {(r.role_arn, r.session_name) for r in assumed}
    # and the central incident is closed (kept as <id>#released#<time>)
    member_items = [  # the user's containment index stays: the undo watch reads only its open incidents
        i["incident_id"]["S"]
        for i in org.ledger_items()
        if i.get("account", {}).get("S") == org.member
        and not i["incident_id"]["S"].startswith(CONTAINED_PREFIX)
    ]
    assert member_items
    assert all("#released#" in incident for incident in member_items)
    # When the same user's key leaks again, in a fresh execution environment
    monkeypatch.setattr(responder, "FINISHED", FinishedMemo())
    monkeypatch.setattr(responder, "MEMBERSHIP", Membership(Aws(region=REGION)))
    again = responder.lambda_handler(
        health_event(org.central.account_id, org.member, key), central_context(org)
    )
    # Then it is a new incident, contained again (not skipped as the finished one)
    assert again["status"] == "responded", again
    assert {s["name"]: s["status"] for s in again["steps"]}["deactivate-keys"] == "done"
    assert org.member_keys() == {key: "Inactive"}


def test_release_without_the_account_acts_on_the_callers_own_account_only(
    organization: Organization, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given the member's user contained from the central account (which has a user of the same name)
    org = organization
    (key,) = org.member_keys()
    responder.lambda_handler(health_event(org.central.account_id, org.member, key), central_context(org))
    # When release runs from the security account without --account
    code = main(
        ["release", "--user", "leaked-deployer", "--ledger-table", org.central.table, "--format", "json"]
    )
    # Then only the security account's own user is looked at: nothing of ours there, no member incident closed
    steps = {s["name"]: s for s in json.loads(capsys.readouterr().out)["steps"]}
    assert code == 0
    assert steps["remove-deny-policy"]["status"] == "skipped"
    assert steps["close-incidents"]["status"] == "skipped"
    # and the member's containment and its incident stay
    assert org.member_iam().list_user_policies(UserName="leaked-deployer")["PolicyNames"] == [
        CONTAINMENT_POLICY_NAME
    ]
    member_items = [i for i in org.ledger_items() if i.get("account", {}).get("S") == org.member]
    incidents = [i for i in member_items if not i["incident_id"]["S"].startswith(CONTAINED_PREFIX)]
    assert [i for i in incidents if "#released#" not in i["incident_id"]["S"]]


@pytest.mark.parametrize("account", ["12345", "not-an-account"])
def test_release_with_a_malformed_account_is_one_clear_line(
    organization: Organization, capsys: pytest.CaptureFixture[str], account: str
) -> None:
    code = main(["release", "--user", "leaked-deployer", "--account", account])
    assert code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "is not a 12-digit account id" in err


def test_release_from_the_security_account_puts_back_the_members_own_boundary(
    organization: Organization, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    org = organization
    (key,) = org.member_keys()
    member_iam = org.member_iam()
    # Given a member user with a boundary of its account's own, whose key's holder filled its inline quota, so
    # that the central responder held it with AWSDenyAll as its boundary (the one it replaced kept centrally)
    document = json.dumps(ALLOW_ALL)
    owner = member_iam.create_policy(PolicyName="org-boundary", PolicyDocument=document)["Policy"]["Arn"]
    member_iam.put_user_permissions_boundary(UserName="leaked-deployer", PermissionsBoundary=owner)
    fill_inline_quota(member_iam, "leaked-deployer")
    first = responder.lambda_handler(
        health_event(org.central.account_id, org.member, key), central_context(org)
    )
    assert first["status"] == "responded", first
    held = member_iam.get_user(UserName="leaked-deployer")["User"]["PermissionsBoundary"]
    assert held["PermissionsBoundaryArn"].endswith(":policy/AWSDenyAll")
    # When an operator releases the user from the security account, moto checking the operator role's policy
    _central_operator(org, monkeypatch)
    with enable_iam_authentication():
        arguments = ["release", "--user", "leaked-deployer", "--account", org.member]
        code = main([*arguments, "--ledger-table", org.central.table, "--format", "json"])
    # Then the member's own boundary is back: the operator role may set it (the responder's may not)
    steps = {s["name"]: s["status"] for s in json.loads(capsys.readouterr().out)["steps"]}
    assert code == 0, steps
    assert steps["restore-boundary"] == "done"
    restored = member_iam.get_user(UserName="leaked-deployer")["User"]["PermissionsBoundary"]
    assert restored["PermissionsBoundaryArn"] == owner
