"""Read synthesized CloudFormation into an AppModel.

Inputs: a cloud assembly directory (``cdk.out``, with nested Stage assemblies and nested stacks), a folder of
templates, or template files (JSON, or YAML with CloudFormation's short-form tags such as ``!GetAtt``).
Every problem is an ``InputError`` that names the file and what is wrong with it.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from functools import partial
from pathlib import Path
from typing import Any

import yaml

from key_quarantine.rules import cloudformation_transforms, terraform
from key_quarantine.rules.model import (
    SKIPPED,
    SOURCE_METADATA,
    Acknowledgement,
    AppModel,
    InputRead,
    Resource,
    Stack,
)

MANIFEST = "manifest.json"
VALIDATION_REPORT = "validation-report.json"
ACKNOWLEDGED_RULES_METADATA = "aws:cdk:acknowledged-rules"
LOGICAL_ID_METADATA = "aws:cdk:logicalId"
TEMPLATE_SUFFIXES = (".json", ".yaml", ".yml", ".template")
NESTED_STACK_TYPE = "AWS::CloudFormation::Stack"
TERRAFORM_TEXT_SUFFIXES = (".tf", ".tf.json", ".tfvars", ".tfvars.json")
#: Folders a recursive read never enters: Terraform's downloaded modules, npm packages, git's objects.
IGNORED_FOLDERS = frozenset({".terraform", "node_modules", ".git"})


class InputError(Exception):
    """Input that cannot be read as CloudFormation; the message names the file and the problem."""

    def __init__(self, path: Path | str, problem: str) -> None:
        super().__init__(f"{path}: {problem}")
        self.path = Path(path)
        self.problem = problem


def load_app(
    paths: Iterable[Path | str], *, account: str | None = None, region: str | None = None
) -> AppModel:
    """Load every path into one model. ``account``/``region`` apply to plain templates (no manifest).

    A folder is read as people keep them: recursively (never inside .terraform, node_modules or .git), a
    ``cdk.out`` in it as a cloud assembly, every Terraform folder and every CloudFormation template in it; a
    file that is no template is skipped with a note. The same file or folder given twice is read once.
    """
    reader = _Reader(account, region)
    for raw_path in paths:
        reader.read(Path(raw_path))
    return reader.app()


class _Reader:
    """Reads inputs into stacks, each once, and records what it read and what it skipped."""

    def __init__(self, account: str | None, region: str | None) -> None:
        self._account, self._region = account, region
        self.stacks: list[Stack] = []
        self.inputs: list[InputRead] = []
        self._read: set[Path] = set()
        self._found = 0  # inputs read (not skipped)

    def read(self, path: Path) -> None:
        if not path.exists():
            raise InputError(path, "no such file or directory")
        if path.is_dir() and (path / MANIFEST).exists():
            self._assembly(path)
        elif path.is_dir():
            self._folder(path)
        else:
            self._file(path)

    def app(self) -> AppModel:
        """The model of everything read; a Terraform folder another one calls as a local module is read
        through that call only (read on its own too, each of its findings would be reported twice)."""
        called = _called_module_folders(self.stacks)
        modules = [s for s in self.stacks if s.kind == "terraform" and s.template_path.resolve() in called]
        inputs = [
            InputRead(i.path, SKIPPED, "a local module, read through the configuration that calls it")
            if i.kind == "Terraform" and i.path.resolve() in called
            else i
            for i in self.inputs
        ]
        return AppModel([s for s in self.stacks if s not in modules], inputs=inputs)

    # --- one input of each kind -----------------------------------------------------------------------

    def _assembly(self, directory: Path) -> None:
        if self._first_time(directory):
            stacks = list(_load_assembly(directory))
            self._add(directory, stacks, "cloud assembly", _count(len(stacks), "stack"), origin=directory)

    def _terraform_folder(self, directory: Path) -> None:
        if self._first_time(directory):
            stack = _terraform(partial(terraform.load_directory, directory, self._region))
            self._add(directory, [stack], "Terraform", _count(len(stack.sources), "file"), origin=directory)

    def _file(self, path: Path) -> None:
        if not self._first_time(path) or path.parent.resolve() in self._read:
            return  # this file, or the Terraform folder it belongs to, was read already
        if path.suffix == ".tf" or path.name.endswith(".tf.json"):
            stack = _terraform(partial(terraform.load_directory, path.parent, self._region, only=path))
            self._add(path, [stack], "Terraform", "1 file", origin=path.parent)
        elif path.suffix == ".json" and terraform.is_plan(document := _read_json(path)):
            self._plan(path, document)
        elif path.suffix == ".json":
            self._template(_plain_stack(path, self._account, self._region, document))  # read once, above
        else:
            self._template(_plain_stack(path, self._account, self._region))

    def _plan(self, path: Path, document: Any) -> None:
        stack = _terraform(partial(terraform.load_plan, path, document, self._region))
        self._add(path, [stack], "Terraform plan", _count(len(stack.resources), "resource"), origin=path)

    def _template(self, stack: Stack) -> None:
        stacks = list(_with_nested(stack))
        detail = _count(len(stack.resources), "resource") + _nested_note(len(stacks) - 1)
        self._add(stack.template_path, stacks, "CloudFormation", detail, origin=stack.template_path.parent)

    # --- folders --------------------------------------------------------------------------------------

    def _folder(self, top: Path) -> None:
        found_before = self._found
        templates: list[Stack] = []
        for folder, files in _walk(top):
            if MANIFEST in {f.name for f in files}:
                self._assembly(folder)
                continue
            has_terraform = terraform.is_configuration_folder(folder)
            if has_terraform:
                self._terraform_folder(folder)
            for path in files:
                if path.suffix in TEMPLATE_SUFFIXES and not path.name.endswith(TERRAFORM_TEXT_SUFFIXES):
                    templates.extend(self._folder_file(path, has_terraform=has_terraform))
        self._templates_of_folders(templates)
        if self._found == found_before and top.resolve() not in self._read:
            raise InputError(
                top, f"no {MANIFEST} and no CloudFormation templates or Terraform files in this folder"
            )
        self._read.add(top.resolve())

    def _folder_file(self, path: Path, *, has_terraform: bool) -> Iterator[Stack]:
        """The file's stack when it is a template; a plan is read, anything else skipped with a note."""
        if path.resolve() in self._read:
            return
        try:
            document = _read_document(path)
        except InputError as error:
            if _looks_like_a_template(path):
                raise
            self._skip(path, _why_not_a_template(error.problem))
            return
        if document is None:
            raise InputError(path, "the file is empty")
        if terraform.is_plan(document):
            if has_terraform:
                self._skip(
                    path, "a Terraform plan beside its configuration, which was read from the .tf files"
                )
            else:
                self._first_time(path)
                self._plan(path, document)
        elif _uses_rain(path):
            self._skip(path, "uses Rain directives (!Rain::Module ...): scan what `rain pkg` makes of it")
        elif isinstance(document, Mapping) and isinstance(document.get("Resources"), Mapping):
            yield _plain_stack(path, self._account, self._region, document)
        else:
            self._skip(path, "not a CloudFormation template (no 'Resources' object)")

    def _templates_of_folders(self, stacks: list[Stack]) -> None:
        """Each template once; a nested stack's template only under its parent."""
        nested_files = {
            (stack.template_path.parent / str(r.metadata["aws:asset:path"])).resolve()
            for stack in stacks
            for r in stack.resources.values()
            if r.type == NESTED_STACK_TYPE and r.metadata.get("aws:asset:path")
        }
        for stack in stacks:
            if stack.template_path.resolve() not in nested_files and self._first_time(stack.template_path):
                self._template(stack)

    # --- bookkeeping ----------------------------------------------------------------------------------

    def _first_time(self, path: Path) -> bool:
        resolved = path.resolve()
        if resolved in self._read:
            return False
        self._read.add(resolved)
        return True

    def _add(self, path: Path, stacks: list[Stack], kind: str, detail: str, *, origin: Path) -> None:
        """Stacks of one input share its account context: an environment-agnostic stack is assumed to deploy
        beside the stacks of its own input, never beside another input's (see ``same_account``)."""
        for stack in stacks:
            stack.origin = str(origin.resolve())
        self.stacks.extend(stacks)
        self.inputs.append(InputRead(path=path, kind=kind, detail=detail))
        self._found += 1

    def _skip(self, path: Path, reason: str) -> None:
        self.inputs.append(InputRead(path=path, kind=SKIPPED, detail=reason))


def _walk(top: Path) -> Iterator[tuple[Path, list[Path]]]:
    """Every folder under ``top`` with its files, in order; a cloud assembly's insides are its own."""
    for folder, subfolders, names in os.walk(top):
        subfolders[:] = sorted(d for d in subfolders if d not in IGNORED_FOLDERS)
        if MANIFEST in names:
            subfolders[:] = []
        yield Path(folder), [Path(folder) / name for name in sorted(names)]


def _called_module_folders(stacks: Iterable[Stack]) -> set[Path]:
    """Folders whose blocks a Terraform configuration read as a local module (its resources' files)."""
    called: set[Path] = set()
    for stack in stacks:
        if stack.kind != "terraform":
            continue
        own = stack.template_path.resolve()
        own_folder = own.parent if own.is_file() else own
        called.update(path.parent for path in _recorded_files(stack) if path.parent != own_folder)
    return called


def _recorded_files(stack: Stack) -> set[Path]:
    """The files the stack's resources say they were written in, each resolved once (not once a resource)."""
    names = {
        str(source["file"])
        for resource in stack.resources.values()
        if isinstance(source := resource.metadata.get(SOURCE_METADATA), Mapping) and source.get("file")
    }
    return {Path(name).resolve() for name in names}


def _looks_like_a_template(path: Path) -> bool:
    """A file that says it is CloudFormation is an error when broken, never a file skipped."""
    text = path.read_text(encoding="utf-8", errors="replace")
    return (
        "AWSTemplateFormatVersion" in text
        or re.search(r'^(Resources:|\s*"Resources"\s*:)', text, re.M) is not None
    )


def _uses_rain(path: Path) -> bool:
    return "!Rain::" in path.read_text(encoding="utf-8", errors="replace")


def _why_not_a_template(problem: str) -> str:
    if "another document" in problem or "expected a single document" in problem:
        return "several YAML documents in one file (Kubernetes manifests?): not a CloudFormation template"
    return f"not a CloudFormation template ({problem})"


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"


def _nested_note(nested: int) -> str:
    return f", {_count(nested, 'nested stack')}" if nested else ""


def _terraform(load: Callable[[], Stack]) -> Stack:
    try:
        stack = load()
    except terraform.TerraformError as error:
        raise InputError(error.path, error.problem) from None
    stack.source_files = _terraform_sources(stack)
    return stack


def _terraform_sources(stack: Stack) -> list[Path]:
    """The files of a Terraform input, for rules that read text (KQ9): a plan's JSON; or the .tf file given,
    or every .tf and variable file of the folder, with the files of each local module it followed."""
    root = stack.template_path.resolve()
    if root.is_file() and root.suffix != ".tf":
        return [root]
    recorded = _recorded_files(stack)
    own_folder = root.parent if root.is_file() else root
    folders = {path.parent for path in recorded} - {own_folder} | ({root} if root.is_dir() else set())
    files = recorded | ({root} if root.is_file() else set())
    files.update(
        path.resolve()
        for folder in folders
        for path in folder.iterdir()
        if path.is_file() and path.name.endswith(TERRAFORM_TEXT_SUFFIXES)
    )
    return sorted(files)


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


def _plain_stack(path: Path, account: str | None, region: str | None, document: Any = None) -> Stack:
    """A template file as a stack; ``document`` when it was already read."""
    template, notes = _transformed(path, _read_document(path) if document is None else document)
    name = path.name.removesuffix(".template.json").removesuffix(".json").removesuffix(".yaml")
    stack = Stack(name=name, template_path=path, template=template, account=account, region=region)
    stack.notes.extend(notes)
    return stack


def _transformed(path: Path, document: Any) -> tuple[Mapping[str, Any], list[str]]:
    """A hand-written template as CloudFormation's transforms expand it (CDK writes none of these)."""
    try:
        expanded = cloudformation_transforms.expand(document)
    except cloudformation_transforms.TransformError as error:
        raise InputError(path, str(error)) from None
    return _as_template(path, expanded.template), [f"{path}: {note}" for note in expanded.notes]


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
    template, notes = _transformed(path, _read_document(path))
    return Stack(
        name=f"{parent.name}/{resource.logical_id}",
        template_path=path,
        template=template,
        notes=notes,
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
    """Whether a folder scan would read the file (a template or a Terraform plan); a broken file that says it is
    CloudFormation is an error, as in a folder scan."""
    try:
        document = _read_document(path)
    except InputError:
        if _looks_like_a_template(path):
            raise
        return False
    if terraform.is_plan(document):
        return True
    return isinstance(document, Mapping) and isinstance(document.get("Resources"), Mapping)
