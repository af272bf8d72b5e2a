"""The IAM calls that can undo a containment, and what one CloudTrail record of them did (issue #11, item 6).

Data and reading only (no settings, no AWS calls): the construct builds its watch rule from ``UNDO_CALLS`` and the
parser reads a record with ``undo_of``. Whether the user is one the responder contained, and whether the caller is
the responder itself or a release, is decided by ``handlers/undo.py`` with what the key's holder cannot write.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from key_quarantine.handlers.settings import CONTAINMENT_POLICY_NAME

ACTIVE = "Active"
#: Calls that turn a credential of the user back on: (the request's id field, what the credential is called).
REACTIVATIONS = {
    "UpdateAccessKey": ("accessKeyId", "access key"),
    "UpdateServiceSpecificCredential": ("serviceSpecificCredentialId", "service-specific credential"),
    "UpdateSSHPublicKey": ("sSHPublicKeyId", "SSH public key"),
    "UpdateSigningCertificate": ("certificateId", "signing certificate"),
}
BOUNDARY_CALLS = ("DeleteUserPermissionsBoundary", "PutUserPermissionsBoundary")
#: New ways in on a contained user: the abuse catalogue watches them too, when a user's own key makes them.
CREATIONS = ("CreateAccessKey", "CreateLoginProfile")
TAG_CALLS = ("TagUser", "UntagUser")
UNDO_CALLS = ("DeleteUserPolicy", *REACTIVATIONS, *BOUNDARY_CALLS, *CREATIONS, *TAG_CALLS)


@dataclass(frozen=True)
class Undo:
    """One recorded call on a user: whose user, what it did, and who made it, from where (the record's words)."""

    event_name: str
    user: str | None  # requestParameters.userName; None: the caller's own user (IAM's rule for these calls)
    what: str
    tag_keys: tuple[str, ...] = ()  # TagUser / UntagUser: the tags it set or removed
    caller_arn: str = ""
    caller_type: str = ""
    session_issuer: str = ""  # the role a session was opened from (AssumedRole callers)
    session_name: str = ""
    source_ip: str = "?"
    user_agent: str = "?"
    at: str = "?"
    event_id: str = ""

    def describe(self) -> str:
        session = f", session {self.session_name}" if self.session_name else ""
        return (
            f"{self.caller_arn or self.caller_type or 'an unknown principal'} ({self.caller_type or '?'}{session}, "
            f"from {self.source_ip}, user agent {self.user_agent}) {self.what} at {self.at} "
            f"(CloudTrail {self.event_name}, event {self.event_id or '?'})"
        )


def undo_of(detail: Mapping[str, Any]) -> Undo | None:
    """What a successful watched call did to its user, or None when it cannot undo a containment (another
    policy deleted, a credential set Inactive, a failed call)."""
    name = detail.get("eventName")
    if detail.get("eventSource") != "iam.amazonaws.com" or name not in UNDO_CALLS or detail.get("errorCode"):
        return None
    request = _object(detail, "requestParameters")
    what = _what(str(name), request, _object(detail, "responseElements"))
    if what is None:
        return None
    identity = _object(detail, "userIdentity")
    issuer = _object(_object(identity, "sessionContext"), "sessionIssuer")
    user = request.get("userName")
    return Undo(
        event_name=str(name),
        user=user if isinstance(user, str) else None,
        what=what,
        tag_keys=_tag_keys(str(name), request),
        caller_arn=_text(identity.get("arn")),
        caller_type=_text(identity.get("type")),
        session_issuer=_text(issuer.get("arn")) if identity.get("type") == "AssumedRole" else "",
        session_name=_text(identity.get("arn")).rsplit("/", 1)[-1] if issuer else "",
        source_ip=_text(detail.get("sourceIPAddress")) or "?",
        user_agent=_text(detail.get("userAgent")) or "?",
        at=_text(detail.get("eventTime")) or "?",
        event_id=_text(detail.get("eventID")),
    )


def _what(name: str, request: Mapping[str, Any], response: Mapping[str, Any]) -> str | None:
    if name in REACTIVATIONS:
        id_field, label = REACTIVATIONS[name]
        return (
            f"set {label} {request.get(id_field) or '?'} Active" if request.get("status") == ACTIVE else None
        )
    if name in TAG_CALLS:
        keys = ", ".join(_tag_keys(name, request)) or "?"
        return f"set the tags {keys}" if name == "TagUser" else f"removed the tags {keys}"
    if name == "DeleteUserPolicy":
        ours = request.get("policyName") == CONTAINMENT_POLICY_NAME
        return f"deleted the deny policy {CONTAINMENT_POLICY_NAME}" if ours else None
    described = {
        "DeleteUserPermissionsBoundary": "removed the user's permissions boundary",
        "PutUserPermissionsBoundary": f"set the user's permissions boundary to {request.get('permissionsBoundary') or '?'}",
        "CreateAccessKey": f"created access key {_object(response, 'accessKey').get('accessKeyId') or '?'}",
        "CreateLoginProfile": "created a console password",
    }
    return described.get(name)


def _tag_keys(name: str, request: Mapping[str, Any]) -> tuple[str, ...]:
    if name == "UntagUser":
        listed = request.get("tagKeys")
        return tuple(k for k in listed if isinstance(k, str)) if isinstance(listed, list) else ()
    if name == "TagUser":
        tags = request.get("tags")
        items = tags if isinstance(tags, list) else []
        return tuple(t["key"] for t in items if isinstance(t, Mapping) and isinstance(t.get("key"), str))
    return ()


def _object(parent: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    value = parent.get(name)
    return value if isinstance(value, Mapping) else {}


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""
