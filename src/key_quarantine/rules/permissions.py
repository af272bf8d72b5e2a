"""What an IAM user of the app may do: its identity policies (inline, managed, groups) and permissions boundary.

Conditions are not evaluated: an action allowed under any condition counts as allowed, which is what matters to
someone holding the user's leaked key. Resources are: an Allow on one bucket does not allow what takes only
``*`` or belongs to another service (``resource_scope``), and a Deny counts only on every resource. Every AWS
managed policy is known (``managed_policies``, a bundled, refreshable file); other policies defined outside the
app are unknown.
"""

from __future__ import annotations

import fnmatch
import re
from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import cache, cached_property
from typing import TYPE_CHECKING, Any

from key_quarantine.rules.intrinsics import Resolver, ResourceAttribute
from key_quarantine.rules.keys import USER
from key_quarantine.rules.managed_policies import aws_managed_policy
from key_quarantine.rules.model import AppModel, Resource, Stack
from key_quarantine.rules.resource_scope import ALL_BUT_SOME, WHOLE, reaches, scope_of

if TYPE_CHECKING:
    from key_quarantine.rules.base import RuleContext

GROUP = "AWS::IAM::Group"
MANAGED_POLICY = "AWS::IAM::ManagedPolicy"
POLICY = "AWS::IAM::Policy"
USER_POLICY = "AWS::IAM::UserPolicy"
GROUP_POLICY = "AWS::IAM::GroupPolicy"
USER_TO_GROUP = "AWS::IAM::UserToGroupAddition"


@dataclass(frozen=True)
class Statement:
    effect: str
    actions: tuple[str, ...]
    not_actions: tuple[str, ...]
    resources: tuple[str, ...] = (WHOLE,)  # scopes (resource_scope.scope_of), or ALL_BUT_SOME for NotResource

    def covers(self, action: str) -> bool:
        if self.not_actions:
            named = not any(action_matches(p, action) for p in self.not_actions)
        else:
            named = any(action_matches(p, action) for p in self.actions)
        if not named:
            return False
        if self.effect == "Deny":  # a Deny of some resources leaves the action allowed on the others
            return WHOLE in self.resources
        return reaches(self.resources, action)


@cache
def _action_regex(pattern: str) -> re.Pattern[str]:
    return re.compile(fnmatch.translate(pattern.lower()))


def action_matches(pattern: str, action: str) -> bool:
    """IAM action matching: case-insensitive, ``*`` and ``?`` wildcards."""
    return _action_regex(pattern).match(action.lower()) is not None


class IamIndex:
    """Who is attached to what, resolved once per app: policies by user and group, groups by user.

    Built in one pass so that checking every user stays linear in the size of the app.
    """

    def __init__(self, app: AppModel, resolver: Resolver) -> None:
        self._resolver = resolver
        self._users_by_name = _by_name(app.resources_of_type(USER), "UserName", resolver)
        self._groups_by_name = _by_name(app.resources_of_type(GROUP), "GroupName", resolver)
        self.policies_by_user: dict[Resource, list[Resource]] = defaultdict(list)
        self.policies_by_group: dict[Resource, list[Resource]] = defaultdict(list)
        self.groups_by_user: dict[Resource, list[Resource]] = defaultdict(list)
        self._index_policies(app)
        self._index_memberships(app)

    def _index_policies(self, app: AppModel) -> None:
        for policy in [*app.resources_of_type(POLICY), *app.resources_of_type(MANAGED_POLICY)]:
            for user in self._designated(policy.stack, policy.properties.get("Users"), USER):
                self.policies_by_user[user].append(policy)
            for group in self._designated(policy.stack, policy.properties.get("Groups"), GROUP):
                self.policies_by_group[group].append(policy)
        for policy in app.resources_of_type(USER_POLICY):
            for user in self._designated(policy.stack, [policy.properties.get("UserName")], USER):
                self.policies_by_user[user].append(policy)
        for policy in app.resources_of_type(GROUP_POLICY):
            for group in self._designated(policy.stack, [policy.properties.get("GroupName")], GROUP):
                self.policies_by_group[group].append(policy)

    def _index_memberships(self, app: AppModel) -> None:
        for user in app.resources_of_type(USER):
            self.groups_by_user[user].extend(
                self._designated(user.stack, user.properties.get("Groups"), GROUP)
            )
        for addition in app.resources_of_type(USER_TO_GROUP):
            groups = self._designated(addition.stack, [addition.properties.get("GroupName")], GROUP)
            for user in self._designated(addition.stack, addition.properties.get("Users"), USER):
                self.groups_by_user[user].extend(groups)

    def _designated(self, stack: Stack, expressions: Any, resource_type: str) -> list[Resource]:
        """The users or groups of the app that a list of names or references (in ``stack``) designates."""
        by_name = self._users_by_name if resource_type == USER else self._groups_by_name
        found = []
        for expression in expressions if isinstance(expressions, list) else []:
            value = self._resolver.resolve(stack, expression)
            if isinstance(value, ResourceAttribute) and value.resource.type == resource_type:
                found.append(value.resource)
            elif isinstance(value, str) and value in by_name:
                found.append(by_name[value])
        return found


class UserPermissions:
    """The identity policies and permissions boundary of one ``AWS::IAM::User`` of the app."""

    def __init__(self, context: RuleContext, user: Resource) -> None:
        self._index = context.iam
        self._user = user
        self._resolver = context.resolver

    def effectively_allowed(self, actions: Sequence[str]) -> list[str]:
        """The actions the user's policies allow, no Deny of its own removes, and its boundary permits.

        A boundary defined outside the app cannot be read: then nothing is reported as allowed.
        """
        identity = self.identity_statements
        boundary_arn = self._user.properties.get("PermissionsBoundary")
        if boundary_arn is None:
            return _allowed(identity, tuple(actions))
        boundary = [
            s for d in self._managed_documents(self._user.stack, boundary_arn) for s in _statements(d)
        ]
        if not boundary:
            return []
        permitted = set(_allowed(boundary, tuple(actions)))
        return [action for action in _allowed(identity, tuple(actions)) if action in permitted]

    @cached_property
    def identity_statements(self) -> list[Statement]:
        documents = [*self._inline_documents(), *self._attached_documents()]
        return [statement for document in documents for statement in _statements(document)]

    @property
    def groups(self) -> list[Resource]:
        return list(dict.fromkeys(self._index.groups_by_user.get(self._user, [])))

    def _inline_documents(self) -> Iterator[Any]:
        for owner in [self._user, *self.groups]:
            for policy in owner.properties.get("Policies") or []:
                if isinstance(policy, Mapping):
                    yield self._resolver.resolve_deep(owner.stack, policy.get("PolicyDocument"))

    def _attached_documents(self) -> Iterator[Any]:
        for owner in [self._user, *self.groups]:
            for arn in owner.properties.get("ManagedPolicyArns") or []:
                yield from self._managed_documents(owner.stack, arn)
        policies = [*self._index.policies_by_user.get(self._user, [])]
        for group in self.groups:
            policies.extend(self._index.policies_by_group.get(group, []))
        for policy in dict.fromkeys(policies):
            yield self._resolver.resolve_deep(policy.stack, policy.properties.get("PolicyDocument"))

    def _managed_documents(self, stack: Stack, arn_expression: Any) -> list[Any]:
        value = self._resolver.resolve(stack, arn_expression)
        if isinstance(value, ResourceAttribute) and value.resource.type == MANAGED_POLICY:
            policy = value.resource
            return [self._resolver.resolve_deep(policy.stack, policy.properties.get("PolicyDocument"))]
        document = aws_managed_policy(value) if isinstance(value, str) else None
        return [document] if document is not None else []


def _by_name(resources: list[Resource], name_property: str, resolver: Resolver) -> dict[str, Resource]:
    names = ((resolver.resolve_string(r.stack, r.properties.get(name_property)), r) for r in resources)
    return {name: resource for name, resource in names if name}


def _statements(document: Any) -> Iterator[Statement]:
    raw = document.get("Statement") if isinstance(document, Mapping) else None
    for statement in [raw] if isinstance(raw, Mapping) else raw or []:
        if isinstance(statement, Mapping):
            yield Statement(
                effect=str(statement.get("Effect", "")),
                actions=_strings(statement.get("Action")),
                not_actions=_strings(statement.get("NotAction")),
                resources=_scopes(statement),
            )


def _scopes(statement: Mapping[str, Any]) -> tuple[str, ...]:
    if "NotResource" in statement:
        return (ALL_BUT_SOME,)
    if "Resource" not in statement:
        return (WHOLE,)
    raw = statement["Resource"]
    return tuple(scope_of(item) for item in (raw if isinstance(raw, list) else [raw]))


def _strings(value: Any) -> tuple[str, ...]:
    items = [value] if isinstance(value, str) else value if isinstance(value, list) else []
    return tuple(item for item in items if isinstance(item, str))


def _allowed(statements: list[Statement], actions: tuple[str, ...]) -> list[str]:
    """The actions some Allow statement covers and no Deny statement does, in the order given."""
    allowed: set[str] = set()
    denied: set[str] = set()
    for statement in statements:
        if statement.effect == "Allow":
            allowed |= _covered(statement, actions)
        elif statement.effect == "Deny":
            denied |= _covered(statement, actions)
    return [action for action in actions if action in allowed and action not in denied]


@cache
def _covered(statement: Statement, actions: tuple[str, ...]) -> frozenset[str]:
    """Cached: apps repeat the same statements across many users (CDK grants, shared policies)."""
    return frozenset(action for action in actions if statement.covers(action))
