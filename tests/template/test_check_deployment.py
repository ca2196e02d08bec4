"""scripts/check_deployment.py (make check-deployment), against fakes and against moto.

moto is weak where this script matters most: its EventBridge TestEventPattern is not
implemented (moto 5.2.5 answers without a `Result`), and without Docker its Lambda runs no
code (it answers with the results queued through moto's /moto-api). So the comparison
logic is tested with fakes: a fake EventBridge whose TestEventPattern is the quamina matcher
of test_routing.py (the real patterns against the real events), and fakes that misroute,
fail or answer with the wrong report. Against moto the script runs end to end on a stack
deployed from the translated template: it must read the rules, ask TestEventPattern for
every rule and JSON event (and report moto's missing answer as a failure), and invoke
every function by its deployed name.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import requests

import cfn
import stack
from cfn import ROOT
from test_routing import EVENTS, deployed_in, expand_or, match, matcher  # noqa: F401  (matcher: a fixture)

sys.path.insert(0, str(ROOT / "scripts"))
import check_deployment  # noqa: E402
from event_manifest import routing_table  # noqa: E402

TEMPLATE = cfn.load(cfn.TEMPLATE)
FUNCTIONS = cfn.functions(TEMPLATE)  # logical id -> name
TABLE = routing_table(EVENTS / "manifest.toml")
ACCOUNT = "123456789012"  # the fake stack's account, unlike the samples' envelope

def is_json(path: Path) -> bool:
    try:
        json.loads(path.read_text())
    except json.JSONDecodeError:
        return False
    return True


JSON_EVENTS = sorted(p.name for p in EVENTS.glob("*.json") if is_json(p))
ALL_EVENTS = sorted(p.name for p in EVENTS.glob("*.json"))


# ------------------------------------------------------------------------------------------
# Fakes
# ------------------------------------------------------------------------------------------


class FakeCloudFormation:
    def __init__(self, without: set[str] = frozenset()):
        self.resources = []
        for logical_id, resource in TEMPLATE["Resources"].items():
            kind = {"AWS::Serverless::Function": "AWS::Lambda::Function"}.get(
                resource["Type"], resource["Type"])
            if logical_id not in without:
                self.resources.append({"LogicalResourceId": logical_id, "ResourceType": kind,
                                       "PhysicalResourceId": f"stack-{logical_id}-X1"})

    def list_stack_resources(self, StackName, NextToken=None):  # noqa: N803 (boto3's names)
        assert StackName == "stack"
        half = len(self.resources) // 2  # two pages, as a long stack has
        if NextToken is None:
            return {"StackResourceSummaries": self.resources[:half], "NextToken": "page-2"}
        return {"StackResourceSummaries": self.resources[half:]}


class FakeEvents:
    """describe_rule / list_targets_by_rule from the template; TestEventPattern by `answer`."""

    def __init__(self, answer):
        self.answer = answer
        self.asked: list[tuple[str, str]] = []
        self.rules = {}
        for rule_id, rule in cfn.resources_of_type(TEMPLATE, "AWS::Events::Rule").items():
            (target,) = rule["Properties"]["Targets"]
            function = target["Arn"]["Fn::GetAtt"][0]
            self.rules[f"stack-{rule_id}-X1"] = (
                json.dumps(deployed_in(rule["Properties"]["EventPattern"], ACCOUNT)),
                f"arn:aws:lambda:us-east-1:123456789012:function:stack-{function}-X1")

    def describe_rule(self, Name):  # noqa: N803
        return {"Name": Name, "EventPattern": self.rules[Name][0],
                "Arn": f"arn:aws:events:us-east-1:{ACCOUNT}:rule/{Name}"}

    def list_targets_by_rule(self, Rule):  # noqa: N803
        return {"Targets": [{"Id": "t", "Arn": self.rules[Rule][1]}]}

    def test_event_pattern(self, EventPattern, Event):  # noqa: N803
        pattern, event = json.loads(EventPattern), json.loads(Event)
        self.asked.append((EventPattern, Event))
        return self.answer(pattern, event)


class FakeLambda:
    def __init__(self, answer=None):
        self.answer = answer or (lambda name, payload: {"Payload": report(name)})
        self.invoked: list[str] = []

    def invoke(self, FunctionName, InvocationType, Payload):  # noqa: N803
        assert InvocationType == "RequestResponse"
        closed = json.loads((EVENTS / "eks-closed.json").read_text())
        assert json.loads(Payload) == {**closed, "account": ACCOUNT}  # as the rule delivers it
        self.invoked.append(FunctionName)
        name = FUNCTIONS[FunctionName.removeprefix("stack-").removesuffix("-X1")]
        out = dict(self.answer(name, Payload))
        out["Payload"] = io.BytesIO(out["Payload"].encode())
        return out


def report(function: str, outcome: str = "skipped", reason_code: str = "closed") -> str:
    return json.dumps({"function": function, "outcome": outcome, "reason_code": reason_code})


@pytest.fixture(scope="module")
def eventbridge_like(matcher):  # noqa: F811
    """TestEventPattern as EventBridge answers it: the quamina matcher on the $or expansion."""
    def answer(pattern: dict, event: dict) -> dict:
        alternatives = [(str(i), alt) for i, alt in enumerate(expand_or(pattern))]
        return {"Result": bool(match(matcher, alternatives, {"e": event}).get("e"))}
    return answer


def rows_by(rows, check):
    return {r.subject: r for r in rows if r.check == check}


# ------------------------------------------------------------------------------------------
# The comparison logic
# ------------------------------------------------------------------------------------------


def test_a_correct_deployment_passes_every_row(eventbridge_like):
    events, lam = FakeEvents(eventbridge_like), FakeLambda()
    rows = check_deployment.check(FakeCloudFormation(), events, lam, "stack")
    assert [(r.check, r.subject, r.actual) for r in rows if not r.ok] == []
    assert set(rows_by(rows, "rule")) == set(FUNCTIONS.values())
    assert set(rows_by(rows, "route")) == set(ALL_EVENTS)
    assert set(rows_by(rows, "invoke")) == set(FUNCTIONS.values())
    # every rule asked about every JSON event, once, as emitted in the stack's account; never
    # about a file that is not JSON
    assert len(events.asked) == len(FUNCTIONS) * len(JSON_EVENTS)
    assert {json.loads(event)["account"] for _, event in events.asked} == {ACCOUNT}
    assert sorted(lam.invoked) == sorted(f"stack-{f}-X1" for f in FUNCTIONS)
    assert check_deployment.render(rows).splitlines()[-1] == f"{len(rows)} passed, 0 failed"


def test_a_misrouted_event_fails_its_row_with_both_sides(eventbridge_like):
    def misses_vulnerabilities(pattern, event):
        answer = eventbridge_like(pattern, event)
        if json.dumps(pattern).count("inspector") and event["id"] == high_priority_id():
            return {"Result": False}
        return answer

    rows = check_deployment.check(FakeCloudFormation(), FakeEvents(misses_vulnerabilities),
                                  FakeLambda(), "stack")
    failed = [(r.subject, r.expected, r.actual) for r in rows if not r.ok]
    assert failed == [("eks-high-priority-vulnerability.json",
                       "container-vulnerabilities, endpoint-access", "endpoint-access")]


def high_priority_id() -> str:
    return json.loads((EVENTS / "eks-high-priority-vulnerability.json").read_text())["id"]


def test_a_rule_that_matches_everything_fails_every_row_that_should_not_reach_it(eventbridge_like):
    def endpoint_rule_matches_all(pattern, event):
        if "EKS.1" in json.dumps(pattern):
            return {"Result": True}
        return eventbridge_like(pattern, event)

    rows = check_deployment.check(FakeCloudFormation(), FakeEvents(endpoint_rule_matches_all),
                                  FakeLambda(), "stack")
    failed = {r.subject for r in rows if not r.ok}
    assert failed == {f for f in JSON_EVENTS if "endpoint-access" not in TABLE[f]}


def test_no_answer_from_test_event_pattern_is_a_failure_not_a_miss():
    rows = check_deployment.check(FakeCloudFormation(), FakeEvents(lambda p, e: {}),
                                  FakeLambda(), "stack")
    routes = rows_by(rows, "route")
    assert {f for f, r in routes.items() if not r.ok} == set(JSON_EVENTS)
    assert "TestEventPattern gave no result" in routes["eks-closed.json"].actual


def test_a_missing_rule_fails_and_its_function_is_not_invoked(eventbridge_like):
    lam = FakeLambda()
    rows = check_deployment.check(FakeCloudFormation(without={"KubernetesVersionRule"}),
                                  FakeEvents(eventbridge_like), lam, "stack")
    rules = rows_by(rows, "rule")
    assert not rules["kubernetes-version"].ok and rules["kubernetes-version"].actual == "no rule"
    assert "stack-KubernetesVersionFunction-X1" not in lam.invoked
    routed_there = {f for f, r in TABLE.items() if "kubernetes-version" in r}
    assert {r.subject for r in rows if r.check == "route" and not r.ok} == routed_there


@pytest.mark.parametrize("answer,actual", [
    (lambda name, _: {"Payload": report(name)}, None),
    (lambda name, _: {"Payload": '{"errorType":"AccessDenied"}', "FunctionError": "Unhandled"},
     "function error Unhandled"),
    (lambda name, _: {"Payload": report("endpoint-access")}, "report of endpoint-access"),
    (lambda name, _: {"Payload": report(name, "proposed", "mode_propose")}, "proposed"),
    (lambda name, _: {"Payload": "Simple Lambda happy path OK"}, "not a report"),
])
def test_invocation_must_return_the_functions_own_report_of_a_closed_exposure(answer, actual):
    rows = check_deployment.invoke(FakeLambda(answer),
                                   {"secrets-encryption": {"function": "stack-SecretsEncryptionFunction-X1",
                                                           "account": ACCOUNT}},
                                   EVENTS / "eks-closed.json")
    (row,) = rows
    assert row.ok is (actual is None), row
    if actual:
        assert actual in row.actual


def test_function_names_follow_the_logical_ids():
    assert {check_deployment.function_name(k) for k in FUNCTIONS} == set(FUNCTIONS.values())


# ------------------------------------------------------------------------------------------
# End to end against moto
# ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def moto_stack() -> str:
    """The translated template (defaults) deployed into moto, its Lambda without Docker."""
    name = "checked-deployment"
    stack.upload_code()
    template, _ = stack.for_moto(stack.translate({}))
    description = stack.deploy(name, template, stack.parameters(TEMPLATE, {}))
    assert description["StackStatus"] == "CREATE_COMPLETE"
    config = requests.post(f"{stack.endpoint()}/moto-api/config",
                           json={"lambda": {"use_docker": False}}, timeout=10)
    assert config.status_code == 201, config.text
    return name


def run_script(stack_name: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "AWS_ENDPOINT_URL": stack.endpoint(), "AWS_ACCESS_KEY_ID": "testing",
           "AWS_SECRET_ACCESS_KEY": "testing"}
    return subprocess.run([sys.executable, str(ROOT / "scripts" / "check_deployment.py"),
                           "--stack", stack_name, "--region", stack.REGION],
                          env=env, capture_output=True, text=True, timeout=120, check=False)


def table_rows(stdout: str) -> dict[tuple[str, str], str]:
    """(check, subject) -> the table line."""
    out = {}
    for line in stdout.splitlines():
        parts = line.split()
        if len(parts) > 3 and parts[0] in ("PASS", "FAIL"):
            out[(parts[1], parts[2])] = line
    return out


def test_against_moto_rules_are_read_every_pattern_is_asked_and_every_function_invoked(moto_stack):
    # moto without Docker answers invocations from a queue: queue each function's report in
    # the order the script invokes them (by function name)
    results = [report(name) for name in sorted(FUNCTIONS.values())]
    queued = requests.post(f"{stack.endpoint()}/moto-api/static/lambda-simple/response",
                           json={"results": results, "region": stack.REGION}, timeout=10)
    assert queued.status_code == 201, queued.text

    out = run_script(moto_stack)
    assert out.returncode == 1, out.stdout + out.stderr  # moto cannot answer TestEventPattern
    rows = table_rows(out.stdout)
    for function in FUNCTIONS.values():
        assert rows[("rule", function)].startswith("PASS"), out.stdout
        assert rows[("invoke", function)].startswith("PASS"), out.stdout
    for name in ALL_EVENTS:
        line = rows[("route", name)]
        if name in JSON_EVENTS:
            assert line.startswith("FAIL") and "TestEventPattern gave no result" in line, line
        else:  # not JSON: EventBridge never delivers it, and the table says so
            assert line.startswith("PASS"), line
    assert out.stdout.splitlines()[-1] == f"{2 * len(FUNCTIONS) + len(ALL_EVENTS) - len(JSON_EVENTS)} passed, {len(JSON_EVENTS)} failed"
