"""The IAM console's "Revoke active sessions" for a role: an inline policy that denies every action to the role's
tokens issued before a time. Named as AWS names it, so an operator recognises it and a later console revocation
updates the same policy. The notice for a role session nobody can contain (``cannot_contain``), the opt-in step
(``steps/revoke_role_sessions``) and the incident page all write it from here."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from key_quarantine.handlers.timestamps import stamp

REVOCATION_POLICY_NAME = "AWSRevokeOlderSessions"


def revocation_policy(before: datetime) -> dict[str, Any]:
    """Deny everything to tokens issued before ``before``: the shape of the console's "Revoke active sessions"."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Deny",
                "Action": ["*"],
                "Resource": ["*"],
                "Condition": {"DateLessThan": {"aws:TokenIssueTime": stamp(before)}},
            }
        ],
    }


def revocation_command(role_name: str, before: datetime) -> str:
    document = json.dumps(revocation_policy(before), separators=(",", ":"))
    return (
        f"aws iam put-role-policy --role-name {role_name} --policy-name {REVOCATION_POLICY_NAME} "
        f"--policy-document '{document}'"
    )


def role_name_of(role_arn: str) -> str:
    return role_arn.rsplit("/", 1)[-1]
