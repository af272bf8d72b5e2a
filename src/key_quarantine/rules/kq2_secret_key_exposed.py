"""KQ2: an access key's SecretAccessKey reaches something readable (anything but a Secrets Manager secret)."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any

from key_quarantine.rules.base import Finding, Level, Rule, RuleContext
from key_quarantine.rules.keys import ACCESS_KEY
from key_quarantine.rules.model import CONDITIONAL_METADATA, Resource, Stack

SECRET_ATTRIBUTE = "SecretAccessKey"  # noqa: S105 - the attribute name, not a secret
SAFE_SINKS = {("AWS::SecretsManager::Secret", "SecretString")}
CUSTOM_RESOURCE = "AWS::CloudFormation::CustomResource"

#: Who can read a sink, by resource type and top-level property; the default is the generic sentence.
_READERS = {
    ("AWS::SSM::Parameter", "Value"): "anyone with ssm:GetParameter (String parameters are not encrypted)",
    ("AWS::Lambda::Function", "Environment"): "anyone with lambda:GetFunctionConfiguration",
    ("AWS::ECS::TaskDefinition", "ContainerDefinitions"): "anyone with ecs:DescribeTaskDefinition",
    ("AWS::Batch::JobDefinition", "ContainerProperties"): "anyone with batch:DescribeJobDefinitions",
    ("AWS::CloudFormation::Stack", "Parameters"): "anyone with cloudformation:DescribeStacks",
}
#: Who can read any property of a resource of these types (Terraform resources without a CloudFormation twin).
_READERS_BY_TYPE = {
    "Terraform::aws_instance": "anyone with ec2:DescribeInstanceAttribute (user data is not encrypted)",
    "Terraform::aws_launch_template": "anyone with ec2:DescribeLaunchTemplateVersions",
    "Terraform::aws_launch_configuration": "anyone with autoscaling:DescribeLaunchConfigurations",
    "Terraform::local_file": "anyone who can read the file where terraform ran, and the state",
    "Terraform::local_sensitive_file": "anyone who can read the file where terraform ran, and the state",
    "Terraform::archive_file": "anyone who can read the archive where terraform ran, or where it is uploaded",
}


def check(context: RuleContext) -> Iterator[Finding]:
    for stack in context.app.stacks:
        for resource in stack.resources.values():
            if _is_encrypted_parameter(context, resource):
                continue
            for path in _leaking_paths(context, stack, resource.properties, "Properties"):
                if _is_custom_resource(resource):
                    message = _custom_resource_message(context, resource, path)
                    yield RULE.finding(resource, message, level=Level.WARNING, location=path)
                elif (resource.type, path.split("/")[1]) not in SAFE_SINKS:
                    yield RULE.finding(resource, _resource_message(context, resource, path), location=path)
        for name, output in stack.outputs.items():
            value = output.get("Value") if isinstance(output, Mapping) else None
            sources = _secret_sources(context, stack, value)
            if sources:
                yield RULE.output_finding(stack, name, _output_message(context, stack, name, output, sources))


def _leaking_paths(context: RuleContext, stack: Stack, value: Any, path: str) -> Iterator[str]:
    """Paths of the smallest containers whose value carries a secret key (one finding per property leaf)."""
    if not _secret_sources(context, stack, value):
        return
    if isinstance(value, Mapping) and not _is_intrinsic(value):
        for key, item in value.items():
            yield from _leaking_paths(context, stack, item, f"{path}/{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _leaking_paths(context, stack, item, f"{path}/{index}")
    else:
        yield path


def _secret_sources(context: RuleContext, stack: Stack, value: Any) -> list[Resource]:
    return list(
        dict.fromkeys(
            reference.resource
            for reference in context.resolver.references(stack, value)
            if reference.resource.type == ACCESS_KEY and reference.attribute == SECRET_ATTRIBUTE
        )
    )


def _is_encrypted_parameter(context: RuleContext, resource: Resource) -> bool:
    """An SSM SecureString (Terraform can create one; CloudFormation cannot) is encrypted with KMS."""
    if resource.type != "AWS::SSM::Parameter":
        return False
    return bool(context.resolver.resolve(resource.stack, resource.properties.get("Type")) == "SecureString")


def _is_intrinsic(value: Mapping[str, Any]) -> bool:
    return len(value) == 1 and next(iter(value)).startswith(("Fn::", "Ref"))


def _resource_message(context: RuleContext, resource: Resource, path: str) -> str:
    sources = _secret_sources(context, resource.stack, _value_at(resource.properties, path))
    property_path = ".".join(path.split("/")[1:])
    top = path.split("/")[1]
    readers = _READERS.get((resource.type, top))
    if top == "Tags":
        readers = "anyone who can list tags (tag:GetResources, the console)"
    readers = readers or _READERS_BY_TYPE.get(resource.type, "anyone who can describe this resource")
    return (
        f"The SecretAccessKey of {_keys(sources)} reaches {resource.describe()} at {property_path}, readable by "
        f"{readers}{_conditions(context, resource.stack, _value_at(resource.properties, path), resource)}. "
        "Keep it only in an AWS::SecretsManager::Secret SecretString."
    )


def _is_custom_resource(resource: Resource) -> bool:
    return resource.type.startswith("Custom::") or resource.type == CUSTOM_RESOURCE


def _custom_resource_message(context: RuleContext, resource: Resource, path: str) -> str:
    """A warning, not an error: the provider may put the secret where it belongs (a Secrets Manager secret,
    a third-party vault), which the template cannot show."""
    sources = _secret_sources(context, resource.stack, _value_at(resource.properties, path))
    property_path = ".".join(path.split("/")[1:])
    return (
        f"The SecretAccessKey of {_keys(sources)} is handed to custom resource {resource.describe()} at "
        f"{property_path}: its provider receives it in every create, update and delete request "
        "(ResourceProperties) and may log or store it. A warning because the provider may store it safely; make "
        "sure it does, or pass the ARN of a Secrets Manager secret instead."
    )


def _output_message(
    context: RuleContext, stack: Stack, name: str, output: Mapping[str, Any], sources: list[Resource]
) -> str:
    when = _conditions(context, stack, output.get("Value"), None)
    if stack.kind == "terraform":
        return (
            f"The SecretAccessKey of {_keys(sources)} is the value of output '{name}'{when}: in plain text in the "
            "state and to anyone who runs terraform output (sensitive = true only hides it from the console)."
        )
    exported = " and is exported to every stack of the account" if "Export" in output else ""
    return (
        f"The SecretAccessKey of {_keys(sources)} is the value of output '{name}' of stack {stack.name}{exported}: "
        "visible to anyone with cloudformation:DescribeStacks and in the console."
    )


def _conditions(context: RuleContext, stack: Stack, value: Any, resource: Resource | None) -> str:
    """Under which condition the secret gets there: the ``Fn::If`` branches it is in, a resource that may not be
    created (Terraform count/for_each decided only at apply); empty when it always does."""
    found = list(dict.fromkeys(_branch_conditions(context, stack, value)))
    if resource is not None and resource.metadata.get(CONDITIONAL_METADATA):
        found.append("if the resource is created (its count/for_each is decided only at apply)")
    return f", {' and '.join(found)}" if found else ""


def _branch_conditions(context: RuleContext, stack: Stack, value: Any) -> Iterator[str]:
    if isinstance(value, Mapping):
        arguments = value.get("Fn::If") if len(value) == 1 else None
        if isinstance(arguments, list) and len(arguments) == 3:  # noqa: PLR2004 - condition, then, else
            condition = json.dumps(arguments[0]) if not isinstance(arguments[0], str) else arguments[0]
            for branch, wording in ((arguments[1], "true"), (arguments[2], "false")):
                if _secret_sources(context, stack, branch):
                    yield f"only when {condition} is {wording}"
                    yield from _branch_conditions(context, stack, branch)
            return
        for item in value.values():
            yield from _branch_conditions(context, stack, item)
    elif isinstance(value, list):
        for item in value:
            yield from _branch_conditions(context, stack, item)


def _keys(sources: list[Resource]) -> str:
    return ", ".join(f"access key '{key.logical_id}' (stack {key.stack.name})" for key in sources)


def _value_at(properties: Mapping[str, Any], path: str) -> Any:
    value: Any = properties
    for part in path.split("/")[1:]:
        value = value[int(part)] if isinstance(value, list) else value[part]
    return value


RULE = Rule(
    id="KQ2",
    level=Level.ERROR,
    name="Secret access key readable outside Secrets Manager",
    info="The SecretAccessKey of an IAM access key is written somewhere readable.",
    explanation=(
        "A secret access key in a stack output or export, an SSM String parameter, a Lambda, ECS or Batch "
        "environment, a tag or any other property is readable by anyone with describe permissions and is "
        "kept in CloudFormation's history. Store it only as the SecretString of an AWS::SecretsManager::Secret "
        "and grant secretsmanager:GetSecretValue to the few principals that need it. A secret handed to a custom "
        "resource is a warning: its provider may store it safely."
    ),
    check=check,
)
