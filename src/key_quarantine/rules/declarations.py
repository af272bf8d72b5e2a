"""What an app declares about monitoring that lives outside it, read from template Metadata.

A security team often runs quarantine monitoring and the CloudTrail trail organisation-wide, outside the app.
The rules never assume that: the app says so, with a reason, in its template's Metadata::

    Metadata:
      KeyQuarantine:
        ExternalQuarantineMonitoring: "Org-wide rule in the security account (SEC-142)"
        ExistingCloudTrailTrail: "Organization trail org-main in the management account"

CDK apps write the same with ``key_quarantine.declare_external_monitoring`` / ``declare_existing_trail``.
A declaration covers every stack of the app that deploys to the same account.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from key_quarantine.rules.model import Stack

METADATA_KEY = "KeyQuarantine"
EXTERNAL_MONITORING = "ExternalQuarantineMonitoring"
EXISTING_TRAIL = "ExistingCloudTrailTrail"
KINDS = (EXTERNAL_MONITORING, EXISTING_TRAIL)


@dataclass(frozen=True)
class Declaration:
    kind: str
    reason: str
    stack: Stack


def declarations_of(stack: Stack) -> dict[str, Declaration]:
    """The declarations in one template that carry a non-empty reason."""
    section = stack.metadata.get(METADATA_KEY)
    if not isinstance(section, Mapping):
        return {}
    return {
        kind: Declaration(kind, reason.strip(), stack)
        for kind in KINDS
        if isinstance(reason := section.get(kind), str) and reason.strip()
    }
