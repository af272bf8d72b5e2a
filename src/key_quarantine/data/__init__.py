"""AWS facts as data: the quarantine policy family, the AWS Health risk codes, the abuse event catalogue.

Everything here is read from JSON files beside this module, so a refresh (a new policy version, a new
event) is a data change, not a code change. Nothing here imports aws_cdk: the Lambda asset and the CLI use it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
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

#: Policy names AWS is known to have published, newest last; V4 (2026-11-06) has no document offline yet.
KNOWN_QUARANTINE_POLICY_NAMES = (
    "AWSCompromisedKeyQuarantine",
    "AWSCompromisedKeyQuarantineV2",
    "AWSCompromisedKeyQuarantineV3",
    "AWSCompromisedKeyQuarantineV4",
)

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
    """One published document of a quarantine policy."""

    policy_name: str
    version_id: str
    denied_actions: tuple[str, ...]


@dataclass(frozen=True)
class AbuseEvent:
    """A CloudTrail event that leaked-key campaigns make."""

    category: str
    event_source: str
    event_name: str
    read_only: bool


def _read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def _document_and_version(raw: dict[str, Any]) -> tuple[dict[str, Any], str]:
    if "PolicyVersion" in raw:  # `aws iam get-policy-version` output
        return raw["PolicyVersion"]["Document"], raw["PolicyVersion"]["VersionId"]
    return raw["Document"], raw["DefaultVersionId"]


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
    versions = []
    for path in sorted((DATA_DIR / "quarantine_policies").glob("*.json")):
        document, version_id = _document_and_version(_read_json(path))
        name = path.name.split(".")[0]
        versions.append(QuarantinePolicyVersion(name, version_id, _denied_actions(document)))
    return tuple(versions)


@cache
def quarantine_denied_actions() -> frozenset[str]:
    """The union of the actions any known quarantine policy version denies."""
    return frozenset(action for version in quarantine_policy_versions() for action in version.denied_actions)


@cache
def abuse_events() -> tuple[AbuseEvent, ...]:
    """The abuse event catalogue (data/abuse_events.json)."""
    raw = _read_json(DATA_DIR / "abuse_events.json")["events"]
    return tuple(
        AbuseEvent(item["category"], item["eventSource"], item["eventName"], item["readOnly"]) for item in raw
    )


def campaign_actions() -> frozenset[str]:
    """IAM actions leaked-key campaigns use: the quarantine policies' actions plus those they leave allowed."""
    return quarantine_denied_actions() | frozenset(ABUSED_ACTIONS_NOT_QUARANTINED)


def signal_event(name: str) -> dict[str, Any]:
    """A sample EventBridge event from data/signal_events (a fresh copy each call)."""
    event: dict[str, Any] = _read_json(DATA_DIR / "signal_events" / f"{name}.json")
    return event
