"""RULES.md, rendered from the registry so the two cannot drift (``python -m key_quarantine.rules.catalog``)."""

from __future__ import annotations

import sys

from key_quarantine.rules import ALL_RULES, PACK_NAME

HEADER = f"""# Rules

The `{PACK_NAME}` pack. Ids are stable; levels are the defaults (KQ3 lowers itself to a warning where noted).
Errors fail `cdk synth` and `key-quarantine scan`; warnings print and pass unless
`KeyQuarantineChecks(app, strict=True)` or `scan --fail-on warning`.
Acknowledge a finding with `Validations.of(construct).acknowledge(Acknowledgment(id="{PACK_NAME}::KQ1", reason="..."))`.

This file is generated from `src/key_quarantine/rules/__init__.py` by `python -m key_quarantine.rules.catalog`;
a test keeps them equal.

| Id | Level | Rule | Finds |
| --- | --- | --- | --- |
"""

HOW_MONITORING_IS_DECIDED = """
## How "quarantine monitoring" is decided

An `AWS::Events::Rule` counts when it is enabled, has a target, listens on the default event bus, and its
EventPattern, evaluated as EventBridge would (prefix, suffix, wildcard, anything-but, exists, numeric, cidr,
equals-ignore-case, `$or`), matches either:

- the CloudTrail event of AWS attaching **every** quarantine policy: `AWSCompromisedKeyQuarantine`, `V2`, `V3`,
  `V4` and a not-yet-published `V5` (a rule pinned to today's versions breaks on AWS's next one), or
- the AWS Health `AWS_RISK_CREDENTIALS_EXPOSED` event in both its payload shapes (2017 and current).

Monitoring covers every stack of the app that deploys to the same account (an environment-agnostic stack may
deploy anywhere). Monitoring that lives outside the app is declared, never assumed: template Metadata
`KeyQuarantine.ExternalQuarantineMonitoring: <reason>` (CDK: `declare_external_monitoring(stack, reason=...)`);
an existing trail likewise with `ExistingCloudTrailTrail` (`declare_existing_trail`).
"""


def render() -> str:
    rows = [f"| {r.id} | {r.level.value} | {r.name} | {r.info} |" for r in ALL_RULES]
    sections = [f"\n## {r.id}: {r.name}\n\n{r.info}\n\n**Fix.** {r.explanation}\n" for r in ALL_RULES]
    return HEADER + "\n".join(rows) + "\n" + HOW_MONITORING_IS_DECIDED + "".join(sections)


if __name__ == "__main__":
    sys.stdout.write(render())
