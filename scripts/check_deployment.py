"""Check a deployed eks-exposure-responder stack (make check-deployment, after `sam deploy`).

    .venv/bin/python scripts/check_deployment.py [--stack NAME] [--region REGION]

1. Reads the stack's EventBridge rules and the function each one targets.
2. Runs EventBridge TestEventPattern for every rule against every events/*.json (as emitted in
   the stack's account, which the rules require), and compares the functions each event reaches
   with the `routes_to` of events/manifest.toml.
3. Invokes each function once with events/eks-closed.json (emitted in the same account), a finding whose exposure is closed:
   the function starts with its deployed configuration, parses the event and returns its
   report (outcome `skipped`, reason `closed`) without any other AWS call, message or change.
4. Prints a pass/fail table; the exit status is 1 when any row fails.

Credentials and Region come from the usual AWS settings (AWS_PROFILE, AWS_REGION, ...); the
stack name defaults to samconfig.toml's. Nothing is changed in the account.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from event_manifest import routing_table

ROOT = Path(__file__).resolve().parents[1]
EVENTS = ROOT / "events"
SAMPLE = "eks-closed.json"


@dataclass
class Row:
    check: str  # "rule", "route" or "invoke"
    subject: str  # a function or an event file
    expected: str
    actual: str
    ok: bool


# Functions no finding reaches: they run on a schedule and have no rule (DigestFunction).
SCHEDULED = {"digest"}


def function_name(logical_id: str) -> str:
    """EndpointAccessFunction -> endpoint-access (the name events/manifest.toml uses)."""
    return re.sub(r"(?<!^)([A-Z])", r"-\1", logical_id.removesuffix("Function")).lower()


def stack_resources(cloudformation: Any, stack: str) -> list[dict]:
    out, token = [], None
    while True:
        page = cloudformation.list_stack_resources(
            StackName=stack, **({"NextToken": token} if token else {}))
        out += page["StackResourceSummaries"]
        token = page.get("NextToken")
        if not token:
            return out


def deployed_rules(cloudformation: Any, events: Any, stack: str) -> tuple[dict[str, dict], list[Row]]:
    """function name -> {"rule", "pattern", "function"} for every rule of the stack, and a row
    per function saying whether exactly one rule of the stack targets it."""
    resources = stack_resources(cloudformation, stack)
    functions = {r["PhysicalResourceId"]: function_name(r["LogicalResourceId"])
                 for r in resources if r["ResourceType"] == "AWS::Lambda::Function"
                 and function_name(r["LogicalResourceId"]) not in SCHEDULED}
    rules: dict[str, list[dict]] = {name: [] for name in functions.values()}
    for resource in resources:
        if resource["ResourceType"] != "AWS::Events::Rule":
            continue
        rule = resource["PhysicalResourceId"]
        described = events.describe_rule(Name=rule)
        pattern = described["EventPattern"]
        account = described["Arn"].split(":")[4]
        for target in events.list_targets_by_rule(Rule=rule)["Targets"]:
            physical = target["Arn"].split(":function:")[-1].split(":")[0]
            name = functions.get(physical)
            if name is None:
                rules.setdefault(f"(not in the stack) {target['Arn']}", []).append({"rule": rule})
                continue
            rules[name].append({"rule": rule, "pattern": pattern, "function": physical,
                                "account": account})
    rows = [Row("rule", name, "one rule of the stack targets it",
                ", ".join(r["rule"] for r in found) or "no rule", len(found) == 1)
            for name, found in sorted(rules.items())]
    return {name: found[0] for name, found in rules.items() if len(found) == 1}, rows


def routes(events: Any, rules: dict[str, dict], table: dict[str, set[str]],
           event_dir: Path) -> list[Row]:
    """A row per events/*.json: the functions whose rules match it against the table."""
    rows = []
    for path in sorted(event_dir.glob("*.json")):
        expected = table.get(path.name)
        try:
            event = json.loads(path.read_text())
        except json.JSONDecodeError:
            reached, problems = set(), []  # EventBridge never delivers text that is not JSON
        else:
            reached, problems = set(), []
            for name, rule in sorted(rules.items()):
                try:
                    answer = events.test_event_pattern(EventPattern=rule["pattern"],
                                                       Event=as_emitted_in(event, rule["account"]))
                except Exception as error:  # noqa: BLE001 - reported in the row
                    problems.append(f"{name}: {error}")
                    continue
                if "Result" not in answer:
                    problems.append(f"{name}: TestEventPattern gave no result")
                elif answer["Result"]:
                    reached.add(name)
        if expected is None:
            rows.append(Row("route", path.name, "an entry in events/manifest.toml", "no entry", False))
            continue
        actual = "; ".join(problems) if problems else show(reached)
        rows.append(Row("route", path.name, show(expected), actual,
                        not problems and reached == expected))
    return rows


def as_emitted_in(event: dict, account: str) -> str:
    """The sample as Security Hub would emit it in the stack's account: the rules accept only
    events emitted there (the samples carry an example account in the envelope)."""
    return json.dumps({**event, "account": account}) if isinstance(event, dict) else json.dumps(event)


def show(functions: set[str]) -> str:
    return ", ".join(sorted(functions)) or "-"


def invoke(lambda_client: Any, rules: dict[str, dict], sample: Path) -> list[Row]:
    """A row per function: invoked once with the sample, it must return its own report of a
    skipped, closed exposure."""
    rows = []
    event = json.loads(sample.read_text())
    for name, rule in sorted(rules.items()):
        expected = f"report of {name}: skipped (closed)"
        payload = as_emitted_in(event, rule["account"]).encode()
        try:
            answer = lambda_client.invoke(FunctionName=rule["function"],
                                          InvocationType="RequestResponse", Payload=payload)
        except Exception as error:  # noqa: BLE001 - reported in the row
            rows.append(Row("invoke", name, expected, f"invoke failed: {error}", False))
            continue
        body = answer["Payload"].read().decode("utf-8", "replace")
        if answer.get("FunctionError"):
            rows.append(Row("invoke", name, expected,
                            f"function error {answer['FunctionError']}: {body[:200]}", False))
            continue
        try:
            report = json.loads(body)
        except json.JSONDecodeError:
            report = None
        if not isinstance(report, dict):
            rows.append(Row("invoke", name, expected, f"not a report: {body[:200]!r}", False))
            continue
        actual = (f"report of {report.get('function')}: {report.get('outcome')} "
                  f"({report.get('reason_code')})")
        rows.append(Row("invoke", name, expected, actual, actual == expected))
    return rows


def check(cloudformation: Any, events: Any, lambda_client: Any, stack: str,
          event_dir: Path = EVENTS) -> list[Row]:
    table = routing_table(event_dir / "manifest.toml")
    rules, rows = deployed_rules(cloudformation, events, stack)
    # functions events/manifest.toml routes to that the stack does not even have
    unknown = set().union(*table.values()) - {r.subject for r in rows}
    rows += [Row("rule", name, "deployed (events/manifest.toml routes events to it)",
                 "no such function in the stack", False) for name in sorted(unknown)]
    rows += routes(events, rules, table, event_dir)
    rows += invoke(lambda_client, rules, event_dir / SAMPLE)
    return rows


def render(rows: list[Row]) -> str:
    header = ("result", "check", "subject", "expected", "actual")
    cells = [("PASS" if r.ok else "FAIL", r.check, r.subject, r.expected, r.actual) for r in rows]
    widths = [max(len(c[i]) for c in [header, *cells]) for i in range(4)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths)) + "  " + header[4]]
    lines += ["  ".join(c.ljust(w) for c, w in zip(cell, widths)) + "  " + cell[4]
              for cell in cells]
    failed = sum(not r.ok for r in rows)
    lines.append(f"{len(rows) - failed} passed, {failed} failed")
    return "\n".join(lines)


def default_stack() -> str:
    config = tomllib.loads((ROOT / "samconfig.toml").read_text()).get("default", {})
    for section in ("deploy", "global"):
        name = config.get(section, {}).get("parameters", {}).get("stack_name")
        if name:
            return name
    return "eks-exposure-responder"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stack", default=default_stack(), help="stack name (samconfig.toml's)")
    parser.add_argument("--region", help="Region of the stack (default: AWS_REGION / profile)")
    args = parser.parse_args(argv)

    import boto3  # from .venv; imported here so the checks above run without it

    session = boto3.Session(region_name=args.region)
    rows = check(session.client("cloudformation"), session.client("events"),
                 session.client("lambda"), args.stack)
    print(f"stack {args.stack} in {session.region_name}")
    print(render(rows))
    return 0 if all(r.ok for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
