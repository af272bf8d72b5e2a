"""A moto account for the responder: a leaked user, bystanders, topic (with an SQS inbox), bucket and ledger."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import boto3
import pytest
from moto import mock_aws

from key_quarantine.handlers import trail
from key_quarantine.handlers.aws import Aws
from key_quarantine.handlers.ledger import Ledger
from key_quarantine.handlers.settings import Settings

REGION = "us-east-1"


@dataclass
class MotoAccount:
    """What a test needs to act and to check: ids, clients, settings."""

    account_id: str
    user: str
    key: str
    other_key: str
    bystander: str
    bystander_key: str
    topic_arn: str
    inbox_url: str
    bucket: str
    table: str
    iam: Any
    settings: Settings = field(default_factory=Settings)

    def aws(self) -> Aws:
        return Aws(region=REGION)

    def ledger(self, aws: Aws) -> Ledger:
        return Ledger(aws, self.table)

    def key_status(self, user: str | None = None) -> dict[str, str]:
        keys = self.iam.list_access_keys(UserName=user or self.user)["AccessKeyMetadata"]
        return {key["AccessKeyId"]: key["Status"] for key in keys}

    def inline_policies(self, user: str | None = None) -> list[str]:
        return list(self.iam.list_user_policies(UserName=user or self.user)["PolicyNames"])

    def notifications(self) -> list[dict[str, Any]]:
        sqs = boto3.client("sqs", region_name=REGION)
        messages = sqs.receive_message(QueueUrl=self.inbox_url, MaxNumberOfMessages=10).get("Messages", [])
        return [json.loads(message["Body"]) for message in messages]

    def evidence_objects(self) -> list[dict[str, Any]]:
        s3 = boto3.client("s3", region_name=REGION)
        listed = s3.list_objects_v2(Bucket=self.bucket).get("Contents", [])
        documents = [o["Key"] for o in listed if o["Key"].endswith(".json")]  # the incident pages are .html
        return [json.loads(s3.get_object(Bucket=self.bucket, Key=key)["Body"].read()) for key in documents]


@pytest.fixture(autouse=True)
def fresh_cloudtrail_pace(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test is an execution environment of its own: CloudTrail's 2 calls a second are not spent by the last
    test's trail (the process-wide ``THROTTLE`` would otherwise defer a trail depending on test order)."""
    monkeypatch.setattr(trail, "THROTTLE", trail.Throttle())


@pytest.fixture
def aws_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)


@pytest.fixture
def account(aws_credentials: None) -> Iterator[MotoAccount]:
    with mock_aws():
        yield build_account()


@pytest.fixture
def wired(account: MotoAccount, monkeypatch: pytest.MonkeyPatch) -> MotoAccount:
    """The account, with the Lambda module's settings and a fresh execution environment (no finished memo)."""
    from key_quarantine.handlers import batch, responder  # noqa: PLC0415 - the module reads settings on import

    monkeypatch.setattr(responder, "SETTINGS", account.settings)
    monkeypatch.setattr(responder, "FINISHED", batch.FinishedMemo())
    monkeypatch.setattr(batch, "GROUP_WORKERS", 1)  # moto's DynamoDB is not thread-safe (see test_burst)
    return account


def create_signals_table(name: str = "signals") -> str:
    """The correlation table as the construct declares it (partition identity, sort at)."""
    boto3.client("dynamodb", region_name=REGION).create_table(
        TableName=name,
        KeySchema=[
            {"AttributeName": "identity", "KeyType": "HASH"},
            {"AttributeName": "at", "KeyType": "RANGE"},
        ],
        AttributeDefinitions=[
            {"AttributeName": "identity", "AttributeType": "S"},
            {"AttributeName": "at", "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    return name


def build_account() -> MotoAccount:
    iam = boto3.client("iam", region_name=REGION)
    for name in ("leaked-deployer", "bystander"):
        iam.create_user(UserName=name)
    key = iam.create_access_key(UserName="leaked-deployer")["AccessKey"]["AccessKeyId"]
    other_key = iam.create_access_key(UserName="leaked-deployer")["AccessKey"]["AccessKeyId"]
    bystander_key = iam.create_access_key(UserName="bystander")["AccessKey"]["AccessKeyId"]
    sns = boto3.client("sns", region_name=REGION)
    sqs = boto3.client("sqs", region_name=REGION)
    topic_arn = sns.create_topic(Name="key-quarantine-alerts")["TopicArn"]
    inbox_url = sqs.create_queue(QueueName="inbox")["QueueUrl"]
    inbox_arn = sqs.get_queue_attributes(QueueUrl=inbox_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=inbox_arn)
    boto3.client("s3", region_name=REGION).create_bucket(Bucket="key-quarantine-evidence")
    boto3.client("dynamodb", region_name=REGION).create_table(
        TableName="key-quarantine-ledger",
        KeySchema=[{"AttributeName": "incident_id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "incident_id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    account_id = boto3.client("sts", region_name=REGION).get_caller_identity()["Account"]
    settings = Settings(
        topic_arn=topic_arn, evidence_bucket="key-quarantine-evidence", ledger_table="key-quarantine-ledger"
    )
    return MotoAccount(
        account_id=account_id,
        user="leaked-deployer",
        key=key,
        other_key=other_key,
        bystander="bystander",
        bystander_key=bystander_key,
        topic_arn=topic_arn,
        inbox_url=inbox_url,
        bucket="key-quarantine-evidence",
        table="key-quarantine-ledger",
        iam=iam,
        settings=settings,
    )
