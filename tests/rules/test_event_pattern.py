"""Tests for the EventBridge event pattern evaluator (key_quarantine.rules.event_pattern).

Expected results come from the EventBridge user guide and, where it is silent, from TestEventPattern
cases that were validated against AWS (anything-but on a missing or null field, exists on an empty
array or an object, numbers compared by value). A differential test checks agreement with moto's
EventBridge matcher over the cases moto gets right.
"""

from __future__ import annotations

import copy
import json
import pickle
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from key_quarantine.rules import event_pattern
from key_quarantine.rules.event_pattern import CompiledPattern, EventPatternError, matches, parse_pattern
from tests.samples import sample_event

QUARANTINE_POLICY_PREFIX = "arn:aws:iam::aws:policy/AWSCompromisedKeyQuarantine"
ATTACH_QUARANTINE_RULE: dict[str, Any] = {
    "source": ["aws.iam"],
    "detail-type": ["AWS API Call via CloudTrail"],
    "detail": {
        "eventSource": ["iam.amazonaws.com"],
        "eventName": ["AttachUserPolicy"],
        "requestParameters": {"policyArn": [{"prefix": QUARANTINE_POLICY_PREFIX}]},
    },
}
HEALTH_RISK_RULE: dict[str, Any] = {
    "source": ["aws.health"],
    "detail": {"service": ["RISK"], "eventTypeCode": [{"prefix": "AWS_RISK_"}]},
}
CLOUDTRAIL_SAMPLE = "cloudtrail-attach-quarantine.json"
HEALTH_SAMPLES = ("health-credentials-exposed.json", "health-credentials-exposed.aws-health-tools.json")


# ---------------------------------------------------------------------------------------------
# Sample events from ../shared/events (packaged copies: tests/samples.py)


def test_attach_quarantine_rule_matches_the_cloudtrail_sample() -> None:
    # Given the rule for AWS attaching a quarantine policy, matched on a policy ARN prefix
    rule = parse_pattern(ATTACH_QUARANTINE_RULE)
    # When it sees the AttachUserPolicy CloudTrail event for ...QuarantineV3
    matched = rule.matches(sample_event(CLOUDTRAIL_SAMPLE))
    # Then it matches
    assert matched


def test_attach_quarantine_rule_ignores_other_policies() -> None:
    # Given the CloudTrail sample with an ordinary policy attached instead
    event = sample_event(CLOUDTRAIL_SAMPLE)
    event["detail"]["requestParameters"]["policyArn"] = "arn:aws:iam::aws:policy/ReadOnlyAccess"
    # When the quarantine rule evaluates it
    matched = matches(ATTACH_QUARANTINE_RULE, event)
    # Then it does not match
    assert not matched


def test_attach_quarantine_rule_given_as_json_text_matches_like_the_object() -> None:
    # Given the rule as CloudFormation may carry it: EventPattern as a JSON string
    text = json.dumps(ATTACH_QUARANTINE_RULE)
    # When both forms evaluate the sample
    from_text = matches(text, sample_event(CLOUDTRAIL_SAMPLE))
    from_object = matches(ATTACH_QUARANTINE_RULE, sample_event(CLOUDTRAIL_SAMPLE))
    # Then they agree, and match
    assert from_text is from_object is True


@pytest.mark.parametrize("name", HEALTH_SAMPLES)
def test_health_risk_rule_matches_both_health_samples(name: str) -> None:
    # Given the AWS Health RISK rule
    rule = parse_pattern(HEALTH_RISK_RULE)
    # When it sees a credentials-exposed Health event, old or new shape
    matched = rule.matches(sample_event(name))
    # Then it matches
    assert matched


def test_health_risk_rule_ignores_the_cloudtrail_sample_and_other_services() -> None:
    # Given the Health rule, and a Health sample moved to another service
    rule = parse_pattern(HEALTH_RISK_RULE)
    other_service = sample_event(HEALTH_SAMPLES[0])
    other_service["detail"]["service"] = "EC2"
    # When it evaluates those and the CloudTrail sample
    results = [rule.matches(other_service), rule.matches(sample_event(CLOUDTRAIL_SAMPLE))]
    # Then neither matches
    assert results == [False, False]


@pytest.mark.parametrize(
    ("matcher", "expected"),
    [
        ({"prefix": "AKIA"}, {HEALTH_SAMPLES[0]: True, HEALTH_SAMPLES[1]: False}),
        ({"exists": True}, {HEALTH_SAMPLES[0]: True, HEALTH_SAMPLES[1]: True}),
        ("ACCESS_KEY_ID_HERE", {HEALTH_SAMPLES[0]: False, HEALTH_SAMPLES[1]: True}),
    ],
)
def test_pattern_on_affected_entities_reads_the_array_of_objects(
    matcher: object, expected: dict[str, bool]
) -> None:
    # Given a pattern on detail.affectedEntities.entityValue, where affectedEntities is an array
    rule = parse_pattern({"detail": {"affectedEntities": {"entityValue": [matcher]}}})
    # When it evaluates each Health sample
    results = {name: rule.matches(sample_event(name)) for name in HEALTH_SAMPLES}
    # Then each element's entityValue counts as a value at that path
    assert results == expected


# ---------------------------------------------------------------------------------------------
# Every operator, positive and negative, on a present value


def field_matches(matchers: list[Any], value: object) -> bool:
    """Whether ``{"detail": {"f": matchers}}`` matches an event whose detail.f is ``value``."""
    return matches({"detail": {"f": matchers}}, {"source": "test", "detail": {"f": value}})


OPERATOR_CASES: list[tuple[str, list[Any], object, bool]] = [
    # Literals: exact, of the same JSON kind; numbers by value.
    ("string", ["abc"], "abc", True),
    ("string differs", ["abc"], "abd", False),
    ("string is case-sensitive", ["abc"], "ABC", False),
    ("empty string", [""], "", True),
    ("one of several values", ["a", "b", "c"], "b", True),
    ("number", [5], 5, True),
    ("number equals its float", [5], 5.0, True),
    ("float equals its integer", [300.0], 300, True),
    ("number differs", [5], 6, False),
    ("string 5 is not number 5", ["5"], 5, False),
    ("number 5 is not string 5", [5], "5", False),
    ("boolean", [True], True, True),
    ("boolean differs", [False], True, False),
    ("true is not 1", [True], 1, False),
    ("1 is not true", [1], True, False),
    ("0 is not false", [0], False, False),
    ("null", [None], None, True),
    ("null is not the string null", [None], "null", False),
    ("string null is not null", ["null"], None, False),
    ("IP literal compares addresses", ["2001:db8::1"], "2001:0db8:0000:0000:0000:0000:0000:0001", True),
    ("IP literal differs", ["10.0.0.1"], "10.0.0.2", False),
    # prefix
    ("prefix", [{"prefix": QUARANTINE_POLICY_PREFIX}], QUARANTINE_POLICY_PREFIX + "V4", True),
    ("prefix differs", [{"prefix": QUARANTINE_POLICY_PREFIX}], "arn:aws:iam::aws:policy/Admin", False),
    ("prefix is case-sensitive", [{"prefix": "AWS_RISK_"}], "aws_risk_x", False),
    ("prefix never matches a number", [{"prefix": "1"}], 12, False),
    ("empty prefix matches any string", [{"prefix": ""}], "anything", True),
    ("empty prefix does not match null", [{"prefix": ""}], None, False),
    ("prefix ignoring case", [{"prefix": {"equals-ignore-case": "EventB"}}], "eVENTbridge", True),
    ("prefix ignoring case differs", [{"prefix": {"equals-ignore-case": "EventB"}}], "xeventb", False),
    # suffix
    ("suffix", [{"suffix": ".png"}], "image.png", True),
    ("suffix differs", [{"suffix": ".png"}], "image.PNG", False),
    ("suffix never matches a number", [{"suffix": "5"}], 15, False),
    ("suffix ignoring case", [{"suffix": {"equals-ignore-case": ".png"}}], "IMAGE.PNG", True),
    ("suffix ignoring case differs", [{"suffix": {"equals-ignore-case": ".png"}}], "image.jpg", False),
    # equals-ignore-case
    ("equals ignoring case", [{"equals-ignore-case": "alice"}], "ALICE", True),
    ("equals ignoring case differs", [{"equals-ignore-case": "alice"}], "alicia", False),
    ("equals ignoring case needs the whole value", [{"equals-ignore-case": "al"}], "alice", False),
    ("equals ignoring case never matches a number", [{"equals-ignore-case": "5"}], 5, False),
    # wildcard
    ("wildcard", [{"wildcard": "arn:aws:iam::*:user/*"}], "arn:aws:iam::123:user/bob", True),
    ("wildcard differs", [{"wildcard": "arn:aws:iam::*:user/*"}], "arn:aws:iam::123:role/bob", False),
    ("wildcard star matches nothing", [{"wildcard": "he*l"}], "hel", True),
    ("wildcard must match the whole value", [{"wildcard": "he*l"}], "hello", False),
    ("wildcard star alone matches empty", [{"wildcard": "*"}], "", True),
    ("wildcard star crosses newlines", [{"wildcard": "a*z"}], "a\nz", True),
    ("empty wildcard matches only empty", [{"wildcard": ""}], "x", False),
    ("escaped star is literal", [{"wildcard": "a\\*b"}], "a*b", True),
    ("escaped star is not a wildcard", [{"wildcard": "a\\*b"}], "axb", False),
    ("escaped backslash is literal", [{"wildcard": "a\\\\b"}], "a\\b", True),
    ("wildcard never matches a number", [{"wildcard": "*"}], 5, False),
    # anything-but
    ("anything-but string", [{"anything-but": "initializing"}], "running", True),
    ("anything-but string excluded", [{"anything-but": "initializing"}], "initializing", False),
    ("anything-but list", [{"anything-but": ["stopped", "overloaded"]}], "running", True),
    ("anything-but list excluded", [{"anything-but": ["stopped", "overloaded"]}], "stopped", False),
    ("anything-but number", [{"anything-but": 123}], 789, True),
    ("anything-but number excluded by value", [{"anything-but": [100, 200]}], 100.0, False),
    ("anything-but number keeps strings", [{"anything-but": 5}], "5", True),
    ("anything-but string keeps numbers", [{"anything-but": "5"}], 5, True),
    ("anything-but matches null", [{"anything-but": "initializing"}], None, True),
    ("anything-but matches booleans", [{"anything-but": ["true"]}], True, True),
    ("anything-but prefix", [{"anything-but": {"prefix": "init"}}], "post-init", True),
    ("anything-but prefix excluded", [{"anything-but": {"prefix": "init"}}], "init-x", False),
    ("anything-but prefix keeps numbers", [{"anything-but": {"prefix": "1"}}], 12, True),
    ("anything-but prefix list", [{"anything-but": {"prefix": ["init", "post"]}}], "post-init", False),
    ("anything-but suffix", [{"anything-but": {"suffix": ".txt"}}], "file.txt.bak", True),
    ("anything-but suffix excluded", [{"anything-but": {"suffix": ".txt"}}], "file.txt", False),
    ("anything-but ignoring case", [{"anything-but": {"equals-ignore-case": "init"}}], "done", True),
    (
        "anything-but ignoring case excluded",
        [{"anything-but": {"equals-ignore-case": "init"}}],
        "INIT",
        False,
    ),
    ("anything-but ignoring case list", [{"anything-but": {"equals-ignore-case": ["a", "b"]}}], "B", False),
    ("anything-but wildcard", [{"anything-but": {"wildcard": "*/lib/*"}}], "src/main.py", True),
    ("anything-but wildcard excluded", [{"anything-but": {"wildcard": "*/lib/*"}}], "x/lib/y", False),
    ("anything-but wildcard list", [{"anything-but": {"wildcard": ["*/lib/*", "*.md"]}}], "a.md", False),
    # numeric
    ("numeric less than", [{"numeric": ["<", 10]}], 9.99, True),
    ("numeric less than is exclusive", [{"numeric": ["<", 10]}], 10, False),
    ("numeric at most", [{"numeric": ["<=", 10]}], 10.0, True),
    ("numeric more than", [{"numeric": [">", 0]}], 0.000001, True),
    ("numeric more than is exclusive", [{"numeric": [">", 0]}], 0, False),
    ("numeric at least", [{"numeric": [">=", 0]}], 0, True),
    ("numeric equals", [{"numeric": ["=", 3.018e2]}], 301.8, True),
    ("numeric equals differs", [{"numeric": ["=", 5]}], 5.000001, False),
    ("numeric range", [{"numeric": [">", 0, "<=", 5]}], 5, True),
    ("numeric range above", [{"numeric": [">", 0, "<=", 5]}], 5.5, False),
    ("numeric range below", [{"numeric": [">=", 0, "<", 5]}], -1, False),
    ("numeric ignores numeric strings", [{"numeric": [">", 0]}], "300", False),
    ("numeric ignores booleans", [{"numeric": [">", 0]}], True, False),
    ("numeric ignores null", [{"numeric": ["<", 0]}], None, False),
    # exists
    ("exists true", [{"exists": True}], "x", True),
    ("exists true on null", [{"exists": True}], None, True),
    ("exists false on a value", [{"exists": False}], "x", False),
    # cidr
    ("cidr", [{"cidr": "10.0.0.0/24"}], "10.0.0.255", True),
    ("cidr outside", [{"cidr": "10.0.0.0/24"}], "10.0.1.0", False),
    ("cidr not an address", [{"cidr": "10.0.0.0/24"}], "10.0.0.256", False),
    ("cidr ignores host bits", [{"cidr": "10.0.0.77/24"}], "10.0.0.1", True),
    ("cidr IPv6", [{"cidr": "2001:db8:1234:1a00::/64"}], "2001:0db8:1234:1a00:0000:0000:0000:0001", True),
    ("cidr IPv6 outside", [{"cidr": "2001:db8:1234:1a00::/64"}], "2001:db8:123f:1a01::", False),
    ("cidr IPv4 never contains IPv6", [{"cidr": "0.0.0.0/0"}], "::1", False),
    ("cidr ignores numbers", [{"cidr": "0.0.0.0/0"}], 167772161, False),
    ("cidr ignores non-addresses", [{"cidr": "0.0.0.0/0"}], "AWS Internal", False),
    # several matchers in one array: any of them
    ("any matcher of the array", [{"prefix": "x"}, {"numeric": [">", 1]}], 2, True),
    ("no matcher of the array", [{"prefix": "x"}, {"numeric": [">", 1]}], "y", False),
]


@pytest.mark.parametrize(
    ("matchers", "value", "expected"),
    [pytest.param(m, v, e, id=name) for name, m, v, e in OPERATOR_CASES],
)
def test_operator_on_a_present_value(matchers: list[Any], value: object, expected: bool) -> None:
    # Given a pattern on detail.f, and an event whose detail.f holds one value
    # When the pattern evaluates the event
    result = field_matches(matchers, value)
    # Then it matches exactly when EventBridge documents that it does
    assert result is expected


MISSING_FIELD_CASES: list[tuple[str, Any, bool]] = [
    ("literal", "x", False),
    ("null literal", None, False),
    ("prefix", {"prefix": ""}, False),
    ("suffix", {"suffix": ""}, False),
    ("equals-ignore-case", {"equals-ignore-case": ""}, False),
    ("wildcard", {"wildcard": "*"}, False),
    # Validated against AWS: anything-but needs a value; a missing field does not satisfy it.
    ("anything-but", {"anything-but": "initializing"}, False),
    ("anything-but prefix", {"anything-but": {"prefix": "init"}}, False),
    ("numeric", {"numeric": [">", 0]}, False),
    ("cidr", {"cidr": "0.0.0.0/0"}, False),
    ("exists true", {"exists": True}, False),
    ("exists false", {"exists": False}, True),
]


@pytest.mark.parametrize(
    ("matcher", "expected"), [pytest.param(m, e, id=name) for name, m, e in MISSING_FIELD_CASES]
)
def test_operator_on_a_missing_field(matcher: object, expected: bool) -> None:
    # Given a pattern on detail.f, and an event whose detail has no f at all
    event = {"detail": {"other": "x"}}
    # When the pattern evaluates the event
    result = matches({"detail": {"f": [matcher]}}, event)
    # Then only exists: false matches
    assert result is expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param({"c1": 100}, True, id="object-valued field"),
        pytest.param({}, True, id="empty object"),
        pytest.param([], True, id="empty array"),
        pytest.param([{"other": 1}], True, id="array of objects without the field"),
        pytest.param(None, False, id="null is a value"),
        pytest.param("", False, id="empty string is a value"),
    ],
)
def test_exists_false_looks_at_leaf_values_only(value: object, expected: bool) -> None:
    # Given {"exists": false} on detail.c-count ("exists matching only works on leaf nodes")
    pattern = {"detail": {"c-count": [{"exists": False}]}}
    # When detail.c-count holds no leaf value (an object, [], ...) or holds one
    result = matches(pattern, {"detail": {"c-count": value}})
    # Then exists: false matches only the former, and exists: true the opposite
    assert result is expected
    assert (
        matches({"detail": {"c-count": [{"exists": True}]}}, {"detail": {"c-count": value}}) is not expected
    )


# ---------------------------------------------------------------------------------------------
# Arrays in events


@pytest.mark.parametrize(
    ("matchers", "value", "expected"),
    [
        pytest.param(["b"], ["a", "b"], True, id="literal in array"),
        pytest.param(["c"], ["a", "b"], False, id="literal not in array"),
        pytest.param([{"numeric": [">", 10]}], [1, 20], True, id="numeric on any element"),
        pytest.param([{"prefix": "a"}], [["x"], ["y", "ab"]], True, id="nested arrays are flattened"),
        pytest.param(["x"], [], False, id="empty array has no value"),
        pytest.param([{"anything-but": "stopped"}], ["stopped", "running"], True, id="anything-but any"),
        pytest.param([{"anything-but": "stopped"}], ["stopped", "stopped"], False, id="anything-but all"),
        pytest.param([{"anything-but": "stopped"}], [], False, id="anything-but on empty array"),
    ],
)
def test_array_values_match_when_any_element_matches(
    matchers: list[Any], value: object, expected: bool
) -> None:
    # Given an event whose detail.f is an array ("the intersection ... is non-empty")
    # When a pattern on detail.f evaluates it
    result = field_matches(matchers, value)
    # Then each element is a value of its own, anything-but included
    assert result is expected


def test_array_of_objects_contributes_every_elements_fields() -> None:
    # Given an event with an array of objects, as AWS Health's affectedEntities
    event = {"detail": {"entities": [{"id": "AKIA1"}, {"id": "AKIA2", "extra": {"deep": [1, 2]}}]}}
    # When patterns address fields inside the elements
    second = matches({"detail": {"entities": {"id": ["AKIA2"]}}}, event)
    deep = matches({"detail": {"entities": {"extra": {"deep": [2]}}}}, event)
    missing = matches({"detail": {"entities": {"id": ["AKIA3"]}}}, event)
    # Then every element's values count at the element's path
    assert (second, deep, missing) == (True, True, False)


def test_fields_inside_an_array_may_match_in_different_elements() -> None:
    # Given two fields that match in different elements of one array
    event = {"employees": [{"first": "John", "last": "Doe"}, {"first": "Anna", "last": "Jones"}]}
    pattern = {"employees": {"first": ["Anna"], "last": ["Doe"]}}
    # When the pattern evaluates the event
    result = matches(pattern, event)
    # Then it matches: we flatten each path on its own, as the EventBridge guide describes. (event-ruler's
    # newer rulesForJSONEvent refuses such cross-element matches; the guide says nothing of it.)
    assert result


def test_keys_with_dots_name_the_same_path_as_nested_keys() -> None:
    # Given a pattern and events that spell detail.state.status nested or with a dot in a key
    nested = {"detail": {"state": {"status": "running"}}}
    dotted = {"detail": {"state.status": "running"}}
    # When patterns spell the path either way (paths are dot-joined; validated against AWS)
    results = [
        matches({"detail": {"state": {"status": ["running"]}}}, dotted),
        matches({"detail": {"state.status": ["running"]}}, nested),
    ]
    # Then both match
    assert results == [True, True]


# ---------------------------------------------------------------------------------------------
# AND across fields, $or


def test_all_fields_must_match() -> None:
    # Given a pattern on two fields
    pattern = {"source": ["aws.iam"], "detail": {"eventName": ["AttachUserPolicy"]}}
    # When one field matches and the other does not, or both do
    one = matches(pattern, {"source": "aws.iam", "detail": {"eventName": "DetachUserPolicy"}})
    both = matches(pattern, {"source": "aws.iam", "detail": {"eventName": "AttachUserPolicy"}})
    # Then only both matching is a match
    assert (one, both) == (False, True)


OR_PATTERN: dict[str, Any] = {
    "source": ["aws.cloudwatch"],
    "$or": [
        {"metricName": ["CPUUtilization"]},
        {
            "metricType": ["MetricType"],
            "$or": [{"metricId": [1234]}, {"spaceId": [{"numeric": [">", 1000]}]}],
        },
    ],
    "detail": {"$or": [{"source": ["a"]}, {"detail-type": [{"prefix": "b"}]}]},
}


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        pytest.param(
            {"source": "aws.cloudwatch", "metricName": "CPUUtilization", "detail": {"source": "a"}},
            True,
            id="first branch",
        ),
        pytest.param(
            {
                "source": "aws.cloudwatch",
                "metricType": "MetricType",
                "spaceId": 1001,
                "detail": {"detail-type": "bx"},
            },
            True,
            id="nested or in second branch",
        ),
        pytest.param(
            {
                "source": "aws.cloudwatch",
                "metricType": "MetricType",
                "spaceId": 999,
                "detail": {"source": "a"},
            },
            False,
            id="nested or fails",
        ),
        pytest.param(
            {"source": "aws.cloudwatch", "metricName": "CPUUtilization", "detail": {"source": "z"}},
            False,
            id="parallel or in detail fails",
        ),
        pytest.param(
            {"source": "aws.ec2", "metricName": "CPUUtilization", "detail": {"source": "a"}},
            False,
            id="sibling key fails",
        ),
    ],
)
def test_or_needs_one_branch_together_with_the_other_keys(event: dict[str, Any], expected: bool) -> None:
    # Given a pattern with a top-level $or (one branch holding another $or) and a $or inside detail
    compiled = parse_pattern(OR_PATTERN)
    # When it evaluates the event
    result = compiled.matches(event)
    # Then every $or needs one matching branch, and the other keys must match too
    assert result is expected


# ---------------------------------------------------------------------------------------------
# Numeric edge cases


@pytest.mark.parametrize(
    ("numeric", "value", "expected"),
    [
        pytest.param(["=", 0], -0.0, True, id="negative zero equals zero"),
        pytest.param(["<", 0], -1e-9, True, id="tiny negative"),
        pytest.param([">=", -5, "<=", -1], -5, True, id="negative range inclusive"),
        pytest.param([">", 1e9], 1_000_000_001, True, id="large integer"),
        pytest.param(["=", 9007199254740993], 9007199254740993, True, id="integer beyond float precision"),
        pytest.param(["=", 0.1], 0.1, True, id="decimal fraction"),
        pytest.param([">=", 1.5, "<", 2.5], 2.5, False, id="open upper bound"),
        pytest.param([">=", 1.5, "<", 2.5], 1.5, True, id="closed lower bound"),
        pytest.param([">", 0, "<", 1], [5, 0.5], True, id="any element of an array"),
    ],
)
def test_numeric_edges(numeric: list[Any], value: object, expected: bool) -> None:
    # Given a numeric matcher
    # When it meets a value at or near its bounds
    result = field_matches([{"numeric": numeric}], value)
    # Then the bounds are exactly as written and numbers compare by value
    assert result is expected


# ---------------------------------------------------------------------------------------------
# Invalid patterns: each raises EventPatternError naming the path


INVALID_PATTERNS: list[tuple[str, object, str]] = [
    ("empty pattern", {}, "empty object"),
    ("not JSON", "{source: aws.iam}", "not valid JSON"),
    ("JSON array", "[1, 2]", "must be a JSON object"),
    ("empty nested object", {"detail": {}}, "detail: an empty object"),
    ("leaf not an array", {"source": "aws.iam"}, "source: must be an object or an array"),
    ("nested leaf not an array", {"detail": {"eventName": "Attach"}}, "detail.eventName: must be"),
    ("empty array", {"detail": {"eventName": []}}, "detail.eventName: an empty array"),
    ("array inside array", {"detail": {"eventName": [["x"]]}}, "detail.eventName[0]: a match value"),
    ("unknown operator", {"detail": {"eventName": [{"contains": "x"}]}}, "detail.eventName[0]: unknown"),
    ("operator is case-sensitive", {"detail": {"x": [{"PREFIX": "a"}]}}, "detail.x[0]: unknown operator"),
    ("two keys in an operator", {"x": [{"prefix": "a", "suffix": "b"}]}, "x[0]: an operator object"),
    ("empty operator object", {"x": [{}]}, "x[0]: an operator object"),
    ("non-string key", {1: ["a"]}, "field name 1"),
    ("non-finite number", {"x": [float("nan")]}, "x[0]: nan is not a finite number"),
    ("prefix not a string", {"detail": {"x": [{"prefix": 1}]}}, "detail.x[0].prefix: must be a string"),
    ("prefix list", {"x": [{"prefix": ["a"]}]}, "x[0].prefix: must be a string"),
    (
        "prefix ignore case number",
        {"x": [{"prefix": {"equals-ignore-case": 1}}]},
        "prefix.equals-ignore-case",
    ),
    ("prefix unknown object", {"x": [{"prefix": {"wildcard": "a"}}]}, "x[0].prefix: must be"),
    ("suffix not a string", {"x": [{"suffix": 1}]}, "x[0].suffix: must be a string"),
    ("equals-ignore-case list", {"x": [{"equals-ignore-case": ["a"]}]}, "x[0].equals-ignore-case"),
    ("wildcard consecutive stars", {"x": [{"wildcard": "a**b"}]}, "x[0].wildcard: consecutive"),
    ("wildcard bad escape", {"x": [{"wildcard": "a\\b"}]}, "x[0].wildcard: invalid escape"),
    ("wildcard trailing backslash", {"x": [{"wildcard": "a\\"}]}, "x[0].wildcard: invalid escape"),
    ("wildcard not a string", {"x": [{"wildcard": 1}]}, "x[0].wildcard: 1 is not a string"),
    ("numeric not an array", {"x": [{"numeric": 10}]}, "x[0].numeric: must be one comparison"),
    ("numeric incomplete", {"x": [{"numeric": [">", 0, "<"]}]}, "x[0].numeric: must be one comparison"),
    ("numeric string operand", {"x": [{"numeric": [">", "1"]}]}, "x[0].numeric: '1' is not a finite"),
    ("numeric boolean operand", {"x": [{"numeric": [">", True]}]}, "x[0].numeric: True is not"),
    ("numeric unknown operator", {"x": [{"numeric": ["!=", 1]}]}, "x[0].numeric: unknown numeric operator"),
    ("numeric two lower bounds", {"x": [{"numeric": [">", 0, ">", 5]}]}, "x[0].numeric: a range must"),
    ("numeric upper bound first", {"x": [{"numeric": ["<", 10, ">=", 0]}]}, "x[0].numeric: a range must"),
    ("numeric empty range", {"x": [{"numeric": [">=", 5, "<", 5]}]}, "x[0].numeric: the lower bound"),
    ("numeric too long", {"x": [{"numeric": [">", 0, "<", 5, "<", 6]}]}, "x[0].numeric: must be"),
    ("exists not a boolean", {"x": [{"exists": "true"}]}, "x[0].exists: must be true or false"),
    ("cidr without mask", {"ip": [{"cidr": "10.0.0.0"}]}, "ip[0].cidr: must be an IP address"),
    ("cidr bad mask", {"ip": [{"cidr": "10.0.0.0/x"}]}, "ip[0].cidr: must be an IP address"),
    ("cidr bad address", {"ip": [{"cidr": "xx.11.xx/8"}]}, "ip[0].cidr: 'xx.11.xx' is not"),
    ("cidr full IPv4 mask", {"ip": [{"cidr": "10.0.0.1/32"}]}, "ip[0].cidr: the prefix length"),
    ("cidr full IPv6 mask", {"ip": [{"cidr": "2001:db8::1/128"}]}, "ip[0].cidr: the prefix length"),
    ("cidr list", {"ip": [{"cidr": ["10.0.0.0/8"]}]}, "ip[0].cidr: ['10.0.0.0/8'] is not a string"),
    ("anything-but null", {"x": [{"anything-but": None}]}, "x[0].anything-but: must be a string"),
    ("anything-but boolean", {"x": [{"anything-but": True}]}, "x[0].anything-but: must be"),
    ("anything-but empty list", {"x": [{"anything-but": []}]}, "x[0].anything-but: must be"),
    ("anything-but mixed list", {"x": [{"anything-but": ["a", 1]}]}, "x[0].anything-but: must be"),
    ("anything-but null in list", {"x": [{"anything-but": ["a", None]}]}, "x[0].anything-but: must be"),
    ("anything-but empty prefix", {"x": [{"anything-but": {"prefix": ""}}]}, "anything-but.prefix: an empty"),
    ("anything-but empty suffix", {"x": [{"anything-but": {"suffix": ""}}]}, "anything-but.suffix: an empty"),
    (
        "anything-but prefix ignoring case",
        {"x": [{"anything-but": {"prefix": {"equals-ignore-case": "a"}}}]},
        "x[0].anything-but.prefix: {'equals-ignore-case': 'a'} is not a string",
    ),
    (
        "anything-but numeric",
        {"x": [{"anything-but": {"numeric": [">", 1]}}]},
        "x[0].anything-but: an object",
    ),
    (
        "anything-but two operators",
        {"x": [{"anything-but": {"prefix": "a", "suffix": "b"}}]},
        "anything-but:",
    ),
    ("anything-but prefix number", {"x": [{"anything-but": {"prefix": [1]}}]}, "anything-but.prefix[0]: 1"),
    ("anything-but bad wildcard", {"x": [{"anything-but": {"wildcard": "a**"}}]}, "anything-but.wildcard:"),
    ("or not an array", {"$or": {"a": ["b"]}}, "$or: must be an array of at least two"),
    ("or with one branch", {"$or": [{"a": ["b"]}]}, "$or: must be an array of at least two"),
    (
        "or branch not an object",
        {"detail": {"$or": [{"a": ["b"]}, ["c"]]}},
        "detail.$or[1]: must be a pattern",
    ),
    ("or empty branch", {"$or": [{"a": ["b"]}, {}]}, "$or[1]: an empty object"),
    ("operator name inside or", {"$or": [{"prefix": ["a"]}, {"b": ["c"]}]}, '$or[0].prefix: "prefix" is'),
    (
        "error inside an or branch",
        {"detail": {"$or": [{"a": ["b"]}, {"eventName": [{"prefix": 1}]}]}},
        "detail.$or[1].eventName[0].prefix: must be a string",
    ),
]


@pytest.mark.parametrize(
    ("pattern", "message"), [pytest.param(p, m, id=name) for name, p, m in INVALID_PATTERNS]
)
def test_invalid_pattern_raises_naming_the_path(pattern: Any, message: str) -> None:
    # Given a pattern EventBridge would reject
    # When it is parsed
    with pytest.raises(EventPatternError) as raised:
        parse_pattern(pattern)
    # Then the error names the path and the problem
    assert message in str(raised.value)


def test_event_pattern_error_is_a_value_error_carrying_its_path() -> None:
    # Given an invalid pattern deep inside detail
    # When it is parsed
    with pytest.raises(ValueError, match=r"detail\.eventName") as raised:
        parse_pattern({"detail": {"eventName": "AttachUserPolicy"}})
    # Then the error is an EventPatternError that exposes the path and the problem separately
    assert isinstance(raised.value, EventPatternError)
    assert (raised.value.path, raised.value.problem) == ("detail.eventName", "must be an object or an array")
    assert str(pickle.loads(pickle.dumps(raised.value))) == str(raised.value)  # noqa: S301 - our own bytes


# ---------------------------------------------------------------------------------------------
# Compile once, match many


def test_compiled_pattern_matches_without_parsing_again(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a compiled pattern, the events, and parsing made impossible afterwards
    compiled = parse_pattern(json.dumps(HEALTH_RISK_RULE))
    events = [sample_event(name) for name in (*HEALTH_SAMPLES, CLOUDTRAIL_SAMPLE)]

    def refuse(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("matches() must not parse or compile the pattern again")

    monkeypatch.setattr(json, "loads", refuse)
    monkeypatch.setattr(event_pattern, "_compile_object", refuse)
    monkeypatch.setattr(event_pattern, "_compile_matcher", refuse)
    # When it evaluates the events
    results = [compiled.matches(event) for event in events]
    # Then it still answers, from the compiled matchers alone
    assert isinstance(compiled, CompiledPattern)
    assert results == [True, True, False]


def test_matching_leaves_the_event_unchanged() -> None:
    # Given a sample event and its pristine copy
    event = sample_event(HEALTH_SAMPLES[0])
    before = copy.deepcopy(event)
    # When a pattern evaluates it
    matches(HEALTH_RISK_RULE, event)
    # Then the event is untouched
    assert event == before


def test_an_event_must_be_a_mapping() -> None:
    # Given a compiled pattern
    compiled = parse_pattern(HEALTH_RISK_RULE)
    # When it is handed JSON text instead of a decoded event
    # Then it says so rather than guessing
    with pytest.raises(TypeError, match="must be a JSON object"):
        compiled.matches(json.dumps(sample_event(HEALTH_SAMPLES[0])))  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------
# Properties

SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 5),
    st.sampled_from([0.5, 2.0, -1.5]),
    st.text(alphabet="aAbB5", max_size=3),
)


@settings(max_examples=150, deadline=None, derandomize=True)
@given(excluded=st.lists(st.text(alphabet="aAbB5", max_size=3), min_size=1, max_size=3), value=SCALARS)
def test_anything_but_is_the_complement_of_the_literals_on_a_present_value(
    excluded: list[str], value: object
) -> None:
    # Given a present scalar value, a list of strings, and anything-but of that list
    # When both patterns evaluate the value
    kept = field_matches([{"anything-but": excluded}], value)
    listed = field_matches(list(excluded), value)
    # Then exactly one of them matches
    assert kept is not listed


# ---------------------------------------------------------------------------------------------
# Differential test against moto's EventBridge matcher
#
# moto (moto.events.models.EventPattern) implements the same operators. The generator stays inside
# what moto gets right. Left out, each with its AWS-documented behaviour tested explicitly above:
# - Arrays of objects and nested arrays. moto does not flatten arrays, so a pattern on a field inside
#   array elements never matches. See test_pattern_on_affected_entities_reads_the_array_of_objects,
#   test_array_of_objects_contributes_every_elements_fields and the "nested arrays" case.
# - Empty arrays and empty objects. moto's exists: true matches them, though they hold no leaf value.
#   See test_exists_false_looks_at_leaf_values_only.
# - Booleans in events. moto compares with Python's ==, so true equals 1 and passes numeric and
#   anything-but checks as a number. See the cases "true is not 1" and "numeric ignores booleans".
# - Strings with line breaks. moto's wildcard star stops at a newline. See "wildcard star crosses newlines".
# - Numbers against cidr. moto turns an integer into an IPv4 address. See "cidr ignores numbers". The
#   generated numbers are small and no generated network holds 0.0.0.x, so they cannot collide.
# - Invalid patterns, which moto accepts: an empty pattern (moto matches every event), a prefix list,
#   numeric bounds in any order. Every generated pattern is valid.

KEYS = st.sampled_from(["a", "b", "c"])
STRINGS = [
    "", "abc", "ABC", "abcd", "xabc", "a*c", "a.b", "init", "post-init",
    "10.0.0.1", "10.0.1.7", "192.168.1.20", "2001:db8::1",
]  # fmt: skip
NUMBERS = [0, 1, 5, 5.0, -3, 2.5, 10, 100]
LEAVES = st.one_of(st.sampled_from(STRINGS), st.sampled_from(NUMBERS), st.none())
TEXTS = st.sampled_from(["", "a", "ab", "abc", "A", "c", "init", "10."])
NON_EMPTY_TEXTS = st.sampled_from(["a", "ab", "abc", "A", "c", "init"])
WILDCARDS = st.sampled_from(["*", "", "a*", "*c", "a*c", "*b*", "a\\*c", "A*", "10.*", "init"])
CIDRS = st.sampled_from(["10.0.0.0/24", "10.0.0.0/8", "192.168.1.0/24", "2001:db8::/32"])


def _one_or_list(values: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return values | st.lists(values, min_size=1, max_size=3)


def _numeric_arguments() -> st.SearchStrategy[list[Any]]:
    numbers = st.sampled_from(NUMBERS)
    one = st.tuples(st.sampled_from(["=", "<", "<=", ">", ">="]), numbers).map(list)
    bounds = st.tuples(st.sampled_from([">", ">="]), numbers, st.sampled_from(["<", "<="]), numbers)
    return one | bounds.filter(lambda b: b[1] < b[3]).map(list)


def _anything_but_arguments() -> st.SearchStrategy[Any]:
    return st.one_of(
        st.sampled_from(STRINGS),
        st.sampled_from(NUMBERS),
        st.lists(st.sampled_from(STRINGS), min_size=1, max_size=3),
        st.lists(st.sampled_from(NUMBERS), min_size=1, max_size=3),
        _one_or_list(NON_EMPTY_TEXTS).map(lambda v: {"prefix": v}),
        _one_or_list(NON_EMPTY_TEXTS).map(lambda v: {"suffix": v}),
        _one_or_list(TEXTS).map(lambda v: {"equals-ignore-case": v}),
        _one_or_list(WILDCARDS).map(lambda v: {"wildcard": v}),
    )


MATCHERS = st.one_of(
    LEAVES,
    TEXTS.map(lambda v: {"prefix": v}),
    TEXTS.map(lambda v: {"prefix": {"equals-ignore-case": v}}),
    TEXTS.map(lambda v: {"suffix": v}),
    TEXTS.map(lambda v: {"suffix": {"equals-ignore-case": v}}),
    TEXTS.map(lambda v: {"equals-ignore-case": v}),
    WILDCARDS.map(lambda v: {"wildcard": v}),
    _anything_but_arguments().map(lambda v: {"anything-but": v}),
    _numeric_arguments().map(lambda v: {"numeric": v}),
    st.booleans().map(lambda v: {"exists": v}),
    CIDRS.map(lambda v: {"cidr": v}),
)


def _pattern_objects(members: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    plain = st.dictionaries(KEYS, members, min_size=1, max_size=2)
    with_or = st.builds(
        lambda others, branches: {**others, "$or": branches},
        st.dictionaries(KEYS, members, max_size=1),
        st.lists(plain, min_size=2, max_size=3),
    )
    return plain | with_or


PATTERN_MEMBERS = st.recursive(st.lists(MATCHERS, min_size=1, max_size=3), _pattern_objects, max_leaves=5)
PATTERNS = _pattern_objects(PATTERN_MEMBERS)
EVENT_VALUES = st.recursive(
    LEAVES | st.lists(LEAVES, min_size=1, max_size=3),
    lambda children: st.dictionaries(KEYS, children, min_size=1, max_size=3),
    max_leaves=8,
)
EVENTS = st.dictionaries(KEYS, EVENT_VALUES, max_size=3)


def _events_like(pattern: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
    """Events shaped like ``pattern`` (its keys, nesting and literals), so that many of them match."""
    members: dict[str, list[Any]] = {}

    def collect(obj: dict[str, Any]) -> None:
        for key, member in obj.items():
            if key == "$or":
                for branch in member:
                    collect(branch)
            else:
                members.setdefault(key, []).append(member)

    collect(pattern)
    shaped = {key: st.one_of(*map(_values_like, found)) for key, found in members.items()}
    return st.fixed_dictionaries(shaped) | st.fixed_dictionaries({}, optional=shaped)


def _values_like(member: Any) -> st.SearchStrategy[Any]:
    if isinstance(member, dict):
        return _events_like(member).filter(bool)  # never {}: see the exclusions above
    literals = [m for m in member if not isinstance(m, dict)] or STRINGS
    leaves = st.sampled_from(literals) | LEAVES
    return leaves | st.lists(leaves, min_size=1, max_size=3) | EVENT_VALUES


PATTERNS_AND_EVENTS = PATTERNS.flatmap(
    lambda pattern: st.tuples(st.just(pattern), _events_like(pattern) | EVENTS)
)


def _moto_matches(pattern: dict[str, Any], event: dict[str, Any]) -> bool:
    from moto.events.models import EventPattern  # noqa: PLC0415 - heavy import, only for this test

    moto_event: Any = event
    result: bool = EventPattern.load(json.dumps(pattern)).matches_event(moto_event)
    return result


@settings(max_examples=400, deadline=None, derandomize=True)
@given(case=PATTERNS_AND_EVENTS)
def test_agrees_with_moto_where_moto_follows_the_docs(case: tuple[dict[str, Any], dict[str, Any]]) -> None:
    # Given a generated valid pattern and an event (often shaped like it) inside moto's correct subset
    pattern, event = case
    # When both implementations evaluate them
    ours = parse_pattern(pattern).matches(event)
    theirs = _moto_matches(pattern, event)
    # Then they agree
    assert ours == theirs, f"pattern={json.dumps(pattern)} event={json.dumps(event)}"
