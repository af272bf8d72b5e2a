"""Contain what the key's trail created, right after the named user: every user it made (keys Inactive, the deny
policy, no console password), every key it made on any user (Inactive), every console password it set (deleted).

The trail (``handlers/trail.py``) is read here once per run and kept on the incident for the evidence. Role
sessions and roles the trail made or re-trusted are reported, never changed. A tag on a user the trail made does
not exempt it: the key's holder could have written the tag.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from key_quarantine.handlers.settings import CONTAINMENT_POLICY_NAME, Containment
from key_quarantine.handlers.steps.base import Skip, Step, error_code, why_not_containing
from key_quarantine.handlers.steps.deny_policy import containment_policy
from key_quarantine.handlers.trail import TRAIL_ACTIONS, Trail, TrailQuery, follow_key
from key_quarantine.handlers.trail_changes import CHANGE_CALLS, Change, changes_of

if TYPE_CHECKING:
    from key_quarantine.handlers.playbook import Incident

IN_SCOPE = frozenset({"user", "access-key", "login-profile"})
#: The notice's link to the page: short-lived, and it ends sooner when the responder's role session does.
REPORT_LINK_SECONDS = 3600


def trails_of(incident: Incident) -> list[Trail]:
    """The trail of each leaked key, read once per run (LookupEvents, bounded: see TrailBounds)."""
    if incident.trails is None:
        since = incident.started_at - timedelta(hours=incident.settings.lookback_hours)
        until = datetime.now(UTC)
        incident.trails = [
            follow_key(
                lambda region: incident.client("cloudtrail", region),
                TrailQuery(
                    incident.trigger.account,
                    key,
                    incident.settings.regions,
                    since,
                    until,
                    tuple(CHANGE_CALLS),
                ),
            )
            for key in incident.target_keys
        ]
    return incident.trails


def contain_derived(incident: Incident) -> str:
    if not incident.contains:
        raise Skip(why_not_containing(incident))
    trails = trails_of(incident)
    changes = [c for trail in trails for c in changes_of(trail.events) if c.kind in IN_SCOPE]
    unread = sum(len(trail.unfinished) for trail in trails)
    gaps = f" (trail incomplete: {unread} principal/region search(es) stopped early)" if unread else ""
    if not changes:
        raise Skip(f"the trail created no user, access key or console password{gaps}")
    done = [_contain(incident, change) for change in changes]
    incident.derived = [
        {**change.as_json(), "done": what} for change, what in zip(changes, done, strict=True)
    ]
    return "; ".join(f"{derived_label(c.as_json())}: {d}" for c, d in zip(changes, done, strict=True)) + gaps


def derived_label(entry: Mapping[str, Any]) -> str:
    """How a step's detail names what the trail made (``kind target/identifier``) or a role session (its key)."""
    if entry["kind"] == "role-session":
        return str(entry["access_key_id"])
    identifier = entry.get("identifier")
    return f"{entry['kind']} {entry['target']}{'/' + identifier if identifier else ''}"


def _contain(incident: Incident, change: Change) -> str:
    if change.target == incident.settings.acting_user:
        return "left alone: it is the principal running this response"
    if incident.settings.dry_run:
        return "dry run: would contain"
    iam = incident.iam
    try:
        if change.kind == "access-key" and change.identifier:
            iam.update_access_key(UserName=change.target, AccessKeyId=change.identifier, Status="Inactive")
            return "deactivated"
        if change.kind == "login-profile":
            return _delete_login_profile(incident, change.target)
        return _contain_user(incident, change.target)
    except ClientError as error:
        if error_code(error) == "NoSuchEntity":
            return "already gone"
        raise


def _contain_user(incident: Incident, user: str) -> str:
    iam = incident.iam
    keys = [
        k["AccessKeyId"]
        for k in iam.list_access_keys(UserName=user)["AccessKeyMetadata"]
        if k["Status"] == "Active"
    ]
    for key in keys:
        iam.update_access_key(UserName=user, AccessKeyId=key, Status="Inactive")
    document = containment_policy(
        Containment.DENY_ALL, incident.started_at
    )  # the attacker's user: no exception
    iam.put_user_policy(
        UserName=user, PolicyName=CONTAINMENT_POLICY_NAME, PolicyDocument=json.dumps(document)
    )
    password = _delete_login_profile(incident, user)
    return f"deactivated {len(keys)} key(s), put {CONTAINMENT_POLICY_NAME}, {password}"


def _delete_login_profile(incident: Incident, user: str) -> str:
    try:
        incident.iam.delete_login_profile(UserName=user)
    except ClientError as error:
        if error_code(error) == "NoSuchEntity":
            return "no console password"
        raise
    return "deleted the console password"


STEP = Step(
    "contain-derived",
    (
        *TRAIL_ACTIONS,
        "iam:ListAccessKeys",
        "iam:UpdateAccessKey",
        "iam:PutUserPolicy",
        "iam:DeleteLoginProfile",
    ),
    contain_derived,
)


def trail_lines(incident: Incident) -> list[str]:
    """What the notice says about the trail: what was contained, what only a person can end, where the page is."""
    lines = [
        f"Also contained (made by the key's trail): {d['kind']} {d['target']}: {d['done']}"
        for d in incident.derived
        if d["kind"] != "role-session"
    ]
    revoked = {
        d["access_key_id"]: d["done"]
        for d in incident.derived
        if d["kind"] == "role-session" and str(d["done"]).startswith("revoked")
    }
    for trail in incident.trails or []:
        lines += [
            f"Role session ended: {s.role_arn} session {s.session_name} (issued {s.issued_at}): "
            f"{revoked[s.access_key_id]}"
            if s.access_key_id in revoked
            else f"Role session NOT ended by the deny on the user: {s.role_arn} session {s.session_name} "
            f"(issued {s.issued_at}, expires {s.expires_at or '?'}); the report gives the revocation command."
            for s in trail.sessions
            if s.kind == "role-session"
        ]
        lines += [
            f"Trail of {trail.key} not read to the end: {u['access_key_id']} in {u['region']} ({u['reason']})"
            for u in trail.unfinished
        ]
    if incident.report_location:
        lines.append(f"Report: {incident.report_location} ({_presigned(incident)})")
    return lines


def _presigned(incident: Incident) -> str:
    bucket, _, key = (incident.report_location or "").removeprefix("s3://").partition("/")
    try:
        url = incident.client("s3").generate_presigned_url(
            "get_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=REPORT_LINK_SECONDS
        )
    except Exception as error:  # noqa: BLE001 - the S3 key is enough to find the page
        return f"no link: {type(error).__name__}"
    return f"link valid {REPORT_LINK_SECONDS // 60} minutes at most: {url}"
