"""The response playbook, shared by the Lambda responder and the ``key-quarantine`` CLI: the orchestration.

The steps live in ``handlers/steps/``, one a file, each declaring the IAM actions it needs (the responder's role
is built from exactly their union). Order: resolve who and which key, then contain (``CONTAINMENT_STEPS``) in one
parallel round, then everything else (evidence, tags, notification). Containment never waits on evidence; a
failed step does not stop the others.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError, ParamValidationError

from key_quarantine.handlers.aws import Aws
from key_quarantine.handlers.boundary import held_by_deny_all
from key_quarantine.handlers.canary import HEARTBEAT_ACTIONS
from key_quarantine.handlers.correlation import CORRELATION_ACTIONS
from key_quarantine.handlers.key_owner import Deletion
from key_quarantine.handlers.ledger import Ledger
from key_quarantine.handlers.settings import CONTAINMENT_POLICY_NAME, Exemption, ResponseMode, Settings
from key_quarantine.handlers.steps import (
    ALL_STEPS,
    CONTAINMENT_STEPS,
    RECORD_STEPS,
    RESOLVE_ACTIONS,
    SECOND_LOOK_STEPS,
    PlaybookError,
    Skip,
    Status,
    Step,
    StepResult,
)
from key_quarantine.handlers.steps.base import error_code
from key_quarantine.handlers.steps.resolve import resolve, survey
from key_quarantine.handlers.triggers import Trigger, TriggerFamily

if TYPE_CHECKING:
    from key_quarantine.handlers.trail import Trail

#: Services the playbook calls in the account the key belongs to; everything else (evidence bucket, topic,
#: ledger, Security Hub) stays in the responder's account. In organization mode the member role grants exactly
#: the playbook's actions on these services.
MEMBER_SERVICES = frozenset({"iam", "cloudtrail"})


@dataclass
class Incident:
    """What one run knows and has done; steps read and extend it."""

    trigger: Trigger
    settings: Settings
    aws: Aws
    member: Aws | None = None  # the key's account, when it is not the responder's (organization mode)
    responder_account: str | None = None  # where Security Hub findings are imported (default the key's)
    user_name: str = ""
    target_keys: list[str] = field(default_factory=list)
    keys_before: dict[str, str] = field(default_factory=dict)
    user_id: str = ""  # IAM's unique id (AIDA...): a re-created user of the same name is another principal
    user_arn: str = ""
    user_path: str = "/"
    exemption: Exemption | None = None  # from the deployed configuration only
    exempt_tag_ignored: bool = False  # the user carries the exempt tag, which does not exempt
    results: list[StepResult] = field(default_factory=list)  # the steps run so far: what the notice reports
    containment_results: list[StepResult] = field(default_factory=list)  # the containment round's
    done_before: dict[str, str] = field(default_factory=dict)  # what the ledger says earlier deliveries did
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    evidence_location: str | None = None
    second_look: bool = False  # the delayed follow-up (steps/second_look.py), or a later signal's look
    later_signal: str | None = None  # a later signal's look: when the look it follows finished
    seen_before: dict[str, str] = field(default_factory=dict)  # what the ledger says earlier looks did
    report_location: str | None = None  # the incident page beside the evidence
    contained_at: datetime | None = None
    trails: list[Trail] | None = None  # each leaked key's CloudTrail trail, read once per run
    derived: list[dict[str, Any]] = field(
        default_factory=list
    )  # what the trail created, and what was done to it
    tags_before: dict[str, str] = field(default_factory=dict)
    deleted_key: str | None = None  # the named key, when IAM no longer has it (rotated, then deleted)
    deletion: Deletion | None = None  # its DeleteAccessKey in CloudTrail: whose key, who deleted it, when
    boundary_before: str | None = None  # the user's permissions boundary ARN when surveyed (GetUser)
    #: the boundary our AWSDenyAll boundary replaced in this run (an ARN, or boundary.NO_BOUNDARY); None: none replaced
    boundary_replaced: str | None = None

    @property
    def incident_id(self) -> str:
        return incident_id_of(self.trigger, self.user_name)

    @property
    def exempt(self) -> bool:
        return self.exemption is not None

    @property
    def contains(self) -> bool:
        if (
            self.trigger.family is TriggerFamily.ABUSE
            and self.trigger.category not in self.settings.contain_categories
        ):
            return False  # abuse AWS did not flag: notify with evidence unless the category opted in
        return self.settings.mode is ResponseMode.CONTAIN and not self.exempt

    @property
    def contained(self) -> bool:
        """Containment was meant and every containment step held."""
        return self.contains and not any(r.status is Status.FAILED for r in self.containment_results)

    @property
    def named_active_keys(self) -> list[str]:
        """The keys the signal named that were Active when found: the only ones ``release`` may turn back on."""
        named = [self.trigger.access_key_id] if self.trigger.access_key_id else []
        return [key for key in named if self.keys_before.get(key) == "Active"]

    def client(self, service: str, region: str | None = None) -> Any:
        """The client for ``service``: in the key's account for MEMBER_SERVICES, else the responder's."""
        routed = self.member if self.member is not None and service in MEMBER_SERVICES else self.aws
        return routed.client(service, region)

    @property
    def iam(self) -> Any:
        return self.client("iam")


def incident_id_of(trigger: Trigger, user_name: str) -> str:
    """One incident per (account, user, key, trigger family)."""
    material = f"{trigger.account}|{user_name}|{trigger.access_key_id or '*'}|{trigger.family.value}"
    return hashlib.sha256(material.encode()).hexdigest()[:20]


@dataclass(frozen=True)
class Outcome:
    incident_id: str
    user: str
    access_key_ids: list[str]
    steps: list[StepResult]
    calls: dict[str, int]
    contained: bool = False  # every containment step held (what "already finished" is checked against later)

    @property
    def failed(self) -> bool:
        return any(step.status is Status.FAILED for step in self.steps)

    def as_json(self) -> dict[str, Any]:
        return {
            "incident_id": self.incident_id,
            "user": self.user,
            "access_key_ids": self.access_key_ids,
            "steps": [step.as_json() for step in self.steps],
        }


def required_actions(
    ledger_actions: Iterable[str] = Ledger.ACTIONS, *, opted_in: Collection[str] = ()
) -> tuple[str, ...]:
    """Every IAM action the responder may call: its role grants exactly these (the canary's heartbeat too). A step
    that is ``opt_in`` counts only when its setting is in ``opted_in``."""
    steps = (a for step in granted_steps(opted_in) for a in step.actions)
    actions = [*RESOLVE_ACTIONS, *steps, *ledger_actions, *CORRELATION_ACTIONS, *HEARTBEAT_ACTIONS]
    return tuple(sorted(set(actions)))


def action_conditions(partition: str) -> dict[str, dict[str, dict[str, str]]]:
    """The actions granted only under a condition (action -> {operator: {key: value}}), for ``partition``'s ARNs:
    what the steps declare (the responder may set no permissions boundary but AWSDenyAll)."""
    return {
        action: {
            operator: {key: value.format(partition=partition) for key, value in tests.items()}
            for operator, tests in condition.items()
        }
        for step in ALL_STEPS
        for action, condition in step.conditions.items()
    }


def granted_steps(opted_in: Collection[str] = ()) -> tuple[Step, ...]:
    return tuple(step for step in ALL_STEPS if step.opt_in is None or step.opt_in in opted_in)


def role_actions(opted_in: Collection[str] = ()) -> tuple[str, ...]:
    """The steps' IAM actions on roles (``Step.on_roles``): granted on the revocable roles only, never on users."""
    return tuple(sorted({a for step in granted_steps(opted_in) if step.on_roles for a in step.actions}))


def member_actions(opted_in: Collection[str] = ()) -> tuple[str, ...]:
    """The playbook's actions that run in the key's account: what a member account's responder role grants."""
    return tuple(
        action for action in required_actions(opted_in=opted_in) if action.split(":")[0] in MEMBER_SERVICES
    )


def run_playbook(
    trigger: Trigger,
    settings: Settings,
    aws: Aws,
    ledger: Ledger | None = None,
    *,
    member: Aws | None = None,
    responder_account: str | None = None,
    second_look: bool = False,
    later_signal: str | None = None,
) -> Outcome:
    """Resolve, contain in one parallel round, then record. Raises PlaybookError only before any change.

    ``member``: clients in the key's account (an assumed member role) when it is not ``responder_account``,
    the account of ``aws``. ``second_look``: the delayed follow-up, which checks everything again (every step is
    idempotent) and sends its own notice; ``later_signal`` (with ``second_look``): the same look for a signal made
    after the last look finished (at that time), whose notice goes out only when it found something new.
    """
    return contain_first(
        trigger,
        settings,
        aws,
        ledger,
        member=member,
        responder_account=responder_account,
        second_look=second_look,
        later_signal=later_signal,
    ).finish()


def contain_first(
    trigger: Trigger,
    settings: Settings,
    aws: Aws,
    ledger: Ledger | None = None,
    *,
    member: Aws | None = None,
    responder_account: str | None = None,
    second_look: bool = False,
    later_signal: str | None = None,
) -> Contained:
    """The playbook up to its containment round (``run_playbook``'s arguments); the record steps are left to
    ``Contained.finish``, so a batch can contain every key before any evidence is gathered."""
    incident = Incident(
        trigger=trigger,
        settings=settings,
        aws=aws,
        member=member,
        responder_account=responder_account,
        second_look=second_look,
        later_signal=later_signal,
    )
    try:
        resolve(incident)
        survey(incident)
    except ParamValidationError as error:
        raise PlaybookError(f"the event names a principal AWS would not accept: {error}") from None
    active_ledger = ledger if ledger is not None and not settings.dry_run else None
    done_before = active_ledger.open(incident) if active_ledger else {}
    incident.seen_before = dict(done_before)
    incident.done_before = {} if second_look else done_before  # a second look believes nothing done before
    # "already done" is never believed for containment: each step checks IAM (the survey's reads, the deny's
    # own read) and redoes what was undone
    incident.containment_results = _run_parallel(incident, CONTAINMENT_STEPS, {}, active_ledger)
    incident.contained_at = datetime.now(UTC)
    incident.results = list(incident.containment_results)
    return Contained(incident, active_ledger)


#: The step result of a run whose record steps were handed back (``Contained.hand_back``).
RECORD_HANDED_BACK = "record-steps"


@dataclass
class Contained:
    """A run whose containment round is over; its record steps (trail, evidence, notice ...) are still to run."""

    incident: Incident
    ledger: Ledger | None

    @property
    def contained(self) -> bool:
        return self.incident.contained

    def finish(self) -> Outcome:
        """The record steps, one by one, then the ledger's record of the whole run."""
        incident = self.incident
        for step in SECOND_LOOK_STEPS if incident.second_look else RECORD_STEPS:
            incident.results.append(_run(incident, step, incident.done_before, self.ledger))
        return self._outcome()

    def hand_back(self, reason: str) -> Outcome:
        """Record the containment round, and fail the run so that its delivery comes back for the record steps."""
        detail = f"not started ({reason}): delivered again; the containment above is done and recorded"
        self.incident.results.append(StepResult(RECORD_HANDED_BACK, Status.FAILED, detail))
        return self._outcome()

    def _outcome(self) -> Outcome:
        incident = self.incident
        results = list(incident.results)
        if self.ledger:
            self.ledger.record(incident, results)
            results += [StepResult("ledger", Status.FAILED, problem) for problem in self.ledger.problems]
        aws, member = incident.aws, incident.member
        calls = aws.calls + member.calls if member is not None else aws.calls
        return Outcome(
            incident.incident_id,
            incident.user_name,
            incident.target_keys,
            results,
            dict(calls),
            incident.contained,
        )


def still_contained(iam: Any, user_name: str) -> bool:
    """IAM's word before an "already finished" is believed: no active access key, and one of our denies in place,
    the inline policy or the AWSDenyAll boundary (``deny_policy``). Two reads; three when the inline policy is
    absent (GetUser, for the boundary)."""
    try:
        keys = iam.list_access_keys(UserName=user_name)["AccessKeyMetadata"]
        if any(key["Status"] == "Active" for key in keys):
            return False
        try:
            iam.get_user_policy(UserName=user_name, PolicyName=CONTAINMENT_POLICY_NAME)
        except ClientError as error:
            if error_code(error) != "NoSuchEntity":
                raise
            return held_by_deny_all(iam.get_user(UserName=user_name)["User"])
    except ClientError:
        return False  # gone, re-created, denied, throttled: answer it in full
    return True


def _run_parallel(
    incident: Incident, steps: tuple[Step, ...], done: dict[str, str], ledger: Ledger | None
) -> list[StepResult]:
    with ThreadPoolExecutor(max_workers=len(steps)) as pool:
        return list(pool.map(lambda step: _run(incident, step, done, ledger), steps))


def _run(incident: Incident, step: Step, done: dict[str, str], ledger: Ledger | None) -> StepResult:
    if step.once and ledger is not None:
        return _run_claimed(incident, step, ledger)  # the claim, not the done list, decides
    if step.name in done:
        return StepResult(step.name, Status.SKIPPED, f"already done for this incident: {done[step.name]}")
    return _attempt(incident, step)


def _run_claimed(incident: Incident, step: Step, ledger: Ledger) -> StepResult:
    """A step done once per incident (or per state, ``claim_as``): claim it; give the claim back on failure."""
    claim = step.claim_name(incident)
    if not ledger.claim(incident, claim):
        return StepResult(step.name, Status.SKIPPED, f"already done or under way for this incident ({claim})")
    result = _attempt(incident, step)
    if result.status is not Status.DONE:
        ledger.unclaim(incident, claim)
    return result


def _attempt(incident: Incident, step: Step) -> StepResult:
    try:
        return StepResult(step.name, Status.DONE, step.run(incident))
    except Skip as skip:
        return StepResult(step.name, Status.SKIPPED, str(skip))
    except Exception as error:  # noqa: BLE001 - a failed step must not stop the others; it is recorded
        return StepResult(step.name, Status.FAILED, f"{type(error).__name__}: {error}")
