"""Which AWS actions can a function's Rust code call?

The operation catalogue is read from the AWS SDK crates the workspace resolves
(`cargo metadata`): every `src/operation/<op>.rs` of aws-sdk-{eks,sns,securityhub,kms,sts,dynamodb}
defines `pub struct <Operation>;`, so nothing here is a hand-kept list of operations.

A call is an SDK fluent call `.<operation_snake_case>()` - with empty parentheses, as every
fluent operation method takes none - in code that is not a comment, a string literal, a
test-only item or a test-only module (`#[cfg(test)] mod tests;`, `#[cfg(any(test, ...))]`).
`AssumeRoleProvider` (aws-config) means sts:AssumeRole.
"""

from __future__ import annotations

import json
import re
import subprocess
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import cfnlint.data.AdditionalSpecs
from cfn import ROOT

# SDK crate -> IAM service prefix.
SDK_CRATES = {
    "aws-sdk-eks": "eks",
    "aws-sdk-sns": "sns",
    "aws-sdk-securityhub": "securityhub",
    "aws-sdk-kms": "kms",
    "aws-sdk-sts": "sts",
    "aws-sdk-dynamodb": "dynamodb",
}

# Operations whose IAM action is not named after the operation (Service Authorization
# Reference, "API operations defined by Security Hub"; reference/exposure-findings.md 6.1, 6.2).
ACTION_OF_OPERATION = {
    "securityhub:BatchUpdateFindingsV2": "securityhub:BatchUpdateFindings",
    "securityhub:GetFindingsV2": "securityhub:GetFindings",
}

# Operations that need the actions of what they contain rather than one of their own:
# TransactWriteItems has no IAM action; each item needs the action of its kind (DynamoDB
# Developer Guide, "Using IAM with DynamoDB transactions"). The ledger's transactions hold
# Update and Put items only.
ACTIONS_OF_OPERATION = {
    "dynamodb:TransactWriteItems": ("dynamodb:PutItem", "dynamodb:UpdateItem"),
}

# Operations that need no IAM permission at all.
NO_PERMISSION_NEEDED = {"sts:GetCallerIdentity"}

# Permissions a function needs although its code never names them: action -> the code action
# that needs it. Anything else in a policy must be called by the code.
INDIRECT = {
    # AssociateEncryptionConfig requires kms:CreateGrant (and DescribeKey) of its caller on the
    # key: EKS User Guide, "Encrypt Kubernetes secrets with KMS on existing clusters".
    "kms:CreateGrant": "eks:AssociateEncryptionConfig",
    # Publishing to the KMS-encrypted notification topic needs its key (SNS Developer Guide,
    # "Setting up topic encryption": the publisher needs GenerateDataKey* and Decrypt).
    "kms:GenerateDataKey*": "sns:Publish",
    "kms:Decrypt": "sns:Publish",
}
# Besides INDIRECT, SAM adds to every role (checked by test_iam.py, not listed in Policies):
# logs:CreateLogGroup/CreateLogStream/PutLogEvents via AWSLambdaBasicExecutionRole, and
# sqs:SendMessage on the function's own dead-letter queue for the EventInvokeConfig
# on-failure destination.

CALL = re.compile(r"\.\s*([a-z][a-z0-9_]*)\s*\(\s*\)")
ASSUME_ROLE_PROVIDER = re.compile(r"\bAssumeRoleProvider\b")
STRUCT = re.compile(r"^pub struct (\w+);", re.M)


@dataclass
class Operation:
    service: str  # IAM prefix
    name: str  # e.g. DescribeCluster

    @property
    def action(self) -> str:
        raw = f"{self.service}:{self.name}"
        return ACTION_OF_OPERATION.get(raw, raw)

    @property
    def actions(self) -> tuple[str, ...]:
        return ACTIONS_OF_OPERATION.get(self.action, (self.action,))


@dataclass
class Scan:
    # action -> ["path:line", ...] where the code calls it
    actions: dict[str, list[str]] = field(default_factory=dict)
    # operation name shared by several of the crates in scope: snake -> [actions]
    ambiguous: dict[str, list[str]] = field(default_factory=dict)

    def add(self, action: str, where: str) -> None:
        self.actions.setdefault(action, []).append(where)


@cache
def cargo_metadata() -> dict:
    out = subprocess.run(
        ["cargo", "metadata", "--format-version", "1", "--locked"],
        cwd=ROOT, check=True, capture_output=True, text=True,
    ).stdout
    return json.loads(out)


def sdk_crate_dirs() -> dict[str, Path]:
    """IAM prefix -> source dir of the SDK crate the workspace resolves."""
    dirs = {}
    for package in cargo_metadata()["packages"]:
        if package["name"] in SDK_CRATES:
            service = SDK_CRATES[package["name"]]
            if service in dirs:
                raise AssertionError(f"two versions of {package['name']} in the workspace")
            dirs[service] = Path(package["manifest_path"]).parent
    return dirs


def package_sdk_services(package_name: str) -> set[str]:
    """IAM prefixes of the SDK crates a workspace package depends on directly."""
    meta = cargo_metadata()
    by_id = {p["id"]: p for p in meta["packages"]}
    (node,) = [n for n in meta["resolve"]["nodes"] if by_id[n["id"]]["name"] == package_name]
    return {SDK_CRATES[by_id[d["pkg"]]["name"]] for d in node["deps"]
            if by_id[d["pkg"]]["name"] in SDK_CRATES}


def catalogue(crate_dirs: dict[str, Path]) -> dict[str, list[Operation]]:
    """snake_case operation -> the operations of that name, over the given SDK crates."""
    ops: dict[str, list[Operation]] = {}
    for service, crate in crate_dirs.items():
        files = sorted((crate / "src" / "operation").glob("*.rs"))
        if not files:
            raise AssertionError(f"no operations under {crate}/src/operation")
        for path in files:
            m = STRUCT.search(path.read_text())
            if not m:
                raise AssertionError(f"{path}: no `pub struct <Operation>;`")
            ops.setdefault(path.stem, []).append(Operation(service, m.group(1)))
    return ops


@cache
def known_iam_actions() -> frozenset[str]:
    """Every IAM action, from the Service Authorization Reference data cfn-lint ships."""
    spec = Path(cfnlint.data.AdditionalSpecs.__file__).parent / "Policies.json"
    data = json.loads(spec.read_text())
    return frozenset(f"{service}:{action}" for service, body in data.items()
                     for action in body.get("Actions", {}))


def is_known_action(action: str) -> bool:
    service, name = action.split(":", 1)
    return f"{service}:{name.lower()}" in known_iam_actions()


# ------------------------------------------------------------------------------------------
# Rust source scanning
# ------------------------------------------------------------------------------------------


def strip_rust(text: str, keep_test: bool = False) -> str:
    """Blank out comments, string/char literals and test-only items, keeping line numbers."""
    out = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            out.append(" " * (j - i))
            i = j
        elif text.startswith("/*", i):
            depth, j = 1, i + 2
            while j < n and depth:
                if text.startswith("/*", j):
                    depth, j = depth + 1, j + 2
                elif text.startswith("*/", j):
                    depth, j = depth - 1, j + 2
                else:
                    j += 1
            out.append(_blank(text[i:j]))
            i = j
        elif m := re.match(r'(b|c)?r(#*)"', text[i:]):  # raw string
            end = text.find('"' + m.group(2), i + m.end())
            j = n if end < 0 else end + 1 + len(m.group(2))
            out.append(_blank(text[i:j]))
            i = j
        elif c == '"':
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            out.append(_blank(text[i:j + 1]))
            i = j + 1
        elif m := re.match(r"'(\\.|[^\\'])'", text[i:]):  # char literal, not a lifetime
            out.append(" " * m.end())
            i += m.end()
        else:
            out.append(c)
            i += 1
    code = "".join(out)
    return code if keep_test else _strip_cfg_test(code)


def _blank(s: str) -> str:
    return re.sub(r"[^\n]", " ", s)


CFG = re.compile(r"#\[cfg\((.*?)\)\]\s*")
TEST_ONLY_MOD = re.compile(r"(?:pub(?:\([^)]*\))?\s+)?mod\s+(\w+)\s*;")


def _test_only(cfg: str) -> bool:
    """cfg(test), cfg(any(test, feature = "test-support")), ...: not in a release build."""
    return re.search(r"\btest\b", cfg) is not None and "not(" not in cfg


def _strip_cfg_test(code: str) -> str:
    """Blank every test-only item: `mod tests { ... }`, a fn, or a `mod x;` declaration."""
    pos = 0
    while m := CFG.search(code, pos):
        pos = m.end()
        if not _test_only(m.group(1)):
            continue
        brace, semi = code.find("{", m.end()), code.find(";", m.end())
        if semi >= 0 and (brace < 0 or semi < brace):  # `use ...;` / `mod x;`
            end = semi + 1
        else:
            depth, end = 0, brace
            while end < len(code):
                depth += {"{": 1, "}": -1}.get(code[end], 0)
                end += 1
                if depth == 0:
                    break
        code = code[:m.start()] + _blank(code[m.start():end]) + code[end:]
    return code


def test_only_module_files(path: Path) -> list[Path]:
    """Files of the modules `path` declares out of line under a test-only cfg."""
    code = strip_rust(path.read_text(), keep_test=True)
    here = path.parent if path.name in ("lib.rs", "main.rs", "mod.rs") else path.with_suffix("")
    out = []
    for m in CFG.finditer(code):
        decl = TEST_ONLY_MOD.match(code, m.end())
        if decl and _test_only(m.group(1)):
            out += [here / f"{decl.group(1)}.rs", here / decl.group(1)]
    return out


def scan(files: list[Path], ops: dict[str, list[Operation]], services: set[str],
         base: Path = ROOT) -> Scan:
    """The actions the given Rust files can call, with operations limited to `services`."""
    result = Scan()
    for path in files:
        code = strip_rust(path.read_text())

        def where(pos: int) -> str:
            return f"{path.relative_to(base)}:{code.count(chr(10), 0, pos) + 1}"

        for m in CALL.finditer(code):
            candidates = [op for op in ops.get(m.group(1), []) if op.service in services]
            if len(candidates) > 1:
                result.ambiguous[m.group(1)] = sorted(op.action for op in candidates)
            for op in candidates[:1]:
                for action in op.actions:
                    result.add(action, where(m.start()))
        for m in ASSUME_ROLE_PROVIDER.finditer(code):
            result.add("sts:AssumeRole", where(m.start()))
    return result


def rust_files(*dirs: Path) -> list[Path]:
    """The .rs files under dirs, less the modules declared test-only (`#[cfg(test)] mod tests;`)."""
    files = sorted(p for d in dirs for p in d.rglob("*.rs"))
    excluded = [x for f in files for x in test_only_module_files(f)]
    return [f for f in files
            if not any(f == x or x in f.parents for x in excluded)]


def compare(code_actions: set[str], policy_actions: set[str]) -> tuple[set[str], set[str]]:
    """(missing, unused): what the code calls without permission, what is granted unused."""
    missing = code_actions - policy_actions - NO_PERMISSION_NEEDED
    unused = {a for a in policy_actions - code_actions
              if not (a in INDIRECT and INDIRECT[a] in code_actions)}
    return missing, unused
