"""cdk-key-quarantine: contain leaked long-lived IAM access keys, and stop them from reaching production.

The CDK-facing names are imported lazily, so ``key-quarantine scan`` and the Lambda never start jsii.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from key_quarantine.checks import KeyQuarantineChecks
    from key_quarantine.constructs.declarations import declare_existing_trail, declare_external_monitoring
    from key_quarantine.constructs.key_quarantine import KeyQuarantine
    from key_quarantine.constructs.organization import KeyQuarantineOrganization
    from key_quarantine.constructs.organization_member import KeyQuarantineMember
    from key_quarantine.constructs.regional_forwarder import KeyQuarantineRegionalForwarder
    from key_quarantine.constructs.trigger_rules import DEFAULT_GUARDDUTY_FINDING_TYPES
    from key_quarantine.handlers.settings import Containment, Exemption, ResponseMode

__all__ = [
    "DEFAULT_GUARDDUTY_FINDING_TYPES",
    "Containment",
    "Exemption",
    "KeyQuarantine",
    "KeyQuarantineChecks",
    "KeyQuarantineMember",
    "KeyQuarantineOrganization",
    "KeyQuarantineRegionalForwarder",
    "ResponseMode",
    "declare_existing_trail",
    "declare_external_monitoring",
]

_LAZY = {
    "DEFAULT_GUARDDUTY_FINDING_TYPES": "key_quarantine.constructs.trigger_rules",
    "Containment": "key_quarantine.handlers.settings",
    "Exemption": "key_quarantine.handlers.settings",
    "KeyQuarantine": "key_quarantine.constructs.key_quarantine",
    "KeyQuarantineChecks": "key_quarantine.checks",
    "KeyQuarantineMember": "key_quarantine.constructs.organization_member",
    "KeyQuarantineOrganization": "key_quarantine.constructs.organization",
    "KeyQuarantineRegionalForwarder": "key_quarantine.constructs.regional_forwarder",
    "ResponseMode": "key_quarantine.handlers.settings",
    "declare_existing_trail": "key_quarantine.constructs.declarations",
    "declare_external_monitoring": "key_quarantine.constructs.declarations",
}


def __getattr__(name: str) -> Any:
    # Imported only for the names below: the function asset ships this file without the rest of the package, and
    # `from key_quarantine import handlers` asks this function first.
    if name == "__version__":
        from key_quarantine.distribution import VERSION  # noqa: PLC0415

        return VERSION
    if name in _LAZY:
        import importlib  # noqa: PLC0415

        from key_quarantine.distribution import explained_missing_extra  # noqa: PLC0415

        with explained_missing_extra(f"key_quarantine.{name}"):
            return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'key_quarantine' has no attribute {name!r}")
