"""Every AWS managed policy's statements, from the bundled file ``scripts/refresh_managed_policies.py`` writes.

One line a policy (``ARN<TAB>document``): a scan that meets an AWS managed policy ARN decompresses the file once
and parses only the lines it needs. ARNs of other partitions (``arn:aws-us-gov:``) name the same policies.
"""

from __future__ import annotations

import gzip
import json
import re
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

POLICIES_FILE = Path(__file__).with_name("aws_managed_policies.tsv.gz")
_AWS_MANAGED = re.compile(r"^arn:aws[\w-]*:iam::aws:policy/")


def is_aws_managed(arn: str) -> bool:
    return _AWS_MANAGED.match(arn) is not None


@cache
def aws_managed_policy(arn: str) -> Mapping[str, Any] | None:
    """The policy document (its statements' Effect, Action/NotAction, Resource/NotResource), or None."""
    if not is_aws_managed(arn):
        return None
    key = "\n" + _AWS_MANAGED.sub("arn:aws:iam::aws:policy/", arn) + "\t"
    text = _text()
    start = text.find(key)
    if start == -1:
        return None
    end = text.find("\n", start + len(key))
    document: Mapping[str, Any] = json.loads(text[start + len(key) : end])
    return document


def provenance() -> Mapping[str, Any]:
    """Where and when the bundled documents came from (the file's first line)."""
    header: Mapping[str, Any] = json.loads(_text().split("\n", 1)[0])
    return header


@cache
def _text() -> str:
    return gzip.decompress(POLICIES_FILE.read_bytes()).decode("utf-8")
