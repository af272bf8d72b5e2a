"""The package as a user gets it: one wheel built from this tree per session, installed into folders of its own."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def pip(*arguments: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "pip", "--disable-pip-version-check", *arguments],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]


@pytest.fixture(scope="session")
def built_wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel ``pip`` builds from this tree, as a release would (an isolated build, the declared backend)."""
    folder = tmp_path_factory.mktemp("dist")
    pip("wheel", "--no-deps", "--quiet", "--wheel-dir", str(folder), str(REPO))
    (wheel,) = folder.glob("cdk_key_quarantine-*.whl")
    return wheel


def install(wheel: Path, target: Path, *options: str) -> Path:
    """``pip install --target``: pip compiles bytecode there as it does in any venv."""
    pip("install", "--quiet", "--target", str(target), *options, str(wheel))
    return target
