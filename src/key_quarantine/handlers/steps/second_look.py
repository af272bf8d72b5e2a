"""The second look: CloudTrail delivers a call within about 5 minutes, so the first trail, read seconds after the
signal, misses the key's last minutes. One delayed follow-up per incident (recorded in the ledger) goes through the
buffer queue with ``DelaySeconds`` (SQS allows 900 at most): the signal's own event, marked ``kq-second-look``.
When it comes back the playbook runs again (idempotent: the named user's containment is checked again, the trail
is read again and what it made is contained) and a follow-up notice says what the second look found.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from key_quarantine.handlers.steps.base import Skip, Step
from key_quarantine.handlers.steps.derived import STEP as DERIVED
from key_quarantine.handlers.steps.derived import derived_label, trail_lines
from key_quarantine.handlers.steps.notify import publish
from key_quarantine.handlers.steps.revoke_role_sessions import STEP as REVOKE_ROLE_SESSIONS

if TYPE_CHECKING:
    from key_quarantine.handlers.playbook import Incident

MARKER = "kq-second-look"
#: the steps whose recorded detail names what a look found (``derived_label`` of each finding)
FINDING_STEPS = (DERIVED.name, REVOKE_ROLE_SESSIONS.name)
MAX_DELAY_SECONDS = 900  # SQS's largest DelaySeconds


def schedule_second_look(incident: Incident) -> str:
    settings = incident.settings
    if not settings.second_look_queue_url:
        raise Skip("no second look configured (KQ_SECOND_LOOK_QUEUE_URL)")
    if incident.second_look:
        raise Skip("this is the second look")
    if incident.trigger.event is None:
        raise Skip("the signal carried no event to look at again")
    delay = min(settings.second_look_delay_seconds, MAX_DELAY_SECONDS)
    if settings.dry_run:
        return f"dry run: would look again in {delay} s"
    body = {**incident.trigger.event, MARKER: {"incident_id": incident.incident_id}}
    incident.client("sqs").send_message(
        QueueUrl=settings.second_look_queue_url, MessageBody=json.dumps(body, default=str), DelaySeconds=delay
    )
    return f"a second look in {delay} s, once CloudTrail has delivered the last calls"


def follow_up(incident: Incident) -> str:
    if incident.later_signal is not None and not new_findings(incident):
        raise Skip(
            f"a later signal: the trail shows nothing the look finished at {incident.later_signal} had not"
        )
    return publish(incident, *follow_up_notice(incident))


def new_findings(incident: Incident) -> list[str]:
    """What this look found (what the trail made, role sessions) that no earlier look's recorded steps name."""
    before = " ".join(incident.seen_before.get(step, "") for step in FINDING_STEPS)
    labels = [derived_label(entry) for entry in incident.derived]
    return [label for label in labels if label not in before]


def look(incident: Incident) -> str:
    """The follow-up notice is claimed once per look: the second look, and each later signal's."""
    return "second" if incident.later_signal is None else f"later:{incident.later_signal}"


def follow_up_notice(incident: Incident) -> tuple[str, str]:
    found = trail_lines(incident)
    events = sum(len(trail.events) for trail in incident.trails or [])
    contained = sum(1 for entry in incident.derived if entry["kind"] != "role-session")
    which = "Second look at" if incident.later_signal is None else "A later signal: another look at"
    subject = f"{which} the leaked key of {incident.user_name}: {contained} more contained"
    lines = [
        f"CloudTrail has now delivered the key's last calls: the trail holds {events} event(s).",
        *(found or ["Nothing more was found."]),
        f"Evidence: {incident.evidence_location or 'not written (see the responder logs)'}",
        f"Incident: {incident.incident_id}",
    ]
    return subject, "\n".join(lines)


#: Not claimed first (a claim costs two ledger calls even where no second look is configured): the ledger records
#: it done, so later deliveries skip it; two deliveries at the same moment may both schedule one, and the
#: follow-up notice is claimed, so a person still gets one.
STEP = Step("second-look", ("sqs:SendMessage",), schedule_second_look)
FOLLOW_UP = Step("second-look-notice", ("sns:Publish",), follow_up, once=True, claim_as=look)
