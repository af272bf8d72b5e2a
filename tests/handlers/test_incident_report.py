"""The incident page: verdict, our changes and their undo, the timeline's lanes and marks, derived principals, what
the quarantine left allowed; `key-quarantine report` from a file and from the ledger and bucket."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path

import boto3
import pytest

from key_quarantine.cli.main import main
from key_quarantine.handlers.incident_report import render
from key_quarantine.handlers.steps import ALL_STEPS, CONTAINMENT_STEPS
from tests.handlers.attacker_history import CHAINED_KEY, KEY, ROLE_SESSION_KEY
from tests.handlers.conftest import REGION, MotoAccount
from tests.handlers.known_incident import CONTAINED_STEPS, known_incident


class Page(HTMLParser):
    """What a reader of the page sees: the elements' attributes and the text."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.elements: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)

    def attribute(self, name: str) -> list[str]:
        return [str(a[name]) for _, a in self.elements if a.get(name) is not None]

    def tags(self) -> set[str]:
        return {tag for tag, _ in self.elements}


def test_the_page_shows_the_verdict_lanes_marks_and_what_the_trail_did(aws_credentials: None) -> None:
    # Given the known incident (a key, its role session, and the session that one minted), contained
    page = Page(render(known_incident()))
    text = " ".join(page.text)

    # Then the verdict says contained, and how each of our changes is undone
    assert "Contained: deactivated" in text
    assert (
        "aws iam delete-user-policy --user-name leaked-deployer --policy-name KeyQuarantineContainment"
        in text
    )
    # And the timeline has one lane per principal, in the order they were found, and both marks
    assert page.attribute("data-lane") == [KEY, ROLE_SESSION_KEY, CHAINED_KEY]
    assert page.attribute("data-mark") == ["signal", "containment"]
    assert set(page.attribute("data-service")) >= {"iam", "sts", "ecs"}
    # And the derived principals, what they created, and the exact revocation of the role session
    assert "backup-admin" in text
    assert "AKIABACKDOOR00000001" in text
    assert "aws iam put-role-policy --role-name deploy --policy-name AWSRevokeOlderSessions" in text
    # And what no quarantine version denies is named (AssumeRole opened the role session)
    assert "sts:AssumeRole" in text
    # And the page is self-contained: no script, no link, no external reference
    assert not page.tags() & {"script", "link", "img", "iframe"}
    assert not re.search(r"(src|href)=", render(known_incident()))


def test_a_failed_containment_says_not_contained_and_why(aws_credentials: None) -> None:
    steps = [
        {"name": "deactivate-keys", "status": "done", "detail": f"deactivated {KEY}"},
        {"name": "deny-policy", "status": "failed", "detail": "ClientError: AccessDenied"},
    ]
    text = " ".join(Page(render(known_incident(steps))).text)
    assert "NOT contained: deny-policy failed: ClientError: AccessDenied" in text


def test_names_the_attacker_chose_are_text_never_markup(aws_credentials: None) -> None:
    # Given the attacker named its role session as markup (roleSessionName is the caller's choice)
    evil = '"><img src=x onerror=alert(1)><script>alert(2)</script>'
    page = render(known_incident(session_name=evil))
    # Then it shows as text, and the page holds no element it did not write
    parsed = Page(page)
    assert not parsed.tags() & {"script", "img"}
    assert evil in " ".join(parsed.text)


def test_report_from_a_file_and_bad_input(
    tmp_path: Path, aws_credentials: None, capsys: pytest.CaptureFixture[str]
) -> None:
    evidence = tmp_path / "evidence.json"
    evidence.write_text(json.dumps(known_incident(), default=str))
    output = tmp_path / "incident.html"
    assert main(["report", str(evidence), "--output", str(output)]) == 0
    assert Page(output.read_text()).attribute("data-lane") == [KEY, ROLE_SESSION_KEY, CHAINED_KEY]
    capsys.readouterr()
    for content, message in [
        ("{not json", "not JSON"),
        ('{"findings": []}', "not a key-quarantine evidence file"),
    ]:
        evidence.write_text(content)
        assert main(["report", str(evidence)]) == 2
        error = capsys.readouterr().err
        assert message in error
        assert error.count("\n") == 1
    assert main(["report", str(tmp_path / "missing.json")]) == 2
    assert "no such file" in capsys.readouterr().err


def test_report_by_incident_from_the_ledger_and_the_bucket(
    account: MotoAccount, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given an incident the responder recorded: the ledger names where its evidence went
    evidence = known_incident()
    key = f"incidents/{evidence['incident_id']}/20261202T120004Z.json"
    boto3.client("s3", region_name=REGION).put_object(
        Bucket=account.bucket, Key=key, Body=json.dumps(evidence, default=str).encode()
    )
    detail = f"wrote s3://{account.bucket}/{key}: 14 CloudTrail events"
    boto3.client("dynamodb", region_name=REGION).put_item(
        TableName=account.table,
        Item={
            "incident_id": {"S": evidence["incident_id"]},
            "steps": {"M": {"evidence": {"M": {"status": {"S": "done"}, "detail": {"S": detail}}}}},
        },
    )
    options = ["--ledger-table", account.table, "--evidence-bucket", account.bucket]
    # When the page is asked for by incident id
    assert main(["report", "--incident", evidence["incident_id"], *options]) == 0
    # Then it is that incident's page
    assert Page(capsys.readouterr().out).attribute("data-mark") == ["signal", "containment"]
    # And an incident the ledger does not hold is one clear line, exit 2
    assert main(["report", "--incident", "nope", *options]) == 2
    assert capsys.readouterr().err.strip() == (
        f"key-quarantine: error: incident nope is not in the ledger {account.table}"
    )


def test_a_failed_credentials_step_is_not_contained_the_registry_names_every_containment_step(
    aws_credentials: None,
) -> None:
    # Given keys deactivated and the deny in place, but the user's Bedrock API key could not be turned off
    steps = [
        *CONTAINED_STEPS,
        {
            "name": "deactivate-credentials",
            "status": "failed",
            "detail": "CredentialsError: NOT all deactivated",
        },
    ]
    text = " ".join(Page(render(known_incident(steps))).text)
    # Then the page does not call it contained: every step of CONTAINMENT_STEPS counts, not a list of two
    assert "NOT contained: deactivate-credentials failed: CredentialsError" in text


def test_the_responders_own_word_decides_when_nothing_was_left_to_do(aws_credentials: None) -> None:
    # Given a repeat delivery: the keys were already Inactive and the deny still in place (both steps skipped)
    steps = [
        {"name": "deactivate-keys", "status": "skipped", "detail": f"no active access key (named: {KEY})"},
        {
            "name": "deny-policy",
            "status": "skipped",
            "detail": "inline policy KeyQuarantineContainment is still in place",
        },
    ]
    evidence = known_incident(steps)
    # Then the responder's recorded verdict is shown, both ways
    evidence["response"]["contained"] = True
    assert "Contained: no active access key" in " ".join(Page(render(evidence)).text)
    evidence["response"]["contained"] = False
    assert "NOT contained: no active access key" in " ".join(Page(render(evidence)).text)


def test_each_steps_undo_is_the_one_it_declares(aws_credentials: None) -> None:
    # Given every step that declares an undo, shown as done
    declared = {step.name: step.undo for step in ALL_STEPS if step.undo}
    steps = [{"name": name, "status": "done", "detail": "did it"} for name in declared]
    text = " ".join(Page(render(known_incident(steps))).text)
    # Then the page shows each declared undo for the user, and the containment steps all declare one
    for undo in declared.values():
        command = undo("did it") if callable(undo) else str(undo)
        assert command.format(user="leaked-deployer") in text
    assert {step.name for step in CONTAINMENT_STEPS} <= set(declared)
