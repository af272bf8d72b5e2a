"""The engine over shapes only CDK produces: nested stacks (parameters and outputs), Stages, cross-stack exports."""

from __future__ import annotations

from pathlib import Path

import aws_cdk as cdk
import pytest
from aws_cdk import aws_iam as iam
from aws_cdk import aws_ssm as ssm

from key_quarantine.rules.runner import scan_paths
from tests.cdk_apps import synth

ENV = cdk.Environment(account="111111111111", region="us-east-1")


@pytest.fixture(scope="module")
def nested_assembly(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A user in the parent, its key in a nested stack, and the key's secret handed back to the parent."""

    def build(app: cdk.App) -> None:
        parent = cdk.Stack(app, "Parent", env=ENV)
        user = iam.User(parent, "Deployer")
        child = cdk.NestedStack(parent, "Keys")
        key = iam.AccessKey(child, "Key", user=user)
        ssm.StringParameter(parent, "Leak", string_value=key.secret_access_key.unsafe_unwrap())

    return synth(tmp_path_factory.mktemp("nested") / "cdk.out", build)


def test_key_in_a_nested_stack_is_attributed_to_the_parent_user(nested_assembly: Path) -> None:
    kq1 = [f for f in scan_paths([nested_assembly]) if f.rule_id == "KQ1"]
    assert [(f.stack.name, f.logical_id) for f in kq1] == [("Parent", kq1[0].logical_id)]
    assert kq1[0].resource_type == "AWS::IAM::User"
    assert kq1[0].construct_path == "/Parent/Deployer/Resource"


def test_secret_through_a_nested_output_is_found_in_both_stacks(nested_assembly: Path) -> None:
    kq2 = [f for f in scan_paths([nested_assembly]) if f.rule_id == "KQ2"]
    where = sorted((f.resource_type, f.stack.parent is not None) for f in kq2)
    # the nested stack's output (visible in DescribeStacks) and the parent's SSM parameter
    assert where == [("AWS::CloudFormation::Output", True), ("AWS::SSM::Parameter", False)]


def test_cross_stack_reference_by_cdk_exports(tmp_path: Path) -> None:
    # Given CDK's own cross-stack reference (an Export and Fn::ImportValue) from the key to the user
    def build(app: cdk.App) -> None:
        users = cdk.Stack(app, "Users", env=ENV)
        user = iam.User(users, "Deployer")
        iam.AccessKey(cdk.Stack(app, "Keys", env=ENV), "Key", user=user)

    assembly = synth(tmp_path / "cdk.out", build)
    keys_template = (assembly / "Keys.template.json").read_text()
    assert "Fn::ImportValue" in keys_template
    # Then the key is attributed to the user in the other stack
    kq1 = [f for f in scan_paths([assembly]) if f.rule_id == "KQ1"]
    assert [(f.stack.name, f.construct_path) for f in kq1] == [("Users", "/Users/Deployer/Resource")]
