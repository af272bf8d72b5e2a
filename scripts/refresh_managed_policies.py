"""Refresh src/key_quarantine/rules/aws_managed_policies.tsv.gz: what each AWS managed policy allows and denies.

    .venv/bin/python scripts/refresh_managed_policies.py                       # from moto's bundled copy
    aws iam get-account-authorization-details --filter AWSManagedPolicy > details.json
    .venv/bin/python scripts/refresh_managed_policies.py details.json          # from AWS itself

Each policy keeps only the parts permissions.py reads (Effect, Action/NotAction, Resource/NotResource) of its
default version. One line a policy, ``ARN<TAB>{"Statement": [...]}``, after a first line that says where and
when it came from: a scan reads the one line it needs (the file is kept beside the rules, not in data/, so the
Lambda asset does not carry it).
"""

from __future__ import annotations

import datetime
import gzip
import json
import sys
from pathlib import Path
from typing import Any

# ruff: noqa: T201 - a developer's script: it says what it wrote

OUTPUT = (
    Path(__file__).resolve().parents[1] / "src" / "key_quarantine" / "rules" / "aws_managed_policies.tsv.gz"
)
KEPT = ("Effect", "Action", "NotAction", "Resource", "NotResource")


def from_moto() -> tuple[str, dict[str, Any]]:
    import moto  # noqa: PLC0415 - a dev dependency, only for this source
    from moto.iam.aws_managed_policies import aws_managed_policies_data  # noqa: PLC0415

    policies = json.loads(aws_managed_policies_data)
    documents = {
        f"arn:aws:iam::aws:policy{policy.get('Path', '/')}{name}": policy["Document"]
        for name, policy in policies.items()
    }
    return f"moto {moto.__version__}", documents


def from_authorization_details(path: Path) -> tuple[str, dict[str, Any]]:
    details = json.loads(path.read_text(encoding="utf-8"))
    documents = {}
    for policy in details.get("Policies", []):
        default = next(v for v in policy["PolicyVersionList"] if v.get("IsDefaultVersion"))
        document = default["Document"]
        documents[policy["Arn"]] = json.loads(document) if isinstance(document, str) else document
    return f"iam:GetAccountAuthorizationDetails ({path.name})", documents


def compact(document: Any) -> list[dict[str, Any]]:
    statements = document.get("Statement", []) if isinstance(document, dict) else []
    statements = [statements] if isinstance(statements, dict) else statements
    return [{key: s[key] for key in KEPT if key in s} for s in statements if isinstance(s, dict)]


def main() -> None:
    source, documents = from_authorization_details(Path(sys.argv[1])) if sys.argv[1:] else from_moto()
    header = {"source": source, "refreshed": datetime.datetime.now(datetime.UTC).date().isoformat()}
    lines = [json.dumps(header)]
    for arn, document in sorted(documents.items()):
        lines.append(f"{arn}\t{json.dumps({'Statement': compact(document)}, separators=(',', ':'))}")
    OUTPUT.write_bytes(gzip.compress(("\n".join(lines) + "\n").encode(), mtime=0))
    print(f"{len(documents)} policies from {source}: {OUTPUT} ({OUTPUT.stat().st_size:,} bytes)")


if __name__ == "__main__":
    main()
