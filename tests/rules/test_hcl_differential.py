"""The tree-sitter HCL front end against python-hcl2, the parser it replaced (kept as a dev dependency for this).

On every Terraform fixture and on a generated configuration, both must give the same documents, and so the same
findings: rule, address, file, line, acknowledgement and message, the whole JSON report.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import hcl2
import pytest

from key_quarantine.cli import report
from key_quarantine.rules import hcl, terraform_expressions
from key_quarantine.rules.runner import scan_paths

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "terraform"
CONFIGURATIONS = ["leaky", "monitored", "iam_user_module", "syntax"]
#: python-hcl2's output as the Terraform front end consumed it before tree-sitter.
OPTIONS = hcl2.SerializationOptions(
    with_comments=False, strip_string_quotes=True, explicit_blocks=False, preserve_heredocs=False
)


def python_hcl2_parse(text: str) -> hcl.Document:
    """The previous front end: python-hcl2's values, and each block's line found by searching the text."""
    try:
        body = hcl2.loads(text, serialization_options=OPTIONS)
    except Exception as error:  # noqa: BLE001 - lark raises many types; each means "not valid HCL"
        raise hcl.HclSyntaxError(str(error).strip().splitlines()[0]) from None
    lines = {}
    for kind, depth in (("resource", 2), ("output", 1)):
        for block in body.get(kind, []):
            for labels in _label_paths(block, depth):
                line = _searched_line(text, kind, *labels)
                if line is not None:
                    lines[(kind, *labels)] = line
    return hcl.Document(body, lines)


def _label_paths(block: dict[str, Any], depth: int) -> Iterator[tuple[str, ...]]:
    for label, inner in block.items():
        if depth == 1:
            yield (label,)
        else:
            yield from ((label, *rest) for rest in _label_paths(inner, depth - 1))


def _searched_line(text: str, kind: str, *labels: str) -> int | None:
    pattern = re.compile(
        rf"^[ \t]*{kind}\s+" + r"\s+".join(f'"{re.escape(label)}"' for label in labels), re.MULTILINE
    )
    match = pattern.search(text)
    return text.count("\n", 0, match.start()) + 1 if match else None


def generated_configuration(folder: Path, users: int, files: int = 4) -> Path:
    """Users with one or two keys, policies, leaks, acknowledgements, count/for_each, one rule in the wrong region."""
    folder.mkdir()
    (folder / "provider.tf").write_text(
        'provider "aws" {\n  region = "eu-west-1"\n}\n\n'
        'resource "aws_cloudwatch_event_rule" "quarantine" {\n  name = "quarantine"\n'
        '  event_pattern = jsonencode({\n    source = ["aws.iam"]\n'
        "    detail = { requestParameters = { policyArn = [{ prefix = "
        '"arn:aws:iam::aws:policy/AWSCompromisedKeyQuarantine" }] } }\n  })\n}\n\n'
        'resource "aws_cloudwatch_event_target" "quarantine" {\n'
        "  rule = aws_cloudwatch_event_rule.quarantine.name\n"
        '  arn  = "arn:aws:sns:eu-west-1:111111111111:alerts"\n}\n'
    )
    per_file = -(-users // files)
    for file_number in range(files):
        numbers = range(file_number * per_file, min(users, (file_number + 1) * per_file))
        (folder / f"users_{file_number}.tf").write_text("\n".join(_user(number) for number in numbers))
    return folder


def _user(number: int) -> str:
    actions = ["s3:GetObject", "ecs:RunTask", "ses:SendEmail", "bedrock:InvokeModel"][: number % 4 + 1]
    blocks = [
        (
            f"# key-quarantine:acknowledge KQ5 user {number} runs the ECS deploys it is allowed\n"
            if number % 7 == 0
            else ""
        )
        + f'resource "aws_iam_user" "u{number}" {{\n  name = "user-{number}"\n}}\n',
        f'resource "aws_iam_access_key" "k{number}" {{\n  user = aws_iam_user.u{number}.name\n}}\n',
        f'resource "aws_iam_user_policy" "p{number}" {{\n  user = aws_iam_user.u{number}.name\n'
        f'  policy = jsonencode({{ Version = "2012-10-17", Statement = [{{ Effect = "Allow", '
        f'Action = {json.dumps(actions)}, Resource = "*" }}] }})\n}}\n',
    ]
    if number % 5 == 0:
        blocks.append(
            f'resource "aws_iam_access_key" "k{number}_second" {{\n'
            f"  count = {number % 2}\n  user  = aws_iam_user.u{number}.name\n}}\n"
        )
    if number % 11 == 0:
        blocks.append(
            f'resource "aws_ssm_parameter" "leak{number}" {{\n  name  = "/leak/{number}"\n  type  = "String"\n'
            f"  value = aws_iam_access_key.k{number}.secret\n}}\n"
            f'output "secret_{number}" {{\n  value     = aws_iam_access_key.k{number}.secret\n'
            "  sensitive = true\n}\n"
        )
    return "\n".join(blocks)


def _tf_files() -> list[Path]:
    return sorted(path for name in CONFIGURATIONS for path in (FIXTURES / name).rglob("*.tf"))


@pytest.mark.parametrize("path", _tf_files(), ids=lambda path: str(path.relative_to(FIXTURES)))
def test_every_fixture_file_gives_the_same_document(path: Path) -> None:
    # Given a Terraform file of the fixtures
    text = path.read_text()
    # When both front ends parse it
    ours, theirs = hcl.parse(text), python_hcl2_parse(text)
    # Then the values are the same, and so are the lines of its resources and outputs
    assert ours.body == theirs.body
    assert {key: line for key, line in ours.lines.items() if key in theirs.lines} == theirs.lines


def test_the_generated_configuration_gives_the_same_documents(tmp_path: Path) -> None:
    folder = generated_configuration(tmp_path / "generated", users=120)
    for path in sorted(folder.glob("*.tf")):
        text = path.read_text()
        ours, theirs = hcl.parse(text), python_hcl2_parse(text)
        assert ours.body == theirs.body, path.name
        assert {key: line for key, line in ours.lines.items() if key in theirs.lines} == theirs.lines


def _report(path: Path) -> list[dict[str, Any]]:
    terraform_expressions.forget_caches()  # expressions are cached as trees: start each run empty
    findings: list[dict[str, Any]] = json.loads(report.as_json(scan_paths([path])))["findings"]
    return findings


@pytest.mark.parametrize("name", [*CONFIGURATIONS, "generated"])
def test_findings_are_the_same_with_either_front_end(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a configuration (a fixture, or generated with every kind of finding)
    path = generated_configuration(tmp_path / name, users=120) if name == "generated" else FIXTURES / name
    # When it is scanned with tree-sitter's front end, then with python-hcl2's
    ours = _report(path)
    monkeypatch.setattr(hcl, "parse", python_hcl2_parse)
    theirs = _report(path)
    # Then the reports are identical: rule, address, file, line, acknowledgement, message
    assert ours == theirs
    assert ours or name == "monitored"  # a report of nothing would prove nothing
    if name == "generated":
        assert {f["rule_id"] for f in ours} >= {"KQ1", "KQ2", "KQ3", "KQ5"}
        assert any(f["acknowledged"] for f in ours)
