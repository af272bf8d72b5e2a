"""Tell a human: one SNS message per incident (claimed in the ledger, so duplicate deliveries send it once)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from key_quarantine.data import Severity
from key_quarantine.handlers.settings import CONTAINMENT_POLICY_NAME
from key_quarantine.handlers.steps.base import Skip, Step, why_not_containing
from key_quarantine.handlers.steps.deleted_key import deleted_key_line

if TYPE_CHECKING:
    from key_quarantine.handlers.playbook import Incident


def notify(incident: Incident) -> str:
    topic = incident.settings.topic_arn
    if not topic:
        raise Skip("no notification topic configured")
    subject, message = notification(incident)
    if incident.settings.dry_run:
        return f"dry run: would publish '{subject}'"
    incident.client("sns").publish(TopicArn=topic, Subject=subject[:100], Message=message)
    return f"published '{subject}'"


def notification(incident: Incident) -> tuple[str, str]:
    user, keys = incident.user_name, ", ".join(incident.target_keys) or "none"
    subject = f"{_headline(incident)}: {user}"
    lines = [
        f"Why: {incident.trigger.reason} (account {incident.trigger.account}).",
        f"Who: IAM user {user}; key(s): {keys}.",
        *([f"Deleted key: {deleted_key_line(incident)}."] if incident.deleted_key else []),
        f"What was done: {_what_was_done(incident)}",
        f"Evidence: {incident.evidence_location or 'not written (see the responder logs)'}",
        f"Incident: {incident.incident_id}",
        "",
        "Next: review the CloudTrail activity in the evidence, rotate whatever the key could read, then delete the",
        f"key. To undo our containment: key-quarantine release --user {user} (keys stay inactive unless --reactivate).",
    ]
    return subject, "\n".join(lines)


def _headline(incident: Incident) -> str:
    """Worded as the signal weighs: a detection's low-severity probe (an IDE's GetCallerIdentity) is not "leaked"."""
    severity = incident.trigger.severity
    if incident.contains:
        return "Leaked AWS access key contained"
    if severity is Severity.LOW:
        return "Low-severity probe by a long-lived AWS key (for your information, not contained)"
    if severity is Severity.MEDIUM:
        return "Suspicious use of a long-lived AWS key (medium severity, not contained)"
    return "Leaked AWS access key needs your attention (not contained)"


def _what_was_done(incident: Incident) -> str:
    if not incident.contains:
        return why_not_containing(incident) + "; nothing was changed."
    if incident.settings.dry_run:
        return "nothing (dry run)."
    return (
        f"deactivated the key(s) and attached the inline deny policy {CONTAINMENT_POLICY_NAME} "
        f"({incident.settings.containment})."
    )


STEP = Step("notify", ("sns:Publish",), notify, once=True)
