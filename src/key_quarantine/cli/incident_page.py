"""``key-quarantine report``: an incident's HTML page, from an evidence file or from the ledger and the bucket."""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from key_quarantine.cli.commands import CommandError
from key_quarantine.handlers import incident_report
from key_quarantine.handlers.aws import Aws
from key_quarantine.handlers.settings import Settings

EVIDENCE_LOCATION = re.compile(r"s3://([^/\s]+)/(\S+?\.json)")


def page(arguments: argparse.Namespace) -> str:
    evidence = _from_file(Path(arguments.evidence)) if arguments.evidence else _from_aws(arguments)
    if not isinstance(evidence, dict) or "incident_id" not in evidence:
        raise CommandError("the document is not a key-quarantine evidence file (no incident_id)")
    return incident_report.render(evidence)


def _from_file(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CommandError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as error:
        raise CommandError(f"{path}: cannot read it ({error})") from None
    except json.JSONDecodeError as error:
        raise CommandError(f"{path}: not JSON ({error.msg} at line {error.lineno})") from None


def _from_aws(arguments: argparse.Namespace) -> Any:
    environment = Settings.from_environment()
    table = arguments.ledger_table or environment.ledger_table
    bucket = arguments.evidence_bucket or environment.evidence_bucket
    if not table or not bucket:
        raise CommandError(
            "--incident needs --ledger-table and --evidence-bucket (or KQ_LEDGER_TABLE, KQ_EVIDENCE_BUCKET)"
        )
    aws = Aws()
    try:
        item = (
            aws.client("dynamodb")
            .get_item(TableName=table, Key={"incident_id": {"S": arguments.incident}}, ConsistentRead=True)
            .get("Item")
        )
        if item is None:
            raise CommandError(f"incident {arguments.incident} is not in the ledger {table}")
        bucket, key = _location(aws, item, bucket, arguments.incident)
        body = aws.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()
    except (ClientError, BotoCoreError) as error:
        raise CommandError(f"cannot read incident {arguments.incident}: {error}") from None
    try:
        return json.loads(body)
    except json.JSONDecodeError as error:
        raise CommandError(f"s3://{bucket}/{key}: not JSON ({error.msg})") from None


def _location(aws: Aws, item: dict[str, Any], bucket: str, incident_id: str) -> tuple[str, str]:
    """Where the ledger says the evidence went; else the newest evidence under the incident in the bucket."""
    detail = (
        item.get("steps", {}).get("M", {}).get("evidence", {}).get("M", {}).get("detail", {}).get("S", "")
    )
    found = EVIDENCE_LOCATION.search(detail)
    if found:
        return found.group(1), found.group(2)
    listed = (
        aws.client("s3")
        .list_objects_v2(Bucket=bucket, Prefix=f"incidents/{incident_id}/")
        .get("Contents", [])
    )
    documents = sorted(o["Key"] for o in listed if o["Key"].endswith(".json"))
    if not documents:
        raise CommandError(f"incident {incident_id} has no evidence in s3://{bucket}")
    return bucket, documents[-1]
