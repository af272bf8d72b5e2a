"""Declare, in a CDK app, monitoring that exists outside it (read by KQ1 and KQ6 from template Metadata)."""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk

from constructs import IConstruct
from key_quarantine.rules.declarations import EXISTING_TRAIL, EXTERNAL_MONITORING, METADATA_KEY


def declare_external_monitoring(scope: IConstruct, *, reason: str) -> None:
    """Declare that quarantine monitoring for this stack's account is deployed outside the app.

    :param scope: any construct of the stack that makes the declaration; it covers every stack of the app
        that deploys to the same account.
    :param reason: who runs that monitoring and where (e.g. "Org-wide rule in the security account, SEC-142").
    """
    _declare(scope, EXTERNAL_MONITORING, reason)


def declare_existing_trail(scope: IConstruct, *, reason: str) -> None:
    """Declare that a CloudTrail trail outside the app logs this account's management events (silences KQ6)."""
    _declare(scope, EXISTING_TRAIL, reason)


def _declare(scope: IConstruct, kind: str, reason: str) -> None:
    if not isinstance(reason, str) or not reason.strip():
        raise ValueError(f"{kind} needs a reason: say who runs it and where, so a reviewer can check it")
    stack = cdk.Stack.of(scope)
    metadata: dict[str, Any] = dict(stack.template_options.metadata or {})
    section = dict(metadata.get(METADATA_KEY) or {})
    section[kind] = reason.strip()
    metadata[METADATA_KEY] = section
    stack.template_options.metadata = metadata
