"""Tag the contained user with the incident id and the time it was first contained."""

from __future__ import annotations

from typing import TYPE_CHECKING

from key_quarantine.handlers.settings import CONTAINED_AT_TAG, INCIDENT_TAG
from key_quarantine.handlers.steps.base import Skip, Step, why_not_containing
from key_quarantine.handlers.timestamps import stamp

if TYPE_CHECKING:
    from key_quarantine.handlers.playbook import Incident


def tag_user(incident: Incident) -> str:
    if not incident.contains:
        raise Skip(why_not_containing(incident))
    tags = [{"Key": INCIDENT_TAG, "Value": incident.incident_id}]
    first = incident.tags_before.get(CONTAINED_AT_TAG)  # the first containment's time is evidence: kept
    if first is None:
        tags.append({"Key": CONTAINED_AT_TAG, "Value": stamp(incident.started_at)})
    if incident.settings.dry_run:
        return "dry run: would tag the user"
    incident.iam.tag_user(UserName=incident.user_name, Tags=tags)
    kept = f"; kept {CONTAINED_AT_TAG}={first} (the first containment)" if first else ""
    return f"tagged {INCIDENT_TAG}={incident.incident_id}{kept}"


STEP = Step(
    "tag-user",
    ("iam:TagUser",),
    tag_user,
    undo=f"aws iam untag-user --user-name {{user}} --tag-keys {INCIDENT_TAG} {CONTAINED_AT_TAG}",
)
