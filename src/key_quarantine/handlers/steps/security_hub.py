"""Import the incident as a Security Hub finding (ASFF) when ``security_hub`` is on."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from key_quarantine.handlers.steps.base import Skip, Step
from key_quarantine.handlers.steps.notify import notification

if TYPE_CHECKING:
    from key_quarantine.handlers.playbook import Incident


def security_hub_finding(incident: Incident) -> str:
    if not incident.settings.security_hub:
        raise Skip("Security Hub findings are off")
    region = incident.settings.regions[0]
    finding = asff_finding(incident, region)
    if incident.settings.dry_run:
        return "dry run: would import a Security Hub finding"
    incident.client("securityhub", region).batch_import_findings(Findings=[finding])
    return f"imported Security Hub finding {finding['Id']}"


def asff_finding(incident: Incident, region: str) -> dict[str, Any]:
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    account = incident.trigger.account
    importer = incident.responder_account or account  # a Security Hub administrator imports for its members
    subject, message = notification(incident)
    return {
        "SchemaVersion": "2018-10-08",
        "Id": f"key-quarantine/{incident.incident_id}",
        "ProductArn": f"arn:aws:securityhub:{region}:{importer}:product/{importer}/default",
        "GeneratorId": "cdk-key-quarantine",
        "AwsAccountId": account,
        "Types": ["Unusual Behaviors/User/Exposed Credentials"],
        "CreatedAt": now,
        "UpdatedAt": now,
        "Severity": {"Label": "HIGH"},
        "Title": subject,
        "Description": message[:1024],
        "Resources": [
            {
                "Type": "AwsIamUser",
                "Id": f"arn:aws:iam::{account}:user/{incident.user_name}",
                "Region": region,
            },
            *[{"Type": "AwsIamAccessKey", "Id": key, "Region": region} for key in incident.target_keys],
        ],
    }


STEP = Step("security-hub", ("securityhub:BatchImportFindings",), security_hub_finding)
