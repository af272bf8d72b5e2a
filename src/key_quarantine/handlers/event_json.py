"""Event JSON as the responder accepts it: parsed, and no deeper than any event AWS sends.

Python's JSON decoder raises RecursionError on deeply nested input (not a ValueError), and code that walks an
event recursively (evidence written with ``indent``) can hit the same limit further on. An event is therefore
refused here, once, with one line that names the problem, before anything reads it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

#: Deeper than any AWS event (a CloudTrail record's requestParameters reach about a dozen levels), far below
#: Python's recursion limit.
MAX_DEPTH = 64


class EventJsonError(ValueError):
    """The text is not an event the responder can read; the message says why."""


def loads(text: str | bytes) -> Any:
    """The parsed event, or EventJsonError."""
    try:
        value = json.loads(text)
    except RecursionError:
        raise EventJsonError(f"nested more than {MAX_DEPTH} levels deep: no AWS event is") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise EventJsonError(f"not JSON ({error})") from None
    check_depth(value)
    return value


def check_depth(value: Any) -> None:
    """EventJsonError when ``value`` nests deeper than MAX_DEPTH (walked without recursion)."""
    pending: list[tuple[Any, int]] = [(value, 1)]
    while pending:
        current, depth = pending.pop()
        if not isinstance(current, Mapping | list):
            continue
        if depth > MAX_DEPTH:
            raise EventJsonError(f"nested more than {MAX_DEPTH} levels deep: no AWS event is")
        children = current.values() if isinstance(current, Mapping) else current
        pending.extend((child, depth + 1) for child in children)
