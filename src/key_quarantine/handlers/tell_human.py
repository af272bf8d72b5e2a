"""Tell a human at once about a signal the responder cannot contain (``cannot_contain``), once per signal.

The answer has the playbook's shape (an ``Outcome``: a skipped ``contain`` step saying why and what to do, and a
``notify`` step), so the Lambda's log, ``respond`` and ``replay-dlq`` report it like any other response. A notice
that could not be sent fails the delivery: it is tried again (the ledger lets the retry claim it), then
dead-lettered, never lost.
"""

from __future__ import annotations

import hashlib

from key_quarantine.handlers.aws import Aws
from key_quarantine.handlers.cannot_contain import CannotContain, notice
from key_quarantine.handlers.ledger import Ledger
from key_quarantine.handlers.playbook import Outcome
from key_quarantine.handlers.settings import Settings
from key_quarantine.handlers.steps import Status, StepResult
from key_quarantine.handlers.triggers import Trigger


def tell_human(
    trigger: Trigger, problem: CannotContain, settings: Settings, aws: Aws, ledger: Ledger | None
) -> Outcome:
    notice_id = notice_id_of(trigger, problem)
    next_step = f"{problem.next_step}: {problem.command}" if problem.command else problem.next_step
    contain = StepResult("contain", Status.SKIPPED, f"not contained: {problem.why}. Next: {next_step}")
    sent = _send(trigger, problem, notice_id, settings=settings, aws=aws, ledger=ledger)
    keys = [trigger.access_key_id] if trigger.access_key_id else []
    steps = [contain, sent]
    if problem.retry:  # a failed step sends the delivery back: the next look may find what this one did not
        steps.append(StepResult("look-again", Status.FAILED, "the answer may change: delivered again later"))
    return Outcome(notice_id, problem.principal, keys, steps, dict(aws.calls))


def notice_id_of(trigger: Trigger, problem: CannotContain) -> str:
    """One notice per signal and problem: repeats of the same finding or event find it and stay quiet."""
    material = "|".join(
        [
            trigger.account,
            trigger.reported_by or "",
            trigger.family.value,
            trigger.event_id or "",
            problem.found,
        ]
    )
    return "notice#" + hashlib.sha256(material.encode()).hexdigest()[:20]


def _send(
    trigger: Trigger,
    problem: CannotContain,
    notice_id: str,
    *,
    settings: Settings,
    aws: Aws,
    ledger: Ledger | None,
) -> StepResult:
    subject, message = notice(problem, trigger.account, trigger.reason)
    return publish_once(
        "notify",
        notice_id,
        trigger,
        problem.found,
        (subject, message),
        settings=settings,
        aws=aws,
        ledger=ledger,
    )


def publish_once(
    step: str,
    notice_id: str,
    trigger: Trigger,
    found: str,
    text: tuple[str, str],
    *,
    settings: Settings,
    aws: Aws,
    ledger: Ledger | None,
) -> StepResult:
    """Publish ``text`` (subject, message) once per ``notice_id``: the ledger's claim decides, and a publish that
    failed gives the claim back, so the retried delivery sends it. Skipped without a topic and in a dry run."""
    subject, message = text
    if not settings.topic_arn:
        return StepResult(step, Status.SKIPPED, "no notification topic configured")
    if settings.dry_run:
        return StepResult(step, Status.SKIPPED, f"dry run: would publish '{subject}'")
    if ledger is not None and not ledger.claim_notice(notice_id, trigger, found):
        return StepResult(step, Status.SKIPPED, f"already told ({notice_id})")
    try:
        aws.client("sns").publish(TopicArn=settings.topic_arn, Subject=subject[:100], Message=message)
    except Exception as error:  # noqa: BLE001 - the delivery fails and is retried; the claim is given back
        if ledger is not None:
            ledger.notice_failed(notice_id)
        return StepResult(step, Status.FAILED, f"{type(error).__name__}: {error}")
    return StepResult(step, Status.DONE, f"published '{subject}'")
