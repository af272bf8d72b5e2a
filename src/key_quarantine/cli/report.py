"""Findings as text (like cdk-nag prints them) and as JSON (the contract in DESIGN.md)."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from key_quarantine.rules import RULES_BY_ID
from key_quarantine.rules.base import Finding, Level
from key_quarantine.rules.locations import source_location
from key_quarantine.rules.model import SKIPPED, InputRead


def summary(findings: Sequence[Finding]) -> dict[str, int]:
    """Unacknowledged findings by level."""
    counts = Counter(f.level.value for f in findings if not f.acknowledged)
    return {level.value: counts.get(level.value, 0) for level in (Level.ERROR, Level.WARNING, Level.INFO)}


def where(finding: Finding) -> str:
    if finding.construct_path:
        return finding.construct_path
    location = source_location(finding)
    line = f":{location.line}" if location.line else ""
    return f"{finding.logical_id} ({_display(location.file)}{line})"


def _display(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def as_text(
    findings: Sequence[Finding],
    *,
    verbose: bool = False,
    notes: Sequence[str] = (),
    inputs: Sequence[InputRead] = (),
) -> str:
    lines = []
    for finding in findings:
        if finding.acknowledged and not verbose:
            continue
        label = "Acknowledged" if finding.acknowledged else finding.level.value.capitalize()
        lines.append(f"[{label} at {where(finding)}] {finding.rule_id}: {finding.message}")
        if verbose:
            lines.append(f"    Fix: {RULES_BY_ID[finding.rule_id].explanation}")
            if finding.acknowledgement is not None:
                lines.append(f"    Acknowledged: {finding.acknowledgement.reason}")
    lines.extend(f"Note: {note}" for note in notes)  # what was not read: a clean report must not hide it
    lines.extend(inputs_lines(inputs, verbose=verbose))
    lines.append(summary_line(findings))
    return "\n".join(lines) + "\n"


def inputs_lines(inputs: Sequence[InputRead], *, verbose: bool) -> list[str]:
    """What the scan read: one line, or with ``verbose`` one line an input (and each file skipped, why)."""
    if verbose:
        return [_input_line(i) for i in inputs]
    read = Counter(i.kind for i in inputs if i.kind != SKIPPED)
    if not read:
        return []
    kinds = ", ".join(_counted(count, *_INPUT_NOUNS.get(kind, (kind, kind))) for kind, count in read.items())
    skipped = sum(1 for i in inputs if i.kind == SKIPPED)
    if skipped:
        kinds += f"; skipped {_counted(skipped, 'file', 'files')} (--verbose says which and why)"
    return [f"Read {kinds}."]


def _input_line(read: InputRead) -> str:
    if read.kind == SKIPPED:
        return f"Skipped {_display(read.path)}: {read.detail}"
    return f"Read {_display(read.path)} ({read.kind}, {read.detail})"


def _counted(count: int, singular: str, plural: str) -> str:
    return f"{count} {singular if count == 1 else plural}"


_INPUT_NOUNS = {
    "cloud assembly": ("cloud assembly", "cloud assemblies"),
    "Terraform": ("Terraform configuration", "Terraform configurations"),
    "Terraform plan": ("Terraform plan", "Terraform plans"),
    "CloudFormation": ("CloudFormation template", "CloudFormation templates"),
}


def summary_line(findings: Sequence[Finding]) -> str:
    counts = summary(findings)
    acknowledged = sum(1 for f in findings if f.acknowledged)
    return (
        f"KeyQuarantine: {counts['error']} error(s), {counts['warning']} warning(s), {counts['info']} info; "
        f"{acknowledged} acknowledged."
    )


def as_json(
    findings: Sequence[Finding], *, notes: Sequence[str] = (), inputs: Sequence[InputRead] = ()
) -> str:
    document = {
        "findings": [_finding_json(f) for f in findings],
        "summary": summary(findings),
        "notes": list(notes),
        "inputs": [{"path": str(i.path), "kind": i.kind, "detail": i.detail} for i in inputs],
    }
    return json.dumps(document, indent=2) + "\n"


def _finding_json(finding: Finding) -> dict[str, Any]:
    source = source_location(finding)
    return {
        "rule_id": finding.rule_id,
        "level": finding.level.value,
        "stack": finding.stack.name,
        "logical_id": finding.logical_id,
        "resource_type": finding.resource_type,
        "construct_path": finding.construct_path,
        "message": finding.message,
        "acknowledged": finding.acknowledged,
        "acknowledgement_reason": finding.acknowledgement.reason if finding.acknowledgement else None,
        "template_path": str(finding.stack.template_path),
        "location": finding.location,
        "source_file": str(source.file),
        "source_line": source.line,
    }
