"""Containment: every other credential the user signs in or calls with, set Inactive.

A key's holder adds credentials before the first signal: service-specific credentials (Bedrock long-term API keys,
CodeCommit Git credentials), SSH public keys (CodeCommit), signing certificates. Deactivating the access keys leaves
those working; this step turns off each one found Active. The console password is ``remove-console-access``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from key_quarantine.handlers.steps.base import UNDONE, Skip, Step, why_not_containing

if TYPE_CHECKING:
    from key_quarantine.handlers.playbook import Incident


@dataclass(frozen=True)
class CredentialKind:
    label: str
    list_operation: str
    listed_as: str
    id_field: str
    update_operation: str

    def active(self, iam: Any, user: str) -> list[str]:
        if iam.can_paginate(self.list_operation):
            pages = iam.get_paginator(self.list_operation).paginate(UserName=user)
        else:
            pages = [getattr(iam, self.list_operation)(UserName=user)]
        return [c[self.id_field] for page in pages for c in page[self.listed_as] if c["Status"] == "Active"]

    def deactivate(self, iam: Any, user: str, credential_id: str) -> None:
        getattr(iam, self.update_operation)(
            UserName=user, Status="Inactive", **{self.id_field: credential_id}
        )


KINDS = (
    CredentialKind(
        "service-specific credential",
        "list_service_specific_credentials",
        "ServiceSpecificCredentials",
        "ServiceSpecificCredentialId",
        "update_service_specific_credential",
    ),
    CredentialKind(
        "SSH public key", "list_ssh_public_keys", "SSHPublicKeys", "SSHPublicKeyId", "update_ssh_public_key"
    ),
    CredentialKind(
        "signing certificate",
        "list_signing_certificates",
        "Certificates",
        "CertificateId",
        "update_signing_certificate",
    ),
)


class CredentialsError(Exception):
    """Some credential could not be listed or deactivated; the message says what was and was not done."""


def deactivate_credentials(incident: Incident) -> str:
    if not incident.contains:
        raise Skip(why_not_containing(incident))
    done, failed = [], []
    for kind in KINDS:
        try:
            active = kind.active(incident.iam, incident.user_name)
            for credential_id in active:
                if not incident.settings.dry_run:
                    kind.deactivate(incident.iam, incident.user_name, credential_id)
                done.append(f"{kind.label} {credential_id} Active -> Inactive")
        except Exception as error:  # noqa: BLE001 - one kind failing must not leave the others on
            failed.append(f"{kind.label}s: {type(error).__name__}: {error}")
    summary = "; ".join(done) or "none found active"
    if failed:
        raise CredentialsError(f"NOT all deactivated: {'; '.join(failed)}; done: {summary}")
    if not done:
        raise Skip("no other active credential (service-specific, SSH public key, signing certificate)")
    if incident.settings.dry_run:
        return f"dry run: would set {summary}"
    if STEP.name in incident.done_before:
        return f"{UNDONE}: found Active again after the earlier containment; {summary}"
    return summary


STEP = Step(
    "deactivate-credentials",
    (
        "iam:ListServiceSpecificCredentials",
        "iam:UpdateServiceSpecificCredential",
        "iam:ListSSHPublicKeys",
        "iam:UpdateSSHPublicKey",
        "iam:ListSigningCertificates",
        "iam:UpdateSigningCertificate",
    ),
    deactivate_credentials,
    undo="aws iam update-service-specific-credential / update-ssh-public-key / update-signing-certificate "
    "--user-name {user} --status Active, with each id the step names",
)
