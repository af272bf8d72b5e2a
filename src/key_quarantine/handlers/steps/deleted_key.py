"""When the named key no longer exists: say so, and who deleted it (CloudTrail ``DeleteAccessKey``).

The user is contained all the same (every key: the one left is most likely the attacker's rotation); finding who
deleted the key waits until after containment, unless ``resolve`` already read it to find the user.
"""

from __future__ import annotations

from datetime import timedelta
from functools import partial
from typing import TYPE_CHECKING

from key_quarantine.handlers import key_owner
from key_quarantine.handlers.steps.base import Skip, Step

if TYPE_CHECKING:
    from key_quarantine.handlers.playbook import Incident


def find_deleter(incident: Incident) -> str:
    key = incident.deleted_key
    if key is None:
        raise Skip("the named key still exists")
    if incident.deletion is None:
        since = incident.started_at - timedelta(hours=incident.settings.lookback_hours)
        cloudtrail = partial(incident.client, "cloudtrail")
        incident.deletion = key_owner.find_deletion(cloudtrail, incident.trigger.account, key, since)
    return deleted_key_line(incident)


def deleted_key_line(incident: Incident) -> str:
    """The notice's sentence about a named key that no longer exists."""
    deletion = incident.deletion
    who = (
        deletion.describe() if deletion else "CloudTrail does not show who deleted it (yet: it records late)"
    )
    return (
        f"the named key {incident.deleted_key} no longer exists: {who}; every key of the user was contained"
    )


STEP = Step("deleted-key", key_owner.ACTIONS, find_deleter)
