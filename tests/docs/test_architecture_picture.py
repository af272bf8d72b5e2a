"""The README's architecture picture is drawn from docs/architecture.toml, and the drawing in the repo is current."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "architecture.py"


def test_the_committed_svg_is_what_its_source_draws() -> None:
    ran = subprocess.run(
        [sys.executable, str(SCRIPT), "--check"], capture_output=True, text=True, check=False
    )
    assert ran.returncode == 0, ran.stderr


def test_every_box_of_the_source_is_in_the_picture_and_every_arrow_joins_two_boxes() -> None:
    source = tomllib.loads((REPO / "docs" / "architecture.toml").read_text())
    picture = (REPO / "docs" / "architecture.svg").read_text()
    ids = {node["id"] for column in source["column"] for node in column["nodes"]}
    assert all(line in picture for column in source["column"] for node in column["nodes"] for line in node["lines"]
               if "&" not in line and "<" not in line)  # fmt: skip
    assert all({edge["from"], edge["to"]} <= ids for edge in source["edge"])
    assert picture.count("<line ") == len(source["edge"])
