"""Hand-written CloudFormation for rule tests: small builders, and a scan of templates written to a folder."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from key_quarantine.rules import RULES_BY_ID
from key_quarantine.rules.base import Finding
from key_quarantine.rules.loader import load_app
from key_quarantine.rules.runner import run_rules

QUARANTINE_PREFIX = "arn:aws:iam::aws:policy/AWSCompromisedKeyQuarantine"
TOPIC_TARGET = [{"Arn": {"Ref": "Alerts"}, "Id": "alerts"}]


def user(name: str | None = None, **properties: Any) -> dict[str, Any]:
    if name is not None:
        properties["UserName"] = name
    return {"Type": "AWS::IAM::User", "Properties": properties}


def access_key(user_name: Any, **properties: Any) -> dict[str, Any]:
    return {"Type": "AWS::IAM::AccessKey", "Properties": {"UserName": user_name, **properties}}


def topic() -> dict[str, Any]:
    return {"Type": "AWS::SNS::Topic"}


def event_rule(
    pattern: Any, *, state: str | None = None, targets: Any = None, bus: Any = None
) -> dict[str, Any]:
    properties: dict[str, Any] = {
        "EventPattern": pattern,
        "Targets": TOPIC_TARGET if targets is None else targets,
    }
    if state is not None:
        properties["State"] = state
    if bus is not None:
        properties["EventBusName"] = bus
    return {"Type": "AWS::Events::Rule", "Properties": properties}


def quarantine_attach_pattern(policy_arn: Any = None) -> dict[str, Any]:
    return {
        "source": ["aws.iam"],
        "detail-type": ["AWS API Call via CloudTrail"],
        "detail": {
            "eventSource": ["iam.amazonaws.com"],
            "eventName": ["AttachUserPolicy"],
            "requestParameters": {"policyArn": policy_arn or [{"prefix": QUARANTINE_PREFIX}]},
        },
    }


def health_risk_pattern() -> dict[str, Any]:
    return {
        "source": ["aws.health"],
        "detail": {"service": ["RISK"], "eventTypeCode": [{"prefix": "AWS_RISK_"}]},
    }


def trail(**properties: Any) -> dict[str, Any]:
    return {
        "Type": "AWS::CloudTrail::Trail",
        "Properties": {"IsLogging": True, "S3BucketName": "logs", **properties},
    }


def template(resources: dict[str, Any], **sections: Any) -> dict[str, Any]:
    return {"Resources": resources, **sections}


def scan(
    directory: Path,
    templates: dict[str, dict[str, Any]],
    *,
    rule: str | None = None,
    region: str | None = None,
    account: str | None = None,
) -> list[Finding]:
    """Write each template as NAME.template.json into ``directory`` and run the rules (or one rule) on them."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, body in templates.items():
        path = directory / f"{name}.template.json"
        path.write_text(json.dumps(body), encoding="utf-8")
        paths.append(path)
    app = load_app(paths, region=region, account=account)
    rules = [RULES_BY_ID[rule]] if rule else None
    return run_rules(app, rules) if rules else run_rules(app)


def ids(findings: list[Finding]) -> list[tuple[str, str]]:
    return [(f.rule_id, f.logical_id) for f in findings]


def resolve_template(value: Any, template: dict[str, Any], parameters: dict[str, Any]) -> Any:
    """The intrinsics a synthesized policy uses (Ref, Join, Split, Select, If and the Conditions it names), with
    ``parameters`` as CloudFormation (or a StackSet) would pass them: a CommaDelimitedList as a list."""

    def value_of(node: Any) -> Any:
        if isinstance(node, list):
            return [value_of(item) for item in node]
        if not isinstance(node, dict):
            return node
        if len(node) != 1 or next(iter(node)) not in functions:
            return {key: value_of(item) for key, item in node.items()}
        ((name, argument),) = node.items()
        return functions[name](argument)

    def holds(condition: str) -> bool:
        return bool(value_of(template["Conditions"][condition]))

    functions: dict[str, Any] = {
        "Ref": lambda name: parameters[name],
        "Fn::Join": lambda args: args[0].join(value_of(args[1])),
        "Fn::Split": lambda args: value_of(args[1]).split(args[0]),
        "Fn::Select": lambda args: value_of(args[1])[args[0]],
        "Fn::If": lambda args: value_of(args[1] if holds(args[0]) else args[2]),
        "Fn::Equals": lambda args: value_of(args[0]) == value_of(args[1]),
        "Fn::Not": lambda args: not value_of(args[0]),
        "Fn::And": lambda args: all(value_of(arg) for arg in args),
        "Condition": holds,
    }
    return value_of(value)
