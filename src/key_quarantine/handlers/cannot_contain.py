"""Signals the responder cannot contain itself, and what a human must hear at once about each.

The responder contains IAM users. A root user's key, a role's sessions, a user nobody can name any more, a
GuardDuty sample finding: none of these may be dropped with a log line. A trigger parser (or the playbook, when it
learns it only from IAM) describes the problem as a ``CannotContain``: what was found, why it was not contained,
the exact next step and the command for it. ``tell_human`` sends that, once per signal.

Reuse: a parser that meets another such principal builds a ``CannotContain`` (with one of the functions below or
its own) and sets it on the ``Trigger``; ``batch`` routes it to ``tell_human`` and never to the playbook. Code
that learns it later raises ``steps.base.CannotContainError`` with one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from key_quarantine.handlers.role_revocation import revocation_command
from key_quarantine.handlers.timestamps import stamp

#: The names IAM and its reports give the root user (GetAccessKeyLastUsed, the credential report, GuardDuty).
ROOT_NAMES = frozenset({"root", "<root_account>"})


@dataclass(frozen=True)
class CannotContain:
    """What a human must hear: ``found``, ``why`` it was not contained, the ``next_step`` and its ``command``."""

    found: str
    why: str
    next_step: str
    command: str = ""
    principal: str = ""  # whom it is about (the notice's subject line, the result's "user")
    retry: bool = False  # the answer may change (CloudTrail delivers late): the delivery is tried again


def is_root(user_name: object) -> bool:
    return isinstance(user_name, str) and user_name.lower() in ROOT_NAMES


def root_credentials(found: str, access_key_id: str | None) -> CannotContain:
    key = access_key_id or "the root user's access key"
    return CannotContain(
        found=found,
        why="these are the root user's credentials: only the root user can change them, no IAM role can",
        next_step=f"sign in as the root user, deactivate {key} (Security credentials), then delete it once "
        "nothing legitimate uses it; review what the root user did in CloudTrail",
        command=f"aws iam update-access-key --access-key-id {key} --status Inactive   # as the root user"
        if access_key_id
        else "",
        principal="root",
    )


def role_sessions(found: str, role_name: str, now: datetime) -> CannotContain:
    return CannotContain(
        found=found,
        why="these are a role's session credentials: the responder contains IAM users, and a role session lives "
        "until it expires (up to 12 hours) whatever is done to the user who opened it",
        next_step=f"revoke every session of role {role_name} issued before {stamp(now)}, then find who assumed it "
        "(CloudTrail AssumeRole) and contain that principal",
        command=revocation_command(role_name, now),
        principal=f"role/{role_name}",
    )


def sample_finding(found: str) -> CannotContain:
    return CannotContain(
        found=found,
        why="it is a GuardDuty sample finding (additionalInfo.sample is true), not a detection: nothing was changed",
        next_step="if nobody here generated sample findings, find who called guardduty:CreateSampleFindings",
        command="aws cloudtrail lookup-events --lookup-attributes "
        "AttributeKey=EventName,AttributeValue=CreateSampleFindings",
        principal="sample",
    )


def unknown_owner(found: str, access_key_id: str, why: str) -> CannotContain:
    return CannotContain(
        found=found,
        why=why,
        retry=True,
        next_step=f"find whose key {access_key_id} was (CloudTrail: its calls, and the DeleteAccessKey that removed "
        "it) and contain that user: key-quarantine contain --user NAME",
        command=f"aws cloudtrail lookup-events --lookup-attributes AttributeKey=AccessKeyId,AttributeValue={access_key_id}",
        principal=access_key_id,
    )


def notice(problem: CannotContain, account: str, signal: str) -> tuple[str, str]:
    """The subject and body: what was found, why it was not contained, the next step and its command."""
    subject = f"NOT CONTAINED, act now: {problem.found} (account {account})"
    lines = [
        f"NOT CONTAINED: {problem.found}.",
        f"Why not: {problem.why}.",
        f"Next step: {problem.next_step}.",
    ]
    if problem.command:
        lines.append(f"Command: {problem.command}")
    lines += ["", f"Signal: {signal} (account {account})."]
    return subject, "\n".join(lines)
