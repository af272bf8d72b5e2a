"""What every rule is made of: its metadata, the context it reads, and the findings it returns."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cached_property
from pathlib import Path

from key_quarantine.rules.intrinsics import Resolver
from key_quarantine.rules.keys import KeyAnalysis
from key_quarantine.rules.model import Acknowledgement, AppModel, Resource, Stack
from key_quarantine.rules.monitoring import MonitoringAnalysis
from key_quarantine.rules.permissions import IamIndex, UserPermissions

PACK_NAME = "KeyQuarantine"


class Level(StrEnum):
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"

    @property
    def rank(self) -> int:
        return {Level.INFO: 0, Level.WARNING: 1, Level.ERROR: 2}[self]


@dataclass(frozen=True)
class Finding:
    """One thing a rule found, on one resource (or output) of one stack."""

    rule_id: str
    level: Level
    stack: Stack
    logical_id: str
    resource_type: str
    construct_path: str | None
    message: str
    location: str = "Properties"
    acknowledgement: Acknowledgement | None = field(default=None, compare=False)
    #: The file and line a rule that reads text found it at (else located by its resource or output).
    source: tuple[Path, int] | None = None

    @property
    def acknowledged(self) -> bool:
        return self.acknowledgement is not None


class RuleContext:
    """The app under check plus the analyses several rules share (computed once, on first use)."""

    def __init__(self, app: AppModel) -> None:
        self.app = app
        self.resolver = Resolver(app)
        self._permissions: dict[Resource, UserPermissions] = {}

    @cached_property
    def monitoring(self) -> MonitoringAnalysis:
        return MonitoringAnalysis(self.app, self.resolver)

    @cached_property
    def keys(self) -> KeyAnalysis:
        return KeyAnalysis(self.app, self.resolver)

    @cached_property
    def iam(self) -> IamIndex:
        return IamIndex(self.app, self.resolver)

    def permissions_of(self, user: Resource) -> UserPermissions:
        """One UserPermissions per user, shared by the rules that ask (its statements are computed once)."""
        if user not in self._permissions:
            self._permissions[user] = UserPermissions(self, user)
        return self._permissions[user]


@dataclass(frozen=True)
class Rule:
    """A rule: stable id, default level, a one-sentence ``info`` and an ``explanation`` that says the fix."""

    id: str
    level: Level
    name: str
    info: str
    explanation: str
    check: Callable[[RuleContext], Iterable[Finding]]

    def finding(
        self,
        resource: Resource,
        message: str,
        *,
        level: Level | None = None,
        location: str = "Properties",
        source: tuple[Path, int] | None = None,
    ) -> Finding:
        return Finding(
            rule_id=self.id,
            level=level or self.level,
            stack=resource.stack,
            logical_id=resource.logical_id,
            resource_type=resource.type,
            construct_path=resource.construct_path,
            message=message,
            location=location,
            source=source,
        )

    def output_finding(self, stack: Stack, output_name: str, message: str) -> Finding:
        return Finding(
            rule_id=self.id,
            level=self.level,
            stack=stack,
            logical_id=output_name,
            resource_type="AWS::CloudFormation::Output",
            construct_path=stack.construct_paths.get(output_name),
            message=message,
            location=f"Outputs/{output_name}/Value",
        )
