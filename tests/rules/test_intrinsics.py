"""Resolving Ref, GetAtt, ImportValue, Sub, Join and Select across stacks, parameters and nested stacks."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from key_quarantine.rules.intrinsics import UNKNOWN, Resolver, ResourceAttribute
from key_quarantine.rules.loader import load_app
from key_quarantine.rules.model import AppModel
from tests.cfn import template, user


def app_of(tmp_path: Path, **templates: dict[str, Any]) -> AppModel:
    paths = []
    for name, body in templates.items():
        path = tmp_path / f"{name}.json"
        path.write_text(json.dumps(body))
        paths.append(path)
    return load_app(paths, account="111111111111", region="eu-west-1")


def test_literals_pseudo_parameters_and_refs(tmp_path: Path) -> None:
    app = app_of(
        tmp_path,
        A=template(
            {"U": user("ci")}, Parameters={"P": {"Type": "String", "Default": "d"}, "Q": {"Type": "String"}}
        ),
    )
    stack = app.stacks[0]
    resolver = Resolver(app)
    assert resolver.resolve(stack, "plain") == "plain"
    assert resolver.resolve(stack, {"Ref": "AWS::Region"}) == "eu-west-1"
    assert resolver.resolve(stack, {"Ref": "AWS::AccountId"}) == "111111111111"
    assert resolver.resolve(stack, {"Ref": "P"}) == "d"
    assert resolver.resolve(stack, {"Ref": "Q"}) is UNKNOWN
    reference = resolver.resolve(stack, {"Ref": "U"})
    assert isinstance(reference, ResourceAttribute)
    assert (reference.resource.logical_id, reference.attribute) == ("U", None)
    attribute = resolver.resolve(stack, {"Fn::GetAtt": "U.Arn"})
    assert (attribute.resource.logical_id, attribute.attribute) == ("U", "Arn")


def test_sub_join_select(tmp_path: Path) -> None:
    app = app_of(tmp_path, A=template({"U": user("ci")}))
    stack, resolver = app.stacks[0], Resolver(app)
    assert resolver.resolve(stack, {"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:user/x"}) == (
        "arn:aws:iam::111111111111:user/x"
    )
    assert (
        resolver.resolve(stack, {"Fn::Sub": ["${a}-${b}", {"a": "x", "b": {"Ref": "AWS::Region"}}]})
        == "x-eu-west-1"
    )
    assert resolver.resolve(stack, {"Fn::Sub": "literal ${!Name}"}) == "literal ${Name}"
    assert resolver.resolve(stack, {"Fn::Sub": "${U.Arn}/x"}) is UNKNOWN
    assert isinstance(resolver.resolve(stack, {"Fn::Sub": "${U}"}), ResourceAttribute)
    assert resolver.resolve(stack, {"Fn::Join": ["-", ["a", {"Ref": "AWS::Region"}]]}) == "a-eu-west-1"
    assert resolver.resolve(stack, {"Fn::Select": [1, ["a", "b"]]}) == "b"
    assert resolver.resolve(stack, {"Fn::Select": [5, ["a"]]}) is UNKNOWN
    assert resolver.resolve(stack, {"Fn::If": ["C", "a", "b"]}) is UNKNOWN


def test_import_value_resolves_through_the_exporting_stack(tmp_path: Path) -> None:
    exporter = template(
        {"U": user()},
        Outputs={"N": {"Value": {"Ref": "U"}, "Export": {"Name": {"Fn::Sub": "${AWS::StackName}-user"}}}},
    )
    app = app_of(tmp_path, A=exporter, B=template({}))
    resolver = Resolver(app)
    value = resolver.resolve(app.stacks[1], {"Fn::ImportValue": "A-user"})
    assert isinstance(value, ResourceAttribute)
    assert (value.resource.stack.name, value.resource.logical_id) == ("A", "U")
    assert resolver.resolve(app.stacks[1], {"Fn::ImportValue": "missing"}) is UNKNOWN


def test_references_follow_sub_import_and_nested_containers(tmp_path: Path) -> None:
    exporter = template(
        {"K": {"Type": "AWS::IAM::AccessKey"}},
        Outputs={"S": {"Value": {"Fn::GetAtt": ["K", "SecretAccessKey"]}, "Export": {"Name": "s"}}},
    )
    app = app_of(tmp_path, A=exporter, B=template({}))
    resolver = Resolver(app)
    value = {"Env": [{"V": {"Fn::Sub": ["x${v}", {"v": {"Fn::ImportValue": "s"}}]}}]}
    found = [(r.resource.logical_id, r.attribute) for r in resolver.references(app.stacks[1], value)]
    assert found == [("K", "SecretAccessKey")]


def test_export_cycle_ends_as_unknown(tmp_path: Path) -> None:
    # Given two exports that import each other (broken input)
    a = template({}, Outputs={"O": {"Value": {"Fn::ImportValue": "b"}, "Export": {"Name": "a"}}})
    b = template({}, Outputs={"O": {"Value": {"Fn::ImportValue": "a"}, "Export": {"Name": "b"}}})
    app = app_of(tmp_path, A=a, B=b)
    resolver = Resolver(app)
    # Then resolution stops instead of recursing for ever
    assert resolver.resolve(app.stacks[0], {"Fn::ImportValue": "a"}) is UNKNOWN
    assert list(resolver.references(app.stacks[0], {"Fn::ImportValue": "a"})) == []
