"""AWS facts as data: the quarantine policy family, the AWS Health risk codes, the abuse event catalogue.

Everything here is read from JSON files beside this module, so a refresh (a new policy version, a new
event) is a data change, not a code change. Nothing here imports aws_cdk: the Lambda asset and the CLI use it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cache
from pathlib import Path
from typing import Any

DATA_DIR = Path(__file__).parent

#: AWS attaches a managed policy whose ARN starts with this. Match the family by prefix: AWS adds versions
#: (V2, V3, V4 ...) and whole new policies, never by a fixed list.
QUARANTINE_POLICY_ARN_PREFIX = "arn:aws:iam::aws:policy/AWSCompromisedKeyQuarantine"
QUARANTINE_POLICY_NAME_PREFIX = "AWSCompromisedKeyQuarantine"

#: Before 2020 AWS put this inline policy on the user instead.
LEGACY_QUARANTINE_INLINE_POLICY = "AWSExposedCredentialPolicy_DO_NOT_REMOVE"
#: The detail-type EventBridge gives a management call recorded by CloudTrail.
CLOUDTRAIL_DETAIL_TYPE = "AWS API Call via CloudTrail"
#: IAM is global: its CloudTrail events, and global Health events, reach EventBridge only here.
GLOBAL_EVENTS_REGION = "us-east-1"


def _policy_names() -> tuple[str, ...]:
    names = {path.name.split(".")[0] for path in (DATA_DIR / "quarantine_policies").glob("*.json")}
    return tuple(sorted(names, key=lambda name: (len(name), name)))  # V2 before V10


#: Policy names AWS is known to have published (a file each in data/quarantine_policies), oldest first.
KNOWN_QUARANTINE_POLICY_NAMES = _policy_names()

#: A name AWS has not published: monitoring must match it too, or it breaks on the next version.
FUTURE_QUARANTINE_POLICY_NAME = "AWSCompromisedKeyQuarantineV5"

#: AWS Health (service RISK) event type codes about exposed or compromised credentials.
AWS_RISK_EVENT_TYPE_CODES = (
    "AWS_RISK_CREDENTIALS_EXPOSED",
    "AWS_RISK_CREDENTIALS_EXPOSURE_SUSPECTED",
    "AWS_RISK_CREDENTIALS_COMPROMISED",
    "AWS_RISK_CREDENTIALS_COMPROMISE_SUSPECTED",
    "AWS_RISK_IAM_QUARANTINE",
)

#: Actions campaigns use with a leaked key that no version of the quarantine policy denies (FACTS.md).
ABUSED_ACTIONS_NOT_QUARANTINED = (
    "sts:AssumeRole",
    "secretsmanager:GetSecretValue",
    "secretsmanager:ListSecrets",
    "ssm:GetParameter",
    "ssm:GetParameters",
    "ssm:GetParametersByPath",
    "ses:SendEmail",
    "ses:SendRawEmail",
    "ecs:RunTask",
    "codebuild:StartBuild",
    "amplify:CreateApp",
    "amplify:StartJob",
    "sagemaker:CreateNotebookInstance",
    "s3:PutObject",
)


@dataclass(frozen=True)
class QuarantinePolicyVersion:
    """One published document of a quarantine policy.

    ``complete`` is False for a version known only in part (V4: the start of its action list): its
    ``denied_actions`` are then the actions known to be denied, and any other action may be denied too.
    """

    policy_name: str
    version_id: str
    denied_actions: tuple[str, ...]
    created: str | None = None  # the version's CreateDate (UTC, ISO 8601)
    complete: bool = True

    @property
    def label(self) -> str:
        return f"{self.policy_name.removeprefix(QUARANTINE_POLICY_NAME_PREFIX) or 'V1'} {self.version_id}"

    def denies(self, action: str) -> bool | None:
        """Whether this version denies ``action`` (None: not known, the document is incomplete)."""
        if action in self.denied_actions:
            return True
        return False if self.complete else None


class Severity(StrEnum):
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"


class Detection(StrEnum):
    CALL = "call"  # one call is an incident
    CORRELATION = (
        "correlation"  # recorded; an incident only when a correlation (handlers/correlation.py) completes
    )


@dataclass(frozen=True)
class Source:
    """Where an entry comes from: a public writeup, or a Stratus Red Team technique (``stratus:<id>``)."""

    key: str
    title: str
    url: str | None


@dataclass(frozen=True)
class AbuseEvent:
    """A CloudTrail event that leaked-key campaigns make, with why it is detected and where that is known from.

    ``match`` narrows the call further (EventBridge pattern syntax, ``detail`` level: e.g. decrypted parameters
    only); ``action`` is the IAM action the call needs when it is not ``<service>:<eventName>``.
    """

    category: str
    event_source: str
    event_name: str
    read_only: bool
    severity: Severity = Severity.MEDIUM
    detection: Detection = Detection.CALL
    why: str = ""
    sources: tuple[Source, ...] = ()
    match: Mapping[str, Any] = field(default_factory=dict, hash=False)
    action: str = ""
    data_event: bool = False

    @property
    def iam_action(self) -> str:
        return self.action or f"{self.event_source.split('.', maxsplit=1)[0]}:{self.event_name}"


def _read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def _policy_version(name: str, raw: dict[str, Any]) -> QuarantinePolicyVersion:
    if "PolicyVersion" in raw:  # `aws iam get-policy-version` output
        version = raw["PolicyVersion"]
        return QuarantinePolicyVersion(
            name, version["VersionId"], _denied_actions(version["Document"]), version.get("CreateDate")
        )
    if raw.get("complete") is False:  # what is known of a version whose document was not readable
        actions = tuple(raw["known_action_prefix_in_document_order"])
        return QuarantinePolicyVersion(
            name, raw["version_id"], actions, raw["version_create_date"], complete=False
        )
    # `aws iam get-policy` with the default version's document: the version was made at the policy's UpdateDate
    return QuarantinePolicyVersion(
        name, raw["DefaultVersionId"], _denied_actions(raw["Document"]), raw.get("UpdateDate")
    )


def denied_actions(document: dict[str, Any]) -> tuple[str, ...]:
    """The actions a quarantine policy document denies, in its order."""
    return _denied_actions(document)


def _denied_actions(document: dict[str, Any]) -> tuple[str, ...]:
    actions: list[str] = []
    for statement in document["Statement"]:
        if statement["Effect"] == "Deny":
            listed = statement["Action"]
            actions.extend([listed] if isinstance(listed, str) else listed)
    return tuple(dict.fromkeys(actions))


@cache
def quarantine_policy_versions() -> tuple[QuarantinePolicyVersion, ...]:
    """Every quarantine policy document shipped with the package."""
    versions = [
        _policy_version(path.name.split(".")[0], _read_json(path))
        for path in (DATA_DIR / "quarantine_policies").glob("*.json")
    ]
    order = {name: index for index, name in enumerate(KNOWN_QUARANTINE_POLICY_NAMES)}
    return tuple(sorted(versions, key=lambda v: (order[v.policy_name], int(v.version_id.lstrip("v") or 0))))


@cache
def quarantine_denied_actions() -> frozenset[str]:
    """The union of the actions any known quarantine policy version denies."""
    return frozenset(action for version in quarantine_policy_versions() for action in version.denied_actions)


@cache
def abuse_events() -> tuple[AbuseEvent, ...]:
    """The abuse event catalogue (data/abuse_events.json)."""
    raw = _read_json(DATA_DIR / "abuse_events.json")
    sources = {key: Source(key, item["title"], item["url"]) for key, item in raw["sources"].items()}
    return tuple(_abuse_event(item, sources, raw["reasons"]) for item in raw["events"])


def _abuse_event(item: dict[str, Any], sources: dict[str, Source], reasons: dict[str, str]) -> AbuseEvent:
    return AbuseEvent(
        item["category"],
        item["eventSource"],
        item["eventName"],
        item["readOnly"],
        Severity(item["severity"]),
        Detection(item["detection"]),
        reasons[item["why"]],
        tuple(sources.get(key) or _stratus(key) for key in item["sources"]),
        item.get("match", {}),
        item.get("action", ""),
        item.get("dataEvent", False),
    )


STRATUS_PREFIX = "stratus:"


def _stratus(key: str) -> Source:
    if not key.startswith(STRATUS_PREFIX):
        raise KeyError(
            f"abuse catalogue: source {key!r} is neither listed in 'sources' nor stratus:<technique>"
        )
    technique = key.removeprefix(STRATUS_PREFIX)
    url = f"https://stratus-red-team.cloud/attack-techniques/AWS/{technique}/"
    return Source(key, f"Stratus Red Team {technique}", url)


def campaign_actions() -> frozenset[str]:
    """IAM actions leaked-key campaigns use: the quarantine policies' actions plus those they leave allowed."""
    return quarantine_denied_actions() | frozenset(ABUSED_ACTIONS_NOT_QUARANTINED)


def signal_event(name: str) -> dict[str, Any]:
    """A sample EventBridge event from data/signal_events (a fresh copy each call)."""
    event: dict[str, Any] = _read_json(DATA_DIR / "signal_events" / f"{name}.json")
    return event
