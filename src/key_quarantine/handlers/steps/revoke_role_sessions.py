"""Role sessions the key's trail opened: a deny on the user does not end them (a role session lives until it
expires, up to 12 h). With ``revoke_role_sessions`` on, each role the trail assumed that the deployed
``revocable_roles`` names gets the inline policy the IAM console's "Revoke active sessions" writes: deny every
action to tokens issued before now. It denies every session of that role issued before now, the owner's workloads on
the role included, until the policy is removed; sessions started after it are not touched. Off (the default), each
session is reported with the exact command.

The policy keeps AWS's own name, so an operator recognizes it and a later console revocation updates the same policy
(the console overwrites it with a newer time), and its undo is the console's: delete that inline policy.
"""

from __future__ import annotations

import fnmatch
import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from key_quarantine.handlers.role_revocation import (
    REVOCATION_POLICY_NAME,
    revocation_command,
    revocation_policy,
    role_name_of,
)
from key_quarantine.handlers.settings import revocable_role_patterns
from key_quarantine.handlers.steps.base import Skip, Step, error_code, why_not_containing
from key_quarantine.handlers.steps.derived import trails_of
from key_quarantine.handlers.timestamps import stamp

if TYPE_CHECKING:
    from key_quarantine.handlers.playbook import Incident
    from key_quarantine.handlers.trail import Session

#: IAM refuses inline policies on these: service-linked roles, and IAM Identity Center's permission-set roles
UNMODIFIABLE = frozenset({"UnmodifiableEntity", "UnmodifiableEntityException"})


def role_sessions(incident: Incident) -> list[Session]:
    return [
        session
        for trail in trails_of(incident)
        for session in trail.sessions
        if session.kind == "role-session" and session.role_arn
    ]


def revoke_role_sessions(incident: Incident) -> str:
    sessions = role_sessions(incident)
    if not sessions:
        raise Skip("the trail opened no role session")
    now = datetime.now(UTC)
    fates = {role: _fate(incident, role, now) for role in sorted({str(s.role_arn) for s in sessions})}
    incident.derived += [
        {
            "kind": "role-session",
            "target": session.role_arn,
            "identifier": session.session_name,
            "access_key_id": session.access_key_id,
            "done": fates[str(session.role_arn)],
        }
        for session in sessions
    ]
    # done whenever there was a session to answer (revoked or reported): the ledger keeps which, so that a later
    # look can tell a new session from one already told
    return "; ".join(_answer(role, fate, sessions, now) for role, fate in fates.items())


def _answer(role_arn: str, fate: str, sessions: list[Session], now: datetime) -> str:
    keys = ", ".join(s.access_key_id for s in sessions if s.role_arn == role_arn)
    told = f"{role_name_of(role_arn)} ({keys}): {fate}"
    return (
        told
        if fate.startswith("revoked")
        else f"{told}; to revoke: {revocation_command(role_name_of(role_arn), now)}"
    )


def _fate(incident: Incident, role_arn: str, now: datetime) -> str:
    reported = "reported, valid until it expires"
    if not incident.contains:
        return f"{reported} ({why_not_containing(incident)})"
    settings = incident.settings
    if not settings.revoke_role_sessions:
        return f"{reported} (revoke_role_sessions is off)"
    partition, account = role_arn.split(":")[1], role_arn.split(":")[4]
    if account != incident.trigger.account:
        return f"{reported} (a role of another account)"
    patterns = revocable_role_patterns(settings.revocable_roles, partition, account)
    if not any(fnmatch.fnmatchcase(role_arn, pattern) for pattern in patterns):
        return f"{reported} (not in revocable_roles)"
    if settings.dry_run:
        return f"dry run: would put {REVOCATION_POLICY_NAME}"
    return _put(incident, role_arn, now, reported)


def _put(incident: Incident, role_arn: str, now: datetime, reported: str) -> str:
    try:
        incident.iam.put_role_policy(
            RoleName=role_name_of(role_arn),
            PolicyName=REVOCATION_POLICY_NAME,
            PolicyDocument=json.dumps(revocation_policy(now)),
        )
    except ClientError as error:
        if error_code(error) == "NoSuchEntity":
            return "the role is gone (its sessions with it)"
        if error_code(error) in UNMODIFIABLE:
            return f"{reported} (IAM refuses a policy on this role: {error_code(error)})"
        raise
    undo = f"aws iam delete-role-policy --role-name {role_name_of(role_arn)} --policy-name {REVOCATION_POLICY_NAME}"
    return f"revoked: {REVOCATION_POLICY_NAME} on the role denies its tokens issued before {stamp(now)}; undo: {undo}"


STEP = Step(
    "revoke-role-sessions",
    ("iam:PutRolePolicy",),
    revoke_role_sessions,
    opt_in="revoke_role_sessions",
    on_roles=True,
)
