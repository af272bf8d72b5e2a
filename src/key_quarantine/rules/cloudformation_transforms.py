"""What CloudFormation's transforms make of a template before it deploys, for the parts the rules read.

- ``AWS::LanguageExtensions``: each ``Fn::ForEach::Name`` in Resources, Outputs and Conditions becomes one copy
  of its fragment per element of the collection (loops nested in a fragment too).
- ``AWS::Serverless`` (SAM): a function's ``EventBridgeRule`` and ``CloudWatchEvent`` events become the
  ``AWS::Events::Rule`` SAM creates for them, so monitoring written the SAM way counts as monitoring.

What cannot be expanded before deployment (a collection known only then) is left out with a note.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

FOR_EACH_PREFIX = "Fn::ForEach::"
FOR_EACH_SECTIONS = ("Conditions", "Resources", "Outputs")
SAM_FUNCTION = "AWS::Serverless::Function"
SAM_RULE_EVENTS = ("EventBridgeRule", "CloudWatchEvent")
_NOT_ALPHANUMERIC = re.compile(r"[^A-Za-z0-9]")


class TransformError(ValueError):
    """A template CloudFormation would reject at its transform (the message says where and why)."""


@dataclass
class Expanded:
    template: Any
    notes: list[str] = field(default_factory=list)


def expand(document: Any) -> Expanded:
    """The template as its transforms leave it (``document`` itself when there is nothing to expand)."""
    if not isinstance(document, Mapping) or not isinstance(document.get("Resources"), Mapping):
        return Expanded(document)
    result = Expanded(dict(document))
    for section in FOR_EACH_SECTIONS:
        body = document.get(section)
        if isinstance(body, Mapping) and any(str(key).startswith(FOR_EACH_PREFIX) for key in body):
            result.template[section] = _Loops(document, section, result.notes).expand(body)
    result.template["Resources"] = _with_sam_event_rules(result.template["Resources"])
    return result


@dataclass
class _Loops:
    document: Mapping[str, Any]
    section: str
    notes: list[str]

    def expand(self, body: Mapping[str, Any]) -> dict[str, Any]:
        expanded: dict[str, Any] = {}
        for key, value in body.items():
            if str(key).startswith(FOR_EACH_PREFIX):
                expanded.update(self._loop(str(key), value))
            else:
                expanded[key] = value
        return expanded

    def _loop(self, name: str, arguments: Any) -> dict[str, Any]:
        if not (
            isinstance(arguments, list)
            and len(arguments) == 3  # noqa: PLR2004 - identifier, collection, fragment
            and isinstance(arguments[0], str)
            and isinstance(arguments[2], Mapping)
        ):
            raise TransformError(
                f"{self.section}/{name}: Fn::ForEach takes [identifier, collection, fragment]"
            )
        identifier, collection, fragment = arguments
        items = self._collection(collection)
        if items is None:
            self.notes.append(
                f"{self.section}/{name}: its collection is known only at deployment; what it creates was not checked"
            )
            return {}
        expanded: dict[str, Any] = {}
        for item in items:
            expanded.update(self.expand(_substitute(fragment, identifier, item)))
        return expanded

    def _collection(self, value: Any) -> list[str] | None:
        """A literal list, a list parameter's default, or a list in Mappings; None when known only later."""
        if isinstance(value, Mapping) and len(value) == 1:
            value = self._lookup(*next(iter(value.items())))
        if isinstance(value, str):
            return [item.strip() for item in value.split(",") if item.strip()]
        if isinstance(value, list) and all(isinstance(item, str) for item in value):
            return value
        return None

    def _lookup(self, function: str, argument: Any) -> Any:
        if function == "Ref" and isinstance(argument, str):
            return _mapping(_mapping(self.document.get("Parameters")).get(argument)).get("Default")
        if (
            function == "Fn::FindInMap"
            and isinstance(argument, list)
            and all(isinstance(a, str) for a in argument)
        ):
            found: Any = self.document.get("Mappings")
            for key in argument:
                found = _mapping(found).get(key)
            return found
        return None


def _substitute(value: Any, identifier: str, item: str) -> Any:
    """The fragment for one element: ``${id}`` and ``&{id}`` (alphanumerics only) in keys and strings, and
    ``{"Ref": id}``, replaced by it."""
    if isinstance(value, Mapping):
        if len(value) == 1 and value.get("Ref") == identifier:
            return item
        return {
            _substitute(key, identifier, item): _substitute(inner, identifier, item)
            for key, inner in value.items()
        }
    if isinstance(value, list):
        return [_substitute(inner, identifier, item) for inner in value]
    if isinstance(value, str):
        return value.replace(f"${{{identifier}}}", item).replace(
            f"&{{{identifier}}}", _NOT_ALPHANUMERIC.sub("", item)
        )
    return value


def _with_sam_event_rules(resources: Mapping[str, Any]) -> Mapping[str, Any]:
    generated: dict[str, Any] = {}
    for function_id, body in resources.items():
        if not isinstance(body, Mapping) or body.get("Type") != SAM_FUNCTION:
            continue
        for event_name, event in _mapping(_mapping(body.get("Properties")).get("Events")).items():
            if isinstance(event, Mapping) and event.get("Type") in SAM_RULE_EVENTS:
                rule_id = f"{function_id}{event_name}"
                if rule_id not in resources:
                    generated[rule_id] = _sam_rule(function_id, body, _mapping(event.get("Properties")))
    return {**resources, **generated} if generated else resources


def _sam_rule(function_id: str, function: Mapping[str, Any], event: Mapping[str, Any]) -> dict[str, Any]:
    """The rule SAM creates for the event: its pattern, bus and state, targeting the function."""
    properties: dict[str, Any] = {
        "EventPattern": event.get("Pattern"),
        "Targets": [{"Arn": {"Fn::GetAtt": [function_id, "Arn"]}, "Id": f"{function_id}Target"}],
    }
    if "EventBusName" in event:
        properties["EventBusName"] = event["EventBusName"]
    if "State" in event:
        properties["State"] = event["State"]
    elif event.get("Enabled") is False:
        properties["State"] = "DISABLED"
    rule: dict[str, Any] = {"Type": "AWS::Events::Rule", "Properties": properties}
    if "Condition" in function:
        rule["Condition"] = function["Condition"]
    return rule


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}
