"""Containment: set the target keys Inactive."""

from __future__ import annotations

from typing import TYPE_CHECKING

from key_quarantine.handlers.steps.base import UNDONE, Skip, Step, why_not_containing

if TYPE_CHECKING:
    from key_quarantine.handlers.playbook import Incident


def deactivate_keys(incident: Incident) -> str:
    """Every active access key of the user, not only the one the signal names: its holder may have made more."""
    if not incident.contains:
        raise Skip(why_not_containing(incident))
    active = sorted(key for key, status in incident.keys_before.items() if status == "Active")
    if not active:
        raise Skip(f"no active access key (named: {', '.join(incident.target_keys) or 'none'})")
    listed = ", ".join(f"{key}{' (named)' if key in incident.target_keys else ''}" for key in active)
    if incident.settings.dry_run:
        return f"dry run: would deactivate {listed}"
    for key in active:
        incident.iam.update_access_key(UserName=incident.user_name, AccessKeyId=key, Status="Inactive")
    if STEP.name in incident.done_before:
        return f"{UNDONE}: {listed} found Active again after the earlier containment; deactivated again"
    return f"deactivated {listed}"


STEP = Step(
    "deactivate-keys",
    ("iam:UpdateAccessKey",),
    deactivate_keys,
    undo="key-quarantine release --user {user} --reactivate (or aws iam update-access-key --user-name {user} "
    "--access-key-id KEY --status Active)",
)
