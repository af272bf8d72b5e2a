"""Turn an EventBridge event into a Trigger: which account, which user, which key, and why.

Whom to contain is read only from fields AWS documents (FACTS.md): the quarantine CloudTrail event's
``requestParameters.userName``, never its ``userIdentity``. Who made that call (``userIdentity``,
``sourceIPAddress``, ``userAgent``) is read for one thing: whether AWS itself made it (``from_aws``), which alone
lets irreversible steps run, and to say who did otherwise. Anything that does not look like a leak signal, or names
a principal in a malformed way, is a ``TriggerError``: the responder acts only on principals an event names
legitimately. A signal about credentials it cannot contain (root, a role's sessions, a sample finding) carries a
``CannotContain``: a human is told at once instead.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
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
from key_quarantine.handlers.cannot_contain import (
    CannotContain,
    is_root,
    role_sessions,
    root_credentials,
    sample_finding,
)
from key_quarantine.handlers.watched_calls import Undo, undo_of

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
AWS_INTERNAL = (
    "AWS Internal"  # CloudTrail's sourceIPAddress for a call AWS itself made; no principal can send it
)
#: The category of a quarantine policy attached by an ordinary principal: an incident (and a finished marker) apart
#: from AWS's own attach on the same user, so that AWS's later word still runs the irreversible steps.
ATTACHED_BY_A_PRINCIPAL = "attached-by-a-principal"


class TriggerFamily(StrEnum):
    QUARANTINE_POLICY = "quarantine-policy"
    LEGACY_QUARANTINE = "legacy-quarantine"
    HEALTH_RISK = "health-risk"
    GUARDDUTY = "guardduty"
    MANUAL = "manual"
    SWEEP = "sweep"
    ABUSE = "abuse"
    UNDO = "undo"  # a watched call that may have undone a containment (handlers/undo.py)


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
    # The account EventBridge says the event came from; differs from ``account`` only for a Health organizational
    # view event (detail.affectedAccount) or a GuardDuty administrator's finding (detail.accountId).
    reported_by: str | None = field(default=None, compare=False)
    event: Mapping[str, Any] | None = field(default=None, compare=False, repr=False)  # verbatim, for evidence
    # AWS's own word that the key leaked (Health, a GuardDuty finding, a quarantine AWS itself attached): only
    # then, or on an operator's request, may irreversible steps (deleting keys, the console password) run.
    from_aws: bool = field(default=False, compare=False)
    actor: str | None = field(default=None, compare=False)  # who made the call a CloudTrail signal records
    cannot_contain: CannotContain | None = field(default=None, compare=False)  # tell a human instead

    @property
    def allows_irreversible(self) -> bool:
        return self.from_aws or self.family is TriggerFamily.MANUAL


def parse_triggers(event: Any) -> tuple[Trigger, ...]:
    """Every Trigger an EventBridge event stands for: one, or one per access key an AWS Health event names
    (``affectedEntities`` may list several); TriggerError when it stands for none."""
    trigger = _parse(event)
    if trigger.family is TriggerFamily.UNDO:
        return (trigger, *_abuse_too(event, trigger))
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
        what = "access keys" if triggers[0].family is TriggerFamily.HEALTH_RISK else "triggers (undo, abuse)"
        raise TriggerError(f"the event names {len(triggers)} {what}: each is a trigger of its own")
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
        family, what = TriggerFamily.QUARANTINE_POLICY, f"attached {arn.rsplit('/', 1)[-1]}"
    elif name == "PutUserPolicy" and policy == LEGACY_QUARANTINE_INLINE_POLICY:
        family, what = TriggerFamily.LEGACY_QUARANTINE, f"added the inline policy {policy}"
    else:
        undo = undo_of(detail)
        if undo is not None:
            return _undo(event, detail, undo)
        return _abuse(event, detail)  # a failed call too: denied CreateUser or CreateAccessKey is the attempt
    if detail.get("errorCode"):
        raise TriggerError(f"the {name} call failed ({detail['errorCode']}): nothing was attached")
    account = _recorded_in(event, detail)
    user = _user_name(parameters.get("userName"))
    actor = _caller(detail)
    if _made_by_aws(detail, user):
        return Trigger(
            family, account, user, None, f"AWS {what}", _event_id(detail), from_aws=True, actor=actor
        )
    reason = (
        f"{actor} {what}: not AWS (AWS's own call is recorded as the user itself from {AWS_INTERNAL}), so the "
        "containment is reversible only"
    )
    return Trigger(
        family, account, user, None, reason, _event_id(detail), ATTACHED_BY_A_PRINCIPAL, actor=actor
    )


def _undo(event: Mapping[str, Any], detail: Mapping[str, Any], undo: Undo) -> Trigger:
    """A call that may have undone a containment, on the user it names (the caller's own when it names none, as
    IAM reads these calls). One trigger per user whatever the call: a batch's undo calls on a user are one group."""
    account = _recorded_in(event, detail)
    identity = _object(detail, "userIdentity")
    user = undo.user
    if user is None:
        if identity.get("type") != "IAMUser" or identity.get("accountId", account) != account:
            raise TriggerError(f"{undo.event_name} names no user and was not made by one of {account}")
        user = identity.get("userName")
    name = _user_name(user)
    return Trigger(
        TriggerFamily.UNDO,
        account,
        name,
        None,
        f"{undo.describe()}, on IAM user {name}",
        _event_id(detail),
        actor=_caller(detail),
    )


def _abuse_too(event: Mapping[str, Any], undo: Trigger) -> tuple[Trigger, ...]:
    """A new key or password made by a user's own key is in the abuse catalogue too: answered as both."""
    try:
        abuse = _abuse(event, event["detail"])
    except TriggerError:
        return ()
    return (replace(abuse, event=undo.event, reported_by=undo.reported_by),)


def _made_by_aws(detail: Mapping[str, Any], user: str) -> bool:
    """AWS's quarantine call is recorded with the quarantined user's own identity and ``AWS Internal`` as source
    and user agent (FACTS.md); an ordinary principal cannot produce ``AWS Internal``."""
    identity = _object(detail, "userIdentity")
    agent = detail.get("userAgent")
    return (
        detail.get("sourceIPAddress") == AWS_INTERNAL
        and isinstance(agent, str)
        and (agent == AWS_INTERNAL or agent.lower().startswith("aws-internal"))
        and identity.get("type") == "IAMUser"
        and identity.get("userName") == user
    )


def _caller(detail: Mapping[str, Any]) -> str:
    """Who a CloudTrail record says made the call, and from where, as a notice says it."""
    identity = _object(detail, "userIdentity")
    who = identity.get("arn") or identity.get("principalId") or identity.get("type") or "an unknown principal"
    return f"{who} (from {detail.get('sourceIPAddress') or '?'}, user agent {detail.get('userAgent') or '?'})"


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
    reason = f"{entry.category}: {detail.get('eventName')} called by the root user {how}"
    return Trigger(
        TriggerFamily.ABUSE,
        account,
        None,
        long_term,
        reason,
        _event_id(detail),
        entry.category,
        Severity.HIGH,
        cannot_contain=root_credentials(f"CloudTrail: {reason}", long_term),
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
    if is_root(user):
        found = f"AWS Health {code} for the root user's access key {key or '(none named)'}"
        return Trigger(
            TriggerFamily.HEALTH_RISK,
            _health_account(event, detail),
            None,
            key,
            f"AWS Health reported {code}",
            detail.get("communicationId") or detail.get("eventArn"),
            from_aws=True,
            cannot_contain=root_credentials(found, key),
        )
    return Trigger(
        TriggerFamily.HEALTH_RISK,
        _health_account(event, detail),
        _user_name(user) if user is not None else None,
        key,
        f"AWS Health reported {code}"
        + (f" for service-specific credential {', '.join(credentials)}" if credentials else ""),
        detail.get("communicationId") or detail.get("eventArn"),
        from_aws=True,
    )


def _health_account(event: Mapping[str, Any], detail: Mapping[str, Any]) -> str:
    affected = detail.get("affectedAccount")  # organizational view: the member the event is about
    return _account(
        affected if isinstance(affected, str) and ACCOUNT_ID.fullmatch(affected) else event.get("account")
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
    key, user = key_details.get("accessKeyId"), key_details.get("userName")
    # Findings on session credentials (ASIA) name the long-term key's user: contain the user, every key.
    long_term_key = key if isinstance(key, str) and LONG_TERM_KEY_ID.fullmatch(key) else None
    account = _account(detail.get("accountId") or event.get("account"))
    reason = f"GuardDuty finding {detail.get('type')}"
    problem = _guardduty_cannot_contain(detail, key_details)
    if problem is not None:
        return Trigger(
            TriggerFamily.GUARDDUTY,
            account,
            None,
            long_term_key,
            reason,
            detail.get("id"),
            from_aws=True,
            cannot_contain=problem,
        )
    if key_details.get("userType") not in (GUARDDUTY_IAM_USER, None):
        raise TriggerError(f"GuardDuty finding about a {key_details.get('userType')}, not an IAM user's key")
    if not isinstance(user, str):
        raise TriggerError("GuardDuty finding names no IAM user")
    return Trigger(
        TriggerFamily.GUARDDUTY,
        account,
        _user_name(user),
        long_term_key,
        reason,
        detail.get("id"),
        from_aws=True,
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
        return _sequence_of_others(detail, account, actors if isinstance(actors, list) else [])
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
        from_aws=True,
    )


def _sequence_of_others(detail: Mapping[str, Any], account: str, actors: list[Any]) -> Trigger:
    """A sequence whose actor is a role's session or root: nothing to contain, a human is told with the role."""
    ours = [
        _object(a, "user")
        for a in actors
        if isinstance(a, Mapping) and _object(_object(a, "user"), "account").get("uid", account) == account
    ]
    found = f"GuardDuty attack sequence {detail.get('type')}"
    for user in ours:
        key = str(user.get("credentialUid") or "?")
        if user.get("type") == "AssumedRole":
            role = _role_name(str(user.get("name")).split("/")[0])
            problem = role_sessions(
                f"{found} on a session of role {role} (key {key})", role, datetime.now(UTC)
            )
        elif user.get("type") == "Root":
            long_term = key if LONG_TERM_KEY_ID.fullmatch(key) else None
            problem = root_credentials(f"{found} on the root user's credentials (key {key})", long_term)
        else:
            continue
        reason = problem.found
        return Trigger(
            TriggerFamily.GUARDDUTY,
            account,
            None,
            None,
            reason,
            detail.get("id"),
            from_aws=True,
            cannot_contain=problem,
        )
    kinds = sorted({str(user.get("type")) for user in ours})
    raise TriggerError(f"{found} names no IAM user, role session or root of {account}: {kinds}")


def _guardduty_cannot_contain(
    detail: Mapping[str, Any], key_details: Mapping[str, Any]
) -> CannotContain | None:
    """A sample finding, or one on root or role-session credentials: nothing the responder may contain."""
    finding, user_type = detail.get("type"), key_details.get("userType")
    raw_key = key_details.get("accessKeyId")
    key = raw_key if isinstance(raw_key, str) else "?"
    if _object(_object(detail, "service"), "additionalInfo").get("sample") in (True, "true"):
        principal = f"{user_type or 'principal'} {key_details.get('userName') or '?'}, key {key}"
        return sample_finding(f"GuardDuty sample finding {finding} naming {principal}")
    if user_type == "Root":
        long_term = key if LONG_TERM_KEY_ID.fullmatch(key) else None
        return root_credentials(
            f"GuardDuty finding {finding} on the root user's credentials (key {key})", long_term
        )
    if user_type == "AssumedRole":
        role = _role_name(key_details.get("userName"))
        found = f"GuardDuty finding {finding} on a session of role {role} (key {key})"
        return role_sessions(found, role, datetime.now(UTC))
    return None


def _role_name(value: Any) -> str:
    if not isinstance(value, str) or not USER_NAME.fullmatch(value):
        raise TriggerError(f"role name {value!r} is not a valid IAM role name")
    return value


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
