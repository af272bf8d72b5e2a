"""The EventBridge rules for every leak signal AWS sends, as patterns that tests evaluate against real events."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from aws_cdk import aws_events as events

from constructs import Construct
from key_quarantine.constructs.event_patterns import event_pattern
from key_quarantine.data import (
    CLOUDTRAIL_DETAIL_TYPE,
    LEGACY_QUARANTINE_INLINE_POLICY,
    QUARANTINE_POLICY_ARN_PREFIX,
)
from key_quarantine.handlers.triggers import ATTACK_SEQUENCE

#: GuardDuty findings about an IAM user's credentials being used by someone else (FACTS.md). A configurable
#: default: findings on session credentials name the user, and the responder contains all of its keys.
DEFAULT_GUARDDUTY_FINDING_TYPES: tuple[str, ...] = (
    "UnauthorizedAccess:IAMUser/MaliciousIPCaller",
    "UnauthorizedAccess:IAMUser/MaliciousIPCaller.Custom",
    "UnauthorizedAccess:IAMUser/TorIPCaller",
    "UnauthorizedAccess:IAMUser/InstanceCredentialExfiltration.OutsideAWS",
    "CredentialAccess:IAMUser/AnomalousBehavior",
    "Discovery:IAMUser/AnomalousBehavior",
    "Exfiltration:IAMUser/AnomalousBehavior",
    "Impact:IAMUser/AnomalousBehavior",
    "Persistence:IAMUser/AnomalousBehavior",
    "PrivilegeEscalation:IAMUser/AnomalousBehavior",
    "Stealth:IAMUser/CloudTrailLoggingDisabled",
    "Impact:IAMUser/AnomalousModelInvocation",
    "Impact:IAMUser/CostHarvesting",
    "Recon:IAMUser/MaliciousIPCaller",
    "Recon:IAMUser/MaliciousIPCaller.Custom",
    "Recon:IAMUser/TorIPCaller",
    # Extended Threat Detection: the credential is in the sequence's actors (resource type AttackSequence)
    "AttackSequence:IAM/CompromisedCredentials",
    "AttackSequence:S3/CompromisedData",
)
#: Resource types of the findings above: a key's own findings, and attack sequences.
GUARDDUTY_RESOURCE_TYPES = ("AccessKey", ATTACK_SEQUENCE)


def quarantine_policy_pattern() -> dict[str, Any]:
    """AWS attaching any AWSCompromisedKeyQuarantine* policy: a prefix, so V4 and later versions match too."""
    return {
        "source": ["aws.iam"],
        "detail-type": [CLOUDTRAIL_DETAIL_TYPE],
        "detail": {
            "eventSource": ["iam.amazonaws.com"],
            "eventName": ["AttachUserPolicy"],
            "requestParameters": {"policyArn": [{"prefix": QUARANTINE_POLICY_ARN_PREFIX}]},
        },
    }


def legacy_quarantine_pattern() -> dict[str, Any]:
    return {
        "source": ["aws.iam"],
        "detail-type": [CLOUDTRAIL_DETAIL_TYPE],
        "detail": {
            "eventSource": ["iam.amazonaws.com"],
            "eventName": ["PutUserPolicy"],
            "requestParameters": {"policyName": [LEGACY_QUARANTINE_INLINE_POLICY]},
        },
    }


def health_risk_pattern() -> dict[str, Any]:
    return {
        "source": ["aws.health"],
        "detail-type": ["AWS Health Event"],
        "detail": {"service": ["RISK"], "eventTypeCode": [{"prefix": "AWS_RISK_"}]},
    }


def guardduty_pattern(finding_types: Sequence[str]) -> dict[str, Any]:
    return {
        "source": ["aws.guardduty"],
        "detail-type": ["GuardDuty Finding"],
        "detail": {"type": list(finding_types), "resource": {"resourceType": list(GUARDDUTY_RESOURCE_TYPES)}},
    }


def signal_patterns(guardduty_finding_types: Sequence[str]) -> dict[str, tuple[dict[str, Any], str]]:
    """Each leak signal's pattern and description, by rule name (GuardDuty only when types are given)."""
    patterns = {
        "QuarantinePolicy": (
            quarantine_policy_pattern(),
            "AWS attached an AWSCompromisedKeyQuarantine* policy",
        ),
        "LegacyQuarantine": (legacy_quarantine_pattern(), "AWS added the legacy exposed-credential policy"),
        "HealthRisk": (health_risk_pattern(), "AWS Health reported an AWS_RISK_* event"),
    }
    if guardduty_finding_types:
        patterns["GuardDuty"] = (guardduty_pattern(guardduty_finding_types), "GuardDuty IAM-user finding")
    return patterns


class TriggerRules(Construct):
    """One rule a signal, each delivering to ``target`` (the responder, or a bus that forwards to it).

    :param target: where matching events go.
    :param guardduty_finding_types: default ``DEFAULT_GUARDDUTY_FINDING_TYPES``; empty leaves GuardDuty out.
    :param event_bus: the bus the rules listen on (default the account's default bus).

    :ivar rules: the rules by name (QuarantinePolicy, LegacyQuarantine, HealthRisk, GuardDuty).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        target: events.IRuleTarget,
        guardduty_finding_types: Sequence[str] = DEFAULT_GUARDDUTY_FINDING_TYPES,
        event_bus: events.IEventBus | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        self.rules: dict[str, events.Rule] = {}
        for name, (pattern, description) in signal_patterns(guardduty_finding_types).items():
            self.rules[name] = events.Rule(
                self,
                name,
                description=f"key-quarantine: {description}",
                event_bus=event_bus,
                event_pattern=event_pattern(pattern),
                targets=[target],
            )
