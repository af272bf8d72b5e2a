"""What every step shares: the step record, its result, and the signals a step raises."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from key_quarantine.handlers.cannot_contain import CannotContain
from key_quarantine.handlers.triggers import TriggerFamily

if TYPE_CHECKING:
    from key_quarantine.handlers.playbook import Incident


#: How a containment step's detail starts when IAM showed that an earlier containment had been undone.
UNDONE = "UNDONE"


class Status(StrEnum):
    DONE = "done"
    SKIPPED = "skipped"
    FAILED = "failed"


class PlaybookError(Exception):
    """The event names a principal the playbook must not or cannot act on (exit 2 in the CLI)."""


class CannotContainError(PlaybookError):
    """Learnt only from IAM or CloudTrail: the responder cannot contain this (an owner nobody can name, a root
    key). Unlike other refusals, a human is told at once (``tell_human``)."""

    def __init__(self, problem: CannotContain) -> None:
        super().__init__(f"NOT CONTAINED: {problem.found}: {problem.why}; next step: {problem.next_step}")
        self.problem = problem


class Skip(Exception):  # noqa: N818 - a control-flow signal, not an error
    """Raised by a step that has nothing to do; the message says why."""


@dataclass(frozen=True)
class Step:
    """One idempotent step: its name, the IAM actions it needs (the role is their union), ``run``, and how a person
    undoes what it did (``undo``, ``{user}`` for the user's name, or a function of the step's detail when that
    decides it; None: it changes nothing, or only what the incident report undoes change by change)."""

    name: str
    actions: tuple[str, ...]
    run: Callable[[Incident], str]
    undo: str | Callable[[str], str] | None = None
    #: the setting (a ``Settings`` field) without which the responder's role does not grant this step's actions
    opt_in: str | None = None
    #: what the step's IAM actions act on: users of the account, or (opted in) the revocable roles only
    on_roles: bool = False
    once: bool = False  # claimed in the ledger first, so concurrent deliveries do it once
    #: for a ``once`` step: the claim's name from what the incident knows, so that it runs again when that changes
    #: (the notice: once per state of the containment); default the step's name, i.e. once per incident
    claim_as: Callable[[Incident], str] | None = None
    #: conditions IAM must find in the request for some of ``actions`` (action -> {operator: {key: value}}); a
    #: ``{partition}`` in a value is filled in where the grant is written (``playbook.action_conditions``)
    conditions: Mapping[str, Mapping[str, Mapping[str, str]]] = field(default_factory=dict)

    def claim_name(self, incident: Incident) -> str:
        return self.name if self.claim_as is None else f"{self.name}:{self.claim_as(incident)}"


@dataclass(frozen=True)
class StepResult:
    name: str
    status: Status
    detail: str

    def as_json(self) -> dict[str, str]:
        return {"name": self.name, "status": self.status.value, "detail": self.detail}


def why_not_containing(incident: Incident) -> str:
    if (
        incident.trigger.family is TriggerFamily.ABUSE
        and incident.trigger.category not in incident.settings.contain_categories
    ):
        return f"{incident.trigger.category} detections notify only (not in contain_categories)"
    if incident.exemption is not None:
        return (
            f"the user is exempt by the deployed configuration: {incident.exemption.describe()}: notify only"
        )
    return "response mode is notify"


def irreversible_refused(incident: Incident) -> str | None:
    """Why an irreversible step (deleting keys, the console password) must wait for a human, if it must: only
    AWS's own word that the key leaked, or an operator's request, may run one."""
    if incident.trigger.allows_irreversible:
        return None
    return f"left to a human: the signal is not AWS's own word ({incident.trigger.reason})"


def error_code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", "Unknown"))
