"""The AWS managed policy documents the rules read ship in the wheel (beside the rules, not in the Lambda asset)."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

# the session's one wheel is built in the tree's build/: one worker at a time
pytestmark = pytest.mark.xdist_group("wheel")


def test_the_wheel_carries_the_managed_policy_documents(built_wheel: Path) -> None:
    names = zipfile.ZipFile(built_wheel).namelist()
    assert "key_quarantine/rules/aws_managed_policies.tsv.gz" in names
