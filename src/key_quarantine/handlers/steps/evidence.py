"""Evidence: the user, its keys before and after, and the keys' CloudTrail activity, written to S3."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from key_quarantine.handlers.steps.base import Skip, Step, error_code

if TYPE_CHECKING:
    from key_quarantine.handlers.playbook import Incident


def collect_evidence(incident: Incident) -> str:
    bucket = incident.settings.evidence_bucket
    if not bucket:
        raise Skip("no evidence bucket configured")
    evidence = gather_evidence(incident)
    key = f"incidents/{incident.incident_id}/{incident.started_at.strftime('%Y%m%dT%H%M%SZ')}.json"
    if incident.settings.dry_run:
        return f"dry run: would write s3://{bucket}/{key}"
    body = json.dumps(evidence, indent=2, default=str).encode()
    incident.client("s3").put_object(Bucket=bucket, Key=key, Body=body, ContentType="application/json")
    incident.evidence_location = f"s3://{bucket}/{key}"
    trail = evidence["cloudtrail"]
    capped = f" (capped at {trail['cap']})" if trail["truncated"] else ""
    failed = (
        f"; CloudTrail lookup failed for {len(trail['errors'])} region/key pair(s)" if trail["errors"] else ""
    )
    return f"wrote {incident.evidence_location}: {trail['event_count']} CloudTrail events{capped}{failed}"


def gather_evidence(incident: Incident) -> dict[str, Any]:
    iam, user = incident.iam, incident.user_name
    keys_after = {k["AccessKeyId"]: k for k in iam.list_access_keys(UserName=user)["AccessKeyMetadata"]}
    return {
        "incident_id": incident.incident_id,
        "trigger": {
            "family": incident.trigger.family.value,
            "reason": incident.trigger.reason,
            "account": incident.trigger.account,
            "event_id": incident.trigger.event_id,
            "from_aws": incident.trigger.from_aws,  # only AWS's own word runs the irreversible steps
            "actor": incident.trigger.actor,  # who made the call the signal records (a quarantine attach)
            "event": incident.trigger.event,
        },
        "user": iam.get_user(UserName=user)["User"],
        "groups": [g["GroupName"] for g in iam.list_groups_for_user(UserName=user)["Groups"]],
        "attached_policies": [
            p["PolicyArn"] for p in iam.list_attached_user_policies(UserName=user)["AttachedPolicies"]
        ],
        "inline_policies": iam.list_user_policies(UserName=user)["PolicyNames"],
        "tags": iam.list_user_tags(UserName=user)["Tags"],
        "mfa_devices": [d["SerialNumber"] for d in iam.list_mfa_devices(UserName=user)["MFADevices"]],
        "console_password": _login_profile(incident),
        "access_keys": [
            {
                "access_key_id": key_id,
                "status_before": incident.keys_before.get(key_id),
                "status_after": key["Status"],
                "created": key.get("CreateDate"),
                "last_used": iam.get_access_key_last_used(AccessKeyId=key_id).get("AccessKeyLastUsed"),
            }
            for key_id, key in keys_after.items()
        ],
        "cloudtrail": cloudtrail_activity(incident),
    }


def cloudtrail_activity(incident: Incident) -> dict[str, Any]:
    """LookupEvents by each target key in every configured region, within the look-back, capped."""
    settings = incident.settings
    start = incident.started_at - timedelta(hours=settings.lookback_hours)
    events: list[dict[str, Any]] = []
    truncated, errors = False, {}
    for region in settings.regions:
        for key in incident.target_keys:
            try:
                found, region_truncated = _lookup(
                    incident.client("cloudtrail", region),
                    region,
                    key,
                    start,
                    settings.evidence_event_cap - len(events),
                )
            except Exception as error:  # noqa: BLE001 - partial evidence beats none; the error is recorded
                errors[f"{region}/{key}"] = f"{type(error).__name__}: {error}"
                continue
            events.extend(found)
            truncated = truncated or region_truncated
    return {
        "regions": list(settings.regions),
        "since": start.isoformat(),
        "event_count": len(events),
        "cap": settings.evidence_event_cap,
        "truncated": truncated,
        "errors": errors,
        "events": events,
    }


def _lookup(
    cloudtrail: Any, region: str, key: str, start: datetime, room: int
) -> tuple[list[dict[str, Any]], bool]:
    if room <= 0:
        return [], True
    paginator = cloudtrail.get_paginator("lookup_events")
    pages = paginator.paginate(
        LookupAttributes=[{"AttributeKey": "AccessKeyId", "AttributeValue": key}], StartTime=start
    )
    found: list[dict[str, Any]] = []
    for page in pages:
        for event in page.get("Events", []):
            if len(found) == room:
                return found, True
            found.append({"region": region, **event})
    return found, False


def _login_profile(incident: Incident) -> dict[str, Any] | None:
    try:
        return dict(incident.iam.get_login_profile(UserName=incident.user_name)["LoginProfile"])
    except ClientError as error:
        if error_code(error) == "NoSuchEntity":
            return None
        raise


STEP = Step(
    "evidence",
    (
        "iam:GetUser",
        "iam:ListGroupsForUser",
        "iam:ListAttachedUserPolicies",
        "iam:ListUserPolicies",
        "iam:ListMFADevices",
        "iam:GetLoginProfile",
        "cloudtrail:LookupEvents",
        "s3:PutObject",
    ),
    collect_evidence,
)
