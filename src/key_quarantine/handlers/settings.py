"""The responder's settings, read once from the environment into a frozen dataclass that fails fast."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from enum import StrEnum


class ResponseMode(StrEnum):
    CONTAIN = "contain"
    NOTIFY = "notify"


class Containment(StrEnum):
    DENY_ALL = "deny-all"
    REVOKE_OLDER_SESSIONS = "revoke-older-sessions"


class SettingsError(ValueError):
    """A setting is missing or invalid; the message names it."""


@dataclass(frozen=True)
class Exemption:
    """A principal the responder only notifies about, from deployed configuration (never from a tag the key's
    holder could write). ``principal``: an IAM user name, a user ARN, or a path prefix (``/break-glass/``)."""

    principal: str
    reason: str

    def __post_init__(self) -> None:
        if not self.principal.strip() or not self.reason.strip():
            raise ValueError(
                f"an exemption needs a principal and a reason, not {self.principal!r}/{self.reason!r}"
            )
        if self.principal.startswith("/") and not self.principal.endswith("/"):
            raise ValueError(f"an exemption's path prefix starts and ends with '/', not {self.principal!r}")
        if self.principal.startswith("arn:") and ":user/" not in self.principal:
            raise ValueError(
                f"an exemption's ARN names an IAM user (arn:aws:iam::ACCOUNT:user/...), not {self.principal!r}"
            )

    def matches(self, user_name: str, arn: str, path: str) -> bool:
        if self.principal.startswith("/"):
            return path.startswith(self.principal)
        return self.principal in (user_name, arn)

    def describe(self) -> str:
        return f"{self.principal} ({self.reason})"


def revocable_role_patterns(entries: tuple[str, ...], partition: str, account: str) -> list[str]:
    """The role ARNs (``fnmatch``/IAM wildcards) ``revocable_roles`` names in ``account``: ``*`` every role, a path
    prefix (``/apps/``) the roles under it, a role name the role of that name at path ``/``, an ARN itself. The
    responder's role grants its one role action on these only, and the step checks the same patterns."""
    patterns = []
    for entry in entries:
        if entry.startswith("arn:"):
            patterns.append(entry)
            continue
        under = "*" if entry == "*" else f"{entry.strip('/')}/*" if entry.startswith("/") else entry
        patterns.append(f"arn:{partition}:iam::{account}:role/{under}".replace("role//", "role/"))
    return patterns


def check_revocable_roles(entries: tuple[str, ...]) -> None:
    for entry in entries:
        malformed = (
            not entry.strip()
            or (entry.startswith("/") and not entry.endswith("/"))
            or (entry.startswith("arn:") and ":role/" not in entry)
            or (
                entry != "*"
                and not entry.startswith(("/", "arn:"))
                and not re.fullmatch(r"[\w+=,.@-]{1,64}", entry)
            )
        )
        if malformed:
            raise ValueError(
                "a revocable role is *, a path prefix (/apps/), a role name or a role ARN "
                f"(arn:aws:iam::ACCOUNT:role/...), not {entry!r}"
            )


def exemptions_to_environment(exemptions: tuple[Exemption, ...]) -> str:
    return json.dumps([{"principal": e.principal, "reason": e.reason} for e in exemptions])


CONTAINMENT_POLICY_NAME = "KeyQuarantineContainment"
INCIDENT_TAG = "key-quarantine:incident"
CONTAINED_AT_TAG = "key-quarantine:contained-at"
DEFAULT_EXEMPT_TAG = "key-quarantine:exempt"
DRILL_TAG = "key-quarantine:drill"  # the throwaway users of `key-quarantine drill`
#: The outputs of a KeyQuarantine stack that `key-quarantine drill` reads (what it is, -> the output's name).
STACK_OUTPUTS = {"ledger": "KeyQuarantineLedgerTable", "topic": "KeyQuarantineTopicArn"}
DEFAULT_EVIDENCE_EVENT_CAP = 1000


@dataclass(frozen=True)
class Settings:
    """Everything the playbook needs to know about how to respond. Defaults are the safe, documented ones."""

    mode: ResponseMode = ResponseMode.CONTAIN
    containment: Containment = Containment.DENY_ALL
    delete_keys: bool = False
    remove_console_access: bool = False
    exempt_tag: str = DEFAULT_EXEMPT_TAG  # reported when a user carries it; it never exempts
    exemptions: tuple[
        Exemption, ...
    ] = ()  # the only exemptions: deployed configuration or the CLI's --exempt
    dry_run: bool = False
    topic_arn: str | None = None
    evidence_bucket: str | None = None
    ledger_table: str | None = None
    signals_table: str | None = None  # recent abuse calls per key, for correlation
    lookback_hours: int = 24
    regions: tuple[str, ...] = ("us-east-1",)
    evidence_event_cap: int = DEFAULT_EVIDENCE_EVENT_CAP
    security_hub: bool = False
    acting_user: str | None = None  # the IAM user running the response (the CLI's caller): never contained
    max_key_age_days: int = 90
    max_unused_key_days: int = 30
    contain_categories: frozenset[str] = frozenset()  # abuse categories that contain; the others notify
    allow_list: frozenset[str] = frozenset()  # users or key ids expected to make those calls
    member_role_name: str | None = None  # organization mode: the role assumed in a member account
    delegated_admins: frozenset[str] = frozenset()  # accounts whose events may name another account
    canary: bool = False  # the daily sweep sends a canary event down the trigger path
    second_look_queue_url: str | None = None  # the buffer queue: the delayed second look goes through it
    second_look_delay_seconds: int = 900  # after the first look (CloudTrail delivers within about 5 minutes)
    ledger_mac_key: str | None = None  # the KMS HMAC key that seals the ledger's items (ledger_seal)
    revoke_role_sessions: bool = (
        False  # deny the old sessions of roles the trail assumed (revocable_roles only)
    )
    revocable_roles: tuple[str, ...] = ()  # revocable_role_patterns: from deployed configuration only
    #: the undo watch: the roles whose calls are the pipeline's own (the responder's, the sweep's), and the
    #: operators' roles, whose tags on a user are their ``contain`` (their release is known from the ledger)
    own_role_arns: frozenset[str] = frozenset()
    operator_role_arns: frozenset[str] = frozenset()

    @classmethod
    def from_environment(cls, environment: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environment is None else environment
        try:
            return cls(
                mode=ResponseMode(env.get("KQ_MODE", ResponseMode.CONTAIN)),
                containment=Containment(env.get("KQ_CONTAINMENT", Containment.DENY_ALL)),
                delete_keys=_flag(env, "KQ_DELETE_KEYS"),
                remove_console_access=_flag(env, "KQ_REMOVE_CONSOLE_ACCESS"),
                exempt_tag=env.get("KQ_EXEMPT_TAG", DEFAULT_EXEMPT_TAG),
                exemptions=_exemptions(env.get("KQ_EXEMPTIONS", "")),
                dry_run=_flag(env, "KQ_DRY_RUN"),
                topic_arn=env.get("KQ_TOPIC_ARN") or None,
                evidence_bucket=env.get("KQ_EVIDENCE_BUCKET") or None,
                ledger_table=env.get("KQ_LEDGER_TABLE") or None,
                signals_table=env.get("KQ_SIGNALS_TABLE") or None,
                lookback_hours=_positive_int(env, "KQ_LOOKBACK_HOURS", 24),
                regions=_regions(env.get("KQ_REGIONS", "us-east-1")),
                evidence_event_cap=_positive_int(env, "KQ_EVIDENCE_EVENT_CAP", DEFAULT_EVIDENCE_EVENT_CAP),
                security_hub=_flag(env, "KQ_SECURITY_HUB"),
                max_key_age_days=_positive_int(env, "KQ_MAX_KEY_AGE_DAYS", 90),
                max_unused_key_days=_positive_int(env, "KQ_MAX_UNUSED_KEY_DAYS", 30),
                contain_categories=_names(env.get("KQ_CONTAIN_CATEGORIES", "")),
                allow_list=_names(env.get("KQ_ALLOW_LIST", "")),
                member_role_name=env.get("KQ_MEMBER_ROLE_NAME") or None,
                delegated_admins=_accounts(env.get("KQ_DELEGATED_ADMINS", "")),
                canary=_flag(env, "KQ_CANARY"),
                second_look_queue_url=env.get("KQ_SECOND_LOOK_QUEUE_URL") or None,
                second_look_delay_seconds=_positive_int(env, "KQ_SECOND_LOOK_DELAY_SECONDS", 900),
                ledger_mac_key=env.get("KQ_LEDGER_MAC_KEY") or None,
                revoke_role_sessions=_flag(env, "KQ_REVOKE_ROLE_SESSIONS"),
                revocable_roles=_revocable_roles(env.get("KQ_REVOCABLE_ROLES", "")),
                own_role_arns=_names(env.get("KQ_OWN_ROLE_ARNS", "")),
                operator_role_arns=_names(env.get("KQ_OPERATOR_ROLE_ARNS", "")),
            )
        except ValueError as error:
            raise SettingsError(f"invalid responder setting: {error}") from None

    def with_dry_run(self, dry_run: bool) -> Settings:
        return replace(self, dry_run=dry_run or self.dry_run)


def _flag(env: Mapping[str, str], name: str) -> bool:
    value = env.get(name, "false").strip().lower()
    if value not in ("true", "false", "1", "0", ""):
        raise ValueError(f"{name} must be true or false, not {value!r}")
    return value in ("true", "1")


def _positive_int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    if not raw.isdigit() or int(raw) <= 0:
        raise ValueError(f"{name} must be a positive whole number, not {raw!r}")
    return int(raw)


def _exemptions(raw: str) -> tuple[Exemption, ...]:
    if not raw.strip():
        return ()
    try:
        listed = json.loads(raw)
        return tuple(Exemption(str(item["principal"]), str(item["reason"])) for item in listed)
    except (json.JSONDecodeError, TypeError, KeyError) as error:
        raise ValueError(
            f"KQ_EXEMPTIONS must be a JSON list of {{principal, reason}}, not {raw[:80]!r}"
        ) from error


def _names(raw: str) -> frozenset[str]:
    return frozenset(name.strip() for name in raw.split(",") if name.strip())


def _accounts(raw: str) -> frozenset[str]:
    accounts = _names(raw)
    malformed = sorted(a for a in accounts if not re.fullmatch(r"\d{12}", a))
    if malformed:
        raise ValueError(f"KQ_DELEGATED_ADMINS must hold 12-digit account ids, not {', '.join(malformed)}")
    return accounts


def _revocable_roles(raw: str) -> tuple[str, ...]:
    entries = tuple(entry.strip() for entry in raw.split(",") if entry.strip())
    check_revocable_roles(entries)
    return entries


def _regions(raw: str) -> tuple[str, ...]:
    regions = tuple(region.strip() for region in raw.split(",") if region.strip())
    if not regions:
        raise ValueError("KQ_REGIONS must name at least one region")
    return regions
