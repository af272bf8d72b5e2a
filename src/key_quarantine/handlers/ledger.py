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
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from key_quarantine.handlers.ledger_seal import SEAL_ACTIONS, Seal, seal_name
from key_quarantine.handlers.timestamps import now_stamp

if TYPE_CHECKING:
    from key_quarantine.handlers.aws import Aws
    from key_quarantine.handlers.playbook import Incident
    from key_quarantine.handlers.steps import StepResult
    from key_quarantine.handlers.triggers import Trigger

LOG = logging.getLogger("key_quarantine.ledger")
CONDITION_FAILED = "ConditionalCheckFailedException"
CONTAINED, NOTIFIED = "contained", "notified"  # how a finished incident ended (the finished marker's value)
NOTICE_FAILED = "notice-failed"
#: What the seal of a notice claim or a refusal covers: its status and time (``status@created_at``).
RECORD = "record"
BOUNDARY_REPLACED = "boundary_replaced"  # the incident item's record of the boundary our AWSDenyAll replaced
#: The item that lists a user's incidents that ended contained (``containment_id``), each under this prefix.
CONTAINED_PREFIX, INCIDENT_PREFIX = "contained#", "incident:"
#: What the daily sweep reads beside Ledger.ACTIONS: the users the responder contained (one Scan a day).
SWEEP_ACTIONS = ("dynamodb:Scan",)


@dataclass(frozen=True)
class Containment:
    """An incident that ended contained, as the ledger keeps it for the undo watch and the sweep: enough to run
    the same incident again (its id is made from the same family, account, user and key)."""

    incident_id: str
    family: str
    access_key_id: str | None
    category: str | None
    from_aws: bool
    reason: str
    user_id: str
    since: str  # when the user was first recorded contained


class Ledger:
    """``seal``: when given, every "done", claim and "finished" is written with a seal and believed only with one
    that verifies (``ledger_seal``)."""

    ACTIONS = ("dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", *SEAL_ACTIONS)

    def __init__(self, aws: Aws, table: str, seal: Seal | None = None) -> None:
        self._table = table
        self._dynamodb = aws.client("dynamodb")
        self._seal = seal
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
            "created_at": {"S": now_stamp()},
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
        """True for the one delivery that may run ``step``; True as well when the ledger cannot answer, and when
        the claim found there carries no valid seal (it was not ours)."""
        return self.claim_for(incident.incident_id, step)

    def claim_for(self, incident_id: str, step: str) -> bool:
        """``claim`` by the incident's id, before a run has resolved the incident (a later signal's look)."""
        try:
            self._take_claim(incident_id, step, conditional=True)
        except ClientError as error:
            if _code(error) == CONDITION_FAILED:
                return not self._sealed_claim(incident_id, step) and self._retake(incident_id, step)
            self._fail_safe("claim", error)
        except BotoCoreError as error:
            self._fail_safe("claim", error)
        return True

    def _take_claim(self, incident_id: str, step: str, *, conditional: bool) -> None:
        now = now_stamp()
        names, values = {"#step": step}, {":now": {"S": now}}
        expression = "SET claims.#step = :now"
        seal = self._sign(incident_id, f"claim:{step}", now)
        if seal is not None:
            names["#seal"], values[":seal"] = seal_name(f"claim:{step}"), {"S": seal}
            expression += ", #seal = :seal"
        self._dynamodb.update_item(
            TableName=self._table,
            Key={"incident_id": {"S": incident_id}},
            UpdateExpression=expression,
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
            **({"ConditionExpression": "attribute_not_exists(claims.#step)"} if conditional else {}),
        )

    def _sealed_claim(self, incident_id: str, step: str) -> bool:
        """Whether the claim in the ledger is ours; always True without a seal (every claim is believed)."""
        if self._seal is None:
            return True
        item = self._item(incident_id)
        claimed = item.get("claims", {}).get("M", {}).get(step, {}).get("S", "")
        return self._seal.verifies(incident_id, f"claim:{step}", claimed, _text(item, f"claim:{step}"))

    def _retake(self, incident_id: str, step: str) -> bool:
        LOG.warning("claim of %s on %s has no valid seal: not ours, taken over", step, incident_id)
        try:
            self._take_claim(incident_id, step, conditional=False)
        except (ClientError, BotoCoreError) as error:
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
            "created_at": {"S": now_stamp()},
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
        state = self.finished_state(incident_id, trigger)
        return None if state is None else state[0]

    def finished_state(self, incident_id: str, trigger: Trigger) -> tuple[bool, str | None] | None:
        """``finished_contained``, and when the last look finished (None for a marker that recorded no time)."""
        marker = finished_marker(trigger)
        try:
            found = self._dynamodb.get_item(
                TableName=self._table,
                Key={"incident_id": {"S": incident_id}},
                ProjectionExpression="#f, #q",
                ExpressionAttributeNames={"#f": marker, "#q": seal_name(marker)},
                ConsistentRead=True,
            )
        except (ClientError, BotoCoreError) as error:
            LOG.warning("ledger read failed, responding as if the incident were new: %s", error)
            return None
        item = found.get("Item", {})
        value = item.get(marker, {}).get("S")
        if value is None:
            return None
        if self._seal is not None and not self._seal.verifies(
            incident_id, marker, value, _text(item, marker)
        ):
            LOG.warning("%s of %s has no valid seal: not believed, responding as new", marker, incident_id)
            return None
        at = value.partition("@")[2] if "@" in value else None
        return not value.startswith(NOTIFIED), at  # an older marker (a time only) is checked as if contained

    def notified_at(self, incident_id: str) -> str | None:
        """When the incident's notice went out (its notify step), or None; None as well when the ledger cannot
        answer."""
        try:
            found = self._dynamodb.get_item(
                TableName=self._table,
                Key={"incident_id": {"S": incident_id}},
                ProjectionExpression="steps.#n",
                ExpressionAttributeNames={"#n": "notify"},
                ConsistentRead=True,
            )
        except (ClientError, BotoCoreError) as error:
            LOG.warning("ledger read failed: %s", error)
            return None
        notify = found.get("Item", {}).get("steps", {}).get("M", {}).get("notify", {}).get("M", {})
        at = notify.get("at", {}).get("S")
        return str(at) if at else None

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
            "created_at": {"S": now_stamp()},
        }
        return self._put_first(item, "attribute_not_exists(incident_id)", operation="record refusal")

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
            "created_at": {"S": now_stamp()},
        }
        return self._put_first(
            item,
            "attribute_not_exists(incident_id) OR #s = :failed",
            names={"#s": "status"},
            values={":failed": {"S": NOTICE_FAILED}},
            operation="claim notice",
        )

    def _put_first(
        self,
        item: dict[str, Any],
        condition: str,
        *,
        names: dict[str, str] | None = None,
        values: dict[str, Any] | None = None,
        operation: str,
    ) -> bool:
        """Write ``item`` (sealed) unless ``condition`` finds one standing: True when this write is the first, and
        when the ledger cannot answer. A standing item without a valid seal was not written by us (a principal
        that pre-writes "told" to silence a notice): it is taken over, and does not count."""
        sealed = self._sealed_record(item)
        extra = {"ExpressionAttributeNames": names} if names else {}
        extra |= {"ExpressionAttributeValues": values} if values else {}
        try:
            self._dynamodb.put_item(
                TableName=self._table, Item=sealed, ConditionExpression=condition, **extra
            )
        except ClientError as error:
            if _code(error) == CONDITION_FAILED:
                return self._take_over_unsealed(sealed, operation)
            self._fail_safe(operation, error)
        except BotoCoreError as error:
            self._fail_safe(operation, error)
        return True

    def _sealed_record(self, item: dict[str, Any]) -> dict[str, Any]:
        """``item`` with the seal of its status and time (``record``), when there is a seal key."""
        seal = self._sign(item["incident_id"]["S"], RECORD, _record_value(item))
        return item if seal is None else {**item, seal_name(RECORD): {"S": seal}}

    def _take_over_unsealed(self, item: dict[str, Any], operation: str) -> bool:
        """The item found where ``item`` was to go: False when it is ours (sealed, unchanged since); else ``item``
        replaces it, unless another delivery replaced it first."""
        item_id = item["incident_id"]["S"]
        if self._seal is None:
            return False
        try:
            found = self._item(item_id)
        except (ClientError, BotoCoreError) as error:
            self._fail_safe(operation, error)
            return True
        if self._seal.verifies(item_id, RECORD, _record_value(found), _text(found, RECORD)):
            return False
        LOG.warning("%s: %s has no valid seal: not ours, taken over", operation, item_id)
        standing = _text(found, RECORD)
        condition = "#q = :q" if standing else "attribute_not_exists(#q)"
        try:
            self._dynamodb.put_item(
                TableName=self._table,
                Item=item,
                ConditionExpression=condition,
                ExpressionAttributeNames={"#q": seal_name(RECORD)},
                **({"ExpressionAttributeValues": {":q": {"S": standing}}} if standing else {}),
            )
        except ClientError as error:
            if _code(error) == CONDITION_FAILED:
                return False  # another delivery took it over first: its write counts
            self._fail_safe(operation, error)
        except BotoCoreError as error:
            self._fail_safe(operation, error)
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
            f":v{i}": {"M": {"status": {"S": "done"}, "detail": {"S": r.detail}, "at": {"S": now_stamp()}}}
            for i, r in enumerate(done)
        }
        assignments = [f"steps.#s{i} = :v{i}" for i in range(len(done))]
        sealed = [(f"step:{r.name}", r.detail) for r in done]
        if finished:
            names["#finished"] = finished_marker(incident.trigger)
            values[":finished"] = {"S": f"{CONTAINED if incident.contained else NOTIFIED}@{now_stamp()}"}
            assignments.append("#finished = :finished")
            sealed.append((names["#finished"], values[":finished"]["S"]))
        if incident.boundary_replaced is not None:  # the first record stays: a redo must not overwrite it
            values[":boundary"] = {"M": {"arn": {"S": incident.boundary_replaced}, "at": {"S": now_stamp()}}}
            assignments.append(f"{BOUNDARY_REPLACED} = if_not_exists({BOUNDARY_REPLACED}, :boundary)")
        for i, (name, value) in enumerate(sealed):
            seal = self._sign(incident.incident_id, name, value)
            if seal is not None:
                names[f"#q{i}"], values[f":q{i}"] = seal_name(name), {"S": seal}
                assignments.append(f"#q{i} = :q{i}")
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
        if finished and incident.contained:
            self.remember_containment(incident)

    def remember_containment(self, incident: Incident) -> None:
        """Add the incident to its user's ``contained#`` item: the undo watch and the sweep learn whom the responder
        contained from here (the ledger only our functions and operators may write), never from a tag the key's
        holder can remove. ``release`` closes the incident items this points at, which ends the watch on them."""
        trigger = incident.trigger
        entry = {
            "family": {"S": trigger.family.value},
            "from_aws": {"BOOL": trigger.from_aws},
            "reason": {"S": trigger.reason},
            "user_id": {"S": incident.user_id},
            **({"key": {"S": trigger.access_key_id}} if trigger.access_key_id else {}),
            **({"category": {"S": trigger.category}} if trigger.category else {}),
        }
        try:
            self._dynamodb.update_item(
                TableName=self._table,
                Key={"incident_id": {"S": containment_id(trigger.account, incident.user_name)}},
                UpdateExpression="SET #a = :a, #u = :u, #i = :i, #since = if_not_exists(#since, :now)",
                ExpressionAttributeNames={
                    "#a": "account",
                    "#u": "user",
                    "#i": INCIDENT_PREFIX + incident.incident_id,
                    "#since": "since",
                },
                ExpressionAttributeValues={
                    ":a": {"S": trigger.account},
                    ":u": {"S": incident.user_name},
                    ":i": {"M": entry},
                    ":now": {"S": now_stamp()},
                },
            )
        except (ClientError, BotoCoreError) as error:
            self._fail_safe("remember the containment", error)

    def containments(self, account: str, user: str) -> list[Containment]:
        """The user's incidents that ended contained (one read; raises when the ledger cannot answer: whether the
        user is contained is not guessed). ``finished_contained`` tells which are still open."""
        found = self._dynamodb.get_item(
            TableName=self._table,
            Key={"incident_id": {"S": containment_id(account, user)}},
            ConsistentRead=True,
        )
        item = found.get("Item", {})
        since = str(item.get("since", {}).get("S", ""))
        return [
            _containment(name.removeprefix(INCIDENT_PREFIX), value.get("M", {}), since)
            for name, value in sorted(item.items())
            if name.startswith(INCIDENT_PREFIX)
        ]

    def contained_users(self, account: str) -> list[str]:
        """Every user of ``account`` the responder recorded contained (the sweep's one Scan, ``SWEEP_ACTIONS``)."""
        pages = self._dynamodb.get_paginator("scan").paginate(
            TableName=self._table,
            FilterExpression="begins_with(incident_id, :p) AND #a = :a",
            ExpressionAttributeNames={"#a": "account", "#u": "user"},
            ExpressionAttributeValues={":p": {"S": CONTAINED_PREFIX}, ":a": {"S": account}},
            ProjectionExpression="#u",
        )
        return sorted({item["user"]["S"] for page in pages for item in page.get("Items", [])})

    def close_incidents(self, account: str, user: str) -> list[str]:
        """End the user's open incidents (``release``): each item is kept under ``<id>#released#<time>`` and the
        original removed, so the user's next leak opens a new incident instead of finding this one finished."""
        released_at = now_stamp()
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

    def replaced_boundary(self, account: str, user: str) -> str | None:
        """The permissions boundary our AWSDenyAll boundary replaced on the user, as first recorded by its open
        incidents (an ARN, or ``boundary.NO_BOUNDARY``); None when none of them replaced one."""
        records = [
            item[BOUNDARY_REPLACED]["M"]
            for item in self._open_items(account, user)
            if BOUNDARY_REPLACED in item
        ]
        first = min(records, key=lambda record: record["at"]["S"], default=None)
        return str(first["arn"]["S"]) if first is not None else None

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
            recorded = self._item(incident.incident_id)
            if recorded.get("user_id", {}).get("S", incident.user_id) != incident.user_id:
                self._replace(recorded, fresh)  # same name, another user (deleted and re-created)
                return {}
        except (ClientError, BotoCoreError) as error:
            self._fail_safe("read", error)
            return {}
        steps = recorded.get("steps", {}).get("M", {})
        done = {
            name: value["M"]["detail"]["S"]
            for name, value in steps.items()
            if value.get("M", {}).get("status", {}).get("S") == "done"
        }
        return {
            name: detail
            for name, detail in done.items()
            if self._believed_step(recorded, incident, name, detail)
        }

    def _believed_step(self, item: dict[str, Any], incident: Incident, name: str, detail: str) -> bool:
        if self._seal is None:
            return True
        believed = self._seal.verifies(
            incident.incident_id, f"step:{name}", detail, _text(item, f"step:{name}")
        )
        if not believed:
            LOG.warning("step %s of %s has no valid seal: done again", name, incident.incident_id)
        return believed

    def _item(self, incident_id: str) -> dict[str, Any]:
        found = self._dynamodb.get_item(
            TableName=self._table, Key={"incident_id": {"S": incident_id}}, ConsistentRead=True
        )
        item: dict[str, Any] = found.get("Item", {})
        return item

    def _sign(self, incident_id: str, name: str, value: str) -> str | None:
        """A seal, or None when there is no seal key or KMS cannot sign (written unsealed: not believed later)."""
        if self._seal is None:
            return None
        try:
            return self._seal.sign(incident_id, name, value)
        except (ClientError, BotoCoreError) as error:
            self._fail_safe("seal", error)
            return None

    def _replace(self, recorded: dict[str, Any], fresh: dict[str, Any]) -> None:
        """The incident of an earlier user of the same name: kept as ``<id>#replaced#<time>``, then started anew."""
        replaced_at = now_stamp()
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


def open_ledger(aws: Aws, table: str | None, mac_key: str | None) -> Ledger | None:
    """The ledger, sealed when a seal key is configured (``KQ_LEDGER_MAC_KEY``); None without a table."""
    if not table:
        return None
    return Ledger(aws, table, Seal(aws, mac_key) if mac_key else None)


def _text(item: dict[str, Any], sealed: str | None, attribute: str | None = None) -> str:
    """A string attribute of ``item``: the seal of ``sealed``, or ``attribute`` itself; "" when absent."""
    name = seal_name(sealed) if sealed is not None else str(attribute)
    return str(item.get(name, {}).get("S", ""))


def _record_value(item: dict[str, Any]) -> str:
    return f"{_text(item, None, 'status')}@{_text(item, None, 'created_at')}"


def containment_id(account: str, user: str) -> str:
    return f"{CONTAINED_PREFIX}{account}#{user}"


def _containment(incident_id: str, entry: dict[str, Any], since: str) -> Containment:
    return Containment(
        incident_id=incident_id,
        family=str(entry.get("family", {}).get("S", "")),
        access_key_id=entry.get("key", {}).get("S"),
        category=entry.get("category", {}).get("S"),
        from_aws=bool(entry.get("from_aws", {}).get("BOOL", False)),
        reason=str(entry.get("reason", {}).get("S", "")),
        user_id=str(entry.get("user_id", {}).get("S", "")),
        since=since,
    )


def finished_marker(trigger: Trigger) -> str:
    return f"finished:{trigger.category or trigger.family.value}"


def _code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))
