"""What CloudFormation receives from `sam deploy`, and a CloudFormation engine to give it to.

translate() runs the SAM transform with the pinned aws-sam-translator, as CloudFormation's
AWS::Serverless-2016-10-31 transform does, for a set of parameter values. deploy() creates a
stack from the result in moto's CloudFormation on the moto_server of the test run
(MOTO_ENDPOINT, set by scripts/with_moto.sh).

Code for moto: `sam deploy` uploads each function's build and rewrites CodeUri to its S3
location. Here every CodeUri points at one tiny zip (a `bootstrap` that is never run) that
upload_code() puts into moto's S3: the stack holds real Lambda functions with that code, and no
Rust build is needed to test the template.
"""

from __future__ import annotations

import copy
import io
import json
import os
import time
import zipfile
from typing import Any

import boto3
from botocore.config import Config
from samtranslator.translator.transform import transform

import cfn

REGION = "us-east-1"
ACCOUNT = "123456789012"  # moto's default account for the dummy credentials
CODE_BUCKET = "eks-exposure-responder-template-tests"
CODE_KEY = "bootstrap.zip"

KEY_ARN = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
ALIAS_ARN = "arn:aws:kms:us-east-1:111122223333:alias/eks/secrets"

# The parameter sets every deployability test runs with.
PARAMETER_SETS: dict[str, dict[str, str]] = {
    "defaults": {},
    "every-function-applies": {
        "EndpointAccessMode": "apply",
        "KubernetesVersionMode": "apply",
        "SecretsEncryptionMode": "apply",
        "SecretsKmsKeyArn": KEY_ARN,
        "AllowedPublicCidrs": "203.0.113.0/24",
        "ContainerVulnerabilitiesReservedConcurrency": "0",
        "EndpointAccessReservedConcurrency": "2",
    },
    "member-role-and-key-alias": {
        "MemberRoleName": "EksExposureResponderMember",
        "AllowedAccounts": "111122223333,444455556666",
        "SecretsKmsKeyArn": ALIAS_ARN,
        "UpdateFindings": "false",
        "ApplyToIacManaged": "true",
    },
    "approvals": {
        "EndpointAccessMode": "approve",
        "KubernetesVersionMode": "approve",
        "SecretsEncryptionMode": "propose",
        "ApprovalExpiryDays": "3",
    },
    "notification-email": {"NotificationEmail": "security@example.com",
                           "LedgerDeletionProtection": "false", "MaxAppliesPerHour": "2",
                           "CircuitBreakerFailures": "5", "DedupeWindowDays": "1",
                           "ChatPlatform": "slack", "SlackWorkspaceId": "T0123ABCD",
                           "SlackChannelId": "C0123ABCD", "DigestPeriodMinutes": "15"},
}

# Resource types moto's CloudFormation (moto 5.2.5) does not implement. moto skips such a
# resource with a warning and reports nothing, so deploy() removes them before creating the
# stack and the tests check them in the translated template instead.
MOTO_LACKS = {
    "AWS::Chatbot::MicrosoftTeamsChannelConfiguration",
    "AWS::Chatbot::SlackChannelConfiguration",
    "AWS::CloudWatch::Alarm",
    "AWS::Lambda::EventInvokeConfig",
    "AWS::Lambda::Url",
    "AWS::SNS::Subscription",
    "AWS::SNS::TopicPolicy",
    "AWS::SQS::QueuePolicy",
    "AWS::Scheduler::Schedule",
}


class _NoManagedPolicies:
    """SAM looks up managed policy names only for policies given by name; ours are inline."""

    def load(self) -> dict:
        return {}


def parameters(template: dict, overrides: dict[str, str]) -> dict[str, str]:
    """Every parameter's value: its default, or the override."""
    return cfn.Evaluator(template, overrides).params


def translate(overrides: dict[str, str], source: dict | None = None,
              code_uri: str = f"s3://{CODE_BUCKET}/{CODE_KEY}") -> dict:
    """template.yaml (or `source`) after the SAM transform, with every CodeUri at `code_uri`."""
    template = copy.deepcopy(source if source is not None else cfn.load(cfn.TEMPLATE))
    for resource in template["Resources"].values():
        if resource["Type"] == "AWS::Serverless::Function":
            resource["Properties"]["CodeUri"] = code_uri
    values = parameters(template, overrides)
    previous = os.environ.get("AWS_DEFAULT_REGION")
    os.environ["AWS_DEFAULT_REGION"] = REGION  # SAM reads the Region for ARNs it writes
    try:
        return transform(template, values, _NoManagedPolicies())
    finally:
        if previous is None:
            del os.environ["AWS_DEFAULT_REGION"]
        else:
            os.environ["AWS_DEFAULT_REGION"] = previous


def for_moto(template: dict) -> tuple[dict, list[str]]:
    """(the template without the resource types moto lacks, the logical ids removed)."""
    out = copy.deepcopy(template)
    removed = sorted(k for k, v in out["Resources"].items() if v["Type"] in MOTO_LACKS)
    for logical_id in removed:
        del out["Resources"][logical_id]
    return out, removed


# ------------------------------------------------------------------------------------------
# moto
# ------------------------------------------------------------------------------------------


def endpoint() -> str:
    url = os.environ.get("MOTO_ENDPOINT")
    if not url:
        raise AssertionError("MOTO_ENDPOINT is not set: run through scripts/template_test.sh, "
                             "which starts a moto_server (scripts/with_moto.sh)")
    return url


def client(service: str, retries: int = 3) -> Any:
    return boto3.client(service, endpoint_url=endpoint(), region_name=REGION,
                        aws_access_key_id="testing", aws_secret_access_key="testing",
                        config=Config(retries={"max_attempts": retries, "mode": "standard"}))


def upload_code() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("bootstrap", "#!/bin/sh\necho 'the template tests never run this'\n")
    s3 = client("s3")
    s3.create_bucket(Bucket=CODE_BUCKET)
    s3.put_object(Bucket=CODE_BUCKET, Key=CODE_KEY, Body=buffer.getvalue())


def deploy(name: str, template: dict, values: dict[str, str], retries: int = 3) -> dict:
    """Create the stack and wait for it to leave *_IN_PROGRESS; its description."""
    cloudformation = client("cloudformation", retries)
    cloudformation.create_stack(
        StackName=name,
        TemplateBody=json.dumps(template),
        Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in values.items()],
        Capabilities=["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM"],
    )
    for _ in range(120):  # moto creates synchronously; this only guards against a hang
        (stack,) = cloudformation.describe_stacks(StackName=name)["Stacks"]
        if not stack["StackStatus"].endswith("_IN_PROGRESS"):
            return stack
        time.sleep(0.5)
    raise AssertionError(f"stack {name} still {stack['StackStatus']}")


def physical_ids(name: str) -> dict[str, str]:
    """Logical id -> physical id of every resource of the stack."""
    cloudformation = client("cloudformation")
    summaries = cloudformation.list_stack_resources(StackName=name)["StackResourceSummaries"]
    return {r["LogicalResourceId"]: r["PhysicalResourceId"] for r in summaries}
