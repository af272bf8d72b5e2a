"""Resolve the intrinsic functions rules need: Ref, GetAtt, Fn::ImportValue (against Exports), Sub, Join, Select.

Two questions are answered across the whole app, through cross-stack exports, nested-stack parameters and
nested-stack outputs:

- ``resolve``: what is this value? A literal, a ``ResourceAttribute`` (a Ref or GetAtt of a known resource),
  or ``UNKNOWN``.
- ``references``: which resource attributes does this value depend on, however it is built (for taint
  questions such as "does a secret key reach this property?").
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Final

from key_quarantine.rules.model import AppModel, Resource, Stack

MAX_DEPTH: Final = 40  # cross-stack chains are short; a deeper one is a reference cycle in broken input
_SUB_PLACEHOLDER = re.compile(r"\$\{([^!}][^}]*)\}")


class _Unknown:
    """A value that cannot be known before deployment (or from this input)."""

    _instance: _Unknown | None = None

    def __new__(cls) -> _Unknown:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "UNKNOWN"


UNKNOWN: Final = _Unknown()


@dataclass(frozen=True, eq=False)
class ResourceAttribute:
    """``Ref`` (attribute None) or ``Fn::GetAtt`` of a resource in the app."""

    resource: Resource
    attribute: str | None = None


class Resolver:
    """Resolves values in the context of the stack they appear in. Build one per AppModel."""

    def __init__(self, app: AppModel, pseudo_fallbacks: Mapping[str, str] | None = None) -> None:
        """``pseudo_fallbacks`` stand in for pseudo parameters a stack's environment leaves unknown."""
        self._app = app
        self._pseudo_fallbacks = dict(pseudo_fallbacks or {})
        self._handlers: dict[str, Callable[[Stack, Any, int], Any]] = {
            "Ref": self._resolve_ref,
            "Fn::GetAtt": self._resolve_get_att,
            "Fn::ImportValue": self._resolve_import,
            "Fn::Sub": self._resolve_sub,
            "Fn::Join": self._resolve_join,
            "Fn::Select": self._resolve_select,
        }
        self._exports = self._collect_exports()

    # --- resolve ------------------------------------------------------------------------------------------

    def resolve(self, stack: Stack, value: Any, depth: int = 0) -> Any:
        """The value after intrinsic functions, as far as it can be known; containers are returned as they are."""
        intrinsic = _as_intrinsic(value)
        if intrinsic is None:
            return value
        if depth > MAX_DEPTH:
            return UNKNOWN
        name, argument = intrinsic
        handler = self._handlers.get(name)
        return handler(stack, argument, depth + 1) if handler else UNKNOWN

    def resolve_deep(self, stack: Stack, value: Any) -> Any:
        """Resolve every leaf of a nested structure (used for event patterns and policy documents)."""
        resolved = self.resolve(stack, value)
        if isinstance(resolved, Mapping):
            return {key: self.resolve_deep(stack, item) for key, item in resolved.items()}
        if isinstance(resolved, list):
            return [self.resolve_deep(stack, item) for item in resolved]
        return resolved

    def resolve_string(self, stack: Stack, value: Any) -> str | None:
        resolved = self.resolve(stack, value)
        return resolved if isinstance(resolved, str) else None

    def _resolve_ref(self, stack: Stack, name: Any, depth: int) -> Any:
        if not isinstance(name, str):
            return UNKNOWN
        if name.startswith("AWS::"):
            return self._pseudo_parameter(stack, name)
        if name in stack.resources:
            return ResourceAttribute(stack.resources[name])
        passed = self._parameter_value(stack, name)
        return UNKNOWN if passed is None else self.resolve(passed[0], passed[1], depth)

    def _resolve_get_att(self, stack: Stack, argument: Any, depth: int) -> Any:
        target = _get_att_target(stack, argument)
        if target is None:
            return UNKNOWN
        resource, attribute = target
        output = self._nested_output(resource, attribute)
        if output is not None:
            return self.resolve(output[0], output[1], depth)
        return ResourceAttribute(resource, attribute)

    def _resolve_import(self, stack: Stack, argument: Any, depth: int) -> Any:
        export = self._export(stack, argument, depth)
        return UNKNOWN if export is None else self.resolve(export[0], export[1], depth)

    def _resolve_sub(self, stack: Stack, argument: Any, depth: int) -> Any:
        text, variables = _sub_parts(argument)
        if text is None:
            return UNKNOWN
        whole = _SUB_PLACEHOLDER.fullmatch(text)
        if whole:
            return self._sub_variable(stack, whole.group(1), variables, depth)
        pieces: list[str] = []
        position = 0
        for match in _SUB_PLACEHOLDER.finditer(text):
            value = self._sub_variable(stack, match.group(1), variables, depth)
            if not isinstance(value, str | int | float):
                return UNKNOWN
            pieces.extend([text[position : match.start()], str(value)])
            position = match.end()
        pieces.append(text[position:])
        return "".join(pieces).replace("${!", "${")

    def _sub_variable(self, stack: Stack, name: str, variables: Mapping[str, Any], depth: int) -> Any:
        if name in variables:
            return self.resolve(stack, variables[name], depth)
        if "." in name and not name.startswith("AWS::"):
            return self._resolve_get_att(stack, name, depth)
        return self._resolve_ref(stack, name, depth)

    def _resolve_join(self, stack: Stack, argument: Any, depth: int) -> Any:
        if not (_is_pair(argument) and isinstance(argument[0], str)):
            return UNKNOWN
        items = self.resolve(stack, argument[1], depth)
        if not isinstance(items, list):
            return UNKNOWN
        parts = [self.resolve(stack, item, depth) for item in items]
        if all(isinstance(part, str | int | float) for part in parts):
            return argument[0].join(str(part) for part in parts)
        return UNKNOWN

    def _resolve_select(self, stack: Stack, argument: Any, depth: int) -> Any:
        if not _is_pair(argument):
            return UNKNOWN
        index = self.resolve(stack, argument[0], depth)
        items = self.resolve(stack, argument[1], depth)
        if isinstance(items, list) and str(index).isdigit() and int(index) < len(items):
            return self.resolve(stack, items[int(index)], depth)
        return UNKNOWN

    def _pseudo_parameter(self, stack: Stack, name: str) -> Any:
        root = stack.root
        known = {
            "AWS::AccountId": root.account,
            "AWS::Region": root.region,
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::StackName": stack.name if stack.parent is None else None,
        }
        value = known.get(name) or self._pseudo_fallbacks.get(name)
        return UNKNOWN if value is None else value

    # --- references ---------------------------------------------------------------------------------------

    def references(self, stack: Stack, value: Any, depth: int = 0) -> Iterator[ResourceAttribute]:
        """Every resource attribute ``value`` is built from, followed across stacks."""
        if depth > MAX_DEPTH:
            return
        intrinsic = _as_intrinsic(value)
        if intrinsic is not None:
            yield from self._intrinsic_references(stack, intrinsic[0], intrinsic[1], depth + 1)
        elif isinstance(value, Mapping):
            for item in value.values():
                yield from self.references(stack, item, depth + 1)
        elif isinstance(value, list):
            for item in value:
                yield from self.references(stack, item, depth + 1)

    def _intrinsic_references(
        self, stack: Stack, name: str, argument: Any, depth: int
    ) -> Iterator[ResourceAttribute]:
        if name == "Ref" and isinstance(argument, str):
            yield from self._name_references(stack, argument, depth)
        elif name == "Fn::GetAtt":
            yield from self._get_att_references(stack, argument, depth)
        elif name == "Fn::ImportValue":
            export = self._export(stack, argument, depth)
            if export is not None:
                yield from self.references(export[0], export[1], depth)
        elif name == "Fn::Sub":
            yield from self._sub_references(stack, argument, depth)
        else:
            yield from self.references(stack, argument, depth)

    def _name_references(self, stack: Stack, name: str, depth: int) -> Iterator[ResourceAttribute]:
        if name in stack.resources:
            yield ResourceAttribute(stack.resources[name])
            return
        passed = self._parameter_value(stack, name)
        if passed is not None:
            yield from self.references(passed[0], passed[1], depth)

    def _get_att_references(self, stack: Stack, argument: Any, depth: int) -> Iterator[ResourceAttribute]:
        target = _get_att_target(stack, argument)
        if target is None:
            return
        output = self._nested_output(*target)
        if output is not None:
            yield from self.references(output[0], output[1], depth)
        else:
            yield ResourceAttribute(*target)

    def _sub_references(self, stack: Stack, argument: Any, depth: int) -> Iterator[ResourceAttribute]:
        text, variables = _sub_parts(argument)
        yield from self.references(stack, dict(variables), depth)
        for match in _SUB_PLACEHOLDER.finditer(text or ""):
            variable = match.group(1)
            if variable in variables or variable.startswith("AWS::"):
                continue
            if "." in variable:
                yield from self._get_att_references(stack, variable, depth)
            else:
                yield from self._name_references(stack, variable, depth)

    # --- exports and parameters ---------------------------------------------------------------------------

    def _collect_exports(self) -> dict[str, tuple[Stack, Any]]:
        exports: dict[str, tuple[Stack, Any]] = {}
        for stack in self._app.stacks:
            for output in stack.outputs.values():
                export = output.get("Export") if isinstance(output, Mapping) else None
                if isinstance(export, Mapping):
                    export_name = self.resolve(stack, export.get("Name"))
                    if isinstance(export_name, str):
                        exports[export_name] = (stack, output.get("Value"))
        return exports

    def _export(self, stack: Stack, name_expression: Any, depth: int) -> tuple[Stack, Any] | None:
        name = self.resolve(stack, name_expression, depth)
        return self._exports.get(name) if isinstance(name, str) else None

    def _nested_output(self, resource: Resource, attribute: str) -> tuple[Stack, Any] | None:
        """For ``GetAtt NestedStack.Outputs.X``: the nested stack and the output's value expression."""
        child = self._app.nested_stack_of(resource) if attribute.startswith("Outputs.") else None
        if child is None:
            return None
        output = child.outputs.get(attribute.removeprefix("Outputs."))
        return (child, output.get("Value")) if isinstance(output, Mapping) else None

    def _parameter_value(self, stack: Stack, name: str) -> tuple[Stack, Any] | None:
        """The expression a parameter gets: from the parent of a nested stack, else its Default."""
        if name not in stack.parameters:
            return None
        if stack.parent is not None:
            passed = stack.parent.properties.get("Parameters")
            if isinstance(passed, Mapping) and name in passed:
                return stack.parent.stack, passed[name]
        declaration = stack.parameters[name]
        if isinstance(declaration, Mapping) and "Default" in declaration:
            return stack, declaration["Default"]
        return None


def _is_pair(argument: Any) -> bool:
    """Most intrinsics take a two-item list: [delimiter, items], [index, items], [template, variables] ..."""
    return isinstance(argument, list) and len(argument) == 2  # noqa: PLR2004


def _as_intrinsic(value: Any) -> tuple[str, Any] | None:
    if isinstance(value, Mapping) and len(value) == 1:
        ((name, argument),) = value.items()
        if name == "Ref" or name.startswith("Fn::"):
            return name, argument
    return None


def _get_att_target(stack: Stack, argument: Any) -> tuple[Resource, str] | None:
    if isinstance(argument, str):
        argument = argument.split(".", 1)
    if _is_pair(argument) and all(isinstance(a, str) for a in argument):
        resource = stack.resources.get(argument[0])
        if resource is not None:
            return resource, argument[1]
    return None


def _sub_parts(argument: Any) -> tuple[str | None, Mapping[str, Any]]:
    if isinstance(argument, str):
        return argument, {}
    if _is_pair(argument) and isinstance(argument[0], str):
        variables = argument[1] if isinstance(argument[1], Mapping) else {}
        return argument[0], variables
    return None, {}
