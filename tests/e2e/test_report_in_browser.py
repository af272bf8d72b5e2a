"""The incident page in a real browser (Debian's chromium, headless, network closed): it renders, the chart has the
known incident's lanes and marks, and they are drawn where the page says."""

from __future__ import annotations

from pathlib import Path

import pytest

from key_quarantine.handlers.incident_report import CONTAINMENT_COLOUR, SIGNAL_COLOUR, render
from tests.e2e.browser import CHROMIUM, dump_dom, pixels, screenshot
from tests.handlers.known_incident import known_incident
from tests.handlers.test_incident_report import Page
from tests.handlers.test_trail import CHAINED_KEY, KEY, ROLE_SESSION_KEY

BODY_MARGIN = 24
pytestmark = [
    pytest.mark.skipif(
        CHROMIUM is None, reason="chromium is not installed (.ci/run installs it: apt-get install chromium)"
    ),
    pytest.mark.xdist_group("browser"),
]


def _rgb(colour: str) -> tuple[int, int, int]:
    return int(colour[1:3], 16), int(colour[3:5], 16), int(colour[5:7], 16)


def _columns_with(
    rows: list[list[tuple[int, int, int]]], colour: tuple[int, int, int], least: int
) -> list[int]:
    """x positions where at least ``least`` pixels have about this colour (a vertical line)."""
    counts: dict[int, int] = {}
    for row in rows:
        for x, pixel in enumerate(row):
            if all(abs(a - b) <= 12 for a, b in zip(pixel, colour, strict=True)):
                counts[x] = counts.get(x, 0) + 1
    return sorted(x for x, count in counts.items() if count >= least)


def test_the_known_incident_renders_in_chromium_with_its_lanes_and_marks(tmp_path: Path) -> None:
    # Given the known incident's page, opened from a file
    page = tmp_path / "incident.html"
    page.write_text(render(known_incident()), encoding="utf-8")

    # When chromium loads it
    dom = Page(dump_dom(page))

    # Then the browser built the chart: three lanes in order, the signal and the containment marked
    assert dom.attribute("data-lane") == [KEY, ROLE_SESSION_KEY, CHAINED_KEY]
    assert dom.attribute("data-mark") == ["signal", "containment"]
    assert "Contained" in " ".join(dom.text)
    # And both marks are painted where the chart puts them (the body's 24 px margin to the left of the chart)
    _, _, rows = pixels(screenshot(page, tmp_path / "incident.png"))
    drawn_at = [float(str(attributes["x1"])) for tag, attributes in dom.elements if tag == "line"]
    for colour, x in zip((SIGNAL_COLOUR, CONTAINMENT_COLOUR), drawn_at, strict=True):
        columns = _columns_with(rows, _rgb(colour), least=100)
        assert any(abs(column - (BODY_MARGIN + x)) <= 2 for column in columns), (colour, x, columns)
