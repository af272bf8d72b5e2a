"""``replay-dlq``: answer dead-lettered leak signals with the same code the responder runs, then delete them.

The messages are answered here, in the operator's shell, rather than moved back to the responder's queue: a message
is in the dead-letter queue because the responder could not finish it, and moving it back would only repeat that
until the cause is fixed. Answered here, each message is reported with its outcome, and deleted only once it was
answered in full. Anything else stays in the queue, visible again at once.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from key_quarantine.cli.commands import CommandError
from key_quarantine.cli.respond import aws_errors, print_document, settings_for
from key_quarantine.handlers.aws import Aws
from key_quarantine.handlers.batch import BatchResult, Delivery, FinishedMemo, Responder, respond_to_batch
from key_quarantine.handlers.organization import Membership

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT = 0, 1, 2
RECEIVE_LIMIT = 10  # SQS hands out at most 10 messages a call
HOLD_SECONDS = 300  # long enough to answer what was received; a second operator's replay does not see them
UNHANDLED = ("malformed", "ignored", "refused")  # not a leak signal this responder acts on


@dataclass(frozen=True)
class Received:
    message_id: str
    receipt_handle: str
    body: str


def run_replay(arguments: argparse.Namespace) -> int:
    with aws_errors():
        aws = Aws()
        sqs = aws.client("sqs")
        _check_queue(sqs, arguments.queue_url)
        settings, caller_arn = settings_for(arguments, aws)
        received = _receive(sqs, arguments.queue_url, arguments.max)
        responder = Responder(settings, aws, caller_arn, memo=FinishedMemo(), membership=Membership(aws))
        answered = respond_to_batch([Delivery(m.message_id, m.body) for m in received], responder)
        report = [_settle(sqs, arguments, message, answered) for message in received]
    deleted = sum(1 for entry in report if entry["action"] == "deleted")
    document = {
        "queue_url": arguments.queue_url,
        "dry_run": arguments.dry_run,
        "messages": report,
        "summary": {"received": len(report), "deleted": deleted, "kept": len(report) - deleted},
    }
    print_document(arguments.format, document, _text(document))
    unknown = [entry for entry in report if entry["status"] in UNHANDLED]
    if unknown:
        print(
            f"key-quarantine: error: {len(unknown)} message(s) are not leak signals this responder acts on "
            "(see their reason); they stay in the queue",
            file=sys.stderr,
        )
        return EXIT_BAD_INPUT
    return EXIT_FAILED if any(entry["status"] == "failed" for entry in report) else EXIT_OK


def _check_queue(sqs: Any, queue_url: str) -> None:
    try:
        sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])
    except ClientError as error:
        raise CommandError(f"{queue_url}: not a queue these credentials can read ({_code(error)})") from None


def _receive(sqs: Any, queue_url: str, most: int) -> list[Received]:
    found: dict[str, Received] = {}
    while len(found) < most:
        messages = sqs.receive_message(
            QueueUrl=queue_url,
            MaxNumberOfMessages=min(RECEIVE_LIMIT, most - len(found)),
            VisibilityTimeout=HOLD_SECONDS,
        ).get("Messages", [])
        fresh = [m for m in messages if m["MessageId"] not in found]
        if not fresh:
            break
        for message in fresh:
            found[message["MessageId"]] = Received(
                message["MessageId"], message["ReceiptHandle"], message["Body"]
            )
    return list(found.values())


def _settle(
    sqs: Any, arguments: argparse.Namespace, message: Received, answered: BatchResult
) -> dict[str, Any]:
    """Delete the message once answered in full; otherwise make it visible again, for the next look."""
    result = answered.results[message.message_id]
    status = (
        "failed"
        if message.message_id in answered.failed and result["status"] != "malformed"
        else result["status"]
    )
    done = status in ("responded", "heartbeat") and not arguments.dry_run
    if done:
        sqs.delete_message(QueueUrl=arguments.queue_url, ReceiptHandle=message.receipt_handle)
    else:
        sqs.change_message_visibility(
            QueueUrl=arguments.queue_url, ReceiptHandle=message.receipt_handle, VisibilityTimeout=0
        )
    entry = {"message_id": message.message_id, "status": status, "action": "deleted" if done else "kept"}
    entry.update({k: result[k] for k in ("incident_id", "user", "reason", "incidents") if k in result})
    return entry


def _text(document: dict[str, Any]) -> str:
    lines = [
        f"{entry['action']:8} {entry['message_id']}  {entry['status']}"
        + (f"  {entry['user']}" if entry.get("user") else "")
        + (f"  ({entry['reason']})" if entry.get("reason") else "")
        for entry in document["messages"]
    ]
    summary = document["summary"]
    lines.append(f"{summary['received']} message(s): {summary['deleted']} deleted, {summary['kept']} kept.")
    return "\n".join(lines)


def _code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", "Unknown"))
