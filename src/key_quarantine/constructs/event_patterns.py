"""The CDK form of an EventBridge pattern the handlers and data modules write as a plain dict (which tests match
against real events)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aws_cdk import aws_events as events


def event_pattern(pattern: Mapping[str, Any]) -> events.EventPattern:
    """``{"source": [...], "detail-type": [...], "detail": {...}}`` (``detail`` optional) as an ``EventPattern``."""
    return events.EventPattern(
        source=pattern["source"], detail_type=pattern["detail-type"], detail=pattern.get("detail")
    )
