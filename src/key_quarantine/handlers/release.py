"""Undo our containment of a user (``key-quarantine release``): the deny policy and our tags; keys on request."""

from __future__ import annotations

from botocore.exceptions import BotoCoreError, ClientError

from key_quarantine.handlers.aws import Aws
from key_quarantine.handlers.ledger import Ledger
from key_quarantine.handlers.settings import CONTAINED_AT_TAG, CONTAINMENT_POLICY_NAME, INCIDENT_TAG
from key_quarantine.handlers.steps import PlaybookError, Status, StepResult

#: What ``release`` calls in the user's account: an organization's member role grants these to the operators
#: (``key-quarantine release --account``), on users only.
RELEASE_ACTIONS = (
    "iam:ListAccessKeys",
    "iam:DeleteUserPolicy",
    "iam:ListUserTags",
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
    """Remove KeyQuarantineContainment and our tags; close the user's incidents in the ledger, so that a later leak
    is answered as a new incident. Keys come back on only when asked: ``reactivate`` turns on the keys the ledger's
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
    return [
        _remove_policy(aws, user_name),
        _untag(aws, user_name),
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


def _untag(aws: Aws, user_name: str) -> StepResult:
    ours = [INCIDENT_TAG, CONTAINED_AT_TAG]
    try:
        present = [
            tag["Key"] for tag in aws.iam.list_user_tags(UserName=user_name)["Tags"] if tag["Key"] in ours
        ]
        if not present:
            return StepResult("untag-user", Status.SKIPPED, "no key-quarantine tags on the user")
        aws.iam.untag_user(UserName=user_name, TagKeys=present)
    except ClientError as error:
        return StepResult("untag-user", Status.FAILED, str(error))
    return StepResult("untag-user", Status.DONE, f"removed tags {INCIDENT_TAG}, {CONTAINED_AT_TAG}")


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
