"""The one model every rule reads: the stacks of an app and their resources, indexed by type once."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CDK_PATH_METADATA = "aws:cdk:path"
#: Where a resource was written (Terraform: file and line), for locations in reports.
SOURCE_METADATA = "key-quarantine:source"
#: Set on resources whose count/for_each is not a literal: they may or may not exist.
CONDITIONAL_METADATA = "key-quarantine:conditional"


#: The kind of an input that was not read (the detail says why).
SKIPPED = "skipped"


@dataclass(frozen=True)
class InputRead:
    """One input as the report lists it: a cloud assembly, a Terraform folder or plan, a template, or a
    file skipped (``kind`` SKIPPED) with the reason in ``detail``."""

    path: Path
    kind: str
    detail: str


@dataclass(frozen=True)
class Acknowledgement:
    """A finding the owner accepted: rule id (``KeyQuarantine::KQ1`` or ``KQ1``), reason, where it applies.

    ``construct_path`` applies to that construct and everything below it (as CDK does); ``logical_id``
    applies to one resource or output of the stack that holds the acknowledgement.
    """

    rule_id: str
    reason: str
    construct_path: str | None = None
    logical_id: str | None = None


@dataclass(eq=False)
class Resource:
    """One resource of a template."""

    stack: Stack
    logical_id: str
    type: str
    properties: Mapping[str, Any]
    metadata: Mapping[str, Any]
    #: The template's ``Condition`` for the resource: created only when it holds.
    condition: str | None = None

    @property
    def construct_path(self) -> str | None:
        path = self.metadata.get(CDK_PATH_METADATA)
        if isinstance(path, str):
            return "/" + path.lstrip("/")
        return self.stack.construct_paths.get(self.logical_id)

    def describe(self) -> str:
        return f"{self.type} '{self.logical_id}' in stack {self.stack.name}"


@dataclass(eq=False)
class Stack:
    """One CloudFormation template with what is known of where it deploys.

    ``account`` and ``region`` are None for an environment-agnostic stack. A nested stack has ``parent``,
    the ``AWS::CloudFormation::Stack`` resource of the template that creates it.
    """

    name: str
    template_path: Path
    template: Mapping[str, Any]
    account: str | None = None
    region: str | None = None
    parent: Resource | None = None
    kind: str = "cloudformation"  # or "terraform": what the template was made from
    #: The input it was read with (an assembly, a Terraform folder, a template's folder): its account context.
    origin: str = ""
    #: The files the stack was read from (a Terraform folder's .tf and .tfvars); empty: the template file.
    source_files: list[Path] = field(default_factory=list)
    construct_paths: dict[str, str] = field(default_factory=dict)
    acknowledgements: list[Acknowledgement] = field(default_factory=list)
    resources: dict[str, Resource] = field(default_factory=dict)
    #: What the reader could not read or decide (a module call not followed...): the report shows them.
    notes: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        for logical_id, body in _mapping(self.template.get("Resources")).items():
            self.resources[logical_id] = Resource(
                stack=self,
                logical_id=logical_id,
                type=str(body.get("Type", "")),
                properties=_mapping(body.get("Properties")),
                metadata=_mapping(body.get("Metadata")),
                condition=body["Condition"] if isinstance(body.get("Condition"), str) else None,
            )

    @property
    def parameters(self) -> Mapping[str, Any]:
        return _mapping(self.template.get("Parameters"))

    @property
    def outputs(self) -> Mapping[str, Any]:
        return _mapping(self.template.get("Outputs"))

    @property
    def metadata(self) -> Mapping[str, Any]:
        return _mapping(self.template.get("Metadata"))

    @property
    def sources(self) -> list[Path]:
        """Every file whose text made this stack, for rules that read text rather than values."""
        if self.source_files:
            return self.source_files
        return [self.template_path] if self.template_path.is_file() else []

    @property
    def root(self) -> Stack:
        """The top-level stack: nested stacks deploy where their root deploys."""
        return self if self.parent is None else self.parent.stack.root


class AppModel:
    """All stacks of an app (every Stage and nested stack), with resources indexed by type in one pass."""

    def __init__(self, stacks: Iterable[Stack], *, inputs: Iterable[InputRead] = ()) -> None:
        self.stacks: list[Stack] = list(stacks)
        self.inputs: list[InputRead] = list(inputs)
        self._by_type: dict[str, list[Resource]] = defaultdict(list)
        self._nested: dict[Resource, Stack] = {s.parent: s for s in self.stacks if s.parent is not None}
        for stack in self.stacks:
            for resource in stack.resources.values():
                self._by_type[resource.type].append(resource)

    def resources_of_type(self, resource_type: str) -> list[Resource]:
        return self._by_type.get(resource_type, [])

    def nested_stack_of(self, resource: Resource) -> Stack | None:
        """The stack an ``AWS::CloudFormation::Stack`` resource creates, when its template was loaded."""
        return self._nested.get(resource)

    def stack_for_template(self, template_path: Path) -> Stack | None:
        resolved = template_path.resolve()
        return next((s for s in self.stacks if s.template_path.resolve() == resolved), None)


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def account_context(stack: Stack) -> str:
    """The account a stack deploys to, or, when it leaves that open, the input it came with."""
    root = stack.root
    return f"account:{root.account}" if root.account is not None else f"input:{root.origin}"


def same_account(first: Stack, second: Stack) -> bool:
    """Whether two stacks may deploy to one account: both declare it, or one leaves it open and both come
    from one input (an environment-agnostic stack deploys beside its own app, not beside another input's)."""
    a, b = first.root, second.root
    if a.account is not None and b.account is not None:
        return a.account == b.account
    return a.origin == b.origin
