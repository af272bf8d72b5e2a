"""The command line of ``contain``, ``release``, ``respond``, ``audit`` and ``policies``, declared apart from
what runs them (``respond``), so that ``scan`` starts without importing botocore and the handlers."""

from __future__ import annotations

import argparse
from typing import Any


class CommandError(Exception):
    """Bad input or a principal the playbook must not act on: exit 2 with the message."""


def add_commands(commands: Any) -> None:
    exits = "Exit 0 when every step succeeded, 1 when one failed (containment is attempted regardless), 2 on bad input."
    contain = commands.add_parser(
        "contain",
        help="contain a leaked key now: deactivate it and deny its user",
        description="Deactivate the key (or every key of the user), put the KeyQuarantineContainment deny policy on "
        f"the user, then record evidence, tag and notify as configured. {exits}",
    )
    target = contain.add_mutually_exclusive_group(required=True)
    target.add_argument("--access-key-id", metavar="ID", help="the leaked key (its user is looked up)")
    target.add_argument("--user", metavar="NAME", help="contain every key of this user")
    contain.add_argument("--dry-run", action="store_true", help="show the plan, change nothing")
    _add_common(contain)
    release = commands.add_parser(
        "release",
        help="remove our containment from a user (keys stay inactive)",
        description=f"Remove the KeyQuarantineContainment policy and our tags from the user. {exits}",
    )
    release.add_argument("--user", metavar="NAME", required=True, help="the IAM user to release")
    release.add_argument(
        "--reactivate",
        action="store_true",
        help="also reactivate the keys the ledger's incidents found active and named by their signal",
    )
    release.add_argument(
        "--reactivate-key",
        metavar="ID",
        action="append",
        default=[],
        help="also reactivate this key (repeatable): for a key no signal named, or without a ledger",
    )
    release.add_argument("--format", choices=("text", "json"), default="text", help="text (default) or JSON")
    release.add_argument(
        "--ledger-table",
        help="DynamoDB incident ledger whose incidents of the user are closed (default: KQ_LEDGER_TABLE)",
    )
    release.add_argument(
        "--account",
        metavar="ID",
        help="organization mode, run from the security account as an operator: the user is in this member account "
        "(reached through its role KeyQuarantineMemberOperator); the incidents are closed in the security "
        "account's ledger. Default: the account the credentials are for",
    )
    respond = commands.add_parser(
        "respond",
        help="run the responder on a saved EventBridge event",
        description="Run the responder's playbook on an EventBridge event saved as JSON (a quarantine attach, an "
        "AWS Health AWS_RISK_* event, a GuardDuty finding), deciding as the responder Lambda decides: an event about "
        f"another account, or sent by one about this account, is refused. {exits}",
    )
    respond.add_argument("event_file", metavar="EVENT_FILE", help="the event, as EventBridge delivers it")
    respond.add_argument("--dry-run", action="store_true", help="show the plan, change nothing")
    _add_common(respond)


def add_audit(commands: Any) -> None:
    audit = commands.add_parser(
        "audit",
        help="find what events missed: quarantined users with active keys, root keys, old or unused keys",
        description="Read-only. One credential report and one listing a quarantine policy, whatever the number of "
        "users. Exit 1 when a critical problem is found (a quarantined user's key still active, a root key), "
        "2 on bad input or when AWS cannot be reached, else 0.",
    )
    audit.add_argument("--format", choices=("text", "json"), default="text", help="text (default) or JSON")
    audit.add_argument("--max-key-age-days", type=int, default=90, help="older active keys are reported (90)")
    audit.add_argument(
        "--max-unused-days", type=int, default=30, help="active keys unused this long are reported (30)"
    )


def add_policies(commands: Any) -> None:
    policies = commands.add_parser(
        "policies",
        help="show AWS's quarantine policy family as this account sees it, and what changed since this package",
        description="Lists every AWSCompromisedKeyQuarantine* policy at its default version and compares it with the "
        "documents this package ships. --refresh saves the current documents. Exit 1 when something changed.",
    )
    policies.add_argument("--format", choices=("text", "json"), default="text", help="text (default) or JSON")
    policies.add_argument(
        "--refresh", metavar="FOLDER", help="write the current documents here (get-policy-version format)"
    )


def add_replay(commands: Any) -> None:
    replay = commands.add_parser(
        "replay-dlq",
        help="answer the leak signals in the responder's dead-letter queue, deleting each once it is answered",
        description="Runs each dead-lettered message through the responder's playbook (grouped by key, as the "
        "responder does), deletes the messages answered in full and leaves the others in the queue. Exit 0 when "
        "all were answered, 1 when a response failed again, 2 on a bad queue or a message that is not a leak "
        "signal (it stays in the queue).",
    )
    replay.add_argument(
        "--queue-url", required=True, help="the dead-letter queue (the stack's Responder/DeadLetters queue)"
    )
    replay.add_argument(
        "--max", type=_positive, default=100, metavar="N", help="answer at most N messages (100)"
    )
    replay.add_argument(
        "--dry-run", action="store_true", help="show what each message would do; delete nothing"
    )
    _add_common(replay)


def add_report(commands: Any) -> None:
    report = commands.add_parser(
        "report",
        help="an incident's HTML page: verdict, what was changed and how to undo it, a timeline, derived principals",
        description="Writes the self-contained page the responder stores with the evidence, from an evidence file or "
        "from the ledger and the evidence bucket (--incident). Exit 2 on a missing or malformed document.",
    )
    source = report.add_mutually_exclusive_group(required=True)
    source.add_argument("evidence", nargs="?", metavar="EVIDENCE.json", help="an evidence document")
    source.add_argument(
        "--incident", metavar="ID", help="the incident id (read from the ledger and the bucket)"
    )
    report.add_argument("--output", metavar="FILE", help="write the page to FILE instead of standard output")
    report.add_argument("--evidence-bucket", help="S3 bucket of the evidence (default: KQ_EVIDENCE_BUCKET)")
    report.add_argument("--ledger-table", help="DynamoDB incident ledger (default: KQ_LEDGER_TABLE)")


def add_drill(commands: Any) -> None:
    drill = commands.add_parser(
        "drill",
        help="prove a deployed stack end to end with a throwaway user (dry run unless --execute)",
        description="Creates a user of its own (tagged key-quarantine:drill, no permissions) with a key, attaches "
        "AWSCompromisedKeyQuarantineV3 to it as AWS does for a leaked key, waits for the deployed responder to "
        "deactivate the key, deny the user and publish the notice, prints each stage's latency and deletes the "
        "user. Touches no other principal. Run it from a role session. Exit 0 when every stage was seen, 1 when "
        "one was not before the timeout, 2 on bad input (no such stack, missing outputs, a user's key as caller).",
    )
    drill.add_argument("--stack", required=True, help="the name of the stack that holds KeyQuarantine")
    drill.add_argument("--execute", action="store_true", help="run the drill (without it: only the plan)")
    drill.add_argument(
        "--timeout", type=_positive, default=900, metavar="SECONDS", help="wait this long for each run (900)"
    )
    drill.add_argument("--format", choices=("text", "json"), default="text", help="text (default) or JSON")


def _positive(raw: str) -> int:
    if not raw.isdigit() or int(raw) == 0:
        raise argparse.ArgumentTypeError(f"must be a positive whole number, not {raw!r}")
    return int(raw)


def _exemption(raw: str) -> Any:
    from key_quarantine.handlers.settings import Exemption  # noqa: PLC0415 - scan never imports the handlers

    principal, _, reason = raw.partition("=")
    try:
        return Exemption(principal.strip(), reason.strip())
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"{error} (use --exempt PRINCIPAL=REASON)") from None


def _add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--exempt",
        metavar="PRINCIPAL=REASON",
        type=_exemption,
        action="append",
        default=[],
        help="notify only about this IAM user name, user ARN or path prefix (/break-glass/), with the reason; "
        "repeatable, added to KQ_EXEMPTIONS. A tag never exempts",
    )
    parser.add_argument("--format", choices=("text", "json"), default="text", help="text (default) or JSON")
    parser.add_argument(
        "--topic-arn", help="SNS topic to notify (default: KQ_TOPIC_ARN, else no notification)"
    )
    parser.add_argument("--evidence-bucket", help="S3 bucket for evidence (default: KQ_EVIDENCE_BUCKET)")
    parser.add_argument("--ledger-table", help="DynamoDB incident ledger (default: KQ_LEDGER_TABLE)")
