"""What an IAM user of the app may do: its identity policies (inline, managed, groups) and permissions boundary.

Conditions and resource scoping are not evaluated: an action allowed on any resource under any condition counts
as allowed, which is what matters to someone holding the user's leaked key. Policies defined outside the app
are unknown, except a few AWS managed policies whose effect is well known (``KNOWN_AWS_MANAGED_POLICIES``).
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from functools import cache, cached_property
from typing import TYPE_CHECKING, Any

from key_quarantine.rules.intrinsics import ResourceAttribute
from key_quarantine.rules.keys import USER
from key_quarantine.rules.model import Resource, Stack

if TYPE_CHECKING:
    from key_quarantine.rules.base import RuleContext

GROUP = "AWS::IAM::Group"
MANAGED_POLICY = "AWS::IAM::ManagedPolicy"
POLICY = "AWS::IAM::Policy"
USER_POLICY = "AWS::IAM::UserPolicy"
GROUP_POLICY = "AWS::IAM::GroupPolicy"
USER_TO_GROUP = "AWS::IAM::UserToGroupAddition"

_AWS_POLICY = "arn:aws:iam::aws:policy/"
#: The part of well-known AWS managed policies that matters here (what they allow, in the broadest statement).
KNOWN_AWS_MANAGED_POLICIES: Mapping[str, Mapping[str, Any]] = {
    _AWS_POLICY + "AdministratorAccess": {"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]},
    _AWS_POLICY + "PowerUserAccess": {
        "Statement": [
            {"Effect": "Allow", "NotAction": ["iam:*", "organizations:*", "account:*"], "Resource": "*"},
        ]
    },
    _AWS_POLICY + "AmazonBedrockFullAccess": {
        "Statement": [{"Effect": "Allow", "Action": "bedrock:*", "Resource": "*"}]
    },
    _AWS_POLICY + "SecretsManagerReadWrite": {
        "Statement": [{"Effect": "Allow", "Action": "secretsmanager:*", "Resource": "*"}]
    },
    _AWS_POLICY + "AmazonSESFullAccess": {
        "Statement": [{"Effect": "Allow", "Action": "ses:*", "Resource": "*"}]
    },
}


@dataclass(frozen=True)
class Statement:
    effect: str
    actions: tuple[str, ...]
    not_actions: tuple[str, ...]

    def covers(self, action: str) -> bool:
        if self.not_actions:
            return not any(action_matches(p, action) for p in self.not_actions)
        return any(action_matches(p, action) for p in self.actions)


@cache
def _action_regex(pattern: str) -> re.Pattern[str]:
    return re.compile(fnmatch.translate(pattern.lower()))


def action_matches(pattern: str, action: str) -> bool:
    """IAM action matching: case-insensitive, ``*`` and ``?`` wildcards."""
    return _action_regex(pattern).match(action.lower()) is not None


class UserPermissions:
    """The identity policies and permissions boundary of one ``AWS::IAM::User`` of the app."""

    def __init__(self, context: RuleContext, user: Resource) -> None:
        self._context = context
        self._user = user
        self._resolver = context.resolver

    def effectively_allowed(self, actions: Iterable[str]) -> list[str]:
        """The actions the user's policies allow, no Deny of its own removes, and its boundary permits.

        A boundary defined outside the app cannot be read: then nothing is reported as allowed.
        """
        identity = self.identity_statements
        boundary_arn = self._user.properties.get("PermissionsBoundary")
        if boundary_arn is None:
            return [action for action in actions if _allows(identity, action)]
        boundary = [
            s for d in self._managed_documents(self._user.stack, boundary_arn) for s in _statements(d)
        ]
        if not boundary:
            return []
        return [action for action in actions if _allows(identity, action) and _allows(boundary, action)]

    @cached_property
    def identity_statements(self) -> list[Statement]:
        documents = [*self._inline_documents(), *self._attached_documents()]
        return [statement for document in documents for statement in _statements(document)]

    # --- where policies come from -------------------------------------------------------------------------

    def _inline_documents(self) -> Iterator[Any]:
        for owner in [self._user, *self.groups]:
            for policy in owner.properties.get("Policies") or []:
                if isinstance(policy, Mapping):
                    yield self._resolver.resolve_deep(owner.stack, policy.get("PolicyDocument"))

    def _attached_documents(self) -> Iterator[Any]:
        for owner in [self._user, *self.groups]:
            for arn in owner.properties.get("ManagedPolicyArns") or []:
                yield from self._managed_documents(owner.stack, arn)
        for policy in self._app_policies():
            yield self._resolver.resolve_deep(policy.stack, policy.properties.get("PolicyDocument"))

    def _app_policies(self) -> Iterator[Resource]:
        app = self._context.app
        for policy in [*app.resources_of_type(POLICY), *app.resources_of_type(MANAGED_POLICY)]:
            if self._names_user(policy, policy.properties.get("Users")) or self._names_group(
                policy, policy.properties.get("Groups")
            ):
                yield policy
        for policy in app.resources_of_type(USER_POLICY):
            if self._names_user(policy, [policy.properties.get("UserName")]):
                yield policy
        for policy in app.resources_of_type(GROUP_POLICY):
            if self._names_group(policy, [policy.properties.get("GroupName")]):
                yield policy

    def _managed_documents(self, stack: Stack, arn_expression: Any) -> list[Any]:
        value = self._resolver.resolve(stack, arn_expression)
        if isinstance(value, ResourceAttribute) and value.resource.type == MANAGED_POLICY:
            policy = value.resource
            return [self._resolver.resolve_deep(policy.stack, policy.properties.get("PolicyDocument"))]
        if isinstance(value, str) and value in KNOWN_AWS_MANAGED_POLICIES:
            return [KNOWN_AWS_MANAGED_POLICIES[value]]
        return []

    @cached_property
    def groups(self) -> list[Resource]:
        app = self._context.app
        listed = list(self._user.properties.get("Groups") or [])
        found = [g for g in app.resources_of_type(GROUP) if self._refers_to(self._user.stack, listed, g)]
        for addition in app.resources_of_type(USER_TO_GROUP):
            if self._names_user(addition, addition.properties.get("Users")):
                group_name = [addition.properties.get("GroupName")]
                found.extend(
                    g for g in app.resources_of_type(GROUP) if self._refers_to(addition.stack, group_name, g)
                )
        return list(dict.fromkeys(found))

    def _names_user(self, holder: Resource, expressions: Any) -> bool:
        return self._refers_to(holder.stack, expressions, self._user)

    def _names_group(self, holder: Resource, expressions: Any) -> bool:
        return any(self._refers_to(holder.stack, expressions, group) for group in self.groups)

    def _refers_to(self, stack: Stack, expressions: Any, target: Resource) -> bool:
        """Whether a list of names or references (in ``stack``) designates ``target`` (a user or group)."""
        if not isinstance(expressions, list):
            return False
        name_property = "UserName" if target.type == USER else "GroupName"
        target_name = self._resolver.resolve_string(target.stack, target.properties.get(name_property))
        for expression in expressions:
            value = self._resolver.resolve(stack, expression)
            if isinstance(value, ResourceAttribute) and value.resource is target and value.attribute is None:
                return True
            if isinstance(value, str) and target_name is not None and value == target_name:
                return True
        return False


def _statements(document: Any) -> Iterator[Statement]:
    raw = document.get("Statement") if isinstance(document, Mapping) else None
    for statement in [raw] if isinstance(raw, Mapping) else raw or []:
        if isinstance(statement, Mapping):
            yield Statement(
                effect=str(statement.get("Effect", "")),
                actions=_strings(statement.get("Action")),
                not_actions=_strings(statement.get("NotAction")),
            )


def _strings(value: Any) -> tuple[str, ...]:
    items = [value] if isinstance(value, str) else value if isinstance(value, list) else []
    return tuple(item for item in items if isinstance(item, str))


def _allows(statements: list[Statement], action: str) -> bool:
    allowed = any(s.effect == "Allow" and s.covers(action) for s in statements)
    return allowed and not any(s.effect == "Deny" and s.covers(action) for s in statements)
