"""Containment: the inline deny policy on the user; the AWSDenyAll permissions boundary when the holder blocked it.

The key's holder can fill the user's inline-policy quota (2,048 characters) before the signal, and then every
``PutUserPolicy`` fails with LimitExceeded. Only for that error (the one the holder can cause; see
``quota_full``) the step puts AWS's ``AWSDenyAll`` as the user's permissions boundary instead (``boundary.py``),
recording the boundary it replaced for ``release``. Any other error fails the step, as before.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from key_quarantine.handlers.boundary import (
    BOUNDARY_REPLACED_TAG,
    DENY_ALL_CONDITION,
    DENY_ALL_POLICY_NAME,
    NO_BOUNDARY,
    deny_all_arn,
    is_deny_all,
    partition_of,
)
from key_quarantine.handlers.settings import CONTAINMENT_POLICY_NAME, Containment
from key_quarantine.handlers.steps.base import UNDONE, Skip, Step, error_code, why_not_containing
from key_quarantine.handlers.timestamps import stamp

if TYPE_CHECKING:
    from key_quarantine.handlers.playbook import Incident


class DenyBlockedError(Exception):
    """Neither deny could be written: the inline quota is full and the boundary was refused."""


def attach_deny_policy(incident: Incident) -> str:
    if not incident.contains:
        raise Skip(why_not_containing(incident))
    document = containment_policy(incident.settings.containment, incident.started_at)
    if incident.settings.dry_run:
        return f"dry run: would put inline policy {CONTAINMENT_POLICY_NAME} ({incident.settings.containment})"
    earlier = STEP.name in incident.done_before
    holding = _in_place(incident) if earlier else None
    if holding is not None:
        raise Skip(f"{holding} is still in place (read from IAM)")
    try:
        incident.iam.put_user_policy(
            UserName=incident.user_name,
            PolicyName=CONTAINMENT_POLICY_NAME,
            PolicyDocument=json.dumps(document),
        )
        done = f"put inline policy {CONTAINMENT_POLICY_NAME} ({incident.settings.containment})"
    except ClientError as error:
        if not quota_full(error):
            raise
        done = _hold_by_boundary(incident, error_code(error))
    return (
        f"{UNDONE}: the deny policy had been removed after the earlier containment; {done} again"
        if earlier
        else done
    )


def quota_full(error: ClientError) -> bool:
    """The errors the key's holder can cause on our PutUserPolicy: the user's inline quota is full. IAM answers
    LimitExceeded; a MalformedPolicyDocument that speaks of size is taken the same way (our document is fixed and
    valid, so only its size in the user's total can be wrong)."""
    code = error_code(error)
    message = str(error.response.get("Error", {}).get("Message", "")).lower()
    return code == "LimitExceeded" or (code == "MalformedPolicyDocument" and "size" in message)


def _in_place(incident: Incident) -> str | None:
    """Which of our denies holds the user: the inline policy (one read), else the AWSDenyAll boundary (the
    survey's GetUser of this run: no read more); None when neither."""
    try:
        incident.iam.get_user_policy(UserName=incident.user_name, PolicyName=CONTAINMENT_POLICY_NAME)
    except ClientError as error:
        if error_code(error) != "NoSuchEntity":
            raise
        if is_deny_all(incident.boundary_before, incident.user_arn):
            return f"permissions boundary {DENY_ALL_POLICY_NAME}"
        return None
    return f"inline policy {CONTAINMENT_POLICY_NAME}"


def _hold_by_boundary(incident: Incident, code: str) -> str:
    """Put AWSDenyAll as the user's boundary, after recording the one it replaces (from the survey's GetUser)."""
    why = f"inline policy quota full: {code}"
    held = f"deny held by permissions boundary {DENY_ALL_POLICY_NAME}"
    if is_deny_all(incident.boundary_before, incident.user_arn):
        return f"{held}, already on the user ({why})"
    replaced = incident.boundary_before or NO_BOUNDARY
    recorded = _tag_replaced(incident, replaced)
    try:
        incident.iam.put_user_permissions_boundary(
            UserName=incident.user_name, PermissionsBoundary=deny_all_arn(partition_of(incident.user_arn))
        )
    except ClientError as error:
        raise DenyBlockedError(
            f"{why}, and the {DENY_ALL_POLICY_NAME} boundary was refused too: {error}"
        ) from None
    incident.boundary_replaced = replaced
    return f"{held} ({why}); the boundary it replaced: {replaced}{recorded}"


def _tag_replaced(incident: Incident, replaced: str) -> str:
    """Record the replaced boundary on the user before replacing it, so that a run that dies half-way loses nothing.
    The first record stays (a redo after an undo must not take the holder's boundary for the owner's). Best effort:
    the holder can fill the user's 50 tags too, and the ledger and the step's detail hold the record as well."""
    if BOUNDARY_REPLACED_TAG in incident.tags_before:
        return f" (tag {BOUNDARY_REPLACED_TAG}={incident.tags_before[BOUNDARY_REPLACED_TAG]} kept: the first record)"
    try:
        incident.iam.tag_user(
            UserName=incident.user_name, Tags=[{"Key": BOUNDARY_REPLACED_TAG, "Value": replaced}]
        )
    except ClientError as error:
        return f" (not tagged on the user: {error_code(error)}; the ledger and the evidence hold it)"
    return f" (recorded in tag {BOUNDARY_REPLACED_TAG})"


def containment_policy(containment: Containment, now: datetime) -> dict[str, Any]:
    """Deny everything; or deny everything to the user's long-lived credentials and to every session issued
    before ``now`` (ends minted STS sessions, leaves a session opened after containment, e.g. the owner's).

    IAM puts ``aws:TokenIssueTime`` only into requests signed with temporary credentials, and a condition on a
    missing key does not match: the ``Null`` statement is what denies access keys, service-specific credentials
    and anything else long-lived.
    """
    deny: dict[str, Any] = {"Effect": "Deny", "Action": "*", "Resource": "*"}
    if containment is not Containment.REVOKE_OLDER_SESSIONS:
        return {"Version": "2012-10-17", "Statement": [{"Sid": "KeyQuarantine", **deny}]}
    issued = stamp(now)
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "KeyQuarantineOlderSessions",
                **deny,
                "Condition": {"DateLessThan": {"aws:TokenIssueTime": issued}},
            },
            {"Sid": "KeyQuarantineLongLived", **deny, "Condition": {"Null": {"aws:TokenIssueTime": "true"}}},
        ],
    }


def undo(detail: str) -> str:
    """The inline deny is deleted; the AWSDenyAll boundary is undone by release, which puts back what it replaced."""
    if "permissions boundary" in detail:
        return "key-quarantine release --user {user} (puts back the permissions boundary AWSDenyAll replaced)"
    return f"aws iam delete-user-policy --user-name {{user}} --policy-name {CONTAINMENT_POLICY_NAME}"


STEP = Step(
    "deny-policy",
    ("iam:PutUserPolicy", "iam:GetUserPolicy", "iam:PutUserPermissionsBoundary", "iam:TagUser"),
    attach_deny_policy,
    conditions={"iam:PutUserPermissionsBoundary": DENY_ALL_CONDITION},
    undo=undo,
)
