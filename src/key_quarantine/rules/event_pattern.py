"""Evaluate Amazon EventBridge event patterns against events, without AWS and without dependencies.

``parse_pattern`` validates a pattern once and compiles it into matcher objects;
``CompiledPattern.matches`` then only walks the event. Semantics follow the EventBridge user
guide ("Create event patterns", "Arrays in event patterns", "Content filtering", "Comparison
operators"); where the guide is silent they follow EventBridge's matching engine (the open-source
aws/event-ruler) as recorded by TestEventPattern cases validated against AWS:

- The event and the pattern are read as dot-joined paths to leaf values (string, number, boolean,
  null). Arrays in the event are flattened: each element contributes its leaf values at the
  array's own path, so ``{"a": [{"b": 1}, {"b": 2}]}`` has the values 1 and 2 at ``a.b``. Empty
  arrays and objects contribute nothing. Because paths are joined with dots, a key that contains a
  dot names the same path as the nested keys (AWS-validated; event-ruler documents it).
- A field matches when any leaf value at its path matches any matcher in its array; every field
  of a pattern object must match (AND); each ``"$or"`` needs at least one of its objects to match.
- Only ``{"exists": false}`` matches a field that has no leaf value; every other matcher needs a
  value, ``anything-but`` included.
"""

from __future__ import annotations

import ipaddress
import json
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final, NoReturn, TypeAlias, TypeGuard

__all__ = ["CompiledPattern", "EventPatternError", "matches", "parse_pattern"]

_IpAddress: TypeAlias = ipaddress.IPv4Address | ipaddress.IPv6Address
_IpNetwork: TypeAlias = ipaddress.IPv4Network | ipaddress.IPv6Network
_FlatEvent: TypeAlias = dict[str, list[object]]

_OR: Final = "$or"
_IGNORE_CASE: Final = "equals-ignore-case"
_NUMERIC_USAGE: Final = 'must be one comparison such as ["<", 10] or a range such as [">", 0, "<=", 5]'
_LOWER_BOUNDS: Final = (">", ">=")
_UPPER_BOUNDS: Final = ("<", "<=")
# One token of a wildcard value: an escaped star or backslash, a run of stars, a lone backslash
# (an invalid escape), or a run of ordinary characters.
_WILDCARD_TOKEN: Final = re.compile(r"\\[\\*]|\*+|\\|[^\\*]+", re.DOTALL)
# event-ruler treats a string as an IP address only when it has one of these shapes.
_IPV4_SHAPE: Final = re.compile(r"[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+")
_IPV6_SHAPE: Final = re.compile(r"[0-9a-fA-F:]*:[0-9a-fA-F:]*")


class EventPatternError(ValueError):
    """The pattern is not a valid EventBridge pattern; message names the problem and its path."""

    def __init__(self, path: str, problem: str) -> None:
        super().__init__(f"{path or 'event pattern'}: {problem}")
        self.path = path
        self.problem = problem

    def __reduce__(self) -> tuple[type[EventPatternError], tuple[str, str]]:
        return (type(self), (self.path, self.problem))


def _fail(path: str, problem: str) -> NoReturn:
    raise EventPatternError(path, problem)


def _join(prefix: str, key: str) -> str:
    return f"{prefix}.{key}" if prefix else key


def _is_number(value: object) -> TypeGuard[int | float]:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _kind(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if _is_number(value):
        return "number"
    return "string" if isinstance(value, str) else "other"


def _ip(text: str) -> _IpAddress | None:
    """The address ``text`` spells, if it has an IP address's shape and is one."""
    if not (_IPV4_SHAPE.fullmatch(text) or _IPV6_SHAPE.fullmatch(text)):
        return None
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


# Matchers: one compiled entry of a field's array, asked about one leaf value at a time.


class _Matcher:
    __slots__ = ()

    def matches(self, value: object) -> bool:
        raise NotImplementedError


@dataclass(frozen=True, slots=True)
class _Literal(_Matcher):
    """Exact value. Kinds must agree: the string "5" is not the number 5, and true is not 1."""

    kind: str
    value: object

    def matches(self, value: object) -> bool:
        return _kind(value) == self.kind and value == self.value


@dataclass(frozen=True, slots=True)
class _IpLiteral(_Matcher):
    """A string literal that is an IP address: event-ruler compares addresses, not spellings."""

    address: _IpAddress

    def matches(self, value: object) -> bool:
        return isinstance(value, str) and _ip(value) == self.address


@dataclass(frozen=True, slots=True)
class _Prefix(_Matcher):
    text: str  # already lower-cased when ignore_case
    ignore_case: bool

    def matches(self, value: object) -> bool:
        if not isinstance(value, str):
            return False
        return (value.lower() if self.ignore_case else value).startswith(self.text)


@dataclass(frozen=True, slots=True)
class _Suffix(_Matcher):
    text: str  # already lower-cased when ignore_case
    ignore_case: bool

    def matches(self, value: object) -> bool:
        if not isinstance(value, str):
            return False
        return (value.lower() if self.ignore_case else value).endswith(self.text)


@dataclass(frozen=True, slots=True)
class _EqualsIgnoreCase(_Matcher):
    text: str  # lower-cased

    def matches(self, value: object) -> bool:
        return isinstance(value, str) and value.lower() == self.text


@dataclass(frozen=True, slots=True)
class _Wildcard(_Matcher):
    regex: re.Pattern[str]

    def matches(self, value: object) -> bool:
        return isinstance(value, str) and self.regex.fullmatch(value) is not None


@dataclass(frozen=True, slots=True)
class _Numeric(_Matcher):
    """Numbers only (JSON numbers, not strings or booleans), compared by value: 5 equals 5.0."""

    low: int | float | None
    low_inclusive: bool
    high: int | float | None
    high_inclusive: bool

    def matches(self, value: object) -> bool:
        if not _is_number(value):
            return False
        above = self.low is None or value > self.low or (self.low_inclusive and value == self.low)
        below = self.high is None or value < self.high or (self.high_inclusive and value == self.high)
        return above and below


@dataclass(frozen=True, slots=True)
class _Cidr(_Matcher):
    network: _IpNetwork

    def matches(self, value: object) -> bool:
        address = _ip(value) if isinstance(value, str) else None
        return address is not None and address in self.network


@dataclass(frozen=True, slots=True)
class _Exists(_Matcher):
    """Any leaf value satisfies ``exists: true``; none satisfies ``exists: false``.

    The guide: "Exists matching only works on leaf nodes. It does not work on intermediate nodes."
    Its example matches ``{"c-count": [{"exists": false}]}`` against an event whose ``c-count`` is
    an object, and AWS-validated cases show ``exists: true`` failing on an object-valued field and
    on an empty array: an object or ``[]`` holds no leaf value at that path. ``null`` is a value.
    """

    wanted: bool

    def matches(self, value: object) -> bool:  # noqa: ARG002 - any leaf value will do
        return self.wanted


@dataclass(frozen=True, slots=True)
class _AnythingBut(_Matcher):
    """Matches a present leaf value that none of ``excluded`` matches.

    Not documented in prose, but validated against AWS: on a missing field anything-but does NOT
    match (it needs a value), while ``null`` is a value, so it does match a null field. Each value
    of an array is tried on its own, as the arrays page describes for every matcher, so
    ``["stopped", "running"]`` satisfies ``{"anything-but": "stopped"}`` through "running".
    Values of another kind are never excluded: ``{"anything-but": 5}`` matches the string "5".
    """

    excluded: tuple[_Matcher, ...]

    def matches(self, value: object) -> bool:
        return not any(matcher.matches(value) for matcher in self.excluded)


# The compiled pattern: fields with their matchers, ANDed, plus groups of "$or" alternatives.


@dataclass(frozen=True, slots=True)
class _Field:
    path: str
    matchers: tuple[_Matcher, ...]
    matches_absent: bool  # the array holds {"exists": false}

    def matches(self, flat: _FlatEvent) -> bool:
        values = flat.get(self.path)
        if not values:
            return self.matches_absent
        return any(matcher.matches(value) for matcher in self.matchers for value in values)


@dataclass(frozen=True, slots=True)
class _Node:
    fields: tuple[_Field, ...]
    alternatives: tuple[tuple[_Node, ...], ...]

    def matches(self, flat: _FlatEvent) -> bool:
        return all(field.matches(flat) for field in self.fields) and all(
            any(branch.matches(flat) for branch in branches) for branches in self.alternatives
        )

    def paths(self) -> set[str]:
        found = {field.path for field in self.fields}
        for branches in self.alternatives:
            for branch in branches:
                found |= branch.paths()
        return found


class CompiledPattern:
    """A validated event pattern, ready to be matched against any number of events."""

    __slots__ = ("_root", "_visited", "_wanted")

    def __init__(self, root: _Node) -> None:
        self._root = root
        self._wanted = frozenset(root.paths())
        self._visited = self._wanted | _ancestors(self._wanted)

    def matches(self, event: Mapping[str, Any]) -> bool:
        """Whether EventBridge would deliver ``event`` (a decoded JSON object) to this pattern."""
        if not isinstance(event, Mapping):
            raise TypeError(f"an event must be a JSON object (a mapping), not {type(event).__name__}")
        flat: _FlatEvent = {}
        self._collect(event, "", flat)
        return self._root.matches(flat)

    def _collect(self, node: object, path: str, flat: _FlatEvent) -> None:
        if path and path not in self._visited:
            return
        if isinstance(node, Mapping):
            for key, child in node.items():
                self._collect(child, _join(path, str(key)), flat)
        elif isinstance(node, list | tuple):
            for item in node:
                self._collect(item, path, flat)
        elif path in self._wanted:
            flat.setdefault(path, []).append(node)


def _ancestors(paths: frozenset[str]) -> set[str]:
    """Every dot-joined prefix of ``paths``: the event paths worth descending into."""
    found: set[str] = set()
    for path in paths:
        parts = path.split(".")
        found.update(".".join(parts[:end]) for end in range(1, len(parts)))
    return found


def parse_pattern(pattern: Mapping[str, Any] | str) -> CompiledPattern:
    """Validate ``pattern`` (an object, or its JSON text as CloudFormation allows) and compile it.

    Raises EventPatternError, naming the path of the problem, for anything EventBridge rejects.
    """
    return CompiledPattern(_compile_object(_load(pattern), where="", prefix="", in_or=False))


def matches(pattern: Mapping[str, Any] | str, event: Mapping[str, Any]) -> bool:
    """``parse_pattern(pattern).matches(event)``; compile once instead when matching many events."""
    return parse_pattern(pattern).matches(event)


def _load(pattern: object) -> Mapping[Any, Any]:
    data = pattern
    if isinstance(pattern, str):
        try:
            data = json.loads(pattern)
        except json.JSONDecodeError as error:
            _fail("", f"not valid JSON: {error.msg} at line {error.lineno} column {error.colno}")
    if not isinstance(data, Mapping):
        _fail("", "an event pattern must be a JSON object")
    return data


def _compile_object(obj: Mapping[Any, Any], where: str, prefix: str, in_or: bool) -> _Node:
    if not obj:
        _fail(where, "an empty object is not allowed (EventBridge rejects it)")
    fields: list[_Field] = []
    alternatives: list[tuple[_Node, ...]] = []
    for key, value in obj.items():
        here = _join(where, _field_name(key, where, in_or))
        if key == _OR:
            alternatives.append(_compile_or(value, here, prefix))
            continue
        node = _compile_member(value, here, _join(prefix, key), in_or)
        fields.extend(node.fields)
        alternatives.extend(node.alternatives)
    return _Node(tuple(fields), tuple(alternatives))


def _field_name(key: object, where: str, in_or: bool) -> str:
    if not isinstance(key, str):
        _fail(where, f"field name {key!r} is not a string")
    if in_or and key in _OPERATORS:
        # event-ruler reserves operator names inside "$or" so that a branch cannot be misread.
        _fail(_join(where, key), f'"{key}" is an operator name and cannot be a field inside "$or"')
    return key


def _compile_member(value: object, where: str, path: str, in_or: bool) -> _Node:
    if isinstance(value, Mapping):
        return _compile_object(value, where, path, in_or)
    if isinstance(value, list | tuple):
        return _Node((_compile_field(value, where, path),), ())
    return _fail(where, "must be an object or an array")


def _compile_or(value: object, where: str, prefix: str) -> tuple[_Node, ...]:
    if not isinstance(value, list | tuple) or len(value) < 2:  # noqa: PLR2004 - EventBridge's minimum
        _fail(where, "must be an array of at least two pattern objects")
    branches: list[_Node] = []
    for index, branch in enumerate(value):
        here = f"{where}[{index}]"
        if not isinstance(branch, Mapping):
            _fail(here, "must be a pattern object")
        branches.append(_compile_object(branch, here, prefix, in_or=True))
    return tuple(branches)


def _compile_field(items: list[Any] | tuple[Any, ...], where: str, path: str) -> _Field:
    if not items:
        _fail(where, "an empty array is not allowed")
    matchers = tuple(_compile_matcher(item, f"{where}[{index}]") for index, item in enumerate(items))
    absent = any(isinstance(matcher, _Exists) and not matcher.wanted for matcher in matchers)
    return _Field(path, matchers, absent)


def _compile_matcher(item: object, where: str) -> _Matcher:
    if not isinstance(item, Mapping):
        return _literal(item, where)
    if len(item) != 1:
        _fail(where, "an operator object must have exactly one key")
    ((name, argument),) = item.items()
    compile_operator = _OPERATORS.get(name) if isinstance(name, str) else None
    if compile_operator is None:
        _fail(where, f"unknown operator {name!r} (operators are case-sensitive)")
    return compile_operator(argument, _join(where, name))


def _literal(value: object, where: str) -> _Matcher:
    kind = _kind(value)
    if kind == "other":
        _fail(where, "a match value must be a string, number, boolean, null or an operator object")
    if kind == "number":
        _number(value, where)
    address = _ip(value) if isinstance(value, str) else None
    return _Literal(kind, value) if address is None else _IpLiteral(address)


def _number(value: object, where: str) -> int | float:
    if _is_number(value) and math.isfinite(value):
        return value
    return _fail(where, f"{value!r} is not a finite number")


def _string(value: object, where: str) -> str:
    if not isinstance(value, str):
        _fail(where, f"{value!r} is not a string")
    return value


# Operators. Each takes the operator's argument and the path of the operator, for messages.


def _affix(argument: object, where: str) -> tuple[str, bool]:
    """A prefix/suffix argument: a string, or {"equals-ignore-case": string}."""
    if isinstance(argument, str):
        return argument, False
    if isinstance(argument, Mapping) and list(argument) == [_IGNORE_CASE]:
        return _string(argument[_IGNORE_CASE], _join(where, _IGNORE_CASE)).lower(), True
    return _fail(where, f'must be a string or {{"{_IGNORE_CASE}": string}}')


def _compile_prefix(argument: object, where: str) -> _Matcher:
    return _Prefix(*_affix(argument, where))


def _compile_suffix(argument: object, where: str) -> _Matcher:
    return _Suffix(*_affix(argument, where))


def _compile_equals_ignore_case(argument: object, where: str) -> _Matcher:
    return _EqualsIgnoreCase(_string(argument, where).lower())


def _compile_wildcard(argument: object, where: str) -> _Matcher:
    """``*`` is any run of characters, ``\\*`` a literal star, ``\\\\`` a literal backslash."""
    parts: list[str] = []
    for token in _WILDCARD_TOKEN.finditer(_string(argument, where)):
        text = token.group()
        if text.startswith("**"):
            _fail(where, f"consecutive wildcard characters at position {token.start()}")
        if text == "\\":
            _fail(where, f"invalid escape at position {token.start()}: only \\* and \\\\ are allowed")
        if text == "*":
            parts.append(".*")
        else:
            parts.append(re.escape(text[1:] if text.startswith("\\") else text))
    return _Wildcard(re.compile("".join(parts), re.DOTALL))


def _compile_exists(argument: object, where: str) -> _Matcher:
    if not isinstance(argument, bool):
        _fail(where, "must be true or false")
    return _Exists(argument)


def _compile_cidr(argument: object, where: str) -> _Matcher:
    address_text, slash, bits = _string(argument, where).partition("/")
    if not slash or not re.fullmatch(r"[0-9]+", bits):
        _fail(where, "must be an IP address, a slash and a prefix length, such as 10.0.0.0/24")
    address = _ip(address_text)
    if address is None:
        _fail(where, f"{address_text!r} is not an IPv4 or IPv6 address")
    # event-ruler rejects a full-length mask (/32, /128) and ignores host bits (10.0.0.5/24).
    if int(bits) >= address.max_prefixlen:
        _fail(where, f"the prefix length must be below {address.max_prefixlen}")
    return _Cidr(ipaddress.ip_network(f"{address}/{bits}", strict=False))


def _compile_numeric(argument: object, where: str) -> _Matcher:
    if not isinstance(argument, list | tuple) or len(argument) not in (2, 4):
        _fail(where, _NUMERIC_USAGE)
    first = _comparison(argument[0], argument[1], where)
    if len(argument) == 2:  # noqa: PLR2004 - one comparison
        return _one_comparison(*first)
    return _range(first, _comparison(argument[2], argument[3], where), where)


def _comparison(operator: object, operand: object, where: str) -> tuple[str, int | float]:
    if operator not in (*_LOWER_BOUNDS, *_UPPER_BOUNDS, "="):
        _fail(where, f"unknown numeric operator {operator!r}; use =, <, <=, > or >=")
    return str(operator), _number(operand, where)


def _one_comparison(operator: str, number: int | float) -> _Numeric:
    if operator == "=":
        return _Numeric(low=number, low_inclusive=True, high=number, high_inclusive=True)
    if operator in _LOWER_BOUNDS:
        return _Numeric(low=number, low_inclusive=operator == ">=", high=None, high_inclusive=False)
    return _Numeric(low=None, low_inclusive=False, high=number, high_inclusive=operator == "<=")


def _range(low: tuple[str, int | float], high: tuple[str, int | float], where: str) -> _Numeric:
    # event-ruler (and so EventBridge) reads a range only as lower bound first, upper bound second.
    if low[0] not in _LOWER_BOUNDS or high[0] not in _UPPER_BOUNDS:
        _fail(where, 'a range must be ">" or ">=" a number, then "<" or "<=" a greater number')
    if not low[1] < high[1]:
        _fail(where, "the lower bound of a range must be less than its upper bound")
    return _Numeric(low=low[1], low_inclusive=low[0] == ">=", high=high[1], high_inclusive=high[0] == "<=")


def _compile_anything_but(argument: object, where: str) -> _Matcher:
    if isinstance(argument, Mapping):
        return _AnythingBut(_anything_but_operator(argument, where))
    values = argument if isinstance(argument, list | tuple) else [argument]
    kinds = {_kind(value) for value in values}
    if not values or not (kinds <= {"string"} or kinds <= {"number"}):
        _fail(where, "must be a string, a number, or a non-empty array of only strings or only numbers")
    return _AnythingBut(tuple(_anything_but_literal(value, where) for value in values))


def _anything_but_literal(value: object, where: str) -> _Matcher:
    # Exact comparison here: event-ruler does not read anything-but strings as IP addresses.
    return _Literal(_kind(value), value if isinstance(value, str) else _number(value, where))


def _anything_but_operator(argument: Mapping[Any, Any], where: str) -> tuple[_Matcher, ...]:
    """{"prefix"|"suffix"|"equals-ignore-case"|"wildcard": string or array of strings}."""
    if len(argument) != 1 or next(iter(argument)) not in _ANYTHING_BUT_OPERATORS:
        _fail(where, f"an object here must have one key of {', '.join(_ANYTHING_BUT_OPERATORS)}")
    ((name, value),) = argument.items()
    here = _join(where, name)
    texts = value if isinstance(value, list | tuple) else [value]
    for index, text in enumerate(texts):
        _string(text, f"{here}[{index}]" if texts is value else here)
        if text == "" and name in ("prefix", "suffix"):
            _fail(here, f"an empty {name} is not allowed inside anything-but")
    return tuple(_OPERATORS[name](text, here) for text in texts)


_OPERATORS: Final[dict[str, Callable[[object, str], _Matcher]]] = {
    "prefix": _compile_prefix,
    "suffix": _compile_suffix,
    "equals-ignore-case": _compile_equals_ignore_case,
    "wildcard": _compile_wildcard,
    "anything-but": _compile_anything_but,
    "numeric": _compile_numeric,
    "exists": _compile_exists,
    "cidr": _compile_cidr,
}
_ANYTHING_BUT_OPERATORS: Final = ("prefix", "suffix", "equals-ignore-case", "wildcard")
