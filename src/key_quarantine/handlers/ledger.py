"""The incident ledger: one DynamoDB item per (account, user, key, trigger family), written conditionally.

Replays and duplicate deliveries find the item and skip the steps it records as done; a step that must happen
once per incident (the notification) is claimed with a conditional write first. The ledger never blocks
containment: when DynamoDB fails, the playbook goes on as if the incident were new (containment is idempotent)
and the failure is reported, which fails the delivery so that it is retried: the retry reconciles the ledger.

An incident that ended with no failed step is marked finished (per trigger category: a correlation on the same
key is a response of its own), so that a burst of deliveries for it costs one read, not a playbook run.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

if TYPE_CHECKING:
    from key_quarantine.handlers.aws import Aws
    from key_quarantine.handlers.playbook import Incident
    from key_quarantine.handlers.steps import StepResult
    from key_quarantine.handlers.triggers import Trigger

LOG = logging.getLogger("key_quarantine.ledger")
CONDITION_FAILED = "ConditionalCheckFailedException"
CONTAINED, NOTIFIED = "contained", "notified"  # how a finished incident ended (the finished marker's value)
NOTICE_FAILED = "notice-failed"


class Ledger:
    ACTIONS = ("dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem")

    def __init__(self, aws: Aws, table: str) -> None:
        self._table = table
        self._dynamodb = aws.client("dynamodb")
        self.problems: list[str] = []

    def open(self, incident: Incident) -> dict[str, str]:
        """Create the incident, or return the steps an earlier delivery already did (name -> detail)."""
        item = {
            "incident_id": {"S": incident.incident_id},
            "account": {"S": incident.trigger.account},
            "user": {"S": incident.user_name},
            "user_id": {"S": incident.user_id},
            "family": {"S": incident.trigger.family.value},
            "reason": {"S": incident.trigger.reason},
            "created_at": {"S": _now()},
            "named_active_keys": {"L": [{"S": key} for key in incident.named_active_keys]},
            "steps": {"M": {}},
            "claims": {"M": {}},
        }
        try:
            self._dynamodb.put_item(
                TableName=self._table, Item=item, ConditionExpression="attribute_not_exists(incident_id)"
            )
        except ClientError as error:
            if _code(error) != CONDITION_FAILED:
                self._fail_safe("open", error)
                return {}
        except BotoCoreError as error:
            self._fail_safe("open", error)
            return {}
        else:
            return {}
        return self._done_steps(incident, item)

    def claim(self, incident: Incident, step: str) -> bool:
        """True for the one delivery that may run ``step``; True as well when the ledger cannot answer."""
        try:
            self._dynamodb.update_item(
                TableName=self._table,
                Key={"incident_id": {"S": incident.incident_id}},
                UpdateExpression="SET claims.#step = :now",
                ConditionExpression="attribute_not_exists(claims.#step)",
                ExpressionAttributeNames={"#step": step},
                ExpressionAttributeValues={":now": {"S": _now()}},
            )
        except ClientError as error:
            if _code(error) == CONDITION_FAILED:
                return False
            self._fail_safe("claim", error)
        except BotoCoreError as error:
            self._fail_safe("claim", error)
        return True

    def unclaim(self, incident: Incident, step: str) -> None:
        """Give a claim back after the step failed, so that the retry may run it."""
        try:
            self._dynamodb.update_item(
                TableName=self._table,
                Key={"incident_id": {"S": incident.incident_id}},
                UpdateExpression="REMOVE claims.#step",
                ExpressionAttributeNames={"#step": step},
            )
        except (ClientError, BotoCoreError) as error:
            self._fail_safe("unclaim", error)

    def record_sweep(self, day: str, summary: dict[str, int], contained: list[str]) -> None:
        """One item a day: what the sweep found (counts by problem) and whom it responded to."""
        item = {
            "incident_id": {"S": f"sweep#{day}"},
            "created_at": {"S": _now()},
            "summary": {"M": {problem: {"N": str(count)} for problem, count in summary.items()}},
            "responded_to": {"L": [{"S": user} for user in contained]},
        }
        try:
            self._dynamodb.put_item(TableName=self._table, Item=item)
        except (ClientError, BotoCoreError) as error:
            self._fail_safe("record sweep", error)

    def finished(self, incident_id: str, trigger: Trigger) -> bool:
        """One read: did an earlier delivery finish this incident? False when the ledger cannot answer."""
        return self.finished_contained(incident_id, trigger) is not None

    def finished_contained(self, incident_id: str, trigger: Trigger) -> bool | None:
        """One read: None when no earlier delivery finished this incident (or the ledger cannot answer), else
        whether it ended contained (then IAM is checked before the finish is believed)."""
        marker = finished_marker(trigger)
        try:
            found = self._dynamodb.get_item(
                TableName=self._table,
                Key={"incident_id": {"S": incident_id}},
                ProjectionExpression="#f",
                ExpressionAttributeNames={"#f": marker},
                ConsistentRead=True,
            )
        except (ClientError, BotoCoreError) as error:
            LOG.warning("ledger read failed, responding as if the incident were new: %s", error)
            return None
        value = found.get("Item", {}).get(marker, {}).get("S")
        if value is None:
            return None
        return not value.startswith(NOTIFIED)  # an older marker (a time only) is checked as if contained

    def record_refusal(self, refusal_id: str, trigger: Trigger, reason: str) -> bool:
        """Record an event the responder refused to act on; False when this event was recorded before."""
        item = {
            "incident_id": {"S": refusal_id},
            "account": {"S": trigger.account},
            "reported_by": {"S": trigger.reported_by or trigger.account},
            "family": {"S": trigger.family.value},
            "user": {"S": trigger.user_name or trigger.access_key_id or "?"},
            "status": {"S": "refused"},
            "reason": {"S": reason},
            "created_at": {"S": _now()},
        }
        try:
            self._dynamodb.put_item(
                TableName=self._table, Item=item, ConditionExpression="attribute_not_exists(incident_id)"
            )
        except ClientError as error:
            if _code(error) == CONDITION_FAILED:
                return False
            self._fail_safe("record refusal", error)
        except BotoCoreError as error:
            self._fail_safe("record refusal", error)
        return True

    def claim_notice(self, notice_id: str, trigger: Trigger, found: str) -> bool:
        """True for the one delivery that sends this notice (a signal nobody could contain), and when the ledger
        cannot answer; a notice whose sending failed (``notice_failed``) may be claimed again."""
        item = {
            "incident_id": {"S": notice_id},
            "account": {"S": trigger.account},
            "reported_by": {"S": trigger.reported_by or trigger.account},
            "family": {"S": trigger.family.value},
            "status": {"S": "told"},
            "reason": {"S": found},
            "created_at": {"S": _now()},
        }
        try:
            self._dynamodb.put_item(
                TableName=self._table,
                Item=item,
                ConditionExpression="attribute_not_exists(incident_id) OR #s = :failed",
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues={":failed": {"S": NOTICE_FAILED}},
            )
        except ClientError as error:
            if _code(error) == CONDITION_FAILED:
                return False
            self._fail_safe("claim notice", error)
        except BotoCoreError as error:
            self._fail_safe("claim notice", error)
        return True

    def notice_failed(self, notice_id: str) -> None:
        """The notice could not be sent: the retry of its delivery may claim it again."""
        try:
            self._dynamodb.update_item(
                TableName=self._table,
                Key={"incident_id": {"S": notice_id}},
                UpdateExpression="SET #s = :failed",
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues={":failed": {"S": NOTICE_FAILED}},
            )
        except (ClientError, BotoCoreError) as error:
            self._fail_safe("release notice", error)

    def record(self, incident: Incident, results: list[StepResult]) -> None:
        """The steps done, and the finished marker when no step failed."""
        done = [r for r in results if r.status.value == "done"]
        finished = not any(r.status.value == "failed" for r in results)
        if not done and not finished:
            return
        names = {f"#s{i}": r.name for i, r in enumerate(done)}
        values: dict[str, Any] = {
            f":v{i}": {"M": {"status": {"S": "done"}, "detail": {"S": r.detail}, "at": {"S": _now()}}}
            for i, r in enumerate(done)
        }
        assignments = [f"steps.#s{i} = :v{i}" for i in range(len(done))]
        if finished:
            names["#finished"] = finished_marker(incident.trigger)
            values[":finished"] = {"S": f"{CONTAINED if incident.contained else NOTIFIED}@{_now()}"}
            assignments.append("#finished = :finished")
        expression = "SET " + ", ".join(assignments)
        try:
            self._dynamodb.update_item(
                TableName=self._table,
                Key={"incident_id": {"S": incident.incident_id}},
                UpdateExpression=expression,
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
            )
        except (ClientError, BotoCoreError) as error:
            self._fail_safe("record", error)

    def close_incidents(self, account: str, user: str) -> list[str]:
        """End the user's open incidents (``release``): each item is kept under ``<id>#released#<time>`` and the
        original removed, so the user's next leak opens a new incident instead of finding this one finished."""
        released_at = _now()
        closed = []
        for item in self._open_items(account, user):
            incident_id = item["incident_id"]["S"]
            archived = {**item, "incident_id": {"S": f"{incident_id}#released#{released_at}"}}
            archived["released_at"] = {"S": released_at}
            self._dynamodb.put_item(TableName=self._table, Item=archived)  # the record first: nothing is lost
            self._dynamodb.delete_item(TableName=self._table, Key={"incident_id": {"S": incident_id}})
            closed.append(incident_id)
        return closed

    def reactivatable_keys(self, account: str, user: str) -> set[str]:
        """Keys the user's open incidents found Active and named by their signal (what ``release`` may restore)."""
        return {
            key["S"]
            for item in self._open_items(account, user)
            for key in item.get("named_active_keys", {}).get("L", [])
        }

    def _open_items(self, account: str, user: str) -> list[dict[str, Any]]:
        pages = self._dynamodb.get_paginator("scan").paginate(
            TableName=self._table,
            FilterExpression=(
                "#a = :a AND #u = :u AND attribute_not_exists(released_at) AND attribute_not_exists(replaced_at) "
                "AND attribute_exists(steps)"
            ),
            ExpressionAttributeNames={"#a": "account", "#u": "user"},
            ExpressionAttributeValues={":a": {"S": account}, ":u": {"S": user}},
        )
        return [item for page in pages for item in page.get("Items", [])]

    def _done_steps(self, incident: Incident, fresh: dict[str, Any]) -> dict[str, str]:
        try:
            found = self._dynamodb.get_item(
                TableName=self._table, Key={"incident_id": {"S": incident.incident_id}}, ConsistentRead=True
            )
            recorded = found.get("Item", {})
            if recorded.get("user_id", {}).get("S", incident.user_id) != incident.user_id:
                self._replace(recorded, fresh)  # same name, another user (deleted and re-created)
                return {}
        except (ClientError, BotoCoreError) as error:
            self._fail_safe("read", error)
            return {}
        steps = recorded.get("steps", {}).get("M", {})
        return {
            name: value["M"]["detail"]["S"]
            for name, value in steps.items()
            if value.get("M", {}).get("status", {}).get("S") == "done"
        }

    def _replace(self, recorded: dict[str, Any], fresh: dict[str, Any]) -> None:
        """The incident of an earlier user of the same name: kept as ``<id>#replaced#<time>``, then started anew."""
        replaced_at = _now()
        archived = {
            **recorded,
            "incident_id": {"S": f"{recorded['incident_id']['S']}#replaced#{replaced_at}"},
        }
        archived["replaced_at"] = {"S": replaced_at}
        self._dynamodb.put_item(TableName=self._table, Item=archived)  # the record first: nothing is lost
        self._dynamodb.put_item(TableName=self._table, Item=fresh)

    def _fail_safe(self, operation: str, error: Exception) -> None:
        message = f"ledger {operation} failed, going on without it: {error}"
        LOG.warning(message)
        self.problems.append(message)


def finished_marker(trigger: Trigger) -> str:
    return f"finished:{trigger.category or trigger.family.value}"


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))
