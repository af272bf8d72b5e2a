"""Watch AWS's quarantine policy family: a new version or a whole new policy, with what it now denies.

AWS has added versions (V2 v1..v5, V3 v1..v3) and whole policies (V2, V3, V4) without notice. The daily sweep
compares the account's view of every ``AWSCompromisedKeyQuarantine*`` policy with the documents this package
ships, and says what changed; ``key-quarantine policies --refresh DIR`` saves the new documents.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from key_quarantine import data
from key_quarantine.handlers.aws import Aws

WATCH_ACTIONS = ("iam:ListPolicies", "iam:GetPolicyVersion")


@dataclass(frozen=True)
class PolicyVersion:
    name: str
    version_id: str
    actions: tuple[str, ...]
    document: dict[str, Any] | None = None
    created: str | None = None
    complete: bool = True  # False: only part of the document is known (V4), so the account's copy is news


@dataclass(frozen=True)
class PolicyChange:
    name: str
    known_version: str | None  # None: a policy this package has never seen
    current_version: str
    added: tuple[str, ...]
    removed: tuple[str, ...]

    def describe(self) -> str:
        if self.known_version is None:
            return f"new policy {self.name} ({self.current_version}) denies {len(self.added)} actions"
        change = f"{self.name} moved from {self.known_version} to {self.current_version}"
        return f"{change}: +{len(self.added)} {list(self.added)[:10]} -{len(self.removed)} {list(self.removed)[:10]}"

    def as_json(self) -> dict[str, Any]:
        return {
            "policy": self.name,
            "known_version": self.known_version,
            "current_version": self.current_version,
            "added_actions": list(self.added),
            "removed_actions": list(self.removed),
        }


def known_versions() -> dict[str, PolicyVersion]:
    """The newest document of each policy shipped in ``data/quarantine_policies``."""
    return newest(
        PolicyVersion(v.policy_name, v.version_id, v.denied_actions, created=v.created, complete=v.complete)
        for v in data.quarantine_policy_versions()
    )


def newest(versions: Iterable[PolicyVersion]) -> dict[str, PolicyVersion]:
    """Each policy's newest version; of two records of one version, the whole document over a partial one."""
    found: dict[str, PolicyVersion] = {}
    for version in versions:
        current = found.get(version.name)
        if current is None or _rank(version) > _rank(current):
            found[version.name] = version
    return found


def _rank(version: PolicyVersion) -> tuple[int, bool]:
    return _version_number(version.version_id), version.complete


def current_versions(aws: Aws) -> dict[str, PolicyVersion]:
    """Every AWS managed policy named AWSCompromisedKeyQuarantine*, at its default version, as the account sees it."""
    iam = aws.iam
    found: dict[str, PolicyVersion] = {}
    for page in iam.get_paginator("list_policies").paginate(Scope="AWS"):
        for policy in page["Policies"]:
            if not policy["PolicyName"].startswith(data.QUARANTINE_POLICY_NAME_PREFIX):
                continue
            version = iam.get_policy_version(PolicyArn=policy["Arn"], VersionId=policy["DefaultVersionId"])[
                "PolicyVersion"
            ]
            document = version["Document"]
            document = json.loads(document) if isinstance(document, str) else document
            created = version.get("CreateDate")
            found[policy["PolicyName"]] = PolicyVersion(
                policy["PolicyName"],
                version["VersionId"],
                data.denied_actions(document),
                document,
                created.isoformat() if isinstance(created, datetime) else created,
            )
    return found


def compare(known: dict[str, PolicyVersion], current: dict[str, PolicyVersion]) -> list[PolicyChange]:
    changes = []
    for name, now in sorted(current.items()):
        before = known.get(name)
        if before is not None and before.version_id == now.version_id and before.complete:
            continue
        previous = set(before.actions) if before else set()
        changes.append(
            PolicyChange(
                name,
                before.version_id if before else None,
                now.version_id,
                tuple(sorted(set(now.actions) - previous)),
                tuple(sorted(previous - set(now.actions))),
            )
        )
    return changes


def watch(aws: Aws) -> tuple[dict[str, PolicyVersion], list[PolicyChange]]:
    current = current_versions(aws)
    return current, compare(known_versions(), current)


def save(current: dict[str, PolicyVersion], folder: Path) -> list[Path]:
    """Write each policy's default version in the `aws iam get-policy-version` format, as the package ships them."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for version in current.values():
        path = folder / f"{version.name}.json"
        envelope = {
            "PolicyVersion": {
                "Document": version.document,
                "VersionId": version.version_id,
                "IsDefaultVersion": True,
                "CreateDate": version.created,
            }
        }
        path.write_text(json.dumps(envelope, indent=4) + "\n", encoding="utf-8")
        written.append(path)
    return written


def _version_number(version_id: str) -> int:
    digits = version_id.lstrip("v")
    return int(digits) if digits.isdigit() else 0
