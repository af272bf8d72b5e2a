"""The functions' asset: the handlers' sources, plus bytecode Lambda can use when the runtime's Python is here."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import aws_cdk as cdk
import pytest
from aws_cdk import aws_lambda as lambda_

from key_quarantine.constructs import handler_code as module
from key_quarantine.constructs.handler_code import CompiledSources, asset_files, handler_code

THIS_PYTHON = f"python{sys.version_info.major}.{sys.version_info.minor}"


def synthesized_asset(tmp_path: Path, runtime: lambda_.Runtime) -> Path:
    app = cdk.App(outdir=str(tmp_path / "cdk.out"))
    stack = cdk.Stack(app, "Functions")
    lambda_.Function(
        stack,
        "Fn",
        runtime=runtime,
        handler="key_quarantine.handlers.responder.lambda_handler",
        code=handler_code(runtime),
    )
    app.synth()
    (asset,) = [p for p in (tmp_path / "cdk.out").glob("asset.*") if p.is_dir()]
    return asset


def files_in(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()}


def test_without_the_runtimes_python_the_asset_is_the_sources_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given no interpreter of the runtime's version on PATH
    monkeypatch.setattr(module.shutil, "which", lambda _name: None)
    # When the function is synthesized
    asset = synthesized_asset(tmp_path, lambda_.Runtime.PYTHON_3_14)
    # Then the asset holds exactly the handlers' files, no bytecode and nothing that imports aws_cdk
    assert files_in(asset) == {str(p) for p in asset_files()}
    assert "key_quarantine/handlers/responder.py" in files_in(asset)
    assert not any(
        name.startswith(("key_quarantine/constructs", "key_quarantine/rules")) for name in files_in(asset)
    )


def test_with_the_runtimes_python_lambda_imports_bytecode_without_the_sources(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a runtime whose Python is this very interpreter
    monkeypatch.setattr(module.shutil, "which", lambda name: sys.executable if name == THIS_PYTHON else None)
    runtime = lambda_.Runtime(THIS_PYTHON, lambda_.RuntimeFamily.PYTHON)
    asset = synthesized_asset(tmp_path, runtime)
    # When every source in a copy of the asset is replaced by code that fails (as if never read)
    task = tmp_path / "task"
    shutil.copytree(asset, task)
    sources = list(task.rglob("*.py"))
    assert len(sources) == len(list(task.rglob("__pycache__/*.pyc")))
    for source in sources:
        source.write_text("raise SystemExit('compiled from source')\n")
    # Then the responder still imports, with no bytecode written (as on Lambda's read-only /var/task): the
    # bytecode shipped in the asset is what ran
    probe = "import key_quarantine.handlers.responder as r; print(r.lambda_handler.__name__)"
    environment = {
        **os.environ,
        "PYTHONPATH": str(task),
        "PYTHONDONTWRITEBYTECODE": "1",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    result = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        env=environment,
        check=False,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "lambda_handler"


def test_bytecode_is_the_same_on_every_synth(tmp_path: Path) -> None:
    # Given the same sources bundled twice into different folders
    first, second = tmp_path / "one", tmp_path / "two"
    for folder in (first, second):
        folder.mkdir()
        CompiledSources(sys.executable).try_bundle(str(folder))
    # Then the bytes are identical, so the asset's hash only changes when the code does
    assert files_in(first) == files_in(second)
    assert any(name.endswith(".pyc") for name in files_in(first))
    assert all((first / name).read_bytes() == (second / name).read_bytes() for name in files_in(first))
