"""template.yaml's EventBridge rules route each sample event in events/ exactly as
events/manifest.toml's `routes_to` says (and events/README.md's table is generated from it).

Matcher: the `quamina` crate (0.7.0), a Rust port of Tim Bray's quamina, an EventBridge-style
pattern matcher maintained outside this project, run through tests/template/matcher. It
implements every operator the rules use - exact strings and numbers (2004 matches 2004.0, not
"2004"), `prefix`, `suffix`, `wildcard`, `anything-but` - and enforces array consistency like
AWS Event Ruler (fields matched inside objects of one array must come from the same element).
It has no `$or`; EventBridge defines `$or` as "matches if any alternative matches", so
expand_or() rewrites each rule into its $or-free alternatives, all under the rule's function.
Rejected candidates: moto's EventPattern (implements `$or`, but does not look into arrays of
objects, so `detail.findings.*` never matches) and PyPI event-ruler 0.3.0 (a 2023 quamina
build: errors on these events, no `$or`, x86_64 wheel only).

The rules are written so that no match depends on array consistency: every $or alternative
under finding_info.related_events tests one field of one contributing finding, and the other
fields sit in the event's only finding (test_patterns_do_not_depend_on_array_consistency).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import cfn
from cfn import ROOT

sys.path.insert(0, str(ROOT / "scripts"))
import event_manifest  # noqa: E402
from event_manifest import routing_table  # noqa: E402  (shared with scripts/check_deployment.py)

EVENTS = ROOT / "events"
MATCHER = Path(__file__).parent / "matcher"

TEMPLATE = cfn.load(cfn.TEMPLATE)
# The rules pin `account` (where Security Hub emitted the event: the aggregating account, the
# stack's own) to AWS::AccountId. Every sample was emitted in SAMPLE_ACCOUNT, so the rules are
# read as deployed there.
SAMPLE_ACCOUNT = "444455556666"
OWN_ACCOUNT = {"Ref": "AWS::AccountId"}


def deployed_in(node, account: str):
    """The pattern with AWS::AccountId resolved to `account`."""
    if node == OWN_ACCOUNT:
        return account
    if isinstance(node, dict):
        return {k: deployed_in(v, account) for k, v in node.items()}
    if isinstance(node, list):
        return [deployed_in(v, account) for v in node]
    return node


RAW_RULES = cfn.rules_by_function(TEMPLATE)
RULES = {function: [(rule_id, deployed_in(pattern, SAMPLE_ACCOUNT)) for rule_id, pattern in rules]
         for function, rules in RAW_RULES.items()}  # function -> [(rule id, pattern)]


def expand_or(pattern: dict) -> list[dict]:
    """The $or-free patterns whose union matches what `pattern` matches."""
    alternatives: list[dict] = [{}]
    for key, value in pattern.items():
        if key == "$or":
            options = [alt for branch in value for alt in expand_or(branch)]
        elif isinstance(value, dict):
            options = [{key: alt} for alt in expand_or(value)]
        else:
            options = [{key: value}]
        alternatives = [merge(a, o) for a in alternatives for o in options]
    return alternatives


def merge(a: dict, b: dict) -> dict:
    out = dict(a)
    for key, value in b.items():
        if key in out:
            if not (isinstance(out[key], dict) and isinstance(value, dict)):
                raise ValueError(f"$or alternative repeats the field {key!r}")
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


TABLE = routing_table()


@pytest.fixture(scope="session")
def matcher() -> Path:
    target = ROOT / "target" / "template-matcher"
    subprocess.run(
        ["cargo", "build", "--release", "--locked", "--quiet",
         "--manifest-path", str(MATCHER / "Cargo.toml")],
        check=True, env={**os.environ, "CARGO_TARGET_DIR": str(target)},
    )
    return target / "release" / "template-pattern-matcher"


def match(matcher: Path, patterns: list[tuple[str, dict]], events: dict[str, dict]) -> dict:
    request = {"patterns": [{"id": i, "pattern": p} for i, p in patterns], "events": events}
    out = subprocess.run([str(matcher)], input=json.dumps(request), capture_output=True,
                         text=True, check=False)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def load_events() -> dict[str, dict | None]:
    """Every events/*.json file; None for one that is not JSON (EventBridge never sees it)."""
    out: dict[str, dict | None] = {}
    for path in sorted(EVENTS.glob("*.json")):
        try:
            out[path.name] = json.loads(path.read_text())
        except json.JSONDecodeError:
            out[path.name] = None
    return out


@pytest.fixture(scope="module")
def routes(matcher) -> dict[str, set[str]]:
    """file -> the functions whose rules match it."""
    patterns = [(function, alt) for function, rules in RULES.items()
                for _, pattern in rules for alt in expand_or(pattern)]
    events = {k: v for k, v in load_events().items() if v is not None}
    result = match(matcher, patterns, events)
    errors = {k: v for k, v in result.items() if isinstance(v, dict)}
    assert not errors, f"the matcher rejected events: {errors}"
    return {name: set(result.get(name, [])) for name in load_events()}


def test_every_function_has_exactly_one_rule():
    assert {f: len(r) for f, r in RULES.items()} == {f: 1 for f in RULES}


def test_the_table_lists_every_sample_event_and_only_existing_files():
    assert set(TABLE) == set(load_events()), "events/manifest.toml vs events/*.json"
    unknown = {f: r - set(RULES) for f, r in TABLE.items() if r - set(RULES)}
    assert not unknown, f"`routes_to` names functions template.yaml does not have: {unknown}"


def test_the_events_readme_table_is_generated_from_the_manifest():
    readme = event_manifest.README.read_text()
    assert readme == event_manifest.readme_with_table(readme, event_manifest.load()), (
        "events/README.md's table differs from events/manifest.toml: "
        "run python3 scripts/event_manifest.py --write")


@pytest.mark.parametrize("event_file", sorted(TABLE))
def test_event_reaches_exactly_the_functions_in_the_table(event_file, routes):
    assert routes[event_file] == TABLE[event_file]


def test_every_function_is_reached_by_some_sample_event():
    reached = set().union(*TABLE.values())
    assert reached == set(RULES), f"no sample event routes to {set(RULES) - reached}"


def leaf_paths(pattern: dict, prefix: str = "") -> list[str]:
    out = []
    for key, value in pattern.items():
        path = f"{prefix}.{key}" if prefix else key
        out += leaf_paths(value, path) if isinstance(value, dict) else [path]
    return out


@pytest.mark.parametrize("function", sorted(RULES))
def test_patterns_do_not_depend_on_array_consistency(function):
    related = "detail.findings.finding_info.related_events."
    for _, pattern in RULES[function]:
        for alt in expand_or(pattern):
            paths = leaf_paths(alt)
            assert len([p for p in paths if p.startswith(related)]) == 1, paths
            assert all(p.startswith("detail.findings.") or "." not in p for p in paths), paths


def operators(node, in_values: bool = False) -> set[str]:
    """`$or` and the filter operators ({"prefix": ...} objects inside value lists) a pattern uses."""
    if isinstance(node, list):
        return set().union(*(operators(v, True) for v in node))
    if isinstance(node, dict):
        if in_values:
            return set(node)
        branches = [operators(b) for b in node.get("$or", [])]
        rest = [operators(v) for k, v in node.items() if k != "$or"]
        return ({"$or"} if "$or" in node else set()).union(*branches, *rest)
    return set()


def test_patterns_use_only_operators_the_matcher_supports_as_eventbridge_does():
    used = set().union(*(operators(p) for rules in RULES.values() for _, p in rules))
    # each one is exercised in test_the_matcher_behaves_like_eventbridge_on_the_operators_used
    assert used <= {"$or", "prefix", "suffix", "wildcard", "anything-but"}, used


def test_expand_or_takes_every_combination_of_alternatives():
    pattern = {"a": ["1"], "$or": [{"b": ["2"]}, {"c": {"$or": [{"d": ["3"]}, {"e": ["4"]}]}}],
               "f": {"$or": [{"g": ["5"]}, {"h": ["6"]}]}}
    assert expand_or(pattern) == [
        {"a": ["1"], "b": ["2"], "f": {"g": ["5"]}},
        {"a": ["1"], "b": ["2"], "f": {"h": ["6"]}},
        {"a": ["1"], "c": {"d": ["3"]}, "f": {"g": ["5"]}},
        {"a": ["1"], "c": {"d": ["3"]}, "f": {"h": ["6"]}},
        {"a": ["1"], "c": {"e": ["4"]}, "f": {"g": ["5"]}},
        {"a": ["1"], "c": {"e": ["4"]}, "f": {"h": ["6"]}},
    ]


def test_the_matcher_behaves_like_eventbridge_on_the_operators_used(matcher):
    patterns = [
        ("number", {"n": [2004]}),
        ("wildcard", {"u": [{"wildcard": "*:security-control/EKS.1/finding/*"}]}),
        ("suffix", {"u": [{"suffix": "/finding/x"}]}),
        ("prefix", {"u": [{"prefix": "arn:aws:securityhub:"}]}),
        ("anything-but", {"s": [{"anything-but": ["Close"]}]}),
        ("same-element", {"arr": {"x": ["1"], "y": ["b"]}}),
    ]
    events = {
        "e1": {"n": 2004.0, "s": "Update", "arr": [{"x": "1", "y": "a"}, {"x": "2", "y": "b"}],
               "u": "arn:aws:securityhub:us-east-1:1:security-control/EKS.1/finding/x"},
        "e2": {"n": "2004", "s": "Close", "arr": [{"x": "1", "y": "b"}],
               "u": "arn:aws:securityhub:us-east-1:1:security-control/EKS.10/finding/y"},
    }
    assert match(matcher, patterns, events) == {
        "e1": ["anything-but", "number", "prefix", "suffix", "wildcard"],  # not same-element
        "e2": ["prefix", "same-element"],
    }


def test_every_rule_accepts_only_events_emitted_in_the_stacks_own_account():
    for function, rules in RAW_RULES.items():
        for _, pattern in rules:
            assert pattern["account"] == [OWN_ACCOUNT], function


def test_every_sample_was_emitted_in_the_sample_account():
    envelopes = {name: event["account"] for name, event in load_events().items() if event}
    assert set(envelopes.values()) == {SAMPLE_ACCOUNT}


def test_an_event_emitted_in_another_account_reaches_no_function(matcher):
    patterns = [(function, alt) for function, rules in RULES.items()
                for _, pattern in rules for alt in expand_or(pattern)]
    events = {name: {**event, "account": "999988887777"}
              for name, event in load_events().items() if event}
    result = match(matcher, patterns, events)
    assert {name: routes for name, routes in result.items() if routes} == {}
