"""The quarantine-policy watch on moto: unchanged, a new version, a new policy; and --refresh."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from moto.core import DEFAULT_ACCOUNT_ID
from moto.iam.models import AWSManagedPolicy, iam_backends

from key_quarantine import data
from key_quarantine.cli.main import main
from key_quarantine.handlers import policy_watch
from key_quarantine.handlers.aws import Aws
from tests.handlers.conftest import REGION, MotoAccount


def install(name: str, version_id: str, actions: list[str]) -> None:
    """An AWS managed policy in moto, with the given default version and denied actions."""
    backend = iam_backends[DEFAULT_ACCOUNT_ID]["global"]
    document = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Deny", "Action": actions, "Resource": "*"}],
    }
    policy = AWSManagedPolicy.from_data(
        name,
        DEFAULT_ACCOUNT_ID,
        REGION,
        {
            "DefaultVersionId": version_id,
            "Path": "/",
            "Document": document,
            "CreateDate": "2026-11-06T00:00:00+00:00",
            "UpdateDate": "2026-11-06T00:00:00+00:00",
        },
    )
    backend.managed_policies[policy.arn] = policy


def install_as_shipped() -> None:
    """Every policy whose document the package ships whole (V4 is known only in part)."""
    for name, version in policy_watch.known_versions().items():
        if version.complete:
            install(name, version.version_id, list(version.actions))


def test_nothing_changed_when_the_account_sees_what_the_package_ships(account: MotoAccount) -> None:
    install_as_shipped()
    current, changes = policy_watch.watch(Aws(region=REGION))
    assert set(current) == {
        "AWSCompromisedKeyQuarantine",
        "AWSCompromisedKeyQuarantineV2",
        "AWSCompromisedKeyQuarantineV3",
    }
    assert changes == []


def test_a_new_version_and_a_new_policy_are_reported_with_the_action_diff(account: MotoAccount) -> None:
    # Given V3 moved to v4 (one action added, one removed) and a V5 policy appeared
    install_as_shipped()
    v3 = policy_watch.known_versions()["AWSCompromisedKeyQuarantineV3"]
    changed = [a for a in v3.actions if a != "s3:GetObject"] + ["bedrock:InvokeAgent"]
    install("AWSCompromisedKeyQuarantineV3", "v4", changed)
    install("AWSCompromisedKeyQuarantineV5", "v1", ["bedrock:*", "ses:SendEmail"])
    # When watched
    _, changes = policy_watch.watch(Aws(region=REGION))
    by_name = {change.name: change for change in changes}
    # Then both are reported, with what they deny now that they did not before
    assert set(by_name) == {"AWSCompromisedKeyQuarantineV3", "AWSCompromisedKeyQuarantineV5"}
    v3_change = by_name["AWSCompromisedKeyQuarantineV3"]
    assert (v3_change.known_version, v3_change.current_version) == ("v3", "v4")
    assert v3_change.added == ("bedrock:InvokeAgent",)
    assert v3_change.removed == ("s3:GetObject",)
    assert by_name["AWSCompromisedKeyQuarantineV5"].known_version is None
    assert "new policy AWSCompromisedKeyQuarantineV5" in by_name["AWSCompromisedKeyQuarantineV5"].describe()


def test_a_version_known_only_in_part_is_news_until_refreshed(account: MotoAccount) -> None:
    # Given the package knows V4 v2 only by the start of its action list, and the account sees all of it
    v4 = policy_watch.known_versions()["AWSCompromisedKeyQuarantineV4"]
    assert (v4.version_id, v4.complete, v4.created) == ("v2", False, "2026-11-09T22:27:00Z")
    whole = [*v4.actions, "kms:ScheduleKeyDeletion", "bedrock:CreateModelInvocationJob"]
    install_as_shipped()
    install("AWSCompromisedKeyQuarantineV4", "v2", whole)
    # When watched, Then the same version id is still news: what it denies beyond the known part
    current, changes = policy_watch.watch(Aws(region=REGION))
    (change,) = changes
    assert (change.name, change.known_version, change.current_version) == (
        "AWSCompromisedKeyQuarantineV4",
        "v2",
        "v2",
    )
    assert change.added == ("bedrock:CreateModelInvocationJob", "kms:ScheduleKeyDeletion")
    # And once refreshed into the shipped folder, the whole document wins over the partial record of v2
    whole_v4 = current["AWSCompromisedKeyQuarantineV4"]
    assert policy_watch.newest([whole_v4, v4])["AWSCompromisedKeyQuarantineV4"] is whole_v4
    assert policy_watch.newest([v4, whole_v4])["AWSCompromisedKeyQuarantineV4"] is whole_v4


def test_policies_command_refreshes_the_documents(
    account: MotoAccount, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    install_as_shipped()
    install("AWSCompromisedKeyQuarantineV4", "v1", ["bedrock:*"])
    assert main(["policies", "--format", "json", "--refresh", str(tmp_path)]) == 1
    document: dict[str, Any] = json.loads(capsys.readouterr().out)
    assert [c["policy"] for c in document["changes"]] == ["AWSCompromisedKeyQuarantineV4"]
    saved = json.loads((tmp_path / "AWSCompromisedKeyQuarantineV4.json").read_text())
    # the saved file is in the format the package ships, so it can replace data/quarantine_policies
    assert saved["PolicyVersion"]["VersionId"] == "v1"
    assert data.denied_actions(saved["PolicyVersion"]["Document"]) == ("bedrock:*",)
