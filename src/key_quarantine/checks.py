"""``KeyQuarantineChecks``: the rule pack as a cdk-nag 3 pack (a CDK Validations plugin).

It subclasses ``cdk_nag.NagPack`` so it registers, prints and is acknowledged exactly like AwsSolutionsChecks,
but overrides ``validate``: CDK calls it once per synthesis, and it reads the synthesized cloud assembly with
the same engine as ``key-quarantine scan``. NagPack's per-resource path (``_check_resource``) is never used:
it would cost a jsii round trip per resource (~2 ms each) and could not see across stacks.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import aws_cdk as cdk
import cdk_nag

from constructs import IConstruct
from key_quarantine.rules import ALL_RULES, RULES_BY_ID
from key_quarantine.rules.base import PACK_NAME, Finding, Level
from key_quarantine.rules.keys import ACCESS_KEY, USER
from key_quarantine.rules.loader import MANIFEST, load_app
from key_quarantine.rules.runner import run_rules

#: The rule name of the report's summary entry when nothing was found.
SUMMARY_RULE_NAME = "Summary"


class KeyQuarantineChecks(cdk_nag.NagPack):
    """Checks IAM users' long-lived access keys: quarantine monitoring, leaked secrets, monitoring that can't fire.

    Usage::

        Validations.of(app).add_plugins(AwsSolutionsChecks(app), KeyQuarantineChecks(app))

    :param scope: the app (or a Stage) the pack is added to; optional, as for other NagPacks.
    :param verbose: include each rule's explanation and fix in the printed findings (default False).
    :param strict: fail synthesis on warnings and info too (default False: only errors fail; warnings print).
    """

    def __init__(
        self, scope: IConstruct | None = None, *, verbose: bool = False, strict: bool = False
    ) -> None:
        super().__init__(scope, verbose=verbose)
        self._verbose = verbose
        self._strict = strict

    @property
    def name(self) -> str:
        return PACK_NAME

    @property
    def rule_ids(self) -> list[str]:
        return [rule.id for rule in ALL_RULES]

    def _check_resource(self, node: cdk.CfnResource) -> None:
        raise NotImplementedError("KeyQuarantineChecks checks the synthesized templates once, in validate()")

    def validate(self, context: cdk.IPolicyValidationContext) -> cdk.PolicyValidationPluginReport:
        templates = [Path(template.template_path) for template in context.stack_templates]
        checked = check_templates(templates)
        line = checked.summary_line()
        print(line, file=sys.stderr)  # noqa: T201 - the one line a reviewer reads to know the rules ran
        violations = [self._violation(f) for f in checked.findings]
        return _struct(
            cdk.PolicyValidationPluginReport,
            success=not any(self._fails(f) for f in checked.findings),
            # CDK leaves a plugin without violations out of validation-report.json: with nothing found, the
            # summary itself is the entry (info, no resource: it prints nothing and fails nothing)
            violations=violations or [_struct(cdk.PolicyViolation, **_summary_violation(line))],
            metadata={"summary": line, "users": str(checked.users), "keys": str(checked.keys)},
        )

    def _fails(self, finding: Finding) -> bool:
        return not finding.acknowledged and self._severity(finding) == "error"

    def _severity(self, finding: Finding) -> str:
        """Strict mode reports every finding as an error: once CDK has applied any acknowledgement it recomputes
        success from the remaining violations' severities, so a warning would no longer fail synthesis."""
        return Level.ERROR.value if self._strict else finding.level.value

    def _violation(self, finding: Finding) -> cdk.PolicyViolation:
        rule = RULES_BY_ID[finding.rule_id]
        resource = _struct(
            cdk.PolicyViolatingResource,
            resource_logical_id=finding.logical_id,
            template_path=str(finding.stack.template_path),
            locations=[finding.location],
        )
        return _struct(
            cdk.PolicyViolation,
            rule_name=finding.rule_id,
            description=f"[{finding.rule_id}] {finding.message}",
            fix=rule.explanation if self._verbose else None,
            severity=self._severity(finding),
            rule_metadata={"name": rule.name},
            violating_resources=[resource],
        )


def _summary_violation(line: str) -> dict[str, Any]:
    return {
        "rule_name": SUMMARY_RULE_NAME,
        "description": line,
        "severity": Level.INFO.value,
        "rule_metadata": {"name": "Summary of the checks"},
        "violating_resources": [],
    }


_S = TypeVar("_S")


def _struct(struct_type: type[_S], **values: Any) -> _S:
    """A jsii struct built as its constructor builds it, without the runtime type check of each argument.

    That check (typeguard, on every struct) was most of this pack's synth cost with thousands of findings
    (2,000 KQ1 errors: ~4,000 structs); every value here comes from our own typed findings, and a test compares
    these structs with the checked constructor's.
    """
    struct = object.__new__(struct_type)
    struct._values = {key: value for key, value in values.items() if value is not None}  # type: ignore[attr-defined]
    return struct


@dataclass(frozen=True)
class CheckedTemplates:
    """What one synthesis checked: the findings in its templates and how many users and keys they hold."""

    findings: list[Finding]
    users: int
    keys: int

    def summary_line(self) -> str:
        counted = ", ".join([_count(self.users, "user"), _count(self.keys, "key")])
        acknowledged = sum(1 for f in self.findings if f.acknowledged)
        note = f" ({acknowledged} acknowledged)" if acknowledged else ""
        return f"{PACK_NAME}: {_count(len(self.findings), 'finding')}{note} — {counted} checked"


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"


def check_templates(templates: Sequence[Path]) -> CheckedTemplates:
    """Run the rules over the whole assembly the templates belong to; keep findings in those templates' stacks.

    The whole assembly is read because a key and its user, or a user and its monitoring, may sit in different
    stacks or Stages.
    """
    roots = list(dict.fromkeys(_assembly_root(template) for template in templates))
    if not roots:
        return CheckedTemplates([], 0, 0)
    wanted = {template.resolve() for template in templates}
    app = load_app(roots)
    checked = {stack for stack in app.stacks if stack.root.template_path.resolve() in wanted}
    resources = [r for stack in checked for r in stack.resources.values()]
    return CheckedTemplates(
        findings=[f for f in run_rules(app) if f.stack in checked],
        users=sum(1 for r in resources if r.type == USER),
        keys=sum(1 for r in resources if r.type == ACCESS_KEY),
    )


def _assembly_root(template: Path) -> Path:
    directory = template.parent
    while (directory.parent / MANIFEST).exists() and _lists_assembly(directory.parent, directory.name):
        directory = directory.parent
    return directory


def _lists_assembly(parent: Path, child_name: str) -> bool:
    manifest: Any = json.loads((parent / MANIFEST).read_text(encoding="utf-8"))
    artifacts: Iterable[Any] = (manifest.get("artifacts") or {}).values()
    return any(
        isinstance(a, dict)
        and a.get("type") == "cdk:cloud-assembly"
        and (a.get("properties") or {}).get("directoryName") == child_name
        for a in artifacts
    )
