"""What a trail created or changed, and which of its events are evidence that no flood of reads can push out.

A change is read from a successful CloudTrail record (no ``errorCode``): users, access keys on any user, console
passwords, SSH keys, service-specific credentials, MFA devices, policies attached or written, roles created or
re-trusted. A failed attempt is kept as evidence, never as a change.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from key_quarantine.data import abuse_events
from key_quarantine.handlers.trail import Trail

#: CloudTrail event name -> (kind of change, where the target's name is, where its identifier is). Paths are
#: dotted into the record: ``request.`` is requestParameters, ``response.`` responseElements.
CHANGE_CALLS: dict[str, tuple[str, str, str | None]] = {
    "CreateUser": ("user", "request.userName", None),
    "CreateAccessKey": ("access-key", "response.accessKey.userName", "response.accessKey.accessKeyId"),
    "CreateLoginProfile": ("login-profile", "request.userName", None),
    "UpdateLoginProfile": ("login-profile", "request.userName", None),
    "UploadSSHPublicKey": ("ssh-key", "request.userName", "response.sSHPublicKey.sSHPublicKeyId"),
    "CreateServiceSpecificCredential": (
        "service-credential",
        "request.userName",
        "response.serviceSpecificCredential.serviceSpecificCredentialId",
    ),
    "UploadSigningCertificate": (
        "signing-certificate",
        "request.userName",
        "response.certificate.certificateId",
    ),
    "CreateVirtualMFADevice": (
        "mfa-device",
        "request.virtualMFADeviceName",
        "response.virtualMFADevice.serialNumber",
    ),
    "EnableMFADevice": ("mfa-device", "request.userName", "request.serialNumber"),
    "AttachUserPolicy": ("policy", "request.userName", "request.policyArn"),
    "AttachGroupPolicy": ("policy", "request.groupName", "request.policyArn"),
    "AttachRolePolicy": ("policy", "request.roleName", "request.policyArn"),
    "PutUserPolicy": ("policy", "request.userName", "request.policyName"),
    "PutGroupPolicy": ("policy", "request.groupName", "request.policyName"),
    "PutRolePolicy": ("policy", "request.roleName", "request.policyName"),
    "CreatePolicy": ("policy", "request.policyName", "response.policy.arn"),
    "CreatePolicyVersion": ("policy", "request.policyArn", None),
    "AddUserToGroup": ("group-membership", "request.userName", "request.groupName"),
    "CreateRole": ("role", "request.roleName", "response.role.arn"),
    "UpdateAssumeRolePolicy": ("role-trust", "request.roleName", None),
}
#: How each kind of change is undone by hand (the report shows it; containment does the in-scope ones).
UNDO = {
    "user": "aws iam delete-user --user-name {target} (after removing its keys, policies and groups)",
    "access-key": "aws iam update-access-key --user-name {target} --access-key-id {identifier} --status Inactive",
    "login-profile": "aws iam delete-login-profile --user-name {target}",
    "ssh-key": "aws iam update-ssh-public-key --user-name {target} --ssh-public-key-id {identifier} "
    "--status Inactive",
    "service-credential": "aws iam update-service-specific-credential --user-name {target} "
    "--service-specific-credential-id {identifier} --status Inactive",
    "signing-certificate": "aws iam update-signing-certificate --user-name {target} --certificate-id {identifier} "
    "--status Inactive",
    "mfa-device": "aws iam deactivate-mfa-device --user-name {target} --serial-number {identifier}",
    "policy": "review and detach or delete {identifier} on {target}",
    "group-membership": "aws iam remove-user-from-group --user-name {target} --group-name {identifier}",
    "role": "review the role {target}: its trust policy and permissions; delete it if nobody made it on purpose",
    "role-trust": "review the trust policy of role {target} (aws iam get-role --role-name {target})",
}


@dataclass(frozen=True)
class Change:
    kind: str
    target: str
    identifier: str | None
    event_name: str
    at: str
    by: str  # the access key id that made the call
    region: str
    event_id: str

    @property
    def undo(self) -> str:
        return UNDO[self.kind].format(target=self.target, identifier=self.identifier or "")

    def as_json(self) -> dict[str, Any]:
        return {**asdict(self), "undo": self.undo}


def changes_of(events: Iterable[Mapping[str, Any]]) -> list[Change]:
    """What the events created or changed, oldest first."""
    found = []
    for event in events:
        name = str(event.get("EventName"))
        record = event.get("record") or {}
        if name not in CHANGE_CALLS or record.get("errorCode"):
            continue
        kind, target_path, identifier_path = CHANGE_CALLS[name]
        target = _at(record, target_path)
        if target is None:
            continue
        found.append(
            Change(
                kind=kind,
                target=target,
                identifier=_at(record, identifier_path) if identifier_path else None,
                event_name=name,
                at=str(record.get("eventTime", "")),
                by=str(event.get("AccessKeyId") or ""),
                region=str(event.get("region", "")),
                event_id=str(event.get("EventId", "")),
            )
        )
    return sorted(found, key=lambda change: change.at)


def _at(record: Mapping[str, Any], path: str) -> str | None:
    section, *keys = path.split(".")
    value: Any = record.get("requestParameters" if section == "request" else "responseElements")
    for key in keys:
        value = value.get(key) if isinstance(value, Mapping) else None
    return value if isinstance(value, str) and value else None


_CATALOGUE = frozenset((event.event_source, event.event_name) for event in abuse_events())


def must_keep(event: Mapping[str, Any]) -> bool:
    """A write (readOnly false), or a call of the abuse catalogue: kept whatever the cap."""
    record = event.get("record") or {}
    read_only = event.get("ReadOnly", record.get("readOnly"))
    if str(read_only).lower() != "true":
        return True
    return (str(event.get("EventSource")), str(event.get("EventName"))) in _CATALOGUE


def keep_evidence(events: Sequence[Mapping[str, Any]], cap: int) -> dict[str, Any]:
    """Every event that must be kept, and the others up to ``cap`` in all; what was left out is counted by name."""
    kept = [dict(event) for event in events if must_keep(event)]
    others = [event for event in events if not must_keep(event)]
    room = max(0, cap - len(kept))
    kept += [dict(event) for event in others[:room]]
    left_out = Counter(str(event.get("EventName")) for event in others[room:])
    return {
        "events": kept,
        "kept": len(kept),
        "left_out": sum(left_out.values()),
        "left_out_by_name": dict(left_out.most_common()),
        "cap": cap,
    }


def trail_evidence(trail: Trail, cap: int) -> dict[str, Any]:
    """The trail as the evidence document keeps it: its bounds and gaps, the sessions, the changes, and the events
    that must be kept plus the others up to ``cap`` (each event as LookupEvents gave it, record unparsed)."""
    kept = keep_evidence(trail.events, cap)
    events = [{k: v for k, v in event.items() if k != "record"} for event in kept["events"]]
    return {
        **trail.as_json(),
        "changes": [change.as_json() for change in changes_of(trail.events)],
        **kept,
        "events": events,
    }
