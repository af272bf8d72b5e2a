"""Respond to a batch of deliveries: one playbook run per distinct incident, however many events name it.

A leaked key under active abuse yields thousands of matching events a minute. They arrive in batches (an SQS
queue between EventBridge and the responder); within a batch, events are grouped by what they name (trigger
family, account, user, key, category), so a burst costs one playbook run per distinct key. An incident that an
earlier batch finished costs at most one ledger read, and nothing at all once this execution environment has seen it
finish (``FinishedMemo``). Correlation records each key's calls once per batch, with counts.

A group whose response failed (a failed step, or AWS failing before containment) is reported by message id, so
only its messages are delivered again (ReportBatchItemFailures) and, after the queue's receive limit, dead-lettered.
"""

from __future__ import annotations

import functools
import json
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from key_quarantine.data import Severity
from key_quarantine.handlers import event_json
from key_quarantine.handlers.aws import Aws
from key_quarantine.handlers.canary import CanaryError, is_canary, record_heartbeat
from key_quarantine.handlers.cannot_contain import CannotContain
from key_quarantine.handlers.correlation import Thresholds, record_and_correlate
from key_quarantine.handlers.escalation import escalation_notice, record_calls
from key_quarantine.handlers.ledger import Ledger, open_ledger
from key_quarantine.handlers.organization import (
    Membership,
    MemberUnreachableError,
    RefusedAccountError,
    member_clients,
    refusal_id,
)
from key_quarantine.handlers.playbook import (
    Contained,
    Outcome,
    contain_first,
    incident_id_of,
    still_contained,
)
from key_quarantine.handlers.settings import Settings
from key_quarantine.handlers.steps import CannotContainError, PlaybookError, Status
from key_quarantine.handlers.steps.second_look import MARKER as SECOND_LOOK
from key_quarantine.handlers.steps.second_look import MAX_DELAY_SECONDS as SECOND_LOOK_MAX_DELAY
from key_quarantine.handlers.tell_human import tell_human
from key_quarantine.handlers.timestamps import parse_time, stamp
from key_quarantine.handlers.triggers import Trigger, TriggerError, TriggerFamily, parse_triggers
from key_quarantine.handlers.undo import answer_undo

_T = TypeVar("_T")
_R = TypeVar("_R")
LOG = logging.getLogger("key_quarantine.responder")
LOG.setLevel(logging.INFO)
HANDED_BACK = (
    "handed-back"  # the log line's status when messages go back to the queue (a metric filter counts it)
)
HEARTBEAT_FAILED = "heartbeat-failed"
GROUP_WORKERS = 4
#: Signals that only suggest a leak (abuse calls, their correlations): answered after the AWS-confirmed ones of a
#: batch, and the only ones the time reserve may hand back.
DEFERRABLE_FAMILIES = frozenset({TriggerFamily.ABUSE})
#: A group is started only with this much of the invocation left: a playbook run with evidence (CloudTrail
#: LookupEvents in every region, throttled at 2 calls a second) takes well under it.
GROUP_TIME_RESERVE_MS = (
    45_000  # distinct keys of a batch answered side by side; each run is itself a few parallel calls
)


@dataclass(frozen=True)
class Delivery:
    """One message: its id (the SQS message id) and its body, an EventBridge event (parsed, or as JSON text)."""

    message_id: str
    body: Any


class FinishedMemo:
    """Triggers whose incident this execution environment saw finish: a repeat costs no AWS call. Bounded in size,
    and in time: after ``max_age`` seconds the ledger is asked again (an operator may have released the user)."""

    def __init__(
        self,
        limit: int = 10_000,
        max_age: float = 600.0,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        """``wall``: the time a finish is remembered at (what a later signal's own time is compared with)."""
        self._limit = limit
        self._max_age = max_age
        self._clock = clock
        self._wall = wall
        self._seen: OrderedDict[tuple[str | None, ...], tuple[float, bool, str | None]] = OrderedDict()
        self._lock = threading.Lock()

    def __contains__(self, trigger: Trigger) -> bool:
        return self.contained(trigger) is not None

    def contained(self, trigger: Trigger) -> bool | None:
        """None when not seen finish (or too long ago), else whether the incident ended contained."""
        with self._lock:
            seen = self._seen.get(_memo_key(trigger))
            if seen is None or self._clock() - seen[0] > self._max_age:
                return None
            return seen[1]

    def finished_at(self, trigger: Trigger) -> str | None:
        """When the incident's last look finished (ISO 8601, UTC), as this environment last learnt it."""
        with self._lock:
            seen = self._seen.get(_memo_key(trigger))
            return None if seen is None or self._clock() - seen[0] > self._max_age else seen[2]

    def add(self, trigger: Trigger, *, contained: bool = True, at: str | None = None) -> None:
        with self._lock:
            key = _memo_key(trigger)
            self._seen.pop(key, None)
            self._seen[key] = (self._clock(), contained, at or stamp(self._wall()))
            if len(self._seen) > self._limit:
                self._seen.popitem(last=False)


@dataclass(frozen=True)
class Responder:
    """What a batch is answered with: the settings, clients, and the ARN the responder runs as (its account)."""

    settings: Settings
    aws: Aws
    own_arn: str
    thresholds: Thresholds = field(default_factory=Thresholds)
    memo: FinishedMemo = field(default_factory=FinishedMemo)
    membership: Membership | None = None  # the organization's accounts (organization mode)
    remaining_ms: Callable[[], int] | None = (
        None  # the Lambda's time left (context.get_remaining_time_in_millis)
    )

    @property
    def own_account(self) -> str:
        return self.own_arn.split(":")[4]


@dataclass
class _Group:
    trigger: Trigger
    message_ids: list[str] = field(default_factory=list)
    details: list[Mapping[str, Any]] = field(default_factory=list)
    # The first call that is an incident of its own; None when every call counts only inside a correlation
    own: Trigger | None = None

    def add(self, message_id: str, trigger: Trigger) -> None:
        self.message_ids.append(message_id)
        if trigger.event is not None:
            self.details.append(trigger.event["detail"])
        if self.own is None and not trigger.correlation_only:
            self.own = trigger

    @property
    def second_look(self) -> bool:
        return is_second_look(self.trigger)


def is_second_look(trigger: Trigger) -> bool:
    """The delayed follow-up of an incident (steps/second_look.py): the signal's event, marked."""
    return trigger.event is not None and SECOND_LOOK in trigger.event


@dataclass(frozen=True)
class BatchResult:
    """Each message's result (a group's messages share one), and the ids of the messages to deliver again."""

    results: dict[str, dict[str, Any]]
    failed: list[str]


def respond_to_batch(deliveries: Sequence[Delivery], responder: Responder) -> BatchResult:
    results: dict[str, dict[str, Any]] = {}
    failed: list[str] = []
    groups: dict[tuple[str | None, ...], _Group] = {}
    for delivery in deliveries:
        triggers = _triggers(delivery, responder)
        if isinstance(triggers, dict):
            results[delivery.message_id] = triggers
            if triggers["status"] in {"malformed", HEARTBEAT_FAILED}:
                failed.append(delivery.message_id)  # tried again, then dead-lettered for a person to look at
            continue
        for trigger in triggers:
            group_key = (*_memo_key(trigger), "second-look" if is_second_look(trigger) else None)
            groups.setdefault(group_key, _Group(trigger)).add(delivery.message_id, trigger)
    answered = _answer_confirmed_first(list(groups.values()), responder)
    per_message: dict[str, list[dict[str, Any]]] = {}
    group_failures: set[str] = set()
    for group, (result, group_failed) in zip(groups.values(), answered, strict=True):
        for message_id in group.message_ids:
            per_message.setdefault(message_id, []).append(result)
        group_failures.update(group.message_ids if group_failed else [])
    results.update({message_id: _combined(found) for message_id, found in per_message.items()})
    failed += [message_id for message_id in per_message if message_id in group_failures]
    return BatchResult(results, failed)


def _combined(results: list[dict[str, Any]]) -> dict[str, Any]:
    """A message's result: its one group's, or every group's when it named several keys (a Health event)."""
    return results[0] if len(results) == 1 else {"status": "responded", "incidents": results}


def _answer_confirmed_first(groups: list[_Group], responder: Responder) -> list[tuple[dict[str, Any], bool]]:
    """Every group's containment first, confirmed leaks (quarantine attach, Health, GuardDuty, ...) before any abuse
    group, then every group's record steps (trail, evidence, notice) in the same order. The time reserve never
    defers a confirmed leak's containment: a dozen fresh abuse keys ahead of the quarantine event in the queue, or
    their slow trail reads, must not push it back by a visibility timeout. Answers come back in the groups' order.
    """
    confirmed = [i for i, group in enumerate(groups) if group.trigger.family not in DEFERRABLE_FAMILIES]
    rest = [i for i in range(len(groups)) if i not in set(confirmed)]
    started: dict[int, _Started] = {}
    for wave, may_defer in ((confirmed, False), (rest, True)):
        contain = functools.partial(_contain_group, responder=responder, may_defer=may_defer)
        started.update(zip(wave, _each([groups[i] for i in wave], contain), strict=True))
    answers: dict[int, tuple[dict[str, Any], bool]] = {}
    for wave in (confirmed, rest):
        finish = functools.partial(_finish_group, responder=responder)
        answers.update(zip(wave, _each([started[i] for i in wave], finish), strict=True))
    return [answers[i] for i in range(len(groups))]


def _each(items: list[_T], answer: Callable[[_T], _R]) -> list[_R]:
    if len(items) <= 1:
        return [answer(item) for item in items]
    with ThreadPoolExecutor(max_workers=min(GROUP_WORKERS, len(items))) as pool:
        return list(pool.map(answer, items))


def _triggers(delivery: Delivery, responder: Responder) -> tuple[Trigger, ...] | dict[str, Any]:
    """The delivery's triggers, or the result that ends it (malformed, ignored, a canary's heartbeat)."""
    body = delivery.body
    try:
        if isinstance(body, str):
            body = event_json.loads(body)
        else:
            event_json.check_depth(body)
    except event_json.EventJsonError as error:
        return log("malformed", message_id=delivery.message_id, reason=f"the message is {error}")
    if is_canary(body):
        return _heartbeat(body, responder)
    if not isinstance(body, Mapping) or not isinstance(body.get("detail"), Mapping):
        return log(
            "malformed", message_id=delivery.message_id, reason="the message is not an EventBridge event"
        )
    try:
        return parse_triggers(body)
    except TriggerError as error:
        return log("ignored", event_id=body.get("id"), reason=str(error))


def _heartbeat(event: Mapping[str, Any], responder: Responder) -> dict[str, Any]:
    """The canary proves the path from the default bus to here; it never reaches the playbook."""
    function_name = responder.own_arn.split(":")[-1]
    try:
        recorded = record_heartbeat(
            responder.aws, event, function_name=function_name, topic_arn=responder.settings.topic_arn
        )
        return log("heartbeat", **recorded)
    except CanaryError as error:
        return log("ignored", event_id=event.get("id"), reason=str(error))
    except Exception as error:  # noqa: BLE001 - only this message is tried again; the leak signals go on
        return log(HEARTBEAT_FAILED, event_id=event.get("id"), reason=f"{type(error).__name__}: {error}")


@dataclass
class _Started:
    """A group after its containment round: each incident's answer, or its run with the record steps to come."""

    group: _Group
    recorded: bool = True  # the abuse calls reached the signals table
    incidents: list[tuple[Trigger, Contained | tuple[dict[str, Any], bool]]] = field(default_factory=list)
    answer: tuple[dict[str, Any], bool] | None = None  # the whole group's, when nothing is left to do


def _contain_group(group: _Group, responder: Responder, *, may_defer: bool) -> _Started:
    if may_defer and _short_of_time(responder):
        # Starting now could be cut off by the timeout, which would send the whole batch back: hand back only
        # the groups not started, and let the ones already answered stand
        deferred = log(
            "deferred", user=group.trigger.user_name, reason="too little time left in this invocation"
        )
        return _Started(group, answer=(deferred, True))
    if group.trigger.family is TriggerFamily.UNDO:
        return _Started(group, answer=_undone(group, responder))
    correlated, recorded = _correlations(group, responder)
    incidents = [*([group.own] if group.own else []), *correlated]
    if not incidents:
        reason = "these calls count only inside a correlation, and none is complete"
        answer = log("recorded", user=group.trigger.user_name, calls=len(group.message_ids), reason=reason)
        return _Started(group, recorded, answer=(answer, not recorded))
    started = [
        (trigger, _respond(trigger, responder, second_look=group.second_look)) for trigger in incidents
    ]
    return _Started(group, recorded, started)


def _finish_group(started: _Started, responder: Responder) -> tuple[dict[str, Any], bool]:
    """The record steps of each incident the group contained (or handed back when time is short), then the
    escalation of its abuse calls."""
    if started.answer is not None:
        return started.answer
    answered = [_finished_run(trigger, run, responder) for trigger, run in started.incidents]
    records = [record for record, _ in answered]
    _escalate(started.group, responder, records[0])
    result = records[0] if len(records) == 1 else {"status": "responded", "incidents": records}
    return result, not started.recorded or any(failed for _, failed in answered)


def _finished_run(
    trigger: Trigger, run: Contained | tuple[dict[str, Any], bool], responder: Responder
) -> tuple[dict[str, Any], bool]:
    if not isinstance(run, Contained):
        return run
    try:
        if _short_of_time(responder):  # contained already; its evidence comes with the redelivery
            return _answered(trigger, run.hand_back("too little time left in this invocation"), responder)
        return _answered(trigger, run.finish(), responder)
    except Exception as error:  # noqa: BLE001 - contained, but the record failed: deliver again (then dead-letter)
        reason = f"{type(error).__name__}: {error}"
        return log("failed", family=trigger.family.value, user=trigger.user_name, reason=reason), True


def _short_of_time(responder: Responder) -> bool:
    return responder.remaining_ms is not None and responder.remaining_ms() < GROUP_TIME_RESERVE_MS


def _respond(
    trigger: Trigger, responder: Responder, *, second_look: bool = False
) -> Contained | tuple[dict[str, Any], bool]:
    """The incident's answer, or its run after the containment round (``Contained``: the record steps follow)."""
    settings, aws = responder.settings, responder.aws
    ledger = None if settings.dry_run else open_ledger(aws, settings.ledger_table, settings.ledger_mac_key)
    finished = None if second_look else _finished(trigger, responder, ledger)  # a second look looks again
    try:
        member = member_clients(
            trigger, responder.own_arn, settings, aws, responder.membership or Membership(aws)
        )
    except RefusedAccountError as error:
        return _refuse(trigger, str(error), responder, ledger), False
    except MemberUnreachableError as error:  # deliver again: this is passing, and the other groups go on
        return log("failed", family=trigger.family.value, account=trigger.account, reason=str(error)), True
    if _believed(finished, trigger, member or aws):
        later = _later_signal(trigger, responder, ledger)
        if later is None:
            return _already_finished(trigger), False
        return _contain(trigger, responder, ledger, member, second_look=True, later_signal=later)
    if trigger.cannot_contain is not None:
        return _answered(trigger, _tell(trigger, trigger.cannot_contain, responder, ledger), responder)
    return _contain(trigger, responder, ledger, member, second_look=second_look)


def _undone(group: _Group, responder: Responder) -> tuple[dict[str, Any], bool]:
    """Watched calls on one user that may undo a containment (``undo.py``): a human is told at once, then each
    incident that contained the user runs again. A ledger or IAM that cannot answer sends the calls back."""
    trigger, settings, aws = group.trigger, responder.settings, responder.aws
    ledger = None if settings.dry_run else open_ledger(aws, settings.ledger_table, settings.ledger_mac_key)
    try:
        member = member_clients(
            trigger, responder.own_arn, settings, aws, responder.membership or Membership(aws)
        )
        answer = answer_undo(
            trigger, group.details, settings=settings, aws=aws, clients=member or aws, ledger=ledger
        )
    except RefusedAccountError as error:
        return _refuse(trigger, str(error), responder, ledger), False
    except Exception as error:  # noqa: BLE001 - whether the user is contained is never guessed: deliver again
        return log("failed", family=trigger.family.value, user=trigger.user_name, reason=str(error)), True
    if answer.ignored is not None or answer.alert is None:
        return log(
            "ignored", family=trigger.family.value, user=trigger.user_name, reason=answer.ignored
        ), False
    answered = [
        _finished_run(incident, _contain(incident, responder, ledger, member), responder)
        for incident in answer.incidents
    ]
    record = {"status": "responded", "alert": answer.alert.as_json(), "incidents": [r for r, _ in answered]}
    return record, answer.alert.status is Status.FAILED or any(failed for _, failed in answered)


def _contain(
    trigger: Trigger,
    responder: Responder,
    ledger: Ledger | None,
    member: Aws | None,
    *,
    second_look: bool = False,
    later_signal: str | None = None,
) -> Contained | tuple[dict[str, Any], bool]:
    settings, aws = responder.settings, responder.aws
    try:
        return contain_first(
            trigger,
            settings,
            aws,
            ledger,
            member=member,
            responder_account=responder.own_account,
            second_look=second_look,
            later_signal=later_signal,
        )
    except CannotContainError as error:  # learnt from IAM or CloudTrail (an unknown owner, a root key)
        outcome = _tell(trigger, error.problem, responder, ledger)
    except PlaybookError as error:
        return log("refused", family=trigger.family.value, user=trigger.user_name, reason=str(error)), False
    except Exception as error:  # noqa: BLE001 - AWS failed before containment: deliver again (then dead-letter)
        reason = f"{type(error).__name__}: {error}"
        return log("failed", family=trigger.family.value, user=trigger.user_name, reason=reason), True
    return _answered(trigger, outcome, responder)


def _tell(trigger: Trigger, problem: CannotContain, responder: Responder, ledger: Ledger | None) -> Outcome:
    return tell_human(trigger, problem, responder.settings, responder.aws, ledger)


def _answered(trigger: Trigger, outcome: Outcome, responder: Responder) -> tuple[dict[str, Any], bool]:
    if not outcome.failed and not responder.settings.dry_run:
        responder.memo.add(trigger, contained=outcome.contained)
    return log("responded", **outcome.as_json(), calls=outcome.calls), outcome.failed


def _refuse(trigger: Trigger, reason: str, responder: Responder, ledger: Ledger | None) -> dict[str, Any]:
    """An account the responder must not act in: logged, kept in the ledger, and told to the security team once."""
    settings, aws = responder.settings, responder.aws
    record = log("refused", account=trigger.account, reported_by=trigger.reported_by, reason=reason)
    first_time = ledger.record_refusal(refusal_id(trigger, reason), trigger, reason) if ledger else True
    if first_time and settings.topic_arn and not settings.dry_run:
        subject = f"Refused a leak signal for account {trigger.account}"
        message = (
            f"{trigger.reason}, for user {trigger.user_name or '?'} / key {trigger.access_key_id or '?'}.\n"
            f"Not acted on: {reason}.\nIf the account is yours, deploy the member stack there; if not, someone "
            "is sending events that name it."
        )
        try:
            aws.client("sns").publish(TopicArn=settings.topic_arn, Subject=subject[:100], Message=message)
        except Exception as error:  # noqa: BLE001 - the refusal stands; the log line above records it
            log("refusal-notification-failed", account=trigger.account, reason=str(error))
    return record


def _finished(trigger: Trigger, responder: Responder, ledger: Ledger | None) -> bool | None:
    """None when no earlier delivery finished the incident, else whether it ended contained."""
    remembered = responder.memo.contained(trigger)
    if remembered is not None:
        return remembered
    if (
        ledger is None or trigger.user_name is None
    ):  # an incident id needs the user: resolve it in the playbook
        return None
    state = ledger.finished_state(incident_id_of(trigger, trigger.user_name), trigger)
    if state is None:
        return None
    contained, at = state
    responder.memo.add(trigger, contained=contained, at=at)
    return contained


def _later_signal(trigger: Trigger, responder: Responder, ledger: Ledger | None) -> str | None:
    """A signal made after what the incident's last look could see (its finish plus the second look's delay, which
    that look reads up to) is a later signal: the trail is read again, once per finished look (claimed in the
    ledger, so that concurrent batches run one). Returns the finish it follows; None for a repeat (a redelivery
    carries its event's own time) and for anything the last look covered, at no AWS call."""
    finished_at, signalled = parse_time(responder.memo.finished_at(trigger)), _signal_time(trigger)
    if finished_at is None or signalled is None or trigger.user_name is None:
        return None
    covered = min(responder.settings.second_look_delay_seconds, SECOND_LOOK_MAX_DELAY)
    if signalled <= finished_at + timedelta(seconds=covered):
        return None
    since = stamp(finished_at)
    claim = f"later-signal:{since}"
    if ledger is not None and not ledger.claim_for(incident_id_of(trigger, trigger.user_name), claim):
        return None
    return since


def _signal_time(trigger: Trigger) -> datetime | None:
    return parse_time(trigger.event.get("time")) if trigger.event is not None else None


def _believed(finished: bool | None, trigger: Trigger, clients: Aws) -> bool:
    """An earlier finish stands when it contained nothing, or when IAM still shows its containment (two reads)."""
    if finished is None:
        return False
    if not finished:
        return True  # notified only: nothing the key's holder could have undone
    return trigger.user_name is not None and still_contained(clients.iam, trigger.user_name)


def _already_finished(trigger: Trigger) -> dict[str, Any]:
    incident_id = incident_id_of(trigger, trigger.user_name or "")
    return {
        "status": "responded",
        "incident_id": incident_id,
        "user": trigger.user_name,
        "access_key_ids": [trigger.access_key_id] if trigger.access_key_id else [],
        "steps": [
            {"name": "all", "status": "skipped", "detail": f"incident {incident_id} is already finished"}
        ],
    }


def _correlations(group: _Group, responder: Responder) -> tuple[list[Trigger], bool]:
    """Patterns this batch's abuse calls complete, each an incident of its own; and whether the calls were recorded.

    Never blocks the response: when the signals table fails, the calls are still answered, and the group's messages
    are delivered again so that they are recorded then (the repeat costs no playbook run).
    """
    trigger, table = group.trigger, responder.settings.signals_table
    if trigger.family is not TriggerFamily.ABUSE or not table or not group.details:
        return [], True
    try:
        matched = record_and_correlate(responder.aws, table, trigger, group.details, responder.thresholds)
    except Exception as error:  # noqa: BLE001 - correlation is extra: the calls themselves are still answered
        log("correlation-failed", user=trigger.user_name, reason=f"{type(error).__name__}: {error}")
        return [], False
    return [_completed(trigger, name) for name in matched], True


def _completed(trigger: Trigger, correlation: str) -> Trigger:
    """A completed pattern is an incident of its own, at high severity whatever the calls in it."""
    reason = f"{correlation}: {trigger.reason}"
    return replace(
        trigger, category=correlation, severity=Severity.HIGH, correlation_only=False, reason=reason
    )


def _escalate(group: _Group, responder: Responder, answer: Mapping[str, Any]) -> None:
    """Tell about calls the key reaches for the first time in the window, unless this run's notice just did."""
    trigger, settings = group.trigger, responder.settings
    if trigger.family is not TriggerFamily.ABUSE or not settings.signals_table or not group.details:
        return
    try:
        notified = any(s["name"] == "notify" and s["status"] == "done" for s in answer.get("steps", []))
        incident_id = str(answer.get("incident_id", "?"))
        ledger = Ledger(responder.aws, settings.ledger_table) if settings.ledger_table else None
        covered = ledger.notified_at(incident_id) if ledger and not notified else None
        escalation = record_calls(
            responder.aws,
            settings.signals_table,
            trigger,
            group.details,
            notified=notified,
            covered_until=covered,
        )
        if not escalation.may_notify or not settings.topic_arn or settings.dry_run:
            return
        subject, message = escalation_notice(trigger, incident_id, escalation)
        responder.aws.client("sns").publish(
            TopicArn=settings.topic_arn, Subject=subject[:100], Message=message
        )
        log("escalated", user=trigger.user_name, calls=[r.event_name for r in escalation.reached])
    except Exception as error:  # noqa: BLE001 - the calls were answered; the evidence keeps them whatever happens
        log("escalation-failed", user=trigger.user_name, reason=f"{type(error).__name__}: {error}")


def _memo_key(trigger: Trigger) -> tuple[str | None, ...]:
    """What a trigger names, and who reported it (a forged report must not share a genuine one's answer)."""
    fields = (
        trigger.family.value,
        trigger.account,
        trigger.user_name,
        trigger.access_key_id,
        trigger.category,
        trigger.cannot_contain.found
        if trigger.cannot_contain
        else None,  # two roles' findings are two notices
    )
    return (*fields, trigger.reported_by)


def log(status: str, **fields: Any) -> dict[str, Any]:
    record = {"status": status, **fields}
    LOG.info(json.dumps(record, default=str))
    return record
