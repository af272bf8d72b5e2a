#!/usr/bin/env python3
"""An app that makes every mistake the KeyQuarantine rules catch. Synthesize it to see them all.

Two Stages stand for two accounts. Dev (eu-west-1) holds users with keys, leaks their secrets and watches for
quarantine in the wrong region with a pattern pinned to one policy version. Prod (us-east-1) has proper
quarantine monitoring but no CloudTrail trail. ``cdk synth '**'`` fails on the errors and prints the warnings.
"""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_ssm as ssm

from constructs import Construct
from key_quarantine import KeyQuarantineChecks

QUARANTINE_ATTACH = {
    "source": ["aws.iam"],
    "detail_type": ["AWS API Call via CloudTrail"],
}


class DevUsersStack(cdk.Stack):
    """Users and keys; the deployer's user is imported by a second stack (a cross-stack key)."""

    def __init__(self, scope: Construct, construct_id: str, **kwargs: object) -> None:
        super().__init__(scope, construct_id, **kwargs)  # type: ignore[arg-type]
        self.deployer = iam.User(self, "LegacyDeployer", user_name="legacy-deployer")
        self.deployer.add_managed_policy(
            iam.ManagedPolicy.from_aws_managed_policy_name("AdministratorAccess")
        )
        first = iam.AccessKey(self, "DeployerKey", user=self.deployer)
        rotated = iam.AccessKey(self, "DeployerKeyRotated", user=self.deployer)

        cdk.CfnOutput(self, "DeployerSecret", value=first.secret_access_key.unsafe_unwrap())
        ssm.StringParameter(
            self, "DeployerSecretParameter", string_value=rotated.secret_access_key.unsafe_unwrap()
        )
        function = lambda_.Function(
            self,
            "Uploader",
            runtime=lambda_.Runtime.PYTHON_3_13,
            handler="index.handler",
            code=lambda_.Code.from_inline("def handler(event, context):\n    return None\n"),
            environment={
                "UPLOAD_SECRET_KEY": first.secret_access_key.unsafe_unwrap(),
                # a key pasted into the code (made up here): leaked to every reader of the repository
                "BACKUP_ACCESS_KEY_ID": "AKIAJ4D7G2K5N8Q3T6W9",
                "BACKUP_SECRET_ACCESS_KEY": "Vh3Kp6Ns9Qv2Ty5Wb8Ze/Ch1Fk4Im7Lo0Rr+UxAz",
            },
        )
        cdk.Tags.of(function).add("deploy-secret", rotated.secret_access_key.unsafe_unwrap())

        bedrock_user = iam.User(self, "BedrockKeyUser", user_name="BedrockAPIKey-demo")
        bedrock_user.add_to_policy(iam.PolicyStatement(actions=["bedrock:InvokeModel"], resources=["*"]))
        iam.AccessKey(self, "BedrockKey", user=bedrock_user)


class DevAutomationStack(cdk.Stack):
    """A key for a user of another stack, and monitoring that cannot work."""

    def __init__(self, scope: Construct, construct_id: str, *, deployer: iam.IUser, **kwargs: object) -> None:
        super().__init__(scope, construct_id, **kwargs)  # type: ignore[arg-type]
        iam.AccessKey(self, "AutomationKey", user=deployer)
        topic = sns.Topic(self, "SecurityAlerts", enforce_ssl=True)
        events.Rule(
            self,
            "QuarantineV3Only",
            description="Pinned to one policy version, and in eu-west-1 where IAM events never arrive",
            event_pattern=events.EventPattern(
                **QUARANTINE_ATTACH,
                detail={
                    "requestParameters": {
                        "policyArn": ["arn:aws:iam::aws:policy/AWSCompromisedKeyQuarantineV3"]
                    }
                },
            ),
            targets=[targets.SnsTopic(topic)],
        )
        events.Rule(
            self,
            "LlmJackingWatch",
            description="Bedrock invocations are read-only events: this rule's default State never sees them",
            event_pattern=events.EventPattern(
                source=["aws.bedrock"],
                detail={"eventName": ["InvokeModel", "InvokeModelWithResponseStream", "Converse"]},
            ),
            targets=[targets.SnsTopic(topic)],
        )


class ProdStack(cdk.Stack):
    """Monitoring that works for every quarantine version, but no CloudTrail trail to feed it."""

    def __init__(self, scope: Construct, construct_id: str, **kwargs: object) -> None:
        super().__init__(scope, construct_id, **kwargs)  # type: ignore[arg-type]
        service = iam.User(self, "ReportingService")
        iam.AccessKey(self, "ReportingKey", user=service)
        topic = sns.Topic(self, "SecurityAlerts", enforce_ssl=True)
        events.Rule(
            self,
            "QuarantineAttached",
            event_pattern=events.EventPattern(
                **QUARANTINE_ATTACH,
                detail={
                    "eventName": ["AttachUserPolicy"],
                    "requestParameters": {
                        "policyArn": events.Match.prefix(
                            "arn:aws:iam::aws:policy/AWSCompromisedKeyQuarantine"
                        )
                    },
                },
            ),
            targets=[targets.SnsTopic(topic)],
        )


app = cdk.App()
dev = cdk.Stage(app, "Dev", env=cdk.Environment(account="111111111111", region="eu-west-1"))
dev_users = DevUsersStack(dev, "Users")
DevAutomationStack(dev, "Automation", deployer=dev_users.deployer)
prod = cdk.Stage(app, "Prod", env=cdk.Environment(account="222222222222", region="us-east-1"))
ProdStack(prod, "Reporting")
cdk.Validations.of(app).add_plugins(KeyQuarantineChecks(app))
app.synth()
