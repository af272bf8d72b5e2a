"""Delete the target keys after the evidence was kept, when ``delete_keys`` is on."""

from __future__ import annotations

from typing import TYPE_CHECKING

from key_quarantine.handlers.steps.base import Skip, Step, irreversible_refused

if TYPE_CHECKING:
    from key_quarantine.handlers.playbook import Incident


def delete_keys(incident: Incident) -> str:
    if not incident.contains or not incident.settings.delete_keys:
        raise Skip("keys are kept inactive for the investigation (delete_keys is off)")
    if refused := irreversible_refused(incident):
        raise Skip(f"keys are kept inactive, {refused}")
    if incident.settings.dry_run:
        return f"dry run: would delete {', '.join(incident.target_keys)}"
    for key in incident.target_keys:
        incident.iam.delete_access_key(UserName=incident.user_name, AccessKeyId=key)
    return f"deleted {', '.join(incident.target_keys)} after the evidence was kept"


STEP = Step(
    "delete-keys",
    ("iam:DeleteAccessKey",),
    delete_keys,
    undo="cannot be undone: create a new key (aws iam create-access-key --user-name {user})",
)
