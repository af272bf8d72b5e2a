"""Delete the user's console password when ``remove_console_access`` is on."""

from __future__ import annotations

from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from key_quarantine.handlers.steps.base import Skip, Step, error_code, irreversible_refused

if TYPE_CHECKING:
    from key_quarantine.handlers.playbook import Incident


def remove_login_profile(incident: Incident) -> str:
    if not incident.contains or not incident.settings.remove_console_access:
        raise Skip("console access is left as it is (remove_console_access is off)")
    if refused := irreversible_refused(incident):
        raise Skip(f"the console password is kept (the deny policy blocks it), {refused}")
    if incident.settings.dry_run:
        return "dry run: would delete the console password"
    try:
        incident.iam.delete_login_profile(UserName=incident.user_name)
    except ClientError as error:
        if error_code(error) == "NoSuchEntity":
            raise Skip("the user has no console password") from None
        raise
    return "deleted the console password"


STEP = Step(
    "remove-console-access",
    ("iam:DeleteLoginProfile",),
    remove_login_profile,
    undo="aws iam create-login-profile --user-name {user} --password-reset-required "
    "(a new password: the old one cannot be restored)",
)
