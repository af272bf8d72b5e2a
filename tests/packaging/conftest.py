"""The package as a user gets it: one wheel built from this tree per session, installed into places of its own."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def run(*command: str | Path, env: dict[str, str] | None = None) -> None:
    result = subprocess.run([str(c) for c in command], capture_output=True, text=True, check=False, env=env)
    assert result.returncode == 0, result.stderr[-2000:]


def pip(*arguments: str | Path) -> None:
    run(sys.executable, "-m", "pip", "--disable-pip-version-check", *arguments)


@pytest.fixture(scope="session")
def built_wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel ``pip`` builds from this tree, as a release would (an isolated build, the declared backend)."""
    folder = tmp_path_factory.mktemp("dist")
    pip("wheel", "--no-deps", "--quiet", "--wheel-dir", folder, REPO)
    (wheel,) = folder.glob("cdk_key_quarantine-*.whl")
    return wheel


def install(wheel: Path, target: Path, *options: str) -> Path:
    """``pip install --target``: pip compiles bytecode there as it does in any venv."""
    pip("install", "--quiet", "--target", target, *options, wheel)
    return target


@pytest.fixture(scope="session")
def scan_only_venv(built_wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv with ``pip install cdk-key-quarantine`` (no extra), at this repository's pins."""
    venv = tmp_path_factory.mktemp("scan-only") / "venv"
    run(
        sys.executable, "-m", "venv", venv
    )  # with pip: the action's install step uses it, as after setup-python
    pip(
        "--python",
        venv / "bin" / "python",
        "install",
        "--quiet",
        "--constraint",
        REPO / "constraints.txt",
        built_wheel,
    )
    return venv
