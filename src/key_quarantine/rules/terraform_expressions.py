"""Terraform expressions, evaluated as far as the configuration decides them.

A value is either known (a Python literal, list or dict, the way Terraform would compute it from literals,
variables with their passed or default values, locals, ``each``/``count`` and the built-in functions) or
symbolic: references to resources become ``Ref``/``Fn::GetAtt`` through the ``References`` the caller gives,
an undecided ``a ? b : c`` becomes ``Fn::If`` (condition text, both branches), and any other computation
becomes ``Fn::Terraform`` holding what it is built from, so that taint questions (does a secret reach this
property?) follow every input of ``join``, ``templatefile``, ``base64encode`` and the like.
"""

from __future__ import annotations

import base64
import json
import operator
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

if TYPE_CHECKING:
    from tree_sitter import Node

OPAQUE = "Fn::Terraform"
_NOT_HERE = object()  # a special name (local.x, each.key) that has no value where it is used
_NOT_SIMPLE = object()
_SIMPLE_REFERENCE = re.compile(
    r"^(?P<root>[A-Za-z_][\w-]*)\.(?P<name>[A-Za-z_][\w-]*)(?:\.(?P<attribute>[A-Za-z_][\w-]*))?$"
)
_SPECIAL_ROOTS = frozenset({"local", "each", "count", "path", "module", "data", "self", "terraform"})
MAX_DEPTH = 60  # locals and module outputs chain; deeper is a cycle in broken input


class References(Protocol):
    """What the configuration around an expression knows: its resources, data sources and module calls."""

    def resource(self, base: str) -> Mapping[str, str] | None:
        """Instance key suffix (``""``, ``"[0]"``, ``'["a"]'``) -> address, for a resource or data source."""

    def attribute(self, address: str, attribute: str | None, depth: int) -> Any:
        """The value of ``address.attribute`` (None: the whole resource)."""

    def module_output(self, call: str, key: str | None, output: str, env: Env, depth: int) -> Any:
        """The value of ``module.call[key].output`` seen from ``env``'s module."""


@dataclass(eq=False)
class ModuleInstance:
    """One instance of a module: where it lives, what its caller passed, its locals."""

    prefix: str  # "" for the root, else 'module.a.' or 'module.a["x"].' (and deeper)
    directory: Path
    root: Path
    variables: dict[str, tuple[Any, Env | None]] = field(default_factory=dict)  # raw value, caller's env
    defaults: dict[str, Any] = field(default_factory=dict)
    locals: dict[str, Any] = field(default_factory=dict)
    outputs: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, eq=False)
class Env:
    """Where an expression is evaluated: its module instance and, inside count/for_each, the instance key."""

    module: ModuleInstance
    each: tuple[Any, Any] | None = None
    count: int | None = None


@dataclass(frozen=True)
class Known:
    """A value already computed (a plan's planned value): taken as it is, never read as a template."""

    value: Any


@dataclass(frozen=True)
class Computed:
    """A value computed from ``uses`` (raw values) by an expression we only have the text of (plans)."""

    expression: str
    uses: tuple[Any, ...]


def is_known(value: Any) -> bool:
    """Whether a converted value holds no reference or undecided part."""
    if isinstance(value, Mapping):
        return not is_intrinsic(value) and all(is_known(item) for item in value.values())
    if isinstance(value, list):
        return all(is_known(item) for item in value)
    return True


def is_intrinsic(value: Any) -> bool:
    if isinstance(value, Mapping) and len(value) == 1:
        key = next(iter(value))
        return isinstance(key, str) and (key == "Ref" or key.startswith("Fn::"))
    return False


def unknown(expression: str) -> dict[str, Any]:
    """A value only known at apply (an input without a value, a data source, a provider attribute)."""
    return {"Ref": f"terraform:{expression.strip()}"}


def opaque(expression: str, uses: list[Any]) -> dict[str, Any]:
    """A computed value: unknown, but built from ``uses`` (followed by taint questions)."""
    return {OPAQUE: {"expression": expression, "uses": uses}}


def instance_suffix(key: Any) -> str:
    return f"[{key}]" if isinstance(key, int) and not isinstance(key, bool) else f"[{json.dumps(key)}]"


class Evaluator:
    """Terraform values (as ``hcl`` parses them) into known values or intrinsics."""

    _TERMS: ClassVar[dict[str, Callable[[Evaluator, Node, Env, int], Any]]]
    _ROOTS: ClassVar[dict[str, Callable[[Evaluator, list[str], Sequence[Node], Env, int], Any]]]

    def __init__(self, references: References) -> None:
        self._references = references

    def convert(self, value: Any, env: Env, depth: int = 0) -> Any:
        if depth > MAX_DEPTH:
            return unknown("(too deep)")
        if isinstance(value, Known):
            return value.value
        if isinstance(value, Computed):
            uses = [self.convert(use, env, depth + 1) for use in value.uses]
            return uses[0] if len(uses) == 1 else opaque(value.expression, uses)
        if isinstance(value, Mapping | list):
            return self._container(value, env, depth + 1)
        if isinstance(value, str) and "${" in value:
            return self._template(value, env, depth + 1)
        return value

    def _container(self, value: Mapping[str, Any] | list[Any], env: Env, depth: int) -> Any:
        if isinstance(value, Mapping):
            return {key: self.convert(item, env, depth) for key, item in value.items()}
        return [self.convert(item, env, depth) for item in value]

    def variable(self, module: ModuleInstance, name: str, depth: int) -> Any:
        if name in module.variables:
            raw, caller = module.variables[name]
            return self.convert(raw, caller or Env(module), depth + 1)
        if name in module.defaults:
            return self.convert(module.defaults[name], Env(module), depth + 1)
        return unknown(f"{module.prefix}var.{name}")

    # --- strings and templates -------------------------------------------------------------------------

    def _template(self, text: str, env: Env, depth: int) -> Any:
        pieces = _template_pieces(text)
        if len(pieces) == 1 and not isinstance(pieces[0], str):
            return self._expression(pieces[0][0], env, depth)
        parts = [
            piece if isinstance(piece, str) else self._expression(piece[0], env, depth) for piece in pieces
        ]
        if all(isinstance(part, str | int | float) and not isinstance(part, bool) for part in parts):
            return "".join(str(part) for part in parts)
        return {"Fn::Join": ["", parts]}

    def _expression(self, text: str, env: Env, depth: int) -> Any:
        simple = _SIMPLE_REFERENCE.match(text)
        if simple and simple["root"] not in _SPECIAL_ROOTS:  # most references: no tree needed
            value = self._simple_reference(simple["root"], simple["name"], simple["attribute"], env, depth)
            if value is not _NOT_SIMPLE:
                return value
        parsed = _tree(text)
        if parsed is None:
            return unknown(text)
        node, constant = parsed
        if not constant:
            return self.node(node, env, depth)
        if text not in _CONSTANTS:  # the same policy or pattern in many resources: evaluated once
            _CONSTANTS[text] = self.node(node, env, depth)
        return _CONSTANTS[text]

    # --- syntax tree -----------------------------------------------------------------------------------

    def node(self, expression: Node, env: Env, depth: int) -> Any:
        from key_quarantine.rules import hcl  # noqa: PLC0415 - tree-sitter loads with the first .tf file

        return self._sequence(hcl.parts_of(expression), env, depth + 1)

    def _sequence(self, parts: Sequence[Node], env: Env, depth: int) -> Any:
        if depth > MAX_DEPTH:
            return unknown("(too deep)")
        head = parts[0]
        if head.type == "(" and len(parts) >= 3:  # noqa: PLR2004 - ( expression )
            return self._traverse(self.node(parts[1], env, depth), parts[3:], env, depth)
        if head.type == "variable_expr":
            return self._reference(parts, env, depth)
        term = self._TERMS.get(head.type)
        if term is None:
            return self._opaque(parts, env, depth)
        return self._traverse(term(self, head, env, depth), parts[1:], env, depth)

    def _literal(self, head: Node, env: Env, depth: int) -> Any:
        from key_quarantine.rules import hcl  # noqa: PLC0415

        if head.parent is None or head.parent.type != "expression":  # an operand: read it as an expression
            return self._expression(hcl.text_of(head), env, depth)
        return self.convert(hcl.value_of(head.parent), env, depth)

    def _operation_term(self, head: Node, env: Env, depth: int) -> Any:
        from key_quarantine.rules import hcl  # noqa: PLC0415

        operation = hcl.parts_of(head)[0]
        if operation.type == "unary_operation":
            return self._unary(operation, env, depth)
        return self._binary(operation, env, depth)

    def _opaque(self, parts: Sequence[Node], env: Env, depth: int) -> Any:
        """Something we do not compute (a for expression...): unknown, built from every reference inside."""
        from key_quarantine.rules import hcl  # noqa: PLC0415

        uses = [self._reference(chain, env, depth) for chain in _reference_chains(parts)]
        return opaque("".join(hcl.text_of(part) for part in parts), uses)

    def _conditional(self, node: Node, env: Env, depth: int) -> Any:
        from key_quarantine.rules import hcl  # noqa: PLC0415

        condition, if_true, if_false = (part for part in hcl.parts_of(node) if part.type == "expression")
        decided = self.node(condition, env, depth)
        if isinstance(decided, bool):
            return self.node(if_true if decided else if_false, env, depth)
        return {
            "Fn::If": [
                hcl.text_of(condition),
                self.node(if_true, env, depth),
                self.node(if_false, env, depth),
            ]
        }

    def _unary(self, node: Node, env: Env, depth: int) -> Any:
        from key_quarantine.rules import hcl  # noqa: PLC0415

        parts = hcl.parts_of(node)
        value = self._sequence(parts[1:], env, depth)
        if parts[0].type == "!" and isinstance(value, bool):
            return not value
        if parts[0].type == "-" and _is_number(value):
            return -value
        return opaque(hcl.text_of(node), [value])

    def _binary(self, node: Node, env: Env, depth: int) -> Any:
        from key_quarantine.rules import hcl  # noqa: PLC0415

        parts = hcl.parts_of(node)
        split = next(index for index, part in enumerate(parts) if not part.is_named and part.type != "(")
        symbol = parts[split].type
        left = self._sequence(parts[:split], env, depth)
        if symbol in _LOGICAL and left is _LOGICAL[symbol]:
            return left  # false && x, true || x: decided without x
        right = self._sequence(parts[split + 1 :], env, depth)
        if symbol in _LOGICAL:
            return _logical(symbol, left, right, hcl.text_of(node))
        if is_known(left) and is_known(right) and symbol in _BINARY:
            try:
                return _BINARY[symbol](left, right)
            except (TypeError, ZeroDivisionError):
                return unknown(hcl.text_of(node))
        return opaque(hcl.text_of(node), [left, right])

    # --- references --------------------------------------------------------------------------------------

    def _reference(self, parts: Sequence[Node], env: Env, depth: int) -> Any:
        from key_quarantine.rules import hcl  # noqa: PLC0415

        root = hcl.text_of(parts[0])
        names = _attribute_names(parts[1:])
        special = self._ROOTS.get(root)
        if special is not None and names:
            value = special(self, names, parts, env, depth)
            if value is not _NOT_HERE:
                return value
        elif names and root not in ("self", "terraform", "each", "count"):
            return self._resource_reference(f"{root}.{names[0]}", parts[2:], env, depth)
        return unknown("".join(hcl.text_of(part) for part in parts))

    def _var(self, names: list[str], parts: Sequence[Node], env: Env, depth: int) -> Any:
        return self._traverse(self.variable(env.module, names[0], depth), parts[2:], env, depth)

    def _local(self, names: list[str], parts: Sequence[Node], env: Env, depth: int) -> Any:
        module = env.module
        if names[0] not in module.locals:
            return _NOT_HERE
        value = self.convert(module.locals[names[0]], Env(module), depth + 1)
        return self._traverse(value, parts[2:], env, depth)

    def _each(self, names: list[str], parts: Sequence[Node], env: Env, depth: int) -> Any:
        if env.each is None:
            return _NOT_HERE
        chosen = env.each[0] if names[0] == "key" else env.each[1]
        return self._traverse(chosen, parts[2:], env, depth)

    def _count(self, names: list[str], _parts: Sequence[Node], env: Env, _depth: int) -> Any:
        return env.count if names == ["index"] and env.count is not None else _NOT_HERE

    def _path(self, names: list[str], _parts: Sequence[Node], env: Env, _depth: int) -> Any:
        module = env.module
        root = str(module.root.resolve())  # terraform runs in the root folder: path.* are absolute here
        known = {"module": str(module.directory.resolve()), "root": root, "cwd": root}
        return known.get(names[0], _NOT_HERE)

    def _module(self, names: list[str], parts: Sequence[Node], env: Env, depth: int) -> Any:
        return self._module_reference(names[0], parts[2:], env, depth)

    def _data(self, names: list[str], parts: Sequence[Node], env: Env, depth: int) -> Any:
        if len(names) < 2:  # noqa: PLR2004 - data.TYPE.NAME
            return _NOT_HERE
        return self._resource_reference(f"data.{names[0]}.{names[1]}", parts[3:], env, depth)

    def _simple_reference(self, root: str, name: str, attribute: str | None, env: Env, depth: int) -> Any:
        """``var.x`` or ``TYPE.NAME[.ATTRIBUTE]`` of a resource without instance keys, as ``_reference`` reads
        its tree; anything else is ``_NOT_SIMPLE`` (the tree walk decides)."""
        if root == "var":
            return self.variable(env.module, name, depth) if attribute is None else _NOT_SIMPLE
        instances = self._references.resource(f"{env.module.prefix}{root}.{name}")
        if instances is None or "" not in instances:
            return _NOT_SIMPLE
        return self._references.attribute(instances[""], attribute, depth + 1)

    def _module_reference(self, call: str, rest: Sequence[Node], env: Env, depth: int) -> Any:
        key, rest = self._instance_key(rest, env, depth)
        names = _attribute_names(rest)
        if not names:
            return unknown(f"{env.module.prefix}module.{call}")
        value = self._references.module_output(call, key, names[0], env, depth + 1)
        return self._traverse(value, rest[1:], env, depth)

    def _resource_reference(self, base: str, rest: Sequence[Node], env: Env, depth: int) -> Any:
        instances = self._references.resource(env.module.prefix + base)
        if instances is None:
            return unknown(env.module.prefix + base)
        if rest and rest[0].type == "splat":
            return [
                self._attribute(address, rest[0:1], env, depth, splat=True) for address in instances.values()
            ]
        key, after = self._instance_key(rest, env, depth)
        if key is not None:
            address = instances.get(instance_suffix(key)) or instances.get("")
            if address is None:
                return unknown(f"{env.module.prefix}{base}{instance_suffix(key)}")
            return self._attribute(address, after, env, depth)
        return self._all_instances(instances, rest, env, depth)

    def _all_instances(self, instances: Mapping[str, str], rest: Sequence[Node], env: Env, depth: int) -> Any:
        """A resource named without an instance key: the one instance, or all of them (an object for
        for_each, a list for count) as Terraform gives them."""
        if "" in instances:
            return self._attribute(instances[""], rest, env, depth)
        if all(suffix.startswith('["') for suffix in instances):
            objects = {json.loads(suffix[1:-1]): {"Ref": address} for suffix, address in instances.items()}
            return self._traverse(objects, rest, env, depth)
        return [self._attribute(address, rest, env, depth) for address in instances.values()]

    def _attribute(
        self, address: str, rest: Sequence[Node], env: Env, depth: int, *, splat: bool = False
    ) -> Any:

        if splat:
            rest = _splat_traversals(rest[0])
        names = _attribute_names(rest)
        if not names:
            return self._references.attribute(address, None, depth + 1)
        value = self._references.attribute(address, names[0], depth + 1)
        return self._traverse(value, rest[1:], env, depth)

    def _instance_key(self, rest: Sequence[Node], env: Env, depth: int) -> tuple[Any, Sequence[Node]]:
        from key_quarantine.rules import hcl  # noqa: PLC0415

        if not rest or rest[0].type != "index":
            return None, rest
        (index,) = hcl.parts_of(rest[0])[:1]
        if index.type == "legacy_index":
            return int(hcl.text_of(index).lstrip(".")), rest[1:]
        key = self.node(hcl.parts_of(index)[1], env, depth) if len(hcl.parts_of(index)) > 1 else None
        return (key if isinstance(key, str | int) else None), rest[1:]

    def _traverse(self, value: Any, rest: Sequence[Node], env: Env, depth: int) -> Any:
        """``.name``, ``[index]`` and splats applied to a value; on a symbolic value they keep it symbolic."""
        from key_quarantine.rules import hcl  # noqa: PLC0415

        for position, part in enumerate(rest):
            if part.type == "splat":
                items = value if isinstance(value, list) else [value]
                tail = [*_splat_traversals(part), *rest[position + 1 :]]
                return [self._traverse(item, tail, env, depth) for item in items]
            if part.type == "get_attr":
                key: Any = hcl.text_of(part).lstrip(".")
                if _is_whole_resource(value):  # each.value.name, where each.value is a resource instance
                    value = self._references.attribute(value["Ref"], key, depth + 1)
                    continue
                if isinstance(value, list):
                    value = [item.get(key) if isinstance(item, Mapping) else item for item in value]
                    continue
            else:
                key, _ = self._instance_key([part], env, depth)
            if not _has(value, key):
                return value if not is_known(value) else unknown(hcl.text_of(part))
            value = value[key]
        return value

    # --- functions ---------------------------------------------------------------------------------------

    def _call(self, node: Node, env: Env, depth: int) -> Any:
        from key_quarantine.rules import hcl  # noqa: PLC0415

        name = hcl.text_of(node.named_children[0])
        arguments_node = next((c for c in node.named_children if c.type == "function_arguments"), None)
        argument_nodes = (
            [c for c in arguments_node.named_children if c.type == "expression"] if arguments_node else []
        )
        if name == "try":
            return self._try(argument_nodes, env, depth)
        arguments = [self.node(argument, env, depth) for argument in argument_nodes]
        if name in _PASS_THROUGH and arguments:  # jsonencode too: the object is what rules read
            return arguments[0]
        if name in ("file", "templatefile") and arguments:
            return self._file(name, arguments, env, hcl.text_of(node))
        return _apply(name, arguments, hcl.text_of(node))

    def _try(self, argument_nodes: list[Node], env: Env, depth: int) -> Any:
        """The first argument that evaluates (here: that is not a dangling reference)."""
        arguments = [self.node(argument, env, depth) for argument in argument_nodes]
        for argument in arguments:
            if not (isinstance(argument, Mapping) and str(argument.get("Ref", "")).startswith("terraform:")):
                return argument
        return arguments[0] if arguments else None

    def _file(self, name: str, arguments: list[Any], env: Env, text: str) -> Any:
        path = arguments[0]
        if not isinstance(path, str):
            return opaque(text, arguments)
        resolved = Path(path) if Path(path).is_absolute() else env.module.root / path
        try:
            content = resolved.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            return opaque(text, arguments)
        if name == "file":
            return content
        variables = arguments[1] if len(arguments) > 1 and isinstance(arguments[1], Mapping) else {}
        return self._rendered(content, variables, text)

    def _rendered(self, template: str, variables: Mapping[str, Any], text: str) -> Any:
        """``templatefile``: the template with its variables, or what it is built from when they are not known."""
        if not is_known(dict(variables)):
            return opaque(text, list(variables.values()))
        module = ModuleInstance(prefix="", directory=Path(), root=Path(), locals={})
        module.variables = {key: (value, None) for key, value in variables.items()}
        rendered = _TemplateEvaluator(self._references).convert(template, Env(module))
        return rendered if isinstance(rendered, str) else opaque(text, list(variables.values()))


Evaluator._TERMS = {  # the tables are filled once the methods exist
    "expression": Evaluator.node,
    "literal_value": Evaluator._literal,
    "collection_value": Evaluator._literal,
    "template_expr": Evaluator._literal,
    "conditional": Evaluator._conditional,
    "function_call": Evaluator._call,
    "operation": Evaluator._operation_term,
}
Evaluator._ROOTS = {
    "var": Evaluator._var,
    "local": Evaluator._local,
    "each": Evaluator._each,
    "count": Evaluator._count,
    "path": Evaluator._path,
    "module": Evaluator._module,
    "data": Evaluator._data,
}


class _TemplateEvaluator(Evaluator):
    """Inside a template file, bare names are its variables (not ``var.x``)."""

    def _reference(self, parts: Sequence[Node], env: Env, depth: int) -> Any:
        from key_quarantine.rules import hcl  # noqa: PLC0415

        name = hcl.text_of(parts[0])
        if name in env.module.variables:
            return self._traverse(self.variable(env.module, name, depth), parts[1:], env, depth)
        return unknown(name)


def _splat_traversals(splat: Node) -> list[Node]:
    """What follows ``[*]`` or ``.*`` inside the splat node (``.secret`` in ``k[*].secret``)."""
    return [child for child in splat.named_children[0].named_children if child.type != "comment"]


def _attribute_names(parts: Sequence[Node]) -> list[str]:
    from key_quarantine.rules import hcl  # noqa: PLC0415

    names = []
    for part in parts:
        if part.type != "get_attr":
            break
        names.append(hcl.text_of(part).lstrip("."))
    return names


def _reference_chains(parts: Sequence[Node]) -> list[list[Node]]:
    """Every ``variable_expr`` with the traversals that follow it, anywhere under ``parts``."""
    chains: list[list[Node]] = []
    pending = list(parts)
    while pending:
        node = pending.pop(0)
        if node.type in ("expression", "binary_operation"):
            children = [child for child in node.children if child.type != "comment"]
            for index, child in enumerate(children):
                if child.type == "variable_expr":
                    chain = [child]
                    for follower in children[index + 1 :]:
                        if follower.type not in ("get_attr", "index", "splat"):
                            break
                        chain.append(follower)
                    chains.append(chain)
                elif child.type not in ("get_attr", "index", "splat"):
                    pending.append(child)
        else:
            pending.extend(node.named_children)
    return chains


@lru_cache(maxsize=4096)
def _tree(text: str) -> tuple[Node, bool] | None:
    """The expression's tree, and whether it is constant (no reference, no file read: the same everywhere)."""
    from key_quarantine.rules import hcl  # noqa: PLC0415

    try:
        node = hcl.expression_tree(text)
    except hcl.HclSyntaxError:
        return None
    return node, not _ENV_DEPENDENT.search(text.encode()) and not _has_reference(node)


def _has_reference(node: Node) -> bool:
    pending = [node]
    while pending:
        current = pending.pop()
        if current.type == "variable_expr":
            return True
        if current.type == "object_elem":  # a key (``Version = ...``) is a name, not a reference
            value = current.child_by_field_name("val")
            pending.extend([value] if value is not None else [])
        else:
            pending.extend(current.named_children)
    return False


#: Constant expressions already evaluated, by text.
_CONSTANTS: dict[str, Any] = {}


def forget_caches() -> None:
    """Empty what evaluation keeps between configurations (benchmarks and differential tests start cold)."""
    _tree.cache_clear()
    _template_pieces.cache_clear()
    _CONSTANTS.clear()


_ENV_DEPENDENT = re.compile(rb"\b(?:file|templatefile|fileexists|filebase64)\s*\(")


@lru_cache(maxsize=4096)
def _template_pieces(text: str) -> tuple[str | tuple[str], ...]:
    """``a-${x}-b`` into ``("a-", ("x",), "-b")`` (braces inside the interpolation balanced)."""
    if text.startswith("${") and text.endswith("}") and text.count("${") == 1:
        return ((text[2:-1],),)
    pieces: list[str | tuple[str]] = []
    position = 0
    while (start := text.find("${", position)) != -1:
        depth, cursor, quoted = 0, start + 2, False
        while cursor < len(text):
            character = text[cursor]
            if character == '"' and text[cursor - 1] != "\\":
                quoted = not quoted
            elif not quoted and character == "{":
                depth += 1
            elif not quoted and character == "}":
                if depth == 0:
                    break
                depth -= 1
            cursor += 1
        if cursor >= len(text):
            break
        if start > position:
            pieces.append(text[position:start])
        pieces.append((text[start + 2 : cursor],))
        position = cursor + 1
    if position < len(text):
        pieces.append(text[position:])
    return tuple(pieces)


def _is_whole_resource(value: Any) -> bool:
    reference = value.get("Ref") if isinstance(value, Mapping) and len(value) == 1 else None
    return isinstance(reference, str) and not reference.startswith("terraform:")


def _has(value: Any, key: Any) -> bool:
    """Whether ``value[key]`` is a known element (a list index in range, or a key of a known object)."""
    if isinstance(value, list):
        return isinstance(key, int) and not isinstance(key, bool) and 0 <= key < len(value)
    return isinstance(value, Mapping) and not is_intrinsic(value) and key in value


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _to_set(items: Any) -> list[Any]:
    return sorted(dict.fromkeys(items), key=str)


def _format(pattern: str, *values: Any) -> str:
    return pattern.replace("%%", "\0").replace("%d", "%s").replace("%v", "%s") % values if values else pattern


_LOGICAL = {"&&": False, "||": True}  # the left value that decides alone


def _logical(symbol: str, left: Any, right: Any, text: str) -> Any:
    if isinstance(left, bool) and isinstance(right, bool):
        return (left and right) if symbol == "&&" else (left or right)
    if right is _LOGICAL[symbol]:
        return right  # x && false, x || true
    return opaque(text, [left, right])


def _apply(name: str, arguments: list[Any], text: str) -> Any:
    """A built-in function on known arguments; on anything else, what the result is built from."""
    function = _FUNCTIONS.get(name)
    if function is None or not all(is_known(argument) for argument in arguments):
        return opaque(text, arguments)
    try:
        return function(*arguments)
    except (TypeError, ValueError, KeyError, IndexError, AttributeError, StopIteration):
        return unknown(text)


_PASS_THROUGH = {
    "jsonencode",
    "nonsensitive",
    "sensitive",
    "tostring",
    "tolist",
    "tomap",
    "tonumber",
    "tobool",
    "one",
}
_BINARY: dict[str, Callable[[Any, Any], Any]] = {
    "==": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    ">": operator.gt,
    "<=": operator.le,
    ">=": operator.ge,
    "+": operator.add,
    "-": operator.sub,
    "*": operator.mul,
    "/": operator.truediv,
    "%": operator.mod,
}
_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "length": len,
    "toset": _to_set,
    "distinct": lambda items: list(dict.fromkeys(items)),
    "concat": lambda *lists: [item for items in lists for item in items],
    "merge": lambda *maps: {key: value for mapping in maps for key, value in mapping.items()},
    "lookup": lambda mapping, key, *default: mapping.get(key, *default) if default else mapping[key],
    "element": lambda items, index: items[index % len(items)],
    "keys": sorted,
    "values": lambda mapping: [mapping[key] for key in sorted(mapping)],
    "contains": lambda items, item: item in items,
    "compact": lambda items: [item for item in items if item not in (None, "")],
    "flatten": lambda items: [x for item in items for x in (item if isinstance(item, list) else [item])],
    "coalesce": lambda *items: next(item for item in items if item not in (None, "")),
    "join": lambda separator, items: separator.join(str(item) for item in items),
    "split": lambda separator, text: text.split(separator),
    "format": _format,
    "lower": str.lower,
    "upper": str.upper,
    "trimspace": str.strip,
    "replace": lambda text, old, new: text.replace(old, new),
    "jsondecode": json.loads,
    "base64encode": lambda text: base64.b64encode(str(text).encode()).decode(),
    "range": lambda *bounds: list(range(*(int(bound) for bound in bounds))),
    "zipmap": lambda names, values: dict(zip(names, values, strict=True)),
    "startswith": lambda text, prefix: text.startswith(prefix),
    "endswith": lambda text, suffix: text.endswith(suffix),
    "max": max,
    "min": min,
    "abs": abs,
    "can": lambda _value: True,
}
