"""Parameters reject typos at deploy time, and each function gets the environment its code reads."""

from __future__ import annotations

import re

import pytest

import cfn
import iam_scan
from cfn import ROOT

TEMPLATE = cfn.load(cfn.TEMPLATE)
MEMBER = cfn.load(cfn.MEMBER_ROLE)
COMMON_ENV = {"MODE", "SNS_TOPIC_ARN", "CHAT_TOPIC_ARN", "ALLOWED_ACCOUNTS", "MEMBER_ROLE_NAME",
              "APPLY_TO_IAC_MANAGED", "UPDATE_FINDINGS", "LEDGER_TABLE", "MAX_APPLIES_PER_HOUR",
              "CIRCUIT_BREAKER_FAILURES", "DEDUPE_WINDOW_DAYS", "LEDGER_RETENTION_DAYS",
              "APPROVAL_EXPIRY_DAYS"}
ENV = {
    "endpoint-access": COMMON_ENV | {"ALLOWED_PUBLIC_CIDRS", "ENDPOINT_STAGE_SOAK_MINUTES"},
    "kubernetes-version": COMMON_ENV,
    "secrets-encryption": COMMON_ENV | {"SECRETS_KMS_KEY_ARN"},
    "container-vulnerabilities": COMMON_ENV,
}

# parameter -> (accepted values, rejected values). CloudFormation matches AllowedPattern
# against the whole value (Java regex); re.fullmatch does the same for these patterns.
CASES = {
    "AllowedAccounts": (["", "111122223333", "111122223333,444455556666"],
                        ["1111", "111122223333, 444455556666", "111122223333,", "all"]),
    "MemberRoleName": (["", "EksExposureResponderMember", "team+ops@x.y-z_1"],
                       ["arn:aws:iam::111122223333:role/x", "has space", "a" * 39]),
    "AllowedPublicCidrs": (["", "203.0.113.0/24", "203.0.113.0/24,198.51.100.7/32", "2001:db8::/32"],
                           ["203.0.113.0", "203.0.113.0/24 ,198.51.100.7/32", "any", "10.0.0.0/8,"]),
    "SecretsKmsKeyArn": ([
        "", "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab",
        "arn:aws:kms:eu-west-1:111122223333:alias/eks/secrets",
        "arn:aws-us-gov:kms:us-gov-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"],
        ["1234abcd-12ab-34cd-56ef-1234567890ab", "alias/eks-secrets",
         "arn:aws:kms:us-east-1:111122223333:key/", "arn:aws:iam::111122223333:role/x"]),
    "NotificationEmail": (["", "security@example.com"], ["security", "a@b", "a b@example.com"]),
}


def check(parameter: dict, value: str) -> bool:
    if "AllowedValues" in parameter:
        return value in [str(v) for v in parameter["AllowedValues"]]
    return re.fullmatch(parameter["AllowedPattern"], value) is not None


@pytest.mark.parametrize("name", sorted(CASES))
def test_parameter_patterns(name):
    parameter = TEMPLATE["Parameters"][name]
    good, bad = CASES[name]
    assert [v for v in good if not check(parameter, v)] == []
    assert [v for v in bad if check(parameter, v)] == []
    assert check(parameter, str(parameter.get("Default", "")))


def test_every_parameter_is_constrained():
    for template in (TEMPLATE, MEMBER):
        for name, parameter in template["Parameters"].items():
            bounded = parameter["Type"] == "Number" and {"MinValue", "MaxValue"} <= set(parameter)
            assert bounded or "AllowedValues" in parameter or "AllowedPattern" in parameter, name


def test_every_function_has_a_reserved_concurrency_with_a_safe_default():
    for logical_id in cfn.functions(TEMPLATE):
        name = logical_id.removesuffix("Function") + "ReservedConcurrency"
        parameter = TEMPLATE["Parameters"][name]
        assert (parameter["Type"], parameter["Default"], parameter["MinValue"]) == ("Number", 5, 0)
        condition = logical_id.removesuffix("Function") + "ReservesConcurrency"
        assert TEMPLATE["Resources"][logical_id]["Properties"]["ReservedConcurrentExecutions"] == {
            "Fn::If": [condition, {"Ref": name}, {"Ref": "AWS::NoValue"}]}
        for value, reserves in (("5", True), ("1", True), ("0", False)):
            assert cfn.Evaluator(TEMPLATE, {name: value}).condition(condition) is reserves


@pytest.mark.parametrize("name", ["EndpointAccessMode", "KubernetesVersionMode", "SecretsEncryptionMode"])
def test_modes_default_to_propose(name):
    parameter = TEMPLATE["Parameters"][name]
    assert parameter["AllowedValues"] == ["propose", "approve", "apply"]
    assert parameter["Default"] == "propose"


def test_member_role_parameters():
    p = MEMBER["Parameters"]
    for logical_id in cfn.functions(TEMPLATE):
        arn = p[logical_id.removesuffix("Function") + "RoleArn"]
        assert check(arn, "arn:aws:iam::111122223333:role/eks-exposure-responder-EndpointAccessFunc-1A")
        assert not check(arn, "arn:aws:iam::111122223333:role/a,arn:aws:iam::111122223333:role/b")
    for name in ("EndpointAccessAllowApply", "KubernetesVersionAllowApply", "SecretsEncryptionAllowApply"):
        assert p[name]["Default"] == "false"
    assert p["RoleNamePrefix"]["Default"] == "EksExposureResponderMember"
    # the longest role name, <prefix>-container-vulnerabilities, fits IAM's 64 characters
    assert check(p["RoleNamePrefix"], "a" * 38) and not check(p["RoleNamePrefix"], "a" * 39)
    assert p["RoleNamePrefix"]["AllowedPattern"] == TEMPLATE["Parameters"]["MemberRoleName"][
        "AllowedPattern"].removeprefix("^$|")


@pytest.mark.parametrize("function", sorted(ENV))
def test_function_environment(function):
    (logical_id,) = [k for k, v in cfn.functions(TEMPLATE).items() if v == function]
    variables = dict(TEMPLATE["Globals"]["Function"]["Environment"]["Variables"])
    variables.update(TEMPLATE["Resources"][logical_id]["Properties"]["Environment"]["Variables"])
    assert set(variables) == ENV[function]
    if function == "container-vulnerabilities":
        assert variables["MODE"] == "propose"  # its only output is a proposal / hand-off
    # each function assumes its own member role, <MemberRoleName>-<function>, or none
    member = cfn.Evaluator(TEMPLATE, {"MemberRoleName": "Member"})
    assert member.value(variables["MEMBER_ROLE_NAME"]) == f"Member-{function}"
    assert cfn.Evaluator(TEMPLATE).value(variables["MEMBER_ROLE_NAME"]) == ""
    # every variable is a name the code reads (a typo here would silently fall back to a default)
    sources = "".join(p.read_text() for p in iam_scan.rust_files(
        ROOT / "shared" / "src", ROOT / "functions" / function / "src"))
    if "SNS_TOPIC_ARN" not in sources:
        pytest.skip("the Rust configuration code is not written yet")
    unread = {v for v in variables if f'"{v}"' not in sources}
    assert not unread, f"{function} is given variables its code never reads: {unread}"


def test_ledger_parameters_have_safe_defaults_and_reach_every_function():
    p = TEMPLATE["Parameters"]
    assert (p["MaxAppliesPerHour"]["Default"], p["MaxAppliesPerHour"]["MinValue"]) == (10, 0)
    assert (p["CircuitBreakerFailures"]["Default"], p["CircuitBreakerFailures"]["MinValue"]) == (3, 1)
    assert (p["DedupeWindowDays"]["Default"], p["DedupeWindowDays"]["MinValue"]) == (7, 1)
    # history outlives the dedupe window, so a reminder can find what it reminds of
    assert p["LedgerRetentionDays"]["MinValue"] > p["DedupeWindowDays"]["Default"]
    assert p["LedgerDeletionProtection"]["Default"] == "true"
    variables = TEMPLATE["Globals"]["Function"]["Environment"]["Variables"]
    assert variables["LEDGER_TABLE"] == {"Ref": "LedgerTable"}
    assert variables["MAX_APPLIES_PER_HOUR"] == {"Ref": "MaxAppliesPerHour"}
    assert variables["CIRCUIT_BREAKER_FAILURES"] == {"Ref": "CircuitBreakerFailures"}
    assert variables["DEDUPE_WINDOW_DAYS"] == {"Ref": "DedupeWindowDays"}
    assert variables["LEDGER_RETENTION_DAYS"] == {"Ref": "LedgerRetentionDays"}
    for logical_id in cfn.functions(TEMPLATE):
        own = TEMPLATE["Resources"][logical_id]["Properties"]["Environment"]["Variables"]
        assert not {"LEDGER_TABLE", "MAX_APPLIES_PER_HOUR"} & set(own), logical_id


def test_ledger_table_is_on_demand_encrypted_recoverable_and_expiring():
    props = TEMPLATE["Resources"]["LedgerTable"]["Properties"]
    assert props["BillingMode"] == "PAY_PER_REQUEST"
    assert props["SSESpecification"] == {"SSEEnabled": True, "SSEType": "KMS"}
    assert props["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert props["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}
    assert [k["AttributeName"] for k in props["KeySchema"]] == ["pk", "sk"]
    (index,) = props["GlobalSecondaryIndexes"]
    assert index["IndexName"] == "by-day"
    assert [k["AttributeName"] for k in index["KeySchema"]] == ["day", "decided_at"]
    for value, protected in (("true", True), ("false", False)):
        ev = cfn.Evaluator(TEMPLATE, {"LedgerDeletionProtection": value})
        assert ev.resolve_ifs(props["DeletionProtectionEnabled"]) is protected
