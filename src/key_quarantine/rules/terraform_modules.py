"""A Terraform configuration read as Terraform instantiates it: every module call, and every instance of a
resource or module that ``count``/``for_each`` decide, each with the variables its caller passed.

Local modules (``./``, ``../``) are read from their folder; registry and git modules from the folder
``terraform init`` recorded in ``.terraform/modules/modules.json``. A call that cannot be followed is a note
(the report says so), never silently nothing. Addresses are Terraform's: ``module.a["x"].aws_iam_user.u[0]``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from key_quarantine.rules.model import Acknowledgement
from key_quarantine.rules.terraform import TerraformError, configuration_files
from key_quarantine.rules.terraform_expressions import (
    Env,
    Evaluator,
    ModuleInstance,
    References,
    instance_suffix,
    is_intrinsic,
)
from key_quarantine.rules.terraform_json import TerraformJsonError, read_json_configuration

if TYPE_CHECKING:
    from key_quarantine.rules import hcl

MAX_MODULE_DEPTH = 12  # modules nest a few levels; deeper is a module calling itself
MODULES_MANIFEST = Path(".terraform") / "modules" / "modules.json"
#: Block attributes that steer Terraform, not the resource.
META_ARGUMENTS = {"count", "for_each", "depends_on", "lifecycle", "provider", "provisioner", "connection"}
_ACKNOWLEDGE = re.compile(
    r"key-quarantine:acknowledge\s+(?P<rule>(?:KeyQuarantine::)?KQ\d+)\s+(?P<reason>\S.*?)\s*$"
)


@dataclass
class TerraformResource:
    address: str
    type: str
    values: dict[str, Any]
    file: Path | None = None
    line: int | None = None
    env: Env | None = None
    conditional: bool = False  # count/for_each not decided by the configuration
    mode: str = "managed"  # or "data"
    acknowledgements: list[Acknowledgement] = field(default_factory=list)


@dataclass
class SourceFile:
    path: Path
    body: Mapping[str, Any]
    lines: Mapping[tuple[str, ...], int]
    text_lines: list[str]


@dataclass
class Configuration:
    """Everything one root module instantiates."""

    root: Path
    region: str | None = None
    resources: dict[str, TerraformResource] = field(default_factory=dict)
    instances: dict[str, dict[str, str]] = field(default_factory=dict)  # base address -> suffix -> address
    modules: dict[str, dict[str, ModuleInstance]] = field(
        default_factory=dict
    )  # base prefix -> suffix -> ...
    outputs: dict[str, tuple[Any, Path, int | None]] = field(default_factory=dict)
    root_module: ModuleInstance | None = None
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _Declared:
    """A ``resource`` or ``data`` block as written."""

    kind: str
    type: str
    name: str
    values: Mapping[str, Any]


class Reader:
    """Reads a root folder (or one file of it) and the modules it calls."""

    def __init__(self, references: References) -> None:
        self._evaluator = Evaluator(references)
        self._files: dict[Path, SourceFile] = {}  # a module called 300 times is parsed once

    def _source(self, path: Path) -> SourceFile:
        if path not in self._files:
            self._files[path] = _read_file(path)
        return self._files[path]

    def read(self, directory: Path, configuration: Configuration, only: Path | None = None) -> None:
        module = ModuleInstance(prefix="", directory=directory, root=directory)
        configuration.root_module = module
        module.variables = {name: (value, None) for name, value in _tfvars(directory).items()}
        self._instantiate(module, configuration, [only] if only else None, call_path="", depth=0)

    def _instantiate(
        self,
        module: ModuleInstance,
        configuration: Configuration,
        files: list[Path] | None,
        *,
        call_path: str,
        depth: int,
    ) -> None:
        sources = [self._source(path) for path in files or configuration_files(module.directory)]
        for source in sources:
            self._declarations(source, module)
        env = Env(module)
        for source in sources:
            if module.prefix == "":
                configuration.region = configuration.region or _provider_region(source.body)
            for kind in ("resource", "data"):
                for block in source.body.get(kind, []):
                    for resource_type, named in _items(block):
                        for name, values in _items(named):
                            declared = _Declared(kind, resource_type, name, _mapping(values))
                            self._resource(source, declared, env, configuration)
            for block in source.body.get("output", []):
                for name, values in _items(block):
                    if module.prefix == "":
                        configuration.outputs[name] = (
                            _get(values, "value"),
                            source.path,
                            source.lines.get(("output", name)),
                        )
            for block in source.body.get("module", []):
                for name, values in _items(block):
                    self._call(source, name, values, env, configuration, call_path=call_path, depth=depth)

    def _declarations(self, source: SourceFile, module: ModuleInstance) -> None:
        for block in source.body.get("variable", []):
            for name, values in _items(block):
                if isinstance(values, Mapping) and "default" in values:
                    module.defaults[name] = values["default"]
        for block in source.body.get("locals", []):
            module.locals.update(block if isinstance(block, Mapping) else {})
        for block in source.body.get("output", []):
            for name, values in _items(block):
                module.outputs[name] = _get(values, "value")

    def _resource(
        self, source: SourceFile, declared: _Declared, env: Env, configuration: Configuration
    ) -> None:
        mode = "data" if declared.kind == "data" else "managed"
        base = f"{env.module.prefix}{'data.' if mode == 'data' else ''}{declared.type}.{declared.name}"
        line = source.lines.get((declared.kind, declared.type, declared.name))
        body = {key: value for key, value in declared.values.items() if key not in META_ARGUMENTS}
        instances = configuration.instances.setdefault(base, {})
        for suffix, instance_env, conditional in self.instances(declared.values, env):
            address = base + suffix
            instances[suffix] = address
            resource = TerraformResource(
                address, declared.type, body, source.path, line, instance_env, conditional, mode
            )
            resource.acknowledgements = _acknowledgements(source.text_lines, line, address)
            configuration.resources[address] = resource

    def instances(self, values: Mapping[str, Any], env: Env) -> Iterator[tuple[str, Env, bool]]:
        """(address suffix, env of the instance, whether it may not exist) for each instance of a block."""
        if "count" in values:
            count = self._evaluator.convert(values["count"], env)
            if isinstance(count, bool):
                count = int(count)
            if isinstance(count, int):
                for index in range(count):
                    yield instance_suffix(index), Env(env.module, count=index), False
                return
            yield "", env, True
        elif "for_each" in values:
            each = self._evaluator.convert(values["for_each"], env)
            if isinstance(each, Mapping) and not is_intrinsic(each):  # keys decide; values may be unknown
                for key, value in each.items():
                    yield instance_suffix(key), Env(env.module, each=(key, value)), False
                return
            if isinstance(each, list) and all(isinstance(item, str) for item in each):
                for item in dict.fromkeys(each):
                    yield instance_suffix(item), Env(env.module, each=(item, item)), False
                return
            yield "", env, True
        else:
            yield "", env, False

    def _call(
        self,
        source: SourceFile,
        name: str,
        values: Any,
        env: Env,
        configuration: Configuration,
        *,
        call_path: str,
        depth: int,
    ) -> None:
        values = _mapping(values)
        key_path = f"{call_path}.{name}" if call_path else name
        directory = _module_directory(source.path.parent, values.get("source"), configuration.root, key_path)
        where = f"module.{name} (source {values.get('source')!r}, {source.path}"
        line = source.lines.get(("module", name))
        where += f":{line})" if line else ")"
        if directory is None:
            configuration.notes.append(
                f"{where} was not followed: it is not a local folder and no .terraform/modules/modules.json "
                "names its folder (run terraform init, then scan again)."
            )
            return
        if depth >= MAX_MODULE_DEPTH or not directory.is_dir():
            configuration.notes.append(f"{where} was not followed: its folder {directory} cannot be read.")
            return
        base = f"{env.module.prefix}module.{name}"
        passed = {
            key: value for key, value in values.items() if key not in META_ARGUMENTS | {"source", "version"}
        }
        for suffix, call_env, conditional in self.instances(values, env):
            if conditional:
                configuration.notes.append(
                    f"{where}: count/for_each is not decided by the configuration; read as one instance "
                    "that may not exist."
                )
            child = ModuleInstance(
                prefix=f"{base}{suffix}.",
                directory=directory,
                root=configuration.root,
                variables={key: (value, call_env) for key, value in passed.items()},
            )
            configuration.modules.setdefault(base, {})[suffix] = child
            self._instantiate(child, configuration, None, call_path=key_path, depth=depth + 1)
            if conditional:
                for resource in configuration.resources.values():
                    if resource.address.startswith(child.prefix):
                        resource.conditional = True


def _read_file(path: Path) -> SourceFile:
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise TerraformError(path, "not text (UTF-8)") from None
    except OSError as error:
        raise TerraformError(path, f"cannot be read ({error.strerror})") from None
    if path.name.endswith(".tf.json"):
        try:
            body, lines = read_json_configuration(text)
        except TerraformJsonError as error:
            raise TerraformError(path, f"not valid Terraform JSON: {error}") from None
        return SourceFile(path, body, lines, text.splitlines())
    document = _parse_hcl(path, text)
    return SourceFile(path, document.body, document.lines, text.splitlines())


def _parse_hcl(path: Path, text: str) -> hcl.Document:
    # tree-sitter loads on the first .tf file: CloudFormation scans and CDK synths never pay for it
    from key_quarantine.rules import hcl  # noqa: PLC0415

    try:
        return hcl.parse(text)
    except hcl.HclSyntaxError as error:
        raise TerraformError(path, f"not valid HCL: {error}") from None


def _tfvars(directory: Path) -> dict[str, Any]:
    """What Terraform reads without being asked: terraform.tfvars(.json), then *.auto.tfvars(.json)."""
    found: dict[str, Any] = {}
    names = ["terraform.tfvars", "terraform.tfvars.json"]
    paths = [directory / name for name in names] + sorted(directory.glob("*.auto.tfvars*"))
    for path in paths:
        if not path.is_file():
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        if path.suffix == ".json":
            try:
                loaded = json.loads(text)
            except json.JSONDecodeError as error:
                raise TerraformError(path, f"not valid JSON (line {error.lineno}: {error.msg})") from None
            found.update(loaded if isinstance(loaded, Mapping) else {})
        else:
            found.update(_parse_hcl(path, text).body)
    return found


def _acknowledgements(lines: list[str], line: int | None, address: str) -> list[Acknowledgement]:
    """``# key-quarantine:acknowledge KQn reason`` on the block's first line or the comment lines above it."""
    if line is None or line > len(lines):
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


def _module_directory(caller: Path, source: Any, root: Path, key_path: str) -> Path | None:
    if not isinstance(source, str):
        return None
    if source.startswith(("./", "../")):
        return (caller / source).resolve()
    manifest = root / MODULES_MANIFEST
    if not manifest.is_file():
        return None
    try:
        modules = json.loads(manifest.read_text(encoding="utf-8")).get("Modules") or []
    except (json.JSONDecodeError, AttributeError, UnicodeDecodeError):
        return None
    for entry in modules:
        if isinstance(entry, Mapping) and entry.get("Key") == key_path and isinstance(entry.get("Dir"), str):
            return (root / str(entry["Dir"])).resolve()
    return None


def _provider_region(body: Mapping[str, Any]) -> str | None:
    for block in body.get("provider", []):
        aws = _get(block, "aws")
        for config in aws if isinstance(aws, list) else [aws]:
            region = _get(config, "region")
            if isinstance(region, str) and "${" not in region:
                return region
    return None


def _items(block: Any) -> Iterator[tuple[str, Any]]:
    if isinstance(block, Mapping):
        yield from block.items()


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _get(value: Any, key: str) -> Any:
    return value.get(key) if isinstance(value, Mapping) else None
