"""The Lambda half of the package as a function asset, with bytecode for the runtime when it can be built here.

Lambda's /var/task is read-only, so Python cannot cache bytecode there: every cold start compiles each module it
imports from source (about 10-20 ms for the responder's, see BENCHMARKS.md). When an interpreter of the
runtime's version is on PATH at synth (``python3.14``), the asset also carries ``.pyc`` files compiled in
unchecked-hash mode, which Python uses without comparing file times (the asset zip does not keep them). Without
one, the asset is the sources alone, as before. Docker is never needed, in the style of NodejsFunction's local
esbuild.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import jsii
from aws_cdk import aws_lambda as lambda_

PACKAGE_ROOT = Path(__file__).resolve().parents[2]  # the folder that holds key_quarantine/
HANDLER_RUNTIME = lambda_.Runtime.PYTHON_3_14
#: What the functions need: stdlib + botocore code and the data it reads, never aws_cdk (relative to PACKAGE_ROOT).
ASSET_FILES = (
    "key_quarantine/__init__.py",
    "key_quarantine/handlers/*.py",
    "key_quarantine/handlers/steps/*.py",
    "key_quarantine/data/**/*",
)


def handler_code(runtime: lambda_.Runtime = HANDLER_RUNTIME) -> lambda_.Code:
    """The asset for a function of ``runtime`` whose handler lives in ``key_quarantine.handlers``."""
    # The hash is the bundle's own bytes (OUTPUT), not a fingerprint of the installed folder: bytecode or anything
    # else an install leaves beside the sources would otherwise make every venv's asset look new to `cdk diff`.
    return lambda_.Code.from_asset(
        str(PACKAGE_ROOT),
        asset_hash_type=cdk.AssetHashType.OUTPUT,
        bundling=cdk.BundlingOptions(image=runtime.bundling_image, local=CompiledSources(runtime.name)),
    )


def asset_files(root: Path = PACKAGE_ROOT) -> Iterator[Path]:
    """The asset's files, relative to ``root``; bytecode a local install left beside them is not one of them."""
    for pattern in ASSET_FILES:
        for path in sorted(root.glob(pattern)):
            if path.is_file() and "__pycache__" not in path.parts:
                yield path.relative_to(root)


@jsii.implements(cdk.ILocalBundling)
class CompiledSources:
    """Copies ``asset_files`` and, when ``interpreter`` (e.g. ``python3.14``) is on PATH, compiles them with it."""

    def __init__(self, interpreter: str) -> None:
        self.interpreter = interpreter

    # jsii passes the bundling options positionally; the protocol declares them keyword-only.
    def try_bundle(self, output_dir: str, *_options: Any, **_keywords: Any) -> bool:
        output = Path(output_dir)
        for relative in asset_files():
            target = output / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(PACKAGE_ROOT / relative, target)
        compiler = shutil.which(self.interpreter)
        if compiler:
            compile_bytecode(compiler, output)
        return True  # never fall back to Docker: sources alone are a working asset


def compile_bytecode(interpreter: str, folder: Path) -> None:
    """Bytecode that names the files where Lambda puts them (/var/task), so it is the same whatever ``folder`` is."""
    command = [
        "-m",
        "compileall",
        "-q",
        "--invalidation-mode",
        "unchecked-hash",
        "-s",
        str(folder),
        "-p",
        "/var/task",
    ]
    # A fixed hash seed: the order in which marshal writes a frozenset constant follows string hashes.
    environment = {**os.environ, "PYTHONHASHSEED": "0"}
    # The interpreter is the runtime's name resolved on PATH, run on our own files: nothing untrusted.
    subprocess.run([interpreter, *command, str(folder)], check=True, capture_output=True, env=environment)  # noqa: S603
