"""A small, condition-aware evaluation of Deny statements, for what moto does not evaluate (it ignores Conditions).

Enough for the containment policies: Action/Resource wildcards and the date and string condition operators.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping
from datetime import datetime
from typing import Any

DATE_OPERATORS = {
    "DateLessThan": lambda value, bound: value < bound,
    "DateLessThanEquals": lambda value, bound: value <= bound,
    "DateGreaterThan": lambda value, bound: value > bound,
    "DateGreaterThanEquals": lambda value, bound: value >= bound,
}


def explicitly_denied(document: Mapping[str, Any], action: str, context: Mapping[str, str]) -> bool:
    """Whether any Deny statement of ``document`` applies to ``action`` under the request ``context``."""
    return any(
        statement["Effect"] == "Deny"
        and _covers(statement.get("Action", []), action)
        and _conditions_hold(statement, context)
        for statement in document["Statement"]
    )


def _covers(patterns: Any, action: str) -> bool:
    """Actions compare case-insensitively in IAM."""
    listed = [patterns] if isinstance(patterns, str) else patterns
    return any(fnmatch.fnmatchcase(action.lower(), pattern.lower()) for pattern in listed)


def _names(patterns: Any, resource: str) -> bool:
    """Resource ARNs compare case-sensitively."""
    listed = [patterns] if isinstance(patterns, str) else patterns
    return any(fnmatch.fnmatchcase(resource, pattern) for pattern in listed)


def _conditions_hold(statement: Mapping[str, Any], context: Mapping[str, str]) -> bool:
    for operator, tests in statement.get("Condition", {}).items():
        for key, expected in tests.items():
            if key not in context:
                return False  # a missing key fails a condition (without IfExists)
            if not _test(operator, context[key], expected):
                return False
    return True


def _test(operator: str, value: str, expected: Any) -> bool:
    bounds = [expected] if isinstance(expected, str) else expected
    if operator in DATE_OPERATORS:
        moment = _date(value)
        return any(DATE_OPERATORS[operator](moment, _date(bound)) for bound in bounds)
    if operator == "StringEquals":
        return value in bounds
    raise NotImplementedError(f"condition operator {operator} is not needed by the containment policies")


def _date(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def decision(document: Mapping[str, Any], action: str, resource: str, context: Mapping[str, str]) -> str:
    """IAM's answer for one identity policy: ``explicit-deny`` beats ``allow``; nothing matching is ``implicit-deny``.

    moto cannot answer this for resource-scoped IAM statements: it authorizes IAM calls against resource ``*``.
    """
    applicable = [
        statement
        for statement in document["Statement"]
        if _covers(statement.get("Action", []), action)
        and _names(statement.get("Resource", []), resource)
        and _conditions_hold(statement, context)
    ]
    if any(statement["Effect"] == "Deny" for statement in applicable):
        return "explicit-deny"
    return "allow" if applicable else "implicit-deny"
