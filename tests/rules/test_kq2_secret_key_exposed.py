"""KQ2: a SecretAccessKey anywhere readable; only a Secrets Manager SecretString is safe."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.cfn import access_key, scan, template, user

SECRET = {"Fn::GetAtt": ["Key", "SecretAccessKey"]}
BASE = {"Deployer": user(), "Key": access_key({"Ref": "Deployer"})}


def kq2(tmp_path: Path, resources: dict[str, Any], **sections: Any) -> list[Any]:
    return scan(tmp_path, {"App": template({**BASE, **resources}, **sections)}, rule="KQ2")


@pytest.mark.parametrize(
    ("resource", "location", "says"),
    [
        (
            {"Type": "AWS::SSM::Parameter", "Properties": {"Type": "String", "Value": SECRET}},
            "Properties/Value",
            "ssm:GetParameter",
        ),
        (
            {"Type": "AWS::Lambda::Function", "Properties": {"Environment": {"Variables": {"K": SECRET}}}},
            "Properties/Environment/Variables/K",
            "lambda:GetFunctionConfiguration",
        ),
        (
            {
                "Type": "AWS::ECS::TaskDefinition",
                "Properties": {"ContainerDefinitions": [{"Environment": [{"Name": "K", "Value": SECRET}]}]},
            },
            "Properties/ContainerDefinitions/0/Environment/0/Value",
            "ecs:DescribeTaskDefinition",
        ),
        (
            {
                "Type": "AWS::Batch::JobDefinition",
                "Properties": {"ContainerProperties": {"Environment": [{"Name": "K", "Value": SECRET}]}},
            },
            "Properties/ContainerProperties/Environment/0/Value",
            "batch:DescribeJobDefinitions",
        ),
        (
            {"Type": "AWS::S3::Bucket", "Properties": {"Tags": [{"Key": "k", "Value": SECRET}]}},
            "Properties/Tags/0/Value",
            "list tags",
        ),
        (
            {"Type": "AWS::SecretsManager::Secret", "Properties": {"Description": SECRET}},
            "Properties/Description",
            "describe this resource",
        ),
        (
            {
                "Type": "AWS::SSM::Parameter",
                "Properties": {"Value": {"Fn::Sub": "id=x,secret=${Key.SecretAccessKey}"}},
            },
            "Properties/Value",
            "ssm:GetParameter",
        ),
        (
            {"Type": "AWS::SSM::Parameter", "Properties": {"Value": {"Fn::Join": [":", ["x", SECRET]]}}},
            "Properties/Value",
            "ssm:GetParameter",
        ),
    ],
    ids=["ssm", "lambda-env", "ecs-env", "batch-env", "tags", "secret-description", "sub", "join"],
)
def test_secret_in_a_readable_property_is_flagged_with_its_location(
    tmp_path: Path, resource: dict[str, Any], location: str, says: str
) -> None:
    # Given a resource whose property carries the key's secret (directly or built into a string)
    findings = kq2(tmp_path, {"Sink": resource})
    # Then KQ2 flags that resource at that property and says who can read it
    assert [(f.logical_id, f.location) for f in findings] == [("Sink", location)]
    assert says in findings[0].message
    assert "'Key'" in findings[0].message


def test_secret_in_an_output_and_export_is_flagged(tmp_path: Path) -> None:
    outputs = {"Secret": {"Value": SECRET, "Export": {"Name": "leaked"}}}
    findings = kq2(tmp_path, {}, Outputs=outputs)
    assert [(f.logical_id, f.resource_type) for f in findings] == [("Secret", "AWS::CloudFormation::Output")]
    assert "exported" in findings[0].message


def test_secret_that_reaches_another_stack_by_export_is_flagged_where_it_lands(tmp_path: Path) -> None:
    # Given stack A exports the secret (a leak) and stack B puts the import in a Lambda environment
    exporter = template(BASE, Outputs={"S": {"Value": SECRET, "Export": {"Name": "secret"}}})
    sink = {
        "Type": "AWS::Lambda::Function",
        "Properties": {"Environment": {"Variables": {"K": {"Fn::ImportValue": "secret"}}}},
    }
    findings = scan(tmp_path, {"A": exporter, "B": template({"Fn": sink})}, rule="KQ2")
    # Then both places are findings, each in its own stack
    assert sorted((f.stack.name, f.logical_id) for f in findings) == [("A", "S"), ("B", "Fn")]


def test_secret_only_in_secrets_manager_is_compliant(tmp_path: Path) -> None:
    secret = {
        "Type": "AWS::SecretsManager::Secret",
        "Properties": {"SecretString": {"Fn::Sub": "${Key.SecretAccessKey}"}},
    }
    assert kq2(tmp_path, {"Secret": secret}) == []


def test_access_key_id_is_not_a_secret(tmp_path: Path) -> None:
    parameter = {"Type": "AWS::SSM::Parameter", "Properties": {"Value": {"Ref": "Key"}}}
    outputs = {"KeyId": {"Value": {"Ref": "Key"}}}
    assert kq2(tmp_path, {"P": parameter}, Outputs=outputs) == []


def test_template_without_access_keys_is_not_applicable(tmp_path: Path) -> None:
    resources = {"P": {"Type": "AWS::SSM::Parameter", "Properties": {"Value": "plain"}}}
    assert scan(tmp_path, {"App": template(resources)}, rule="KQ2") == []
