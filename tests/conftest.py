"""Shared test set-up: quiet, offline CDK; the shared apps are synthesized once per session."""

from __future__ import annotations

import os

# The built-in CloudFormation validator costs ~2 s a synthesis and is not what these tests check.
os.environ.setdefault("CDK_VALIDATION", "false")
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
os.environ.setdefault("JSII_DEPRECATED", "quiet")
os.environ.setdefault("CDK_DISABLE_CLI_TELEMETRY", "true")

from tests import moto_service_credentials, moto_user_boundaries

moto_service_credentials.install()
moto_user_boundaries.install()
