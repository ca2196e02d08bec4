"""The e-mail subscription's filter policy against every sample message.

fixtures/messages-for-people.json holds the SNS message attributes of every sample event's
message for every outcome and priority, and whether a person reads it (`for_people` in
shared/src/output/notify.rs; shared/tests/people_and_chat.rs keeps the file current). The
policy in template.yaml must let exactly those through. It is evaluated twice: by moto's SNS
filter implementation (moto.sns.utils.FilterPolicyMatcher, what moto_server applies to
subscriptions) and by the small evaluator below, written from the SNS developer guide ("Amazon SNS
subscription filter policies", "AND/OR logic", "Key matching": every key of a policy must match;
a key's value list matches when any value does; `{"exists": false}` matches a message without
that attribute but with at least one other; `$or` takes a list of policies, one of which must
match), so a quirk of either cannot pass alone.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from moto.sns.utils import FilterPolicyMatcher

import cfn

HERE = Path(__file__).parent
MESSAGES = json.loads((HERE / "fixtures" / "messages-for-people.json").read_text())
EMAIL = cfn.load(cfn.TEMPLATE)["Resources"]["NotificationEmailSubscription"]
SUBSCRIPTION = EMAIL["Properties"]
SUBSCRIPTION_CONDITION = EMAIL["Condition"]
POLICY = SUBSCRIPTION["FilterPolicy"]


def matches(policy: dict, attributes: dict[str, str]) -> bool:
    """The documented attribute-scope semantics, for the operators the policy uses."""
    for key, rule in policy.items():
        if key == "$or":
            if not any(matches(alternative, attributes) for alternative in rule):
                return False
            continue
        if not any(value_matches(v, key, attributes) for v in rule):
            return False
    return True


def value_matches(value, key: str, attributes: dict[str, str]) -> bool:
    if isinstance(value, str):
        return attributes.get(key) == value
    if isinstance(value, dict) and set(value) == {"exists"}:
        # "exists": false only matches a message with at least one attribute.
        return (key in attributes) == value["exists"] and bool(attributes)
    raise AssertionError(f"operator {value!r} is not one this evaluator implements")


def as_sns(attributes: dict[str, str]) -> dict:
    """Attributes as SNS hands them to a filter (every one a String)."""
    return {k: {"Type": "String", "Value": v} for k, v in attributes.items()}


def moto_matches(attributes: dict[str, str]) -> bool:
    return FilterPolicyMatcher(POLICY, SUBSCRIPTION.get("FilterPolicyScope")).matches(
        as_sns(attributes), "")


def test_the_fixture_covers_every_outcome_priority_and_the_digest():
    outcomes = {m["attributes"]["outcome"] for m in MESSAGES if "outcome" in m["attributes"]}
    assert outcomes == {"applied", "proposed", "already_compliant", "deferred", "skipped", "failed"}
    assert {m["attributes"].get("priority") for m in MESSAGES} == {None, "urgent", "routine", "low"}
    assert any(m["attributes"].get("kind") == "digest" for m in MESSAGES)
    assert sum(m["for_people"] for m in MESSAGES) not in (0, len(MESSAGES))


@pytest.mark.parametrize("message", MESSAGES, ids=[m["message"] for m in MESSAGES])
def test_email_gets_exactly_what_a_person_reads(message):
    attributes = message["attributes"]
    assert matches(POLICY, attributes) == message["for_people"]
    assert moto_matches(attributes) == message["for_people"]


def test_alarms_reach_email_on_a_topic_without_a_filter():
    # CloudWatch alarms carry no message attributes, and SNS matches no filter policy against
    # a message without attributes ("exists": false included, per "Key matching"; moto's matcher
    # differs here), so they cannot share the filtered topic.
    assert not matches(POLICY, {})
    resources = cfn.load(cfn.TEMPLATE)["Resources"]
    alarms = [r["Properties"] for r in resources.values() if r["Type"] == "AWS::CloudWatch::Alarm"]
    assert alarms and all(a["AlarmActions"] == [{"Ref": "AlarmTopic"}] for a in alarms)
    subscription = resources["AlarmEmailSubscription"]
    assert subscription["Properties"]["TopicArn"] == {"Ref": "AlarmTopic"}
    assert subscription["Properties"]["Endpoint"] == {"Ref": "NotificationEmail"}
    assert "FilterPolicy" not in subscription["Properties"]
    assert subscription["Condition"] == SUBSCRIPTION_CONDITION


def test_a_message_with_another_kind_and_nothing_urgent_is_held_back():
    for attributes in ({"kind": "decision", "outcome": "proposed"},
                       {"kind": "decision", "outcome": "deferred", "priority": "routine"}):
        assert not matches(POLICY, attributes)
        assert not moto_matches(attributes)


def test_the_policy_is_within_the_documented_limits():
    # "A filter policy can have a maximum of 5 attribute names"; "The total combination of
    # values must not exceed 150" (product of the value counts, per $or alternative).
    assert SUBSCRIPTION["FilterPolicyScope"] == "MessageAttributes"
    alternatives = POLICY["$or"]
    names = {k for alternative in alternatives for k in alternative}
    assert len(names) <= 5
    for alternative in alternatives:
        combinations = 1
        for values in alternative.values():
            combinations *= len(values)
        assert combinations <= 150
    assert len(json.dumps(POLICY)) < 256 * 1024
