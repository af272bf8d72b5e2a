"""Where a finding is in the source: file and line, for text, JSON and SARIF reports."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from key_quarantine.rules.base import Finding
from key_quarantine.rules.model import SOURCE_METADATA


@dataclass(frozen=True)
class SourceLocation:
    file: Path
    line: int | None


def source_location(finding: Finding) -> SourceLocation:
    """Where the rule saw it, else the Terraform block's file and line, or the template and the line where the resource or output starts."""
    if finding.source is not None:
        return SourceLocation(*finding.source)
    recorded = _recorded(finding)
    if recorded is not None:
        return recorded
    path = finding.stack.template_path
    return SourceLocation(path, _line_of_key(path, finding.logical_id) if path.is_file() else None)


def _recorded(finding: Finding) -> SourceLocation | None:
    holder: Any = finding.stack.resources.get(finding.logical_id)
    metadata = (
        holder.metadata
        if holder is not None
        else (finding.stack.outputs.get(finding.logical_id) or {}).get("Metadata", {})
    )
    source = metadata.get(SOURCE_METADATA) if isinstance(metadata, dict) else None
    if isinstance(source, dict) and source.get("file"):
        return SourceLocation(Path(source["file"]), source.get("line"))
    return None


_JSON_KEY = re.compile(r'"((?:[^"\\]|\\.)*)"\s*:')
_YAML_KEY = re.compile(r"^[ \t]*([^\s:#][^:#]*?)[ \t]*:(?:\s|$)")


def _line_of_key(path: Path, key: str) -> int | None:
    return _key_lines(path).get(key)


@lru_cache(maxsize=64)
def _key_lines(path: Path) -> dict[str, int]:
    """Each key's first line in the file, read once (one lookup a finding, whatever the template's size)."""
    pattern = _JSON_KEY if path.suffix == ".json" else _YAML_KEY
    lines: dict[str, int] = {}
    for number, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), start=1):
        for match in pattern.finditer(line):
            lines.setdefault(match.group(1), number)
    return lines


#: A frame of a CDK creation stack in the app's own code: ``new UsersStack (/app/lib/users.ts:7:5)``.
_USER_FRAME = re.compile(r"\((?P<file>[^()]+?):(?P<line>\d+):\d+\)$")
CREATION_STACK = "aws:cdk:creationStack"


def creation_location(finding: Finding) -> SourceLocation | None:
    """Where the app's own code created the construct, from the creation stack CDK records with ``--debug``
    (``CDK_DEBUG=true``) in a cloud assembly; None without one. A Python app's stacks hold only jsii's frames."""
    if not finding.construct_path:
        return None
    directory, template = finding.stack.template_path.parent, finding.stack.template_path.name
    frames = _creation_stacks(directory, template).get("/" + finding.construct_path.lstrip("/"), ())
    for frame in frames:
        match = _USER_FRAME.search(frame)
        if match and "node_modules" not in match["file"] and not match["file"].startswith("node:"):
            return SourceLocation(Path(match["file"]), int(match["line"]))
    return None


@lru_cache(maxsize=64)
def _creation_stacks(directory: Path, template: str) -> dict[str, tuple[str, ...]]:
    """Construct path -> creation stack, for the stack of ``template`` in the assembly at ``directory``."""
    manifest = _json(directory / "manifest.json")
    artifacts = manifest.get("artifacts", {}) if isinstance(manifest, dict) else {}
    for artifact in artifacts.values():
        if artifact.get("properties", {}).get("templateFile") != template:
            continue
        metadata = dict(artifact.get("metadata") or {})
        if artifact.get("additionalMetadataFile"):
            metadata.update(_json(directory / artifact["additionalMetadataFile"]) or {})
        return {
            path: tuple(entry["data"])
            for path, entries in metadata.items()
            for entry in entries
            if entry.get("type") == CREATION_STACK and isinstance(entry.get("data"), list)
        }
    return {}


def _json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return (
            None  # not an assembly, or not one we can read: no creation stacks, the template location stands
        )
