"""A generated CDK app for the synth benchmark: N IAM users, each with a key and a small policy, over S stacks.

Run by synth_bench.py in a fresh process per measurement; prints one JSON line with its timings.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time

import aws_cdk as cdk
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_sns as sns
from cdk_nag import AwsSolutionsChecks

from key_quarantine import KeyQuarantineChecks, declare_existing_trail

PACKS = {
    "none": [],
    "aws-solutions": ["aws"],
    "key-quarantine": ["kq"],
    "both": ["aws", "kq"],
}


class TimedValidate:
    """Times a pack's one validate call, the whole cost of the pack at synth (report handed back included)."""

    seconds = 0.0

    def validate(self, context: cdk.IPolicyValidationContext) -> cdk.PolicyValidationPluginReport:
        started = time.perf_counter()
        try:
            return super().validate(context)  # type: ignore[misc, no-any-return]
        finally:
            type(self).seconds += time.perf_counter() - started


class TimedAwsSolutionsChecks(TimedValidate, AwsSolutionsChecks):
    seconds = 0.0


class TimedKeyQuarantineChecks(TimedValidate, KeyQuarantineChecks):
    seconds = 0.0


RESOURCES_PER_USER = 3  # user, its policy, its key
RESOURCES_PER_STACK = 450  # CloudFormation allows 500 resources in a stack


def stacks_for(users: int, minimum: int) -> int:
    return max(minimum, math.ceil(users * RESOURCES_PER_USER / RESOURCES_PER_STACK))


def build(app: cdk.App, users: int, stacks: int, *, monitored: bool) -> None:
    env = cdk.Environment(account="111111111111", region="us-east-1")
    homes = [cdk.Stack(app, f"Users{index}", env=env) for index in range(stacks)]
    for number in range(users):
        stack = homes[number % stacks]
        user = iam.User(stack, f"User{number}")
        user.add_to_policy(iam.PolicyStatement(actions=["s3:GetBucketLocation"], resources=["*"]))
        iam.AccessKey(stack, f"Key{number}", user=user)
    if monitored:
        security = cdk.Stack(app, "Security", env=env)
        events.Rule(
            security,
            "QuarantineWatch",
            event_pattern=events.EventPattern(
                source=["aws.iam"],
                detail={
                    "requestParameters": {
                        "policyArn": events.Match.prefix(
                            "arn:aws:iam::aws:policy/AWSCompromisedKeyQuarantine"
                        )
                    }
                },
            ),
            targets=[targets.SnsTopic(sns.Topic(security, "Alerts", enforce_ssl=True))],
        )
        declare_existing_trail(security, reason="benchmark")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--users", type=int, required=True)
    parser.add_argument("--stacks", type=int, default=10, help="at least this many stacks (more if needed)")
    parser.add_argument("--packs", choices=tuple(PACKS), required=True)
    parser.add_argument("--unmonitored", action="store_true", help="worst case: every user is a KQ1 finding")
    parser.add_argument("--outdir", required=True)
    arguments = parser.parse_args()
    os.environ["CDK_VALIDATION"] = "false"
    started = time.perf_counter()
    app = cdk.App(outdir=arguments.outdir, context={"@aws-cdk/core:failSynthOnValidationErrors": False})
    stacks = stacks_for(arguments.users, arguments.stacks)
    build(app, arguments.users, stacks, monitored=not arguments.unmonitored)
    plugins = {"aws": TimedAwsSolutionsChecks(app), "kq": TimedKeyQuarantineChecks(app)}
    selected = [plugins[name] for name in PACKS[arguments.packs]]
    if selected:
        cdk.Validations.of(app).add_plugins(*selected)
    constructed = time.perf_counter()
    app.synth()
    finished = time.perf_counter()
    timings = {
        "stacks": stacks,
        "construct_s": constructed - started,
        "synth_s": finished - constructed,
        "aws_solutions_validate_s": TimedAwsSolutionsChecks.seconds,
        "key_quarantine_validate_s": TimedKeyQuarantineChecks.seconds,
    }
    print(json.dumps(timings))


if __name__ == "__main__":
    main()
