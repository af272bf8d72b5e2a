"""The functions' asset is the same bytes, and so the same hash, from every install of one package version."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.packaging.conftest import install

pytestmark = pytest.mark.xdist_group("wheel")

SYNTH = """
import json, pathlib, sys
import aws_cdk as cdk
from aws_cdk import aws_lambda as lambda_
import key_quarantine
from key_quarantine.constructs.handler_code import handler_code

app = cdk.App(outdir=sys.argv[1])
stack = cdk.Stack(app, "Functions")
lambda_.Function(stack, "Fn", runtime=lambda_.Runtime.PYTHON_3_14, handler="x.y", code=handler_code())
app.synth()
print(json.dumps({"package": key_quarantine.__file__}))
"""


def synthesize_from(install_folder: Path, outdir: Path) -> tuple[str, Path]:
    """Synthesize a function with the package imported from ``install_folder``; its S3 key and staged asset."""
    environment = {**os.environ, "PYTHONPATH": str(install_folder), "CDK_VALIDATION": "false"}
    result = subprocess.run(
        [sys.executable, "-c", SYNTH, str(outdir)],
        capture_output=True,
        text=True,
        env=environment,
        check=False,
        cwd=outdir.parent,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert json.loads(result.stdout.splitlines()[-1])["package"].startswith(str(install_folder))
    template = json.loads((outdir / "Functions.template.json").read_text())
    (function,) = [r for r in template["Resources"].values() if r["Type"] == "AWS::Lambda::Function"]
    s3_key = function["Properties"]["Code"]["S3Key"]
    return s3_key, outdir / f"asset.{s3_key.removesuffix('.zip')}"


def contents(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_two_installs_of_one_wheel_give_one_asset(built_wheel: Path, tmp_path: Path) -> None:
    # Given the same wheel installed twice, each with the bytecode pip compiles (it names its own folder)
    first = install(built_wheel, tmp_path / "venv-one", "--no-deps")
    second = install(built_wheel, tmp_path / "venv-two", "--no-deps")
    cached = "key_quarantine/data/__pycache__"
    assert any((first / cached).glob("*.pyc"))
    pyc = sorted((first / cached).glob("*.pyc"))[0].name
    assert (first / cached / pyc).read_bytes() != (second / cached / pyc).read_bytes()
    # When an app synthesizes the responder's function from each
    (tmp_path / "app-one").mkdir()
    (tmp_path / "app-two").mkdir()
    key_one, asset_one = synthesize_from(first, tmp_path / "app-one" / "cdk.out")
    key_two, asset_two = synthesize_from(second, tmp_path / "app-two" / "cdk.out")
    # Then the asset is byte for byte the same and so is its hash: `cdk diff` shows no change of code
    assert contents(asset_one) == contents(asset_two)
    assert key_one == key_two
    assert "key_quarantine/handlers/responder.py" in contents(asset_one)
    assert not any("__pycache__" in name for name in contents(asset_one))
