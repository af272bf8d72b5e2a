"""Detection benchmark: campaign records detected per category, and false matches on a benign corpus of our own.

    .venv/bin/python bench/detection_bench.py            # prints the table for BENCHMARKS.md

Campaign side: each real-shaped record of tests/handlers/events/campaign_records.json, made by every caller a
leaked user key can be (the key, a GetSessionToken session, a GetFederationToken session) and as a failed call.
A record is detected when its category's EventBridge rule delivers it and the responder makes an incident of it:
at once for a ``call`` entry, or when the campaign's timeline (the category's records, a minute apart, across three
regions, secrets read ten times) completes a correlation for a ``correlation`` entry.

Benign side: a working day of CI users and developers (deploys through CloudFormation, builds, reads, an IDE
toolkit's probes, a two-region deploy) plus roles and AWS services doing the very same calls. Counted: the calls
a rule delivers to the responder, and the incidents (notifications) they become.
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import time
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT / "src"))

from key_quarantine import data  # noqa: E402 - after the path set-up, as the other benches
from key_quarantine.data.detections import categories, detection_pattern  # noqa: E402
from key_quarantine.handlers.correlation import CORRELATION_CALLS, Signal, correlate  # noqa: E402
from key_quarantine.handlers.triggers import TriggerError, parse_event  # noqa: E402
from key_quarantine.rules.event_pattern import parse_pattern  # noqa: E402

RECORDS = ROOT / "tests" / "handlers" / "events" / "campaign_records.json"
ACCOUNT = "111122223333"
START = datetime(2026, 11, 24, 8, 0, tzinfo=UTC)
REGIONS = ("us-east-1", "eu-west-1", "ap-southeast-2")


def user(name: str, key: str = "AKIAIOSFODNN7EXAMPLE") -> dict[str, Any]:
    return {
        "type": "IAMUser",
        "principalId": f"AIDA{name.upper()[:8]}",
        "arn": f"arn:aws:iam::{ACCOUNT}:user/{name}",
        "accountId": ACCOUNT,
        "accessKeyId": key,
        "userName": name,
    }


def leaked_callers() -> dict[str, dict[str, Any]]:
    session = {**user("leaked"), "accessKeyId": "ASIAEXAMPLESESSION01"}
    federated = {
        "type": "FederatedUser",
        "principalId": f"{ACCOUNT}:x",
        "arn": f"arn:aws:sts::{ACCOUNT}:federated-user/x",
        "accountId": ACCOUNT,
        "accessKeyId": "ASIAEXAMPLEFEDERATE1",
        "sessionContext": {"sessionIssuer": {"type": "IAMUser", "userName": "leaked", "accountId": ACCOUNT}},
    }
    return {"key": user("leaked"), "session": session, "federated": federated}


def event(
    record: dict[str, Any], identity: dict[str, Any], at: datetime, region: str, **extra: Any
) -> dict[str, Any]:
    detail = {
        "eventVersion": "1.09",
        "userIdentity": identity,
        "eventTime": at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "awsRegion": region,
        "sourceIPAddress": "203.0.113.17",
        "eventID": f"{at.timestamp():.0f}-{record['eventName']}",
        "eventType": "AwsApiCall",
        "managementEvent": True,
        "recipientAccountId": ACCOUNT,
        "requestParameters": None,
        **record,
        **extra,
    }
    detail.pop("userName", None)
    return {
        "version": "0",
        "detail-type": "AWS API Call via CloudTrail",
        "source": "aws." + record["eventSource"].split(".")[0],
        "account": ACCOUNT,
        "time": detail["eventTime"],
        "region": region,
        "detail": detail,
    }


PATTERNS = {category: parse_pattern(detection_pattern(category)) for category in categories()}


def delivered(candidate: dict[str, Any]) -> list[str]:
    return [category for category, pattern in PATTERNS.items() if pattern.matches(candidate)]


def campaign(records: list[dict[str, Any]]) -> dict[str, tuple[int, int]]:
    """Per category: records detected, records (each record counted once per caller and once failed)."""
    by_category: dict[str, list[tuple[data.AbuseEvent, dict[str, Any]]]] = defaultdict(list)
    for entry, record in zip(data.abuse_events(), records, strict=True):
        by_category[entry.category].append((entry, record["record"]))
    results = {}
    for category, items in by_category.items():
        detected = total = 0
        for identity in leaked_callers().values():
            for failed in (False, True):
                hits = _campaign_hits(category, _timeline(items, identity, failed=failed))
                detected += sum(hits)
                total += len(items)
        results[category] = (detected, total)
    return results


def _timeline(
    items: list[tuple[data.AbuseEvent, dict[str, Any]]], identity: dict[str, Any], *, failed: bool
) -> list[tuple[data.AbuseEvent, list[dict[str, Any]]]]:
    extra = {"errorCode": "AccessDenied"} if failed else {}
    timeline = []
    for index, (entry, record) in enumerate(items):
        at = START + timedelta(minutes=index)
        copies = 10 if entry.event_name in ("GetSecretValue", "GetParameters") else 1
        calls = [
            event(
                copy.deepcopy(record), identity, at + timedelta(seconds=n), REGIONS[(index + n) % 3], **extra
            )
            for n in range(copies)
        ]
        timeline.append((entry, calls))
    return timeline


def _campaign_hits(category: str, timeline: list[tuple[data.AbuseEvent, list[dict[str, Any]]]]) -> list[bool]:
    """A call entry is detected by its own incident; a correlation entry by a correlation that reads it and that
    the campaign's timeline completes (at the end of it: a pattern covers the calls that came before)."""
    signals = [_signal(call) for _, calls in timeline for call in calls]
    completed = correlate(signals, max(s.at for s in signals))
    read = set().union(*(CORRELATION_CALLS[name] for name in completed))
    hits = []
    for entry, calls in timeline:
        delivered_all = all(category in delivered(call) for call in calls)
        own = entry.detection is data.Detection.CALL and _incident(calls[0])
        hits.append(delivered_all and (own or entry.event_name in read))
    return hits


def _incident(candidate: dict[str, Any]) -> bool:
    try:
        return not parse_event(candidate).correlation_only
    except TriggerError:
        return False


def _signal(candidate: dict[str, Any]) -> Signal:
    detail = candidate["detail"]
    return Signal(_at(candidate), detail["eventName"], detail["awsRegion"])


def _at(candidate: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(candidate["detail"]["eventTime"].replace("Z", "+00:00"))


def call(source: str, name: str, parameters: Any = None, **extra: Any) -> dict[str, Any]:
    return {
        "eventSource": f"{source}.amazonaws.com",
        "eventName": name,
        "requestParameters": parameters,
        **extra,
    }


ROLE = {
    "type": "AssumedRole",
    "arn": f"arn:aws:sts::{ACCOUNT}:assumed-role/deploy/ci",
    "accountId": ACCOUNT,
    "accessKeyId": "ASIAROLE",
    "sessionContext": {"sessionIssuer": {"type": "Role", "userName": "deploy"}},
}
SERVICE = {"type": "AWSService", "invokedBy": "autoscaling.amazonaws.com"}
BY_CLOUDFORMATION = {
    **user("ci-deployer", "AKIACIDEPLOYER000001"),
    "invokedBy": "cloudformation.amazonaws.com",
}


def ci_deploy() -> list[dict[str, Any]]:
    """One deploy of a CI user with a long-lived key: identity check, image push, stack update, a few secrets."""
    return [
        call("sts", "GetCallerIdentity"),
        call("ecr", "GetAuthorizationToken"),
        call("cloudformation", "UpdateStack", {"stackName": "shop"}),
        call("ecs", "RegisterTaskDefinition", {"family": "shop"}),
        call("ecs", "UpdateService", {"cluster": "shop", "service": "web"}),
        call("ecs", "RunTask", {"cluster": "shop", "taskDefinition": "shop-migrate"}),
        call("secretsmanager", "GetSecretValue", {"secretId": "shop/db"}),
        call("secretsmanager", "GetSecretValue", {"secretId": "shop/stripe"}),
        call("ssm", "GetParameters", {"names": ["/shop/api-key"], "withDecryption": True}),
        call("s3", "PutObject", {"bucketName": "artifacts", "key": "build.zip"}),
    ]


def cloudformation_on_behalf() -> list[dict[str, Any]]:
    """What CloudFormation does while deploying the stack (invokedBy cloudformation.amazonaws.com)."""
    return [
        call("iam", "CreateUser", {"userName": "shop-mailer"}),
        call("iam", "CreateAccessKey", {"userName": "shop-mailer"}),
        call(
            "iam",
            "AttachUserPolicy",
            {"userName": "shop-mailer", "policyArn": "arn:aws:iam::aws:policy/AmazonSESFullAccess"},
        ),
        call(
            "ec2",
            "AuthorizeSecurityGroupIngress",
            {"groupId": "sg-1", "cidrIp": "0.0.0.0/0", "fromPort": 443},
        ),
        call("lambda", "CreateFunctionUrlConfig20211031", {"functionName": "webhook", "authType": "NONE"}),
        call("ses", "CreateEmailIdentity", {"emailIdentity": "shop.example.net"}),
    ]


def ec2_deploy() -> list[dict[str, Any]]:
    return [
        call("ec2", "RunInstances", {"instancesSet": {"items": [{"imageId": "ami-1", "minCount": 2}]}}),
        call(
            "ec2",
            "AuthorizeSecurityGroupIngress",
            {"groupId": "sg-2", "cidrIp": "10.0.0.0/8", "fromPort": 22},
        ),
        call("autoscaling", "CreateAutoScalingGroup", {"autoScalingGroupName": "web-blue"}),
        call("codebuild", "StartBuild", {"projectName": "web"}),
    ]


def developer_day() -> list[dict[str, Any]]:
    """A developer's key in an IDE toolkit and the CLI: who-am-I probes, listing, an MFA session."""
    return [
        call("sts", "GetCallerIdentity"),
        call("s3", "ListBuckets"),
        call("ec2", "DescribeInstances", {"filterSet": {}}),
        call("lambda", "ListFunctions20150331"),
        call(
            "sts",
            "GetSessionToken",
            {"serialNumber": "arn:aws:iam::111122223333:mfa/dev", "durationSeconds": 43200},
        ),
        call("secretsmanager", "DescribeSecret", {"secretId": "dev/db"}),
        call("bedrock", "ListFoundationModels"),
    ]


def benign_corpus() -> list[tuple[str, dict[str, Any]]]:
    """A day: 20 deploys of the CI user in two regions, 10 EC2 deploys, a developer, and roles and AWS doing it all."""
    corpus: list[tuple[str, dict[str, Any]]] = []
    at = START
    ci = user("ci-deployer", "AKIACIDEPLOYER000001")
    for deploy in range(20):
        region = REGIONS[deploy % 2]  # a two-region deploy
        for record in ci_deploy():
            corpus.append(("ci-user", event(record, ci, at, region)))
            at += timedelta(seconds=20)
        corpus += [
            ("cloudformation-for-ci", event(r, BY_CLOUDFORMATION, at, region))
            for r in cloudformation_on_behalf()
        ]
        at += timedelta(minutes=25)
    builder = user("ec2-builder", "AKIAEC2BUILDER000001")
    for _ in range(10):
        for record in ec2_deploy():
            corpus.append(("ec2-ci-user", event(record, builder, at, "us-east-1")))
            at += timedelta(seconds=30)
        at += timedelta(minutes=40)
    corpus.append(
        ("ec2-ci-user", event(call("ec2", "CreateKeyPair", {"keyName": "ops"}), builder, at, "us-east-1"))
    )
    developer = user("dev-alice", "AKIADEVALICE00000001")
    for record in developer_day() * 3:
        corpus.append(("developer", event(record, developer, at, "eu-west-1")))
        at += timedelta(minutes=7)
    everything = [*ci_deploy(), *cloudformation_on_behalf(), *ec2_deploy(), *developer_day()]
    everything += [
        r["record"] for r in json.loads(RECORDS.read_text())["records"]
    ]  # the campaigns' own calls
    for identity, kind in ((ROLE, "role-session"), (SERVICE, "aws-service")):
        corpus += [(kind, event(copy.deepcopy(record), identity, at, "us-east-1")) for record in everything]
    return corpus


def benign(corpus: list[tuple[str, dict[str, Any]]]) -> dict[str, tuple[int, int, int, list[str]]]:
    """Per actor: calls, calls a rule delivers, incidents (one per key and category, as the ledger keeps them)."""
    calls: dict[str, int] = defaultdict(int)
    matched: dict[str, int] = defaultdict(int)
    incidents: dict[str, set[str]] = defaultdict(set)
    timelines: dict[str, list[Signal]] = defaultdict(list)
    for actor, candidate in corpus:
        calls[actor] += 1
        if not delivered(candidate):
            continue
        matched[actor] += 1
        try:
            trigger = parse_event(candidate)
        except TriggerError:
            continue
        signals = timelines[f"{trigger.user_name}"]
        signals.append(_signal(candidate))
        if not trigger.correlation_only:
            incidents[actor].add(f"{trigger.category}:{candidate['detail']['eventName']}")
        incidents[actor].update(f"correlation:{name}" for name in correlate(signals, _at(candidate)))
    return {
        actor: (calls[actor], matched[actor], len(incidents[actor]), sorted(incidents[actor]))
        for actor in calls
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.parse_args()
    records = json.loads(RECORDS.read_text())["records"]
    started = time.perf_counter()
    detected = campaign(records)
    corpus = benign_corpus()
    noise = benign(corpus)
    seconds = time.perf_counter() - started
    print("| Category | Campaign records detected / records |")
    print("| --- | --- |")
    for category, (hit, total) in detected.items():
        print(f"| {category} | {hit} / {total} |")
    hit = sum(h for h, _ in detected.values())
    total = sum(t for _, t in detected.values())
    print(f"| **all** | **{hit} / {total}** |\n")
    print("| Benign actor | Calls | Delivered by a rule | Incidents (notices) | Which |")
    print("| --- | --- | --- | --- | --- |")
    for actor, (count, delivered_count, incident_count, which) in noise.items():
        print(f"| {actor} | {count} | {delivered_count} | {incident_count} | {', '.join(which) or '-'} |")
    print(f"\n{len(corpus)} benign calls, {total} campaign records, {seconds:.2f} s")


if __name__ == "__main__":
    main()
