"""The HCL front end (tree-sitter's grammar): values, canonical expression text, block lines, syntax errors."""

from __future__ import annotations

from typing import Any

import pytest

from key_quarantine.rules import hcl


def value(expression: str) -> Any:
    return hcl.parse_expression(expression)


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("1", 1),
        ("-2", -2),
        ("3.50", 3.5),
        ("0644", 644),
        ("1.5e3", "${1.5e3}"),
        ("-0.25", -0.25),
        ("true", True),
        ("null", None),
        ('"plain"', "plain"),
        (r'"tab\tquote\" backslash\\ e\u00e9 \U0001F511"', 'tab\tquote" backslash\\ eé 🔑'),
        ('"  spaces kept  "', "  spaces kept  "),
        ('"a ${var.x} b ${var.y}c"', "a ${var.x} b ${var.y}c"),
        ('"$${literal} %%{literal}"', "$${literal} %%{literal}"),
        ('["a", 1, [true]]', ["a", 1, [True]]),
        ('{ a = 1, "b c" = 2, 3 = "x", (var.k) = 4 }', {"a": 1, "b c": 2, "3": "x", "${(var.k)}": 4}),
        ("string", "string"),
    ],
    ids=lambda item: item if isinstance(item, str) else None,
)
def test_literals_become_python_values(expression: str, expected: Any) -> None:
    # Given a literal expression; When it is parsed; Then it is the Python value it stands for
    assert value(expression) == expected


@pytest.mark.parametrize(
    ("expression", "canonical"),
    [
        ("aws_iam_user.u.name", "${aws_iam_user.u.name}"),
        ("aws_iam_access_key.k[0].secret", "${aws_iam_access_key.k[0].secret}"),
        ('aws_iam_user.fleet["alice"].arn', '${aws_iam_user.fleet["alice"].arn}'),
        ("aws_iam_user.fleet[*].arn", "${aws_iam_user.fleet[*].arn}"),
        ("aws_iam_user.fleet.*.arn", "${aws_iam_user.fleet.*.arn}"),
        ("aws_iam_user.fleet.0.name", "${aws_iam_user.fleet.0.name}"),
        ("var.a   &&   ! var.b", "${var.a && !var.b}"),
        ("(var.a + 2) * 3", "${(var.a + 2) * 3}"),
        ("(var.x)", "${(var.x)}"),
        ('var.create && var.pgp != "" ? 1 : 0', '${var.create && var.pgp != "" ? 1 : 0}'),
        ("-var.x", "${-var.x}"),
        ('lookup(var.m, "k", null)', '${lookup(var.m, "k", null)}'),
        ("merge(var.a, { x = 1 }, var.b...)", "${merge(var.a, {x = 1}, var.b ...)}"),
        ("provider::aws::arn_parse(var.arn)", "${provider::aws::arn_parse(var.arn)}"),
        ('[for u in var.users : upper(u) if u != ""]', '${[for u in var.users : upper(u) if u != ""]}'),
        ("{ for k, v in var.m : v => k... }", "${{for k, v in var.m : v => k...}}"),
        (
            'jsonencode({ Version = "2012-10-17", Statement = [{ Effect = "Allow" }] })',
            '${jsonencode({Version = "2012-10-17", Statement = [{Effect = "Allow"}]})}',
        ),
        ('"${ var.only }"', "${var.only}"),
        ('upper("say \\"hi\\" ${var.name} ")', '${upper("say \\"hi\\" ${var.name} ")}'),
    ],
)
def test_expressions_become_their_canonical_text(expression: str, canonical: str) -> None:
    # Given an expression only known at plan or apply time
    # When it is parsed
    # Then it is its text, spaced canonically, inside ${...} (what the Terraform front end resolves references in)
    assert value(expression) == canonical


def test_template_directives_are_kept_with_canonical_spacing() -> None:
    # Given quoted templates with if/else and for directives, with and without strip markers
    document = hcl.parse(
        'a = "Hello, %{if var.formal}Sir%{else}friend%{endif}!"\n'
        'b = "%{~ for k, v in var.m ~}${k}=${v},%{~ endfor ~}"\n'
    ).body
    # Then each directive is spelled the one way, and the text around it is unchanged
    assert document["a"] == "Hello, %{ if var.formal }Sir%{ else }friend%{ endif }!"
    assert document["b"] == "%{~ for k, v in var.m ~}${k}=${v},%{~ endfor ~}"


def test_heredocs_are_their_body() -> None:
    # Given a heredoc and an indented heredoc holding a JSON policy
    document = hcl.parse(
        'script = <<EOT\n#!/bin/sh\necho "hi ${var.name}"\nEOT\n'
        'policy = <<-EOF\n    {\n      "Version": "2012-10-17",\n      "Path": "C:\\\\x"\n    }\n    EOF\n'
    ).body
    # Then the body is the value: no marker lines, interpolations as written
    assert document["script"] == '#!/bin/sh\necho "hi ${var.name}"'
    # And <<- removes the common indentation but keeps quotes and backslashes (python-hcl2 8 escapes them,
    # which made an indented JSON policy unreadable as JSON)
    assert document["policy"] == '{\n  "Version": "2012-10-17",\n  "Path": "C:\\\\x"\n}'


def test_blocks_nest_under_their_labels_and_repeat_as_lists() -> None:
    # Given labelled blocks (quoted and bare labels), repeated nested blocks, and comments of all three kinds
    document = hcl.parse(
        "# hash\n// slashes\n/* block\n   comment */\n"
        'resource "aws_iam_user" "a" {\n  name = "a" # trailing\n}\n'
        'resource aws_iam_user b {\n  /* inline */ name = /* here too */ "b"\n}\n'
        'resource "aws_cloudtrail" "t" {\n  event_selector {\n    read_write_type = "All"\n  }\n'
        '  event_selector {\n    read_write_type = "ReadOnly"\n  }\n}\n'
        "locals {}\n"
    )
    # Then each block is a list entry under its type, nested by label, comments gone
    assert document.body["resource"] == [
        {"aws_iam_user": {"a": {"name": "a"}}},
        {"aws_iam_user": {"b": {"name": "b"}}},
        {
            "aws_cloudtrail": {
                "t": {"event_selector": [{"read_write_type": "All"}, {"read_write_type": "ReadOnly"}]}
            }
        },
    ]
    assert document.body["locals"] == [{}]
    # And each top-level block's first line is known by its labels
    assert document.lines[("resource", "aws_iam_user", "a")] == 5
    assert document.lines[("resource", "aws_iam_user", "b")] == 8
    assert document.lines[("resource", "aws_cloudtrail", "t")] == 11


def test_a_commented_out_block_has_no_line() -> None:
    # Given a block that only exists inside a /* */ comment, then the real one further down
    document = hcl.parse(
        '/*\nresource "aws_iam_user" "u" {\n}\n*/\n\nresource "aws_iam_user" "u" {\n  name = "real"\n}\n'
    )
    # Then the line is the real block's, not the comment's
    assert document.lines[("resource", "aws_iam_user", "u")] == 6


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            'resource "aws_iam_user" "u" {\n  name = "unterminated\n}\n',
            "line 2, column 10: a string that is never",
        ),
        ('resource "aws_iam_user" "u" {\n  name = foo(1\n}\n', "line 2, column 10: a call or parenthesis"),
        ('resource "aws_iam_user" "u" {\n  name = 1 +\n}\n', "line 2, column 12: unexpected '+'"),
        ("a b c d\n", "line 1, column 1: unexpected 'a b c d'"),
        ('{"resource": {}}', "line 1: a JSON object, not HCL"),
        ("policy = 1\npolicy {\n}\n", "line 2: 'policy' is both an attribute and a block"),
    ],
    ids=[
        "unterminated-string",
        "unclosed-call",
        "dangling-operator",
        "stray-words",
        "json",
        "attribute-and-block",
    ],
)
def test_text_that_is_not_hcl_is_an_error_naming_where(text: str, message: str) -> None:
    # Given text the HCL grammar does not accept; When parsed; Then the error says where the problem starts
    with pytest.raises(hcl.HclSyntaxError, match=message.replace("(", r"\(").replace("+", r"\+")):
        hcl.parse(text)


def test_empty_and_comment_only_files_are_empty() -> None:
    assert hcl.parse("").body == {}
    assert hcl.parse("# nothing here\n/* or here */\n").body == {}
