"""Run the rule pack over an app model and apply the owner's acknowledgements."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from pathlib import Path

from key_quarantine.rules import ALL_RULES
from key_quarantine.rules.base import PACK_NAME, Finding, Rule, RuleContext
from key_quarantine.rules.loader import load_app
from key_quarantine.rules.model import Acknowledgement, AppModel

#: cdk-nag 2's resource Metadata format, which cdk-nag 3 can still write; honoured in plain templates.
LEGACY_SUPPRESSIONS_METADATA = "cdk_nag"


def run_rules(app: AppModel, rules: Iterable[Rule] = ALL_RULES) -> list[Finding]:
    """Every finding of every rule, acknowledged ones included (marked), most severe first."""
    context = RuleContext(app)
    findings = [_acknowledged(finding) for rule in rules for finding in rule.check(context)]
    return sorted(
        dict.fromkeys(findings),
        key=lambda f: (-f.level.rank, f.rule_id, f.stack.name, f.logical_id, f.location),
    )


def scan_paths(
    paths: Iterable[Path | str], *, account: str | None = None, region: str | None = None
) -> list[Finding]:
    return run_rules(load_app(paths, account=account, region=region))


def _acknowledged(finding: Finding) -> Finding:
    for acknowledgement in _acknowledgements_for(finding):
        if _names_rule(acknowledgement.rule_id, finding.rule_id) and _applies_to(acknowledgement, finding):
            return dataclasses.replace(finding, acknowledgement=acknowledgement)
    return finding


def _acknowledgements_for(finding: Finding) -> list[Acknowledgement]:
    resource = finding.stack.resources.get(finding.logical_id)
    in_template = _template_acknowledgements(resource.metadata, finding.logical_id) if resource else []
    return [*finding.stack.acknowledgements, *in_template]


def _template_acknowledgements(metadata: Mapping[str, object], logical_id: str) -> list[Acknowledgement]:
    section = metadata.get(LEGACY_SUPPRESSIONS_METADATA)
    entries = section.get("rules_to_suppress") if isinstance(section, Mapping) else None
    return [
        Acknowledgement(rule_id=str(entry["id"]), reason=str(entry["reason"]), logical_id=logical_id)
        for entry in entries or []
        if isinstance(entry, Mapping) and entry.get("id") and str(entry.get("reason", "")).strip()
    ]


def _names_rule(acknowledged_id: str, rule_id: str) -> bool:
    bare = (
        acknowledged_id.split("::", 1)[1]
        if acknowledged_id.lower().startswith("annotation::")
        else acknowledged_id
    )
    return bare in (f"{PACK_NAME}::{rule_id}", rule_id)


def _applies_to(acknowledgement: Acknowledgement, finding: Finding) -> bool:
    if acknowledgement.logical_id is not None:
        return acknowledgement.logical_id == finding.logical_id
    path, scope = finding.construct_path, acknowledgement.construct_path
    if not path or not scope:
        return False
    return path == scope or path.startswith(scope.rstrip("/") + "/")
