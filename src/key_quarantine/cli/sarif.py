"""SARIF 2.1.0, as GitHub code scanning and other SARIF viewers read it."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from key_quarantine.distribution import VERSION
from key_quarantine.rules import ALL_RULES
from key_quarantine.rules.base import Finding, Level, Rule
from key_quarantine.rules.locations import SourceLocation, creation_location, source_location

SCHEMA = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
SARIF_LEVELS = {Level.ERROR: "error", Level.WARNING: "warning", Level.INFO: "note"}
#: GitHub ranks code-scanning alerts by this (0-10): errors high, warnings medium.
SECURITY_SEVERITY = {Level.ERROR: "8.0", Level.WARNING: "5.0", Level.INFO: "2.0"}


def as_sarif(findings: Sequence[Finding], base: Path | None = None) -> str:
    """One run of the key-quarantine driver; ``base`` is the folder artifact URIs are relative to (cwd)."""
    root = (base or Path.cwd()).resolve()
    rules = list(ALL_RULES)
    index = {rule.id: position for position, rule in enumerate(rules)}
    document = {
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {"driver": _driver(rules)},
                "originalUriBaseIds": {"SRCROOT": {"uri": root.as_uri() + "/"}},
                "results": [_result(finding, index[finding.rule_id], root) for finding in findings],
            }
        ],
    }
    return json.dumps(document, indent=2) + "\n"


def _driver(rules: list[Rule]) -> dict[str, Any]:
    return {
        "name": "key-quarantine",
        "fullName": "cdk-key-quarantine rules (KeyQuarantine pack)",
        "semanticVersion": VERSION,
        "rules": [_descriptor(rule) for rule in rules],
    }


def _descriptor(rule: Rule) -> dict[str, Any]:
    return {
        "id": rule.id,
        "name": "".join(word.capitalize() for word in re.findall(r"[A-Za-z0-9]+", rule.name)),
        "shortDescription": {"text": rule.info},
        "fullDescription": {"text": f"{rule.info} {rule.explanation}"},
        "help": {"text": rule.explanation, "markdown": f"**{rule.id}: {rule.name}**\n\n{rule.explanation}"},
        "defaultConfiguration": {"level": SARIF_LEVELS[rule.level]},
        "properties": {
            "tags": ["security", "iam", "access-keys"],
            "security-severity": SECURITY_SEVERITY[rule.level],
        },
    }


def _result(finding: Finding, rule_index: int, root: Path) -> dict[str, Any]:
    # The app's own source first when CDK recorded where the construct was made (code scanning shows the first
    # location, and cdk.out is rarely committed), then the template.
    places = [place for place in (creation_location(finding), source_location(finding)) if place is not None]
    logical = [{"fullyQualifiedName": finding.construct_path or finding.logical_id, "kind": "resource"}]
    result: dict[str, Any] = {
        "ruleId": finding.rule_id,
        "ruleIndex": rule_index,
        "level": SARIF_LEVELS[finding.level],
        "message": {"text": finding.message},
        "locations": [
            {"physicalLocation": _physical(place, root), "logicalLocations": logical} for place in places
        ],
        "partialFingerprints": {
            "keyQuarantine/v1": f"{finding.rule_id}:{finding.stack.name}:{finding.logical_id}:{finding.location}"
        },
    }
    if finding.acknowledgement is not None:
        kind = "inSource" if finding.stack.kind == "terraform" else "external"
        result["suppressions"] = [{"kind": kind, "justification": finding.acknowledgement.reason}]
    return result


def _physical(place: SourceLocation, root: Path) -> dict[str, Any]:
    physical: dict[str, Any] = {"artifactLocation": _artifact(place.file, root)}
    if place.line:
        physical["region"] = {"startLine": place.line}
    return physical


def _artifact(path: Path, root: Path) -> dict[str, Any]:
    resolved = path.resolve()
    try:
        return {"uri": resolved.relative_to(root).as_posix(), "uriBaseId": "SRCROOT"}
    except ValueError:
        return {"uri": resolved.as_uri()}
