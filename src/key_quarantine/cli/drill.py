"""``key-quarantine drill``: prove a deployed stack end to end, with a throwaway user and the signal AWS sends.

The drill creates an IAM user of its own (tagged as a drill, under its own path, with no permissions) and a key,
then attaches ``AWSCompromisedKeyQuarantineV3`` to it: the very call AWS makes when it finds a leaked key, so the
signal travels the deployed path (CloudTrail, the stack's EventBridge rule, the buffer queue, the responder). It
waits for the key to be deactivated, for the deny policy and for the notice in the stack's ledger, prints each
stage's latency and deletes the user. It never acts on another principal: every call names the user it created,
and cleanup first checks that user still carries this drill's tag. Without ``--execute`` it only says what it
would do (after checking the stack's outputs and the caller).
"""

from __future__ import annotations

import argparse
import json
import secrets
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from key_quarantine.cli.commands import CommandError
from key_quarantine.cli.respond import aws_errors
from key_quarantine.data import QUARANTINE_POLICY_ARN_PREFIX
from key_quarantine.handlers.aws import Aws
from key_quarantine.handlers.playbook import incident_id_of
from key_quarantine.handlers.settings import CONTAINMENT_POLICY_NAME, DRILL_TAG, STACK_OUTPUTS
from key_quarantine.handlers.triggers import Trigger, TriggerFamily

DRILL_PATH = "/key-quarantine-drill/"
DRILL_SIGNAL = QUARANTINE_POLICY_ARN_PREFIX + "V3"  # deny-only: attaching it grants nothing
NOTIFY_STEP = "notify"  # the playbook's step name, as the ledger records it
POLL_SECONDS = 1.0
EXIT_OK, EXIT_INCOMPLETE = 0, 1


@dataclass
class Drill:
    """One run: the throwaway user, and when each stage was seen (seconds after the signal)."""

    stack: str
    ledger_table: str
    account: str
    user: str = field(default_factory=lambda: f"key-quarantine-drill-{secrets.token_hex(4)}")
    access_key_id: str | None = None
    signalled_at: float | None = None
    stages: dict[str, float | None] = field(
        default_factory=lambda: dict.fromkeys(("key deactivated", "deny policy in place", "notice published"))
    )
    cleanup: list[str] = field(default_factory=list)
    problems: dict[str, str] = field(default_factory=dict)  # what kept a stage from being seen, once each

    @property
    def drill_id(self) -> str:
        return self.user.rsplit("-", 1)[-1]

    @property
    def complete(self) -> bool:
        return all(seconds is not None for seconds in self.stages.values())


def run_drill(arguments: argparse.Namespace) -> int:
    aws = Aws()
    with aws_errors():
        outputs = stack_outputs(aws, arguments.stack)
        identity = aws.client("sts").get_caller_identity()
    caller = identity["Arn"]
    if ":user/" in caller:
        raise CommandError(
            f"run the drill from a role session (SSO, an assumed role), not as {caller}: calls made with a user's "
            "long-lived key match the persistence detection, and the responder could act on you"
        )
    drill = Drill(arguments.stack, outputs[STACK_OUTPUTS["ledger"]], identity["Account"])
    if not arguments.execute:
        _print(arguments.format, _plan(drill, caller, arguments.timeout), {"dry_run": True, **_report(drill)})
        return EXIT_OK
    with aws_errors(), _cleaned_up(aws, drill):
        _signal(aws, drill)
        _wait(aws, drill, timeout=arguments.timeout)
    _print(arguments.format, _summary(drill), {"dry_run": False, **_report(drill)})
    return EXIT_OK if drill.complete else EXIT_INCOMPLETE


def stack_outputs(aws: Aws, stack: str) -> dict[str, str]:
    """The stack's outputs the drill needs; a missing stack or output is bad input, never guessed."""
    try:
        (described,) = aws.client("cloudformation").describe_stacks(StackName=stack)["Stacks"]
    except ClientError as error:
        raise CommandError(f"stack {stack!r}: {error.response['Error']['Message']}") from None
    outputs = {o["OutputKey"]: o["OutputValue"] for o in described.get("Outputs", [])}
    missing = [name for name in STACK_OUTPUTS.values() if name not in outputs]
    if missing:
        raise CommandError(
            f"stack {stack!r} has no output {', '.join(missing)}: is it the stack of KeyQuarantine (0.2.0 or later)?"
        )
    return outputs


def _signal(aws: Aws, drill: Drill) -> None:
    iam = aws.iam
    iam.create_user(UserName=drill.user, Path=DRILL_PATH, Tags=[{"Key": DRILL_TAG, "Value": drill.drill_id}])
    drill.access_key_id = iam.create_access_key(UserName=drill.user)["AccessKey"]["AccessKeyId"]
    drill.signalled_at = time.monotonic()
    iam.attach_user_policy(UserName=drill.user, PolicyArn=DRILL_SIGNAL)


def _wait(aws: Aws, drill: Drill, *, timeout: float) -> None:
    checks: dict[str, Callable[[], bool]] = {
        "key deactivated": lambda: _key_status(aws, drill) == "Inactive",
        "deny policy in place": lambda: CONTAINMENT_POLICY_NAME in _inline_policies(aws, drill.user),
        "notice published": lambda: _notice_published(aws, drill),
    }
    signalled_at = drill.signalled_at or time.monotonic()
    deadline = signalled_at + timeout
    while not drill.complete and time.monotonic() < deadline:
        for stage, check in checks.items():
            if drill.stages[stage] is None and check():
                drill.stages[stage] = round(time.monotonic() - signalled_at, 1)
        if not drill.complete:
            time.sleep(POLL_SECONDS)


def _key_status(aws: Aws, drill: Drill) -> str | None:
    keys = aws.iam.list_access_keys(UserName=drill.user)["AccessKeyMetadata"]
    return next((k["Status"] for k in keys if k["AccessKeyId"] == drill.access_key_id), None)


def _inline_policies(aws: Aws, user: str) -> list[str]:
    return list(aws.iam.list_user_policies(UserName=user)["PolicyNames"])


def _notice_published(aws: Aws, drill: Drill) -> bool:
    """The ledger records the notify step as done once SNS accepted the message."""
    try:
        item = aws.client("dynamodb").get_item(
            TableName=drill.ledger_table, Key={"incident_id": {"S": _incident_id(drill)}}, ConsistentRead=True
        )
    except ClientError as error:  # the ledger's key serves the responder and operator_role_arns only
        drill.problems[f"ledger {error.response['Error']['Code']}"] = (
            f"cannot read the ledger {drill.ledger_table} ({error.response['Error']['Code']}): run the drill as "
            "one of the construct's operator_role_arns to see the notice"
        )
        return False
    step = item.get("Item", {}).get("steps", {}).get("M", {}).get(NOTIFY_STEP, {}).get("M", {})
    return bool(step.get("status", {}).get("S") == "done")


def _incident_id(drill: Drill) -> str:
    """The id the responder gives the drill's quarantine attach, known before the responder tags the user (the
    tag comes after the key's trail is read, which can outlast the drill's timeout)."""
    signal = Trigger(
        TriggerFamily.QUARANTINE_POLICY, drill.account, drill.user, None, reason="the drill's attach"
    )
    return incident_id_of(signal, drill.user)


@contextmanager
def _cleaned_up(aws: Aws, drill: Drill) -> Iterator[None]:
    """Whatever happens (a timeout, an error, Ctrl-C), delete the drill's user and only it."""
    try:
        yield
    finally:
        if drill.signalled_at is not None or _exists(aws, drill.user):
            _delete_drill_user(aws, drill)


def _exists(aws: Aws, user: str) -> bool:
    try:
        aws.iam.get_user(UserName=user)
    except aws.iam.exceptions.NoSuchEntityException:
        return False
    return True


def _delete_drill_user(aws: Aws, drill: Drill) -> None:
    iam = aws.iam
    tags = {t["Key"]: t["Value"] for t in iam.list_user_tags(UserName=drill.user)["Tags"]}
    if tags.get(DRILL_TAG) != drill.drill_id:
        raise CommandError(f"{drill.user} no longer carries {DRILL_TAG}={drill.drill_id}: left alone")
    for policy in iam.list_attached_user_policies(UserName=drill.user)["AttachedPolicies"]:
        iam.detach_user_policy(UserName=drill.user, PolicyArn=policy["PolicyArn"])
    for name in _inline_policies(aws, drill.user):
        iam.delete_user_policy(UserName=drill.user, PolicyName=name)
    for key in iam.list_access_keys(UserName=drill.user)["AccessKeyMetadata"]:
        iam.delete_access_key(UserName=drill.user, AccessKeyId=key["AccessKeyId"])
    iam.delete_user(UserName=drill.user)
    drill.cleanup.append(f"deleted user {drill.user}, its key and policies")


def _plan(drill: Drill, caller: str, timeout: float) -> str:
    return "\n".join(
        [
            f"dry run (add --execute to run it), as {caller}, against stack {drill.stack}:",
            f"  1. create IAM user {drill.user} under {DRILL_PATH}, tagged {DRILL_TAG}={drill.drill_id}, with a key "
            "and no permissions",
            f"  2. attach {DRILL_SIGNAL.rsplit('/', 1)[-1]} to it: the signal AWS sends for a leaked key",
            f"  3. wait up to {timeout:g} s for the responder: key deactivated, {CONTAINMENT_POLICY_NAME} in place, "
            f"notice recorded in {drill.ledger_table}",
            "  4. delete the user, its key and policies (the incident's evidence and ledger entry stay)",
        ]
    )


def _summary(drill: Drill) -> str:
    lines = [f"drill {drill.drill_id} on stack {drill.stack}: user {drill.user}, key {drill.access_key_id}"]
    for stage, seconds in drill.stages.items():
        lines.append(f"  {stage:22} {'not seen' if seconds is None else f'{seconds:.1f} s after the signal'}")
    lines += [f"  problem: {line}" for line in drill.problems.values()]
    lines += [f"  cleanup: {line}" for line in drill.cleanup]
    lines.append(
        "drill passed" if drill.complete else "drill FAILED: a stage was not seen before the timeout"
    )
    return "\n".join(lines)


def _report(drill: Drill) -> dict[str, Any]:
    return {
        "stack": drill.stack,
        "user": drill.user,
        "access_key_id": drill.access_key_id,
        "stages": [{"stage": stage, "seconds_after_signal": s} for stage, s in drill.stages.items()],
        "cleanup": drill.cleanup,
        "problems": list(drill.problems.values()),
        "passed": drill.complete,
    }


def _print(output_format: str, text: str, document: dict[str, Any]) -> None:
    print(json.dumps(document, indent=2) if output_format == "json" else text)
