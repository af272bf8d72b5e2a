"""KQ9: an access key id and its secret written literally in the IaC: already leaked to every reader of the repository.

Read from the text of every file an input was made from (templates, ``.tf``, ``.tfvars``), so a key in a
heredoc, a variable default, a tfvars file or a resource type the model does not know is found all the same.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from key_quarantine.rules.base import Finding, Level, Rule, RuleContext
from key_quarantine.rules.model import Stack

#: Long-term (AKIA) and session (ASIA) key ids: 20 characters of upper-case letters and digits.
KEY_ID = re.compile(r"(?<![A-Z0-9])(?:AKIA|ASIA)[A-Z0-9]{16}(?![A-Z0-9])")
#: A secret access key: 40 base64 characters (mixed case, with digits or / or +), not part of a longer token.
SECRET = re.compile(r"(?<![A-Za-z0-9/+])[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+=])")
#: How far from the id a secret counts as "beside it" (a few lines of YAML, HCL or pretty-printed JSON).
NEARBY_CHARACTERS = 500
#: AWS's documentation marks its example keys so (AKIAIOSFODNN7EXAMPLE, wJalr...EXAMPLEKEY): not credentials.
PLACEHOLDER_MARK = "EXAMPLE"
SHOWN_SECRET_CHARACTERS = 4


def check(context: RuleContext) -> Iterator[Finding]:
    seen: set[tuple[Path, str]] = set()
    for stack in context.app.stacks:
        for path in stack.sources:
            for key_id, secret, line in literal_keys(_text(path)):
                if (path.resolve(), key_id) not in seen:
                    seen.add((path.resolve(), key_id))
                    yield _finding(stack, path, line, key_id, secret)


def literal_keys(text: str) -> Iterator[tuple[str, str, int]]:
    """Each (key id, secret, line of the id) whose secret is written beside its id."""
    if "AKIA" not in text and "ASIA" not in text:
        return
    for match in KEY_ID.finditer(text):
        if PLACEHOLDER_MARK in match.group():
            continue
        secret = _nearest_secret(text, match.start(), match.end())
        if secret is not None:
            yield match.group(), secret, text.count("\n", 0, match.start()) + 1


def mask(secret: str) -> str:
    """All but the last four characters hidden: enough to recognise the secret, never enough to use it."""
    hidden = len(secret) - SHOWN_SECRET_CHARACTERS
    return "*" * hidden + secret[hidden:]


def _nearest_secret(text: str, start: int, end: int) -> str | None:
    window_start = max(0, start - NEARBY_CHARACTERS)
    window = text[window_start : end + NEARBY_CHARACTERS]
    candidates = [
        m for m in SECRET.finditer(window) if _looks_random(m.group()) and _outside(m, start - window_start)
    ]
    if not candidates:
        return None
    nearest = min(candidates, key=lambda m: abs(m.start() + window_start - start))
    return nearest.group()


def _looks_random(candidate: str) -> bool:
    """Upper and lower case and a digit or symbol, as in every real secret (a hex digest or a word has not)."""
    return (
        PLACEHOLDER_MARK not in candidate
        and any(c.islower() for c in candidate)
        and any(c.isupper() for c in candidate)
        and any(c.isdigit() or c in "/+" for c in candidate)
    )


def _outside(candidate: re.Match[str], id_start: int) -> bool:
    """The candidate is not the id itself (an id is 20 characters, a secret 40; the id never overlaps it)."""
    return candidate.end() <= id_start or candidate.start() >= id_start + 20


def _finding(stack: Stack, path: Path, line: int, key_id: str, secret: str) -> Finding:
    message = (
        f"The access key {key_id} and its secret access key ({mask(secret)}) are written in {path.name} "
        f"(line {line}): everyone who can read the repository, the template or its history holds a working "
        "credential."
    )
    source = (path, line)
    if stack.kind == "terraform":
        logical_id, resource_type, location = _terraform_place(path, line)
    else:
        logical_id, resource_type, location = _value_path(stack, key_id) or (
            path.name,
            "File",
            f"line {line}",
        )
    resource = stack.resources.get(logical_id)
    if resource is not None:
        return RULE.finding(resource, message, location=location, source=source)
    return _unplaced(
        stack,
        logical_id=logical_id,
        resource_type=resource_type,
        location=location,
        message=message,
        source=source,
    )


def _unplaced(
    stack: Stack,
    *,
    logical_id: str,
    resource_type: str,
    location: str,
    message: str,
    source: tuple[Path, int],
) -> Finding:
    return Finding(
        rule_id=RULE.id,
        level=RULE.level,
        stack=stack,
        logical_id=logical_id,
        resource_type=resource_type,
        construct_path=stack.construct_paths.get(logical_id),
        message=message,
        location=location,
        source=source,
    )


_SECTIONS = (
    ("Resources", "Properties", None),
    ("Parameters", "Default", "AWS::CloudFormation::Parameter"),
    ("Outputs", "Value", "AWS::CloudFormation::Output"),
)


def _value_path(stack: Stack, key_id: str) -> tuple[str, str, str] | None:
    """(logical id, type, location) of the first template value that holds the id."""
    for section, part, entry_type in _SECTIONS:
        for name, body in _mapping(stack.template.get(section)).items():
            found = _path_to(_mapping(body).get(part), key_id, f"{section}/{name}/{part}")
            if found is not None:
                resource_type = entry_type or str(_mapping(body).get("Type", ""))
                location = found.removeprefix(f"{section}/{name}/") if section == "Resources" else found
                return name, resource_type, location
    return None


def _path_to(value: Any, needle: str, path: str) -> str | None:
    if isinstance(value, str):
        return path if needle in value else None
    items: Any = (
        value.items() if isinstance(value, Mapping) else enumerate(value) if isinstance(value, list) else ()
    )
    for key, item in items:
        found = _path_to(item, needle, f"{path}/{key}")
        if found is not None:
            return found
    return None


def _terraform_place(path: Path, line: int) -> tuple[str, str, str]:
    """(address, kind, location) of the Terraform block the line is in, or the variable a tfvars line sets."""
    lines = _text(path).splitlines()[:line]
    if ".tfvars" in path.name:
        assigned = _TFVARS_ASSIGNMENT.match(lines[-1]) if lines else None
        return (f"var.{assigned['name']}" if assigned else path.name), "Terraform variable", f"line {line}"
    for text in reversed(lines):
        block = _HCL_BLOCK.match(text)
        if block:
            labels = [label for label in (block["first"], block["second"]) if label]
            kind = block["kind"]
            address = (
                ".".join(labels)
                if kind == "resource"
                else ".".join([_ADDRESS_PREFIX.get(kind, kind), *labels])
            )
            return address, f"Terraform {kind}", f"line {line}"
    return path.name, "File", f"line {line}"


_HCL_BLOCK = re.compile(r'^(?P<kind>[a-z_]+)(?:\s+"(?P<first>[^"]+)")?(?:\s+"(?P<second>[^"]+)")?\s*\{')
_TFVARS_ASSIGNMENT = re.compile(r"^\s*(?P<name>[A-Za-z_][\w-]*)\s*=")
_ADDRESS_PREFIX = {"variable": "var", "data": "data", "module": "module", "output": "output"}


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""  # the loader has read (or rejected) every file already


RULE = Rule(
    id="KQ9",
    level=Level.ERROR,
    name="Access key written in the code",
    info="An access key id and its secret access key are written literally in the infrastructure code.",
    explanation=(
        "A key in a template, a variable default, a tfvars file or a heredoc is leaked to everyone who can read "
        "the repository, its history, its forks and the deployed template; scanners of public code find such "
        "keys within minutes. Deactivate the key now (key-quarantine contain --access-key-id ID), then delete it, "
        "and pass credentials at deploy time instead: an IAM role, a Secrets Manager reference "
        "({{resolve:secretsmanager:...}}) or the provider's environment. Removing the line does not remove it "
        "from the history. AWS's documented example keys (ids ending in EXAMPLE) are ignored."
    ),
    check=check,
)
