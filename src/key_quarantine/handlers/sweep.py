"""The daily sweep and ``key-quarantine audit``: what events missed, from a constant number of listing calls.

The credential report gives every user's keys (active, age, last use) in one document, whatever the number of
users; the quarantine policies' attached users come from one ``ListEntitiesForPolicy`` a policy. Per-user listing
(ListUsers, then ListAccessKeys and GetAccessKeyLastUsed for each user) grows with the account instead.
"""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from key_quarantine.data import QUARANTINE_POLICY_NAME_PREFIX
from key_quarantine.handlers.aws import Aws
from key_quarantine.handlers.timestamps import parse_time

ROOT_USER = "<root_account>"
REPORT_WAIT_SECONDS = 30
AUDIT_ACTIONS = (
    "iam:GenerateCredentialReport",
    "iam:GetCredentialReport",
    "iam:ListPolicies",
    "iam:ListEntitiesForPolicy",
)
#: The sweep's reads that take a policy resource: only AWS's quarantine policies are read with them.
POLICY_SCOPED_READS = frozenset({"iam:ListEntitiesForPolicy", "iam:GetPolicyVersion"})


class Problem(StrEnum):
    QUARANTINED_KEY_ACTIVE = "quarantined-key-still-active"
    ROOT_KEY = "root-access-key"
    TWO_ACTIVE_KEYS = "two-active-keys"
    OLD_KEY = "key-older-than-max-age"
    UNUSED_KEY = "key-unused"


#: How bad each problem is, for sorting and for the summary: a quarantined key still active is an incident.
SEVERITY = {
    Problem.QUARANTINED_KEY_ACTIVE: "critical",
    Problem.ROOT_KEY: "critical",
    Problem.TWO_ACTIVE_KEYS: "medium",
    Problem.OLD_KEY: "medium",
    Problem.UNUSED_KEY: "low",
}


@dataclass(frozen=True)
class AuditFinding:
    problem: Problem
    user: str
    key_slot: int | None
    detail: str

    @property
    def severity(self) -> str:
        return SEVERITY[self.problem]

    def as_json(self) -> dict[str, Any]:
        return {
            "problem": self.problem.value,
            "severity": self.severity,
            "user": self.user,
            "key_slot": self.key_slot,
            "detail": self.detail,
        }


@dataclass(frozen=True)
class AuditLimits:
    max_key_age_days: int = 90
    max_unused_days: int = 30


@dataclass(frozen=True)
class Audit:
    findings: list[AuditFinding]
    users: int
    calls: dict[str, int]

    @property
    def quarantined_users_with_active_keys(self) -> list[str]:
        return sorted({f.user for f in self.findings if f.problem is Problem.QUARANTINED_KEY_ACTIVE})

    def as_json(self) -> dict[str, Any]:
        counts: dict[str, int] = {}
        for finding in self.findings:
            counts[finding.problem.value] = counts.get(finding.problem.value, 0) + 1
        return {
            "users": self.users,
            "findings": [f.as_json() for f in self.findings],
            "summary": counts,
            "api_calls": sum(self.calls.values()),
        }


def run_audit(aws: Aws, limits: AuditLimits = AuditLimits(), now: datetime | None = None) -> Audit:
    """Read-only: every problem the credential report and the quarantine policies show."""
    moment = now or datetime.now(UTC)
    rows = credential_report(aws)
    quarantined = quarantined_users(aws)
    findings = [finding for row in rows for finding in _row_findings(row, quarantined, limits, moment)]
    order = list(Problem)
    findings.sort(key=lambda f: (order.index(f.problem), f.user, f.key_slot or 0))
    return Audit(findings, users=sum(1 for row in rows if row["user"] != ROOT_USER), calls=dict(aws.calls))


def credential_report(aws: Aws) -> list[dict[str, str]]:
    """The account's credential report (generated if needed, waiting at most REPORT_WAIT_SECONDS)."""
    iam = aws.iam
    deadline = time.monotonic() + REPORT_WAIT_SECONDS
    while iam.generate_credential_report()["State"] != "COMPLETE":
        if time.monotonic() > deadline:
            raise TimeoutError("the IAM credential report was not ready in time; run again in a minute")
        time.sleep(1)
    content = iam.get_credential_report()["Content"]
    text = content.decode("utf-8") if isinstance(content, bytes) else str(content)
    return list(csv.DictReader(io.StringIO(text)))


def quarantined_users(aws: Aws) -> dict[str, list[str]]:
    """User name -> the quarantine policies attached to it (any version, future ones included: by name prefix)."""
    iam = aws.iam
    found: dict[str, list[str]] = {}
    for policy in _paginate(iam, "list_policies", "Policies", Scope="AWS", OnlyAttached=True):
        if not policy["PolicyName"].startswith(QUARANTINE_POLICY_NAME_PREFIX):
            continue
        for user in _paginate(
            iam, "list_entities_for_policy", "PolicyUsers", PolicyArn=policy["Arn"], EntityFilter="User"
        ):
            found.setdefault(user["UserName"], []).append(policy["PolicyName"])
    return found


def _paginate(client: Any, operation: str, key: str, **arguments: Any) -> Iterator[dict[str, Any]]:
    for page in client.get_paginator(operation).paginate(**arguments):
        yield from page.get(key, [])


def _row_findings(
    row: Mapping[str, str], quarantined: Mapping[str, list[str]], limits: AuditLimits, now: datetime
) -> Iterator[AuditFinding]:
    user = row["user"]
    active = [slot for slot in (1, 2) if row.get(f"access_key_{slot}_active") == "true"]
    if user == ROOT_USER:
        for slot in active:
            yield AuditFinding(
                Problem.ROOT_KEY, user, slot, "the root user has an active access key: delete it"
            )
        return
    if user in quarantined:
        for slot in active:
            policies = ", ".join(quarantined[user])
            yield AuditFinding(
                Problem.QUARANTINED_KEY_ACTIVE,
                user,
                slot,
                f"AWS attached {policies} and the key is still active",
            )
    if len(active) == 2:  # noqa: PLR2004 - IAM allows two keys a user
        yield AuditFinding(Problem.TWO_ACTIVE_KEYS, user, None, "two active access keys")
    for slot in active:
        yield from _age_findings(row, user, slot, limits, now)


def _age_findings(
    row: Mapping[str, str], user: str, slot: int, limits: AuditLimits, now: datetime
) -> Iterator[AuditFinding]:
    rotated = _date(row.get(f"access_key_{slot}_last_rotated"))
    if rotated and now - rotated > timedelta(days=limits.max_key_age_days):
        yield AuditFinding(
            Problem.OLD_KEY, user, slot, f"{(now - rotated).days} days old (max {limits.max_key_age_days})"
        )
    used = _date(row.get(f"access_key_{slot}_last_used_date"))
    since = used or rotated
    if since and now - since > timedelta(days=limits.max_unused_days):
        what = (
            f"last used {(now - since).days} days ago" if used else f"never used in {(now - since).days} days"
        )
        yield AuditFinding(Problem.UNUSED_KEY, user, slot, f"{what} (max {limits.max_unused_days})")


def _date(value: str | None) -> datetime | None:
    if not value or value in ("N/A", "no_information", "not_supported"):
        return None
    return parse_time(value)
