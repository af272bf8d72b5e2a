"""The registry is the source of truth: explicit, one rule a file, mirrored by RULES.md."""

from __future__ import annotations

import re
from pathlib import Path

from key_quarantine import rules
from key_quarantine.rules import ALL_RULES, Level
from key_quarantine.rules.catalog import render

PROJECT = Path(__file__).resolve().parents[2]
RULE_FILE = re.compile(r"kq\d+_\w+\.py")


def test_rules_md_mirrors_the_registry() -> None:
    assert (PROJECT / "RULES.md").read_text() == render(), (
        "regenerate: python -m key_quarantine.rules.catalog > RULES.md"
    )


def test_ids_are_unique_and_sequential() -> None:
    assert [rule.id for rule in ALL_RULES] == [f"KQ{n}" for n in range(1, len(ALL_RULES) + 1)]


def test_every_rule_file_is_registered_once() -> None:
    files = sorted(p.name for p in Path(rules.__file__).parent.iterdir() if RULE_FILE.fullmatch(p.name))
    registered = sorted(Path(rule.check.__code__.co_filename).name for rule in ALL_RULES)
    assert files == registered


def test_metadata_reads_like_cdk_nag() -> None:
    for rule in ALL_RULES:
        assert rule.info.endswith("."), rule.id
        assert rule.info.count(". ") == 0, f"{rule.id}: info is one sentence"
        assert len(rule.explanation) > len(rule.info), rule.id
        assert rule.level in (Level.ERROR, Level.WARNING, Level.INFO)
