"""Alarms reach the topic, the dashboard is valid JSON and shows the functions' EMF metrics,
and nothing that fails is dropped silently (retry policy, dead-letter queue, on-failure destination)."""

from __future__ import annotations

import json
import re

import pytest

import cfn

TEMPLATE = cfn.load(cfn.TEMPLATE)
FUNCTIONS = cfn.functions(TEMPLATE)  # logical id -> name
RESOURCES = TEMPLATE["Resources"]
OUTCOMES = ["applied", "proposed", "already_compliant", "deferred", "skipped", "failed"]
TRAITS = ["public_endpoint", "unsupported_version", "unencrypted_secrets",
          "exploitable_vulnerability", "vulnerability"]
TOPIC = {"Ref": "AlarmTopic"}  # alarms carry no attributes: a topic the e-mail gets unfiltered


def alarms() -> list[dict]:
    return [r["Properties"] for r in cfn.resources_of_type(TEMPLATE, "AWS::CloudWatch::Alarm").values()]


def rule_target(logical_id: str) -> dict:
    (target,) = [t for r in cfn.resources_of_type(TEMPLATE, "AWS::Events::Rule").values()
                 for t in r["Properties"]["Targets"]
                 if t["Arn"] == {"Fn::GetAtt": [logical_id, "Arn"]}]
    return target


@pytest.mark.parametrize("logical_id", sorted(FUNCTIONS))
def test_every_function_alarms_on_errors_throttles_failed_decisions_failed_notifications_and_dead_letters(logical_id):
    queue = rule_target(logical_id)["DeadLetterConfig"]["Arn"]["Fn::GetAtt"][0]
    own = ({"FunctionName": {"Ref": logical_id}},  # AWS/Lambda
           {"Function": FUNCTIONS[logical_id], "Outcome": "failed"},  # the functions' EMF
           {"Function": FUNCTIONS[logical_id]},  # the functions' EMF, any outcome
           {"QueueName": {"Fn::GetAtt": [queue, "QueueName"]}})  # AWS/SQS
    by_metric = {(a["Namespace"], a["MetricName"]): a for a in alarms()
                 if {d["Name"]: d["Value"] for d in a["Dimensions"]} in own}
    assert set(by_metric) == {
        ("AWS/Lambda", "Errors"), ("AWS/Lambda", "Throttles"),
        ("EksExposureResponder", "Findings"), ("EksExposureResponder", "NotificationFailures"),
        ("AWS/SQS", "ApproximateNumberOfMessagesVisible")}
    for a in by_metric.values():
        assert a["AlarmActions"] == [TOPIC]
        assert (a["ComparisonOperator"], a["Threshold"]) == ("GreaterThanThreshold", 0)


@pytest.mark.parametrize("logical_id", sorted(FUNCTIONS))
def test_no_event_is_lost(logical_id):
    target = rule_target(logical_id)
    assert target["RetryPolicy"] == {"MaximumRetryAttempts": 185, "MaximumEventAgeInSeconds": 86400}
    queue_id = target["DeadLetterConfig"]["Arn"]["Fn::GetAtt"][0]
    queue = RESOURCES[queue_id]["Properties"]
    assert queue["SqsManagedSseEnabled"] is True
    assert queue["MessageRetentionPeriod"] == 1209600  # 14 days, the SQS maximum
    invoke = RESOURCES[logical_id]["Properties"]["EventInvokeConfig"]
    assert invoke["DestinationConfig"]["OnFailure"] == {
        "Type": "SQS", "Destination": {"Fn::GetAtt": [queue_id, "Arn"]}}
    # the queue accepts EventBridge's dead letters from this function's rule only
    (policy,) = [r["Properties"] for r in cfn.resources_of_type(TEMPLATE, "AWS::SQS::QueuePolicy").values()
                 if r["Properties"]["Queues"] == [{"Ref": queue_id}]]
    allow = [st for st in policy["PolicyDocument"]["Statement"] if st["Effect"] == "Allow"]
    (rule_id,) = [k for k, r in cfn.resources_of_type(TEMPLATE, "AWS::Events::Rule").items()
                  if target in r["Properties"]["Targets"]]
    assert allow == [{
        "Sid": "RuleDeadLetters", "Effect": "Allow", "Principal": {"Service": "events.amazonaws.com"},
        "Action": "sqs:SendMessage", "Resource": {"Fn::GetAtt": [queue_id, "Arn"]},
        "Condition": {"ArnEquals": {"aws:SourceArn": {"Fn::GetAtt": [rule_id, "Arn"]}}}}]


def test_topic_is_encrypted_with_a_key_cloudwatch_may_use():
    topic = RESOURCES["NotificationTopic"]["Properties"]
    assert topic["KmsMasterKeyId"] == {"Fn::GetAtt": ["NotificationKey", "Arn"]}
    key_policy = RESOURCES["NotificationKey"]["Properties"]["KeyPolicy"]["Statement"]
    assert any(st["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
               and set(st["Action"]) == {"kms:GenerateDataKey*", "kms:Decrypt"} for st in key_policy)
    # No function role in the key policy (key -> role -> topic -> key would be a cycle): each
    # role grants itself the key, through SNS only.
    assert [st["Principal"] for st in key_policy] == [
        {"AWS": {"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:root"}},
        {"Service": "cloudwatch.amazonaws.com"}]
    for logical_id in FUNCTIONS:
        (key_use,) = [st for doc in cfn.function_policies(TEMPLATE, logical_id)
                      for st in doc["Statement"] if st.get("Sid") == "NotificationKeyThroughSns"]
        assert key_use == {
            "Sid": "NotificationKeyThroughSns", "Effect": "Allow",
            "Action": ["kms:GenerateDataKey*", "kms:Decrypt"],
            "Resource": {"Fn::GetAtt": ["NotificationKey", "Arn"]},
            "Condition": {"StringEquals": {
                "kms:ViaService": {"Fn::Sub": "sns.${AWS::Region}.${AWS::URLSuffix}"}}}}, logical_id


def rendered_dashboard() -> dict:
    body, variables = RESOURCES["Dashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]
    names = set(re.findall(r"\$\{([^}!]+)\}", body))
    assert names <= set(variables) | set(TEMPLATE["Parameters"]) | set(RESOURCES) | {
        "AWS::StackName", "AWS::Region"}, names
    return json.loads(re.sub(r"\$\{([^}!]+)\}", lambda m: m.group(1).replace(":", "-"), body))


def test_dashboard_shows_every_outcome_trait_function_and_queue():
    dashboard = rendered_dashboard()
    text = json.dumps(dashboard)
    expressions = [m[0]["expression"] for w in dashboard["widgets"] if w["type"] == "metric"
                   for m in w["properties"]["metrics"] if isinstance(m[0], dict)]
    assert all("{EksExposureResponder,Function,Outcome,Trait}" in e for e in expressions)
    for outcome in OUTCOMES:
        assert any(f'Outcome="{outcome}"' in e for e in expressions), outcome
    for trait in TRAITS:
        assert any(f'Trait="{trait}"' in e for e in expressions), trait
    for logical_id in FUNCTIONS:
        assert text.count(f'"{logical_id}"') == 2  # Lambda errors and duration
    assert text.count("ApproximateNumberOfMessagesVisible") == len(FUNCTIONS)
