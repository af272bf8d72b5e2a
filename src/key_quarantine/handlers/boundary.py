"""The fallback deny: AWS's managed ``AWSDenyAll`` as the user's permissions boundary.

Used when the inline deny cannot be written (the key's holder filled the user's 2,048-character inline-policy
quota first). ``AWSDenyAll`` is one Deny of ``*`` on ``*``; IAM evaluates an explicit Deny in a permissions
boundary like one in any other policy, so every request of the user's long-lived credentials, and of the sessions
whose permissions are the user's (``GetSessionToken``), is denied. It exists in every account and partition, so
the stack owns nothing for it. A user has at most one boundary: the one it replaces is recorded (the ledger, and
the user tag ``BOUNDARY_REPLACED_TAG``) so that ``release`` puts it back.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

DENY_ALL_POLICY_NAME = "AWSDenyAll"
#: The user tag that records the boundary our deny-all boundary replaced (``NO_BOUNDARY`` when there was none).
#: The key's holder can write it too: where the ledger holds the record, the ledger wins.
BOUNDARY_REPLACED_TAG = "key-quarantine:boundary-replaced"
NO_BOUNDARY = "none"


def deny_all_arn(partition: str) -> str:
    return f"arn:{partition}:iam::aws:policy/{DENY_ALL_POLICY_NAME}"


#: The condition every grant of ``iam:PutUserPermissionsBoundary`` carries: the responder can set no other boundary.
#: ``{partition}`` is filled in where the grant is written (``playbook.action_conditions``).
DENY_ALL_CONDITION = {"StringEquals": {"iam:PermissionsBoundary": deny_all_arn("{partition}")}}


def partition_of(arn: str) -> str:
    """``aws``, ``aws-cn``, ``aws-us-gov``: the second field of an ARN (``aws`` when it is not one)."""
    prefix, _, rest = arn.partition(":")
    partition = rest.split(":", 1)[0]
    return partition if prefix == "arn" and partition else "aws"


def boundary_of(user: Mapping[str, Any]) -> str | None:
    """The boundary ARN in a GetUser answer's ``User``, or None."""
    boundary = user.get("PermissionsBoundary") or {}
    arn = boundary.get("PermissionsBoundaryArn")
    return str(arn) if arn else None


def is_deny_all(boundary_arn: str | None, user_arn: str) -> bool:
    """Whether ``boundary_arn`` is AWS's AWSDenyAll in the partition of the user."""
    return boundary_arn == deny_all_arn(partition_of(user_arn))


def held_by_deny_all(user: Mapping[str, Any]) -> bool:
    """Whether a GetUser answer's ``User`` is held by the AWSDenyAll boundary."""
    return is_deny_all(boundary_of(user), str(user.get("Arn", "")))
