"""Long-lived access keys in the app and the IAM users that hold them (across stacks)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import cached_property

from key_quarantine.rules.intrinsics import Resolver, ResourceAttribute
from key_quarantine.rules.model import CONDITIONAL_METADATA, AppModel, Resource, account_context, same_account

ACCESS_KEY = "AWS::IAM::AccessKey"
USER = "AWS::IAM::User"


@dataclass(eq=False)
class KeyHolder:
    """An IAM user holding keys: a user of the app (``user``) or one known only by name (``user_name``)."""

    user: Resource | None
    user_name: str | None
    keys: list[Resource] = field(default_factory=list)
    active_keys: list[Resource] = field(default_factory=list)

    @property
    def anchor(self) -> Resource:
        """Where findings about this holder are reported: the user, else its first key."""
        return self.user or self.keys[0]

    def describe(self) -> str:
        if self.user is not None:
            name = f" ('{self.user_name}')" if self.user_name else ""
            return f"IAM user '{self.user.logical_id}'{name} in stack {self.user.stack.name}"
        if self.user_name:
            return f"IAM user '{self.user_name}' (not defined in this app)"
        return "an IAM user whose name is known only at deploy time"


class KeyAnalysis:
    """Which users hold which keys: by Ref, by Fn::ImportValue, through nested stacks, or by literal name."""

    def __init__(self, app: AppModel, resolver: Resolver) -> None:
        self._app = app
        self._resolver = resolver

    @cached_property
    def user_names(self) -> dict[Resource, str]:
        names = {}
        for user in self._app.resources_of_type(USER):
            name = self._resolver.resolve_string(user.stack, user.properties.get("UserName"))
            if name:
                names[user] = name
        return names

    @cached_property
    def holders(self) -> list[KeyHolder]:
        """Every key holder, in the order their first key appears."""
        users_by_name: dict[str, list[Resource]] = {}
        for named_user, user_name in self.user_names.items():
            users_by_name.setdefault(user_name, []).append(named_user)
        holders: dict[object, KeyHolder] = {}
        for key in self._app.resources_of_type(ACCESS_KEY):
            user, name = self._key_user(key, users_by_name)
            # a user known only by name is one user per account: the same name in another input is another user
            identity: object = (
                user if user is not None else ((name, account_context(key.stack)) if name else key)
            )
            holder = holders.setdefault(identity, KeyHolder(user, name))
            holder.keys.append(key)
            if self.is_active(key):
                holder.active_keys.append(key)
        return list(holders.values())

    def holders_with_active_keys(self) -> Iterator[KeyHolder]:
        return (holder for holder in self.holders if holder.active_keys)

    def holder_of_user(self, user: Resource) -> KeyHolder | None:
        return self._holders_by_user.get(user)

    @cached_property
    def _holders_by_user(self) -> dict[Resource, KeyHolder]:
        return {holder.user: holder for holder in self.holders if holder.user is not None}

    def is_active(self, key: Resource) -> bool:
        """A key is a live credential unless its Status is literally Inactive (or Inactive in every branch)."""
        return any(status != "Inactive" for status in self._statuses(key))

    def is_certainly_active(self, key: Resource) -> bool:
        """Active in every deployment: created unconditionally (no template Condition, no Terraform count or
        for_each decided only at apply) and Active whatever the conditions (no ``Fn::If`` with an Inactive
        branch)."""
        if key.condition is not None or key.metadata.get(CONDITIONAL_METADATA):
            return False
        return all(status != "Inactive" for status in self._statuses(key))

    def _statuses(self, key: Resource) -> list[object]:
        """The Status values the key may have: both branches of an ``Fn::If``, else the one resolved value."""
        raw = key.properties.get("Status", "Active")
        branches = raw.get("Fn::If") if isinstance(raw, Mapping) and len(raw) == 1 else None
        if isinstance(branches, list) and len(branches) == 3:  # noqa: PLR2004 - condition, then, else
            return [self._resolver.resolve(key.stack, branch) for branch in branches[1:]]
        return [self._resolver.resolve(key.stack, raw)]

    def _key_user(
        self, key: Resource, users_by_name: dict[str, list[Resource]]
    ) -> tuple[Resource | None, str | None]:
        value = self._resolver.resolve(key.stack, key.properties.get("UserName"))
        if isinstance(value, ResourceAttribute) and value.resource.type == USER and value.attribute is None:
            return value.resource, self.user_names.get(value.resource)
        if isinstance(value, str):
            same = (user for user in users_by_name.get(value, []) if same_account(user.stack, key.stack))
            return next(same, None), value
        return None, None
