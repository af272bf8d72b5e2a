"""Before any step: who and which key, the exempt tag and the user's keys."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from key_quarantine.handlers.steps.base import PlaybookError, error_code
from key_quarantine.handlers.triggers import TriggerFamily

if TYPE_CHECKING:
    from key_quarantine.handlers.playbook import Incident

ACTIONS = ("iam:GetAccessKeyLastUsed", "iam:ListUserTags", "iam:ListAccessKeys")


def resolve(incident: Incident) -> None:
    """Who and which key. At most one call before containment when the event names no user (old Health)."""
    trigger = incident.trigger
    if trigger.user_name is None:
        if trigger.access_key_id is None:
            raise PlaybookError("the event names neither a user nor an access key")
        try:
            found = incident.iam.get_access_key_last_used(AccessKeyId=trigger.access_key_id)
        except ClientError as error:
            if error_code(error) not in ("NoSuchEntity", "InvalidClientTokenId"):
                raise  # throttled, denied, down: the delivery is retried, never dropped
            raise PlaybookError(
                f"access key {trigger.access_key_id} is not in this account ({error_code(error)})"
            ) from None
        incident.user_name = found.get("UserName") or ""
        if not incident.user_name:
            raise PlaybookError(f"access key {trigger.access_key_id} belongs to no IAM user (a root key?)")
    else:
        incident.user_name = trigger.user_name
    allowed = incident.settings.allow_list & {incident.user_name, trigger.access_key_id or ""}
    if trigger.family is TriggerFamily.ABUSE and allowed:
        raise PlaybookError(f"{', '.join(sorted(allowed))} is allow-listed for these calls")
    if incident.settings.acting_user and incident.user_name == incident.settings.acting_user:
        raise PlaybookError(
            f"refusing to act on IAM user {incident.user_name!r}: it is the principal running this response, which "
            "would lock itself out half-way"
        )


def survey(incident: Incident) -> None:
    """Exempt tag and the user's keys, in one parallel round (also proves the user exists)."""
    with ThreadPoolExecutor(max_workers=2) as pool:
        tags_call = pool.submit(incident.iam.list_user_tags, UserName=incident.user_name)
        keys_call = pool.submit(incident.iam.list_access_keys, UserName=incident.user_name)
        try:
            tags, keys = tags_call.result()["Tags"], keys_call.result()["AccessKeyMetadata"]
        except ClientError as error:
            if error_code(error) == "NoSuchEntity":
                raise PlaybookError(
                    f"IAM user {incident.user_name!r} does not exist in this account"
                ) from None
            raise
    incident.exempt = any(tag["Key"] == incident.settings.exempt_tag for tag in tags)
    incident.keys_before = {key["AccessKeyId"]: key["Status"] for key in keys}
    wanted = incident.trigger.access_key_id
    if wanted is not None and wanted not in incident.keys_before:
        raise PlaybookError(f"IAM user {incident.user_name!r} has no access key {wanted}")
    incident.target_keys = [wanted] if wanted else sorted(incident.keys_before)
