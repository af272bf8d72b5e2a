"""Faults injected into real botocore clients (moto behind them): a ``before-send`` hook answers in moto's place
with an AWS error response in the service's own protocol, or raises a read timeout, so botocore's real retry logic
(standard mode, with its backoff and jitter) runs on it."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from botocore.awsrequest import AWSResponse
from botocore.exceptions import ReadTimeoutError

from key_quarantine.handlers.aws import Aws


class Fault(StrEnum):
    THROTTLED = "throttled"
    ACCESS_DENIED = "access-denied"
    SERVICE_ERROR = "service-error"
    TIMEOUT = "timeout"


# (status, code) per fault and protocol family: the codes each service really returns for it
_ERRORS: dict[Fault, dict[str, tuple[int, str]]] = {
    Fault.THROTTLED: {
        "query": (400, "Throttling"),
        "json": (400, "ThrottlingException"),
        "s3": (503, "SlowDown"),
    },
    Fault.ACCESS_DENIED: {
        "query": (403, "AccessDenied"),
        "json": (400, "AccessDeniedException"),
        "s3": (403, "AccessDenied"),
    },
    Fault.SERVICE_ERROR: {
        "query": (500, "InternalFailure"),
        "json": (500, "InternalServerError"),
        "s3": (500, "InternalError"),
    },
}
RETRYABLE = {Fault.THROTTLED, Fault.SERVICE_ERROR, Fault.TIMEOUT}


class _Raw(io.BytesIO):
    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self.getvalue()


@dataclass
class Injector:
    """Fails every attempt of one operation (optionally only on one DynamoDB table, or only the first
    ``failures`` attempts) until ``clear``ed."""

    aws: Aws
    service: str
    operation: str
    fault: Fault
    table: str | None = None
    failures: int | None = None
    attempts: int = 0
    _hooks: list[tuple[Any, str]] = field(default_factory=list)

    def install(self) -> Injector:
        client = self.aws.client(self.service)
        event = f"before-send.{client.meta.service_model.service_id.hyphenize()}.{self.operation}"
        client.meta.events.register_first(event, self._answer)
        self._hooks.append((client, event))
        return self

    def clear(self) -> None:
        for client, event in self._hooks:
            client.meta.events.unregister(event, self._answer)
        self._hooks.clear()

    def _answer(self, request: Any, **_: Any) -> AWSResponse | None:
        if self.table is not None and json.loads(request.body or b"{}").get("TableName") != self.table:
            return None  # another table: let moto answer
        if self.failures is not None and self.attempts >= self.failures:
            return None
        self.attempts += 1
        request.url = (
            "https://fault.invalid/"  # moto's own before-send hook runs too: it must not find the call
        )
        if self.fault is Fault.TIMEOUT:
            raise ReadTimeoutError(endpoint_url=request.url)
        protocol = self.aws.client(self.service).meta.service_model.protocol
        return error_response(request.url, protocol, self.fault)


def error_response(url: str, protocol: str, fault: Fault) -> AWSResponse:
    message = f"injected {fault.value}"
    if protocol == "query":
        status, code = _ERRORS[fault]["query"]
        body = (
            f"<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message></Error>"
            "<RequestId>kq-fault</RequestId></ErrorResponse>"
        )
        return AWSResponse(url, status, {"Content-Type": "text/xml"}, _Raw(body.encode()))
    if protocol == "rest-xml":
        status, code = _ERRORS[fault]["s3"]
        body = (
            f"<Error><Code>{code}</Code><Message>{message}</Message><RequestId>kq-fault</RequestId></Error>"
        )
        return AWSResponse(url, status, {"Content-Type": "application/xml"}, _Raw(body.encode()))
    if protocol in ("json", "rest-json"):
        status, code = _ERRORS[fault]["json"]
        headers = {"Content-Type": "application/x-amz-json-1.0", "x-amzn-ErrorType": code}
        return AWSResponse(
            url, status, headers, _Raw(json.dumps({"__type": code, "message": message}).encode())
        )
    raise ValueError(f"no injected errors for the {protocol} protocol yet")
