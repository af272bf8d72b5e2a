"""Before any step: who and which key, the exempt tag and the user's keys."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from functools import partial
from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from key_quarantine.handlers import key_owner
from key_quarantine.handlers.boundary import boundary_of
from key_quarantine.handlers.cannot_contain import is_root, root_credentials, unknown_owner
from key_quarantine.handlers.steps.base import CannotContainError, PlaybookError, error_code
from key_quarantine.handlers.triggers import TriggerFamily

if TYPE_CHECKING:
    from key_quarantine.handlers.playbook import Incident

ACTIONS = (
    "iam:GetAccessKeyLastUsed",
    "iam:GetUser",
    "iam:ListUserTags",
    "iam:ListAccessKeys",
    *key_owner.ACTIONS,
)


def resolve(incident: Incident) -> None:
    """Who and which key. At most one call before containment when the event names no user (old Health); one
    parallel round of CloudTrail lookups more when IAM no longer knows the key (rotated, then deleted)."""
    trigger = incident.trigger
    if trigger.cannot_contain is not None:
        raise CannotContainError(trigger.cannot_contain)
    if trigger.user_name is None:
        if trigger.access_key_id is None:
            raise PlaybookError("the event names neither a user nor an access key")
        incident.user_name = _owner_of(incident, trigger.access_key_id)
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


def _owner_of(incident: Incident, key: str) -> str:
    """The key's user: IAM's word while it knows the key, else CloudTrail's (its deletion, its own calls)."""
    try:
        found = incident.iam.get_access_key_last_used(AccessKeyId=key)
    except ClientError as error:
        if error_code(error) not in ("NoSuchEntity", "InvalidClientTokenId"):
            raise  # throttled, denied, down: the delivery is retried, never dropped
        return _owner_from_cloudtrail(incident, key, error_code(error))
    user = found.get("UserName") or ""
    if not user or is_root(user):
        raise CannotContainError(root_credentials(f"access key {key} is the root user's", key))
    return str(user)


def _owner_from_cloudtrail(incident: Incident, key: str, code: str) -> str:
    settings = incident.settings
    since = incident.started_at - timedelta(hours=settings.lookback_hours)
    cloudtrail = partial(incident.client, "cloudtrail")
    owner = key_owner.find_owner(cloudtrail, incident.trigger.account, key, settings.regions, since)
    if owner.user is None:
        failed = f"; CloudTrail could not answer: {'; '.join(owner.unanswered)}" if owner.unanswered else ""
        why = (
            f"IAM no longer knows the key ({code}) and CloudTrail names no user for it, not yet at least (it "
            f"records a call about five minutes after it is made){failed}"
        )
        raise CannotContainError(unknown_owner(f"access key {key} is not in this account", key, why))
    incident.deleted_key, incident.deletion = key, owner.deletion
    return owner.user


def survey(incident: Incident) -> None:
    """The user (its unique id, ARN and path), its tags and its keys, in one parallel round (also proves the user
    exists). Exemptions come from the settings only: the exempt tag is one the key's holder can write."""
    with ThreadPoolExecutor(max_workers=3) as pool:
        user_call = pool.submit(incident.iam.get_user, UserName=incident.user_name)
        tags_call = pool.submit(incident.iam.list_user_tags, UserName=incident.user_name)
        keys_call = pool.submit(incident.iam.list_access_keys, UserName=incident.user_name)
        try:
            user = user_call.result()["User"]
            tags, keys = tags_call.result()["Tags"], keys_call.result()["AccessKeyMetadata"]
        except ClientError as error:
            if error_code(error) == "NoSuchEntity":
                raise PlaybookError(
                    f"IAM user {incident.user_name!r} does not exist in this account"
                ) from None
            raise
    incident.tags_before = {tag["Key"]: tag["Value"] for tag in tags}
    incident.user_id, incident.user_arn = user["UserId"], user["Arn"]
    incident.user_path = user.get("Path", "/")
    incident.boundary_before = boundary_of(user)
    incident.exemption = next(
        (
            e
            for e in incident.settings.exemptions
            if e.matches(incident.user_name, incident.user_arn, incident.user_path)
        ),
        None,
    )
    tagged = any(tag["Key"] == incident.settings.exempt_tag for tag in tags)
    incident.exempt_tag_ignored = tagged and incident.exemption is None
    incident.keys_before = {key["AccessKeyId"]: key["Status"] for key in keys}
    wanted = incident.trigger.access_key_id
    if wanted is not None and wanted not in incident.keys_before and incident.deleted_key is None:
        _named_key_gone(incident, wanted)
    named = wanted is not None and incident.deleted_key is None
    incident.target_keys = [wanted] if named and wanted else sorted(incident.keys_before)


def _named_key_gone(incident: Incident, key: str) -> None:
    """The event names the user and a key it does not have: deleted (rotated first, so the key left is most likely
    the attacker's: every key is contained), unless IAM says the key is another user's (refused: the event
    contradicts itself). One call, on this path only."""
    try:
        owner = incident.iam.get_access_key_last_used(AccessKeyId=key).get("UserName")
    except ClientError as error:
        if error_code(error) not in ("NoSuchEntity", "InvalidClientTokenId"):
            raise
        owner = None
    if owner and owner != incident.user_name:
        raise PlaybookError(f"access key {key} belongs to IAM user {owner!r}, not {incident.user_name!r}")
    incident.deleted_key = key
