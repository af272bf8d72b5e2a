"""Every place that tells a user where this package lives names the same repository and the current version."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from key_quarantine.distribution import VERSION

REPO = Path(__file__).resolve().parents[2]
PROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
SOURCE = PROJECT["urls"]["Source"]
#: Files a user copies repository references from.
USER_FACING = ("README.md", "docs/DEPLOYMENT.md", "docs/ARCHITECTURE.md", "CHANGELOG.md")
GITHUB_REFERENCE = re.compile(r"(?:https://github\.com/|uses: )([\w.<>-]+/cdk-key-quarantine)")


def test_every_project_url_is_under_the_source_repository() -> None:
    assert SOURCE.startswith("https://github.com/")
    assert all(url.startswith(SOURCE) for url in PROJECT["urls"].values()), PROJECT["urls"]


def test_the_docs_name_the_source_repository_and_no_placeholder() -> None:
    owner_and_name = SOURCE.removeprefix("https://github.com/")
    found = {
        (name, match)
        for name in USER_FACING
        if (REPO / name).exists()
        for match in GITHUB_REFERENCE.findall((REPO / name).read_text())
    }
    assert found, "the README shows how to use the pre-commit hook and the Action from the repository"
    assert {match for _, match in found} == {owner_and_name}, found


def test_the_pinned_tag_in_the_readme_is_the_current_version() -> None:
    tags = set(re.findall(r"cdk-key-quarantine@v([\d.]+)|rev: v([\d.]+)", (REPO / "README.md").read_text()))
    assert {tag for pair in tags for tag in pair if tag} == {VERSION}
