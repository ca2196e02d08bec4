"""The moto resources `make demo` (scripts/demo_aws.py) and `make bench` (scripts/bench/harness.py)
both create: the sample events' EKS clusters, and sessions in a chosen account.

Accounts. moto picks the account of a request from its access key: keys that moto issued
(AssumeRole, CreateAccessKey) belong to the account they were issued in, any other key to
123456789012. MOTO_ACCOUNT_ID must stay unset (it pins every request to one account). So a
harness reaches account A by assuming arn:aws:iam::A:role/<anything> (moto does not require the
role to exist) and hands the functions such credentials too.

Endpoints. AWS_ENDPOINT_URL is moto_server; AWS_ENDPOINT_URL_EKS and AWS_ENDPOINT_URL_SECURITYHUB,
when set, are the AWS stand-in in front of it (scripts/aws_standin.py), as for the functions.
boto3 is imported when first needed, so importing this module costs nothing.
"""

from __future__ import annotations

import os
import sys

REGION = os.environ.get("AWS_REGION", "us-east-1")
SUBNETS = ["subnet-0a1b2c3d4e5f60001", "subnet-0a1b2c3d4e5f60002"]
SECURITY_GROUPS = ["sg-0a1b2c3d4e5f60001"]


def endpoint() -> str:
    url = os.environ.get("AWS_ENDPOINT_URL")
    if not url:
        sys.exit(f"{os.path.basename(sys.argv[0])}: AWS_ENDPOINT_URL is not set (the moto_server URL)")
    return url


def endpoint_for(service: str) -> str:
    """The URL the SDKs use for `service`: AWS_ENDPOINT_URL_<SERVICE>, else AWS_ENDPOINT_URL."""
    return os.environ.get(f"AWS_ENDPOINT_URL_{service.upper()}") or endpoint()


def credentials_for(account: str, role_name: str, session_name: str) -> dict[str, str]:
    """Temporary credentials that moto maps to `account`, as environment variables."""
    import boto3

    sts = boto3.client("sts", endpoint_url=endpoint(), region_name=REGION)
    creds = sts.assume_role(
        RoleArn=f"arn:aws:iam::{account}:role/{role_name}",
        RoleSessionName=session_name,
        DurationSeconds=43200,
    )["Credentials"]
    return {
        "AWS_ACCESS_KEY_ID": creds["AccessKeyId"],
        "AWS_SECRET_ACCESS_KEY": creds["SecretAccessKey"],
        "AWS_SESSION_TOKEN": creds["SessionToken"],
    }


def session_from(creds: dict[str, str]):
    import boto3

    return boto3.Session(
        aws_access_key_id=creds["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=creds["AWS_SECRET_ACCESS_KEY"],
        aws_session_token=creds["AWS_SESSION_TOKEN"],
        region_name=REGION,
    )


def session_for(account: str, role_name: str, session_name: str):
    return session_from(credentials_for(account, role_name, session_name))


def client(session, service: str):
    return session.client(service, endpoint_url=endpoint_for(service), region_name=REGION)


def vpc(public: bool, private: bool, cidrs: list[str] | None = None) -> dict:
    config = {
        "subnetIds": SUBNETS,
        "securityGroupIds": SECURITY_GROUPS,
        "endpointPublicAccess": public,
        "endpointPrivateAccess": private,
    }
    if public:
        config["publicAccessCidrs"] = cidrs or ["0.0.0.0/0"]
    return config


def cluster_specs(key_arn: str) -> dict[str, dict]:
    """Every cluster of the sample events (events/*.json), in the live state the demo shows,
    keyed by name; `key_arn` encrypts the secrets of those that have a key."""
    encrypted = [{"resources": ["secrets"], "provider": {"keyArn": key_arn}}]

    def spec(version, vpc_config, team, environment, secrets=True, owner_consent=False):
        s = {"version": version, "resourcesVpcConfig": vpc_config,
             "tags": {"team": team, "environment": environment}}
        if owner_consent:
            # The owner's consent to one-way doors (upgrades, secrets encryption) in apply mode.
            s["tags"]["eks-exposure-responder/mode"] = "apply"
        if secrets:
            s["encryptionConfig"] = encrypted
        return s

    return {
        "payments-prod": spec("1.31", vpc(True, False), "payments", "prod"),
        "ledger-internal": spec("1.31", vpc(False, True), "ledger", "prod"),
        "batch-legacy": spec("1.24", vpc(False, True), "batch", "prod", owner_consent=True),
        # A second 1.24 cluster whose upgrade readiness insights report an ERROR for 1.25.
        "reports-legacy": spec("1.24", vpc(False, True), "reports", "prod", owner_consent=True),
        "orders-staging": spec("1.30", vpc(False, True), "orders", "staging", secrets=False, owner_consent=True),
        # A second cluster without a secrets key, for the refused association.
        "inventory-staging": spec("1.31", vpc(False, True), "inventory", "staging", secrets=False, owner_consent=True),
        "analytics-dev": spec("1.31", vpc(True, True, ["203.0.113.0/24"]), "analytics", "dev"),
        "platform-shared": spec("1.24", vpc(True, False), "platform", "prod", secrets=False),
        "search-preview": spec("1.31", vpc(True, False), "search", "prod"),
    }


def create_clusters(session, account: str, names: list[str], key_arn: str) -> list[dict]:
    """Create the named clusters that do not exist yet (any name not in `cluster_specs` gets a
    public 1.31 cluster); returns the clusters created, as CreateCluster answered."""
    eks = client(session, "eks")
    existing = set(eks.list_clusters()["clusters"])
    specs = cluster_specs(key_arn)
    made = []
    for name in names:
        if name in existing:
            continue
        spec = specs.get(name, {"version": "1.31", "resourcesVpcConfig": vpc(True, False)})
        made.append(eks.create_cluster(
            name=name, roleArn=f"arn:aws:iam::{account}:role/eks-cluster-role", **spec)["cluster"])
    return made


# The decision ledger's table, as template.yaml's LedgerTable declares it (keys and the by-day
# index the functions query; shared/src/ledger/dynamo.rs reads and writes it).
LEDGER_INDEX_ATTRIBUTES = ["function", "cluster_arn", "account", "region", "outcome", "reason_code",
                           "traits", "severity", "subject", "decision_id"]


def create_ledger_table(session, name: str) -> str:
    """Create the ledger table `name` (on-demand, TTL on expires_at); returns its ARN."""
    ddb = client(session, "dynamodb")
    table = ddb.create_table(
        TableName=name,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": a, "AttributeType": "S"}
                              for a in ("pk", "sk", "day", "decided_at")],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"},
                   {"AttributeName": "sk", "KeyType": "RANGE"}],
        GlobalSecondaryIndexes=[{
            "IndexName": "by-day",
            "KeySchema": [{"AttributeName": "day", "KeyType": "HASH"},
                          {"AttributeName": "decided_at", "KeyType": "RANGE"}],
            "Projection": {"ProjectionType": "INCLUDE", "NonKeyAttributes": LEDGER_INDEX_ATTRIBUTES},
        }],
    )["TableDescription"]
    ddb.update_time_to_live(TableName=name,
                            TimeToLiveSpecification={"Enabled": True, "AttributeName": "expires_at"})
    return table["TableArn"]
