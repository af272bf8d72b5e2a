"""``UndoWatch``: the EventBridge rule on the IAM calls that can undo a containment (issue #11, item 6).

IAM's CloudTrail events reach EventBridge only in us-east-1, where ``KeyQuarantine`` lives. The pattern keeps to
what can undo one (our deny policy deleted, a credential set Active, a boundary removed or replaced, a new key or
password, our tags changed) and leaves out the sessions of the pipeline's own roles; whether the user is one the
responder contained is the handler's question (``handlers/undo.py``): a pattern cannot know it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam

from constructs import Construct
from key_quarantine.constructs.event_patterns import event_pattern
from key_quarantine.data import CLOUDTRAIL_DETAIL_TYPE
from key_quarantine.data.detections import ROOT, USER_KEY_CALLERS
from key_quarantine.handlers.settings import CONTAINED_AT_TAG, CONTAINMENT_POLICY_NAME, INCIDENT_TAG
from key_quarantine.handlers.watched_calls import ACTIVE, BOUNDARY_CALLS, CREATIONS, REACTIVATIONS


def undo_watch_pattern(
    own_role_arns: Sequence[str], *, exempt_tag: str, creations_by_user_keys: bool = True
) -> dict[str, Any]:
    """The watched calls that succeeded, by anyone but a session of ``own_role_arns``.

    ``creations_by_user_keys=False`` leaves out a new key or password made by a user's own key (or root): the
    persistence detection rule delivers those already, and the handler reads such a record as both.
    """
    ours = [INCIDENT_TAG, CONTAINED_AT_TAG, exempt_tag]
    creations: dict[str, Any] = {"eventName": list(CREATIONS)}
    if not creations_by_user_keys:
        creations["userIdentity"] = {"type": [{"anything-but": [*USER_KEY_CALLERS, ROOT]}]}
    calls: list[dict[str, Any]] = [
        {"eventName": ["DeleteUserPolicy"], "requestParameters": {"policyName": [CONTAINMENT_POLICY_NAME]}},
        {"eventName": list(REACTIVATIONS), "requestParameters": {"status": [ACTIVE]}},
        {"eventName": list(BOUNDARY_CALLS)},
        creations,
        {"eventName": ["UntagUser"], "requestParameters": {"tagKeys": ours}},
        {"eventName": ["TagUser"], "requestParameters": {"tags": {"key": ours}}},
    ]
    issuer = [{"exists": False}, {"anything-but": list(own_role_arns)}] if own_role_arns else None
    detail: dict[str, Any] = {
        "eventSource": ["iam.amazonaws.com"],
        "errorCode": [{"exists": False}],
        "$or": calls,
    }
    if issuer is not None:
        detail["userIdentity"] = {"sessionContext": {"sessionIssuer": {"arn": issuer}}}
    return {"source": ["aws.iam"], "detail-type": [CLOUDTRAIL_DETAIL_TYPE], "detail": detail}


class UndoWatch(Construct):
    """One rule on the calls that can undo a containment, delivering to ``target`` (the responder's buffer).

    :param target: where matching events go.
    :param own_roles: the pipeline's roles (the responder's, the sweep's): their sessions' calls never match.
    :param exempt_tag: the tag that used to exempt (``KeyQuarantine``'s ``exempt_tag``): setting it is watched.
    :param creations_by_user_keys: also match a new key or password made by a user's own key (default True; False
        when the persistence detection delivers them already).

    :ivar rule: the rule.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        target: events.IRuleTarget,
        own_roles: Sequence[iam.IRole],
        exempt_tag: str,
        creations_by_user_keys: bool = True,
    ) -> None:
        super().__init__(scope, construct_id)
        pattern = undo_watch_pattern(
            [role.role_arn for role in own_roles],
            exempt_tag=exempt_tag,
            creations_by_user_keys=creations_by_user_keys,
        )
        self.rule = events.Rule(
            self,
            "Rule",
            description="key-quarantine: a contained user's deny deleted, a credential turned on, our tags changed",
            event_pattern=event_pattern(pattern),
            targets=[target],
        )
