"""The key's holder undoing a containment from a role session, and the CloudTrail records AWS writes for it.

moto records no CloudTrail: each helper makes the call in moto (so IAM really changes) and returns the record in
the shape CloudTrail documents for IAM calls made with a role session (the ``userIdentity`` of an ``AssumedRole``
with its ``sessionContext.sessionIssuer``, as in AWS's "CloudTrail userIdentity element" reference; request
parameters in the camelCase CloudTrail logs), wrapped as EventBridge delivers it ("AWS API Call via CloudTrail",
as in /work/shared/events/cloudtrail-attach-quarantine.json).
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import boto3

from tests.handlers.conftest import REGION, MotoAccount

ATTACKER_IP = "198.51.100.23"
ATTACKER_AGENT = "aws-cli/2.15.0 Python/3.11.6 Linux/6.1 exe/x86_64"
SESSION_NAME = "i-0abc1234"
ADMIN_POLICY = json.dumps(
    {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "iam:*", "Resource": "*"}]}
)


@dataclass(frozen=True)
class Session:
    """A role session: an IAM client signed with it, and the userIdentity CloudTrail records for its calls."""

    iam: Any
    identity: dict[str, Any]

    @property
    def arn(self) -> str:
        return str(self.identity["arn"])


def role_session(
    account: MotoAccount, role: str = "ops-automation", session: str = SESSION_NAME, path: str = "/"
) -> Session:
    """The holder's foothold: a role with IAM permissions it assumed before the containment (a role session is
    not ended by a deny on the user)."""
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{account.account_id}:root"},
                "Action": "sts:AssumeRole",
            }
        ],
    }
    created = account.iam.create_role(RoleName=role, Path=path, AssumeRolePolicyDocument=json.dumps(trust))[
        "Role"
    ]
    account.iam.put_role_policy(RoleName=role, PolicyName="iam-admin", PolicyDocument=ADMIN_POLICY)
    assumed = boto3.client("sts", region_name=REGION).assume_role(
        RoleArn=created["Arn"], RoleSessionName=session
    )
    credentials = assumed["Credentials"]
    client = boto3.client(
        "iam",
        region_name=REGION,
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
    )
    return Session(client, assumed_role_identity(account.account_id, created, session, credentials))


def assumed_role_identity(
    account_id: str, role: dict[str, Any], session: str, credentials: dict[str, Any]
) -> dict[str, Any]:
    return {
        "type": "AssumedRole",
        "principalId": f"{role['RoleId']}:{session}",
        "arn": f"arn:aws:sts::{account_id}:assumed-role/{role['RoleName']}/{session}",
        "accountId": account_id,
        "accessKeyId": credentials["AccessKeyId"],
        "sessionContext": {
            "sessionIssuer": {
                "type": "Role",
                "principalId": role["RoleId"],
                "arn": role["Arn"],
                "accountId": account_id,
                "userName": role["RoleName"],
            },
            "webIdFederationData": {},
            "attributes": {"creationDate": _now(), "mfaAuthenticated": "false"},
        },
    }


def session_of(account_id: str, role_arn: str, session: str) -> dict[str, Any]:
    """The userIdentity of a session of ``role_arn`` (the responder's own, an operator's), without moto."""
    name = role_arn.rsplit("/", 1)[-1]
    role = {"RoleId": "AROAEXAMPLEROLEID0001", "RoleName": name, "Arn": role_arn}
    return assumed_role_identity(account_id, role, session, {"AccessKeyId": "ASIAEXAMPLESESSION01"})


def record(
    account_id: str,
    identity: dict[str, Any],
    event_name: str,
    request: dict[str, Any],
    response: dict[str, Any] | None = None,
    *,
    error: str | None = None,
    at: datetime | None = None,
) -> dict[str, Any]:
    """The CloudTrail record of one IAM call (``detail`` of its EventBridge event)."""
    detail: dict[str, Any] = {
        "eventVersion": "1.09",
        "userIdentity": identity,
        "eventTime": (at or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "eventSource": "iam.amazonaws.com",
        "eventName": event_name,
        "awsRegion": "us-east-1",
        "sourceIPAddress": ATTACKER_IP,
        "userAgent": ATTACKER_AGENT,
        "requestParameters": request,
        "responseElements": response,
        "requestID": str(uuid.uuid4()),
        "eventID": str(uuid.uuid4()),
        "readOnly": False,
        "eventType": "AwsApiCall",
        "managementEvent": True,
        "recipientAccountId": account_id,
        "eventCategory": "Management",
    }
    if error:
        detail.update(errorCode=error, errorMessage=f"not authorized ({error})", responseElements=None)
    return detail


def delivered(account_id: str, detail: dict[str, Any]) -> dict[str, Any]:
    """The record as EventBridge delivers it (IAM's events, in us-east-1)."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "AWS API Call via CloudTrail",
        "source": "aws.iam",
        "account": account_id,
        "time": detail["eventTime"],
        "region": "us-east-1",
        "resources": [],
        "detail": detail,
    }


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
