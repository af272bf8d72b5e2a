"""What a synthesized template's values become once deployed: physical names for Ref, ARNs for GetAtt.

CloudFormation names a resource ``<stack>-<logical id>-<suffix>``, at most 64 characters; the stand-in names here
are of that form, so tests can build the CloudTrail events AWS would record for our resources.
"""

from __future__ import annotations

from typing import Any

ACCOUNT = "123456789012"  # moto's default account
REGION = "us-east-1"
STACK = "Security"
ARN_FORMS = {
    "AWS::IAM::Role": "arn:aws:iam::{account}:role/{name}",
    "AWS::Lambda::Function": "arn:aws:lambda:{region}:{account}:function:{name}",
    "AWS::Events::Rule": "arn:aws:events:{region}:{account}:rule/{name}",
    "AWS::S3::Bucket": "arn:aws:s3:::{name}",
    "AWS::DynamoDB::Table": "arn:aws:dynamodb:{region}:{account}:table/{name}",
    "AWS::SQS::Queue": "arn:aws:sqs:{region}:{account}:{name}",
    "AWS::KMS::Key": "arn:aws:kms:{region}:{account}:key/{name}",
    "AWS::Logs::LogGroup": "arn:aws:logs:{region}:{account}:log-group:{name}:*",
}
PSEUDO = {
    "AWS::Partition": "aws",
    "AWS::AccountId": ACCOUNT,
    "AWS::Region": REGION,
    "AWS::URLSuffix": "amazonaws.com",
    "AWS::StackName": STACK,
    "AWS::StackId": f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/{STACK}/5a1b2c3d-0000-4000-8000-000000000000",
}


def physical_name(logical_id: str, length: int | None = None) -> str:
    """The stand-in for the name CloudFormation gives ``logical_id``; ``length`` pads it (for size limits)."""
    name = f"{STACK}-{logical_id}-1A2B3C4D5E6F"
    return name if length is None else (name * 3)[:length]


class Deployed:
    """Resolves Ref, GetAtt Arn, Join and Sub (of pseudo parameters) of one template to deployed values."""

    def __init__(self, template: dict[str, Any], name_length: int | None = None) -> None:
        self._resources = template["Resources"]
        self._length = name_length

    def name(self, logical_id: str) -> str:
        if self._resources[logical_id]["Type"] == "AWS::SNS::Topic":
            return f"arn:aws:sns:{REGION}:{ACCOUNT}:{physical_name(logical_id)}"  # a topic's Ref is its ARN
        return physical_name(logical_id, self._length)

    def arn(self, logical_id: str) -> str:
        form = ARN_FORMS[self._resources[logical_id]["Type"]]
        return form.format(account=ACCOUNT, region=REGION, name=self.name(logical_id))

    def attribute(self, logical_id: str, attribute: str) -> str:
        if attribute == "QueueName":
            return self.name(logical_id)
        assert attribute == "Arn", f"no stand-in for {attribute}"
        return self.arn(logical_id)

    def resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            return [self.resolve(item) for item in value]
        return self._resolve_object(value) if isinstance(value, dict) else value

    def _resolve_object(self, value: dict[str, Any]) -> Any:
        if set(value) == {"Ref"}:
            return PSEUDO.get(value["Ref"]) or self.name(value["Ref"])
        if set(value) == {"Fn::GetAtt"}:
            return self.attribute(*value["Fn::GetAtt"])
        if set(value) == {"Fn::Sub"} and isinstance(value["Fn::Sub"], str):
            return _substitute(value["Fn::Sub"])
        if set(value) == {"Fn::Join"}:
            separator, parts = value["Fn::Join"]
            return separator.join(str(self.resolve(part)) for part in parts)
        return {key: self.resolve(item) for key, item in value.items()}


def _substitute(text: str) -> str:
    """``Fn::Sub`` of pseudo parameters only (what CDK writes for the bootstrap roles' ARNs)."""
    for name, pseudo in PSEUDO.items():
        text = text.replace(f"${{{name}}}", pseudo)
    return text
