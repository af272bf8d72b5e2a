"""Recorded CloudTrail histories, answered to the real botocore client's LookupEvents (moto has no LookupEvents).

``CloudTrailReplay`` hooks the client's own events (as botocore's Stubber does): parameters are validated and
serialized by botocore, and the answer is what CloudTrail documents: events of the asked region, by access key
id or event name, within StartTime/EndTime, newest first, at most 50 a page with a NextToken, an event visible only once its
delivery delay has passed, and ``ThrottlingException`` past 2 calls a second per region.

``History`` writes records shaped like real CloudTrail records (userIdentity, requestParameters,
responseElements with the minted credentials, readOnly, eventID ...).
"""

from __future__ import annotations

import json
import threading
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import botocore.session
from botocore.awsrequest import AWSResponse

from key_quarantine.handlers.aws import Aws

DELIVERY_DELAY = timedelta(minutes=5)
#: The lookup attributes answered, and what each matches in a record.
LOOKUP_ATTRIBUTES: dict[str, Callable[[dict[str, Any]], Any]] = {
    "AccessKeyId": lambda record: record["userIdentity"].get("accessKeyId"),
    "EventName": lambda record: record["eventName"],
}
_MODELS = botocore.session.get_session().get_component("data_loader")  # parsed once for every replay


@dataclass
class History:
    """CloudTrail records of one account, written call by call."""

    account: str
    records: list[dict[str, Any]] = field(default_factory=list)

    def call(
        self,
        key: str,
        event_name: str,
        at: datetime,
        *,
        source: str = "iam.amazonaws.com",
        region: str = "us-east-1",
        read_only: bool = False,
        user: str = "leaked-deployer",
        session_arn: str | None = None,
        request: dict[str, Any] | None = None,
        response: dict[str, Any] | None = None,
        error: str | None = None,
    ) -> dict[str, Any]:
        identity: dict[str, Any]
        if session_arn and ":assumed-role/" in session_arn:
            identity = {
                "type": "AssumedRole",
                "principalId": "AROAEXAMPLEROLE:" + session_arn.rsplit("/", 1)[-1],
                "arn": session_arn,
                "accountId": self.account,
                "accessKeyId": key,
                "sessionContext": {"attributes": {"mfaAuthenticated": "false"}},
            }
        else:
            identity = {
                "type": "IAMUser",
                "principalId": "AIDAEXAMPLEPRINCIPAL1",
                "arn": f"arn:aws:iam::{self.account}:user/{user}",
                "accountId": self.account,
                "accessKeyId": key,
                "userName": user,
            }
        record: dict[str, Any] = {
            "eventVersion": "1.09",
            "userIdentity": identity,
            "eventTime": at.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "eventSource": source,
            "eventName": event_name,
            "awsRegion": region,
            "sourceIPAddress": "203.0.113.17",
            "userAgent": "aws-cli/2.15.0 Python/3.11.6 Linux/6.1",
            "requestParameters": request,
            "responseElements": response,
            "requestID": str(uuid.uuid4()),
            "eventID": str(uuid.uuid4()),
            "readOnly": read_only,
            "eventType": "AwsApiCall",
            "managementEvent": True,
            "recipientAccountId": self.account,
            "eventCategory": "Management",
        }
        if error:
            record["errorCode"] = error
            record["errorMessage"] = f"User is not authorized ({error})"
            record["responseElements"] = None
        self.records.append(record)
        return record

    def reads(self, key: str, count: int, start: datetime, **options: Any) -> None:
        """``count`` cheap read calls a second apart (the flood that used to push the real work out)."""
        for second in range(count):
            self.call(
                key,
                "DescribeInstances",
                start + timedelta(seconds=second),
                source="ec2.amazonaws.com",
                read_only=True,
                **options,
            )

    def assume_role(
        self, key: str, at: datetime, role: str, session_name: str, new_key: str, **options: Any
    ) -> str:
        role_arn = f"arn:aws:iam::{self.account}:role/{role}"
        session_arn = f"arn:aws:sts::{self.account}:assumed-role/{role}/{session_name}"
        self.call(
            key,
            "AssumeRole",
            at,
            source="sts.amazonaws.com",
            read_only=True,
            request={"roleArn": role_arn, "roleSessionName": session_name, "durationSeconds": 43200},
            response={
                "credentials": {
                    "accessKeyId": new_key,
                    "sessionToken": "<redacted by CloudTrail>",
                    "expiration": (at + timedelta(hours=12)).strftime("%b %d, %Y, %I:%M:%S %p"),
                },
                "assumedRoleUser": {"assumedRoleId": f"AROAEXAMPLEROLE:{session_name}", "arn": session_arn},
            },
            **options,
        )
        return session_arn

    def session_token(self, key: str, at: datetime, new_key: str, **options: Any) -> None:
        self.call(
            key,
            "GetSessionToken",
            at,
            source="sts.amazonaws.com",
            read_only=True,
            request={"durationSeconds": 129600},
            response={
                "credentials": {
                    "accessKeyId": new_key,
                    "sessionToken": "<redacted by CloudTrail>",
                    "expiration": (at + timedelta(hours=36)).strftime("%b %d, %Y, %I:%M:%S %p"),
                }
            },
            **options,
        )

    def to_json(self) -> str:
        return json.dumps({"account": self.account, "records": self.records}, indent=1) + "\n"


class CloudTrailReplay:
    """Answers LookupEvents from recorded records, as CloudTrail would at ``now()``."""

    def __init__(
        self,
        records: list[dict[str, Any]],
        now: Callable[[], datetime],
        *,
        delivery_delay: timedelta = DELIVERY_DELAY,
        clock: Callable[[], float] | None = None,
        rate: float = 2.0,
    ) -> None:
        self.records = records
        self.now = now
        self.delivery_delay = delivery_delay
        self.clock = clock  # None: never throttle
        self.rate = rate
        self.calls: Counter[str] = Counter()  # LookupEvents per region
        self.throttled: Counter[str] = Counter()
        self._recent: dict[str, list[float]] = {}
        self._lock = threading.Lock()

    def session(self) -> botocore.session.Session:
        """A botocore session whose cloudtrail clients are answered by this replay."""
        session = botocore.session.get_session()
        session.register_component("data_loader", _MODELS)
        session.register("before-parameter-build.cloudtrail.LookupEvents", self._keep_params)
        session.register("before-call.cloudtrail.LookupEvents", self._answer)
        return session

    def aws(self, region: str = "us-east-1") -> Aws:
        return Aws(self.session(), region)

    @staticmethod
    def _keep_params(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        context["replayed_params"] = dict(params)

    def _answer(self, context: dict[str, Any], **_: Any) -> tuple[AWSResponse, dict[str, Any]]:
        region = context["client_region"]
        with self._lock:
            self.calls[region] += 1
            if self._over_rate(region):
                self.throttled[region] += 1
                error = {"Error": {"Code": "ThrottlingException", "Message": "Rate exceeded"}}
                return AWSResponse("", 400, {}, None), {**error, "ResponseMetadata": {"HTTPStatusCode": 400}}
        return AWSResponse("", 200, {}, None), self._page(region, context["replayed_params"])

    def _over_rate(self, region: str) -> bool:
        if self.clock is None:
            return False
        now = self.clock()
        recent = [at for at in self._recent.get(region, []) if now - at < 1.0]
        recent.append(now)
        self._recent[region] = recent
        return len(recent) > self.rate

    def _page(self, region: str, params: dict[str, Any]) -> dict[str, Any]:
        (attribute,) = params["LookupAttributes"]
        value_of = LOOKUP_ATTRIBUTES[attribute["AttributeKey"]]
        start, end = _aware(params.get("StartTime")), _aware(params.get("EndTime"))
        visible_until = self.now() - self.delivery_delay
        matching = [
            record
            for record in self.records
            if record["awsRegion"] == region
            and value_of(record) == attribute["AttributeValue"]
            and _when(record) <= visible_until
            and (start is None or _when(record) >= start)
            and (end is None or _when(record) <= end)
        ]
        matching.sort(key=_when, reverse=True)
        offset = int(params.get("NextToken") or 0)
        size = min(int(params.get("MaxResults", 50)), 50)
        page = matching[offset : offset + size]
        answer: dict[str, Any] = {"Events": [_lookup_event(record) for record in page]}
        if offset + size < len(matching):
            answer["NextToken"] = str(offset + size)
        return answer


def _lookup_event(record: dict[str, Any]) -> dict[str, Any]:
    identity = record["userIdentity"]
    return {
        "EventId": record["eventID"],
        "EventName": record["eventName"],
        "ReadOnly": str(record["readOnly"]).lower(),
        "AccessKeyId": identity.get("accessKeyId"),
        "EventTime": _when(record),
        "EventSource": record["eventSource"],
        "Username": identity.get("userName") or identity.get("arn", "").rsplit("/", 1)[-1],
        "Resources": [],
        "CloudTrailEvent": json.dumps(record),
    }


def _when(record: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(record["eventTime"].replace("Z", "+00:00"))


def _aware(value: Any) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=UTC)
