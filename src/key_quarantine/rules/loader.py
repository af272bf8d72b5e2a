"""Read synthesized CloudFormation into an AppModel.

Inputs: a cloud assembly directory (``cdk.out``, with nested Stage assemblies and nested stacks), a folder of
templates, or template files (JSON, or YAML with CloudFormation's short-form tags such as ``!GetAtt``).
Every problem is an ``InputError`` that names the file and what is wrong with it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from functools import partial
from pathlib import Path
from typing import Any

import yaml

from key_quarantine.rules import terraform
from key_quarantine.rules.model import Acknowledgement, AppModel, Resource, Stack

MANIFEST = "manifest.json"
VALIDATION_REPORT = "validation-report.json"
ACKNOWLEDGED_RULES_METADATA = "aws:cdk:acknowledged-rules"
LOGICAL_ID_METADATA = "aws:cdk:logicalId"
TEMPLATE_SUFFIXES = (".json", ".yaml", ".yml", ".template")
NESTED_STACK_TYPE = "AWS::CloudFormation::Stack"


class InputError(Exception):
    """Input that cannot be read as CloudFormation; the message names the file and the problem."""

    def __init__(self, path: Path | str, problem: str) -> None:
        super().__init__(f"{path}: {problem}")
        self.path = Path(path)
        self.problem = problem


def load_app(
    paths: Iterable[Path | str], *, account: str | None = None, region: str | None = None
) -> AppModel:
    """Load every path into one model. ``account``/``region`` apply to plain templates (no manifest)."""
    stacks: list[Stack] = []
    for raw_path in paths:
        path = Path(raw_path)
        if not path.exists():
            raise InputError(path, "no such file or directory")
        if path.is_dir() and (path / MANIFEST).exists():
            stacks.extend(_load_assembly(path))
        elif path.is_dir() and any(path.glob("*.tf")):
            stacks.append(_terraform(partial(terraform.load_directory, path, region)))
        elif path.is_dir():
            stacks.extend(_load_template_folder(path, account, region))
        elif path.suffix == ".tf":
            stacks.append(_terraform(partial(terraform.load_directory, path.parent, region, only=path)))
        elif path.suffix == ".json" and terraform.is_plan(document := _read_json(path)):
            stacks.append(_terraform(partial(terraform.load_plan, path, document, region)))
        elif path.suffix == ".json":
            stacks.extend(_with_nested(_plain_stack(path, account, region, document)))  # read once, above
        else:
            stacks.extend(_with_nested(_plain_stack(path, account, region)))
    return AppModel(stacks)


def _terraform(load: Callable[[], Stack]) -> Stack:
    try:
        return load()
    except terraform.TerraformError as error:
        raise InputError(error.path, error.problem) from None


# --- cloud assemblies -------------------------------------------------------------------------------------


def _load_assembly(directory: Path) -> Iterator[Stack]:
    manifest = _read_json(directory / MANIFEST)
    artifacts = manifest.get("artifacts") if isinstance(manifest, Mapping) else None
    if not isinstance(artifacts, Mapping):
        raise InputError(directory / MANIFEST, "not a cloud assembly manifest: no 'artifacts' object")
    report_acks = _acknowledgements_from_report(directory)
    for artifact_id, artifact in artifacts.items():
        kind = artifact.get("type") if isinstance(artifact, Mapping) else None
        properties = artifact.get("properties", {}) if isinstance(artifact, Mapping) else {}
        if kind == "cdk:cloud-assembly":
            yield from _load_assembly(directory / str(properties.get("directoryName", artifact_id)))
        elif kind == "aws:cloudformation:stack":
            yield from _with_nested(_assembly_stack(directory, artifact_id, artifact, report_acks))


def _assembly_stack(
    directory: Path,
    artifact_id: str,
    artifact: Mapping[str, Any],
    report_acks: Mapping[str, list[Acknowledgement]],
) -> Stack:
    properties = artifact.get("properties", {})
    template_file = properties.get("templateFile")
    if not isinstance(template_file, str):
        raise InputError(directory / MANIFEST, f"stack artifact '{artifact_id}' has no templateFile")
    account, region = _parse_environment(str(artifact.get("environment", "")))
    metadata = _artifact_metadata(directory, artifact)
    stack = Stack(
        name=str(artifact.get("displayName", artifact_id)),
        template_path=directory / template_file,
        template=_read_template(directory / template_file),
        account=account,
        region=region,
        construct_paths=_logical_id_paths(metadata),
    )
    stack.acknowledgements.extend(_acknowledgements_from_metadata(metadata))
    stack.acknowledgements.extend(report_acks.get(template_file, []))
    return stack


def _parse_environment(environment: str) -> tuple[str | None, str | None]:
    if not environment.startswith("aws://"):
        return None, None
    account, _, region = environment.removeprefix("aws://").partition("/")
    return (
        None if account in ("", "unknown-account") else account,
        None if region in ("", "unknown-region") else region,
    )


def _artifact_metadata(directory: Path, artifact: Mapping[str, Any]) -> Mapping[str, Any]:
    extra = artifact.get("additionalMetadataFile")
    if isinstance(extra, str) and (directory / extra).exists():
        loaded = _read_json(directory / extra)
        return loaded if isinstance(loaded, Mapping) else {}
    inline = artifact.get("metadata")
    return inline if isinstance(inline, Mapping) else {}


def _metadata_entries(metadata: Mapping[str, Any], entry_type: str) -> Iterator[tuple[str, Any]]:
    for construct_path, entries in metadata.items():
        for entry in entries if isinstance(entries, list) else []:
            if isinstance(entry, Mapping) and entry.get("type") == entry_type:
                yield construct_path, entry.get("data")


def _logical_id_paths(metadata: Mapping[str, Any]) -> dict[str, str]:
    return {str(data): path for path, data in _metadata_entries(metadata, LOGICAL_ID_METADATA)}


def _acknowledgements_from_metadata(metadata: Mapping[str, Any]) -> Iterator[Acknowledgement]:
    for path, data in _metadata_entries(metadata, ACKNOWLEDGED_RULES_METADATA):
        for rule_id, reason in (data or {}).items():
            yield Acknowledgement(rule_id=str(rule_id), reason=str(reason), construct_path=path)


def _acknowledgements_from_report(directory: Path) -> dict[str, list[Acknowledgement]]:
    """Acknowledgements CDK recorded in validation-report.json, by template file (covers app-level ones)."""
    path = directory / VALIDATION_REPORT
    if not path.exists():
        return {}
    report = _read_json(path)
    found: dict[str, list[Acknowledgement]] = {}
    for plugin in report.get("pluginReports", []) if isinstance(report, Mapping) else []:
        for violation in plugin.get("suppressedViolations", []):
            for construct in violation.get("violatingConstructs", []):
                resource = construct.get("cloudFormationResource") or {}
                if "templatePath" in resource and "logicalId" in resource:
                    found.setdefault(Path(resource["templatePath"]).name, []).append(
                        Acknowledgement(
                            rule_id=str(violation.get("acknowledgedId", "")),
                            reason=str(violation.get("reason", "")),
                            logical_id=str(resource["logicalId"]),
                        )
                    )
    return found


# --- plain templates --------------------------------------------------------------------------------------


def _load_template_folder(directory: Path, account: str | None, region: str | None) -> Iterator[Stack]:
    """Every template of the folder, each file read once; nested templates only under their parent."""
    candidates = sorted(p for p in directory.iterdir() if p.suffix in TEMPLATE_SUFFIXES and p.is_file())
    stacks = [
        _plain_stack(path, account, region, document) for path, document in _templates_among(candidates)
    ]
    if not stacks:
        raise InputError(directory, f"no {MANIFEST} and no CloudFormation templates in this folder")
    nested_files = {
        (directory / str(r.metadata["aws:asset:path"])).resolve()
        for stack in stacks
        for r in stack.resources.values()
        if r.type == NESTED_STACK_TYPE and r.metadata.get("aws:asset:path")
    }
    for stack in stacks:
        if stack.template_path.resolve() not in nested_files:
            yield from _with_nested(stack)


def _templates_among(paths: Iterable[Path]) -> Iterator[tuple[Path, Any]]:
    """The files that are templates, with their documents. Unreadable files are errors, never skipped in
    silence; readable JSON or YAML that is not a template (a package.json, a config) is not ours to judge."""
    for path in paths:
        document = _read_document(path)
        if document is None:
            raise InputError(path, "the file is empty")
        if isinstance(document, Mapping) and isinstance(document.get("Resources"), Mapping):
            yield path, document


def _plain_stack(path: Path, account: str | None, region: str | None, document: Any = None) -> Stack:
    """A template file as a stack; ``document`` when it was already read."""
    template = _read_template(path) if document is None else _as_template(path, document)
    name = path.name.removesuffix(".template.json").removesuffix(".json").removesuffix(".yaml")
    return Stack(name=name, template_path=path, template=template, account=account, region=region)


# --- nested stacks ----------------------------------------------------------------------------------------


def _with_nested(stack: Stack) -> Iterator[Stack]:
    """The stack, then every nested stack whose template CDK wrote beside it (recursively)."""
    yield stack
    for resource in stack.resources.values():
        if resource.type == NESTED_STACK_TYPE:
            nested = _nested_stack(resource)
            if nested is not None:
                yield from _with_nested(nested)


def _nested_stack(resource: Resource) -> Stack | None:
    asset_path = resource.metadata.get("aws:asset:path") or _asset_path_from_url(resource)
    if not isinstance(asset_path, str):
        return None  # a TemplateURL we cannot read offline; its resources are not in the app model
    path = resource.stack.template_path.parent / asset_path
    if not path.exists():
        raise InputError(path, f"nested stack template of '{resource.logical_id}' is missing")
    parent = resource.stack
    return Stack(
        name=f"{parent.name}/{resource.logical_id}",
        template_path=path,
        template=_read_template(path),
        parent=resource,
        construct_paths=parent.construct_paths,
        acknowledgements=parent.acknowledgements,
    )


def _asset_path_from_url(resource: Resource) -> str | None:
    """The nested template CDK wrote beside its parent, found by the asset hash in the TemplateURL.

    The CDK CLI records it as ``aws:asset:path`` metadata; an app synthesized in-process does not, but its
    ``*.assets.json`` manifests map each asset hash to its file.
    """
    url = json.dumps(resource.properties.get("TemplateURL", ""))
    assets = _file_assets(resource.stack.template_path.parent)
    return next((path for digest, path in assets.items() if f"{digest}.json" in url), None)


def _file_assets(directory: Path) -> dict[str, str]:
    assets: dict[str, str] = {}
    for manifest in directory.glob("*.assets.json"):
        files = _read_json(manifest).get("files", {})
        for digest, asset in files.items() if isinstance(files, Mapping) else ():
            source = asset.get("source", {}) if isinstance(asset, Mapping) else {}
            if isinstance(source.get("path"), str):
                assets[digest] = source["path"]
    return assets


# --- files ------------------------------------------------------------------------------------------------


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(path, "file is missing") from None
    except UnicodeDecodeError:
        raise InputError(path, "not text (UTF-8)") from None
    except json.JSONDecodeError as error:
        raise InputError(
            path, f"not valid JSON (line {error.lineno} column {error.colno}: {error.msg})"
        ) from None
    except OSError as error:
        raise InputError(path, f"cannot be read ({error.strerror})") from None


def _read_template(path: Path) -> Mapping[str, Any]:
    return _as_template(path, _read_document(path))


def _read_document(path: Path) -> Any:
    return _read_json(path) if path.suffix == ".json" else _read_yaml_or_json(path)


def _as_template(path: Path, document: Any) -> Mapping[str, Any]:
    """The document if it is a CloudFormation template, else an InputError saying what is missing."""
    if not isinstance(document, Mapping):
        raise InputError(path, "not a CloudFormation template: the document is not an object")
    resources = document.get("Resources")
    if not isinstance(resources, Mapping):
        raise InputError(path, "not a CloudFormation template: no 'Resources' object")
    for logical_id, body in resources.items():
        if not isinstance(body, Mapping) or not isinstance(body.get("Type"), str):
            raise InputError(path, f"resource '{logical_id}' has no 'Type'")
    return document


def _read_yaml_or_json(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(path, "file is missing") from None
    except UnicodeDecodeError:
        raise InputError(path, "not text (UTF-8)") from None
    try:
        return yaml.load(text, Loader=_CloudFormationYamlLoader)  # noqa: S506 - safe loader subclass
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" (line {mark.line + 1} column {mark.column + 1})" if mark else ""
        problem = getattr(error, "problem", None) or str(error).splitlines()[0]
        raise InputError(path, f"not valid YAML{where}: {problem}") from None


class _CloudFormationYamlLoader(yaml.SafeLoader):
    """SafeLoader that turns short-form tags (``!Ref X``, ``!GetAtt A.B`` ...) into their long form."""


def _construct_intrinsic(loader: yaml.SafeLoader, tag_suffix: str, node: yaml.Node) -> Any:
    name = tag_suffix if tag_suffix in ("Ref", "Condition") else f"Fn::{tag_suffix}"
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
        if tag_suffix == "GetAtt" and isinstance(value, str):
            value = value.split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    return {name: value}


_CloudFormationYamlLoader.add_multi_constructor("!", _construct_intrinsic)
# CloudFormation reads dates and times as strings; so must we (AWSTemplateFormatVersion: 2010-09-09).
_CloudFormationYamlLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def is_template(path: Path) -> bool:
    """Whether the file is a CloudFormation template (as a folder scan judges it); unreadable files are errors."""
    return any(_templates_among([path]))
