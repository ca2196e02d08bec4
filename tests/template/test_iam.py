"""IAM in template.yaml / member-role.yaml against the AWS calls the Rust code makes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from samtranslator.translator.transform import transform

import cfn
import iam_scan
from cfn import ROOT

FIXTURE = Path(__file__).parent / "fixtures" / "iam"
SHARED_PACKAGE = "eks-exposure-shared"
BASIC_EXECUTION_ROLE = "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"
MUTATING = {
    "eks:UpdateClusterConfig",
    "eks:UpdateClusterVersion",
    "eks:AssociateEncryptionConfig",
    "kms:CreateGrant",
}
# Actions without resource-level permissions, so Resource "*" is the only choice:
# Security Hub ("Policy resources: No", securityhub/latest/userguide/sh_security_iam_service-with-iam)
# and eks:DescribeClusterVersions (no resource type in the Service Authorization Reference).
STAR_RESOURCE_ONLY = {"securityhub:BatchUpdateFindings", "securityhub:GetFindings",
                      "eks:DescribeClusterVersions"}

TEMPLATE = cfn.load(cfn.TEMPLATE)
FUNCTIONS = cfn.functions(TEMPLATE)  # logical id -> function name
FUNCTION_IDS = {name: logical_id for logical_id, name in FUNCTIONS.items()}


@pytest.fixture(scope="module")
def operations():
    return iam_scan.catalogue(iam_scan.sdk_crate_dirs())


def code_scan(function: str, operations, own_only: bool = False) -> iam_scan.Scan:
    """What shared/src (counted for every function) and functions/<function>/src call."""
    services = (iam_scan.package_sdk_services(function)
                | iam_scan.package_sdk_services(SHARED_PACKAGE))
    dirs = [ROOT / "functions" / function / "src"] + ([] if own_only else [ROOT / "shared" / "src"])
    return iam_scan.scan(iam_scan.rust_files(*dirs), operations, services)


def placeholder(function: str, operations) -> bool:
    """A function whose own crate calls no AWS API yet (work in progress, not yet checkable)."""
    return not code_scan(function, operations, own_only=True).actions


def describe(actions: set[str], scan: iam_scan.Scan | None = None) -> str:
    lines = []
    for a in sorted(actions):
        where = ", ".join((scan.actions.get(a, []) if scan else [])[:3])
        lines.append(f"  {a}" + (f"  (called at {where})" if where else ""))
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------
# The scanner itself, on a fixture with one missing and one unused permission
# ------------------------------------------------------------------------------------------


def test_scanner_finds_exactly_the_sdk_calls_of_the_fixture(operations):
    scan = iam_scan.scan(iam_scan.rust_files(FIXTURE / "src"), operations,
                         {"eks", "sns", "securityhub"}, base=FIXTURE)
    assert set(scan.actions) == {
        "eks:DescribeCluster",  # call split over lines
        "eks:UpdateClusterConfig",
        "securityhub:BatchUpdateFindings",  # BatchUpdateFindingsV2's IAM action
        "sns:Publish",
        "sts:AssumeRole",  # AssumeRoleProvider
    }  # not: comments, strings, #[cfg(test)] items and modules, `.describe_key(42)`
    assert scan.actions["eks:DescribeCluster"] == ["src/lib.rs:6"]
    assert not scan.ambiguous


def test_scanner_reports_a_missing_and_an_unused_permission(operations):
    scan = iam_scan.scan(iam_scan.rust_files(FIXTURE / "src"), operations,
                         {"eks", "sns", "securityhub"}, base=FIXTURE)
    template = cfn.load(FIXTURE / "template.yaml")
    granted = cfn.allowed_actions(cfn.function_policies(template, "FixtureFunction"))
    missing, unused = iam_scan.compare(set(scan.actions), granted)
    assert missing == {"eks:UpdateClusterConfig"}
    assert unused == {"eks:UpdateClusterVersion"}  # granted only under a condition: still unused


def test_indirect_permissions_only_count_with_the_call_that_needs_them():
    assert iam_scan.compare({"eks:AssociateEncryptionConfig"},
                            {"eks:AssociateEncryptionConfig", "kms:CreateGrant"}) == (set(), set())
    assert iam_scan.compare({"eks:DescribeCluster"},
                            {"eks:DescribeCluster", "kms:CreateGrant"}) == (set(), {"kms:CreateGrant"})


def test_operation_catalogue_comes_from_the_sdk_crates(operations):
    def actions(snake):
        return [op.action for op in operations[snake]]

    assert actions("describe_cluster_versions") == ["eks:DescribeClusterVersions"]
    assert actions("get_findings_v2") == ["securityhub:GetFindings"]
    assert actions("publish") == ["sns:Publish"]
    assert actions("describe_key") == ["kms:DescribeKey"]
    assert {op.service for ops in operations.values() for op in ops} == set(
        iam_scan.SDK_CRATES.values())


# ------------------------------------------------------------------------------------------
# The real functions
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("function", sorted(FUNCTION_IDS))
def test_function_policy_grants_exactly_what_its_code_calls(function, operations):
    if placeholder(function, operations):
        pytest.skip(f"functions/{function}/src calls no AWS API yet")
    scan = code_scan(function, operations)
    assert not scan.ambiguous, (
        f"operation names shared by several SDK crates, map them in iam_scan.py: {scan.ambiguous}")
    unknown = {a for a in scan.actions if not iam_scan.is_known_action(a)}
    assert not unknown, (
        f"{function} calls operations without an IAM action of that name; add their action to "
        f"iam_scan.ACTION_OF_OPERATION:\n{describe(unknown, scan)}")

    granted = cfn.allowed_actions(cfn.function_policies(TEMPLATE, FUNCTION_IDS[function]))
    missing, unused = iam_scan.compare(set(scan.actions), granted)
    assert not missing, f"{function}'s code calls these without permission in template.yaml:\n" \
                        f"{describe(missing, scan)}"
    assert not unused, (
        f"template.yaml grants {function} actions its code never calls (remove them, or document "
        f"an indirect need in iam_scan.INDIRECT):\n{describe(unused)}")


MEMBER = cfn.load(cfn.MEMBER_ROLE)
MEMBER_ROLES = cfn.member_roles(MEMBER)  # function name -> logical id of its member role


def test_member_role_yaml_has_one_role_per_function():
    assert set(MEMBER_ROLES) == set(FUNCTION_IDS)


def member_role_check(function: str, operations) -> tuple[set[str], set[str]]:
    """(the EKS/KMS actions the function's code calls, its member role's actions)."""
    code = {a for a in code_scan(function, operations).actions
            if a.split(":")[0] in ("eks", "kms")}
    granted = cfn.allowed_actions(cfn.member_role_policies(MEMBER, MEMBER_ROLES[function]))
    return code, granted


@pytest.mark.parametrize("function", sorted(FUNCTION_IDS))
def test_member_role_grants_every_cluster_action_its_function_calls(function, operations):
    code, granted = member_role_check(function, operations)
    missing, _ = iam_scan.compare(code, granted)
    assert not missing, f"member-role.yaml's role for {function} lacks:\n{describe(missing)}"


@pytest.mark.parametrize("function", sorted(FUNCTION_IDS))
def test_member_role_grants_no_cluster_action_its_function_does_not_call(function, operations):
    if placeholder(function, operations):
        pytest.skip(f"functions/{function}/src calls no AWS API yet")
    code, granted = member_role_check(function, operations)
    _, unused = iam_scan.compare(code, granted)
    assert not unused, (f"member-role.yaml's role for {function} grants actions it never "
                        f"calls:\n{describe(unused)}")


# ------------------------------------------------------------------------------------------
# What the parameters switch on and off
# ------------------------------------------------------------------------------------------


def effective(overrides: dict[str, str]) -> dict[str, list[dict]]:
    """Function name -> its Allow statements with these parameter values."""
    ev = cfn.Evaluator(TEMPLATE, overrides)
    return {name: [st for doc in ev.resolve_ifs(cfn.function_policies(TEMPLATE, logical_id))
                   for st in doc["Statement"] if st["Effect"] == "Allow"]
            for logical_id, name in FUNCTIONS.items()}


def actions(statements: list[dict]) -> set[str]:
    return {a for st in statements for a in cfn.actions_of(st)}


NOTIFICATION_KEY = {"Fn::GetAtt": ["NotificationKey", "Arn"]}


def beyond_notification_key(statements: list[dict]) -> list[dict]:
    """The statements but the one granting the topic's own key, through SNS (every function)."""
    return [st for st in statements if st["Resource"] != NOTIFICATION_KEY]


def test_every_function_may_use_the_topic_key_only_through_sns():
    for function, statements in effective({}).items():
        (key_use,) = [st for st in statements if st["Resource"] == NOTIFICATION_KEY]
        assert cfn.actions_of(key_use) == {"kms:GenerateDataKey*", "kms:Decrypt"}, function
        assert key_use["Condition"] == {"StringEquals": {
            "kms:ViaService": {"Fn::Sub": "sns.${AWS::Region}.${AWS::URLSuffix}"}}}, function


def test_defaults_grant_nothing_that_changes_a_cluster_or_leaves_the_account():
    for function, statements in effective({}).items():
        granted = actions(beyond_notification_key(statements))
        assert not granted & MUTATING, function
        assert not {a for a in granted if a.startswith(("sts:", "kms:"))}, function
        assert "securityhub:BatchUpdateFindings" in granted, function


def test_apply_mode_grants_each_function_its_own_remediation_only():
    statements = effective({
        "EndpointAccessMode": "apply", "KubernetesVersionMode": "apply",
        "SecretsEncryptionMode": "apply", "MemberRoleName": "EksExposureResponderMember",
        "SecretsKmsKeyArn": "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab",
    })
    assert actions(statements["endpoint-access"]) & MUTATING == {"eks:UpdateClusterConfig"}
    assert actions(statements["kubernetes-version"]) & MUTATING == {"eks:UpdateClusterVersion"}
    assert actions(statements["secrets-encryption"]) & MUTATING == {
        "eks:AssociateEncryptionConfig", "kms:CreateGrant"}
    assert actions(statements["container-vulnerabilities"]) & MUTATING == set()
    for function, sts in statements.items():
        assume = [st for st in sts if "sts:AssumeRole" in cfn.actions_of(st)]
        assert [st["Resource"] for st in assume] == [
            {"Fn::Sub": f"arn:${{AWS::Partition}}:iam::*:role/${{MemberRoleName}}-{function}"}], function
    kms = [st for st in statements["secrets-encryption"] if st["Sid"] == "KeyByArn"]
    assert [st["Resource"] for st in kms] == [{"Ref": "SecretsKmsKeyArn"}]


def test_secrets_encryption_cannot_apply_without_a_key():
    granted = actions(beyond_notification_key(
        effective({"SecretsEncryptionMode": "apply"})["secrets-encryption"]))
    assert not granted & MUTATING
    assert not {a for a in granted if a.startswith("kms:")}


def test_an_alias_arn_scopes_kms_to_the_key_behind_that_alias():
    statements = effective({
        "SecretsEncryptionMode": "apply",
        "SecretsKmsKeyArn": "arn:aws:kms:eu-west-1:111122223333:alias/eks/secrets",
    })["secrets-encryption"]
    (kms,) = [st for st in statements if cfn.actions_of(st) & {"kms:DescribeKey"}]
    assert kms["Sid"] == "KeyByAlias"
    assert cfn.actions_of(kms) == {"kms:DescribeKey", "kms:CreateGrant"}
    ev = cfn.Evaluator(TEMPLATE, {"SecretsKmsKeyArn": "arn:aws:kms:eu-west-1:111122223333:alias/eks/secrets"})
    condition = kms["Condition"]["ForAnyValue:StringEquals"]["kms:ResourceAliases"]
    assert ev.value(condition) == "alias/eks/secrets"
    _, variables = kms["Resource"]["Fn::Sub"]
    assert ev.value(variables["KeyRegion"]) == "eu-west-1"
    assert ev.value(variables["KeyAccount"]) == "111122223333"


def test_not_recording_findings_removes_batch_update_findings():
    for function, statements in effective({"UpdateFindings": "false"}).items():
        assert "securityhub:BatchUpdateFindings" not in actions(statements), function


def test_wildcard_resources_only_where_the_service_has_no_resource_types():
    for function, statements in effective({
        "EndpointAccessMode": "apply", "KubernetesVersionMode": "apply",
        "SecretsEncryptionMode": "apply", "MemberRoleName": "Member",
        "SecretsKmsKeyArn": "arn:aws:kms:us-east-1:111122223333:key/k",
    }).items():
        for st in statements:
            if st["Resource"] == "*":
                assert cfn.actions_of(st) <= STAR_RESOURCE_ONLY, (function, st)


def test_assume_role_only_in_the_allowed_accounts_or_else_the_organization():
    def assume(overrides):
        return {function: [st for st in sts if "sts:AssumeRole" in cfn.actions_of(st)]
                for function, sts in effective({"MemberRoleName": "Member", **overrides}).items()}

    ev = cfn.Evaluator(TEMPLATE, {"AllowedAccounts": "111122223333,444455556666"})
    for function, (st,) in assume({"AllowedAccounts": "111122223333,444455556666"}).items():
        accounts = st["Condition"]["StringEquals"]["aws:ResourceAccount"]
        assert ev.value(accounts) == ["111122223333", "444455556666"], function
    for function, (st,) in assume({}).items():
        # the policy variable: the role must be in the function's own Organization
        assert st["Condition"] == {"StringEquals": {"aws:ResourceOrgID": "${aws:PrincipalOrgID}"}}


MEMBER_VALUES = {"ResponderAccountId": "111122223333",
                 **{f"{logical_id.removesuffix('Function')}RoleArn":
                    f"arn:aws:iam::111122223333:role/responder-{name}"
                    for logical_id, name in FUNCTIONS.items()}}


@pytest.mark.parametrize("function", sorted(FUNCTION_IDS))
def test_each_member_role_trusts_exactly_its_own_function_role(function):
    role = MEMBER["Resources"][MEMBER_ROLES[function]]["Properties"]
    (trust,) = role["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"AWS": {"Fn::Sub": "arn:${AWS::Partition}:iam::${ResponderAccountId}:root"}}
    parameter = FUNCTION_IDS[function].removesuffix("Function") + "RoleArn"
    assert trust["Condition"] == {"ArnEquals": {"aws:PrincipalArn": {"Ref": parameter}}}
    assert cfn.Evaluator(MEMBER, MEMBER_VALUES).value(role["RoleName"]) == (
        f"EksExposureResponderMember-{function}")


def member_grants(overrides: dict[str, str]) -> dict[str, set[str]]:
    ev = cfn.Evaluator(MEMBER, {**MEMBER_VALUES, **overrides})
    return {function: actions([st for doc in ev.resolve_ifs(cfn.member_role_policies(MEMBER, role))
                               for st in doc["Statement"]])
            for function, role in MEMBER_ROLES.items()}


def test_member_roles_write_only_for_their_own_function_and_only_where_allowed():
    key = "arn:aws:kms:us-east-1:111122223333:key/k"
    assert {f: g & MUTATING for f, g in member_grants({"SecretsKmsKeyArn": key}).items()} == {
        f: set() for f in FUNCTION_IDS}
    own_writes = {"endpoint-access": {"eks:UpdateClusterConfig"},
                  "kubernetes-version": {"eks:UpdateClusterVersion"},
                  "secrets-encryption": {"eks:AssociateEncryptionConfig", "kms:CreateGrant"},
                  "container-vulnerabilities": set()}
    for function, parameter in (("endpoint-access", "EndpointAccessAllowApply"),
                                ("kubernetes-version", "KubernetesVersionAllowApply"),
                                ("secrets-encryption", "SecretsEncryptionAllowApply")):
        grants = member_grants({"SecretsKmsKeyArn": key, parameter: "true"})
        assert {f: g & MUTATING for f, g in grants.items()} == {
            f: (own_writes[f] if f == function else set()) for f in FUNCTION_IDS}, parameter
    # no key, no irreversible encryption, even where allowed
    grants = member_grants({"SecretsEncryptionAllowApply": "true"})
    assert grants["secrets-encryption"] & MUTATING == set()


# ------------------------------------------------------------------------------------------
# The decision ledger
# ------------------------------------------------------------------------------------------

LEDGER = {"Fn::GetAtt": ["LedgerTable", "Arn"]}


def test_ledger_access_is_the_one_table_its_cluster_items_and_the_functions_own_items():
    for function, statements in effective({
        "EndpointAccessMode": "apply", "KubernetesVersionMode": "apply",
        "SecretsEncryptionMode": "apply",
    }).items():
        dynamodb = [st for st in statements if any(a.startswith("dynamodb:") for a in cfn.actions_of(st))]
        (st,) = dynamodb
        assert st["Resource"] == LEDGER, function
        # reads and conditional writes; nothing that erases or lists
        assert cfn.actions_of(st) == {"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"}
        keys = st["Condition"]["ForAllValues:StringLike"]["dynamodb:LeadingKeys"]
        assert keys == [{"Fn::Sub": "cluster#arn:${AWS::Partition}:eks:*:*:cluster/*"},
                        f"function#{function}"], function


def test_the_scanner_expands_a_transaction_into_the_actions_of_its_items(operations):
    (op,) = operations["transact_write_items"]
    assert op.actions == ("dynamodb:PutItem", "dynamodb:UpdateItem")
    assert all(iam_scan.is_known_action(a) for a in op.actions)
    scan = code_scan("endpoint-access", operations)
    assert {a for a in scan.actions if a.startswith("dynamodb:")} == {
        "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"}
