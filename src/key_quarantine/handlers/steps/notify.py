"""Tell a human: one SNS message per incident and state of its containment (claimed in the ledger, so duplicate
deliveries send it once, and a later change of the state, e.g. contained after notify-only, sends a follow-up)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from key_quarantine.data import Severity
from key_quarantine.handlers.steps.base import UNDONE, Skip, Status, Step, why_not_containing
from key_quarantine.handlers.steps.deleted_key import deleted_key_line
from key_quarantine.handlers.steps.derived import trail_lines

if TYPE_CHECKING:
    from key_quarantine.handlers.playbook import Incident


def notify(incident: Incident) -> str:
    return publish(incident, *notification(incident))


def publish(incident: Incident, subject: str, message: str) -> str:
    """Send one notice to the topic (the incident's, or a follow-up); SNS takes 100 characters of subject."""
    topic = incident.settings.topic_arn
    if not topic:
        raise Skip("no notification topic configured")
    if incident.settings.dry_run:
        return f"dry run: would publish '{subject}'"
    incident.client("sns").publish(TopicArn=topic, Subject=subject[:100], Message=message)
    return f"published '{subject}'"


def notification(incident: Incident) -> tuple[str, str]:
    """Subject and message, from what the steps did (never from what the settings intended)."""
    user, keys = incident.user_name, ", ".join(incident.target_keys) or "none"
    subject = f"{_headline(incident)}: {user}"
    lines = [
        containment_summary(incident),
        f"Why: {incident.trigger.reason} (account {incident.trigger.account}).",
        f"Who: IAM user {user}; key(s) named: {keys}.",
        *([f"Deleted key: {deleted_key_line(incident)}."] if incident.deleted_key else []),
        "Steps:",
        *(f"- {r.name}: {r.status.value}: {r.detail}" for r in incident.results),
        *_ignored_tag(incident),
        *trail_lines(incident),
        f"Evidence: {incident.evidence_location or 'not written (see the responder logs)'}",
        f"Incident: {incident.incident_id}",
        "",
        "Next: review the CloudTrail activity in the evidence, rotate whatever the key could read, then delete the",
        f"key. To undo our containment: key-quarantine release --user {user} (keys stay inactive unless --reactivate).",
    ]
    return subject, "\n".join(lines)


def containment_state(incident: Incident) -> str:
    """One word for what containment achieved: a change of it is worth a follow-up notice."""
    if not incident.contains:
        return "not-contained"
    if incident.settings.dry_run:
        return "dry-run"
    failed = sorted(r.name for r in incident.containment_results if r.status is Status.FAILED)
    if failed:
        return f"failed-{'+'.join(failed)}"
    if any(r.detail.startswith(UNDONE) for r in incident.containment_results):
        return f"redone-{incident.started_at.strftime('%Y%m%dT%H%M%SZ')}"  # each redo is told
    return "contained"


def containment_summary(incident: Incident) -> str:
    """The notice's first line: NOT CONTAINED and why when a containment step failed, else what held."""
    results = incident.containment_results
    done = [r.detail for r in results if r.status is Status.DONE]
    if not incident.contains:
        return f"Not contained: {why_not_containing(incident)}; nothing was changed."
    if incident.settings.dry_run:
        return "Dry run: nothing was changed. " + "; ".join(done)
    failed = [f"{r.name} failed ({r.detail})" for r in results if r.status is Status.FAILED]
    if failed:
        return f"NOT CONTAINED: {'; '.join(failed)}; done: {'; '.join(done) or 'nothing'}."
    return f"Contained: {'; '.join(done) or 'already in place'}."


def _headline(incident: Incident) -> str:
    state = containment_state(incident)
    if state == "not-contained":
        return _not_contained(incident.trigger.severity)
    if state.startswith("failed"):
        return "Leaked AWS access key NOT CONTAINED"
    if state.startswith("redone"):
        return "Leaked AWS access key contained AGAIN (the containment had been undone)"
    return f"Leaked AWS access key {'contained' if state == 'contained' else state}"


def _not_contained(severity: Severity | None) -> str:
    """Worded as the signal weighs: a detection's low-severity probe (an IDE's GetCallerIdentity) is not "leaked"."""
    if severity is Severity.LOW:
        return "Low-severity probe by a long-lived AWS key (for your information, not contained)"
    if severity is Severity.MEDIUM:
        return "Suspicious use of a long-lived AWS key (medium severity, not contained)"
    return "Leaked AWS access key needs your attention (not contained)"


def _ignored_tag(incident: Incident) -> list[str]:
    if not incident.exempt_tag_ignored:
        return []
    return [
        f"Ignored: the user carries the tag {incident.settings.exempt_tag}, which does not exempt (anyone who can "
        "tag the user, the key's holder included, could set it); exemptions come only from the deployed "
        "configuration (KeyQuarantine exemptions=..., or the CLI's --exempt)."
    ]


STEP = Step("notify", ("sns:Publish",), notify, once=True, claim_as=containment_state)
