"""A Terraform configuration (read from HCL/JSON or from a plan) into a Stack of the model.

Each supported resource becomes the CloudFormation resource it stands for (its logical id is the Terraform
address), values are evaluated by ``terraform_expressions`` (references become ``Ref``/``Fn::GetAtt``), and root
``output`` blocks become Outputs.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from key_quarantine.rules.model import CONDITIONAL_METADATA, SOURCE_METADATA, Stack
from key_quarantine.rules.terraform_expressions import (
    Env,
    Evaluator,
    ModuleInstance,
    instance_suffix,
    is_known,
    opaque,
    unknown,
)
from key_quarantine.rules.terraform_modules import Configuration, Reader, TerraformResource
from key_quarantine.rules.terraform_plan import read_plan
from key_quarantine.rules.terraform_policies import policy_document

#: Terraform type -> (CloudFormation type, {terraform attribute: CloudFormation property}).
RESOURCE_TYPES: Mapping[str, tuple[str, Mapping[str, str]]] = {
    "aws_iam_user": (
        "AWS::IAM::User",
        {"name": "UserName", "permissions_boundary": "PermissionsBoundary", "tags": "Tags"},
    ),
    "aws_iam_access_key": ("AWS::IAM::AccessKey", {"user": "UserName", "status": "Status"}),
    # CloudFormation has no type for it: a Bedrock long-term API key is one (KQ8)
    "aws_iam_service_specific_credential": (
        "Terraform::IAM::ServiceSpecificCredential",
        {"user_name": "UserName", "service_name": "ServiceName", "status": "Status"},
    ),
    "aws_iam_user_policy": (
        "AWS::IAM::UserPolicy",
        {"user": "UserName", "policy": "PolicyDocument", "name": "PolicyName"},
    ),
    "aws_iam_policy": ("AWS::IAM::ManagedPolicy", {"policy": "PolicyDocument", "name": "ManagedPolicyName"}),
    "aws_iam_group": ("AWS::IAM::Group", {"name": "GroupName"}),
    "aws_iam_group_policy": (
        "AWS::IAM::GroupPolicy",
        {"group": "GroupName", "policy": "PolicyDocument", "name": "PolicyName"},
    ),
    "aws_iam_group_membership": ("AWS::IAM::UserToGroupAddition", {"group": "GroupName", "users": "Users"}),
    "aws_cloudwatch_event_rule": (
        "AWS::Events::Rule",
        {
            "event_pattern": "EventPattern",
            "event_bus_name": "EventBusName",
            "state": "State",
            "schedule_expression": "ScheduleExpression",
        },
    ),
    "aws_ssm_parameter": (
        "AWS::SSM::Parameter",
        {"type": "Type", "value": "Value", "insecure_value": "Value", "tags": "Tags"},
    ),
    "aws_lambda_function": ("AWS::Lambda::Function", {"environment": "Environment", "tags": "Tags"}),
    "aws_ecs_task_definition": (
        "AWS::ECS::TaskDefinition",
        {"container_definitions": "ContainerDefinitions", "tags": "Tags"},
    ),
    "aws_batch_job_definition": (
        "AWS::Batch::JobDefinition",
        {"container_properties": "ContainerProperties", "tags": "Tags"},
    ),
    "aws_secretsmanager_secret_version": ("AWS::SecretsManager::Secret", {"secret_string": "SecretString"}),
    "aws_cloudtrail": (
        "AWS::CloudTrail::Trail",
        {"enable_logging": "IsLogging", "event_selector": "EventSelectors"},
    ),
}
#: Attributes of a Terraform resource that are its CloudFormation Ref; the others become Fn::GetAtt.
REF_ATTRIBUTES = {"name", "id"}
#: Terraform attributes that are an access key's secret (the SMTP password is derived from it).
SECRET_ATTRIBUTES = {
    "secret": "SecretAccessKey",
    "ses_smtp_password_v4": "SecretAccessKey",
    "ses_smtp_password": "SecretAccessKey",  # the older, SigV2 form: derived from the secret as well
}
#: Data sources whose result is itself a copy of what they are given (a file on disk, a zip).
DATA_SINKS = {"archive_file", "local_file", "local_sensitive_file"}
#: Data sources that compute a value from their inputs: a reference to them carries their inputs.
DERIVED_DATA = {"template_file", "cloudinit_config", "template_cloudinit_config"}


@dataclass
class TerraformModule:
    """What one Terraform configuration (or plan) holds, ready to become a Stack."""

    name: str
    path: Path
    region: str | None = None
    resources: list[TerraformResource] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def stack_of_directory(directory: Path, region: str | None, only: Path | None) -> Stack:
    configuration = Configuration(root=directory)
    world = _World(configuration)
    Reader(world).read(directory, configuration, only)
    world.forget()  # what count/for_each asked while reading saw only the resources read so far
    module = TerraformModule(
        name=f"terraform:{directory.resolve().name}",
        path=only or directory,
        region=region or configuration.region,
        resources=[r for r in configuration.resources.values() if _is_stack_resource(r)],
        notes=configuration.notes,
    )
    return to_stack(module, world)


def stack_of_plan(path: Path, document: Mapping[str, Any], region: str | None) -> Stack:
    configuration = read_plan(path, document)
    world = _World(configuration)
    module = TerraformModule(
        name=f"terraform-plan:{path.stem}",
        path=path,
        region=region or configuration.region,
        resources=[r for r in configuration.resources.values() if _is_stack_resource(r)],
        notes=configuration.notes,
    )
    return to_stack(module, world)


def _is_stack_resource(resource: TerraformResource) -> bool:
    return resource.mode == "managed" or resource.type in DATA_SINKS


# --- into the model ---------------------------------------------------------------------------------------


def to_stack(module: TerraformModule, world: _World) -> Stack:
    resources: dict[str, dict[str, Any]] = {}
    converter = _Converter(world)
    for resource in module.resources:
        resources.update(converter.resource(resource))
    converter.attach(resources)
    root = world.configuration.root_module
    outputs = {}
    for name, (value, file, line) in world.configuration.outputs.items():
        converted = world.evaluator.convert(value, Env(root)) if root is not None else None
        if converted is not None:
            outputs[name] = {
                "Value": converted,
                "Metadata": {SOURCE_METADATA: {"file": str(file), "line": line}},
            }
    stack = Stack(
        name=module.name,
        template_path=module.path,
        template={"Resources": resources, "Outputs": outputs},
        account=None,  # Terraform names no account: the provider's credentials decide
        region=module.region,
        kind="terraform",
        notes=list(module.notes),
    )
    stack.acknowledgements.extend(a for resource in module.resources for a in resource.acknowledgements)
    return stack


class _World:
    """What references in a configuration point at: resource attributes, data sources, module outputs."""

    def __init__(self, configuration: Configuration) -> None:
        self.configuration = configuration
        self.evaluator = Evaluator(self)
        self._evaluated: dict[str, dict[str, Any]] = {}

    def resource(self, base: str) -> Mapping[str, str] | None:
        return self.configuration.instances.get(base)

    def attribute(self, address: str, attribute: str | None, depth: int) -> Any:
        resource = self.configuration.resources.get(address)
        if resource is None:
            return unknown(f"{address}.{attribute}")
        if resource.mode == "data":
            return self._data_attribute(resource, attribute, depth)
        if attribute is None or attribute in REF_ATTRIBUTES:
            return {"Ref": address}
        if attribute in SECRET_ATTRIBUTES and resource.type == "aws_iam_access_key":
            if self._encrypted(resource, depth):
                return None  # with pgp_key set, Terraform sets encrypted_secret and never secret
            return {"Fn::GetAtt": [address, SECRET_ATTRIBUTES[attribute]]}
        return {"Fn::GetAtt": [address, "Arn" if attribute == "arn" else attribute]}

    def _encrypted(self, key: TerraformResource, depth: int) -> bool:
        pgp_key = self.values(key, depth).get("pgp_key")
        return isinstance(pgp_key, str) and pgp_key != ""

    def _data_attribute(self, resource: TerraformResource, attribute: str | None, depth: int) -> Any:
        values = self.values(resource, depth)
        if attribute in values and is_known(values[attribute]):  # read at plan time (plan JSON)
            return values[attribute]
        if resource.type == "aws_iam_policy_document" and attribute in ("json", "minified_json"):
            return policy_document(values)
        if resource.type in DATA_SINKS:
            return {"Fn::GetAtt": [resource.address, attribute or "id"]}
        if resource.type in DERIVED_DATA:
            return opaque(f"{resource.address}.{attribute}", [values])
        return unknown(f"{resource.address}.{attribute}")

    def forget(self) -> None:
        self._evaluated.clear()

    def values(self, resource: TerraformResource, depth: int = 0) -> dict[str, Any]:
        """The resource's attributes evaluated (once: references to it ask again)."""
        cached = self._evaluated.get(resource.address)
        if cached is not None:
            return cached
        env = resource.env or Env(ModuleInstance("", resource.file or Path(), self.configuration.root))
        converted = self.evaluator.convert(resource.values, env, depth + 1)
        self._evaluated[resource.address] = converted if isinstance(converted, dict) else {}
        return self._evaluated[resource.address]

    def module_output(self, call: str, key: str | None, output: str, env: Env, depth: int) -> Any:
        base = f"{env.module.prefix}module.{call}"
        instances = self.configuration.modules.get(base)
        if not instances:
            return unknown(f"{base}.{output}")
        if key is not None:
            chosen = instances.get(instance_suffix(key)) or instances.get("")
            children = [chosen] if chosen is not None else []
        elif "" in instances:
            children = [instances[""]]
        else:
            children = list(instances.values())
        values = [self._output(child, output, depth) for child in children]
        if key is None and "" not in instances:
            return dict(zip(instances, values, strict=True))
        return values[0] if values else unknown(f"{base}.{output}")

    def _output(self, child: ModuleInstance, output: str, depth: int) -> Any:
        if output not in child.outputs:
            return unknown(f"{child.prefix}{output}")
        return self.evaluator.convert(child.outputs[output], Env(child), depth + 1)


class _Converter:
    """Terraform resources into CloudFormation resources, with their values evaluated."""

    def __init__(self, world: _World) -> None:
        self._world = world
        self._resources = world.configuration.resources
        self._attachments: list[tuple[str, Any, Any]] = []  # (owner kind, owner expression, policy ARN)
        self._targets: list[tuple[Any, Any, str]] = []
        self._by_name: dict[tuple[str, str], str] | None = None

    def resource(self, resource: TerraformResource) -> dict[str, dict[str, Any]]:
        values = self._world.values(resource)
        metadata: dict[str, Any] = {
            SOURCE_METADATA: {"file": str(resource.file) if resource.file else None, "line": resource.line}
        }
        if resource.conditional:
            metadata[CONDITIONAL_METADATA] = True
        if resource.type in ("aws_iam_user_policy_attachment", "aws_iam_group_policy_attachment"):
            owner = "user" if "user" in values else "group"
            self._attachments.append((owner, values.get(owner), values.get("policy_arn")))
            return {}
        if resource.type == "aws_iam_policy_attachment":  # one policy onto lists of users and groups
            for owner in ("user", "group"):
                for name in _as_list(values.get(f"{owner}s")):
                    self._attachments.append((owner, name, values.get("policy_arn")))
            return {}
        if resource.type == "aws_cloudwatch_event_target":
            self._targets.append(
                (values.get("rule"), values.get("arn"), str(values.get("target_id", resource.address)))
            )
            return {}
        if resource.type == "aws_iam_user_group_membership":
            return {
                f"{resource.address}[{index}]": {
                    "Type": "AWS::IAM::UserToGroupAddition",
                    "Properties": {"GroupName": group, "Users": [values.get("user")]},
                    "Metadata": metadata,
                }
                for index, group in enumerate(_as_list(values.get("groups")))
            }
        cfn_type, mapping = RESOURCE_TYPES.get(resource.type, (f"Terraform::{resource.type}", {}))
        properties = {
            mapping.get(name, name): _property(mapping.get(name, name), value)
            for name, value in values.items()
        }
        _adjust(resource.type, values, properties)
        return {resource.address: {"Type": cfn_type, "Properties": properties, "Metadata": metadata}}

    def attach(self, resources: dict[str, dict[str, Any]]) -> None:
        """Policy attachments onto their user or group; event targets onto their rule."""
        for owner, owner_expression, policy_arn in self._attachments:
            address = self._address_of(
                owner_expression, "aws_iam_user" if owner == "user" else "aws_iam_group"
            )
            if address in resources:
                arns = resources[address]["Properties"].setdefault("ManagedPolicyArns", [])
                arns.append(policy_arn)
        for rule_expression, arn, target_id in self._targets:
            address = self._address_of(rule_expression, "aws_cloudwatch_event_rule")
            if address in resources:
                resources[address]["Properties"].setdefault("Targets", []).append(
                    {"Arn": arn, "Id": target_id}
                )

    def _address_of(self, expression: Any, resource_type: str) -> str | None:
        """The resource a converted value designates: by reference, or by its literal name."""
        if isinstance(expression, Mapping) and isinstance(expression.get("Ref"), str):
            return str(expression["Ref"])
        if isinstance(expression, str):
            return self._names().get((resource_type, expression))
        return None

    def _names(self) -> dict[tuple[str, str], str]:
        """Literal names (a rule or user attached to by name): one lookup each, not a scan per attachment."""
        if self._by_name is None:
            self._by_name = {}
            for address, resource in self._resources.items():
                name = self._world.values(resource).get("name")
                if isinstance(name, str) and "${" not in name:
                    self._by_name.setdefault((resource.type, name), address)
        return self._by_name


def _property(name: str, value: Any) -> Any:
    if name in ("EventPattern", "PolicyDocument") and isinstance(value, str):
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    if name in ("Environment", "EventSelectors") and isinstance(value, list | Mapping):
        return _block_list(name, value if isinstance(value, list) else [value])
    return value


def _adjust(resource_type: str, values: Mapping[str, Any], properties: dict[str, Any]) -> None:
    if resource_type == "aws_cloudwatch_event_rule" and values.get("is_enabled") is False:
        properties["State"] = "DISABLED"
    if resource_type == "aws_iam_group_membership" and not isinstance(properties.get("Users"), list):
        properties["Users"] = [properties.get("Users")]


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _block_list(name: str, blocks: list[Any]) -> Any:
    """Nested blocks (``environment { variables = {...} }``) into CloudFormation's shapes."""
    if name == "Environment":
        first = blocks[0] if blocks and isinstance(blocks[0], Mapping) else {}
        return {"Variables": first.get("variables", {})}
    return [
        {
            "IncludeManagementEvents": b.get("include_management_events", True),
            "ReadWriteType": _read_write(b.get("read_write_type")),
        }
        for b in blocks
        if isinstance(b, Mapping)
    ]


def _read_write(value: Any) -> str:
    return {"All": "All", "ReadOnly": "ReadOnly", "WriteOnly": "WriteOnly"}.get(str(value), "All")
