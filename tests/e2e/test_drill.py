"""``key-quarantine drill`` against a moto server that stands in for a deployed KeyQuarantine stack.

The stack's outputs, ledger and quarantine rule come from the construct's synthesized template. Two things AWS
does that moto cannot are played here, in process: CloudTrail turning the drill's AttachUserPolicy into the
EventBridge event (moto's EventBridge then routes it by the synthesized rule to the buffer queue), and Lambda's
event source mapping handing the queue's messages to the responder's real handler.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import aws_cdk as cdk
import boto3
import pytest

from key_quarantine import KeyQuarantine
from key_quarantine.cli.main import main
from key_quarantine.data import QUARANTINE_POLICY_ARN_PREFIX
from key_quarantine.handlers import batch, responder
from key_quarantine.handlers.aws import Aws
from key_quarantine.handlers.batch import FinishedMemo
from key_quarantine.handlers.ledger import CONTAINED_PREFIX
from key_quarantine.handlers.organization import Membership
from key_quarantine.handlers.settings import DRILL_TAG, STACK_OUTPUTS, Settings
from tests.cdk_apps import synth
from tests.e2e.test_cli_on_moto_server import Server, moto_server, server
from tests.handlers.test_responder_wiring import context_for
from tests.handlers.test_sweep import install_quarantine_policy
from tests.samples import sample_event

__all__ = ["moto_server", "server"]
STACK = "Security"


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    def build(app: cdk.App) -> None:
        stack = cdk.Stack(app, STACK, env=cdk.Environment(account="123456789012", region="us-east-1"))
        KeyQuarantine(stack, "KeyQuarantine", notification_emails=["secops@example.com"])

    assembly = synth(tmp_path_factory.mktemp("drill") / "cdk.out", build)
    loaded: dict[str, Any] = json.loads((assembly / f"{STACK}.template.json").read_text())
    return loaded


@dataclass
class Deployed:
    clients: dict[str, Any]
    ledger: str
    topic_arn: str
    queue_url: str
    account_id: str


def client(server: Server, service: str) -> Any:
    return boto3.client(service, endpoint_url=server.environment["AWS_ENDPOINT_URL"], region_name="us-east-1")


def deploy(server: Server, template: dict[str, Any], *, outputs: bool = True) -> Deployed:
    """The stack's pieces the drill path crosses, named as the synthesized outputs say."""
    clients = {s: client(server, s) for s in ("sns", "sqs", "dynamodb", "events", "cloudformation", "iam")}
    resources = template["Resources"]
    (ledger_id,) = [i for i, r in resources.items() if r["Type"] == "AWS::DynamoDB::Table" and "Ledger" in i]
    schema = resources[ledger_id]["Properties"]
    clients["dynamodb"].create_table(
        TableName="ledger",
        KeySchema=schema["KeySchema"],
        AttributeDefinitions=schema["AttributeDefinitions"],
        BillingMode="PAY_PER_REQUEST",
    )
    topic_arn = clients["sns"].create_topic(Name="kq-topic")["TopicArn"]
    queue_url = clients["sqs"].create_queue(QueueName="buffer")["QueueUrl"]
    queue_arn = clients["sqs"].get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])
    (quarantine_rule,) = [
        r
        for r in resources.values()
        if r["Type"] == "AWS::Events::Rule"
        and QUARANTINE_POLICY_ARN_PREFIX in json.dumps(r["Properties"].get("EventPattern"))
    ]
    pattern = quarantine_rule["Properties"]["EventPattern"]
    clients["events"].put_rule(Name="quarantine", EventPattern=json.dumps(pattern))
    clients["events"].put_targets(
        Rule="quarantine", Targets=[{"Id": "buffer", "Arn": queue_arn["Attributes"]["QueueArn"]}]
    )
    physical = {
        ledger_id: "ledger",
        **{i: topic_arn for i, r in resources.items() if r["Type"] == "AWS::SNS::Topic"},
    }
    declared = template["Outputs"] if outputs else {}
    stack_body = {
        "Resources": {"Placeholder": {"Type": "AWS::SQS::Queue"}},  # a template needs one resource
        "Outputs": {name: {"Value": physical[o["Value"]["Ref"]]} for name, o in declared.items()},
    }
    clients["cloudformation"].create_stack(StackName=STACK, TemplateBody=json.dumps(stack_body))
    return Deployed(clients, "ledger", topic_arn, queue_url, server.account_id)


class AwsSide(threading.Thread):
    """CloudTrail (the attach becomes an EventBridge event) and Lambda's SQS poller (the real handler)."""

    def __init__(self, deployed: Deployed) -> None:
        super().__init__(daemon=True)
        self.deployed, self.stopping, self.recorded = deployed, threading.Event(), set[tuple[str, str]]()
        self.errors: list[BaseException] = []

    def run(self) -> None:
        while not self.stopping.wait(0.2):
            try:
                self._cloudtrail()
                self._event_source_mapping()
            except BaseException as error:  # noqa: BLE001 - reported by the test
                self.errors.append(error)

    def _cloudtrail(self) -> None:
        iam = self.deployed.clients["iam"]
        for user in iam.list_users()["Users"]:
            for policy in iam.list_attached_user_policies(UserName=user["UserName"])["AttachedPolicies"]:
                if (user["UserName"], policy["PolicyArn"]) in self.recorded:
                    continue
                self.recorded.add((user["UserName"], policy["PolicyArn"]))
                event = sample_event("cloudtrail-attach-quarantine.json")
                detail = event["detail"]
                detail["recipientAccountId"] = self.deployed.account_id
                detail["requestParameters"] = {"userName": user["UserName"], "policyArn": policy["PolicyArn"]}
                self.deployed.clients["events"].put_events(
                    Entries=[
                        {
                            "Source": "aws.iam",
                            "DetailType": event["detail-type"],
                            "Detail": json.dumps(detail),
                        }
                    ]
                )

    def _as_eventbridge_sends(self, body: str) -> str:
        """moto's EventBridge leaves the envelope's ``account`` out of what it sends to SQS (FACTS.md)."""
        return json.dumps({"account": self.deployed.account_id, **json.loads(body)})

    def _event_source_mapping(self) -> None:
        sqs = self.deployed.clients["sqs"]
        messages = sqs.receive_message(QueueUrl=self.deployed.queue_url, MaxNumberOfMessages=10)
        records = [
            {
                "messageId": m["MessageId"],
                "body": self._as_eventbridge_sends(m["Body"]),
                "eventSource": "aws:sqs",
            }
            for m in messages.get("Messages", [])
        ]
        if not records:
            return
        answer = responder.lambda_handler({"Records": records}, context_for(self.deployed.account_id))
        failed = {f["itemIdentifier"] for f in answer["batchItemFailures"]}
        for message in messages["Messages"]:
            if message["MessageId"] not in failed:
                sqs.delete_message(QueueUrl=self.deployed.queue_url, ReceiptHandle=message["ReceiptHandle"])


@pytest.fixture
def operator(server: Server, monkeypatch: pytest.MonkeyPatch) -> Server:
    """The operator's shell: boto3 pointed at moto, with a role session's credentials (as the drill asks)."""
    for name, value in server.environment.items():
        if name.startswith("AWS_"):
            monkeypatch.setenv(name, value)
    iam = server.iam
    trust = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"}],
    }
    role = iam.create_role(RoleName="SecurityOperator", AssumeRolePolicyDocument=json.dumps(trust))["Role"]
    session = client(server, "sts").assume_role(RoleArn=role["Arn"], RoleSessionName="drill")["Credentials"]
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", session["AccessKeyId"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", session["SecretAccessKey"])
    monkeypatch.setenv("AWS_SESSION_TOKEN", session["SessionToken"])
    install_quarantine_policy()
    return server


@pytest.fixture
def aws_side(
    operator: Server, template: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> Iterator[AwsSide]:
    deployed = deploy(operator, template)
    aws = Aws()
    monkeypatch.setattr(
        responder, "SETTINGS", Settings(topic_arn=deployed.topic_arn, ledger_table=deployed.ledger)
    )
    monkeypatch.setattr(responder, "AWS", aws)
    monkeypatch.setattr(responder, "MEMBERSHIP", Membership(aws))
    monkeypatch.setattr(responder, "FINISHED", FinishedMemo())
    monkeypatch.setattr(batch, "GROUP_WORKERS", 1)  # moto's DynamoDB is not thread-safe
    side = AwsSide(deployed)
    side.start()
    yield side
    side.stopping.set()
    side.join(timeout=10)


def bystander(server: Server) -> str:
    server.iam.create_user(UserName="ci-deployer")
    return str(server.iam.create_access_key(UserName="ci-deployer")["AccessKey"]["AccessKeyId"])


def drill(capsys: pytest.CaptureFixture[str], *arguments: str) -> tuple[int, str, str]:
    code = main(["drill", "--stack", STACK, *arguments])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_the_synthesized_stack_has_the_outputs_the_drill_reads(template: dict[str, Any]) -> None:
    assert set(template["Outputs"]) == set(STACK_OUTPUTS.values())


def test_the_drill_proves_the_path_and_leaves_nothing_behind(
    aws_side: AwsSide, operator: Server, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a deployed stack and a bystander whose key must not be touched
    other_key = bystander(operator)
    # When the drill runs for real
    code, out, err = drill(capsys, "--execute", "--timeout", "60", "--format", "json")
    # Then every stage was seen, with its latency, and the throwaway user is gone
    assert code == 0, err + out
    report = json.loads(out)
    assert report["passed"]
    assert [s["stage"] for s in report["stages"]] == [
        "key deactivated",
        "deny policy in place",
        "notice published",
    ]
    assert all(isinstance(s["seconds_after_signal"], float) for s in report["stages"])
    assert report["user"].startswith("key-quarantine-drill-")
    names = [u["UserName"] for u in operator.iam.list_users()["Users"]]
    assert names == ["ci-deployer"]
    assert not aws_side.errors
    # And no other principal was touched: the bystander's key is active, it has no policy, the role is as it was
    assert operator.iam.list_access_keys(UserName="ci-deployer")["AccessKeyMetadata"][0]["Status"] == "Active"
    assert other_key
    assert operator.iam.list_user_policies(UserName="ci-deployer")["PolicyNames"] == []
    assert operator.iam.list_attached_role_policies(RoleName="SecurityOperator")["AttachedPolicies"] == []
    # And the incident stays in the ledger as the record of the drill
    items = aws_side.deployed.clients["dynamodb"].scan(TableName="ledger")["Items"]
    incidents = [i for i in items if not i["incident_id"]["S"].startswith(CONTAINED_PREFIX)]
    assert [i["user"]["S"] for i in incidents] == [report["user"]]


def test_a_responder_that_never_answers_fails_the_drill_and_it_still_cleans_up(
    operator: Server, template: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a stack whose responder is not running (nothing reads the queue)
    deploy(operator, template)
    # When the drill runs with a short timeout
    code, out, _ = drill(capsys, "--execute", "--timeout", "2")
    # Then it fails (exit 1), says which stages were not seen, and the throwaway user is deleted anyway
    assert code == 1
    assert "key deactivated        not seen" in out
    assert "drill FAILED" in out
    assert operator.iam.list_users()["Users"] == []


def test_without_execute_the_drill_only_says_what_it_would_do(
    operator: Server, template: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    deploy(operator, template)
    code, out, _ = drill(capsys)
    assert code == 0
    assert "dry run (add --execute to run it)" in out
    assert DRILL_TAG in out
    assert operator.iam.list_users()["Users"] == []


@pytest.mark.parametrize("problem", ["no stack", "no outputs", "a user's key"])
def test_it_refuses_in_one_line_without_the_stacks_outputs_or_as_a_user(
    problem: str, server: Server, template: dict[str, Any], monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    for name, value in server.environment.items():
        if name.startswith("AWS_"):
            monkeypatch.setenv(name, value)
    if problem != "no stack":
        deploy(server, template, outputs=problem != "no outputs")
    code, _, err = drill(capsys, "--execute")
    assert code == 2
    assert len(err.strip().splitlines()) == 1
    expected = {"no stack": "stack 'Security'", "no outputs": "has no output", "a user's key": "role session"}
    assert expected[problem] in err
    assert server.iam.list_users()["Users"] == []


def test_a_ledger_the_operator_cannot_read_is_named_and_the_drill_fails_without_a_traceback(
    aws_side: AwsSide, operator: Server, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a ledger the operator's session cannot read (here: gone; in AWS: its key serves operator_role_arns only)
    aws_side.deployed.clients["dynamodb"].delete_table(TableName="ledger")
    # When the drill runs
    code, out, err = drill(capsys, "--execute", "--timeout", "5")
    # Then containment is still seen, the notice is not, the reason is one line, and the user is deleted
    assert code == 1, err
    assert "deny policy in place   " in out
    assert "notice published       not seen" in out
    assert "problem: cannot read the ledger ledger (ResourceNotFoundException)" in out
    assert operator.iam.list_users()["Users"] == []
