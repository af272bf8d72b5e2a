"""Terraform into the same model as CloudFormation, so every KQ rule applies unchanged.

Two inputs: a directory of ``.tf`` files (parsed by ``hcl``, tree-sitter's HCL grammar; local modules followed) and the JSON of
``terraform show -json PLAN``. Each supported resource becomes the CloudFormation resource it stands for (its
logical id is the Terraform address), references become ``Ref``/``Fn::GetAtt``, and ``output`` blocks become
Outputs. A ``# key-quarantine:acknowledge KQn <reason>`` comment on the line above a resource (or on its first
line) acknowledges a finding there, as ``Validations.of(...).acknowledge`` does in CDK.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from key_quarantine.rules.model import CONDITIONAL_METADATA, SOURCE_METADATA, Acknowledgement, Stack

if TYPE_CHECKING:
    from key_quarantine.rules import hcl

PLAN_MAJOR_VERSION = "1"
_REFERENCE = re.compile(
    r"^(?P<address>(?:module\.[\w-]+\.)*(?:data\.)?[a-z][\w]*\.[\w-]+)(?:\[[^\]]*\])?(?:\.(?P<attr>[\w]+))?"
)
_INTERPOLATION = re.compile(r"\$\{([^{}]*)\}")
_JSONENCODE = re.compile(r"^\$\{jsonencode\((?P<body>.*)\)\}$", re.DOTALL)
_ACKNOWLEDGE = re.compile(
    r"key-quarantine:acknowledge\s+(?P<rule>(?:KeyQuarantine::)?KQ\d+)\s+(?P<reason>\S.*?)\s*$"
)

#: Terraform type -> (CloudFormation type, {terraform attribute: CloudFormation property}).
RESOURCE_TYPES: Mapping[str, tuple[str, Mapping[str, str]]] = {
    "aws_iam_user": (
        "AWS::IAM::User",
        {"name": "UserName", "permissions_boundary": "PermissionsBoundary", "tags": "Tags"},
    ),
    "aws_iam_access_key": ("AWS::IAM::AccessKey", {"user": "UserName", "status": "Status"}),
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
SECRET_ATTRIBUTES = {"secret": "SecretAccessKey", "ses_smtp_password_v4": "SecretAccessKey"}


class TerraformError(ValueError):
    """Terraform input that cannot be read; ``path`` and the message say which file and why."""

    def __init__(self, path: Path, problem: str) -> None:
        super().__init__(problem)
        self.path = path
        self.problem = problem


@dataclass
class TerraformResource:
    address: str
    type: str
    values: dict[str, Any]
    file: Path | None = None
    line: int | None = None
    acknowledgements: list[Acknowledgement] = field(default_factory=list)


@dataclass
class TerraformModule:
    """What one Terraform configuration holds, ready to become a Stack."""

    name: str
    path: Path
    region: str | None = None
    resources: list[TerraformResource] = field(default_factory=list)
    outputs: dict[str, Any] = field(default_factory=dict)
    output_sources: dict[str, dict[str, Any]] = field(default_factory=dict)
    module_outputs: dict[str, Any] = field(default_factory=dict)  # "module.x.name" -> qualified value


# --- HCL directories --------------------------------------------------------------------------------------


def load_directory(directory: Path, region: str | None = None, *, only: Path | None = None) -> Stack:
    """A folder of ``.tf`` files (or ``only`` one file of it), with the local modules it calls."""
    module = TerraformModule(
        name=f"terraform:{directory.resolve().name}", path=only or directory, region=region
    )
    _read_directory(directory, _Scope(), module, seen=set(), only=only)
    return to_stack(module)


@dataclass(frozen=True)
class _Scope:
    """Where a module's blocks live: its address prefix, and what its caller passes for each variable."""

    prefix: str = ""
    variables: Mapping[str, Any] = field(default_factory=dict)

    def qualify(self, value: Any) -> Any:
        """References inside a module, rewritten to the root's address space (``var.x`` to what was passed)."""
        if isinstance(value, Mapping):
            return {key: self.qualify(item) for key, item in value.items()}
        if isinstance(value, list):
            return [self.qualify(item) for item in value]
        if not isinstance(value, str) or not self.prefix or "${" not in value:
            return value
        whole = _INTERPOLATION.fullmatch(value)
        if whole and whole.group(1).startswith("var."):
            return self.variables.get(whole.group(1).removeprefix("var.").split(".")[0], value)
        return _INTERPOLATION.sub(lambda m: "${" + self._qualified(m.group(1)) + "}", value)

    def _qualified(self, expression: str) -> str:
        if expression.startswith("var."):
            passed = self.variables.get(expression.removeprefix("var.").split(".")[0])
            inner = _INTERPOLATION.fullmatch(passed) if isinstance(passed, str) else None
            return inner.group(1) if inner else expression
        return self.prefix + expression if _REFERENCE.match(expression) else expression


def _read_directory(
    directory: Path, scope: _Scope, module: TerraformModule, seen: set[Path], only: Path | None = None
) -> None:
    if directory.resolve() in seen:
        return
    seen.add(directory.resolve())
    files = [only] if only else sorted(directory.glob("*.tf"))
    if not files:
        raise TerraformError(directory, "no .tf files in this folder")
    for path in files:
        document, text = _parse_hcl(path)
        _read_document(document, text.splitlines(), path, scope=scope, module=module, seen=seen)


def _parse_hcl(path: Path) -> tuple[hcl.Document, str]:
    # tree-sitter loads on the first .tf file: CloudFormation scans and CDK synths never pay for it
    from key_quarantine.rules import hcl  # noqa: PLC0415

    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise TerraformError(path, "not text (UTF-8)") from None
    try:
        return hcl.parse(text), text
    except hcl.HclSyntaxError as error:
        raise TerraformError(path, f"not valid HCL: {error}") from None


def _read_document(
    parsed: hcl.Document,
    lines: list[str],
    path: Path,
    *,
    scope: _Scope,
    module: TerraformModule,
    seen: set[Path],
) -> None:
    prefix, document = scope.prefix, parsed.body
    for block in document.get("provider", []):
        region = (block.get("aws") or {}).get("region") if isinstance(block, Mapping) else None
        if isinstance(region, str) and not region.startswith("${") and prefix == "":
            module.region = module.region or region
    for block in document.get("resource", []):
        for resource_type, named in block.items():
            for name, values in named.items():
                address = f"{prefix}{resource_type}.{name}"
                line = parsed.lines.get(("resource", resource_type, name))
                resource = TerraformResource(address, resource_type, scope.qualify(dict(values)), path, line)
                resource.acknowledgements = _acknowledgements(lines, line, address)
                module.resources.append(resource)
    for block in document.get("output", []):
        for name, values in block.items():
            value = values.get("value") if isinstance(values, Mapping) else None
            if prefix:
                module.module_outputs[f"{prefix}{name}".removesuffix(".")] = scope.qualify(value)
            else:
                module.outputs[name] = value
                module.output_sources[name] = {"file": str(path), "line": parsed.lines.get(("output", name))}
    for block in document.get("module", []):
        for name, values in block.items():
            source = values.get("source") if isinstance(values, Mapping) else None
            if isinstance(source, str) and source.startswith(("./", "../")):
                passed = {key: scope.qualify(value) for key, value in values.items() if key != "source"}
                child = _Scope(prefix=f"{prefix}module.{name}.", variables=passed)
                _read_directory((path.parent / source).resolve(), child, module, seen)


def _acknowledgements(lines: list[str], line: int | None, address: str) -> list[Acknowledgement]:
    """``# key-quarantine:acknowledge KQn reason`` on the resource's first line or the comment lines above it."""
    if line is None:
        return []
    candidates = [lines[line - 1]]
    above = line - 2
    while above >= 0 and lines[above].strip().startswith(("#", "//")):
        candidates.append(lines[above])
        above -= 1
    found = []
    for candidate in candidates:
        match = _ACKNOWLEDGE.search(candidate)
        if match:
            found.append(Acknowledgement(match["rule"], match["reason"], logical_id=address))
    return found


# --- plan JSON --------------------------------------------------------------------------------------------


def is_plan(document: Any) -> bool:
    return (
        isinstance(document, Mapping)
        and "format_version" in document
        and ("planned_values" in document or "configuration" in document)
    )


def load_plan(path: Path, document: Mapping[str, Any], region: str | None = None) -> Stack:
    version = str(document.get("format_version", ""))
    if version.split(".", maxsplit=1)[0] != PLAN_MAJOR_VERSION:
        raise TerraformError(
            path, f"plan format_version {version!r} is not supported (expected {PLAN_MAJOR_VERSION}.x)"
        )
    configuration = document.get("configuration") or {}
    references = dict(_configured_references(configuration.get("root_module") or {}, ""))
    module = TerraformModule(
        name=f"terraform-plan:{path.stem}", path=path, region=region or _plan_region(configuration)
    )
    for resource in _planned_resources((document.get("planned_values") or {}).get("root_module") or {}):
        if resource.get("mode", "managed") != "managed":
            continue
        address = str(resource["address"])
        values = dict(resource.get("values") or {})
        values.update(references.get(address, {}))
        module.resources.append(TerraformResource(address, str(resource["type"]), values, path, None))
    for name, output in ((configuration.get("root_module") or {}).get("outputs") or {}).items():
        refs = (output.get("expression") or {}).get("references") or []
        module.outputs[name] = _reference_expression(refs)
    return to_stack(module)


def _planned_resources(module: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    yield from module.get("resources") or []
    for child in module.get("child_modules") or []:
        yield from _planned_resources(child)


def _configured_references(module: Mapping[str, Any], prefix: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """Per resource address, the attributes whose value is a reference (unknown until apply in planned values)."""
    for resource in module.get("resources") or []:
        scope = _Scope(prefix=prefix)
        attributes = {
            name: scope.qualify(_reference_expression(expression.get("references") or []))
            for name, expression in (resource.get("expressions") or {}).items()
            if isinstance(expression, Mapping) and expression.get("references")
        }
        yield f"{prefix}{resource['address']}", attributes
    for name, call in (module.get("module_calls") or {}).items():
        yield from _configured_references(call.get("module") or {}, f"{prefix}module.{name}.")


def _reference_expression(references: list[str]) -> str | None:
    """The most specific reference (``aws_iam_user.u.name`` before ``aws_iam_user.u``) as an interpolation."""
    return f"${{{references[0]}}}" if references else None


def _plan_region(configuration: Mapping[str, Any]) -> str | None:
    aws = (configuration.get("provider_config") or {}).get("aws") or {}
    value = ((aws.get("expressions") or {}).get("region") or {}).get("constant_value")
    return value if isinstance(value, str) else None


# --- into the model ---------------------------------------------------------------------------------------


def to_stack(module: TerraformModule) -> Stack:
    resources: dict[str, dict[str, Any]] = {}
    addresses = {resource.address: resource for resource in module.resources}
    converter = _Converter(addresses, module.module_outputs)
    for resource in module.resources:
        resources.update(converter.resource(resource))
    converter.attach(resources)
    template = {
        "Resources": resources,
        "Outputs": {
            name: {
                "Value": converter.value(value),
                "Metadata": {SOURCE_METADATA: module.output_sources.get(name, {})},
            }
            for name, value in module.outputs.items()
            if value is not None
        },
    }
    stack = Stack(
        name=module.name,
        template_path=module.path,
        template=template,
        account=None,  # Terraform names no account: the provider's credentials decide
        region=module.region,
        kind="terraform",
    )
    stack.acknowledgements.extend(a for resource in module.resources for a in resource.acknowledgements)
    return stack


class _Converter:
    """Terraform values into CloudFormation properties, references into intrinsics."""

    def __init__(self, addresses: Mapping[str, TerraformResource], module_outputs: Mapping[str, Any]) -> None:
        self._addresses = addresses
        self._module_outputs = module_outputs
        # literal names (a rule or user attached to by name): one lookup each, not a scan per attachment
        self._by_name: dict[tuple[str, str], str] = {}
        for address, resource in addresses.items():
            name = resource.values.get("name")
            if isinstance(name, str):
                self._by_name.setdefault((resource.type, name), address)
        self._attachments: list[tuple[str, Any, Any]] = []  # (property, owner expression, value)
        self._targets: list[tuple[Any, Any, str]] = []

    def resource(self, resource: TerraformResource) -> dict[str, dict[str, Any]]:
        values = resource.values
        metadata: dict[str, Any] = {
            SOURCE_METADATA: {"file": str(resource.file) if resource.file else None, "line": resource.line}
        }
        count = values.get("count", values.get("for_each"))
        if count is not None and not (isinstance(count, int) and count >= 1):
            if count == 0:
                return {}
            metadata[CONDITIONAL_METADATA] = True
        if resource.type in ("aws_iam_user_policy_attachment", "aws_iam_group_policy_attachment"):
            owner = "user" if "user" in values else "group"
            self._attachments.append((owner, values.get(owner), values.get("policy_arn")))
            return {}
        if resource.type == "aws_cloudwatch_event_target":
            self._targets.append(
                (values.get("rule"), values.get("arn"), str(values.get("target_id", resource.address)))
            )
            return {}
        if resource.type == "aws_iam_user_group_membership":
            groups = values.get("groups") or []
            return {
                f"{resource.address}[{index}]": {
                    "Type": "AWS::IAM::UserToGroupAddition",
                    "Properties": {"GroupName": self.value(group), "Users": [self.value(values.get("user"))]},
                    "Metadata": metadata,
                }
                for index, group in enumerate(groups if isinstance(groups, list) else [])
            }
        cfn_type, mapping = RESOURCE_TYPES.get(resource.type, (f"Terraform::{resource.type}", {}))
        properties = {
            mapping.get(name, name): self._property(mapping.get(name, name), value)
            for name, value in values.items()
        }
        self._adjust(resource.type, values, properties)
        return {resource.address: {"Type": cfn_type, "Properties": properties, "Metadata": metadata}}

    def _property(self, name: str, value: Any) -> Any:
        value = self.value(value)
        if name in ("EventPattern", "PolicyDocument") and isinstance(value, str):
            try:
                return json.loads(value)
            except json.JSONDecodeError:
                return value
        if name in ("Environment", "EventSelectors") and isinstance(value, list):
            return _block_list(name, value)
        return value

    @staticmethod
    def _adjust(resource_type: str, values: Mapping[str, Any], properties: dict[str, Any]) -> None:
        if resource_type == "aws_cloudwatch_event_rule" and values.get("is_enabled") is False:
            properties["State"] = "DISABLED"
        if resource_type == "aws_iam_group_membership" and not isinstance(properties.get("Users"), list):
            properties["Users"] = [properties.get("Users")]

    def attach(self, resources: dict[str, dict[str, Any]]) -> None:
        """Policy attachments onto their user or group; event targets onto their rule."""
        for owner, owner_expression, policy_arn in self._attachments:
            address = self._address_of(
                owner_expression, "aws_iam_user" if owner == "user" else "aws_iam_group"
            )
            if address in resources:
                arns = resources[address]["Properties"].setdefault("ManagedPolicyArns", [])
                arns.append(self.value(policy_arn))
        for rule_expression, arn, target_id in self._targets:
            address = self._address_of(rule_expression, "aws_cloudwatch_event_rule")
            if address in resources:
                resources[address]["Properties"].setdefault("Targets", []).append(
                    {"Arn": self.value(arn), "Id": target_id}
                )

    def _address_of(self, expression: Any, resource_type: str) -> str | None:
        if isinstance(expression, str):
            match = _INTERPOLATION.fullmatch(expression)
            if match:
                reference = _REFERENCE.match(match.group(1))
                return reference["address"] if reference else None
            return self._by_name.get((resource_type, expression))
        return None

    def value(self, value: Any) -> Any:
        """A Terraform value with references as intrinsics (jsonencode() objects evaluated)."""
        if isinstance(value, Mapping):
            return {key: self.value(item) for key, item in value.items()}
        if isinstance(value, list):
            return [self.value(item) for item in value]
        if not isinstance(value, str) or "${" not in value:
            return value
        encoded = _JSONENCODE.match(value)
        if encoded:
            return self.value(_hcl_expression(encoded["body"]))
        whole = _INTERPOLATION.fullmatch(value)
        if whole:
            return self._reference(whole.group(1))
        variables: dict[str, Any] = {}

        def placeholder(match: re.Match[str]) -> str:
            name = f"v{len(variables)}"
            variables[name] = self._reference(match.group(1))
            return f"${{{name}}}"

        return {"Fn::Sub": [_INTERPOLATION.sub(placeholder, value), variables]}

    def _reference(self, expression: str) -> Any:
        if expression.strip() in self._module_outputs:  # a module's output, seen from its caller
            return self.value(self._module_outputs[expression.strip()])
        match = _REFERENCE.match(expression.strip())
        if not match or match["address"] not in self._addresses:
            return _unknown(expression)
        address, attribute = match["address"], match["attr"]
        if attribute is None or attribute in REF_ATTRIBUTES:
            return {"Ref": address}
        if attribute in SECRET_ATTRIBUTES:
            return {"Fn::GetAtt": [address, SECRET_ATTRIBUTES[attribute]]}
        return {"Fn::GetAtt": [address, "Arn" if attribute == "arn" else attribute]}


def _unknown(expression: str) -> dict[str, Any]:
    """A value only known at apply (a variable, a data source, another module's output): resolves to UNKNOWN."""
    return {"Ref": f"terraform:{expression.strip()}"}


@lru_cache(maxsize=1024)
def _hcl_expression(body: str) -> Any:
    """A jsonencode() argument, parsed as HCL (cached: configurations repeat the same policies and patterns)."""
    from key_quarantine.rules import hcl  # noqa: PLC0415 - see _parse_hcl

    try:
        return hcl.parse_expression(body)
    except hcl.HclSyntaxError:  # an expression we cannot evaluate stays a string
        return f"${{jsonencode({body})}}"


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
