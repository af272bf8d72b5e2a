"""Times as AWS and the ledger write them: ISO 8601 in UTC to the second (``2026-12-03T04:14:06Z``)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

STAMP_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


def stamp(at: datetime) -> str:
    return at.strftime(STAMP_FORMAT)


def now_stamp() -> str:
    return stamp(datetime.now(UTC))


def parse_time(value: Any) -> datetime | None:
    """An ISO 8601 time (``Z`` or an offset; UTC when it names none), or a datetime as it is (UTC when naive);
    None for anything else."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
