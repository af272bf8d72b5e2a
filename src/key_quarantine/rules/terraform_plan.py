"""``terraform show -json PLAN`` into the same ``Configuration`` a folder of ``.tf`` files gives.

Known values win: an attribute the plan knows (``planned_values``, data sources read at plan time in
``prior_state``) is taken as planned; only what is unknown until apply (``after_unknown``, or absent) is read from
the configuration's references, in the module instance it belongs to. Module variables are the expressions of
the call, so a root output fed by a module output, or a module resource fed by the caller, resolves as in HCL.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from key_quarantine.rules.terraform import TerraformError
from key_quarantine.rules.terraform_expressions import Computed, Env, Known, ModuleInstance
from key_quarantine.rules.terraform_modules import Configuration, TerraformResource

PLAN_MAJOR_VERSION = "1"
_INSTANCE_KEY = re.compile(r"\[[^\]]*\]")
_TRAILING_KEY = re.compile(r"^(?P<base>.*?)(?P<suffix>\[[^\]]*\])?$")


def read_plan(path: Path, document: Mapping[str, Any]) -> Configuration:
    version = str(document.get("format_version", ""))
    if version.split(".", maxsplit=1)[0] != PLAN_MAJOR_VERSION:
        raise TerraformError(
            path, f"plan format_version {version!r} is not supported (expected {PLAN_MAJOR_VERSION}.x)"
        )
    settings = document.get("configuration") or {}
    root_config = settings.get("root_module") or {}
    configuration = Configuration(root=path.parent, region=_plan_region(settings))
    root = ModuleInstance(prefix="", directory=path.parent, root=path.parent)
    configuration.root_module = root
    unknown_after = {
        str(change.get("address")): (change.get("change") or {}).get("after_unknown") or {}
        for change in document.get("resource_changes") or []
        if isinstance(change, Mapping)
    }
    planned = (document.get("planned_values") or {}).get("root_module") or {}
    prior = ((document.get("prior_state") or {}).get("values") or {}).get("root_module") or {}
    reader = _PlanReader(configuration, root_config, unknown_after)
    for resource in [*_resources(planned), *(r for r in _resources(prior) if r.get("mode") == "data")]:
        reader.resource(resource, path)
    for name, output in (root_config.get("outputs") or {}).items():
        configuration.outputs[name] = (_expression(output.get("expression")), path, None)
    return configuration


class _PlanReader:
    def __init__(
        self, configuration: Configuration, root_config: Mapping[str, Any], unknown_after: Mapping[str, Any]
    ) -> None:
        self._configuration = configuration
        self._root_config = root_config
        self._unknown_after = unknown_after

    def resource(self, planned: Mapping[str, Any], path: Path) -> None:
        address = str(planned.get("address", ""))
        if not address or address in self._configuration.resources:
            return
        module_address = str(planned.get("module_address") or _module_of(address))
        module = self._module(module_address)
        config = self._resource_config(module_address, planned)
        values = self._values(planned, config, self._unknown_after.get(address) or {})
        mode = "data" if planned.get("mode") == "data" else "managed"
        match = _TRAILING_KEY.match(address)
        base, suffix = (match["base"], match["suffix"] or "") if match else (address, "")
        self._configuration.instances.setdefault(base, {})[suffix] = address
        self._configuration.resources[address] = TerraformResource(
            address, str(planned.get("type")), values, path, None, Env(module), mode=mode
        )

    def _values(
        self, planned: Mapping[str, Any], config: Mapping[str, Any], after_unknown: Any
    ) -> dict[str, Any]:
        known = planned.get("values") or {}
        sensitive = planned.get("sensitive_values") or {}
        expressions = config.get("expressions") or {}
        values: dict[str, Any] = {}
        for name in dict.fromkeys([*known, *expressions]):
            unknown_here = isinstance(after_unknown, Mapping) and _any_true(after_unknown.get(name))
            if name in known and known[name] is not None and not unknown_here:
                values[name] = Known(known[name])
            elif name in expressions:
                values[name] = _expression(expressions[name], sensitive=_any_true(sensitive.get(name)))
            elif name in known:
                values[name] = Known(known[name])
        return values

    def _module(self, module_address: str) -> ModuleInstance:
        """The module instance at ``module.a["x"].module.b``, made with its caller's expressions on first use."""
        if module_address == "":
            assert self._configuration.root_module is not None  # noqa: S101 - read_plan sets it first
            return self._configuration.root_module
        parent_address, _, last = module_address.rpartition(".module.")
        if not _:
            parent_address, last = "", module_address.removeprefix("module.")
        match = _TRAILING_KEY.match(last)
        name, suffix = (match["base"], match["suffix"] or "") if match else (last, "")
        base = f"{parent_address + '.' if parent_address else ''}module.{name}"
        existing = self._configuration.modules.get(base, {}).get(suffix)
        if existing is not None:
            return existing
        parent = self._module(parent_address)
        call = ((self._config_of(parent_address).get("module_calls") or {}).get(name)) or {}
        child = ModuleInstance(
            prefix=f"{module_address}.",
            directory=parent.directory,
            root=parent.root,
            variables={
                key: (_expression(expression), Env(parent))
                for key, expression in (call.get("expressions") or {}).items()
            },
        )
        module_config = call.get("module") or {}
        child.outputs = {
            key: _expression(output.get("expression"))
            for key, output in (module_config.get("outputs") or {}).items()
        }
        self._configuration.modules.setdefault(base, {})[suffix] = child
        return child

    def _config_of(self, module_address: str) -> Mapping[str, Any]:
        config = self._root_config
        for name in _INSTANCE_KEY.sub("", module_address).split("."):
            if name and name != "module":
                config = ((config.get("module_calls") or {}).get(name) or {}).get("module") or {}
        return config

    def _resource_config(self, module_address: str, planned: Mapping[str, Any]) -> Mapping[str, Any]:
        prefix = "data." if planned.get("mode") == "data" else ""
        wanted = f"{prefix}{planned.get('type')}.{planned.get('name')}"
        resources = self._config_of(module_address).get("resources") or []
        return next((r for r in resources if isinstance(r, Mapping) and r.get("address") == wanted), {})


def _expression(expression: Any, *, sensitive: bool = False) -> Any:
    """A configuration expression (``constant_value`` or ``references``, nested for blocks) as a raw value.

    ``sensitive``: the planned value is marked sensitive, so a whole access key it references (``join(",",
    aws_iam_access_key.k[*].secret)`` is recorded as ``aws_iam_access_key.k``) stands for its secret.
    """
    if isinstance(expression, list):
        return [_expression(item, sensitive=sensitive) for item in expression]
    if not isinstance(expression, Mapping):
        return None
    if expression.get("references"):  # before constant_value: JSON syntax gives its template text as both
        references = _most_specific(expression["references"])
        if sensitive:
            references = [_secret_of_whole_key(reference) for reference in references]
        return Computed("(configuration expression)", tuple(f"${{{reference}}}" for reference in references))
    if "constant_value" in expression:
        return Known(expression["constant_value"])
    return {key: _expression(value, sensitive=sensitive) for key, value in expression.items()}


def _secret_of_whole_key(reference: str) -> str:
    parts = reference.split(".")
    return f"{reference}.secret" if len(parts) == 2 and parts[0] == "aws_iam_access_key" else reference  # noqa: PLR2004


def _most_specific(references: list[str]) -> list[str]:
    """Terraform lists each reference with its shorter forms after it (``a.b.c``, ``a.b``): keep the longest."""
    kept: list[str] = []
    for reference in references:
        if not any(
            other == reference or other.startswith((reference + ".", reference + "[")) for other in kept
        ):
            kept.append(reference)
    return kept


def _resources(module: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    yield from module.get("resources") or []
    for child in module.get("child_modules") or []:
        yield from _resources(child)


def _module_of(address: str) -> str:
    parts = address.split(".")
    module_parts = []
    index = 0
    while index < len(parts) - 1 and parts[index] == "module":
        module_parts.extend(parts[index : index + 2])
        index += 2
    return ".".join(module_parts)


def _any_true(value: Any) -> bool:
    if isinstance(value, Mapping):
        return any(_any_true(item) for item in value.values())
    if isinstance(value, list):
        return any(_any_true(item) for item in value)
    return value is True


def _plan_region(configuration: Mapping[str, Any]) -> str | None:
    aws = (configuration.get("provider_config") or {}).get("aws") or {}
    value = ((aws.get("expressions") or {}).get("region") or {}).get("constant_value")
    return value if isinstance(value, str) else None
