"""Draw docs/architecture.svg from docs/architecture.toml: columns of boxes and the arrows between them.

Plain SVG written by hand (no graphviz to install), deterministic, so a test can check the picture in the repo
is the one its source describes: ``python scripts/architecture.py [--check]``.
"""

from __future__ import annotations

import argparse
import sys
import tomllib
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

DOCS = Path(__file__).resolve().parents[1] / "docs"
SOURCE, PICTURE = DOCS / "architecture.toml", DOCS / "architecture.svg"
BOX_WIDTH, LINE_HEIGHT, BOX_PADDING, ROW_GAP, COLUMN_GAP, MARGIN, TOP = 230, 16, 10, 22, 90, 20, 70


def render(source: dict[str, Any]) -> str:
    columns = source["column"]
    boxes: dict[str, tuple[float, float, float, float]] = {}
    parts: list[str] = []
    for index, column in enumerate(columns):
        x = MARGIN + index * (BOX_WIDTH + COLUMN_GAP)
        parts.append(_text(x + BOX_WIDTH / 2, TOP - 22, column["title"], weight="bold"))
        y = float(TOP)
        for node in column["nodes"]:
            height = len(node["lines"]) * LINE_HEIGHT + 2 * BOX_PADDING
            boxes[node["id"]] = (x, y, BOX_WIDTH, height)
            parts.append(
                f'<rect x="{x}" y="{y}" width="{BOX_WIDTH}" height="{height}" rx="6" '
                'fill="#f4f6fa" stroke="#34495e"/>'
            )
            for line_number, line in enumerate(node["lines"]):
                baseline = y + BOX_PADDING + (line_number + 0.8) * LINE_HEIGHT
                parts.append(_text(x + BOX_WIDTH / 2, baseline, line))
            y += height + ROW_GAP
    edges = source["edge"]
    arrows = [_arrow(boxes[edge["from"]], boxes[edge["to"]]) for edge in edges]
    width = MARGIN * 2 + len(columns) * BOX_WIDTH + (len(columns) - 1) * COLUMN_GAP
    picture_height = max(top + h for (_, top, _, h) in boxes.values()) + MARGIN
    header = (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{picture_height:g}" '
        f'viewBox="0 0 {width} {picture_height:g}" font-family="Helvetica, Arial, sans-serif" font-size="12">\n'
        f"<title>{escape(str(source['title']))}</title>\n"
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" '
        'orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" fill="#34495e"/></marker></defs>\n'
        f'<rect width="{width}" height="{picture_height:g}" fill="white"/>\n'
    )
    return header + "\n".join([*arrows, *parts]) + "\n</svg>\n"


def _text(x: float, y: float, content: object, weight: str = "normal") -> str:
    return (
        f'<text x="{x:g}" y="{y:g}" text-anchor="middle" font-weight="{weight}">{escape(str(content))}</text>'
    )


def _arrow(start: tuple[float, float, float, float], end: tuple[float, float, float, float]) -> str:
    (x1, y1, w1, h1), (x2, y2, w2, h2) = start, end
    if abs(x1 - x2) < 1:  # same column: from the bottom of one box to the top of the other
        points = (
            (x1 + w1 / 2, y1 + h1, x2 + w2 / 2, y2) if y2 > y1 else (x1 + w1 / 2, y1, x2 + w2 / 2, y2 + h2)
        )
    else:
        points = (x1 + w1, y1 + h1 / 2, x2, y2 + h2 / 2)
    a, b, c, d = (f"{p:g}" for p in points)
    return f'<line x1="{a}" y1="{b}" x2="{c}" y2="{d}" stroke="#34495e" marker-end="url(#arrow)"/>'


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="exit 1 if the committed picture is out of date")
    arguments = parser.parse_args(argv)
    drawn = render(tomllib.loads(SOURCE.read_text()))
    if arguments.check:
        current = PICTURE.read_text() if PICTURE.exists() else ""
        if current != drawn:
            print(f"{PICTURE} is out of date: run python scripts/architecture.py", file=sys.stderr)  # noqa: T201
            return 1
        return 0
    PICTURE.write_text(drawn)
    return 0


if __name__ == "__main__":
    sys.exit(main())
