"""KQ8: a long-lived credential for Amazon Bedrock, the first thing LLMjacking campaigns look for."""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from key_quarantine.rules.base import Finding, Level, Rule, RuleContext
from key_quarantine.rules.keys import USER
from key_quarantine.rules.model import Resource

BEDROCK_API_KEY_USER_PREFIX = "BedrockAPIKey-"
BEDROCK_INVOKE_ACTIONS = ("bedrock:InvokeModel", "bedrock:InvokeModelWithResponseStream")
#: Terraform's ``aws_iam_service_specific_credential`` (CloudFormation has no such type): Bedrock's is an API key.
SERVICE_SPECIFIC_CREDENTIAL = "Terraform::IAM::ServiceSpecificCredential"
BEDROCK_SERVICE = "bedrock.amazonaws.com"


def check(context: RuleContext) -> Iterator[Finding]:
    for user in context.app.resources_of_type(USER):
        name = context.keys.user_names.get(user, "")
        holder = context.keys.holder_of_user(user)
        if name.startswith(BEDROCK_API_KEY_USER_PREFIX):
            message = (
                f"IAM user '{user.logical_id}' is named '{name}', the user behind a long-term Amazon Bedrock API "
                "key: a non-expiring credential for model invocation."
            )
            yield RULE.finding(user, message)
        elif holder and holder.active_keys and _invokes_bedrock(context, user):
            message = (
                f"IAM user '{user.logical_id}' holds a long-lived access key that may invoke Amazon Bedrock models "
                f"({', '.join(BEDROCK_INVOKE_ACTIONS)}): a leaked key is billed to you at the attacker's pace."
            )
            yield RULE.finding(user, message)

    yield from _bedrock_api_keys(context)


def _bedrock_api_keys(context: RuleContext) -> Iterator[Finding]:
    for credential in context.app.resources_of_type(SERVICE_SPECIFIC_CREDENTIAL):
        properties = credential.properties
        if properties.get("ServiceName") == BEDROCK_SERVICE and properties.get("Status") != "Inactive":
            owner = properties.get("UserName")
            named = owner.get("Ref", "?") if isinstance(owner, Mapping) else owner
            message = (
                f"'{credential.logical_id}' is a long-term Amazon Bedrock API key (a service-specific credential of "
                f"IAM user {named}): it keeps working when the user's access keys are deactivated."
            )
            yield RULE.finding(credential, message)


def _invokes_bedrock(context: RuleContext, user: Resource) -> bool:
    return bool(context.permissions_of(user).effectively_allowed(BEDROCK_INVOKE_ACTIONS))


RULE = Rule(
    id="KQ8",
    level=Level.WARNING,
    name="Long-lived Bedrock credential",
    info="An IAM user holds a long-lived credential that can invoke Amazon Bedrock models.",
    explanation=(
        "LLMjacking campaigns test every leaked key for Bedrock access and run models at your expense within "
        "minutes. Use short-term Bedrock API keys or an IAM role for model invocation; if a user must keep a "
        "key, scope bedrock:InvokeModel to the models it needs and monitor it with the KeyQuarantine construct."
    ),
    check=check,
)
