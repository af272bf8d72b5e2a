"""Whether a statement's ``Resource`` can reach what an action acts on.

A user allowed ``s3:*`` on one bucket is not allowed ``s3:ListAllMyBuckets`` (it takes only ``*``), nor
``secretsmanager:GetSecretValue`` (another service). Resources named by ARN (or by a resource of the app) reach the
actions of their own service that take a resource; ``*``, a ``NotResource`` or a value known only at deploy time
reach everything (what the holder of a leaked key might get).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

WHOLE = "*"
#: A ``NotResource`` statement: every resource but some (an Allow reaches, a Deny does not deny everywhere).
ALL_BUT_SOME = "*-but-some"
#: Campaign actions that take no resource ARN (IAM's Service Authorization Reference lists no resource type):
#: only ``Resource: "*"`` allows them.
ACCOUNT_LEVEL_ACTIONS = frozenset(
    action.lower()
    for action in (
        "cloudtrail:LookupEvents",
        "ec2:AcceptReservedInstancesExchangeQuote",
        "ec2:CreateReservedInstancesListing",
        "ec2:PurchaseReservedInstancesOffering",
        "ecr:GetAuthorizationToken",
        "ecs:CreateCluster",
        "ecs:RegisterTaskDefinition",
        "glue:CreateJob",
        "iam:ListUsers",
        "iam:UpdateAccountPasswordPolicy",
        "organizations:CreateAccount",
        "organizations:CreateOrganization",
        "organizations:LeaveOrganization",
        "s3:ListAllMyBuckets",
        "s3:PutAccountPublicAccessBlock",
        "savingsplans:CreateSavingsPlan",
        "secretsmanager:ListSecrets",
        "ses:GetSendQuota",
        "ses:ListIdentities",
        "sns:GetSMSAttributes",
        "sts:GetSessionToken",
        "bedrock:ListFoundationModels",
    )
)
#: Actions whose resource belongs to another service's ARNs (a role is an IAM ARN).
RESOURCE_SERVICE = {"sts:assumerole": "iam", "sts:assumerolewithwebidentity": "iam", "sts:tagsession": "iam"}
_ARN_SERVICE = re.compile(r"^arn:[^:]*:(?P<service>[^:]*):")


def scope_of(resource: object) -> str:
    """A statement's resource entry as a scope: ``*``, an ARN pattern, or ``service:<name>`` (a resource of the
    app whose ARN is known only at deploy time, by its type)."""
    if isinstance(resource, str):
        return resource
    resource_type = getattr(getattr(resource, "resource", None), "type", None)
    service = _service_of_type(resource_type) if isinstance(resource_type, str) else None
    return f"service:{service}" if service else WHOLE


def reaches(scopes: Iterable[str], action: str) -> bool:
    """Whether a statement scoped to ``scopes`` may allow ``action``."""
    service = RESOURCE_SERVICE.get(action.lower(), action.split(":", 1)[0].lower())
    for scope in scopes:
        if scope in (WHOLE, ALL_BUT_SOME, "arn:*") or scope.startswith("arn:*:*"):
            return True
        if action.lower() in ACCOUNT_LEVEL_ACTIONS:
            continue
        named = scope.removeprefix("service:") if scope.startswith("service:") else _arn_service(scope)
        if named is None or named == "*" or named.lower() == service:
            return True
    return False


def _arn_service(scope: str) -> str | None:
    match = _ARN_SERVICE.match(scope)
    return match["service"] if match else None  # not an ARN: we cannot tell, so it may reach


def _service_of_type(resource_type: str) -> str | None:
    """``AWS::S3::Bucket`` -> s3; ``Terraform::aws_secretsmanager_secret`` -> secretsmanager."""
    if resource_type.startswith("AWS::"):
        return resource_type.split("::")[1].lower()
    name = resource_type.removeprefix("Terraform::")
    return name.split("_")[1] if name.startswith("aws_") and name.count("_") >= 1 else None
