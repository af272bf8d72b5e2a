"""The rule pack: every rule listed explicitly (RULES.md mirrors this list; a test keeps them equal)."""

from __future__ import annotations

from key_quarantine.rules import (
    kq1_unmonitored_key,
    kq2_secret_key_exposed,
    kq3_monitoring_wrong_region,
    kq4_read_only_events_not_delivered,
    kq5_key_allows_campaign_actions,
    kq6_no_cloudtrail_trail,
    kq7_two_active_keys,
    kq8_bedrock_api_key_user,
    kq9_literal_access_key,
    kq10_abuse_detection_one_region,
)
from key_quarantine.rules.base import PACK_NAME, Finding, Level, Rule, RuleContext

ALL_RULES: tuple[Rule, ...] = (
    kq1_unmonitored_key.RULE,
    kq2_secret_key_exposed.RULE,
    kq3_monitoring_wrong_region.RULE,
    kq4_read_only_events_not_delivered.RULE,
    kq5_key_allows_campaign_actions.RULE,
    kq6_no_cloudtrail_trail.RULE,
    kq7_two_active_keys.RULE,
    kq8_bedrock_api_key_user.RULE,
    kq9_literal_access_key.RULE,
    kq10_abuse_detection_one_region.RULE,
)

RULES_BY_ID = {rule.id: rule for rule in ALL_RULES}

__all__ = ["ALL_RULES", "PACK_NAME", "RULES_BY_ID", "Finding", "Level", "Rule", "RuleContext"]
