"""The response playbook, shared by the Lambda responder and the ``key-quarantine`` CLI.

Each step is data plus one idempotent function: its name, the IAM actions it needs (the responder's
role is built from exactly their union) and ``run``. Order: resolve who and which key, then contain (deactivate
keys, deny policy: ``CONTAINMENT_STEPS``) in one parallel round, then everything else (evidence, tags, notification). Containment never
waits on evidence; a failed step does not stop the others.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from botocore.exceptions import ClientError, ParamValidationError

from key_quarantine.handlers.aws import Aws
from key_quarantine.handlers.canary import HEARTBEAT_ACTIONS
from key_quarantine.handlers.correlation import CORRELATION_ACTIONS
from key_quarantine.handlers.ledger import Ledger
from key_quarantine.handlers.settings import (
    CONTAINED_AT_TAG,
    CONTAINMENT_POLICY_NAME,
    INCIDENT_TAG,
    Containment,
    ResponseMode,
    Settings,
)
from key_quarantine.handlers.triggers import Trigger, TriggerFamily

#: Services the playbook calls in the account the key belongs to; everything else (evidence bucket, topic,
#: ledger, Security Hub) stays in the responder's account. In organization mode the member role grants exactly
#: the playbook's actions on these services.
MEMBER_SERVICES = frozenset({"iam", "cloudtrail"})


class Status(StrEnum):
    DONE = "done"
    SKIPPED = "skipped"
    FAILED = "failed"


class PlaybookError(Exception):
    """The event names a principal the playbook must not or cannot act on (exit 2 in the CLI)."""


class Skip(Exception):  # noqa: N818 - a control-flow signal, not an error
    """Raised by a step that has nothing to do; the message says why."""


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
    exempt: bool = False
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    evidence_location: str | None = None

    @property
    def incident_id(self) -> str:
        return incident_id_of(self.trigger, self.user_name)

    @property
    def contains(self) -> bool:
        if (
            self.trigger.family is TriggerFamily.ABUSE
            and self.trigger.category not in self.settings.contain_categories
        ):
            return False  # abuse AWS did not flag: notify with evidence unless the category opted in
        return self.settings.mode is ResponseMode.CONTAIN and not self.exempt

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
class Step:
    name: str
    actions: tuple[str, ...]
    run: Callable[[Incident], str]
    once: bool = False  # claimed in the ledger first, so concurrent deliveries do it once


@dataclass(frozen=True)
class StepResult:
    name: str
    status: Status
    detail: str

    def as_json(self) -> dict[str, str]:
        return {"name": self.name, "status": self.status.value, "detail": self.detail}


@dataclass(frozen=True)
class Outcome:
    incident_id: str
    user: str
    access_key_ids: list[str]
    steps: list[StepResult]
    calls: dict[str, int]

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


# --- resolve ----------------------------------------------------------------------------------------------


def resolve(incident: Incident) -> None:
    """Who and which key. At most one call before containment when the event names no user (old Health)."""
    trigger = incident.trigger
    if trigger.user_name is None:
        if trigger.access_key_id is None:
            raise PlaybookError("the event names neither a user nor an access key")
        try:
            found = incident.iam.get_access_key_last_used(AccessKeyId=trigger.access_key_id)
        except ClientError as error:
            if _code(error) not in ("NoSuchEntity", "InvalidClientTokenId"):
                raise  # throttled, denied, down: the delivery is retried, never dropped
            raise PlaybookError(
                f"access key {trigger.access_key_id} is not in this account ({_code(error)})"
            ) from None
        incident.user_name = found.get("UserName") or ""
        if not incident.user_name:
            raise PlaybookError(f"access key {trigger.access_key_id} belongs to no IAM user (a root key?)")
    else:
        incident.user_name = trigger.user_name
    allowed = incident.settings.allow_list & {incident.user_name, trigger.access_key_id or ""}
    if trigger.family is TriggerFamily.ABUSE and allowed:
        raise PlaybookError(f"{', '.join(sorted(allowed))} is allow-listed for these calls")
    if incident.settings.acting_user and incident.user_name == incident.settings.acting_user:
        raise PlaybookError(
            f"refusing to act on IAM user {incident.user_name!r}: it is the principal running this response, which "
            "would lock itself out half-way"
        )


def survey(incident: Incident) -> None:
    """Exempt tag and the user's keys, in one parallel round (also proves the user exists)."""
    with ThreadPoolExecutor(max_workers=2) as pool:
        tags_call = pool.submit(incident.iam.list_user_tags, UserName=incident.user_name)
        keys_call = pool.submit(incident.iam.list_access_keys, UserName=incident.user_name)
        try:
            tags, keys = tags_call.result()["Tags"], keys_call.result()["AccessKeyMetadata"]
        except ClientError as error:
            if _code(error) == "NoSuchEntity":
                raise PlaybookError(
                    f"IAM user {incident.user_name!r} does not exist in this account"
                ) from None
            raise
    incident.exempt = any(tag["Key"] == incident.settings.exempt_tag for tag in tags)
    incident.keys_before = {key["AccessKeyId"]: key["Status"] for key in keys}
    wanted = incident.trigger.access_key_id
    if wanted is not None and wanted not in incident.keys_before:
        raise PlaybookError(f"IAM user {incident.user_name!r} has no access key {wanted}")
    incident.target_keys = [wanted] if wanted else sorted(incident.keys_before)


# --- containment steps ------------------------------------------------------------------------------------


def deactivate_keys(incident: Incident) -> str:
    if not incident.contains:
        raise Skip(_why_not_containing(incident))
    active = [key for key in incident.target_keys if incident.keys_before.get(key) == "Active"]
    if not active:
        raise Skip(f"no active key to deactivate among {', '.join(incident.target_keys) or 'none'}")
    if incident.settings.dry_run:
        return f"dry run: would deactivate {', '.join(active)}"
    for key in active:
        incident.iam.update_access_key(UserName=incident.user_name, AccessKeyId=key, Status="Inactive")
    return f"deactivated {', '.join(active)}"


def attach_deny_policy(incident: Incident) -> str:
    if not incident.contains:
        raise Skip(_why_not_containing(incident))
    document = containment_policy(incident.settings.containment, incident.started_at)
    if incident.settings.dry_run:
        return f"dry run: would put inline policy {CONTAINMENT_POLICY_NAME} ({incident.settings.containment})"
    incident.iam.put_user_policy(
        UserName=incident.user_name, PolicyName=CONTAINMENT_POLICY_NAME, PolicyDocument=json.dumps(document)
    )
    return f"put inline policy {CONTAINMENT_POLICY_NAME} ({incident.settings.containment})"


def remove_login_profile(incident: Incident) -> str:
    if not incident.contains or not incident.settings.remove_console_access:
        raise Skip("console access is left as it is (remove_console_access is off)")
    if incident.settings.dry_run:
        return "dry run: would delete the console password"
    try:
        incident.iam.delete_login_profile(UserName=incident.user_name)
    except ClientError as error:
        if _code(error) == "NoSuchEntity":
            raise Skip("the user has no console password") from None
        raise
    return "deleted the console password"


def containment_policy(containment: Containment, now: datetime) -> dict[str, Any]:
    """Deny everything; or deny everything to credentials issued before ``now`` (ends minted STS sessions)."""
    statement: dict[str, Any] = {"Sid": "KeyQuarantine", "Effect": "Deny", "Action": "*", "Resource": "*"}
    if containment is Containment.REVOKE_OLDER_SESSIONS:
        issued = now.strftime("%Y-%m-%dT%H:%M:%SZ")
        statement["Condition"] = {"DateLessThan": {"aws:TokenIssueTime": issued}}
    return {"Version": "2012-10-17", "Statement": [statement]}


# --- record steps -----------------------------------------------------------------------------------------


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


def tag_user(incident: Incident) -> str:
    if not incident.contains:
        raise Skip(_why_not_containing(incident))
    tags = [
        {"Key": INCIDENT_TAG, "Value": incident.incident_id},
        {"Key": CONTAINED_AT_TAG, "Value": incident.started_at.strftime("%Y-%m-%dT%H:%M:%SZ")},
    ]
    if incident.settings.dry_run:
        return "dry run: would tag the user"
    incident.iam.tag_user(UserName=incident.user_name, Tags=tags)
    return f"tagged {INCIDENT_TAG}={incident.incident_id}"


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
    done = "contained" if incident.contains else "needs your attention (not contained)"
    subject = f"Leaked AWS access key {done}: {user}"
    lines = [
        f"Why: {incident.trigger.reason} (account {incident.trigger.account}).",
        f"Who: IAM user {user}; key(s): {keys}.",
        f"What was done: {_what_was_done(incident)}",
        f"Evidence: {incident.evidence_location or 'not written (see the responder logs)'}",
        f"Incident: {incident.incident_id}",
        "",
        "Next: review the CloudTrail activity in the evidence, rotate whatever the key could read, then delete the",
        f"key. To undo our containment: key-quarantine release --user {user} (keys stay inactive unless --reactivate).",
    ]
    return subject, "\n".join(lines)


def _what_was_done(incident: Incident) -> str:
    if not incident.contains:
        return _why_not_containing(incident) + "; nothing was changed."
    if incident.settings.dry_run:
        return "nothing (dry run)."
    return (
        f"deactivated the key(s) and attached the inline deny policy {CONTAINMENT_POLICY_NAME} "
        f"({incident.settings.containment})."
    )


def security_hub_finding(incident: Incident) -> str:
    if not incident.settings.security_hub:
        raise Skip("Security Hub findings are off")
    region = incident.settings.regions[0]
    finding = asff_finding(incident, region)
    if incident.settings.dry_run:
        return "dry run: would import a Security Hub finding"
    incident.client("securityhub", region).batch_import_findings(Findings=[finding])
    return f"imported Security Hub finding {finding['Id']}"


def asff_finding(incident: Incident, region: str) -> dict[str, Any]:
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    account = incident.trigger.account
    importer = incident.responder_account or account  # a Security Hub administrator imports for its members
    subject, message = notification(incident)
    return {
        "SchemaVersion": "2018-10-08",
        "Id": f"key-quarantine/{incident.incident_id}",
        "ProductArn": f"arn:aws:securityhub:{region}:{importer}:product/{importer}/default",
        "GeneratorId": "cdk-key-quarantine",
        "AwsAccountId": account,
        "Types": ["Unusual Behaviors/User/Exposed Credentials"],
        "CreatedAt": now,
        "UpdatedAt": now,
        "Severity": {"Label": "HIGH"},
        "Title": subject,
        "Description": message[:1024],
        "Resources": [
            {
                "Type": "AwsIamUser",
                "Id": f"arn:aws:iam::{account}:user/{incident.user_name}",
                "Region": region,
            },
            *[{"Type": "AwsIamAccessKey", "Id": key, "Region": region} for key in incident.target_keys],
        ],
    }


def delete_keys(incident: Incident) -> str:
    if not incident.contains or not incident.settings.delete_keys:
        raise Skip("keys are kept inactive for the investigation (delete_keys is off)")
    if incident.settings.dry_run:
        return f"dry run: would delete {', '.join(incident.target_keys)}"
    for key in incident.target_keys:
        incident.iam.delete_access_key(UserName=incident.user_name, AccessKeyId=key)
    return f"deleted {', '.join(incident.target_keys)} after the evidence was kept"


def _why_not_containing(incident: Incident) -> str:
    if (
        incident.trigger.family is TriggerFamily.ABUSE
        and incident.trigger.category not in incident.settings.contain_categories
    ):
        return f"{incident.trigger.category} detections notify only (not in contain_categories)"
    if incident.exempt:
        return f"the user is tagged {incident.settings.exempt_tag}: notify only"
    return "response mode is notify"


def _login_profile(incident: Incident) -> dict[str, Any] | None:
    try:
        return dict(incident.iam.get_login_profile(UserName=incident.user_name)["LoginProfile"])
    except ClientError as error:
        if _code(error) == "NoSuchEntity":
            return None
        raise


def _code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", "Unknown"))


# --- the playbook -----------------------------------------------------------------------------------------

RESOLVE_ACTIONS = ("iam:GetAccessKeyLastUsed", "iam:ListUserTags", "iam:ListAccessKeys")
CONTAINMENT_STEPS = (
    Step("deactivate-keys", ("iam:UpdateAccessKey",), deactivate_keys),
    Step("deny-policy", ("iam:PutUserPolicy",), attach_deny_policy),
)
RECORD_STEPS = (
    Step("remove-console-access", ("iam:DeleteLoginProfile",), remove_login_profile),
    Step(
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
    ),
    Step("tag-user", ("iam:TagUser",), tag_user),
    Step("notify", ("sns:Publish",), notify, once=True),
    Step("security-hub", ("securityhub:BatchImportFindings",), security_hub_finding),
    Step("delete-keys", ("iam:DeleteAccessKey",), delete_keys),
)
ALL_STEPS = CONTAINMENT_STEPS + RECORD_STEPS


def required_actions(ledger_actions: Iterable[str] = Ledger.ACTIONS) -> tuple[str, ...]:
    """Every IAM action the responder may call: its role grants exactly these (the canary's heartbeat too)."""
    steps = (a for step in ALL_STEPS for a in step.actions)
    actions = [*RESOLVE_ACTIONS, *steps, *ledger_actions, *CORRELATION_ACTIONS, *HEARTBEAT_ACTIONS]
    return tuple(sorted(set(actions)))


def member_actions() -> tuple[str, ...]:
    """The playbook's actions that run in the key's account: what a member account's responder role grants."""
    return tuple(action for action in required_actions() if action.split(":")[0] in MEMBER_SERVICES)


def run_playbook(
    trigger: Trigger,
    settings: Settings,
    aws: Aws,
    ledger: Ledger | None = None,
    *,
    member: Aws | None = None,
    responder_account: str | None = None,
) -> Outcome:
    """Resolve, contain in one parallel round, then record. Raises PlaybookError only before any change.

    ``member``: clients in the key's account (an assumed member role) when it is not ``responder_account``,
    the account of ``aws``.
    """
    incident = Incident(
        trigger=trigger, settings=settings, aws=aws, member=member, responder_account=responder_account
    )
    try:
        resolve(incident)
        survey(incident)
    except ParamValidationError as error:
        raise PlaybookError(f"the event names a principal AWS would not accept: {error}") from None
    active_ledger = ledger if ledger is not None and not settings.dry_run else None
    done_before = active_ledger.open(incident) if active_ledger else {}
    results = _run_parallel(incident, CONTAINMENT_STEPS, done_before, active_ledger)
    results += [_run(incident, step, done_before, active_ledger) for step in RECORD_STEPS]
    if active_ledger:
        active_ledger.record(incident, results)
        results += [StepResult("ledger", Status.FAILED, problem) for problem in active_ledger.problems]
    calls = aws.calls + member.calls if member is not None else aws.calls
    return Outcome(incident.incident_id, incident.user_name, incident.target_keys, results, dict(calls))


def _run_parallel(
    incident: Incident, steps: tuple[Step, ...], done: dict[str, str], ledger: Ledger | None
) -> list[StepResult]:
    with ThreadPoolExecutor(max_workers=len(steps)) as pool:
        return list(pool.map(lambda step: _run(incident, step, done, ledger), steps))


def _run(incident: Incident, step: Step, done: dict[str, str], ledger: Ledger | None) -> StepResult:
    if step.name in done:
        return StepResult(step.name, Status.SKIPPED, f"already done for this incident: {done[step.name]}")
    if step.once and ledger is not None:
        return _run_claimed(incident, step, ledger)
    return _attempt(incident, step)


def _run_claimed(incident: Incident, step: Step, ledger: Ledger) -> StepResult:
    """A step done once per incident: claim it; give the claim back if it did not succeed."""
    if not ledger.claim(incident, step.name):
        return StepResult(step.name, Status.SKIPPED, "another delivery of this incident is doing it")
    result = _attempt(incident, step)
    if result.status is not Status.DONE:
        ledger.unclaim(incident, step.name)
    return result


def _attempt(incident: Incident, step: Step) -> StepResult:
    try:
        return StepResult(step.name, Status.DONE, step.run(incident))
    except Skip as skip:
        return StepResult(step.name, Status.SKIPPED, str(skip))
    except Exception as error:  # noqa: BLE001 - a failed step must not stop the others; it is recorded
        return StepResult(step.name, Status.FAILED, f"{type(error).__name__}: {error}")
