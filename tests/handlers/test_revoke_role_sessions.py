"""Role sessions the key opened before the signal: a deny on the user does not end them. With
``revoke_role_sessions`` the role gets AWS's "revoke older sessions" policy, on the revocable roles only; without it,
each session is reported with the exact command. The page's "What was done" says which."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from typing import Any

import boto3
import pytest

from key_quarantine.handlers.incident_report import render
from key_quarantine.handlers.playbook import run_playbook
from key_quarantine.handlers.role_revocation import REVOCATION_POLICY_NAME
from key_quarantine.handlers.settings import ResponseMode, Settings, SettingsError
from tests.handlers.cloudtrail_replay import CloudTrailReplay, History
from tests.handlers.conftest import REGION, MotoAccount
from tests.handlers.policy_evaluation import explicitly_denied
from tests.handlers.test_playbook import manual_trigger, steps_of

TRUST = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"}],
    }
)


def open_sessions(account: MotoAccount, history: History) -> dict[str, Any]:
    """The key's holder assumes two roles its key may assume (recorded as CloudTrail records AssumeRole)."""
    start = datetime.now(UTC) - timedelta(minutes=20)
    sts = boto3.client("sts", region_name=REGION)
    opened: dict[str, Any] = {}
    for minute, role in enumerate(("deploy", "billing", "payroll")):
        arn = account.iam.create_role(RoleName=role, AssumeRolePolicyDocument=TRUST)["Role"]["Arn"]
        if role == "payroll":
            continue  # a role the key never assumed
        key = sts.assume_role(RoleArn=arn, RoleSessionName="ops")["Credentials"]["AccessKeyId"]
        at = start + timedelta(minutes=minute)
        history.assume_role(account.key, at, role, "ops", key)
        opened[role] = {"key": key, "issued": at}
    return opened


def respond(account: MotoAccount, history: History, **settings: Any) -> Any:
    replay = CloudTrailReplay(history.records, lambda: datetime.now(UTC) + timedelta(minutes=10))
    configured = dataclasses.replace(account.settings, regions=(REGION,), **settings)
    return run_playbook(
        manual_trigger(account.account_id, account.user, account.key), configured, replay.aws(REGION)
    )


class Cells(HTMLParser):
    """The rows of the page's "Sessions the key minted" table, cell texts by column name."""

    def __init__(self, page: str) -> None:
        super().__init__()
        self.rows: list[list[str]] = []
        self._cell: list[str] | None = None
        self.feed(page)

    def handle_starttag(self, tag: str, _attrs: list[tuple[str, str | None]]) -> None:
        if tag == "tr":
            self.rows.append([])
        elif tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None:
            self.rows[-1].append("".join(self._cell))
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)

    def session_fates(self) -> dict[str, str]:
        header = next(row for row in self.rows if row[:3] == ["Kind", "Access key", "Role / ARN"])
        at = self.rows.index(header)
        done = header.index("What was done")
        return {row[1]: row[done] for row in self.rows[at + 1 :] if row and row[0] == "role-session"}


def policy_on(account: MotoAccount, role: str) -> dict[str, Any] | None:
    names = account.iam.list_role_policies(RoleName=role)["PolicyNames"]
    if REVOCATION_POLICY_NAME not in names:
        return None
    document = account.iam.get_role_policy(RoleName=role, PolicyName=REVOCATION_POLICY_NAME)["PolicyDocument"]
    return json.loads(document) if isinstance(document, str) else dict(document)


def test_opted_in_the_revocable_role_denies_the_attackers_old_session_and_nothing_else_is_touched(
    account: MotoAccount,
) -> None:
    # Given the key opened sessions on "deploy" (revocable) and "billing" (not), minutes before the signal
    history = History(account.account_id)
    opened = open_sessions(account, history)
    before = datetime.now(UTC)

    # When the signal is answered with revoke_role_sessions on, "deploy" the only revocable role
    outcome = respond(account, history, revoke_role_sessions=True, revocable_roles=("deploy",))
    after = datetime.now(UTC)

    # Then "deploy" carries AWS's revocation policy, and nothing else on any role changed
    document = policy_on(account, "deploy")
    assert document is not None
    assert account.iam.list_role_policies(RoleName="deploy")["PolicyNames"] == [REVOCATION_POLICY_NAME]
    assert policy_on(account, "billing") is None
    assert policy_on(account, "payroll") is None
    assert account.iam.list_role_policies(RoleName="billing")["PolicyNames"] == []
    # And the attacker's session on it (issued before) is denied every next call, a session issued after is not
    # (the owner's workloads re-assume and work), and neither are long-lived credentials (no aws:TokenIssueTime)
    issued = {"aws:TokenIssueTime": opened["deploy"]["issued"].strftime("%Y-%m-%dT%H:%M:%SZ")}
    fresh = {"aws:TokenIssueTime": (after + timedelta(seconds=2)).strftime("%Y-%m-%dT%H:%M:%SZ")}
    for action in ("secretsmanager:GetSecretValue", "sts:AssumeRole", "iam:CreateUser", "s3:PutObject"):
        assert explicitly_denied(document, action, issued), action
        assert not explicitly_denied(document, action, fresh), action
        assert not explicitly_denied(document, action, {}), action
    (statement,) = document["Statement"]
    cut = datetime.fromisoformat(statement["Condition"]["DateLessThan"]["aws:TokenIssueTime"])
    assert before - timedelta(seconds=1) <= cut <= after
    # And the step and the page say what was done to each session
    status, detail = steps_of(outcome)["revoke-role-sessions"]
    assert status == "done"
    assert f"deploy ({opened['deploy']['key']}): revoked" in detail
    assert (
        f"billing ({opened['billing']['key']}): reported, valid until it expires (not in revocable_roles)"
        in detail
    )
    (evidence,) = account.evidence_objects()
    fates = Cells(render(evidence)).session_fates()
    assert fates[opened["deploy"]["key"]].startswith(f"revoked: {REVOCATION_POLICY_NAME} on the role")
    assert "not in revocable_roles" in fates[opened["billing"]["key"]]
    # And the notice says which session ended and which lives on
    (message,) = account.notifications()
    assert "Role session ended: arn:aws:iam::" in message["Message"]
    assert "Role session NOT ended by the deny on the user: arn:aws:iam::" in message["Message"]


def test_off_by_default_each_session_is_reported_with_the_exact_command(account: MotoAccount) -> None:
    history = History(account.account_id)
    opened = open_sessions(account, history)

    outcome = respond(account, history)

    # Then no role is touched
    for role in ("deploy", "billing", "payroll"):
        assert account.iam.list_role_policies(RoleName=role)["PolicyNames"] == []
    # And the step names, for each role, the command a person runs to revoke its sessions
    status, detail = steps_of(outcome)["revoke-role-sessions"]
    assert status == "done"  # answered: reported, with the command
    for role in ("deploy", "billing"):
        assert (
            f"{role} ({opened[role]['key']}): reported, valid until it expires (revoke_role_sessions is off)"
            in detail
        )
        assert (
            f"aws iam put-role-policy --role-name {role} --policy-name {REVOCATION_POLICY_NAME} "
            """--policy-document '{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":["*"]"""
        ) in detail
    # And the page says they were reported, not revoked
    (evidence,) = account.evidence_objects()
    fates = Cells(render(evidence)).session_fates()
    assert set(fates) == {opened["deploy"]["key"], opened["billing"]["key"]}
    assert all("revoke_role_sessions is off" in fate for fate in fates.values())


@pytest.mark.parametrize(
    ("revocable", "touched"),
    [(("*",), {"deploy", "billing"}), (("/",), {"deploy", "billing"}), (("/apps/",), set()), ((), set())],
)
def test_the_step_checks_the_same_patterns_the_role_grants(
    account: MotoAccount, revocable: tuple[str, ...], touched: set[str]
) -> None:
    history = History(account.account_id)
    open_sessions(account, history)
    respond(account, history, revoke_role_sessions=True, revocable_roles=revocable)
    assert {r for r in ("deploy", "billing", "payroll") if policy_on(account, r)} == touched


def test_notify_mode_revokes_nothing_even_opted_in(account: MotoAccount) -> None:
    history = History(account.account_id)
    open_sessions(account, history)
    outcome = respond(
        account, history, mode=ResponseMode.NOTIFY, revoke_role_sessions=True, revocable_roles=("*",)
    )
    assert policy_on(account, "deploy") is None
    assert (
        "reported, valid until it expires (response mode is notify)"
        in steps_of(outcome)["revoke-role-sessions"][1]
    )


def test_settings_read_the_revocable_roles_and_refuse_a_malformed_one() -> None:
    read = Settings.from_environment(
        {"KQ_REVOKE_ROLE_SESSIONS": "true", "KQ_REVOCABLE_ROLES": "/apps/, deploy"}
    )
    assert (read.revoke_role_sessions, read.revocable_roles) == (True, ("/apps/", "deploy"))
    assert Settings.from_environment({}).revoke_role_sessions is False
    with pytest.raises(SettingsError, match="a revocable role is"):
        Settings.from_environment({"KQ_REVOCABLE_ROLES": "/apps"})
