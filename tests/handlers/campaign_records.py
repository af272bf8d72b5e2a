"""Real-shaped CloudTrail records, one per abuse catalogue entry (events/campaign_records.json), as EventBridge events
made by the callers a leaked key can be, and by the callers that must never match."""

from __future__ import annotations

import copy
import json
from functools import cache
from pathlib import Path
from typing import Any

from key_quarantine import data

ACCOUNT = "111122223333"
RECORDS = Path(__file__).resolve().parent / "events" / "campaign_records.json"


def long_term_key(user: str = "leaked-deployer", key: str = "AKIAIOSFODNN7EXAMPLE") -> dict[str, Any]:
    return {
        "type": "IAMUser",
        "principalId": "AIDAEXAMPLEPRINCIPAL1",
        "arn": f"arn:aws:iam::{ACCOUNT}:user/{user}",
        "accountId": ACCOUNT,
        "accessKeyId": key,
        "userName": user,
    }


SESSION_FROM_USER_KEY = {
    **long_term_key(),
    "accessKeyId": "ASIAEXAMPLESESSION01",
    "sessionContext": {"attributes": {"mfaAuthenticated": "false"}},
}
#: A GetFederationToken session, as CloudTrail logs it (Stratus Red Team aws.persistence.sts-federation-token).
FEDERATED_FROM_USER_KEY = {
    "type": "FederatedUser",
    "principalId": f"{ACCOUNT}:backup",
    "arn": f"arn:aws:sts::{ACCOUNT}:federated-user/backup",
    "accountId": ACCOUNT,
    "accessKeyId": "ASIAEXAMPLEFEDERATE1",
    "sessionContext": {
        "attributes": {"creationDate": "2026-11-20T03:10:00Z", "mfaAuthenticated": "false"},
        "sessionIssuer": {
            "type": "IAMUser",
            "principalId": "AIDAEXAMPLEPRINCIPAL1",
            "arn": f"arn:aws:iam::{ACCOUNT}:user/leaked-deployer",
            "accountId": ACCOUNT,
            "userName": "leaked-deployer",
        },
        "webIdFederationData": {},
    },
}
ROLE = {
    "type": "AssumedRole",
    "principalId": "AROAEXAMPLEROLE:app",
    "arn": f"arn:aws:sts::{ACCOUNT}:assumed-role/app/app",
    "accountId": ACCOUNT,
    "accessKeyId": "ASIAEXAMPLEROLESESS1",
    "sessionContext": {"sessionIssuer": {"type": "Role", "userName": "app"}},
}
SERVICE = {"type": "AWSService", "invokedBy": "ecs.amazonaws.com"}
AWS_ACCOUNT = {"type": "AWSAccount", "principalId": "AIDAEXAMPLEOTHER", "accountId": "999988887777"}
#: The user's own key, with CloudFormation making the call while it deploys the user's stack.
BY_CLOUDFORMATION = {**long_term_key(), "invokedBy": "cloudformation.amazonaws.com"}


@cache
def _records() -> tuple[dict[str, Any], ...]:
    records = json.loads(RECORDS.read_text())["records"]
    entries = data.abuse_events()
    assert len(records) == len(entries), "campaign_records.json needs one record per catalogue entry"
    return tuple(records)


def record_of(entry: data.AbuseEvent) -> dict[str, Any]:
    """The real-shaped record for a catalogue entry (with the source it is shaped after, under ``cite``)."""
    found = _records()[data.abuse_events().index(entry)]
    record = found["record"]
    assert (record["eventSource"], record["eventName"]) == (entry.event_source, entry.event_name)
    return copy.deepcopy(found)


def event_of(entry: data.AbuseEvent, identity: dict[str, Any] | None = None, **detail: Any) -> dict[str, Any]:
    """The entry's record as EventBridge delivers it, made by ``identity`` (default a long-lived user key)."""
    record = record_of(entry)["record"]
    caller = copy.deepcopy(identity if identity is not None else long_term_key())
    if record.pop("userName", None) and caller.get("type") == "IAMUser":  # a Bedrock API key's own user
        caller.update(userName="BedrockAPIKey-x1y2", arn=f"arn:aws:iam::{ACCOUNT}:user/BedrockAPIKey-x1y2")
        caller.pop("accessKeyId", None)
    return cloudtrail_event(record, caller, **detail)


def cloudtrail_event(record: dict[str, Any], identity: dict[str, Any], **detail: Any) -> dict[str, Any]:
    """An EventBridge event carrying a CloudTrail record (fields per the CloudTrail record-contents reference)."""
    source = record["eventSource"]
    return {
        "version": "0",
        "id": "7bf73129-1428-4cd3-a780-95db273d1602",
        "detail-type": "AWS API Call via CloudTrail",
        "source": "aws." + source.split(".", maxsplit=1)[0],
        "account": ACCOUNT,
        "time": "2026-11-20T03:15:40Z",
        "region": "us-east-1",
        "resources": [],
        "detail": {
            "eventVersion": "1.09",
            "userIdentity": identity,
            "eventTime": "2026-11-20T03:15:40Z",
            "awsRegion": "us-east-1",
            "sourceIPAddress": "203.0.113.17",
            "userAgent": "python-requests/2.31.0",
            "responseElements": None,
            "requestID": "0a1b2c3d-0000-4000-8000-000000000001",
            "eventID": "1a2b3c4d-0000-4000-8000-000000000002",
            "eventType": "AwsApiCall",
            "managementEvent": True,
            "recipientAccountId": ACCOUNT,
            "eventCategory": "Management",
            **record,
            **detail,
        },
    }
