"""IAM user permissions boundaries and the user inline-policy quota for moto 5.2.5, which has neither (FACTS.md).

- ``PutUserPermissionsBoundary`` / ``DeleteUserPermissionsBoundary``, and ``GetUser``'s ``PermissionsBoundary``
  (``PermissionsBoundaryType`` + ``PermissionsBoundaryArn``, as IAM answers). Errors as IAM documents them:
  NoSuchEntity for an unknown user or a policy that does not exist, InvalidInput for a value that is not a policy
  ARN. AWS managed policies are known from moto's own data (no ``MOTO_IAM_LOAD_MANAGED_POLICIES`` needed).
- Authorization (moto's IAM auth mode, ``set_initial_no_auth_action_count``): a user's boundary caps its access
  keys' calls as IAM's evaluation does: an explicit Deny in the boundary denies, and the boundary must allow what
  the identity policies allow.
- ``PutUserPolicy`` refuses with LimitExceeded when the user's inline policies together would pass 2,048
  characters, whitespace not counted (IAM's quota; IAM answers "Maximum policy size of 2048 bytes exceeded").
- ``TagUser`` refuses with LimitExceeded when the user would carry more than 50 tags (moto checks one call only).

Installed on moto's IAM request handler and backend, so both ``mock_aws`` and ``ThreadedMotoServer`` serve it;
state lives on moto's User, so moto's reset clears it. One difference stays: moto's ListUsers shows the boundary
too (IAM's list calls leave it out); nothing here reads it from there.
"""

from __future__ import annotations

import json
import re
from functools import cache
from typing import Any

from moto.core.responses import EmptyResult
from moto.iam import access_control
from moto.iam.access_control import IAMPolicy, IAMUserAccessKey, PermissionResult
from moto.iam.aws_managed_policies import aws_managed_policies_data
from moto.iam.exceptions import InvalidInput, LimitExceededException, NotFoundException
from moto.iam.models import IAMBackend, User
from moto.iam.responses import IamResponse

USER_INLINE_QUOTA = 2048
USER_TAG_QUOTA = 50
POLICY_ARN = re.compile(r"^arn:aws[a-z-]*:iam::(aws|\d{12}):policy/(?:[\w+=,.@-]+/)*([\w+=,.@-]+)$")


@cache
def _aws_managed_documents() -> dict[str, str]:
    parsed = json.loads(aws_managed_policies_data)
    return {name: json.dumps(body["Document"]) for name, body in parsed.items()}


def boundary_document(backend: IAMBackend, arn: str) -> str:
    """The policy document behind ``arn``; NoSuchEntity when there is no such policy, InvalidInput for a bad ARN."""
    matched = POLICY_ARN.match(arn)
    if matched is None:
        raise InvalidInput(f"ARN {arn} is not valid.")
    owner, name = matched.groups()
    if owner == "aws" and name in _aws_managed_documents():
        return _aws_managed_documents()[name]
    policy = backend.managed_policies.get(arn)
    if policy is None:
        raise NotFoundException(f"Policy {arn} does not exist or is not attachable.")
    return str(next(v.document for v in policy.versions if v.is_default))


def _boundary_of(user: User) -> dict[str, str] | None:
    arn = getattr(user, "kq_permissions_boundary_arn", None)
    if not arn:
        return None
    return {"PermissionsBoundaryType": "PermissionsBoundaryPolicy", "PermissionsBoundaryArn": arn}


def _put_boundary(self: IamResponse) -> EmptyResult:
    user = self.backend.get_user(self._get_param("UserName"))  # NoSuchEntity for an unknown user
    arn = self._get_param("PermissionsBoundary")
    boundary_document(self.backend, arn)
    user.kq_permissions_boundary_arn = arn  # type: ignore[attr-defined]
    return EmptyResult()


def _delete_boundary(self: IamResponse) -> EmptyResult:
    user = self.backend.get_user(self._get_param("UserName"))
    user.kq_permissions_boundary_arn = None  # type: ignore[attr-defined]
    return EmptyResult()


_moto_put_user_policy = IAMBackend.put_user_policy


def _size(document: str) -> int:
    return len(re.sub(r"\s", "", document))


def _put_user_policy_within_quota(
    self: IAMBackend, user_name: str, policy_name: str, policy_json: str
) -> None:
    user = self.get_user(user_name)
    others = sum(_size(doc) for name, doc in user.policies.items() if name != policy_name)
    if others + _size(policy_json) > USER_INLINE_QUOTA:
        raise LimitExceededException(
            f"Maximum policy size of {USER_INLINE_QUOTA} bytes exceeded for user {user_name}"
        )
    _moto_put_user_policy(self, user_name, policy_name, policy_json)


_moto_tag_user = IAMBackend.tag_user


def _tag_user_within_quota(self: IAMBackend, name: str, tags: list[dict[str, str]]) -> None:
    present = {tag["Key"].lower() for tag in self.list_user_tags(name)}
    if len(present | {tag["Key"].lower() for tag in tags}) > USER_TAG_QUOTA:
        raise LimitExceededException(f"The number of tags has reached the maximum limit of {USER_TAG_QUOTA}.")
    _moto_tag_user(self, name, tags)


_moto_check_action_permitted = access_control.IAMRequestBase.check_action_permitted


def _check_with_boundary(self: Any, resource: str) -> None:
    """IAM's order: an explicit Deny anywhere (the boundary included) denies; an allow must be inside the boundary."""
    key = self._access_key
    if isinstance(key, IAMUserAccessKey) and self._action != "sts:GetCallerIdentity":
        user = key.backend.get_user(key._owner_user_name)  # moto keeps the owner there
        boundary = _boundary_of(user)
        if boundary is not None:
            document = boundary_document(key.backend, boundary["PermissionsBoundaryArn"])
            if IAMPolicy(document).is_action_permitted(self._action, resource) != PermissionResult.PERMITTED:
                self._raise_access_denied()
    _moto_check_action_permitted(self, resource)


def install() -> None:
    User.permissions_boundary = property(_boundary_of)  # type: ignore[attr-defined]
    IAMBackend.put_user_policy = _put_user_policy_within_quota  # type: ignore[method-assign]
    IAMBackend.tag_user = _tag_user_within_quota  # type: ignore[method-assign]
    access_control.IAMRequestBase.check_action_permitted = _check_with_boundary  # type: ignore[method-assign]
    IamResponse.put_user_permissions_boundary = _put_boundary  # type: ignore[attr-defined]
    IamResponse.delete_user_permissions_boundary = _delete_boundary  # type: ignore[attr-defined]
