"""``contain``, ``release`` and ``respond``: the responder's playbook run from a shell, on the account boto3 is
configured for (``AWS_ENDPOINT_URL`` points it at a local moto server)."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError, EndpointConnectionError, NoCredentialsError

from key_quarantine.cli.commands import CommandError
from key_quarantine.handlers import event_json, policy_watch
from key_quarantine.handlers.aws import Aws
from key_quarantine.handlers.batch import Delivery, Responder, respond_to_batch
from key_quarantine.handlers.boundary import partition_of
from key_quarantine.handlers.ledger import Ledger, open_ledger
from key_quarantine.handlers.organization import (
    MEMBER_OPERATOR_ROLE_NAME,
    Membership,
    MemberUnreachableError,
    member_session,
)
from key_quarantine.handlers.playbook import Outcome, run_playbook
from key_quarantine.handlers.release import release_user
from key_quarantine.handlers.settings import Settings, SettingsError
from key_quarantine.handlers.steps import PlaybookError, StepResult
from key_quarantine.handlers.sweep import Audit, AuditLimits, run_audit
from key_quarantine.handlers.triggers import ACCOUNT_ID, TriggerError, manual_trigger

EVENT_FILE = "event-file"  # the one delivery's id
OUTCOME_FIELDS = ("incident_id", "user", "access_key_ids", "steps")  # the contain/respond JSON contract


@contextmanager
def aws_errors() -> Iterator[None]:
    """What AWS (or its absence) says, and what the playbook refuses, as one line for the operator (exit 2)."""
    try:
        yield
    except (PlaybookError, TriggerError, SettingsError) as error:
        raise CommandError(str(error)) from None
    except NoCredentialsError:
        raise CommandError("no AWS credentials: configure boto3 (or AWS_ENDPOINT_URL for moto)") from None
    except EndpointConnectionError as error:
        raise CommandError(f"cannot reach AWS: {error}") from None
    except (ClientError, BotoCoreError, TimeoutError) as error:
        raise CommandError(f"AWS refused: {error}") from None


def run_policies_command(arguments: argparse.Namespace) -> int:
    with aws_errors():
        current, changes = policy_watch.watch(Aws())
    written = policy_watch.save(current, Path(arguments.refresh)) if arguments.refresh else []
    document = {
        "policies": [
            {"policy": v.name, "version": v.version_id, "denied_actions": len(v.actions)}
            for v in current.values()
        ],
        "changes": [change.as_json() for change in changes],
        "written": [str(path) for path in written],
    }
    lines = [f"{v.name:40} {v.version_id:5} denies {len(v.actions)} actions" for v in current.values()]
    lines += [f"changed: {change.describe()}" for change in changes] or [
        "no change since this package's documents"
    ]
    lines += [f"wrote {path}" for path in written]
    print_document(arguments.format, document, "\n".join(lines))
    return 1 if changes else 0


def run_audit_command(arguments: argparse.Namespace) -> int:
    limits = AuditLimits(arguments.max_key_age_days, arguments.max_unused_days)
    with aws_errors():
        audit = run_audit(Aws(), limits)
    print_document(arguments.format, audit.as_json(), _audit_text(audit))
    return 1 if any(f.severity == "critical" for f in audit.findings) else 0


def _audit_text(audit: Audit) -> str:
    rows = [("SEVERITY", "PROBLEM", "USER", "KEY", "DETAIL")]
    rows += [(f.severity, f.problem.value, f.user, str(f.key_slot or "-"), f.detail) for f in audit.findings]
    widths = [max(len(row[column]) for row in rows) for column in range(4)]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row[:4], widths, strict=True)) + "  " + row[4]
        for row in rows
    ]
    lines.append(
        f"{len(audit.findings)} finding(s) over {audit.users} user(s), {sum(audit.calls.values())} API calls."
    )
    return "\n".join(lines)


def run(arguments: argparse.Namespace) -> int:
    if arguments.command == "release":
        return _release(arguments)
    if arguments.command == "respond":
        return _respond(arguments)
    with aws_errors():
        aws = Aws()
        caller = aws.client("sts").get_caller_identity()
        settings = _settings(arguments, str(caller["Arn"]))
        trigger = manual_trigger(str(caller["Account"]), arguments.user, arguments.access_key_id)
        ledger = open_ledger(aws, settings.ledger_table, settings.ledger_mac_key)
        outcome = run_playbook(trigger, settings, aws, ledger)
    print_document(arguments.format, outcome.as_json(), _outcome_text(outcome))
    return 1 if outcome.failed else 0


def _respond(arguments: argparse.Namespace) -> int:
    """An event file answered by the Lambda's own code (``respond_to_batch``): the same event gets the same
    decision here as there (refused for another account, one incident per key, ...)."""
    event = _read_event(Path(arguments.event_file))
    with aws_errors():
        aws = Aws()
        settings, caller = settings_for(arguments, aws)
        responder = Responder(settings, aws, caller, membership=Membership(aws))
        answered = respond_to_batch([Delivery(EVENT_FILE, event)], responder)
    result = answered.results[EVENT_FILE]
    incidents = result.get("incidents", [result])
    for incident in incidents:
        if incident["status"] != "responded":
            raise CommandError(f"{arguments.event_file}: {incident['status']}: {incident.get('reason')}")
    documents = [{k: v for k, v in incident.items() if k in OUTCOME_FIELDS} for incident in incidents]
    document = documents[0] if len(documents) == 1 else {"incidents": documents}
    text = "\n".join(_document_text(d) for d in documents)
    print_document(arguments.format, document, text)
    return 1 if EVENT_FILE in answered.failed else 0


def settings_for(arguments: argparse.Namespace, aws: Aws) -> tuple[Settings, str]:
    """The responder's settings for this operator (environment, then options), and the operator's ARN."""
    caller = str(aws.client("sts").get_caller_identity()["Arn"])
    return _settings(arguments, caller), caller


def _settings(arguments: argparse.Namespace, caller: str) -> Settings:
    settings = Settings.from_environment()
    own_user = caller.rsplit("/", 1)[-1] if ":user/" in caller else None
    return dataclasses.replace(
        settings,
        acting_user=own_user,  # never contain the operator's own user half-way through the run
        topic_arn=arguments.topic_arn or settings.topic_arn,
        evidence_bucket=arguments.evidence_bucket or settings.evidence_bucket,
        ledger_table=arguments.ledger_table or settings.ledger_table,
        exemptions=(*settings.exemptions, *arguments.exempt),
    ).with_dry_run(arguments.dry_run)


def _read_event(path: Path) -> Any:
    try:
        return event_json.loads(path.read_bytes())
    except FileNotFoundError:
        raise CommandError(f"{path}: no such file") from None
    except OSError as error:
        raise CommandError(f"{path}: cannot read the event ({error.strerror})") from None
    except event_json.EventJsonError as error:
        raise CommandError(f"{path}: not a JSON event ({error})") from None


def _release(arguments: argparse.Namespace) -> int:
    aws = Aws()
    table = arguments.ledger_table or Settings.from_environment().ledger_table
    with aws_errors():
        ledger = Ledger(aws, table) if table else None  # central in an organization: where the incident is
        in_account = _account_of_user(arguments, aws)
        steps = release_user(
            in_account,
            arguments.user,
            reactivate=arguments.reactivate,
            reactivate_keys=tuple(arguments.reactivate_key),
            ledger=ledger,
        )
    document = {"user": arguments.user, "steps": [step.as_json() for step in steps]}
    print_document(arguments.format, document, _steps_text(steps))
    return 1 if any(step.status.value == "failed" for step in steps) else 0


def _account_of_user(arguments: argparse.Namespace, aws: Aws) -> Aws:
    """Clients in the released user's account: this one, or (``--account``, organization mode) a member account
    through its operator role, whose incidents are in this account's ledger."""
    account = arguments.account
    if account is None:
        return aws
    if not ACCOUNT_ID.fullmatch(account):
        raise CommandError(f"--account {account!r} is not a 12-digit account id")
    caller = aws.client("sts").get_caller_identity()
    if account == caller["Account"]:
        return aws
    try:
        session = f"key-quarantine.release.{arguments.user}"
        partition = partition_of(str(caller["Arn"]))
        return member_session(aws, account, partition, MEMBER_OPERATOR_ROLE_NAME, session)
    except MemberUnreachableError as error:
        raise CommandError(str(error)) from None


def _outcome_text(outcome: Outcome) -> str:
    return _document_text(outcome.as_json())


def _document_text(document: dict[str, Any]) -> str:
    keys = ", ".join(document["access_key_ids"]) or "none"
    lines = [f"Incident {document['incident_id']}: user {document['user']}, key(s) {keys}"]
    lines += [f"  {s['status']:8} {s['name']}: {s['detail']}" for s in document["steps"]]
    return "\n".join(lines)


def _steps_text(steps: list[StepResult]) -> str:
    return "\n".join(f"  {step.status.value:8} {step.name}: {step.detail}" for step in steps)


def print_document(output_format: str, document: dict[str, Any], text: str) -> None:
    sys.stdout.write(json.dumps(document, indent=2) + "\n" if output_format == "json" else text + "\n")
