"""Containment: the inline deny policy on the user."""

from __future__ import annotations

import json
from datetime import datetime
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from key_quarantine.handlers.settings import CONTAINMENT_POLICY_NAME, Containment
from key_quarantine.handlers.steps.base import UNDONE, Skip, Step, error_code, why_not_containing

if TYPE_CHECKING:
    from key_quarantine.handlers.playbook import Incident


def attach_deny_policy(incident: Incident) -> str:
    if not incident.contains:
        raise Skip(why_not_containing(incident))
    document = containment_policy(incident.settings.containment, incident.started_at)
    if incident.settings.dry_run:
        return f"dry run: would put inline policy {CONTAINMENT_POLICY_NAME} ({incident.settings.containment})"
    earlier = STEP.name in incident.done_before
    if earlier and _in_place(incident):
        raise Skip(f"inline policy {CONTAINMENT_POLICY_NAME} is still in place (read from IAM)")
    incident.iam.put_user_policy(
        UserName=incident.user_name, PolicyName=CONTAINMENT_POLICY_NAME, PolicyDocument=json.dumps(document)
    )
    done = f"put inline policy {CONTAINMENT_POLICY_NAME} ({incident.settings.containment})"
    return (
        f"{UNDONE}: the deny policy had been removed after the earlier containment; {done} again"
        if earlier
        else done
    )


def _in_place(incident: Incident) -> bool:
    try:
        incident.iam.get_user_policy(UserName=incident.user_name, PolicyName=CONTAINMENT_POLICY_NAME)
    except ClientError as error:
        if error_code(error) == "NoSuchEntity":
            return False
        raise
    return True


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
    issued = now.strftime("%Y-%m-%dT%H:%M:%SZ")
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


STEP = Step(
    "deny-policy",
    ("iam:PutUserPolicy", "iam:GetUserPolicy"),
    attach_deny_policy,
    undo=f"aws iam delete-user-policy --user-name {{user}} --policy-name {CONTAINMENT_POLICY_NAME}",
)
