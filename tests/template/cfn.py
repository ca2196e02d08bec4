"""Reading template.yaml / member-role.yaml for the template tests.

Templates are parsed with cfn-lint's loader (it turns !Ref, !Sub, !If ... into their
Fn:: / Ref mapping form). A small evaluator resolves the Conditions and Fn::If used in
IAM policies, so tests can ask "which actions does this role get with these parameters?".
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterator

from cfnlint.decode import decode

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"
MEMBER_ROLE = ROOT / "member-role.yaml"

NO_VALUE = object()


def load(path: Path) -> dict[str, Any]:
    """The template as plain JSON data (cfn-lint's node types stripped)."""
    template, matches = decode(str(path))
    if matches or template is None:
        raise AssertionError(f"{path} does not parse: {[str(m) for m in matches]}")
    return json.loads(json.dumps(template))


def resources_of_type(template: dict, type_: str) -> dict[str, dict]:
    return {k: v for k, v in template["Resources"].items() if v["Type"] == type_}


# Functions that respond to no finding: they run on a schedule, have no rule, member role or
# dead-letter queue, and are checked on their own (test_digest.py).
SCHEDULED = {"digest"}


def all_functions(template: dict) -> dict[str, str]:
    """Function logical id -> function name (the Cargo package dir under functions/)."""
    out = {}
    for logical_id, res in resources_of_type(template, "AWS::Serverless::Function").items():
        code_uri = res["Properties"]["CodeUri"]
        out[logical_id] = Path(code_uri).name
    return out


def functions(template: dict) -> dict[str, str]:
    """The responders: function logical id -> name, for every function a finding reaches."""
    return {k: v for k, v in all_functions(template).items() if v not in SCHEDULED}


def rules_by_function(template: dict) -> dict[str, list[tuple[str, dict]]]:
    """Function name -> [(rule logical id, event pattern)] for every rule targeting it."""
    names = functions(template)
    out: dict[str, list[tuple[str, dict]]] = {name: [] for name in names.values()}
    for rule_id, rule in resources_of_type(template, "AWS::Events::Rule").items():
        props = rule["Properties"]
        for target in props.get("Targets", []):
            arn = target["Arn"]
            fn_id = arn.get("Fn::GetAtt", [None])[0] if isinstance(arn, dict) else None
            if fn_id not in names:
                raise AssertionError(f"{rule_id} targets {arn!r}, not a function of this template")
            pattern = props["EventPattern"]
            if isinstance(pattern, str):
                pattern = json.loads(pattern)
            out[names[fn_id]].append((rule_id, pattern))
    return out


# --------------------------------------------------------------------------------------------
# Conditions and intrinsic functions (the subset the templates use)
# --------------------------------------------------------------------------------------------


class Evaluator:
    def __init__(self, template: dict, overrides: dict[str, str] | None = None):
        self.template = template
        self.params = {
            name: str(p.get("Default", "")) for name, p in template.get("Parameters", {}).items()
        }
        unknown = set(overrides or {}) - set(self.params)
        if unknown:
            raise KeyError(f"unknown parameters {sorted(unknown)}")
        self.params.update(overrides or {})
        self._conditions: dict[str, bool] = {}

    def condition(self, name: str) -> bool:
        if name not in self._conditions:
            self._conditions[name] = bool(self.value(self.template["Conditions"][name]))
        return self._conditions[name]

    def value(self, node: Any) -> Any:
        """Evaluate a scalar-producing expression (used inside Conditions)."""
        if not isinstance(node, dict):
            return node
        if len(node) != 1:
            return {k: self.value(v) for k, v in node.items()}
        (fn, arg), = node.items()
        if fn == "Ref":
            if arg in self.params:
                return self.params[arg]
            raise KeyError(f"Ref {arg} cannot be evaluated offline")
        if fn == "Condition":
            return self.condition(arg)
        if fn == "Fn::Equals":
            a, b = (self.value(x) for x in arg)
            return str(a) == str(b)
        if fn == "Fn::Not":
            return not self.value(arg[0])
        if fn == "Fn::And":
            return all(self.value(x) for x in arg)
        if fn == "Fn::Or":
            return any(self.value(x) for x in arg)
        if fn == "Fn::Select":
            index, items = arg
            return self.value(items)[int(self.value(index))]
        if fn == "Fn::Split":
            sep, text = arg
            return str(self.value(text)).split(sep)
        if fn == "Fn::Sub" and isinstance(arg, str):
            text = arg
            for name, value in self.params.items():
                text = text.replace("${" + name + "}", value)
            return text
        if fn == "Fn::If":
            cond, yes, no = arg
            return self.value(yes if self.condition(cond) else no)
        return {fn: arg}

    def resolve_ifs(self, node: Any) -> Any:
        """The same structure with every Fn::If decided and AWS::NoValue removed."""
        if isinstance(node, list):
            items = (self.resolve_ifs(x) for x in node)
            return [x for x in items if x is not NO_VALUE]
        if isinstance(node, dict):
            if set(node) == {"Fn::If"}:
                cond, yes, no = node["Fn::If"]
                return self.resolve_ifs(yes if self.condition(cond) else no)
            if node == {"Ref": "AWS::NoValue"}:
                return NO_VALUE
            items = ((k, self.resolve_ifs(v)) for k, v in node.items())
            return {k: v for k, v in items if v is not NO_VALUE}
        return node


def all_branches(node: Any) -> Iterator[Any]:
    """Every value a node can take over all Fn::If outcomes (for "what could ever be granted")."""
    if isinstance(node, dict) and set(node) == {"Fn::If"}:
        _, yes, no = node["Fn::If"]
        yield from all_branches(yes)
        yield from all_branches(no)
    elif node == {"Ref": "AWS::NoValue"}:
        return
    else:
        yield node


def statements(policy_documents: list[Any]) -> Iterator[dict]:
    """Every statement of the documents, over all Fn::If branches."""
    for doc in policy_documents:
        for d in all_branches(doc):
            for st in d.get("Statement", []):
                yield from all_branches(st)


def actions_of(statement: dict) -> set[str]:
    out: set[str] = set()
    for action in all_branches(statement.get("Action", [])):
        out.update([action] if isinstance(action, str) else
                   [a for branch in action for a in all_branches(branch)])
    return out


def allowed_actions(policy_documents: list[Any]) -> set[str]:
    """Union of the Allow actions of the documents over every Fn::If outcome."""
    return {a for st in statements(policy_documents) if st.get("Effect") == "Allow"
            for a in actions_of(st)}


def function_policies(template: dict, function_id: str) -> list[Any]:
    """The inline policy documents of a SAM function (its `Policies`)."""
    docs = template["Resources"][function_id]["Properties"].get("Policies", [])
    for doc in docs:
        if not isinstance(doc, dict) or "Statement" not in doc and "Fn::If" not in doc:
            raise AssertionError(
                f"{function_id}: only inline policy documents are checked, found {doc!r}"
            )
    return docs


def member_roles(template: dict) -> dict[str, str]:
    """Function name -> logical id of its role in member-role.yaml (<Function>MemberRole)."""
    names = {logical_id.removesuffix("Function"): name
             for logical_id, name in functions(load(TEMPLATE)).items()}
    roles = resources_of_type(template, "AWS::IAM::Role")
    unknown = {r for r in roles if r.removesuffix("MemberRole") not in names}
    if unknown:
        raise AssertionError(f"member roles of no function: {sorted(unknown)}")
    return {names[r.removesuffix("MemberRole")]: r for r in roles}


def member_role_policies(template: dict, logical_id: str) -> list[Any]:
    role = template["Resources"][logical_id]
    return [p["PolicyDocument"] for p in role["Properties"]["Policies"]]
