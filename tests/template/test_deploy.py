"""The stack deploys: template.yaml, after the SAM transform (what CloudFormation receives from
`sam deploy`), for several parameter sets, and member-role.yaml for every AllowApply / key
variant, are created by moto's CloudFormation (CREATE_COMPLETE); then what was created is read
back through the services' own APIs and checked against the contract.

Where moto's CloudFormation lacks a resource type (stack.MOTO_LACKS: CloudWatch alarms, Lambda
EventInvokeConfig, SNS subscriptions and topic policies, SQS queue policies) the resource is
removed before the deployment and checked in the translated template instead; where moto
ignores a property (Lambda Architectures and LoggingConfig) the same.
"""

from __future__ import annotations

import ast
import functools
import json
import subprocess
import sys
from pathlib import Path

import pytest
from botocore.exceptions import ClientError
from botocore.parsers import ResponseParserError

import cfn
import cycles
import stack

TEMPLATE = cfn.load(cfn.TEMPLATE)
MEMBER = cfn.load(cfn.MEMBER_ROLE)
FUNCTIONS = cfn.functions(TEMPLATE)  # logical id -> function name
BIN = Path(sys.executable).parent
MUTATING = {
    "endpoint-access": {"eks:UpdateClusterConfig"},
    "kubernetes-version": {"eks:UpdateClusterVersion"},
    "secrets-encryption": {"eks:AssociateEncryptionConfig", "kms:CreateGrant"},
    "container-vulnerabilities": set(),
}
MODE_PARAMETER = {
    "endpoint-access": "EndpointAccessMode",
    "kubernetes-version": "KubernetesVersionMode",
    "secrets-encryption": "SecretsEncryptionMode",
}
ALL_MUTATING = set().union(*MUTATING.values())
# The key statement of the original template: the four function roles in the key policy.
OLD_KEY_STATEMENT = {
    "Sid": "ResponderFunctionsPublishThroughSns",
    "Effect": "Allow",
    "Principal": {"AWS": [{"Fn::GetAtt": [f"{fn}Role", "Arn"]} for fn in FUNCTIONS]},
    "Action": ["kms:GenerateDataKey*", "kms:Decrypt"],
    "Resource": "*",
}


def with_old_key_policy(template: dict) -> dict:
    out = json.loads(json.dumps(template))
    out["Resources"]["NotificationKey"]["Properties"]["KeyPolicy"]["Statement"].append(
        OLD_KEY_STATEMENT)
    return out


@functools.cache
def translated(parameter_set: str) -> dict:
    return stack.translate(stack.PARAMETER_SETS[parameter_set])


# ------------------------------------------------------------------------------------------
# Dependency cycles and cfn-lint, on the translated template
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("parameter_set", sorted(stack.PARAMETER_SETS))
def test_translated_template_has_no_dependency_cycle(parameter_set):
    assert cycles.describe(translated(parameter_set)) == []


def test_cycle_check_names_the_resources_of_the_key_policy_cycle():
    """The original template's cycle: key policy -> function roles -> topic -> key."""
    (cycle,) = cycles.describe(with_old_key_policy(translated("defaults")))
    members = cycle.split("(all resources in the cycle: ")[1].rstrip(")").split(", ")
    # The chat topic is encrypted with the same key and every function role may publish to it.
    assert sorted(members) == sorted(["NotificationKey", "NotificationTopic", "ChatTopic",
                                      *(f"{fn}Role" for fn in FUNCTIONS)])


def test_cycle_check_follows_ref_getatt_sub_and_depends_on():
    template = {"Resources": {
        "A": {"Type": "T", "Properties": {"X": {"Fn::Sub": "${B.Arn}/${!Literal}/${AWS::Region}"}}},
        "B": {"Type": "T", "Properties": {"X": {"Fn::GetAtt": "C.Arn"}}},
        "C": {"Type": "T", "DependsOn": ["D"]},
        "D": {"Type": "T", "Properties": {"X": {"Fn::If": ["Cond", {"Ref": "A"}, "none"]}}},
        "E": {"Type": "T", "Properties": {"X": {"Fn::Sub": ["${A}", {"A": "not the resource"}]}}},
        "F": {"Type": "T", "DependsOn": "F"},
    }}
    assert cycles.describe(template) == [
        "A -> B -> C -> D -> A (all resources in the cycle: A, B, C, D)",
        "F -> F (all resources in the cycle: F)",
    ]


def cfn_lint(template: dict, tmp_path: Path) -> list[dict]:
    path = tmp_path / "translated.json"
    path.write_text(json.dumps(template, indent=1))
    out = subprocess.run([str(BIN / "cfn-lint"), "--format", "json", str(path)],
                         capture_output=True, text=True, check=False, timeout=300)
    assert out.stdout.strip(), out.stderr
    return json.loads(out.stdout)


@pytest.mark.parametrize("parameter_set", sorted(stack.PARAMETER_SETS))
def test_cfn_lint_finds_nothing_in_the_translated_template(parameter_set, tmp_path):
    # Not even warnings: none of them is justified today.
    findings = cfn_lint(translated(parameter_set), tmp_path)
    assert [f"{m['Rule']['Id']} {m['Message']}" for m in findings] == []


def test_cfn_lint_reports_the_key_policy_cycle(tmp_path):
    findings = cfn_lint(with_old_key_policy(translated("defaults")), tmp_path)
    assert {m["Rule"]["Id"] for m in findings} == {"E3004"}


# ------------------------------------------------------------------------------------------
# Deployed into moto's CloudFormation
# ------------------------------------------------------------------------------------------


def policy_statements(document) -> list[dict]:
    """A role policy as moto returns it (a JSON string, or for a document with intrinsics the
    repr of a dict, where AWS::NoValue left a None in the statement list)."""
    if isinstance(document, str):
        try:
            document = json.loads(document)
        except json.JSONDecodeError:
            document = ast.literal_eval(document)
    statements = document["Statement"]
    statements = statements if isinstance(statements, list) else [statements]
    return [st for st in statements if st is not None]


def key_arn_of(key_id: str) -> str:
    # Not DescribeKey: moto keeps the policy of a key created by CloudFormation as a dict,
    # and its DescribeKey then fails (500); GetKeyPolicy returns that dict's repr.
    return f"arn:aws:kms:{stack.REGION}:{stack.ACCOUNT}:key/{key_id}"


def actions(statement: dict) -> set[str]:
    action = statement["Action"]
    return {action} if isinstance(action, str) else set(action)


@functools.cache
def deployed(parameter_set: str) -> tuple[dict, dict[str, str], dict[str, str]]:
    """(stack description, logical -> physical ids, parameter values) of one parameter set."""
    upload_code()
    template, _ = stack.for_moto(translated(parameter_set))
    values = stack.parameters(TEMPLATE, stack.PARAMETER_SETS[parameter_set])
    try:
        description = stack.deploy(f"responder-{parameter_set}", template, values, retries=1)
    except (ClientError, ResponseParserError) as error:  # asked once: every test shows it
        return {"StackStatus": f"not created: {error}"}, {}, values
    ids = stack.physical_ids(f"responder-{parameter_set}") \
        if description["StackStatus"] == "CREATE_COMPLETE" else {}
    return description, ids, values


@functools.cache
def upload_code() -> None:
    stack.upload_code()


@pytest.mark.parametrize("name", sorted(stack.PARAMETER_SETS))
def test_stack_is_created_with_every_resource_but_those_moto_lacks(name):
    description, ids, _ = deployed(name)
    assert (description["StackStatus"], description.get("StackStatusReason")) == (
        "CREATE_COMPLETE", None)
    template, removed = stack.for_moto(translated(name))
    ev = cfn.Evaluator(TEMPLATE, stack.PARAMETER_SETS[name])
    # moto lists a resource whose condition is false with empty ids; CloudFormation omits it.
    assert set(ids) - {""} == {k for k, r in template["Resources"].items()
                        if "Condition" not in r or ev.condition(r["Condition"])}
    assert {translated(name)["Resources"][r]["Type"] for r in removed} <= stack.MOTO_LACKS


def test_moto_cannot_deploy_the_key_policy_cycle():
    """The failure `make test` showed before the key policy stopped naming the roles."""
    upload_code()
    template, _ = stack.for_moto(with_old_key_policy(translated("defaults")))
    try:
        description = stack.deploy("responder-old-key-policy", template,
                                   stack.parameters(TEMPLATE, {}), retries=1)
    except (ClientError, ResponseParserError) as error:
        outcome = str(error)  # moto_server answers 500: its CloudFormation recurses on the cycle
    else:
        outcome = description["StackStatus"]
    assert outcome != "CREATE_COMPLETE"


def expected_environment(function: str, values: dict[str, str], topic_arn: str,
                         ledger_table: str, chat_topic_arn: str = "") -> dict:
    env = {
        "MODE": values[MODE_PARAMETER[function]] if function in MODE_PARAMETER else "propose",
        "SNS_TOPIC_ARN": topic_arn,
        "ALLOWED_ACCOUNTS": values["AllowedAccounts"],
        "MEMBER_ROLE_NAME": f"{values['MemberRoleName']}-{function}" if values["MemberRoleName"] else "",
        "APPLY_TO_IAC_MANAGED": values["ApplyToIacManaged"],
        "UPDATE_FINDINGS": values["UpdateFindings"],
        "LEDGER_TABLE": ledger_table,
        "CHAT_TOPIC_ARN": chat_topic_arn,
        "MAX_APPLIES_PER_HOUR": values["MaxAppliesPerHour"],
        "CIRCUIT_BREAKER_FAILURES": values["CircuitBreakerFailures"],
        "DEDUPE_WINDOW_DAYS": values["DedupeWindowDays"],
        "LEDGER_RETENTION_DAYS": values["LedgerRetentionDays"],
        "APPROVAL_EXPIRY_DAYS": values["ApprovalExpiryDays"],
    }
    if function == "endpoint-access":
        env["ALLOWED_PUBLIC_CIDRS"] = values["AllowedPublicCidrs"]
        env["ENDPOINT_STAGE_SOAK_MINUTES"] = str(values["EndpointStageSoakMinutes"])
    if function == "secrets-encryption":
        env["SECRETS_KMS_KEY_ARN"] = values["SecretsKmsKeyArn"]
    return env


CASES = [(s, fn) for s in sorted(stack.PARAMETER_SETS) for fn in sorted(FUNCTIONS)]


@pytest.mark.parametrize("parameter_set,logical_id", CASES)
def test_deployed_function_rule_permission_and_role(parameter_set, logical_id):
    description, ids, values = deployed(parameter_set)
    assert ids, f"{parameter_set}: {description['StackStatus']}"
    function = FUNCTIONS[logical_id]
    lam, events, iam = stack.client("lambda"), stack.client("events"), stack.client("iam")

    # the function, its environment and its concurrency
    got = lam.get_function(FunctionName=ids[logical_id])
    config = got["Configuration"]
    assert (config["Runtime"], config["Handler"]) == ("provided.al2023", "bootstrap")
    # moto hands Number parameters on as numbers; Lambda (and CloudFormation) as strings.
    deployed_env = {k: str(v) for k, v in config["Environment"]["Variables"].items()}
    assert deployed_env == expected_environment(
        function, values, ids["NotificationTopic"], ids["LedgerTable"], ids.get("ChatTopic", ""))
    assert ("ChatTopic" in ids) == (values["ChatPlatform"] != "none")
    reserved = values[f"{logical_id.removesuffix('Function')}ReservedConcurrency"]
    assert got.get("Concurrency", {}).get("ReservedConcurrentExecutions") == (
        None if reserved == "0" else int(reserved))
    role_name = ids[f"{logical_id}Role"]
    assert config["Role"] == iam.get_role(RoleName=role_name)["Role"]["Arn"]

    # exactly one rule targets it, with the retry policy and its own dead-letter queue
    rule_id = logical_id.removesuffix("Function") + "Rule"
    rule = events.describe_rule(Name=ids[rule_id])
    assert rule["State"] == "ENABLED"
    assert json.loads(rule["EventPattern"])["account"] == [stack.ACCOUNT]  # the stack's own
    (target,) = events.list_targets_by_rule(Rule=ids[rule_id])["Targets"]
    queue_id = logical_id.removesuffix("Function") + "DeadLetterQueue"
    queue_arn = stack.client("sqs").get_queue_attributes(
        QueueUrl=ids[queue_id], AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    assert target["Arn"] == config["FunctionArn"]
    assert target["RetryPolicy"] == {"MaximumRetryAttempts": 185, "MaximumEventAgeInSeconds": 86400}
    assert target["DeadLetterConfig"] == {"Arn": queue_arn}
    all_targets = [t["Arn"] for r in stack.client("events").list_rules()["Rules"]
                   if r["Name"].startswith(f"responder-{parameter_set}-")
                   for t in events.list_targets_by_rule(Rule=r["Name"])["Targets"]]
    assert all_targets.count(config["FunctionArn"]) == 1

    # only EventBridge, and only from that rule, may invoke it
    (statement,) = json.loads(lam.get_policy(FunctionName=ids[logical_id])["Policy"])["Statement"]
    assert statement["Principal"] == {"Service": "events.amazonaws.com"}
    assert statement["Action"] == "lambda:InvokeFunction"
    assert statement["Condition"] == {"ArnLike": {"AWS:SourceArn": rule["Arn"]}}

    # its role: write actions only in apply or approve mode, the topic key only through SNS
    statements = [st for name in iam.list_role_policies(RoleName=role_name)["PolicyNames"]
                  for st in policy_statements(
                      iam.get_role_policy(RoleName=role_name, PolicyName=name)["PolicyDocument"])]
    granted = set().union(*(actions(st) for st in statements))
    applies = values.get(MODE_PARAMETER.get(function, ""), "propose") in ("apply", "approve")
    key_set = values["SecretsKmsKeyArn"] != ""
    expected_writes = MUTATING[function] if applies else set()
    if function == "secrets-encryption" and not key_set:
        expected_writes = set()
    assert granted & ALL_MUTATING == expected_writes
    assume = [st for st in statements if "sts:AssumeRole" in actions(st)]
    if values["MemberRoleName"]:
        (st,) = assume
        assert st["Resource"] == f"arn:aws:iam::*:role/{values['MemberRoleName']}-{function}"
        allowed = values["AllowedAccounts"].split(",") if values["AllowedAccounts"] else None
        assert st["Condition"] == ({"StringEquals": {"aws:ResourceAccount": allowed}} if allowed
                                   else {"StringEquals": {"aws:ResourceOrgID": "${aws:PrincipalOrgID}"}})
    else:
        assert assume == []
    assert ("securityhub:BatchUpdateFindings" in granted) == (values["UpdateFindings"] == "true")
    key_arn = key_arn_of(ids["NotificationKey"])
    (key_use,) = [st for st in statements if actions(st) & {"kms:GenerateDataKey*", "kms:Decrypt"}]
    assert key_use["Resource"] == key_arn
    assert key_use["Condition"] == {"StringEquals": {"kms:ViaService": "sns.us-east-1.amazonaws.com"}}
    publish = {st["Resource"] for st in statements if "sns:Publish" in actions(st)}
    assert publish == {ids["NotificationTopic"], *([ids["ChatTopic"]] if "ChatTopic" in ids else [])}
    (ledger,) = [st for st in statements if any(a.startswith("dynamodb:") for a in actions(st))]
    table_arn = stack.client("dynamodb").describe_table(TableName=ids["LedgerTable"])["Table"]["TableArn"]
    assert ledger["Resource"] == table_arn
    assert actions(ledger) == {"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"}
    assert ledger["Condition"]["ForAllValues:StringLike"]["dynamodb:LeadingKeys"] == [
        "cluster#arn:aws:eks:*:*:cluster/*", f"function#{function}"]


@pytest.mark.parametrize("parameter_set", sorted(stack.PARAMETER_SETS))
def test_deployed_ledger_table(parameter_set):
    _, ids, values = deployed(parameter_set)
    assert ids, parameter_set
    ddb = stack.client("dynamodb")
    table = ddb.describe_table(TableName=ids["LedgerTable"])["Table"]
    assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    assert [(k["AttributeName"], k["KeyType"]) for k in table["KeySchema"]] == [
        ("pk", "HASH"), ("sk", "RANGE")]
    (index,) = table["GlobalSecondaryIndexes"]
    assert index["IndexName"] == "by-day"
    assert [k["AttributeName"] for k in index["KeySchema"]] == ["day", "decided_at"]
    assert index["Projection"]["ProjectionType"] == "INCLUDE"
    assert table["DeletionProtectionEnabled"] is (values["LedgerDeletionProtection"] == "true")
    # moto's CloudFormation ignores SSESpecification, TimeToLiveSpecification and
    # PointInTimeRecoverySpecification: checked in what CloudFormation receives instead.
    props = translated(parameter_set)["Resources"]["LedgerTable"]["Properties"]
    assert props["SSESpecification"] == {"SSEEnabled": True, "SSEType": "KMS"}
    assert props["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}
    assert props["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}


@pytest.mark.parametrize("parameter_set", sorted(stack.PARAMETER_SETS))
def test_deployed_topic_is_encrypted_with_a_key_no_function_role_is_named_in(
        parameter_set):
    _, ids, _ = deployed(parameter_set)
    kms = stack.client("kms")
    key_arn = key_arn_of(ids["NotificationKey"])
    attributes = stack.client("sns").get_topic_attributes(TopicArn=ids["NotificationTopic"])
    assert attributes["Attributes"]["KmsMasterKeyId"] == key_arn
    policy = kms.get_key_policy(KeyId=ids["NotificationKey"], PolicyName="default")["Policy"]
    principals = [st["Principal"] for st in policy_statements(policy)]
    assert principals == [{"AWS": f"arn:aws:iam::{stack.ACCOUNT}:root"},
                          {"Service": "cloudwatch.amazonaws.com"}]
    for queue in (k for k in ids if k.endswith("DeadLetterQueue")):
        attributes = stack.client("sqs").get_queue_attributes(
            QueueUrl=ids[queue], AttributeNames=["All"])["Attributes"]
        assert attributes["SqsManagedSseEnabled"] == "true"
        assert attributes["MessageRetentionPeriod"] == "1209600"


# What moto does not create or ignores, checked in the translated template.


@pytest.mark.parametrize("parameter_set", sorted(stack.PARAMETER_SETS))
def test_translated_resources_moto_lacks(parameter_set):
    resources = translated(parameter_set)["Resources"]
    values = stack.parameters(TEMPLATE, stack.PARAMETER_SETS[parameter_set])
    ev = cfn.Evaluator(TEMPLATE, stack.PARAMETER_SETS[parameter_set])
    roles = [{"Fn::GetAtt": [f"{fn}Role", "Arn"]} for fn in [*FUNCTIONS, "DigestFunction"]]
    for logical_id in FUNCTIONS:
        props = resources[logical_id]["Properties"]
        assert props["Architectures"] == ["arm64"]
        assert props["LoggingConfig"]["LogGroup"] == {
            "Ref": logical_id.removesuffix("Function") + "LogGroup"}
        invoke = resources[f"{logical_id}EventInvokeConfig"]["Properties"]
        queue = logical_id.removesuffix("Function") + "DeadLetterQueue"
        assert invoke["FunctionName"] == {"Ref": logical_id}
        assert (invoke["MaximumRetryAttempts"], invoke["MaximumEventAgeInSeconds"]) == (2, 21600)
        assert invoke["DestinationConfig"]["OnFailure"]["Destination"] == {
            "Fn::GetAtt": [queue, "Arn"]}
        assert f"{queue}Policy" in resources
    # publishers: the function roles and (through the Allow) CloudWatch alarms only
    topic_policy = resources["NotificationTopicPolicy"]["Properties"]["PolicyDocument"]
    (only,) = [st for st in topic_policy["Statement"]
               if st["Sid"] == "OnlyResponderFunctionsAndAlarmsPublish"]
    assert only["Effect"] == "Deny" and only["Principal"] == "*"
    assert only["Condition"] == {"ArnNotEquals": {"aws:PrincipalArn": roles},
                                 "Bool": {"aws:PrincipalIsAWSService": "false"}}
    (alarms,) = [st for st in topic_policy["Statement"] if st["Effect"] == "Allow"]
    assert alarms["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
    subscription = resources["NotificationEmailSubscription"]
    assert ev.condition(subscription["Condition"]) == (values["NotificationEmail"] != "")


@pytest.mark.parametrize("parameter_set", sorted(stack.PARAMETER_SETS))
def test_approve_mode_has_an_iam_function_url_and_an_approver_policy_and_nothing_else(
        parameter_set):
    resources = translated(parameter_set)["Resources"]
    values = stack.parameters(TEMPLATE, stack.PARAMETER_SETS[parameter_set])
    approving = sorted(fn for fn, name in FUNCTIONS.items()
                       if values.get(MODE_PARAMETER.get(name, ""), "propose") == "approve")
    urls = {k: v for k, v in resources.items() if v["Type"] == "AWS::Lambda::Url"}
    ev = cfn.Evaluator(TEMPLATE, stack.PARAMETER_SETS[parameter_set])
    live = sorted(k.removesuffix("Url") for k, v in urls.items() if ev.condition(v["Condition"]))
    assert live == approving
    for url in urls.values():
        assert url["Properties"]["AuthType"] == "AWS_IAM"
    # No resource-based policy grants the URL or anyone but EventBridge.
    for permission in (v for v in resources.values() if v["Type"] == "AWS::Lambda::Permission"):
        props = permission["Properties"]
        assert (props["Action"], props["Principal"]) == ("lambda:InvokeFunction", "events.amazonaws.com")
        assert "FunctionUrlAuthType" not in props
    description, ids, _ = deployed(parameter_set)
    assert ids, f"{parameter_set}: {description['StackStatus']}"
    if not approving:
        assert "ApproverPolicy" not in ids
        return
    iam, lam = stack.client("iam"), stack.client("lambda")
    arns = sorted(lam.get_function(FunctionName=ids[fn])["Configuration"]["FunctionArn"]
                  for fn in approving)
    policy = iam.get_policy(PolicyArn=ids["ApproverPolicy"])["Policy"]
    document = iam.get_policy_version(PolicyArn=policy["Arn"], VersionId=policy["DefaultVersionId"])
    statements = {st["Sid"]: st for st in policy_statements(document["PolicyVersion"]["Document"])}
    assert sorted(statements) == ["FindApprovalUrls", "InvokeApprovalUrls", "InvokeOnlyThroughApprovalUrls"]
    for st in statements.values():
        resources_of = st["Resource"] if isinstance(st["Resource"], list) else [st["Resource"]]
        resources_of = [r for r in resources_of if r is not None]  # moto keeps AWS::NoValue
        assert sorted(resources_of) == arns
    assert actions(statements["InvokeApprovalUrls"]) == {"lambda:InvokeFunctionUrl"}
    assert statements["InvokeApprovalUrls"]["Condition"] == {
        "StringEquals": {"lambda:FunctionUrlAuthType": "AWS_IAM"}}
    assert actions(statements["InvokeOnlyThroughApprovalUrls"]) == {"lambda:InvokeFunction"}
    assert statements["InvokeOnlyThroughApprovalUrls"]["Condition"] == {
        "Bool": {"lambda:InvokedViaFunctionUrl": "true"}}
    assert actions(statements["FindApprovalUrls"]) == {"lambda:GetFunctionUrlConfig"}


# ------------------------------------------------------------------------------------------
# member-role.yaml
# ------------------------------------------------------------------------------------------

RESPONDER_ROLES = {fn.removesuffix("Function") + "RoleArn":
                   f"arn:aws:iam::111122223333:role/responder-{name}" for fn, name in FUNCTIONS.items()}
ALLOW_APPLY = {"endpoint-access": "EndpointAccessAllowApply",
               "kubernetes-version": "KubernetesVersionAllowApply",
               "secrets-encryption": "SecretsEncryptionAllowApply"}
KEYS = {"none": "", "key": stack.KEY_ARN, "alias": stack.ALIAS_ARN}
# every key variant with nothing, everything, and each function alone allowed to apply
MEMBER_VARIANTS = {
    f"{allowed}-{key}": {"SecretsKmsKeyArn": KEYS[key],
                         **{p: str(allowed in ("all", f)).lower() for f, p in ALLOW_APPLY.items()}}
    for key in KEYS for allowed in ("none", "all", *ALLOW_APPLY)
}


@pytest.mark.parametrize("variant", sorted(MEMBER_VARIANTS))
def test_member_roles_deploy_each_trusting_one_function_with_only_its_allowed_writes(variant):
    prefix = f"Member-{variant}"[:38]
    values = {"RoleNamePrefix": prefix, "ResponderAccountId": "111122223333",
              **RESPONDER_ROLES, **MEMBER_VARIANTS[variant]}
    description = stack.deploy(f"member-{variant}", MEMBER, values)
    assert (description["StackStatus"], description.get("StackStatusReason")) == (
        "CREATE_COMPLETE", None)
    assert cycles.describe(MEMBER) == []
    outputs = {o["OutputKey"]: o["OutputValue"] for o in description["Outputs"]}
    iam = stack.client("iam")
    key = values["SecretsKmsKeyArn"]
    for logical_id, function in FUNCTIONS.items():
        role_name = f"{prefix}-{function}"
        role = iam.get_role(RoleName=role_name)["Role"]
        assert outputs[f"{logical_id.removesuffix('Function')}MemberRoleArn"] == role["Arn"]
        trust = role["AssumeRolePolicyDocument"]
        trust = json.loads(trust) if isinstance(trust, str) else trust
        (statement,) = trust["Statement"]
        assert statement["Principal"] == {"AWS": "arn:aws:iam::111122223333:root"}
        assert statement["Condition"] == {"ArnEquals": {"aws:PrincipalArn": RESPONDER_ROLES[
            logical_id.removesuffix("Function") + "RoleArn"]}}
        statements = [st for name in iam.list_role_policies(RoleName=role_name)["PolicyNames"]
                      for st in policy_statements(
                          iam.get_role_policy(RoleName=role_name, PolicyName=name)["PolicyDocument"])]
        granted = set().union(*(actions(st) for st in statements))
        allowed = values.get(ALLOW_APPLY.get(function, ""), "false") == "true"
        expected = MUTATING[function] if allowed else set()
        if function == "secrets-encryption" and not key:
            expected = set()
        assert granted & ALL_MUTATING == expected, function
        assert ("kms:DescribeKey" in granted) == (function == "secrets-encryption" and key != ""), function
        for st in statements:
            if actions(st) & ALL_MUTATING - {"kms:CreateGrant"}:
                assert st["Resource"] == f"arn:aws:eks:*:{stack.ACCOUNT}:cluster/*"
