"""Containment: set the target keys Inactive."""

from __future__ import annotations

from typing import TYPE_CHECKING

from key_quarantine.handlers.steps.base import Skip, Step, why_not_containing

if TYPE_CHECKING:
    from key_quarantine.handlers.playbook import Incident


def deactivate_keys(incident: Incident) -> str:
    if not incident.contains:
        raise Skip(why_not_containing(incident))
    active = [key for key in incident.target_keys if incident.keys_before.get(key) == "Active"]
    if not active:
        raise Skip(f"no active key to deactivate among {', '.join(incident.target_keys) or 'none'}")
    if incident.settings.dry_run:
        return f"dry run: would deactivate {', '.join(active)}"
    for key in active:
        incident.iam.update_access_key(UserName=incident.user_name, AccessKeyId=key, Status="Inactive")
    return f"deactivated {', '.join(active)}"


STEP = Step("deactivate-keys", ("iam:UpdateAccessKey",), deactivate_keys)
