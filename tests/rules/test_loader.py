"""Reading templates and cloud assemblies into the model; every bad input is a clear InputError."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from key_quarantine.rules.loader import InputError, load_app
from tests.cfn import access_key, template, user

YAML_TEMPLATE = """\
AWSTemplateFormatVersion: 2010-09-09
Resources:
  Deployer:
    Type: AWS::IAM::User
  Key:
    Type: AWS::IAM::AccessKey
    Properties:
      UserName: !Ref Deployer
  Param:
    Type: AWS::SSM::Parameter
    Properties:
      Type: String
      Value: !GetAtt Key.SecretAccessKey
      Description: !Sub "key ${Key} of ${AWS::StackName}"
      Name: !Join [":", [a, !Select [0, [b]]]]
"""


def test_yaml_short_form_tags_become_long_form(tmp_path: Path) -> None:
    path = tmp_path / "t.yaml"
    path.write_text(YAML_TEMPLATE)
    (stack,) = load_app([path]).stacks
    properties = stack.resources["Param"].properties
    assert properties["Value"] == {"Fn::GetAtt": ["Key", "SecretAccessKey"]}
    assert properties["Description"] == {"Fn::Sub": "key ${Key} of ${AWS::StackName}"}
    assert properties["Name"] == {"Fn::Join": [":", ["a", {"Fn::Select": [0, ["b"]]}]]}
    assert stack.resources["Key"].properties["UserName"] == {"Ref": "Deployer"}
    assert stack.template["AWSTemplateFormatVersion"] == "2010-09-09"


def test_folder_of_templates_is_one_app(tmp_path: Path) -> None:
    (tmp_path / "a.template.json").write_text(json.dumps(template({"U": user()})))
    (tmp_path / "b.yaml").write_text("Resources:\n  K:\n    Type: AWS::IAM::AccessKey\n")
    (tmp_path / "notes.json").write_text('{"not": "a template"}')
    app = load_app([tmp_path])
    assert sorted(s.name for s in app.stacks) == ["a", "b"]
    assert [r.logical_id for r in app.resources_of_type("AWS::IAM::AccessKey")] == ["K"]


def test_resources_are_indexed_by_type_across_stacks(tmp_path: Path) -> None:
    for name in ("a", "b"):
        (tmp_path / f"{name}.json").write_text(
            json.dumps(template({"U": user(), "K": access_key({"Ref": "U"})}))
        )
    app = load_app([tmp_path / "a.json", tmp_path / "b.json"])
    assert [(r.stack.name, r.logical_id) for r in app.resources_of_type("AWS::IAM::User")] == [
        ("a", "U"),
        ("b", "U"),
    ]
    assert app.resources_of_type("AWS::Nothing::Here") == []


@pytest.mark.parametrize(
    ("name", "content", "problem"),
    [
        ("t.json", '{"Resources": {', "not valid JSON (line 1"),
        ("t.json", "[1, 2]", "the document is not an object"),
        ("t.json", '{"Outputs": {}}', "no 'Resources' object"),
        ("t.json", '{"Resources": {"U": {"Properties": {}}}}', "resource 'U' has no 'Type'"),
        ("t.yaml", "Resources:\n  U: [unclosed\n", "not valid YAML (line"),
        ("t.json", b"\xff\xfe\x00garbage", "not text (UTF-8)"),
    ],
    ids=["truncated-json", "not-an-object", "no-resources", "no-type", "bad-yaml", "binary"],
)
def test_garbled_template_names_the_file_and_the_problem(
    tmp_path: Path, name: str, content: str | bytes, problem: str
) -> None:
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    with pytest.raises(InputError) as raised:
        load_app([path])
    assert str(path) in str(raised.value)
    assert problem in str(raised.value)


def test_broken_file_in_a_folder_is_an_error_not_skipped(tmp_path: Path) -> None:
    (tmp_path / "good.template.json").write_text(json.dumps(template({"U": user()})))
    (tmp_path / "broken.yaml").write_text("Resources: [unclosed\n")
    with pytest.raises(InputError, match=r"broken\.yaml: not valid YAML"):
        load_app([tmp_path])
    (tmp_path / "broken.yaml").write_text("")
    with pytest.raises(InputError, match=r"broken\.yaml: the file is empty"):
        load_app([tmp_path])


def test_missing_path_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file or directory"):
        load_app([tmp_path / "cdk.out"])


def test_folder_without_templates_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"no manifest\.json and no CloudFormation templates"):
        load_app([tmp_path])


def test_garbled_manifest_is_an_input_error(tmp_path: Path) -> None:
    (tmp_path / "manifest.json").write_text('{"artifacts": ')
    with pytest.raises(InputError, match=r"manifest\.json: not valid JSON"):
        load_app([tmp_path])


def test_manifest_without_artifacts_is_an_input_error(tmp_path: Path) -> None:
    (tmp_path / "manifest.json").write_text('{"version": "55.0.0"}')
    with pytest.raises(InputError, match="no 'artifacts' object"):
        load_app([tmp_path])


def test_manifest_naming_a_missing_template_is_an_input_error(tmp_path: Path) -> None:
    artifacts = {"S": {"type": "aws:cloudformation:stack", "properties": {"templateFile": "S.template.json"}}}
    (tmp_path / "manifest.json").write_text(json.dumps({"artifacts": artifacts}))
    with pytest.raises(InputError, match=r"S\.template\.json: file is missing"):
        load_app([tmp_path])


def test_assembly_environment_and_nested_assemblies_are_read(tmp_path: Path) -> None:
    # Given a root assembly with one stack and a nested Stage assembly with another
    stage = tmp_path / "assembly-Prod"
    stage.mkdir()
    (tmp_path / "Root.template.json").write_text(json.dumps(template({"U": user()})))
    (stage / "ProdApp.template.json").write_text(json.dumps(template({"V": user()})))
    (tmp_path / "manifest.json").write_text(
        json.dumps(
            {
                "artifacts": {
                    "Root": {
                        "type": "aws:cloudformation:stack",
                        "environment": "aws://unknown-account/unknown-region",
                        "properties": {"templateFile": "Root.template.json"},
                    },
                    "assembly-Prod": {
                        "type": "cdk:cloud-assembly",
                        "properties": {"directoryName": "assembly-Prod"},
                    },
                }
            }
        )
    )
    (stage / "manifest.json").write_text(
        json.dumps(
            {
                "artifacts": {
                    "ProdApp": {
                        "type": "aws:cloudformation:stack",
                        "environment": "aws://222222222222/eu-west-1",
                        "displayName": "Prod/App",
                        "properties": {"templateFile": "ProdApp.template.json"},
                    }
                }
            }
        )
    )
    # When loaded
    app = load_app([tmp_path])
    # Then both stacks are there with what is known of their environments
    assert [(s.name, s.account, s.region) for s in app.stacks] == [
        ("Root", None, None),
        ("Prod/App", "222222222222", "eu-west-1"),
    ]
