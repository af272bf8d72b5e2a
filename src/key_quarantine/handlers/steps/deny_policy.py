"""Containment: the inline deny policy on the user."""

from __future__ import annotations

import json
from datetime import datetime
from typing import TYPE_CHECKING, Any

from key_quarantine.handlers.settings import CONTAINMENT_POLICY_NAME, Containment
from key_quarantine.handlers.steps.base import Skip, Step, why_not_containing

if TYPE_CHECKING:
    from key_quarantine.handlers.playbook import Incident


def attach_deny_policy(incident: Incident) -> str:
    if not incident.contains:
        raise Skip(why_not_containing(incident))
    document = containment_policy(incident.settings.containment, incident.started_at)
    if incident.settings.dry_run:
        return f"dry run: would put inline policy {CONTAINMENT_POLICY_NAME} ({incident.settings.containment})"
    incident.iam.put_user_policy(
        UserName=incident.user_name, PolicyName=CONTAINMENT_POLICY_NAME, PolicyDocument=json.dumps(document)
    )
    return f"put inline policy {CONTAINMENT_POLICY_NAME} ({incident.settings.containment})"


def containment_policy(containment: Containment, now: datetime) -> dict[str, Any]:
    """Deny everything; or deny everything to credentials issued before ``now`` (ends minted STS sessions)."""
    statement: dict[str, Any] = {"Sid": "KeyQuarantine", "Effect": "Deny", "Action": "*", "Resource": "*"}
    if containment is Containment.REVOKE_OLDER_SESSIONS:
        issued = now.strftime("%Y-%m-%dT%H:%M:%SZ")
        statement["Condition"] = {"DateLessThan": {"aws:TokenIssueTime": issued}}
    return {"Version": "2012-10-17", "Statement": [statement]}


STEP = Step("deny-policy", ("iam:PutUserPolicy",), attach_deny_policy)
