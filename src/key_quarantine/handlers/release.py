"""Undo our containment of a user (``key-quarantine release``): the deny policy, the AWSDenyAll boundary (the boundary
it replaced put back), our tags; keys on request. Run by the operator (the CLI), never by the responder: it may set
any boundary, which the responder's role cannot."""

from __future__ import annotations

from botocore.exceptions import BotoCoreError, ClientError

from key_quarantine.handlers.aws import Aws
from key_quarantine.handlers.boundary import (
    BOUNDARY_REPLACED_TAG,
    DENY_ALL_POLICY_NAME,
    NO_BOUNDARY,
    boundary_of,
    held_by_deny_all,
)
from key_quarantine.handlers.ledger import Ledger
from key_quarantine.handlers.settings import CONTAINED_AT_TAG, CONTAINMENT_POLICY_NAME, INCIDENT_TAG
from key_quarantine.handlers.steps import PlaybookError, Status, StepResult

#: What ``release`` calls in the user's account: an organization member's operator role grants exactly these
#: (``key-quarantine release --account``), on users only.
RELEASE_ACTIONS = (
    "iam:DeleteUserPermissionsBoundary",
    "iam:DeleteUserPolicy",
    "iam:GetUser",
    "iam:ListAccessKeys",
    "iam:ListUserTags",
    "iam:PutUserPermissionsBoundary",
    "iam:UntagUser",
    "iam:UpdateAccessKey",
)


def release_user(
    aws: Aws,
    user_name: str,
    *,
    reactivate: bool = False,
    reactivate_keys: tuple[str, ...] = (),
    ledger: Ledger | None = None,
) -> list[StepResult]:
    """Remove KeyQuarantineContainment, put back the boundary our AWSDenyAll replaced, remove our tags; close the
    user's incidents in the ledger, so that a later leak is answered as a new incident. Keys come back on only when asked: ``reactivate`` turns on the keys the ledger's
    incidents found Active and named by their signal (never a key its holder added), ``reactivate_keys`` the
    keys named one by one."""
    iam = aws.iam
    try:
        keys = iam.list_access_keys(UserName=user_name)["AccessKeyMetadata"]
    except ClientError as error:
        if error.response["Error"]["Code"] == "NoSuchEntity":
            raise PlaybookError(f"IAM user {user_name!r} does not exist in this account") from None
        raise
    wanted = set(reactivate_keys)
    if reactivate and ledger is not None:
        wanted |= ledger.reactivatable_keys(_account(aws), user_name)
    boundary = _restore_boundary(aws, user_name, ledger)
    return [
        _remove_policy(aws, user_name),
        boundary,
        _untag(aws, user_name, keep_boundary_record=boundary.status is Status.FAILED),
        _reactivate(aws, user_name, keys, wanted, asked=reactivate or bool(reactivate_keys)),
        _close_incidents(aws, user_name, ledger),
    ]


def _account(aws: Aws) -> str:
    return str(aws.client("sts").get_caller_identity()["Account"])


def _close_incidents(aws: Aws, user_name: str, ledger: Ledger | None) -> StepResult:
    if ledger is None:
        return StepResult(
            "close-incidents",
            Status.SKIPPED,
            "no ledger given (--ledger-table or KQ_LEDGER_TABLE): the responder will take a new leak of this "
            "user for the incident it already finished",
        )
    try:
        closed = ledger.close_incidents(_account(aws), user_name)
    except (ClientError, BotoCoreError) as error:
        return StepResult("close-incidents", Status.FAILED, str(error))
    if not closed:
        return StepResult("close-incidents", Status.SKIPPED, "no open incident of the user in the ledger")
    return StepResult(
        "close-incidents", Status.DONE, f"closed {len(closed)} incident(s), kept as <id>#released#<time>"
    )


def _remove_policy(aws: Aws, user_name: str) -> StepResult:
    try:
        aws.iam.delete_user_policy(UserName=user_name, PolicyName=CONTAINMENT_POLICY_NAME)
    except ClientError as error:
        if error.response["Error"]["Code"] == "NoSuchEntity":
            return StepResult(
                "remove-deny-policy", Status.SKIPPED, f"no {CONTAINMENT_POLICY_NAME} policy on the user"
            )
        return StepResult("remove-deny-policy", Status.FAILED, str(error))
    return StepResult("remove-deny-policy", Status.DONE, f"deleted inline policy {CONTAINMENT_POLICY_NAME}")


def _restore_boundary(aws: Aws, user_name: str, ledger: Ledger | None) -> StepResult:
    """Only an AWSDenyAll boundary that we recorded putting is ours to take off; the record is the ledger's, else
    the user's tag (which the key's holder could have written: the detail says which was used)."""
    name = "restore-boundary"
    try:
        user = aws.iam.get_user(UserName=user_name)["User"]
        if not held_by_deny_all(user):
            current = boundary_of(user) or NO_BOUNDARY
            return StepResult(
                name, Status.SKIPPED, f"no {DENY_ALL_POLICY_NAME} boundary on the user (boundary: {current})"
            )
        replaced, source = _replaced_boundary(aws, user_name, ledger)
        if replaced is None:
            return StepResult(
                name,
                Status.SKIPPED,
                f"{DENY_ALL_POLICY_NAME} boundary left in place: neither the ledger nor tag {BOUNDARY_REPLACED_TAG} "
                f"says key-quarantine put it (remove it with aws iam delete-user-permissions-boundary --user-name "
                f"{user_name})",
            )
        if replaced == NO_BOUNDARY:
            aws.iam.delete_user_permissions_boundary(UserName=user_name)
            return StepResult(
                name,
                Status.DONE,
                f"removed boundary {DENY_ALL_POLICY_NAME}; the user had none before ({source})",
            )
        aws.iam.put_user_permissions_boundary(UserName=user_name, PermissionsBoundary=replaced)
    except (ClientError, BotoCoreError) as error:
        return StepResult(name, Status.FAILED, str(error))
    return StepResult(
        name, Status.DONE, f"restored boundary {replaced} in place of {DENY_ALL_POLICY_NAME} ({source})"
    )


def _replaced_boundary(aws: Aws, user_name: str, ledger: Ledger | None) -> tuple[str | None, str]:
    if ledger is not None:
        recorded = ledger.replaced_boundary(_account(aws), user_name)
        if recorded is not None:
            return recorded, "recorded in the ledger"
    tags = {tag["Key"]: tag["Value"] for tag in aws.iam.list_user_tags(UserName=user_name)["Tags"]}
    tagged = tags.get(BOUNDARY_REPLACED_TAG)
    source = f"from the user's tag {BOUNDARY_REPLACED_TAG}, which the key's holder could write: check it"
    return tagged, source


def _untag(aws: Aws, user_name: str, *, keep_boundary_record: bool = False) -> StepResult:
    ours = [INCIDENT_TAG, CONTAINED_AT_TAG, *([] if keep_boundary_record else [BOUNDARY_REPLACED_TAG])]
    try:
        present = [
            tag["Key"] for tag in aws.iam.list_user_tags(UserName=user_name)["Tags"] if tag["Key"] in ours
        ]
        if not present:
            return StepResult("untag-user", Status.SKIPPED, "no key-quarantine tags on the user")
        aws.iam.untag_user(UserName=user_name, TagKeys=present)
    except ClientError as error:
        return StepResult("untag-user", Status.FAILED, str(error))
    return StepResult("untag-user", Status.DONE, f"removed tags {', '.join(present)}")


def _reactivate(
    aws: Aws, user_name: str, keys: list[dict[str, str]], wanted: set[str], *, asked: bool
) -> StepResult:
    if not asked:
        return StepResult(
            "reactivate-keys", Status.SKIPPED, "keys stay inactive (use --reactivate to turn them on)"
        )
    inactive = [key["AccessKeyId"] for key in keys if key["Status"] == "Inactive"]
    chosen = [key for key in inactive if key in wanted]
    left = [key for key in inactive if key not in wanted]
    kept = (
        f"; kept inactive (not found active and named by a signal; name one with --reactivate-key): {', '.join(left)}"
        if left
        else ""
    )
    if not chosen:
        return StepResult("reactivate-keys", Status.SKIPPED, f"no key to reactivate{kept}")
    try:
        for key in chosen:
            aws.iam.update_access_key(UserName=user_name, AccessKeyId=key, Status="Active")
    except ClientError as error:
        return StepResult("reactivate-keys", Status.FAILED, str(error))
    return StepResult("reactivate-keys", Status.DONE, f"reactivated {', '.join(chosen)}{kept}")
