"""HCL2 text into plain Python values, parsed by tree-sitter's HCL grammar (compiled C).

The values have the shape the Terraform front end was built on (python-hcl2's, with quotes stripped, blocks as
lists and no comments): literals become Python values, blocks become ``{type: [{label: {...}}]}``, and every other
expression becomes its canonical text wrapped in ``${...}`` (``"${aws_iam_user.u.name}"``, ``"${jsonencode({a =
1})}"``). A differential test holds the two parsers to the same output. One deliberate difference: a ``<<-``
heredoc's value keeps its quotes and backslashes as written (python-hcl2 8 escapes them, which turns a JSON policy
in an indented heredoc into text that no longer parses as JSON).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import tree_sitter_hcl
from tree_sitter import Language, Node, Parser

_PARSER = Parser(Language(tree_sitter_hcl.language()))
_SIMPLE_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", '"': '"', "\\": "\\"}
_ESCAPE = re.compile(r"\\(?:u[0-9A-Fa-f]{4}|U[0-9A-Fa-f]{8}|.)", re.DOTALL)
_HEREDOC_END = re.compile(r"[ \t]*\Z")
#: canonical text -> the expression node it was rendered from, until the evaluator asks for it
_SEEN_EXPRESSIONS: dict[str, Node] = {}


class HclSyntaxError(ValueError):
    """Text that is not HCL; the message names the line and column of the first problem."""


@dataclass(frozen=True)
class Document:
    """One file: its body as values, and where each top-level block starts."""

    body: dict[str, Any]
    #: (block type, label, ...) -> line (1-based) of the first block with exactly those labels
    lines: dict[tuple[str, ...], int]


def parse(text: str) -> Document:
    """A whole ``.tf`` file. Raises ``HclSyntaxError`` on anything the grammar does not accept."""
    root = _PARSER.parse(text.encode("utf-8")).root_node
    if root.has_error:
        raise HclSyntaxError(_first_error(root))
    content = _named(root)
    if not content:
        return Document({}, {})
    if content[0].type != "body":
        raise HclSyntaxError("line 1: a JSON object, not HCL")
    lines: dict[tuple[str, ...], int] = {}
    return Document(_body(content[0], lines), lines)


def parse_expression(text: str) -> Any:
    """One expression (``{ a = 1 }``), as the value an attribute set to it would have."""
    return parse(f"value = {text}\n").body["value"]


def expression_tree(text: str) -> Node:
    """One expression as its syntax tree (the ``expression`` node), for evaluating it. An expression a parsed
    file held is not parsed again (its text is how ``parse`` rendered it)."""
    seen = _SEEN_EXPRESSIONS.pop(text, None)
    if seen is not None:
        return seen
    root = _PARSER.parse(f"value = {text}\n".encode()).root_node
    if root.has_error:
        raise HclSyntaxError(_first_error(root))
    (body,) = _named(root)
    (attribute,) = _named(body)
    return _named(attribute)[1]


def value_of(expression: Node) -> Any:
    """What an attribute set to this expression holds (literals as values, the rest as ``${...}`` text)."""
    return _value(expression)


def text_of(node: Node) -> str:
    """The canonical text of an expression or of a part of one."""
    return _render(node)


def parts_of(node: Node) -> list[Node]:
    """A node's children without comments (operators and brackets included)."""
    return _parts(node)


def _first_error(node: Node) -> str:
    """Where the first problem is, said the way a person would look for it."""
    pending = [node]
    while pending:
        current = pending.pop()
        if current.is_missing:
            opened = current.parent or current
            what = _UNCLOSED.get(current.type, f"missing {current.type!r}")
            return f"line {opened.start_point[0] + 1}, column {opened.start_point[1] + 1}: {what}"
        if current.type == "ERROR":
            row, column = current.start_point
            return f"line {row + 1}, column {column + 1}: unexpected {_excerpt(current)}"
        pending.extend(reversed([child for child in current.children if child.has_error]))
    return "not accepted by the HCL grammar"


_UNCLOSED = {
    "quoted_template_end": "a string that is never closed (missing '\"')",
    "}": "a block or object that is never closed (missing '}')",
    "block_end": "a block that is never closed (missing '}')",
    "object_end": "an object that is never closed (missing '}')",
    "tuple_end": "a list that is never closed (missing ']')",
    "]": "a list or index that is never closed (missing ']')",
    ")": "a call or parenthesis that is never closed (missing ')')",
}


def _excerpt(node: Node) -> str:
    text = _text(node).strip().splitlines()
    return repr(text[0][:40]) if text else "end of file"


def _named(node: Node) -> list[Node]:
    return [child for child in node.named_children if child.type != "comment"]


def _text(node: Node) -> str:
    return (node.text or b"").decode("utf-8")


# --- bodies and blocks ------------------------------------------------------------------------------------


def _body(node: Node, lines: dict[tuple[str, ...], int] | None = None) -> dict[str, Any]:
    result: dict[str, Any] = {}
    attributes: set[str] = set()
    for child in _named(node):
        if child.type == "attribute":
            name, expression = _named(child)
            attributes.add(key := _text(name))
            result[key] = _value(expression)
            continue
        kind, *labels = _block_labels(child)
        if kind in attributes:
            raise HclSyntaxError(
                f"line {child.start_point[0] + 1}: {kind!r} is both an attribute and a block"
            )
        if lines is not None:
            lines.setdefault((kind, *labels), child.start_point[0] + 1)
        value = _body(body) if (body := _block_body(child)) is not None else {}
        for label in reversed(labels):
            value = {label: value}
        result.setdefault(kind, []).append(value)
    return result


def _block_labels(block: Node) -> list[str]:
    labels = []
    for child in _named(block):
        if child.type == "identifier":
            labels.append(_text(child))
        elif child.type == "string_lit":
            labels.append(_string_value(child))
        else:
            break
    return labels


def _block_body(block: Node) -> Node | None:
    return next((child for child in block.named_children if child.type == "body"), None)


# --- values (what an attribute is set to) -----------------------------------------------------------------


def _value(expression: Node) -> Any:
    parts = _parts(expression)
    if len(parts) == 1:
        only = parts[0]
        converter = _VALUES.get(only.type)
        if converter is not None:
            return converter(only)
    elif len(parts) == 3 and parts[0].type == "(":  # noqa: PLR2004 - ( expression )
        inner = _value(parts[1])
        unwrapped = inner[2:-1] if _is_dollar(inner) else inner
        return f"${{({unwrapped})}}"
    text = _dollar(_render_parts(parts))
    _SEEN_EXPRESSIONS[text[2:-1]] = expression
    return text


def _parts(expression: Node) -> list[Node]:
    return [child for child in expression.children if child.type != "comment"]


def _literal_value(node: Node) -> Any:
    (literal,) = _named(node)
    kind = literal.type
    if kind == "string_lit":
        return _string_value(literal)
    if kind == "numeric_lit":
        return _number(_text(literal), inside=False)
    if kind == "bool_lit":
        return _text(literal) == "true"
    return None


def _collection_value(node: Node) -> Any:
    (collection,) = _named(node)
    if collection.type == "tuple":
        return [_value(element) for element in _named(collection) if element.type == "expression"]
    return {
        _key(element.child_by_field_name("key")): _value(_required(element.child_by_field_name("val")))
        for element in _named(collection)
        if element.type == "object_elem"
    }


def _key(key: Node | None) -> str:
    parts = _parts(_required(key))
    if len(parts) == 1 and parts[0].type == "variable_expr":
        return _text(parts[0])
    if len(parts) == 1 and parts[0].type in ("literal_value", "template_expr"):
        value = _VALUES[parts[0].type](parts[0])
        return value if isinstance(value, str) else str(value)
    return _dollar(_render_parts(parts))


def _template_value(node: Node) -> Any:
    (template,) = _named(node)
    if template.type == "heredoc_template":
        return _heredoc(template)
    return _template_text(template, inside=False)


def _operation_value(node: Node) -> Any:
    (operation,) = _named(node)
    parts = _parts(operation)
    if (
        operation.type == "unary_operation"
        and parts[0].type == "-"
        and len(parts) == 2  # noqa: PLR2004 - operator and one literal
        and parts[1].type == "literal_value"
    ):
        number = _literal_value(parts[1])
        if isinstance(number, int | float) and not isinstance(number, bool):
            return -number
    return _dollar(_render(node))


_VALUES: dict[str, Callable[[Node], Any]] = {
    "variable_expr": _text,  # a bare name (``type = string``) is its name, not an expression
    "literal_value": _literal_value,
    "collection_value": _collection_value,
    "template_expr": _template_value,
    "operation": _operation_value,
}


def _string_value(node: Node) -> str:
    return _template_text(node, inside=False)


def _unescape(raw: str) -> str:
    """HCL's escapes (``\\n``, ``\\"``, ``\\u00e9``...); an unknown escape stays as written."""
    if "\\" not in raw:
        return raw

    def replace(match: re.Match[str]) -> str:
        escape = match.group(0)
        if escape[1] in _SIMPLE_ESCAPES and len(escape) == 2:  # noqa: PLR2004 - backslash and one character
            return _SIMPLE_ESCAPES[escape[1]]
        if escape[1] in "uU" and len(escape) > 2:  # noqa: PLR2004
            code = int(escape[2:], 16)
            if code <= 0x10FFFF and not 0xD800 <= code < 0xE000:  # noqa: PLR2004 - Unicode's range, no surrogates
                return chr(code)
        return escape

    return _ESCAPE.sub(replace, raw)


def _number(text: str, *, inside: bool) -> Any:
    lowered = text.lower()
    if lowered.startswith("0x"):  # the grammar accepts hexadecimal, which HCL itself does not
        number: int | float = int(lowered, 16)
    elif "e" in lowered:  # kept as written, as python-hcl2 keeps it: a float would lose the notation
        return text if inside else _dollar(text)
    else:
        number = float(text) if "." in text else int(text)
    return str(number) if inside else number


def _heredoc(node: Node) -> str:
    """The body between the marker lines; ``<<-`` removes the smallest indentation of its non-blank lines."""
    opening, closing = (child for child in node.named_children if child.type == "heredoc_identifier")
    source = _required(node.text)
    start = source.index(b"\n", opening.end_byte - node.start_byte) + 1
    body = source[start : closing.start_byte - node.start_byte].decode("utf-8")
    body = re.sub(r"\r?\n\Z", "", _HEREDOC_END.sub("", body))
    if _text(node.named_children[0]) != "<<-":
        return body
    lines = body.split("\n")
    indent = min((len(line) - len(line.lstrip(" ")) for line in lines if line.strip()), default=0)
    return "\n".join(line[indent:] for line in lines)


# --- canonical text (inside ${...}) -----------------------------------------------------------------------


def _render(node: Node) -> str:
    renderer = _RENDERERS.get(node.type)
    if renderer is not None:
        return renderer(node)
    if node.is_named:
        return _render_parts(_parts(node))
    return _text(node)


def _render_parts(parts: Sequence[Node]) -> str:
    return "".join(_render(part) for part in parts)


def _render_literal(node: Node) -> str:
    (literal,) = _named(node)
    if literal.type == "numeric_lit":
        return str(_number(_text(literal), inside=True))
    if literal.type == "string_lit":
        return f'"{_template_text(literal, inside=True)}"'
    return _text(literal)


def _render_template(node: Node) -> str:
    (template,) = _named(node)
    if template.type == "heredoc_template":
        return _heredoc(template)
    return f'"{_template_text(template, inside=True)}"'


def _template_text(template: Node, *, inside: bool) -> str:
    """A quoted template's content. Its literal text is taken from the source between the other parts: the
    grammar leaves the spaces next to an interpolation out of its literal nodes."""
    children = template.children
    return "".join(
        _template_piece(piece, inside=inside)
        for piece in _pieces(template, children[0].end_byte, children[-1].start_byte)
    )


def _pieces(container: Node, start: int, end: int) -> list[str | Node]:
    """The interpolations and directives of ``container`` between two byte offsets, and the text between them."""
    source, base = _required(container.text), container.start_byte
    pieces: list[str | Node] = []
    position = start
    for child in container.named_children:
        if child.type not in _TEMPLATE_PARTS or child.start_byte < start or child.end_byte > end:
            continue
        if child.start_byte > position:
            pieces.append(source[position - base : child.start_byte - base].decode("utf-8"))
        pieces.append(child)
        position = child.end_byte
    if end > position:
        pieces.append(source[position - base : end - base].decode("utf-8"))
    return pieces


_TEMPLATE_PARTS = {
    "template_interpolation",
    "template_directive",
    "template_if_intro",
    "template_else_intro",
    "template_if_end",
    "template_for_start",
    "template_for_end",
}


def _template_piece(piece: str | Node, *, inside: bool) -> str:
    if isinstance(piece, str):
        return piece if inside else _unescape(piece)
    if piece.type == "template_interpolation":
        expression = next((child for child in _named(piece) if child.type == "expression"), None)
        return _dollar(_render(expression) if expression is not None else "")
    if piece.type == "template_directive":
        (directive,) = _named(piece)
        # literal text inside a directive stays as written (python-hcl2 resolves escapes only outside)
        return "".join(
            _template_piece(part, inside=True)
            for part in _pieces(directive, directive.start_byte, directive.end_byte)
        )
    return _directive_tag(piece)


def _directive_tag(node: Node) -> str:
    """``%{ if x }``, ``%{~ for a, b in c ~}``, ``%{ endif }``: python-hcl2's canonical spacing."""
    children = node.children
    opens = children[1].type == "strip_marker"
    closes = children[-2].type == "strip_marker"
    words = [
        _render(child)
        for child in children
        if child.type not in ("template_directive_start", "template_directive_end", "strip_marker", "comment")
    ]
    inner = " ".join(words).replace(" , ", ", ")
    return "%{" + ("~ " if opens else " ") + inner + (" ~" if closes else " ") + "}"


def _render_function(node: Node) -> str:
    name = _text(_named(node)[0])
    arguments = next((child for child in node.named_children if child.type == "function_arguments"), None)
    if arguments is None:
        return f"{name}()"
    rendered = ", ".join(_render(child) for child in _named(arguments) if child.type == "expression")
    if any(child.type == "ellipsis" for child in arguments.named_children):
        rendered += " ..."
    return f"{name}({rendered})"


def _render_collection(node: Node) -> str:
    (collection,) = _named(node)
    if collection.type == "tuple":
        return "[" + ", ".join(_render(e) for e in _named(collection) if e.type == "expression") + "]"
    elements = [element for element in _named(collection) if element.type == "object_elem"]
    return (
        "{"
        + ", ".join(
            f"{_render(_required(element.child_by_field_name('key')))} = "
            f"{_render(_required(element.child_by_field_name('val')))}"
            for element in elements
        )
        + "}"
    )


def _render_binary(node: Node) -> str:
    return "".join(
        _render(part) if part.is_named or part.type in ("(", ")") else f" {part.type} "
        for part in _parts(node)
    )


def _render_conditional(node: Node) -> str:
    condition, if_true, if_false = _named(node)
    return f"{_render(condition)} ? {_render(if_true)} : {_render(if_false)}"


def _render_for(node: Node) -> str:
    (inner,) = _named(node)
    parts = {child.type: child for child in _named(inner)}
    expressions = [child for child in _named(inner) if child.type == "expression"]
    intro = _render_for_intro(parts["for_intro"])
    condition = f" if {_render(_named(parts['for_cond'])[0])}" if "for_cond" in parts else ""
    if inner.type == "for_tuple_expr":
        return f"[{intro}{_render(expressions[0])}{condition}]"
    ellipsis = "..." if "ellipsis" in parts else ""
    return f"{{{intro}{_render(expressions[0])} => {_render(expressions[1])}{ellipsis}{condition}}}"


def _render_for_intro(node: Node) -> str:
    names = [_text(child) for child in _named(node) if child.type == "identifier"]
    collection = next(child for child in _named(node) if child.type == "expression")
    return f"for {', '.join(names)} in {_render(collection)} : "


def _render_index(node: Node) -> str:
    (index,) = _named(node)
    if index.type == "legacy_index":
        return _text(index)
    return f"[{_render(_named(index)[0])}]"


def _render_splat(node: Node) -> str:
    (splat,) = _named(node)
    prefix = "[*]" if splat.type == "full_splat" else ".*"
    return prefix + "".join(_render(child) for child in _named(splat))


_RENDERERS: dict[str, Callable[[Node], str]] = {
    "literal_value": _render_literal,
    "template_expr": _render_template,
    "function_call": _render_function,
    "collection_value": _render_collection,
    "binary_operation": _render_binary,
    "conditional": _render_conditional,
    "for_expr": _render_for,
    "index": _render_index,
    "splat": _render_splat,
    "variable_expr": _text,
    "identifier": _text,
    "get_attr": lambda node: "." + _text(_named(node)[0]),
    "unary_operation": lambda node: _render_parts(_parts(node)),
}


def _is_dollar(value: Any) -> bool:
    return isinstance(value, str) and value.startswith("${") and value.endswith("}")


def _dollar(text: str) -> str:
    return text if _is_dollar(text) else f"${{{text}}}"


def _required(value: Any) -> Any:
    if value is None:  # the grammar guarantees it; a tree with errors was refused before this point
        raise HclSyntaxError("incomplete expression")
    return value
