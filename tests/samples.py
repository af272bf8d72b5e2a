"""The published sample events (../shared/events), as the package ships them in key_quarantine/data.

Tests read the packaged copies so that a clone anywhere runs them; a test in test_signals.py keeps the copies
byte-identical to shared/ where shared/ is present.
"""

from __future__ import annotations

import copy
from typing import Any

from key_quarantine import data

PACKAGED_NAME = {
    "cloudtrail-attach-quarantine.json": "cloudtrail-attach-quarantine",
    "health-credentials-exposed.json": "health-risk",
    "health-credentials-exposed.aws-health-tools.json": "health-risk-legacy",
}


def sample_event(name: str) -> dict[str, Any]:
    """A fresh copy of a published sample, by its name in shared/events."""
    return copy.deepcopy(data.signal_event(PACKAGED_NAME[name]))
