"""Re-enable a rule of ours that someone disabled, and say so (``reenable_on_tamper``).

Only ``DisableRule`` is undone: a deleted rule or removed target needs a redeploy of the stack, which the tamper
alarm asks for. Only rules this deployment owns (``KQ_WATCHED_RULES``) are touched, and the role can enable no
other. Our own deployments never reach here: the rule excludes calls CloudFormation made.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from typing import Any

from key_quarantine.handlers.aws import Aws

LOG = logging.getLogger("key_quarantine.tamper")
LOG.setLevel(logging.INFO)
REENABLE_ACTIONS = ("events:EnableRule",)
WATCHED_RULES = frozenset(name for name in os.environ.get("KQ_WATCHED_RULES", "").split(",") if name)
TOPIC_ARN = os.environ.get("KQ_TOPIC_ARN") or None
AWS = Aws()


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:  # noqa: ARG001 - nothing needed
    result = reenable(event, AWS, watched=WATCHED_RULES, topic_arn=TOPIC_ARN)
    LOG.info(json.dumps(result, default=str))
    return result


def reenable(
    event: Mapping[str, Any], aws: Aws, *, watched: frozenset[str], topic_arn: str | None
) -> dict[str, Any]:
    """Enable the rule a successful DisableRule call named, if it is one of ``watched``; notify the topic."""
    detail = event.get("detail")
    detail = detail if isinstance(detail, Mapping) else {}
    parameters = detail.get("requestParameters")
    name = parameters.get("name") if isinstance(parameters, Mapping) else None
    if detail.get("eventName") != "DisableRule" or detail.get("errorCode"):
        return {"status": "ignored", "reason": "not a successful DisableRule call"}
    if name not in watched:
        return {"status": "ignored", "reason": f"rule {name!r} is not one of ours"}
    aws.client("events").enable_rule(Name=name)
    who = (
        detail.get("userIdentity", {}).get("arn") if isinstance(detail.get("userIdentity"), Mapping) else None
    )
    message = (
        f"key-quarantine re-enabled EventBridge rule {name}, disabled by {who or 'an unknown principal'} at "
        f"{detail.get('eventTime')} (CloudTrail event {detail.get('eventID')}). If that was not you, treat the "
        "account as compromised."
    )
    if topic_arn:
        aws.client("sns").publish(
            TopicArn=topic_arn, Subject="key-quarantine: rule re-enabled", Message=message
        )
    return {"status": "re-enabled", "rule": name, "disabled_by": who}
