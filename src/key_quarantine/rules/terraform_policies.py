"""``data "aws_iam_policy_document"`` into the IAM policy document its ``json`` attribute holds."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

#: statement block attribute -> IAM policy element
_ELEMENTS = {
    "sid": "Sid",
    "effect": "Effect",
    "actions": "Action",
    "not_actions": "NotAction",
    "resources": "Resource",
    "not_resources": "NotResource",
}


def policy_document(values: Mapping[str, Any], *_context: Any) -> dict[str, Any]:
    """The document: statements of ``source_policy_documents``, then its own, then ``override_policy_documents``
    (which replace statements with the same Sid)."""
    statements: list[Any] = []
    for source in _as_list(values.get("source_policy_documents")):
        statements.extend(_statements_of(source))
    statements.extend(
        _statement(block) for block in _as_list(values.get("statement")) if isinstance(block, Mapping)
    )
    for override in _as_list(values.get("override_policy_documents")):
        for statement in _statements_of(override):
            sid = statement.get("Sid") if isinstance(statement, Mapping) else None
            statements = [
                s for s in statements if not (sid and isinstance(s, Mapping) and s.get("Sid") == sid)
            ]
            statements.append(statement)
    return {"Version": values.get("version") or "2012-10-17", "Statement": statements}


def _statement(block: Mapping[str, Any]) -> dict[str, Any]:
    statement: dict[str, Any] = {"Effect": "Allow"}
    for attribute, element in _ELEMENTS.items():
        if block.get(attribute) is not None:
            statement[element] = block[attribute]
    for kind, element in (("principals", "Principal"), ("not_principals", "NotPrincipal")):
        principals: dict[str, Any] = {}
        for principal in _as_list(block.get(kind)):
            if isinstance(principal, Mapping):
                principals.setdefault(str(principal.get("type")), []).extend(
                    _as_list(principal.get("identifiers"))
                )
        if principals:
            statement[element] = principals
    conditions: dict[str, Any] = {}
    for condition in _as_list(block.get("condition")):
        if isinstance(condition, Mapping):
            conditions.setdefault(str(condition.get("test")), {})[str(condition.get("variable"))] = (
                condition.get("values")
            )
    if conditions:
        statement["Condition"] = conditions
    return statement


def _statements_of(document: Any) -> list[Any]:
    if isinstance(document, str):
        try:
            document = json.loads(document)
        except json.JSONDecodeError:
            return []
    raw = document.get("Statement") if isinstance(document, Mapping) else None
    return [raw] if isinstance(raw, Mapping) else list(raw) if isinstance(raw, list) else []


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [] if value is None else [value]
