"""IAM service-specific credentials for moto 5.2.5, which has none (FACTS.md): Create, List, Update, Delete.

Added to moto's IAM request handler, so it serves both ``mock_aws`` and ``ThreadedMotoServer`` through moto's own
request parsing and response serialization (botocore's shapes). State lives on the account's IAM backend, so moto's
reset clears it. Enough for the containment tests: per-user credentials with a status; NoSuchEntity for an unknown
user or credential, as IAM answers.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import Any

from moto.core.responses import ActionResult, EmptyResult
from moto.iam.exceptions import NotFoundException
from moto.iam.responses import IamResponse


def _store(response: IamResponse) -> dict[str, dict[str, Any]]:
    backend: Any = response.backend
    if not hasattr(backend, "kq_service_credentials"):
        backend.kq_service_credentials = {}
    store: dict[str, dict[str, Any]] = backend.kq_service_credentials
    return store


def _create(self: IamResponse) -> ActionResult:
    user = self.backend.get_user(self._get_param("UserName")).name  # NoSuchEntity for an unknown user
    service = self._get_param("ServiceName")
    credential = {
        "CreateDate": datetime.now(UTC),
        "ServiceName": service,
        "ServiceUserName": f"{user}-at-{secrets.token_hex(4)}",
        "ServicePassword": secrets.token_urlsafe(30),
        "ServiceSpecificCredentialId": "ACCA" + secrets.token_hex(8).upper(),
        "UserName": user,
        "Status": "Active",
    }
    _store(self)[credential["ServiceSpecificCredentialId"]] = credential
    return ActionResult({"ServiceSpecificCredential": credential})


def _list(self: IamResponse) -> ActionResult:
    user = self.backend.get_user(self._get_param("UserName")).name
    service = self._get_param("ServiceName")
    listed = [
        {k: v for k, v in c.items() if k != "ServicePassword"}
        for c in _store(self).values()
        if c["UserName"] == user and (service is None or c["ServiceName"] == service)
    ]
    return ActionResult({"ServiceSpecificCredentials": listed})


def _credential(self: IamResponse) -> dict[str, Any]:
    user = self.backend.get_user(self._get_param("UserName")).name
    credential = _store(self).get(self._get_param("ServiceSpecificCredentialId"))
    if credential is None or credential["UserName"] != user:
        raise NotFoundException("No such service-specific credential")
    return credential


def _update(self: IamResponse) -> ActionResult:
    _credential(self)["Status"] = self._get_param("Status")
    return EmptyResult()


def _delete(self: IamResponse) -> ActionResult:
    del _store(self)[_credential(self)["ServiceSpecificCredentialId"]]
    return EmptyResult()


def install() -> None:
    for name, handler in {
        "create_service_specific_credential": _create,
        "list_service_specific_credentials": _list,
        "update_service_specific_credential": _update,
        "delete_service_specific_credential": _delete,
    }.items():
        setattr(IamResponse, name, handler)
