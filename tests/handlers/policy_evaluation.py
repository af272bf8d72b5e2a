"""A small, condition-aware evaluation of policies, for what moto does not evaluate (it ignores Conditions).

Enough for the containment policies (Action/Resource wildcards, NotAction/NotResource, date and string operators) and for the pipeline's
resource policies (KMS key, queue and table policies: principals, ARN and Bool operators, negated operators and
``...IfExists``), evaluated the way IAM does within one account.
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
        base = operator.removesuffix("IfExists")
        for key, expected in tests.items():
            if base == "Null":  # true: the key must be absent; false: present
                if (key not in context) != (str(expected).lower() == "true"):
                    return False
                continue
            if key not in context:
                # a missing key fails a condition, except a negated one or one ...IfExists
                if not (base in NEGATED or operator.endswith("IfExists")):
                    return False
                continue
            if not _test(base, context[key], expected):
                return False
    return True


POSITIVE = {
    "StringEquals": lambda value, bound: value == bound,
    "StringLike": fnmatch.fnmatchcase,
    "ArnEquals": lambda value, bound: value == bound,
    "ArnLike": fnmatch.fnmatchcase,
    "Bool": lambda value, bound: value.lower() == str(bound).lower(),
}
NEGATED = {"StringNotEquals": "StringEquals", "ArnNotEquals": "ArnEquals", "ArnNotLike": "ArnLike"}


def _test(operator: str, value: str, expected: Any) -> bool:
    bounds = [expected] if isinstance(expected, (str, bool)) else expected
    if operator in DATE_OPERATORS:
        moment = _date(value)
        return any(DATE_OPERATORS[operator](moment, _date(bound)) for bound in bounds)
    if operator in NEGATED:
        return not _test(NEGATED[operator], value, bounds)
    if operator in POSITIVE:
        return any(POSITIVE[operator](value, bound) for bound in bounds)
    raise NotImplementedError(f"condition operator {operator} is not modelled here")


def _date(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def decision(document: Mapping[str, Any], action: str, resource: str, context: Mapping[str, str]) -> str:
    """IAM's answer for one identity policy: ``explicit-deny`` beats ``allow``; nothing matching is ``implicit-deny``.

    moto cannot answer this for resource-scoped IAM statements: it authorizes IAM calls against resource ``*``.
    """
    applicable = [
        statement
        for statement in document["Statement"]
        if _acts_on(statement, action)
        and _applies_to(statement, resource)
        and _conditions_hold(statement, context)
    ]
    if any(statement["Effect"] == "Deny" for statement in applicable):
        return "explicit-deny"
    return "allow" if applicable else "implicit-deny"


def _acts_on(statement: Mapping[str, Any], action: str) -> bool:
    """``Action``, or ``NotAction``: every action but those listed."""
    if "NotAction" in statement:
        return not _covers(statement["NotAction"], action)
    return _covers(statement.get("Action", []), action)


def _applies_to(statement: Mapping[str, Any], resource: str) -> bool:
    """``Resource``, or ``NotResource``: every resource but those listed."""
    if "NotResource" in statement:
        return not _names(statement["NotResource"], resource)
    return _names(statement.get("Resource", []), resource)


def resource_decision(
    policy: Mapping[str, Any],
    action: str,
    principal: str,
    context: Mapping[str, str] | None = None,
    *,
    identity_allows: bool,
    delegates_to_iam: bool,
) -> str:
    """IAM's answer for a call by ``principal`` (a role or user ARN, or a service like ``events.amazonaws.com``) of
    the resource's own account, on a resource with ``policy``.

    An explicit Deny in the resource policy wins. Otherwise the call is allowed when a statement of the policy
    allows this principal; a statement naming the account's root allows only what the principal's IAM policy also
    allows (``identity_allows``). Same-account SQS queues and DynamoDB tables need no resource Allow at all
    (``delegates_to_iam``); a KMS key does (its key policy is the root of its permissions).
    """
    request = {**({"aws:PrincipalArn": principal} if principal.startswith("arn:") else {}), **(context or {})}
    applicable = [
        statement
        for statement in policy["Statement"]
        if _covers(statement.get("Action", []), action)
        and _names_principal(statement.get("Principal"), principal)
        and _conditions_hold(statement, request)
    ]
    if any(statement["Effect"] == "Deny" for statement in applicable):
        return "explicit-deny"
    allowed = any(
        statement["Effect"] == "Allow" and (identity_allows or not _is_root(statement["Principal"]))
        for statement in applicable
    )
    return "allow" if allowed or (delegates_to_iam and identity_allows) else "implicit-deny"


def _names_principal(named: Any, principal: str) -> bool:
    if named == "*":
        return True
    if not isinstance(named, Mapping):
        return False
    services = _listed(named.get("Service"))
    if not principal.startswith("arn:"):
        return principal in services
    for arn in _listed(named.get("AWS")):
        root_account = arn.split(":")[4] if arn.endswith(":root") else None
        if arn in {"*", principal} or (root_account and principal.split(":")[4] == root_account):
            return True
    return False


def _is_root(named: Any) -> bool:
    return isinstance(named, Mapping) and any(arn.endswith(":root") for arn in _listed(named.get("AWS")))


def _listed(value: Any) -> list[str]:
    if value is None:
        return []
    return [value] if isinstance(value, str) else list(value)
