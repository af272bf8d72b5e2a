#!/usr/bin/env python3
"""Example: an existing app (a storefront's CI deploy user and artifact bucket) with both rule packs applied.

Its CI user holds a long-lived key kept in Secrets Manager; the KeyQuarantine construct, in the same us-east-1
stack, contains that key within seconds if it ever leaks. ``make demo`` synthesizes it with the real cdk CLI and
both rule packs: it must pass with every acknowledgement explained.
"""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_secretsmanager as secretsmanager
from cdk_nag import AwsSolutionsChecks

from constructs import Construct
from key_quarantine import KeyQuarantine, KeyQuarantineChecks, KeyQuarantineRegionalForwarder

US_EAST_1 = cdk.Environment(region="us-east-1")
#: The other regions the storefront runs in: each gets a forwarder.
OTHER_REGIONS = ("eu-west-1",)


class StorefrontCiStack(cdk.Stack):
    """A bucket of build artifacts and the CI user that uploads them and deploys with the CDK roles."""

    def __init__(self, scope: Construct, construct_id: str, **kwargs: object) -> None:
        super().__init__(scope, construct_id, **kwargs)  # type: ignore[arg-type]
        encryption_key = kms.Key(self, "ArtifactsKey", enable_key_rotation=True)
        access_logs = s3.Bucket(
            self,
            "AccessLogs",
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
        )
        artifacts = s3.Bucket(
            self,
            "Artifacts",
            encryption=s3.BucketEncryption.KMS,
            encryption_key=encryption_key,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            server_access_logs_bucket=access_logs,
            versioned=True,
        )
        deployer = iam.User(self, "CiDeployer", user_name="storefront-ci-deployer")
        deployer.add_to_policy(
            iam.PolicyStatement(actions=["s3:PutObject"], resources=[artifacts.arn_for_objects("builds/*")])
        )
        deployer.add_to_policy(
            iam.PolicyStatement(
                actions=["sts:AssumeRole"],
                resources=[
                    f"arn:aws:iam::{self.account}:role/cdk-hnb659fds-deploy-role-{self.account}-{self.region}"
                ],
            )
        )
        encryption_key.grant_encrypt(deployer)
        access_key = iam.AccessKey(self, "CiDeployerKey", user=deployer)
        secretsmanager.Secret(
            self,
            "CiDeployerSecret",
            description="Access key of the storefront CI deployer; read by the CI system only",
            encryption_key=encryption_key,
            secret_object_value={
                "accessKeyId": cdk.SecretValue.unsafe_plain_text(access_key.access_key_id),
                "secretAccessKey": access_key.secret_access_key,
            },
        )
        KeyQuarantine(self, "KeyQuarantine", notification_emails=["security@example.com"])
        self._acknowledge(access_logs, deployer)

    def _acknowledge(self, access_logs: s3.Bucket, deployer: iam.User) -> None:
        acknowledge = cdk.Validations.of
        acknowledge(access_logs).acknowledge(
            cdk.Acknowledgment(
                id="AwsSolutions::AwsSolutions-S1", reason="This is the access-log bucket itself."
            )
        )
        acknowledge(self).acknowledge(
            cdk.Acknowledgment(
                id="AwsSolutions::AwsSolutions-SMG4",
                reason="An IAM access key cannot rotate itself; the CI team rotates it every 90 days (OPS-88).",
            )
        )
        wildcard_reasons = {
            "Resource::<Artifacts82DD59A1.Arn>/builds/*": "CI uploads any build under builds/ and nothing else.",
            "Action::kms:ReEncrypt*": "CDK's grant_encrypt on the one artifacts key.",
            "Action::kms:GenerateDataKey*": "CDK's grant_encrypt on the one artifacts key.",
        }
        for evidence, reason in wildcard_reasons.items():
            acknowledge(deployer).acknowledge(
                cdk.Acknowledgment(id=f"AwsSolutions::AwsSolutions-IAM5[{evidence}]", reason=reason)
            )
        acknowledge(deployer).acknowledge(
            cdk.Acknowledgment(
                id="KeyQuarantine::KQ5",
                reason="CI must upload builds and assume the CDK deploy role; both are scoped to single resources.",
            )
        )


app = cdk.App()
StorefrontCiStack(app, "StorefrontCi", env=US_EAST_1)
for region in OTHER_REGIONS:
    forwarding = cdk.Stack(app, f"KeyQuarantine-{region}", env=cdk.Environment(region=region))
    KeyQuarantineRegionalForwarder(forwarding, "Forwarder")
cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app), KeyQuarantineChecks(app))
app.synth()
