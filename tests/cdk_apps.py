"""Small CDK apps synthesized in-process for tests (no Docker, no AWS calls)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aws_cdk as cdk

NO_FAIL = {"@aws-cdk/core:failSynthOnValidationErrors": False}


def synth(outdir: Path, build: Callable[[cdk.App], Any], *, fail_on_errors: bool = True) -> Path:
    """Build an app with ``build`` and synthesize it into ``outdir``; returns the assembly directory."""
    app = cdk.App(outdir=str(outdir), context={} if fail_on_errors else dict(NO_FAIL))
    build(app)
    app.synth()
    return outdir


def plugin_report(outdir: Path, plugin: str = "KeyQuarantine") -> dict[str, Any]:
    """The plugin's section of validation-report.json; CDK leaves out a plugin that reported nothing."""
    path = outdir / "validation-report.json"
    reports = json.loads(path.read_text())["pluginReports"] if path.exists() else []
    empty = {"pluginName": plugin, "conclusion": "success", "violations": [], "suppressedViolations": []}
    return next((p for p in reports if p["pluginName"] == plugin), empty)


def rule_names(violations: list[dict[str, Any]]) -> list[str]:
    return sorted(v["ruleName"] for v in violations)
