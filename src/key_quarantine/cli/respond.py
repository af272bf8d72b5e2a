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
from key_quarantine.handlers import policy_watch
from key_quarantine.handlers.aws import Aws
from key_quarantine.handlers.ledger import Ledger
from key_quarantine.handlers.playbook import Outcome, run_playbook
from key_quarantine.handlers.release import release_user
from key_quarantine.handlers.settings import Settings, SettingsError
from key_quarantine.handlers.steps import PlaybookError, StepResult
from key_quarantine.handlers.sweep import Audit, AuditLimits, run_audit
from key_quarantine.handlers.triggers import Trigger, TriggerError, manual_trigger, parse_event


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
    event = _read_event(Path(arguments.event_file)) if arguments.command == "respond" else None
    with aws_errors():
        aws = Aws()
        caller = aws.client("sts").get_caller_identity()
        settings = _settings(arguments, str(caller["Arn"]))
        trigger = _trigger(arguments, str(caller["Account"]), event)
        ledger = Ledger(aws, settings.ledger_table) if settings.ledger_table else None
        outcome = run_playbook(trigger, settings, aws, ledger)
    print_document(arguments.format, outcome.as_json(), _outcome_text(outcome))
    return 1 if outcome.failed else 0


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
    ).with_dry_run(arguments.dry_run)


def _trigger(arguments: argparse.Namespace, account: str, event: Any) -> Trigger:
    if arguments.command == "contain":
        return manual_trigger(account, arguments.user, arguments.access_key_id)
    trigger = parse_event(event)
    if trigger.account != account:
        raise CommandError(f"the event is for account {trigger.account}; these credentials are for {account}")
    return trigger


def _read_event(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CommandError(f"{path}: no such file") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise CommandError(f"{path}: not a JSON event ({error})") from None


def _release(arguments: argparse.Namespace) -> int:
    aws = Aws()
    table = arguments.ledger_table or Settings.from_environment().ledger_table
    with aws_errors():
        ledger = Ledger(aws, table) if table else None
        steps = release_user(aws, arguments.user, reactivate=arguments.reactivate, ledger=ledger)
    document = {"user": arguments.user, "steps": [step.as_json() for step in steps]}
    print_document(arguments.format, document, _steps_text(steps))
    return 1 if any(step.status.value == "failed" for step in steps) else 0


def _outcome_text(outcome: Outcome) -> str:
    header = f"Incident {outcome.incident_id}: user {outcome.user}, key(s) {', '.join(outcome.access_key_ids) or 'none'}"
    return header + "\n" + _steps_text(outcome.steps)


def _steps_text(steps: list[StepResult]) -> str:
    return "\n".join(f"  {step.status.value:8} {step.name}: {step.detail}" for step in steps)


def print_document(output_format: str, document: dict[str, Any], text: str) -> None:
    sys.stdout.write(json.dumps(document, indent=2) + "\n" if output_format == "json" else text + "\n")
