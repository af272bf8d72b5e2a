"""The README's quick start works as written: its extra exists, its Python synthesizes, its commands parse."""

from __future__ import annotations

import re
import shlex
import tomllib
from pathlib import Path

import aws_cdk as cdk

from key_quarantine.cli.main import build_parser

REPO = Path(__file__).resolve().parents[2]
QUICK_START = REPO.joinpath("README.md").read_text().split("## Quick start", 1)[1].split("\n## ", 1)[0]


def blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", QUICK_START, flags=re.S)


def test_the_quick_start_is_at_most_ten_lines_of_code() -> None:
    code = [
        line for block in blocks("bash") + blocks("python") for line in block.splitlines() if line.strip()
    ]
    assert len(code) <= 10


def test_the_python_synthesizes_the_responder_with_the_rules(tmp_path: Path) -> None:
    (python,) = blocks("python")
    app = cdk.App(outdir=str(tmp_path / "cdk.out"))
    exec(python, {"app": app})  # noqa: S102 - the README's own snippet
    assembly = app.synth()
    assert [s.stack_name for s in assembly.stacks] == ["KeyQuarantine"]
    report = (tmp_path / "cdk.out" / "validation-report.json").read_text()
    assert "KeyQuarantine" in report  # the rules ran (their summary line is the plugin's entry)


def test_the_commands_name_a_real_extra_and_parse() -> None:
    install, deploy = blocks("bash")
    extras = tomllib.loads(REPO.joinpath("pyproject.toml").read_text())["project"]["optional-dependencies"]
    (extra,) = re.findall(r"cdk-key-quarantine\[(\w+)\]", install)
    assert extra in extras
    drill = shlex.split(deploy.split("&&", 1)[1].split("#", 1)[0])
    assert drill[0] == "key-quarantine"
    arguments = build_parser().parse_args(drill[1:])
    assert (arguments.command, arguments.stack, arguments.execute) == ("drill", "KeyQuarantine", True)
