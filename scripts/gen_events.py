#!/usr/bin/env python3
"""Generate the sample-event corpus in events/ (deterministic; no network, no randomness).

    python3 scripts/gen_events.py          # (re)write the generated files in events/
    python3 scripts/gen_events.py --check  # verify events/ against events/manifest.toml, write nothing

The three hand-written files (eks-public-access.json, eks-unsupported-kubernetes-version.json,
eks-high-priority-vulnerability.json) are NOT generated; they are read (eks-public-access.json is
the base for the derived invalid files) and checked, never rewritten.

Shapes follow Security Hub's OCSF exposure findings (class 2004, GA traits and preview tags).
Every identifier is derived from a fixed seed with SHA-256, so re-running produces byte-identical
files.
"""

import copy
import datetime as dt
import hashlib
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EVENTS = ROOT / "events"

HOME_ACCOUNT = "444455556666"  # Security Hub delegated administrator (aggregation account)
HOME_REGION = "us-east-1"  # aggregation home Region

COPIED = (
    "eks-public-access.json",
    "eks-unsupported-kubernetes-version.json",
    "eks-high-priority-vulnerability.json",
)

# payments-prod already has an exposure in the hand-written events: one exposure per resource,
# so every later event about payments-prod reuses these identifiers.
PAYMENTS_METADATA_UID = "c3b36eee5ddd49903dd93f175abe24db672f75e185165f6ed293515b200e451a"
PAYMENTS_FINDING_UID = (
    "arn:aws:securityhub:us-east-1:444455556666:risk:"
    "eb593acbe930423994fde12a542108b32009bbf38b192f41efc7891203ca6530"
)
PAYMENTS_EKS1_UID = (
    "arn:aws:securityhub:us-east-1:444455556666:security-control/EKS.1/finding/"
    "fe0f84f4-a509-875f-f00b-9e83dc51e2e4"
)

SEVERITY_IDS = {"Informational": 1, "Low": 2, "Medium": 3, "High": 4, "Critical": 5}
STATUS_IDS = {"New": 1, "In Progress": 2, "Suppressed": 3, "Resolved": 4}
ACTIVITY_IDS = {"Create": 1, "Update": 2, "Close": 3}

# Trait names: the remediation-page headings used as placeholders, as in the hand-written events
# (inferred: not confirmed by a real EKS exposure event).
T1 = "The Amazon EKS cluster allows public access"
T2 = "The Amazon EKS cluster uses an unsupported Kubernetes version"
T3 = "The Amazon EKS cluster uses unencrypted Kubernetes secrets"
T4 = (
    "The Amazon EKS cluster has a container with network-exploitable software vulnerabilities "
    "with a high likelihood of exploitation"
)
T5 = "The Amazon EKS cluster has a container with software vulnerabilities"
T4_VALUES = [
    "Attack Vector Network",
    "EPSS Level >= High",
    "EPSS Level >= Medium",
    "Exploit Available",
    "No Privileges Required",
    "No User Interaction Required",
    "Vulnerable",
]
T5_VALUES = ["Vulnerable"]

EKS1_TITLE = "EKS cluster endpoints should not be publicly accessible"
EKS2_TITLE = "EKS clusters should run on a supported Kubernetes version"
EKS3_TITLE = "EKS clusters should use encrypted Kubernetes secrets"

REMEDIATION_DESC = (
    "Review the contributing findings (traits) of this exposure and follow the remediation "
    "guidance for Amazon EKS clusters."
)
REMEDIATION_PAGE = "https://docs.aws.amazon.com/securityhub/latest/userguide/exposure-eks-cluster.html"


# ---------------------------------------------------------------- deterministic identifiers


def hex64(seed: str) -> str:
    return hashlib.sha256(("eks-exposure-responder/" + seed).encode()).hexdigest()


def hex32(seed: str) -> str:
    return hex64(seed)[:32]


def uuidish(seed: str) -> str:
    h = hex32(seed)
    return f"{h[0:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}"


def digest(seed: str) -> str:
    return "sha256:" + hex64("image/" + seed)


# ---------------------------------------------------------------- time


def ms(ts: str) -> int:
    """'2026-05-12T08:14:03.512Z' -> epoch milliseconds."""
    t = dt.datetime.strptime(ts, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=dt.timezone.utc)
    return int(round(t.timestamp() * 1000))


def envelope_time(ts: str) -> str:
    """Envelope `time` is whole seconds, as in the hand-written events."""
    return ts.split(".")[0] + "Z"


# ---------------------------------------------------------------- builders


def cluster_arn(account: str, region: str, name: str) -> str:
    return f"arn:aws:eks:{region}:{account}:cluster/{name}"


def securityhub_product(region: str) -> str:
    return f"arn:aws:securityhub:{region}::productv2/aws/securityhub"


def inspector_product(region: str) -> str:
    return f"arn:aws:securityhub:{region}::productv2/aws/inspector"


def observable(value: str) -> dict:
    return {"type": "Resource UID", "type_id": 10, "value": value}


def control_signal(control, title, severity, account, region, cluster, trait_name, uid=None):
    """A Security Hub CSPM control finding as a contributing finding (GA `traits` shape)."""
    return {
        "uid": uid
        or (
            f"arn:aws:securityhub:{region}:{account}:security-control/{control}/finding/"
            + uuidish(f"{control}/{account}/{region}/{cluster}")
        ),
        "product": {"uid": securityhub_product(region)},
        "type": "Finding",
        "title": title,
        "severity": severity,
        "severity_id": SEVERITY_IDS[severity],
        "observables": [observable(cluster_arn(account, region, cluster))],
        "traits": [{"category": "Misconfiguration", "name": trait_name}],
    }


def eks1(account, region, cluster, uid=None):
    return control_signal("EKS.1", EKS1_TITLE, "High", account, region, cluster, T1, uid)


def eks2(account, region, cluster):
    return control_signal("EKS.2", EKS2_TITLE, "Medium", account, region, cluster, T2)


def eks3(account, region, cluster):
    return control_signal("EKS.3", EKS3_TITLE, "Medium", account, region, cluster, T3)


def inspector_signal(account, region, cve, packages, severity, repository, exploitable):
    """An Amazon Inspector container-image finding as a contributing finding."""
    return {
        "uid": f"arn:aws:inspector2:{region}:{account}:finding/" + hex32(f"inspector/{cve}/{repository}"),
        "product": {"uid": inspector_product(region)},
        "type": "Finding",
        "title": f"{cve} - {packages}",
        "severity": severity,
        "severity_id": SEVERITY_IDS[severity],
        "observables": [
            observable(f"arn:aws:ecr:{region}:{account}:repository/{repository}/{digest(repository)}")
        ],
        "traits": [
            {
                "category": "Vulnerability",
                "name": T4 if exploitable else T5,
                "values": list(T4_VALUES if exploitable else T5_VALUES),
            }
        ],
    }


def finding(
    *,
    cluster,
    account,
    region,
    metadata_uid,
    finding_uid,
    title,
    desc,
    types,
    related,
    severity,
    created,
    modified,
    anchors,
    tags,
    activity="Create",
    status="New",
    resource_uid_style="arn",
):
    """A GA-shaped OCSF exposure finding; key order matches the hand-written events."""
    arn = cluster_arn(account, region, cluster)
    resource = {
        "cloud_partition": "aws",
        "owner": {"account": {"uid": account}},
        "region": region,
        "type": "AWS::EKS::Cluster",
        "name": cluster,
        "tags": [{"name": k, "value": v} for k, v in tags],
        "uid": arn,
    }
    if resource_uid_style == "name":
        resource["uid"] = cluster
        resource["uid_alt"] = arn
    f = {
        "activity_id": ACTIVITY_IDS[activity],
        "activity_name": activity,
        "category_name": "Findings",
        "category_uid": 2,
        "class_name": "Detection Finding",
        "class_uid": 2004,
        "type_name": f"Detection Finding: {activity}",
        "type_uid": 200400 + ACTIVITY_IDS[activity],
        "cloud": {
            "account": {"type": "AWS Account", "type_id": 10, "uid": account},
            "cloud_partition": "aws",
            "provider": "AWS",
            "region": region,
        },
        "finding_info": {
            "analytic": {"name": "Exposure", "type": "Rule", "type_id": 1},
            "created_time": ms(created),
            "created_time_dt": created,
            "first_seen_time": ms(created),
            "first_seen_time_dt": created,
            "last_seen_time": ms(modified),
            "last_seen_time_dt": modified,
            "modified_time": ms(modified),
            "modified_time_dt": modified,
            "title": title,
            "desc": desc,
            "types": list(types),
            "uid": finding_uid,
            "related_events_count": len(related),
            "related_events": related,
        },
        "metadata": {
            "product": {
                "name": "Security Hub",
                "uid": securityhub_product(HOME_REGION),
                "vendor_name": "AWS",
                "feature": {"uid": "security-hub/Exposure", "name": "Exposure"},
            },
            "profiles": ["cloud", "datetime"],
            "uid": metadata_uid,
            "version": "1.6.0",
        },
        "remediation": {
            "desc": REMEDIATION_DESC,
            "references": [f"{REMEDIATION_PAGE}#{a}" for a in anchors],
        },
        "resources": [resource],
        "severity": severity,
        "severity_id": SEVERITY_IDS[severity],
        "status": status,
        "status_id": STATUS_IDS[status],
        "time": ms(modified),
        "time_dt": modified,
        "vendor_attributes": {"severity": severity, "severity_id": SEVERITY_IDS[severity]},
    }
    return f


def envelope(finding_obj, event_seed, time_dt):
    return {
        "version": "0",
        "id": uuidish("event/" + event_seed),
        "detail-type": "Findings Imported V2",
        "source": "aws.securityhub",
        "account": HOME_ACCOUNT,
        "time": envelope_time(time_dt),
        "region": HOME_REGION,
        "resources": [finding_obj["metadata"]["uid"]] if finding_obj else [],
        "detail": {"findings": [finding_obj] if finding_obj else []},
    }


def risk_uid(seed):
    return f"arn:aws:securityhub:{HOME_REGION}:{HOME_ACCOUNT}:risk:" + hex64("risk/" + seed)


def exposure(cluster, account=HOME_ACCOUNT, region=HOME_REGION):
    """(metadata.uid, finding_info.uid) of the one exposure of a cluster."""
    seed = f"{account}/{region}/{cluster}"
    return hex64("exposure/" + seed), risk_uid(seed)


# ---------------------------------------------------------------- the corpus


def build():
    out = {}
    acct, reg = HOME_ACCOUNT, HOME_REGION
    base = json.loads((EVENTS / "eks-public-access.json").read_text())

    # 4. unencrypted secrets (EKS.3)
    t = "2026-05-12T10:27:55.640Z"
    m, u = exposure("orders-staging")
    f = finding(
        cluster="orders-staging", account=acct, region=reg, metadata_uid=m, finding_uid=u,
        title="EKS cluster stores Kubernetes secrets without KMS envelope encryption",
        desc="The Amazon EKS cluster orders-staging has no encryption configuration for Kubernetes "
        "secrets with a customer managed AWS KMS key (Security Hub CSPM control EKS.3).",
        types=["Exposure/Potential Impact/Data Exfiltration"],
        related=[eks3(acct, reg, "orders-staging")],
        severity="Low", created=t, modified=t,
        anchors=["unencrypted-kubernetes-secrets"],
        tags=[("environment", "staging"), ("team", "orders")],
    )
    out["eks-unencrypted-secrets.json"] = envelope(f, "orders-staging/create", t)

    # 5. ordinary container vulnerabilities (trait 5 only)
    t = "2026-05-12T13:48:19.025Z"
    m, u = exposure("analytics-dev")
    f = finding(
        cluster="analytics-dev", account=acct, region=reg, metadata_uid=m, finding_uid=u,
        title="EKS cluster runs containers with software vulnerabilities",
        desc="The Amazon EKS cluster analytics-dev runs container images analytics-etl, "
        "notebook-runner and report-builder with known software vulnerabilities "
        "(CVE-2024-0727, CVE-2022-40897, CVE-2023-29383).",
        types=["Exposure/Potential Impact/Resource Hijacking"],
        related=[
            inspector_signal(acct, reg, "CVE-2024-0727", "openssl, openssl-libs", "Medium",
                             "analytics-etl", False),
            inspector_signal(acct, reg, "CVE-2022-40897", "setuptools", "Medium",
                             "notebook-runner", False),
            inspector_signal(acct, reg, "CVE-2023-29383", "login, passwd", "Low",
                             "report-builder", False),
        ],
        severity="Low", created=t, modified=t,
        anchors=["low-priority-vulnerability"],
        tags=[("environment", "development"), ("team", "analytics")],
    )
    out["eks-low-priority-vulnerability.json"] = envelope(f, "analytics-dev/create", t)

    # 6. every known trait on one cluster
    c, t = "2026-05-11T22:03:47.118Z", "2026-05-13T04:12:30.776Z"
    m, u = exposure("platform-shared")
    f = finding(
        cluster="platform-shared", account=acct, region=reg, metadata_uid=m, finding_uid=u,
        title="Publicly accessible EKS cluster on an unsupported Kubernetes version runs a "
        "container with a network-exploitable vulnerability with known exploit",
        desc="The Amazon EKS cluster platform-shared has a public API endpoint, runs an "
        "unsupported Kubernetes version, does not encrypt Kubernetes secrets with a KMS key, "
        "and runs container image platform-gateway with CVE-2021-44228 (exploit available, "
        "high EPSS) and image platform-jobs with CVE-2023-7104.",
        types=["Exposure/Potential Impact/Resource Hijacking"],
        related=[
            inspector_signal(acct, reg, "CVE-2021-44228", "org.apache.logging.log4j:log4j-core",
                             "Critical", "platform-gateway", True),
            inspector_signal(acct, reg, "CVE-2023-7104", "sqlite-libs", "Medium",
                             "platform-jobs", False),
            eks1(acct, reg, "platform-shared"),
            eks2(acct, reg, "platform-shared"),
            eks3(acct, reg, "platform-shared"),
        ],
        severity="Critical", created=c, modified=t, activity="Update",
        anchors=["internet-reachable", "unsupported-kubernetes-version",
                 "unencrypted-kubernetes-secrets", "high-priority-vulnerability",
                 "low-priority-vulnerability"],
        tags=[("environment", "production"), ("team", "platform")],
    )
    out["eks-multi-trait.json"] = envelope(f, "platform-shared/update", t)

    # 7. member account, linked Region, bare-name uid + uid_alt
    t = "2026-05-12T11:06:44.289Z"
    m, u = exposure("checkout-eu", "111122223333", "eu-west-1")
    f = finding(
        cluster="checkout-eu", account="111122223333", region="eu-west-1",
        metadata_uid=m, finding_uid=u,
        title="EKS cluster API server endpoint is reachable from the internet",
        desc="The Amazon EKS cluster checkout-eu exposes its Kubernetes API server endpoint "
        "publicly (0.0.0.0/0).",
        types=["Exposure/Potential Impact/Unauthorized Access"],
        related=[eks1("111122223333", "eu-west-1", "checkout-eu")],
        severity="Medium", created=t, modified=t,
        anchors=["internet-reachable"],
        tags=[("environment", "production"), ("team", "checkout")],
        resource_uid_style="name",
    )
    out["eks-cross-account-uid-alt.json"] = envelope(f, "checkout-eu/create", t)

    # 8. preview shape (tags[] instead of traits[], no metadata.product.feature)
    t = "2026-05-12T12:31:08.950Z"
    m, u = exposure("search-preview")
    arn = cluster_arn(acct, reg, "search-preview")
    f = {
        "activity_id": 1,
        "activity_name": "Create",
        "category_name": "Findings",
        "category_uid": 2,
        "class_name": "Detection Finding",
        "class_uid": 2004,
        "cloud": {
            "account": {"name": "platform-workloads", "uid": acct},
            "cloud_partition": "aws",
            "provider": "AWS",
            "region": reg,
        },
        "finding_info": {
            "analytic": {"name": "Exposure", "type": "Rule", "type_id": 1, "uid": "0.0.1"},
            "created_time_dt": t,
            "desc": "The Amazon EKS cluster search-preview exposes its Kubernetes API server "
            "endpoint publicly.",
            "modified_time_dt": t,
            "related_events": [
                {
                    "observables": [observable(arn)],
                    "product": {"uid": securityhub_product(reg)},
                    "tags": [{"name": "Misconfiguration", "values": ["Publicly accessible endpoint"]}],
                    "title": EKS1_TITLE,
                    "type": "Finding",
                    "uid": f"arn:aws:securityhub:{reg}:{acct}:security-control/EKS.1/finding/"
                    + uuidish(f"EKS.1/{acct}/{reg}/search-preview"),
                }
            ],
            "related_events_count": 1,
            "title": "EKS cluster API server endpoint is reachable from the internet",
            "types": ["Exposure/Potential Impact/Resource Hijacking"],
            "uid": u,
        },
        "metadata": {
            "processed_time_dt": t,
            "product": {
                "name": "Security Hub Exposure Analysis",
                "uid": f"arn:aws:securityhub:{reg}::productv2/aws/securityhub-risk",
                "vendor_name": "Amazon",
            },
            "profiles": ["cloud", "datetime"],
            "uid": m,
            "version": "1.4.0-dev",
        },
        "resources": [
            {
                "cloud_partition": "aws",
                "region": reg,
                "tags": [{"name": "environment", "value": "preview"}, {"name": "team", "value": "search"}],
                "type": "AWS::EKS::Cluster",
                "uid": arn,
            }
        ],
        "severity": "Medium",
        "severity_id": 3,
        "status": "New",
        "status_id": 1,
        "time": ms(t),
        "time_dt": t,
        "type_name": "Detection Finding: Create",
        "type_uid": 200401,
        "vendor_attributes": {"severity": "Medium", "severity_id": 3},
    }
    out["eks-preview-shape.json"] = envelope(f, "search-preview/create", t)

    # 9. public access on a cluster the demo creates already private (stale event)
    t = "2026-05-12T08:52:16.207Z"
    m, u = exposure("ledger-internal")
    f = finding(
        cluster="ledger-internal", account=acct, region=reg, metadata_uid=m, finding_uid=u,
        title="EKS cluster API server endpoint is reachable from the internet",
        desc="The Amazon EKS cluster ledger-internal exposes its Kubernetes API server endpoint "
        "publicly (0.0.0.0/0).",
        types=["Exposure/Potential Impact/Unauthorized Access"],
        related=[eks1(acct, reg, "ledger-internal")],
        severity="Medium", created=t, modified=t,
        anchors=["internet-reachable"],
        tags=[("environment", "production"), ("team", "ledger")],
    )
    out["eks-public-access-stale.json"] = envelope(f, "ledger-internal/create", t)

    # 10. public access + a trait the product does not know (Macie, Sensitive Data)
    c, t = "2026-05-12T08:14:03.512Z", "2026-05-12T15:37:22.418Z"
    unknown_signal = {
        "uid": f"arn:aws:macie2:{reg}:{acct}:finding/" + hex32("macie/payments-prod"),
        "product": {"uid": f"arn:aws:securityhub:{reg}::productv2/aws/macie"},
        "type": "Finding",
        "title": "The S3 object contains credentials data.",
        "severity": "High",
        "severity_id": 4,
        "observables": [observable("arn:aws:s3:::payments-prod-config-444455556666")],
        "traits": [
            {
                "category": "Sensitive Data",
                "name": "The Amazon EKS cluster can access an Amazon S3 bucket that contains sensitive data",
                "values": ["Credentials"],
            }
        ],
    }
    f = finding(
        cluster="payments-prod", account=acct, region=reg,
        metadata_uid=PAYMENTS_METADATA_UID, finding_uid=PAYMENTS_FINDING_UID,
        title="Publicly accessible EKS cluster can access sensitive data",
        desc="The Amazon EKS cluster payments-prod exposes its Kubernetes API server endpoint "
        "publicly (0.0.0.0/0) and can access the S3 bucket payments-prod-config-444455556666, "
        "which contains credentials.",
        types=["Exposure/Potential Impact/Data Exfiltration"],
        related=[eks1(acct, reg, "payments-prod", PAYMENTS_EKS1_UID), unknown_signal],
        severity="High", created=c, modified=t, activity="Update",
        anchors=["internet-reachable"],
        tags=[("environment", "production"), ("team", "payments")],
    )
    out["eks-unknown-trait.json"] = envelope(f, "payments-prod/update-sensitive-data", t)

    # 11. Close of the payments-prod public-access exposure (status left New on purpose)
    c, t = "2026-05-12T08:14:03.512Z", "2026-05-14T10:05:09.331Z"
    f = finding(
        cluster="payments-prod", account=acct, region=reg,
        metadata_uid=PAYMENTS_METADATA_UID, finding_uid=PAYMENTS_FINDING_UID,
        title="EKS cluster API server endpoint is reachable from the internet",
        desc="The Amazon EKS cluster payments-prod exposes its Kubernetes API server endpoint "
        "publicly (0.0.0.0/0).",
        types=["Exposure/Potential Impact/Unauthorized Access"],
        related=[eks1(acct, reg, "payments-prod", PAYMENTS_EKS1_UID)],
        severity="Medium", created=c, modified=t, activity="Close",
        anchors=["internet-reachable"],
        tags=[("environment", "production"), ("team", "payments")],
    )
    out["eks-closed.json"] = envelope(f, "payments-prod/close", t)

    # 12. the echo of our own BatchUpdateFindingsV2 on event #1: status In Progress + comment.
    # BatchUpdateFindingsV2 does not change modified_time(_dt) / time(_dt) [DOC], so the finding
    # keeps event #1's timestamps; only the envelope time is later.
    f = copy.deepcopy(base["detail"]["findings"][0])
    f["activity_id"], f["activity_name"] = 2, "Update"
    f["type_name"], f["type_uid"] = "Detection Finding: Update", 200402
    f["status"], f["status_id"] = "In Progress", 2
    comment = (
        "eks-exposure-responder/endpoint-access: proposed enable private endpoint access, then "
        "disable public endpoint access (stage 1 of 2); no change applied (mode propose)"
    )
    # top-level `comment`, placed just before the severity block
    items = list(f.items())
    items.insert([k for k, _ in items].index("severity"), ("comment", comment))
    f = dict(items)
    out["eks-in-progress-echo.json"] = envelope(f, "payments-prod/echo-in-progress", "2026-05-12T08:14:11.000Z")

    # 13. wrong source: the public-access event as if it came from GuardDuty
    e = copy.deepcopy(base)
    e["id"] = uuidish("event/invalid-wrong-source")
    e["detail-type"] = "GuardDuty Finding"
    e["source"] = "aws.guardduty"
    out["invalid-wrong-source.json"] = e

    # 14. no findings
    e = envelope(None, "invalid-no-findings", "2026-05-12T08:20:00.000Z")
    out["invalid-no-findings.json"] = e

    # 15. AWS::EKS::Cluster resource whose uid is a node-group ARN
    t = "2026-05-12T08:31:40.552Z"
    ng_arn = (
        f"arn:aws:eks:{reg}:{acct}:nodegroup/payments-prod/ng-1/" + uuidish("nodegroup/payments-prod/ng-1")
    )
    m, u = exposure("nodegroup/payments-prod/ng-1")
    f = finding(
        cluster="payments-prod", account=acct, region=reg, metadata_uid=m, finding_uid=u,
        title="EKS cluster API server endpoint is reachable from the internet",
        desc="The Amazon EKS cluster payments-prod exposes its Kubernetes API server endpoint "
        "publicly (0.0.0.0/0).",
        types=["Exposure/Potential Impact/Unauthorized Access"],
        related=[eks1(acct, reg, "payments-prod", PAYMENTS_EKS1_UID)],
        severity="Medium", created=t, modified=t,
        anchors=["internet-reachable"],
        tags=[("environment", "production"), ("team", "payments")],
    )
    # no cluster ARN or cluster name anywhere to fall back on: the uid is the only identity
    res = f["resources"][0]
    res["uid"] = ng_arn
    del res["name"]
    f["finding_info"]["related_events"][0]["observables"] = [observable(ng_arn)]
    out["invalid-non-cluster-arn.json"] = envelope(f, "invalid-non-cluster-arn", t)

    # 16. cluster ARN account 111122223333, resource owner 999988887777
    t = "2026-05-12T09:44:58.013Z"
    m, u = exposure("fulfilment-prod", "111122223333", reg)
    f = finding(
        cluster="fulfilment-prod", account="111122223333", region=reg, metadata_uid=m, finding_uid=u,
        title="EKS cluster API server endpoint is reachable from the internet",
        desc="The Amazon EKS cluster fulfilment-prod exposes its Kubernetes API server endpoint "
        "publicly (0.0.0.0/0).",
        types=["Exposure/Potential Impact/Unauthorized Access"],
        related=[eks1("111122223333", reg, "fulfilment-prod")],
        severity="Medium", created=t, modified=t,
        anchors=["internet-reachable"],
        tags=[("environment", "production"), ("team", "fulfilment")],
    )
    f["resources"][0]["owner"]["account"]["uid"] = "999988887777"
    out["invalid-contradicting-account.json"] = envelope(f, "invalid-contradicting-account", t)

    return out


def truncated_text():
    """Event #1 cut in the middle: not valid JSON."""
    text = (EVENTS / "eks-public-access.json").read_text()
    return text[: len(text) // 2]


def render(obj):
    return json.dumps(obj, indent=2) + "\n"


# ---------------------------------------------------------------- checks

TRAIT_ORDER = [
    "public_endpoint",
    "unsupported_version",
    "unencrypted_secrets",
    "exploitable_vulnerability",
    "vulnerability",
    "unknown",
]
FUNCTIONS = ["endpoint-access", "kubernetes-version", "secrets-encryption", "container-vulnerabilities"]
ROUTE_OF = {
    "public_endpoint": "endpoint-access",
    "unsupported_version": "kubernetes-version",
    "unencrypted_secrets": "secrets-encryption",
    "exploitable_vulnerability": "container-vulnerabilities",
    "vulnerability": "container-vulnerabilities",
}


def classify(ev):
    """Independent re-statement of the trait classification (control id / Inspector product)."""
    uid, title = ev.get("uid", ""), ev.get("title", "")
    product = ev.get("product", {}).get("uid", "")
    values = [v for t in ev.get("traits", []) for v in t.get("values", [])]
    values += [v for t in ev.get("tags", []) for v in t.get("values", [])]
    names = [t.get("name") for t in ev.get("traits", [])]
    for ctl, trait, ttl in (
        ("EKS.1", "public_endpoint", EKS1_TITLE),
        ("EKS.2", "unsupported_version", EKS2_TITLE),
        ("EKS.3", "unencrypted_secrets", EKS3_TITLE),
    ):
        if f":security-control/{ctl}/finding/" in uid or title == ttl:
            return trait
    if product.endswith("::productv2/aws/inspector"):
        if "EPSS Level >= High" in values or "Exploit Available" in values or T4 in names:
            return "exploitable_vulnerability"
        return "vulnerability"
    return "unknown"


def manifest_rows():
    """events/manifest.toml as rows of the README table's columns (`-` for none)."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import event_manifest

    def cell(values):
        return ", ".join(values) if values else "-"

    return [
        {
            "file": e.file, "expect": e.expect, "traits": cell(e.traits),
            "cluster": e.cluster or "-", "account": e.account or "-", "region": e.region or "-",
            "routes to": cell([fn for fn in FUNCTIONS if fn in e.routes_to] + sorted(e.routes_to - set(FUNCTIONS))),
        }
        for e in event_manifest.load()
    ]


def check():
    errors = []
    rows = manifest_rows()
    files = sorted(p.name for p in EVENTS.glob("*.json"))
    listed = [r["file"].strip("`") for r in rows]
    if sorted(listed) != files or len(set(listed)) != len(listed):
        errors.append(f"manifest entries {sorted(listed)} != files {files}")

    for r in rows:
        name = r["file"].strip("`")
        path = EVENTS / name
        if not path.exists():
            continue
        text = path.read_text()
        try:
            ev = json.loads(text)
        except json.JSONDecodeError:
            if r["expect"] != "error:$":
                errors.append(f"{name}: unparsable but expect {r['expect']}")
            continue
        if r["expect"] == "error:$":
            errors.append(f"{name}: parses but expect error:$")
        if not re.fullmatch(r"actionable|skip:closed|skip:not_new|error:\$.*", r["expect"]):
            errors.append(f"{name}: bad expect {r['expect']}")
        for fn in r["routes to"].split(","):
            if r["routes to"] != "-" and fn.strip() not in FUNCTIONS:
                errors.append(f"{name}: unknown function {fn}")
        findings = ev.get("detail", {}).get("findings", [])
        if r["expect"].startswith("error:"):
            for col in ("traits", "cluster", "account", "region"):
                if r[col] != "-":
                    errors.append(f"{name}: invalid file must have '-' in {col}")
        if not findings:
            continue
        f = findings[0]
        fi, md = f["finding_info"], f["metadata"]
        # consistency rules
        if not re.fullmatch(r"[0-9a-f]{64}", md["uid"]):
            errors.append(f"{name}: metadata.uid not 64 hex")
        if ev["resources"] != [md["uid"]]:
            errors.append(f"{name}: envelope resources[0] != metadata.uid")
        if not re.fullmatch(r"arn:aws:securityhub:us-east-1:444455556666:risk:[0-9a-f]{64}", fi["uid"]):
            errors.append(f"{name}: finding_info.uid shape")
        if (ev["account"], ev["region"]) != (HOME_ACCOUNT, HOME_REGION):
            errors.append(f"{name}: envelope account/region")
        if fi["related_events_count"] != len(fi["related_events"]):
            errors.append(f"{name}: related_events_count")
        if SEVERITY_IDS.get(f["severity"]) != f["severity_id"]:
            errors.append(f"{name}: severity/severity_id")
        if STATUS_IDS.get(f["status"]) != f["status_id"]:
            errors.append(f"{name}: status/status_id")
        if ACTIVITY_IDS.get(f["activity_name"]) != f["activity_id"] or f["type_uid"] != 200400 + f["activity_id"]:
            errors.append(f"{name}: activity/type_uid")
        if f["type_name"] != "Detection Finding: " + f["activity_name"]:
            errors.append(f"{name}: type_name")
        va = f.get("vendor_attributes", {})
        if SEVERITY_IDS.get(va.get("severity")) != va.get("severity_id"):
            errors.append(f"{name}: vendor_attributes severity")
        for k in ("created_time", "first_seen_time", "last_seen_time", "modified_time"):
            if k in fi and fi[k] != ms(fi[k + "_dt"]):
                errors.append(f"{name}: {k} != {k}_dt")
        if f["time"] != ms(f["time_dt"]):
            errors.append(f"{name}: time != time_dt")
        if "modified_time_dt" in fi and f["time_dt"] != fi["modified_time_dt"]:
            errors.append(f"{name}: time_dt != modified_time_dt")
        if ms(fi["created_time_dt"]) > ms(fi["modified_time_dt"]):
            errors.append(f"{name}: created after modified")
        if ms(envelope_time(f["time_dt"]).replace("Z", ".000Z")) > ms(ev["time"].replace("Z", ".000Z")):
            errors.append(f"{name}: envelope time before finding time")
        for e in fi["related_events"]:
            if "severity" in e and SEVERITY_IDS.get(e["severity"]) != e["severity_id"]:
                errors.append(f"{name}: related severity")
        # traits column agrees with related_events
        got = {classify(e) for e in fi["related_events"]}
        got_s = ", ".join(t for t in TRAIT_ORDER if t in got)
        if not r["expect"].startswith("error:"):
            if r["traits"].replace(" ", "") != got_s.replace(" ", ""):
                errors.append(f"{name}: traits column '{r['traits']}' != related_events '{got_s}'")
            routes = [ROUTE_OF[t] for t in TRAIT_ORDER if t in got and t in ROUTE_OF]
            routes = [fn for fn in FUNCTIONS if fn in routes] if r["expect"] == "actionable" else []
            if r["expect"].startswith("error:"):
                pass  # what the rules deliver for malformed findings is asserted by the routing test
            elif r["routes to"].replace(" ", "") != (",".join(routes) or "-"):
                errors.append(f"{name}: routes column '{r['routes to']}' != derived '{routes}'")
            # cluster identity from the cluster ARN
            res = next(x for x in f["resources"] if x["type"] == "AWS::EKS::Cluster")
            arn = res.get("uid_alt") or res["uid"]
            mm = re.fullmatch(r"arn:aws:eks:([a-z0-9-]+):(\d{12}):cluster/([A-Za-z0-9_-]+)", arn)
            if not mm:
                errors.append(f"{name}: no cluster ARN")
            elif (r["cluster"], r["account"], r["region"]) != (mm[3], mm[2], mm[1]):
                errors.append(f"{name}: cluster/account/region columns != ARN {arn}")
    # one exposure per resource: metadata.uid <-> cluster ARN is 1:1
    seen = {}
    for p in EVENTS.glob("*.json"):
        try:
            ev = json.loads(p.read_text())
        except json.JSONDecodeError:
            continue
        for f in ev.get("detail", {}).get("findings", []):
            res = f["resources"][0]
            key = res.get("uid_alt") or res["uid"]
            seen.setdefault(f["metadata"]["uid"], set()).add(key)
            seen.setdefault(("fi", f["finding_info"]["uid"]), set()).add(key)
    for k, v in seen.items():
        if len(v) != 1:
            errors.append(f"uid {k} used for several resources {v}")
    by_res = {}
    for k, v in seen.items():
        if isinstance(k, str):
            by_res.setdefault(next(iter(v)), set()).add(k)
    for res, uids in by_res.items():
        if len(uids) != 1:
            errors.append(f"resource {res} has several metadata.uid {uids}")
    return errors


def main():
    if "--check" not in sys.argv[1:]:
        for name, obj in build().items():
            (EVENTS / name).write_text(render(obj))
        (EVENTS / "invalid-truncated.json").write_text(truncated_text())
    else:
        # generated files must be exactly what build() produces
        errs = []
        for name, obj in build().items():
            if (EVENTS / name).read_text() != render(obj):
                errs.append(f"{name}: differs from generator output")
        if (EVENTS / "invalid-truncated.json").read_text() != truncated_text():
            errs.append("invalid-truncated.json: differs from generator output")
        errs += check()
        for e in errs:
            print("FAIL", e)
        if errs:
            sys.exit(1)
        print(f"ok: {len(list(EVENTS.glob('*.json')))} events consistent with events/manifest.toml")


if __name__ == "__main__":
    main()
