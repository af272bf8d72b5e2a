"""Seals on the ledger's word: a KMS HMAC over each "done", "claimed" and "finished" the responder writes, and
over the records that keep a notice to once (a "cannot contain" notice's claim, a refusal): a forged one would
silence the notice.

Incident ids are computable from public fields, so a principal that could write the ledger could pre-write a
"finished, every step done" item for its own user. The table's resource policy denies that to everyone but our
roles; the seal is what makes a forged item worthless even to someone who gets past it: only our roles may use
the HMAC key (``kms:GenerateMac``/``kms:VerifyMac``, its key policy), so only they can produce a seal that
verifies. An item without a valid seal is not believed: the responder answers as if the incident were new (with
the containment checked against IAM, a forged item costs at most one redundant response).

A seal binds the incident id, the attribute it vouches for and its value, so it cannot be moved to another
incident, step or time.
"""

from __future__ import annotations

import base64
import logging
from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError

if TYPE_CHECKING:
    from key_quarantine.handlers.aws import Aws

LOG = logging.getLogger("key_quarantine.ledger")
SEAL_ACTIONS = ("kms:GenerateMac", "kms:VerifyMac")
MAC_ALGORITHM = "HMAC_SHA_256"
#: The attribute beside each sealed one: ``seal:<name>``.
SEAL_PREFIX = "seal:"


class Seal:
    """Signs and verifies ledger values with one KMS HMAC key (``KQ_LEDGER_MAC_KEY``)."""

    def __init__(self, aws: Aws, key_id: str) -> None:
        self._kms = aws.client("kms")
        self._key_id = key_id

    def sign(self, incident_id: str, name: str, value: str) -> str:
        """The seal of ``value`` written as ``name`` on ``incident_id`` (raises when KMS cannot sign)."""
        answer = self._kms.generate_mac(
            KeyId=self._key_id, MacAlgorithm=MAC_ALGORITHM, Message=_message(incident_id, name, value)
        )
        return base64.b64encode(answer["Mac"]).decode()

    def verifies(self, incident_id: str, name: str, value: str, seal: str | None) -> bool:
        """False for a missing, malformed or wrong seal, and when KMS cannot say (nothing is believed then)."""
        if not seal:
            return False
        try:
            answer = self._kms.verify_mac(
                KeyId=self._key_id,
                MacAlgorithm=MAC_ALGORITHM,
                Message=_message(incident_id, name, value),
                Mac=base64.b64decode(seal, validate=True),
            )
        except (ClientError, BotoCoreError, ValueError) as error:
            LOG.warning("ledger seal of %s on %s not verified: %s", name, incident_id, error)
            return False
        return bool(answer.get("MacValid"))


def seal_name(name: str) -> str:
    return f"{SEAL_PREFIX}{name}"


def _message(incident_id: str, name: str, value: str) -> bytes:
    return "\n".join((incident_id, name, value)).encode()
