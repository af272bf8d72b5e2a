"""Turn an EventBridge event into a Trigger: which account, which user, which key, and why.

Only fields AWS documents are read (FACTS.md): never ``userIdentity`` or ``sourceIPAddress`` of the quarantine
CloudTrail event. Anything that does not look like a leak signal, or names a principal in a malformed way, is a
``TriggerError``: the responder acts only on principals an event names legitimately.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

from key_quarantine.data import (
    CLOUDTRAIL_DETAIL_TYPE,
    LEGACY_QUARANTINE_INLINE_POLICY,
    QUARANTINE_POLICY_ARN_PREFIX,
    AbuseEvent,
    Detection,
    Severity,
)
from key_quarantine.data.detections import CLOUDFORMATION, ROOT, entry_for

ACCOUNT_ID = re.compile(r"\d{12}")
LONG_TERM_KEY_ID = re.compile(r"AKIA[A-Z0-9]{12,124}")  # 16 to 128 characters, as IAM requires
#: A service-specific credential (a Bedrock long-term API key, CodeCommit, Keyspaces): IAM's ids start ACCA.
SERVICE_CREDENTIAL_ID = re.compile(r"ACCA[A-Z0-9]{12,124}")
USER_NAME = re.compile(r"[\w+=,.@-]{1,64}")
#: The detail-type AWS gives each source we parse: custom events cannot use aws.* sources, and a mismatch means
#: the event did not come from AWS as it claims.
DETAIL_TYPES = {
    "aws.iam": CLOUDTRAIL_DETAIL_TYPE,
    "aws.health": "AWS Health Event",
    "aws.guardduty": "GuardDuty Finding",
}
GUARDDUTY_IAM_USER = "IAMUser"
#: The resource type of GuardDuty Extended Threat Detection findings (AttackSequence:IAM/CompromisedCredentials ...)
ATTACK_SEQUENCE = "AttackSequence"


class TriggerFamily(StrEnum):
    QUARANTINE_POLICY = "quarantine-policy"
    LEGACY_QUARANTINE = "legacy-quarantine"
    HEALTH_RISK = "health-risk"
    GUARDDUTY = "guardduty"
    MANUAL = "manual"
    SWEEP = "sweep"
    ABUSE = "abuse"


class TriggerError(ValueError):
    """The event is not a leak signal this responder acts on; the message says why."""


@dataclass(frozen=True)
class Trigger:
    """A leak signal: the account it happened in, the user and key it names (either may be unknown)."""

    family: TriggerFamily
    account: str
    user_name: str | None
    access_key_id: str | None
    reason: str
    event_id: str | None = None
    category: str | None = None  # the abuse category, for ABUSE triggers
    severity: Severity | None = None  # the catalogue's severity, for ABUSE triggers
    # An ABUSE call the catalogue counts only inside a correlation: recorded, never an incident of its own
    correlation_only: bool = field(default=False, compare=False)
    root: bool = False  # the root user's call: never contained (no role can), a human is told what to do
    # The account EventBridge says the event came from; differs from ``account`` only for a Health organizational
    # view event (detail.affectedAccount) or a GuardDuty administrator's finding (detail.accountId).
    reported_by: str | None = field(default=None, compare=False)
    event: Mapping[str, Any] | None = field(default=None, compare=False, repr=False)  # verbatim, for evidence


def parse_triggers(event: Any) -> tuple[Trigger, ...]:
    """Every Trigger an EventBridge event stands for: one, or one per access key an AWS Health event names
    (``affectedEntities`` may list several); TriggerError when it stands for none."""
    trigger = _parse(event)
    if trigger.family is not TriggerFamily.HEALTH_RISK or trigger.access_key_id is None:
        return (trigger,)
    detail = event["detail"]
    others = _health_keys(detail, _object(detail, "eventMetadata"))[1:]
    # the event's user name is the first key's (eventMetadata.publicKey); each other key's user is IAM's word
    return (trigger, *(replace(trigger, access_key_id=key, user_name=None) for key in others))


def parse_event(event: Any) -> Trigger:
    """The one Trigger an EventBridge event stands for, or TriggerError (also when it names several keys)."""
    triggers = parse_triggers(event)
    if len(triggers) > 1:
        raise TriggerError(f"the event names {len(triggers)} access keys: each is a trigger of its own")
    return triggers[0]


def _parse(event: Any) -> Trigger:
    if not isinstance(event, Mapping) or not isinstance(event.get("detail"), Mapping):
        raise TriggerError("not an EventBridge event: no 'detail' object")
    source = event.get("source")
    parser = _PARSERS.get(source) if isinstance(source, str) else None
    if event.get("detail-type") == CLOUDTRAIL_DETAIL_TYPE and source != "aws.iam":
        parser = _abuse  # a call to any service, GuardDuty's own API (DeleteDetector) included
    if parser is None:
        raise TriggerError(f"events from source {source!r} are not leak signals")
    expected = CLOUDTRAIL_DETAIL_TYPE if parser is _abuse else DETAIL_TYPES[str(source)]
    if event.get("detail-type") != expected:
        raise TriggerError(
            f"an event from {source!r} with detail-type {event.get('detail-type')!r}: AWS sends {expected!r}"
        )
    # EventBridge always sets ``account``; without it no one could say whose word the event is (organization.py)
    reporter = _account(event.get("account"))
    return replace(parser(event, event["detail"]), event=event, reported_by=reporter)


def manual_trigger(account: str, user_name: str | None, access_key_id: str | None) -> Trigger:
    """A containment an operator asked for (``key-quarantine contain``)."""
    return Trigger(
        family=TriggerFamily.MANUAL,
        account=_account(account),
        user_name=_user_name(user_name) if user_name is not None else None,
        access_key_id=_key_id(access_key_id) if access_key_id is not None else None,
        reason="containment requested by an operator",
    )


def _cloudtrail_iam(event: Mapping[str, Any], detail: Mapping[str, Any]) -> Trigger:
    if detail.get("eventSource") != "iam.amazonaws.com":  # parse_event checked the detail-type
        raise TriggerError("an aws.iam event that is not an IAM API call recorded by CloudTrail")
    parameters = _object(detail, "requestParameters")
    name, arn, policy = detail.get("eventName"), parameters.get("policyArn"), parameters.get("policyName")
    if name == "AttachUserPolicy" and isinstance(arn, str) and arn.startswith(QUARANTINE_POLICY_ARN_PREFIX):
        family, reason = TriggerFamily.QUARANTINE_POLICY, f"AWS attached {arn.rsplit('/', 1)[-1]}"
    elif name == "PutUserPolicy" and policy == LEGACY_QUARANTINE_INLINE_POLICY:
        family, reason = TriggerFamily.LEGACY_QUARANTINE, f"AWS added the inline policy {policy}"
    else:
        return _abuse(event, detail)  # a failed call too: denied CreateUser or CreateAccessKey is the attempt
    if detail.get("errorCode"):
        raise TriggerError(f"the {name} call failed ({detail['errorCode']}): nothing was attached")
    account = _recorded_in(event, detail)
    return Trigger(family, account, _user_name(parameters.get("userName")), None, reason, _event_id(detail))


def _abuse(event: Mapping[str, Any], detail: Mapping[str, Any]) -> Trigger:
    """A call from the abuse catalogue made with a leaked user key, or a session minted from one."""
    source, name = str(detail.get("eventSource")), str(detail.get("eventName"))  # lists and None never match
    entry = entry_for(detail)
    if entry is None:
        raise TriggerError(f"{source} {name} is not a leak signal")
    if event.get("source") != "aws." + source.split(".", maxsplit=1)[0]:
        raise TriggerError(
            f"events from source {event.get('source')!r} are not leak signals (eventSource {source})"
        )
    identity = _object(detail, "userIdentity")
    if identity.get("type") == ROOT and identity.get("invokedBy") != CLOUDFORMATION:
        return _root_call(event, detail, entry)
    user, key = _user_key_caller(identity, name)
    account = _recorded_in(event, detail)
    if identity.get("accountId") != account:
        # CloudTrail records a cross-account call (a shared secret, say) in the resource's account too: the
        # caller is a user of another account, and a same-named user here must not pay for it.
        raise TriggerError(f"the caller belongs to account {identity.get('accountId')!r}, not {account}")
    failed = f" (failed: {detail['errorCode']})" if detail.get("errorCode") else ""
    return Trigger(
        TriggerFamily.ABUSE,
        account,
        user,
        key,
        f"{entry.category}: {name} called with a long-lived key{failed}",
        _event_id(detail),
        entry.category,
        entry.severity,
        correlation_only=entry.detection is Detection.CORRELATION,
    )


def _root_call(event: Mapping[str, Any], detail: Mapping[str, Any], entry: AbuseEvent) -> Trigger:
    """A catalogue call made by the root user: no IAM role can contain root, so a human is told what to do."""
    account = _recorded_in(event, detail)
    if _object(detail, "userIdentity").get("accountId", account) != account:
        raise TriggerError("the root user of another account made the call")
    key = _object(detail, "userIdentity").get("accessKeyId")
    long_term = key if isinstance(key, str) and LONG_TERM_KEY_ID.fullmatch(key) else None
    how = f"with its access key {long_term}" if long_term else "in a session (console or a key's session)"
    return Trigger(
        TriggerFamily.ABUSE,
        account,
        None,
        long_term,
        f"{entry.category}: {detail.get('eventName')} called by the root user {how}",
        _event_id(detail),
        entry.category,
        Severity.HIGH,
        root=True,
    )


def _user_key_caller(identity: Mapping[str, Any], name: str) -> tuple[str, str | None]:
    """The IAM user whose key made the call, and the key when it is the long-term one itself.

    A GetSessionToken session is logged as the IAMUser with an ASIA key; a GetFederationToken session as a
    FederatedUser whose sessionIssuer is the user. Either way every key of the user is contained.
    """
    kind = identity.get("type")
    if identity.get("invokedBy") == CLOUDFORMATION:
        raise TriggerError(f"{name} was made by CloudFormation deploying a stack, not by the key's holder")
    if kind == "IAMUser":
        key = identity.get("accessKeyId")
        return _user_name(identity.get("userName")), key if isinstance(
            key, str
        ) and LONG_TERM_KEY_ID.fullmatch(key) else None
    if kind == "FederatedUser":
        issuer = _object(_object(identity, "sessionContext"), "sessionIssuer")
        if issuer.get("type") == "IAMUser":
            return _user_name(issuer.get("userName")), None
    raise TriggerError(f"{name} was called by a {kind}, not an IAM user's key")


def _health(event: Mapping[str, Any], detail: Mapping[str, Any]) -> Trigger:
    code = detail.get("eventTypeCode")
    if detail.get("service") != "RISK" or not isinstance(code, str) or not code.startswith("AWS_RISK_"):
        raise TriggerError(f"AWS Health event {code!r} is not an AWS_RISK_* event")
    metadata = _object(detail, "eventMetadata")
    keys = _health_keys(detail, metadata)
    key = keys[0] if keys else None
    user = metadata.get("userName")
    credentials = _service_credentials(detail)  # a Bedrock API key's: its user is a BedrockAPIKey-* user
    if key is None and user is None:
        named = f" (only the service-specific credential {', '.join(credentials)})" if credentials else ""
        raise TriggerError(f"{code} names no access key and no user{named}")
    if len(keys) > 1 and metadata.get("publicKey") != key:
        user = None  # several keys and no word on whose the user name is: IAM answers for each key
    affected = detail.get("affectedAccount")  # organizational view: the member the event is about
    account = (
        affected if isinstance(affected, str) and ACCOUNT_ID.fullmatch(affected) else event.get("account")
    )
    return Trigger(
        TriggerFamily.HEALTH_RISK,
        _account(account),
        _user_name(user) if user is not None else None,
        key,
        f"AWS Health reported {code}"
        + (f" for service-specific credential {', '.join(credentials)}" if credentials else ""),
        detail.get("communicationId") or detail.get("eventArn"),
    )


def _service_credentials(detail: Mapping[str, Any]) -> list[str]:
    entities = detail.get("affectedEntities")
    values = (
        [e.get("entityValue") for e in entities if isinstance(e, Mapping)]
        if isinstance(entities, list)
        else []
    )
    return [v for v in values if isinstance(v, str) and SERVICE_CREDENTIAL_ID.fullmatch(v)]


def _health_keys(detail: Mapping[str, Any], metadata: Mapping[str, Any]) -> list[str]:
    """The long-term keys the event names, eventMetadata.publicKey first, each once."""
    candidates = [metadata.get("publicKey")]
    entities = detail.get("affectedEntities")
    if isinstance(entities, list):
        candidates += [e.get("entityValue") for e in entities if isinstance(e, Mapping)]
    keys = [c for c in candidates if isinstance(c, str) and LONG_TERM_KEY_ID.fullmatch(c)]
    return list(dict.fromkeys(keys))


def _guardduty(event: Mapping[str, Any], detail: Mapping[str, Any]) -> Trigger:
    if _object(detail, "resource").get("resourceType") == ATTACK_SEQUENCE:
        return _attack_sequence(event, detail)
    key_details = _object(_object(detail, "resource"), "accessKeyDetails")
    if key_details.get("userType") not in (GUARDDUTY_IAM_USER, None):
        raise TriggerError(f"GuardDuty finding about a {key_details.get('userType')}, not an IAM user's key")
    key, user = key_details.get("accessKeyId"), key_details.get("userName")
    if not isinstance(user, str):
        raise TriggerError("GuardDuty finding names no IAM user")
    # Findings on session credentials (ASIA) name the long-term key's user: contain the user, every key.
    long_term_key = key if isinstance(key, str) and LONG_TERM_KEY_ID.fullmatch(key) else None
    account = detail.get("accountId") or event.get("account")
    return Trigger(
        TriggerFamily.GUARDDUTY,
        _account(account),
        _user_name(user),
        long_term_key,
        f"GuardDuty finding {detail.get('type')}",
        detail.get("id"),
    )


def _attack_sequence(event: Mapping[str, Any], detail: Mapping[str, Any]) -> Trigger:
    """An Extended Threat Detection sequence: the credential is one of the sequence's actors, not accessKeyDetails."""
    account = _account(detail.get("accountId") or event.get("account"))
    sequence = _object(_object(_object(detail, "service"), "detection"), "sequence")
    actors = sequence.get("actors")
    users = [
        user
        for actor in (actors if isinstance(actors, list) else [])
        if isinstance(actor, Mapping)
        for user in [_object(actor, "user")]
        if user.get("type") == GUARDDUTY_IAM_USER and _object(user, "account").get("uid", account) == account
    ]
    if not users:
        kinds = sorted({str(_object(a, "user").get("type")) for a in actors or [] if isinstance(a, Mapping)})
        raise TriggerError(
            f"GuardDuty attack sequence {detail.get('type')} names no IAM user of {account}: {kinds}"
        )
    # A user's long-term key first: that is the credential to contain; a session's names the same user
    user = next((u for u in users if LONG_TERM_KEY_ID.fullmatch(str(u.get("credentialUid")))), users[0])
    key = user.get("credentialUid")
    return Trigger(
        TriggerFamily.GUARDDUTY,
        account,
        _user_name(user.get("name")),
        key if isinstance(key, str) and LONG_TERM_KEY_ID.fullmatch(key) else None,
        f"GuardDuty attack sequence {detail.get('type')}",
        detail.get("id"),
    )


def _object(parent: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    value = parent.get(name)
    return value if isinstance(value, Mapping) else {}


def _account(value: Any) -> str:
    if not isinstance(value, str) or not ACCOUNT_ID.fullmatch(value):
        raise TriggerError(f"account {value!r} is not a 12-digit AWS account id")
    return value


def _user_name(value: Any) -> str:
    if not isinstance(value, str) or not USER_NAME.fullmatch(value):
        raise TriggerError(f"user name {value!r} is not a valid IAM user name")
    return value


def _key_id(value: Any) -> str:
    if not isinstance(value, str) or not LONG_TERM_KEY_ID.fullmatch(value):
        raise TriggerError(f"{value!r} is not a long-term access key id (AKIA...)")
    return value


def _event_id(detail: Mapping[str, Any]) -> str | None:
    value = detail.get("eventID")
    return value if isinstance(value, str) else None


def _recorded_in(event: Mapping[str, Any], detail: Mapping[str, Any]) -> str:
    """The account of a CloudTrail record, which must be the account EventBridge delivered it in."""
    account = _account(event.get("account"))
    recipient = detail.get("recipientAccountId", account)
    if recipient != account:
        raise TriggerError(f"the event's account {account} and its recipientAccountId {recipient!r} differ")
    return account


_PARSERS = {"aws.iam": _cloudtrail_iam, "aws.health": _health, "aws.guardduty": _guardduty}
