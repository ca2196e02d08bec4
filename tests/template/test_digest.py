"""The digest (DigestFunction, functions/digest): its schedule, its own least-privilege role and
its place among the topics' publishers, in template.yaml and after the SAM transform."""

from __future__ import annotations

import pytest

import cfn
import iam_scan
import stack
from cfn import ROOT

TEMPLATE = cfn.load(cfn.TEMPLATE)
DIGEST = "DigestFunction"
SHARED_USED = [ROOT / "shared" / "src" / "output" / "notify.rs"]


def test_the_digest_is_the_one_scheduled_function():
    assert cfn.all_functions(TEMPLATE)[DIGEST] == "digest"
    assert DIGEST not in cfn.functions(TEMPLATE)


def test_its_policy_grants_exactly_what_its_code_calls():
    ops = iam_scan.catalogue(iam_scan.sdk_crate_dirs())
    services = iam_scan.package_sdk_services("decision-digest")
    scan = iam_scan.scan(iam_scan.rust_files(ROOT / "functions" / "digest" / "src") + SHARED_USED,
                         ops, services)
    assert set(scan.actions) >= {"dynamodb:Query", "sns:Publish"}
    granted = cfn.allowed_actions(cfn.function_policies(TEMPLATE, DIGEST))
    missing, unused = iam_scan.compare(set(scan.actions), granted)
    assert not missing and not unused, (missing, unused)


@pytest.mark.parametrize("parameter_set", sorted(stack.PARAMETER_SETS))
def test_schedule_role_and_publishers_after_the_transform(parameter_set):
    overrides = stack.PARAMETER_SETS[parameter_set]
    values = stack.parameters(TEMPLATE, overrides)
    resources = stack.translate(overrides)["Resources"]
    ev = cfn.Evaluator(TEMPLATE, overrides)

    (schedule,) = [r["Properties"] for r in resources.values()
                   if r["Type"] == "AWS::Scheduler::Schedule"]
    assert ev.value(schedule["ScheduleExpression"]) == f"rate({values['DigestPeriodMinutes']} minutes)"
    assert schedule["Target"]["Arn"] == {"Fn::GetAtt": [DIGEST, "Arn"]}
    assert schedule["Target"]["Input"] == '{"scheduled_time": "<aws.scheduler.scheduled-time>"}'
    assert schedule["FlexibleTimeWindow"] == {"Mode": "OFF"}

    function = resources[DIGEST]["Properties"]
    assert function["ReservedConcurrentExecutions"] == 1
    assert ev.value(function["Environment"]["Variables"]["DIGEST_PERIOD_MINUTES"]) == str(
        values["DigestPeriodMinutes"])

    # the role: Query on the by-day index only, Publish on the topics, the key through SNS
    policies = resources[f"{DIGEST}Role"]["Properties"]["Policies"]
    statements = [st for p in policies
                  for st in ev.resolve_ifs(p["PolicyDocument"])["Statement"]]
    by_sid = {st["Sid"]: st for st in statements}
    assert by_sid["ReadDecisionsByDay"]["Action"] == "dynamodb:Query"
    assert by_sid["ReadDecisionsByDay"]["Resource"] == {"Fn::Sub": "${LedgerTable.Arn}/index/by-day"}
    assert by_sid["Notify"]["Resource"] == {"Ref": "NotificationTopic"}
    chat = values["ChatPlatform"] != "none"
    assert ("NotifyChat" in by_sid) == chat
    assert by_sid["NotificationKeyThroughSns"]["Condition"] == {
        "StringEquals": {"kms:ViaService": {"Fn::Sub": "sns.${AWS::Region}.${AWS::URLSuffix}"}}}
    assert set(by_sid) <= {"ReadDecisionsByDay", "Notify", "NotifyChat", "NotificationKeyThroughSns"}

    # both topics deny every other publisher
    topic_policy = resources["NotificationTopicPolicy"]["Properties"]["PolicyDocument"]
    (only,) = [st for st in topic_policy["Statement"]
               if st["Sid"] == "OnlyResponderFunctionsAndAlarmsPublish"]
    assert {"Fn::GetAtt": [f"{DIGEST}Role", "Arn"]} in only["Condition"]["ArnNotEquals"]["aws:PrincipalArn"]
    assert ev.condition(resources["ChatTopic"]["Condition"]) == chat
    if chat:
        (chat_only,) = [st for st in resources["ChatTopicPolicy"]["Properties"]["PolicyDocument"]["Statement"]
                        if st["Sid"] == "OnlyResponderFunctionsPublish"]
        publishers = chat_only["Condition"]["ArnNotEquals"]["aws:PrincipalArn"]
        assert publishers == [{"Fn::GetAtt": [f"{fn}Role", "Arn"]}
                              for fn in [*cfn.functions(TEMPLATE), DIGEST]]
        channel = resources["SlackChannel"]["Properties"]
        assert channel["SnsTopicArns"] == [{"Ref": "ChatTopic"}]
        assert channel["GuardrailPolicies"] == [{"Ref": "ChatGuardrailPolicy"}]
        assert channel["UserRoleRequired"] is False
        assert ev.condition(resources["SlackChannel"]["Condition"])
        assert not ev.condition(resources["TeamsChannel"]["Condition"])
        guardrail = resources["ChatGuardrailPolicy"]["Properties"]["PolicyDocument"]["Statement"]
        assert [st["Effect"] for st in guardrail] == ["Deny"]
        assert "Policies" not in resources["ChatChannelRole"]["Properties"]
        for fn in cfn.functions(TEMPLATE):
            env = resources[fn]["Properties"]["Environment"]["Variables"]
            assert ev.resolve_ifs(env["CHAT_TOPIC_ARN"]) == {"Ref": "ChatTopic"}
    else:
        assert not any(ev.condition(r["Condition"]) for r in resources.values()
                       if r["Type"].startswith("AWS::Chatbot::"))
        for fn in cfn.functions(TEMPLATE):
            env = resources[fn]["Properties"]["Environment"]["Variables"]
            assert ev.resolve_ifs(env["CHAT_TOPIC_ARN"]) == ""
