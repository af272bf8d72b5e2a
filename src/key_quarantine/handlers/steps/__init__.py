"""The playbook's steps, one a file, listed explicitly in the order they run.

``CONTAINMENT_STEPS`` run in one parallel round right after ``resolve``; ``RECORD_STEPS`` follow one by one.
Each step declares the IAM actions it needs; the responder's role is exactly their union (with ``resolve``'s).
"""

from __future__ import annotations

from key_quarantine.handlers.steps import (
    deactivate_credentials,
    deactivate_keys,
    delete_keys,
    deleted_key,
    deny_policy,
    derived,
    evidence,
    notify,
    remove_console_access,
    resolve,
    revoke_role_sessions,
    second_look,
    security_hub,
    tag_user,
    undone_by,
)
from key_quarantine.handlers.steps.base import (
    CannotContainError,
    PlaybookError,
    Skip,
    Status,
    Step,
    StepResult,
)

RESOLVE_ACTIONS = resolve.ACTIONS
CONTAINMENT_STEPS: tuple[Step, ...] = (deactivate_keys.STEP, deny_policy.STEP, deactivate_credentials.STEP)
RECORD_STEPS: tuple[Step, ...] = (
    derived.STEP,  # what the key's trail created: contained right after the named user, before any evidence
    revoke_role_sessions.STEP,  # the role sessions it opened: revoked when opted in, else reported
    remove_console_access.STEP,
    deleted_key.STEP,
    undone_by.STEP,  # who undid a containment this run found undone: in the notice
    evidence.STEP,
    tag_user.STEP,
    notify.STEP,
    security_hub.STEP,
    delete_keys.STEP,
    second_look.STEP,
)
#: What the delayed second look runs after the containment round: the trail again, its evidence, a follow-up.
SECOND_LOOK_STEPS: tuple[Step, ...] = (
    derived.STEP,
    revoke_role_sessions.STEP,
    evidence.STEP,
    second_look.FOLLOW_UP,
)
ALL_STEPS = CONTAINMENT_STEPS + RECORD_STEPS + (second_look.FOLLOW_UP,)

__all__ = [
    "ALL_STEPS",
    "CONTAINMENT_STEPS",
    "RECORD_STEPS",
    "RESOLVE_ACTIONS",
    "SECOND_LOOK_STEPS",
    "CannotContainError",
    "PlaybookError",
    "Skip",
    "Status",
    "Step",
    "StepResult",
]
