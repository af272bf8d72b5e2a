"""Organization mode: act in a member account through its responder role, and refuse every other account.

Who may be acted on: the responder's own account, and the accounts ``organizations:ListAccounts`` lists
(cached per execution environment, refreshed when stale or when an unknown account shows up, at most once a
minute so a flood of made-up ids cannot turn into a flood of calls).

Whose word is taken for it: EventBridge sets an event's top-level ``account`` itself (PutEvents cannot choose it,
and cannot use an ``aws.*`` source), and keeps it when a rule forwards the event to another account's bus. The
account an event names inside ``detail`` (Health's ``affectedAccount``, GuardDuty's ``accountId``) is believed
only when it is that same account, or when the event comes from the responder's own account or a delegated
administrator named in the settings (the management account for the Health organizational view, the GuardDuty
administrator): any other account could only be lying about a neighbour.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from botocore.exceptions import BotoCoreError, ClientError

from key_quarantine.handlers.aws import Aws
from key_quarantine.handlers.settings import Settings
from key_quarantine.handlers.triggers import Trigger

#: The member role's name. The one physical name in the project: the central responder builds the role's ARN
#: from the account id an event names, so every member account must use the same name.
MEMBER_ROLE_NAME = "KeyQuarantineMemberResponder"
#: The role the security account's operators assume in a member account for ``release --account``: a role of its
#: own, so that the responder's member role never holds release's rights (any permissions boundary, removing our
#: deny). Fixed for the same reason.
MEMBER_OPERATOR_ROLE_NAME = "KeyQuarantineMemberOperator"
#: What the central responder needs beyond the playbook to act across the organization.
LIST_ACCOUNTS_ACTION = "organizations:ListAccounts"
ASSUME_ROLE_ACTION = "sts:AssumeRole"
SESSION_SECONDS = 900  # the shortest STS allows; one response takes well under a minute
INACTIVE_STATES = frozenset({"SUSPENDED", "PENDING_CLOSURE", "CLOSED"})


class RefusedAccountError(Exception):
    """The event names an account the responder must not act in; the message says why."""


class MemberUnreachableError(RuntimeError):
    """AWS would not say whether the account is a member, or hand out the member role: the event is tried again
    and finally dead-lettered (an alarm, then ``replay-dlq``), never dropped. A denial is retried too: it is how a
    member stack being redeployed, or a responder not yet made delegated administrator, looks."""


@dataclass
class Membership:
    """The organization's active accounts, listed once and kept for ``max_age`` seconds."""

    aws: Aws
    max_age: float = 300.0
    min_refresh: float = 60.0
    clock: Callable[[], float] = time.monotonic
    _accounts: frozenset[str] = frozenset()
    _listed_at: float | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def contains(self, account: str) -> bool:
        with self._lock:
            age = None if self._listed_at is None else self.clock() - self._listed_at
            if (
                age is None
                or age > self.max_age
                or (account not in self._accounts and age > self.min_refresh)
            ):
                self._accounts = self._list()
                self._listed_at = self.clock()
            return account in self._accounts

    def accounts(self) -> frozenset[str]:
        """Every active account of the organization (listed now unless the list is fresh)."""
        with self._lock:
            age = None if self._listed_at is None else self.clock() - self._listed_at
            if age is None or age > self.max_age:
                self._accounts = self._list()
                self._listed_at = self.clock()
            return self._accounts

    def _list(self) -> frozenset[str]:
        pages = self.aws.client("organizations").get_paginator("list_accounts").paginate()
        return frozenset(
            account["Id"]
            for page in pages
            for account in page["Accounts"]
            if account.get("State", account.get("Status")) not in INACTIVE_STATES
        )


def member_clients(
    trigger: Trigger, own_arn: str, settings: Settings, aws: Aws, membership: Membership
) -> Aws | None:
    """Clients in the account the event is about: None for the responder's own, or RefusedAccountError."""
    _, partition, _, _, own_account, *_ = own_arn.split(":")
    target, reporter = trigger.account, trigger.reported_by or trigger.account
    if reporter != target and reporter not in {own_account, *settings.delegated_admins}:
        raise RefusedAccountError(
            f"account {reporter} reported an event about account {target}; only the account itself, this one "
            "or a delegated administrator may"
        )
    if target == own_account:
        return None
    if settings.member_role_name is None:
        raise RefusedAccountError(f"event for account {target}, responder runs in {own_account}")
    try:
        member = membership.contains(target)
    except (ClientError, BotoCoreError) as error:
        raise MemberUnreachableError(
            f"cannot list the organization's accounts to check {target}, will retry: {error}"
        ) from None
    if not member:
        raise RefusedAccountError(f"account {target} is not an active account of this organization")
    return assume_member_role(aws, trigger, partition, settings.member_role_name)


def assume_member_role(aws: Aws, trigger: Trigger, partition: str, role_name: str) -> Aws:
    return member_session(aws, trigger.account, partition, role_name, session_name(trigger))


def member_session(aws: Aws, account: str, partition: str, role_name: str, session: str) -> Aws:
    """Clients in ``account`` as its member role, the session named ``session`` in that account's CloudTrail."""
    role_arn = f"arn:{partition}:iam::{account}:role/{role_name}"
    try:
        credentials = aws.client("sts").assume_role(
            RoleArn=role_arn, RoleSessionName=session[:64], DurationSeconds=SESSION_SECONDS
        )["Credentials"]
    except (ClientError, BotoCoreError) as error:
        raise MemberUnreachableError(
            f"cannot assume {role_arn} (is the member stack deployed?), will retry: {error}"
        ) from None
    return Aws.with_credentials(
        credentials["AccessKeyId"],
        credentials["SecretAccessKey"],
        aws.region,
        session_token=credentials["SessionToken"],
        share_with=aws,
    )


def session_name(trigger: Trigger) -> str:
    """Names the incident in the member account's CloudTrail: the signal, and the user or key it is about."""
    subject = trigger.user_name or trigger.access_key_id or "unknown"
    return f"key-quarantine.{trigger.family.value}.{subject}"[:64]


def refusal_id(trigger: Trigger, reason: str) -> str:
    """One ledger item per refused event (replays of the same event find it and do not notify again)."""
    material = f"{trigger.account}|{trigger.reported_by}|{trigger.family.value}|{trigger.event_id}|{reason}"
    return "refused#" + hashlib.sha256(material.encode()).hexdigest()[:20]
