"""Evidence: the user, its credentials, what containment did, and the keys' CloudTrail trail, written to S3 with the
incident's page (``handlers/incident_report.py``) beside it."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from key_quarantine.handlers import incident_report
from key_quarantine.handlers.steps.base import Skip, Step, error_code
from key_quarantine.handlers.steps.derived import trails_of
from key_quarantine.handlers.trail_changes import trails_evidence

if TYPE_CHECKING:
    from key_quarantine.handlers.playbook import Incident


def collect_evidence(incident: Incident) -> str:
    bucket = incident.settings.evidence_bucket
    if not bucket:
        raise Skip("no evidence bucket configured")
    evidence = gather_evidence(incident)
    stem = f"incidents/{incident.incident_id}/{incident.started_at.strftime('%Y%m%dT%H%M%SZ')}"
    if incident.settings.dry_run:
        return f"dry run: would write s3://{bucket}/{stem}.json and .html"
    s3 = incident.client("s3")
    body = json.dumps(evidence, indent=2, default=str)
    s3.put_object(Bucket=bucket, Key=f"{stem}.json", Body=body.encode(), ContentType="application/json")
    incident.evidence_location = f"s3://{bucket}/{stem}.json"
    page = incident_report.render(json.loads(body))  # the page reads the document exactly as it was stored
    s3.put_object(
        Bucket=bucket, Key=f"{stem}.html", Body=page.encode(), ContentType="text/html; charset=utf-8"
    )
    incident.report_location = f"s3://{bucket}/{stem}.html"
    return f"wrote {incident.evidence_location} and its page: {_summary(evidence['cloudtrail'])}"


def _summary(trail: dict[str, Any]) -> str:
    left_out = trail["left_out"]
    capped = f" ({left_out} read-only events left out past the cap of {trail['cap']})" if left_out else ""
    stopped = (
        f"; the trail stopped early in {len(trail['unfinished'])} search(es)" if trail["unfinished"] else ""
    )
    sessions = f"; {len(trail['sessions'])} session(s) minted" if trail["sessions"] else ""
    return f"{trail['kept']} CloudTrail events{capped}{sessions}{stopped}"


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
        **_credentials(incident),
        "response": {
            "steps": [result.as_json() for result in incident.containment_results],
            "contained": incident.contained,
            "contained_at": incident.contained_at.isoformat() if incident.contained_at else None,
        },
        "derived": incident.derived,
        "cloudtrail": trails_evidence(trails_of(incident), incident.settings.evidence_event_cap),
    }


def _credentials(incident: Incident) -> dict[str, Any]:
    """The user's other long-lived credentials: SSH keys, service-specific credentials, signing certificates."""
    iam, user = incident.iam, incident.user_name
    listed: dict[str, Any] = {}
    for name, call, field in (
        ("ssh_public_keys", iam.list_ssh_public_keys, "SSHPublicKeys"),
        ("service_specific_credentials", iam.list_service_specific_credentials, "ServiceSpecificCredentials"),
        ("signing_certificates", iam.list_signing_certificates, "Certificates"),
    ):
        try:
            listed[name] = [
                {k: v for k, v in item.items() if k != "CertificateBody"}
                for item in call(UserName=user)[field]
            ]
        except Exception as error:  # noqa: BLE001 - partial evidence beats none; the error is recorded
            listed[name] = {"error": f"{type(error).__name__}: {error}"}
    return listed


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
        "iam:ListSSHPublicKeys",
        "iam:ListServiceSpecificCredentials",
        "iam:ListSigningCertificates",
        "cloudtrail:LookupEvents",
        "s3:PutObject",
    ),
    collect_evidence,
)
