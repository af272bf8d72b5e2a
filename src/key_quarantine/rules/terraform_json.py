"""Terraform's JSON syntax (``*.tf.json``) into the shape ``hcl.parse`` gives a ``.tf`` file.

In JSON, a block with labels is nested objects (``{"resource": {"aws_iam_user": {"u": {...}}}}``), any level
may be a list of objects instead, strings are templates (``"${aws_iam_user.u.name}"``) exactly as in HCL, and a
``"//"`` key is a comment. Lines are those of each block's innermost label in the text.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from typing import Any

#: Block type -> how many labels it has.
LABELS = {"resource": 2, "data": 2, "module": 1, "output": 1, "variable": 1, "provider": 1, "locals": 0}
NESTED_BLOCKS = {"environment", "event_selector", "statement", "principals", "condition", "not_principals"}


class TerraformJsonError(ValueError):
    """A ``.tf.json`` file that is not Terraform's JSON syntax."""


def read_json_configuration(text: str) -> tuple[dict[str, Any], dict[tuple[str, ...], int]]:
    """The body and the line of each block. Raises ``TerraformJsonError`` on JSON that is not an object."""
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        raise TerraformJsonError(f"line {error.lineno} column {error.colno}: {error.msg}") from None
    if not isinstance(document, Mapping):
        raise TerraformJsonError("the document is not an object")
    body: dict[str, Any] = {}
    lines: dict[tuple[str, ...], int] = {}
    keys = _keys_in_order(text)
    for kind, content in document.items():
        if kind == "//" or kind not in LABELS:
            continue
        for labels, block in _labelled(content, LABELS[kind]):
            value: Any = _body(block)
            for label in reversed(labels):
                value = {label: value}
            body.setdefault(kind, []).append(value)
            if labels:
                lines.setdefault((kind, *labels), _line_of(keys, (kind, *labels)))
    return body, lines


def _labelled(
    content: Any, depth: int, labels: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], Any]]:
    for item in content if isinstance(content, list) else [content]:
        if depth == 0:
            yield labels, item
        elif isinstance(item, Mapping):
            for label, inner in item.items():
                if label != "//":
                    yield from _labelled(inner, depth - 1, (*labels, label))


def _body(block: Any) -> Any:
    """Attributes as they are; nested blocks (which HCL gives as lists of bodies) as lists too."""
    if not isinstance(block, Mapping):
        return block
    result: dict[str, Any] = {}
    for key, value in block.items():
        if key == "//":
            continue
        if key in NESTED_BLOCKS and isinstance(value, Mapping | list):
            result[key] = [_body(item) for item in (value if isinstance(value, list) else [value])]
        else:
            result[key] = value
    return result


_JSON_KEY = re.compile(r'"((?:[^"\\]|\\.)*)"\s*:')


def _keys_in_order(text: str) -> list[tuple[str, int]]:
    return [
        (match.group(1), number)
        for number, line in enumerate(text.splitlines(), start=1)
        for match in _JSON_KEY.finditer(line)
    ]


def _line_of(keys: list[tuple[str, int]], path: tuple[str, ...]) -> int:
    """The line of the last key of ``path``, each key looked for after the one before it."""
    position, line = 0, 1
    for wanted in path:
        found = next((index for index in range(position, len(keys)) if keys[index][0] == wanted), None)
        if found is None:
            return line
        position, line = found + 1, keys[found][1]
    return line
