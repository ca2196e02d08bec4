"""The AWS stand-in (scripts/aws_standin.py) against boto3, in front of a real moto_server.

Run by `make test` (target standin-test): scripts/with_moto.sh .venv/bin/python -m pytest scripts/standin
Uses the moto_server at MOTO_ENDPOINT, or starts one when it is not set.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from pathlib import Path

import boto3
import pytest
from botocore.exceptions import ClientError

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))
import aws_standin  # noqa: E402

REGION = "us-east-1"
ROLE = "arn:aws:iam::123456789012:role/eks-cluster"
EVENT = ROOT / "events" / "eks-unsupported-kubernetes-version.json"


def free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


@pytest.fixture(scope="session")
def moto_url():
    if os.environ.get("MOTO_ENDPOINT"):
        yield os.environ["MOTO_ENDPOINT"]
        return
    port = free_port()
    proc = subprocess.Popen([str(ROOT / ".venv/bin/moto_server"), "-H", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            urllib.request.urlopen(url + "/moto-api/", timeout=1)
            break
        except OSError:
            time.sleep(0.1)
    yield url
    proc.terminate()
    proc.wait()


@pytest.fixture(scope="session")
def standin(moto_url):
    # Updates stay InProgress until a test settles them: no test depends on timing.
    server, state = aws_standin.serve(moto_url, update_seconds=3600)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", state
    server.shutdown()


@pytest.fixture(scope="session")
def url(standin):
    return standin[0]


@pytest.fixture(autouse=True)
def credentials(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)


def client(url: str, service: str, session: boto3.Session | None = None):
    return (session or boto3.Session()).client(service, endpoint_url=url, region_name=REGION)


def control(url: str, method: str, path: str, body=None) -> dict:
    req = urllib.request.Request(url + path, method=method,
                                 data=None if body is None else json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.load(r)


def new_cluster(eks, version: str = "1.24", key: str | None = None) -> str:
    name = f"c-{uuid.uuid4().hex[:10]}"
    extra = {"encryptionConfig": [{"resources": ["secrets"], "provider": {"keyArn": key}}]} if key else {}
    eks.create_cluster(name=name, version=version, roleArn=ROLE,
                       resourcesVpcConfig={"subnetIds": ["subnet-1"]}, **extra)
    return name


def code(err: pytest.ExceptionInfo) -> str:
    return err.value.response["Error"]["Code"]


# --- DescribeClusterVersions -----------------------------------------------------------------


def test_the_catalogue_is_one_consistent_list():
    data = json.loads(aws_standin.VERSIONS_FILE.read_text())
    versions = [v["clusterVersion"] for v in data["versions"]]
    assert versions == sorted(versions, key=aws_standin.minor) and len(set(versions)) == len(versions)
    assert data["defaultVersion"] in versions
    for v in data["versions"]:
        assert v["releaseDate"] < v["endOfStandardSupportDate"] < v["endOfExtendedSupportDate"], v


def test_versions_carry_the_status_their_dates_give_today(url):
    eks = client(url, "eks")
    every = eks.describe_cluster_versions(includeAll=True)["clusterVersions"]
    now = time.time()
    assert len(every) == len(json.loads(aws_standin.VERSIONS_FILE.read_text())["versions"])
    for v in every:
        std, ext = v["endOfStandardSupportDate"].timestamp(), v["endOfExtendedSupportDate"].timestamp()
        expected = "STANDARD_SUPPORT" if now < std else "EXTENDED_SUPPORT" if now < ext else "UNSUPPORTED"
        assert v["versionStatus"] == expected, v
        assert v["status"] == expected.lower().replace("_", "-")
        assert v["clusterType"] == "eks" and v["defaultPlatformVersion"].startswith("eks.")
    # 1.24 left extended support on 2025-01-31.
    assert next(v for v in every if v["clusterVersion"] == "1.24")["versionStatus"] == "UNSUPPORTED"
    # Without includeAll, versions past extended support are left out, as EKS does.
    current = eks.describe_cluster_versions()["clusterVersions"]
    assert current and all(v["versionStatus"] != "UNSUPPORTED" for v in current)
    default = json.loads(aws_standin.VERSIONS_FILE.read_text())["defaultVersion"]
    assert [v["clusterVersion"] for v in eks.describe_cluster_versions(defaultOnly=True)["clusterVersions"]] == [default]
    picked = eks.describe_cluster_versions(includeAll=True, clusterVersions=["1.24", "1.25"])["clusterVersions"]
    assert sorted(v["clusterVersion"] for v in picked) == ["1.24", "1.25"]


def test_versions_page_with_next_token(url):
    eks = client(url, "eks")
    first = eks.describe_cluster_versions(includeAll=True, maxResults=5)
    assert len(first["clusterVersions"]) == 5 and first["nextToken"]
    rest = eks.describe_cluster_versions(includeAll=True, maxResults=100, nextToken=first["nextToken"])
    assert "nextToken" not in rest
    seen = [v["clusterVersion"] for v in first["clusterVersions"] + rest["clusterVersions"]]
    assert len(seen) == len(set(seen)) == len(json.loads(aws_standin.VERSIONS_FILE.read_text())["versions"])


# --- Insights --------------------------------------------------------------------------------


def test_insights_set_per_cluster_are_listed_and_described(url):
    eks = client(url, "eks")
    name = new_cluster(eks)
    other = new_cluster(eks)
    assert eks.list_insights(clusterName=name)["insights"] == []
    control(url, "PUT", f"/_standin/insights/{name}", {"insights": [
        {"name": "Deprecated APIs removed in Kubernetes v1.25", "status": "ERROR", "kubernetesVersion": "1.25",
         "reason": "Deprecated API usage detected", "recommendation": "Move to policy/v1 PodDisruptionBudget"},
        {"name": "Kubelet version skew", "status": "PASSING", "kubernetesVersion": "1.25"},
        {"name": "Deprecated APIs removed in Kubernetes v1.26", "status": "WARNING", "kubernetesVersion": "1.26"},
    ]})
    listed = eks.list_insights(clusterName=name, filter={"categories": ["UPGRADE_READINESS"], "kubernetesVersions": ["1.25"]})
    assert sorted(i["insightStatus"]["status"] for i in listed["insights"]) == ["ERROR", "PASSING"]
    error = next(i for i in listed["insights"] if i["insightStatus"]["status"] == "ERROR")
    assert "recommendation" not in error, "ListInsights returns summaries"
    detail = eks.describe_insight(clusterName=name, id=error["id"])["insight"]
    assert detail["recommendation"] == "Move to policy/v1 PodDisruptionBudget"
    assert detail["insightStatus"]["reason"] == "Deprecated API usage detected"
    only_errors = eks.list_insights(clusterName=name, filter={"statuses": ["ERROR"]})["insights"]
    assert [i["id"] for i in only_errors] == [error["id"]]
    assert eks.list_insights(clusterName=other)["insights"] == [], "insights belong to one cluster"
    with pytest.raises(ClientError) as e:
        eks.describe_insight(clusterName=other, id=error["id"])
    assert code(e) == "ResourceNotFoundException"
    with pytest.raises(ClientError) as e:
        eks.list_insights(clusterName="no-such-cluster")
    assert code(e) == "ResourceNotFoundException"


# --- ListAddons ------------------------------------------------------------------------------


def test_eks_add_ons_set_per_cluster_are_listed(url):
    eks = client(url, "eks")
    name = new_cluster(eks)
    other = new_cluster(eks)
    assert eks.list_addons(clusterName=name)["addons"] == [], "none set: every core add-on is self-managed"
    control(url, "PUT", f"/_standin/addons/{name}", {"addons": ["coredns", "vpc-cni"]})
    assert eks.list_addons(clusterName=name)["addons"] == ["coredns", "vpc-cni"]
    first = eks.list_addons(clusterName=name, maxResults=1)
    assert first["addons"] == ["coredns"] and first["nextToken"]
    assert eks.list_addons(clusterName=name, maxResults=1, nextToken=first["nextToken"])["addons"] == ["vpc-cni"]
    assert eks.list_addons(clusterName=other)["addons"] == [], "add-ons belong to one cluster"
    with pytest.raises(ClientError) as e:
        eks.list_addons(clusterName="no-such-cluster")
    assert code(e) == "ResourceNotFoundException"


# --- UpdateClusterVersion --------------------------------------------------------------------


def test_a_version_update_is_in_progress_then_changes_the_cluster(url):
    eks = client(url, "eks")
    name = new_cluster(eks, "1.24")
    update = eks.update_cluster_version(name=name, version="1.25", clientRequestToken="tok-1")["update"]
    assert update["status"] == "InProgress" and update["type"] == "VersionUpdate"
    assert {"type": "Version", "value": "1.25"} in update["params"]
    during = eks.describe_cluster(name=name)["cluster"]
    assert (during["status"], during["version"]) == ("UPDATING", "1.24")
    # The same token is the same update, even while it runs.
    again = eks.update_cluster_version(name=name, version="1.25", clientRequestToken="tok-1")["update"]
    assert again["id"] == update["id"]
    with pytest.raises(ClientError) as e:
        eks.update_cluster_version(name=name, version="1.25", clientRequestToken="tok-2")
    assert code(e) == "ResourceInUseException"
    with pytest.raises(ClientError) as e:
        eks.update_cluster_config(name=name, resourcesVpcConfig={"endpointPrivateAccess": True})
    assert code(e) == "ResourceInUseException", "no other update while one runs"
    assert update["id"] in control(url, "POST", "/_standin/updates/settle")["settled"]
    after = eks.describe_cluster(name=name)["cluster"]
    assert (after["status"], after["version"]) == ("ACTIVE", "1.25")
    assert eks.describe_update(name=name, updateId=update["id"])["update"]["status"] == "Successful"
    # A retry with the token after the fact still finds the same update, not a second upgrade.
    assert eks.update_cluster_version(name=name, version="1.25", clientRequestToken="tok-1")["update"]["id"] == update["id"]
    assert eks.describe_cluster(name=name)["cluster"]["version"] == "1.25"
    with pytest.raises(ClientError) as e:
        eks.update_cluster_version(name=name, version="1.26", clientRequestToken="tok-1")
    assert code(e) == "InvalidRequestException", "a token reused for another request"


def test_a_version_update_moves_one_minor_only(url):
    eks = client(url, "eks")
    name = new_cluster(eks, "1.24")
    for target in ("1.26", "1.24", "1.23", "2.0"):
        with pytest.raises(ClientError) as e:
            eks.update_cluster_version(name=name, version=target)
        assert code(e) == "InvalidParameterException", target
    with pytest.raises(ClientError) as e:
        eks.update_cluster_version(name="no-such-cluster", version="1.25")
    assert code(e) == "ResourceNotFoundException"


def test_an_error_insight_blocks_the_upgrade_unless_forced(url):
    eks = client(url, "eks")
    name = new_cluster(eks, "1.24")
    control(url, "PUT", f"/_standin/insights/{name}", [
        {"name": "EKS add-on version compatibility", "status": "ERROR", "kubernetesVersion": "1.25"}])
    with pytest.raises(ClientError) as e:
        eks.update_cluster_version(name=name, version="1.25")
    assert code(e) == "InvalidStateException"
    assert "EKS add-on version compatibility" in e.value.response["Error"]["Message"]
    assert eks.describe_cluster(name=name)["cluster"]["status"] == "ACTIVE"
    forced = eks.update_cluster_version(name=name, version="1.25", force=True)["update"]
    assert forced["status"] == "InProgress"


def test_a_cluster_created_again_under_a_deleted_name_starts_afresh(url):
    eks = client(url, "eks")
    name = new_cluster(eks, "1.24")
    control(url, "PUT", f"/_standin/insights/{name}", [{"name": "x", "status": "ERROR", "kubernetesVersion": "1.25"}])
    eks.update_cluster_version(name=name, version="1.25", force=True)
    control(url, "POST", "/_standin/updates/settle")
    assert eks.describe_cluster(name=name)["cluster"]["version"] == "1.25"
    eks.delete_cluster(name=name)
    eks.create_cluster(name=name, version="1.24", roleArn=ROLE, resourcesVpcConfig={"subnetIds": ["subnet-1"]})
    again = eks.describe_cluster(name=name)["cluster"]
    assert (again["status"], again["version"]) == ("ACTIVE", "1.24")
    assert eks.list_insights(clusterName=name)["insights"] == []


def test_endpoint_access_updates_are_listed_with_their_params_and_time(url):
    eks = client(url, "eks")
    name = new_cluster(eks, "1.31")
    assert eks.list_updates(name=name)["updateIds"] == []
    before = time.time()
    first = eks.update_cluster_config(name=name, clientRequestToken="tok-private",
                                      resourcesVpcConfig={"endpointPublicAccess": True, "endpointPrivateAccess": True})["update"]
    assert (first["type"], first["status"]) == ("EndpointAccessUpdate", "Successful")
    assert {"type": "EndpointPrivateAccess", "value": "true"} in first["params"]
    cluster = eks.describe_cluster(name=name)["cluster"]
    assert (cluster["status"], cluster["resourcesVpcConfig"]["endpointPrivateAccess"]) == ("ACTIVE", True)
    # The same token is the same update, not a second one.
    again = eks.update_cluster_config(name=name, clientRequestToken="tok-private",
                                      resourcesVpcConfig={"endpointPublicAccess": True, "endpointPrivateAccess": True})["update"]
    assert again["id"] == first["id"]
    second = eks.update_cluster_config(name=name, resourcesVpcConfig={"publicAccessCidrs": ["203.0.113.0/24"]})["update"]
    assert {"type": "PublicAccessCidrs", "value": '["203.0.113.0/24"]'} in second["params"]
    listed = eks.list_updates(name=name)
    assert listed["updateIds"] == [first["id"], second["id"]] and "nextToken" not in listed
    paged = eks.list_updates(name=name, maxResults=1)
    assert paged["updateIds"] == [first["id"]]
    assert eks.list_updates(name=name, maxResults=1, nextToken=paged["nextToken"])["updateIds"] == [second["id"]]
    described = eks.describe_update(name=name, updateId=first["id"])["update"]
    assert described["createdAt"].timestamp() >= before - 1
    assert eks.list_updates(name=name, nodegroupName="ng")["updateIds"] == []
    with pytest.raises(ClientError) as e:
        eks.list_updates(name=f"{name}-missing")
    assert code(e) == "ResourceNotFoundException"


def test_updates_are_per_account(url):
    """Two accounts may hold a cluster of the same name; an update changes one of them."""
    sts = client(url, "sts")
    creds = sts.assume_role(RoleArn="arn:aws:iam::444455556666:role/x", RoleSessionName="tests")["Credentials"]
    member = boto3.Session(aws_access_key_id=creds["AccessKeyId"], aws_secret_access_key=creds["SecretAccessKey"],
                           aws_session_token=creds["SessionToken"])
    home, away = client(url, "eks"), client(url, "eks", member)
    name = new_cluster(home, "1.24")
    away.create_cluster(name=name, version="1.24", roleArn=ROLE, resourcesVpcConfig={"subnetIds": ["s"]})
    assert ":444455556666:" in away.describe_cluster(name=name)["cluster"]["arn"]
    away.update_cluster_version(name=name, version="1.25")
    control(url, "POST", "/_standin/updates/settle")
    assert away.describe_cluster(name=name)["cluster"]["version"] == "1.25"
    assert home.describe_cluster(name=name)["cluster"]["version"] == "1.24"


# --- AssociateEncryptionConfig ---------------------------------------------------------------


def secrets(key: str) -> list[dict]:
    return [{"resources": ["secrets"], "provider": {"keyArn": key}}]


def test_associating_a_usable_key_encrypts_the_cluster_after_the_update(url):
    eks, kms = client(url, "eks"), client(url, "kms")
    key = kms.create_key(Description="secrets")["KeyMetadata"]["Arn"]
    name = new_cluster(eks, "1.31")
    update = eks.associate_encryption_config(clusterName=name, encryptionConfig=secrets(key), clientRequestToken="enc-1")["update"]
    assert update["type"] == "AssociateEncryptionConfig" and update["status"] == "InProgress"
    assert json.loads(update["params"][0]["value"]) == secrets(key)
    assert eks.describe_cluster(name=name)["cluster"].get("encryptionConfig", []) == []
    same = eks.associate_encryption_config(clusterName=name, encryptionConfig=secrets(key), clientRequestToken="enc-1")
    assert same["update"]["id"] == update["id"]
    control(url, "POST", "/_standin/updates/settle")
    cluster = eks.describe_cluster(name=name)["cluster"]
    assert cluster["encryptionConfig"] == secrets(key) and cluster["status"] == "ACTIVE"
    assert eks.describe_update(name=name, updateId=update["id"])["update"]["status"] == "Successful"
    # One-way: a second association is refused.
    other = kms.create_key()["KeyMetadata"]["Arn"]
    with pytest.raises(ClientError) as e:
        eks.associate_encryption_config(clusterName=name, encryptionConfig=secrets(other))
    assert code(e) == "InvalidRequestException"


def test_lower_case_header_names_still_act_as_the_caller(url):
    """The Rust SDK sends header names in lower case; the key check must still reach moto's KMS
    in the caller's account."""
    key = client(url, "kms").create_key()["KeyMetadata"]["Arn"]
    name = new_cluster(client(url, "eks"), "1.31")
    body = json.dumps({"encryptionConfig": secrets(key)}).encode()
    host, port = url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    conn.putrequest("POST", f"/clusters/{name}/encryption-config/associate", skip_accept_encoding=True)
    conn.putheader("authorization", "AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/eks/aws4_request, "
                                    "SignedHeaders=host, Signature=0")
    conn.putheader("content-type", "application/json")
    conn.putheader("content-length", str(len(body)))
    conn.endheaders(body)
    answer = conn.getresponse()
    assert answer.status == 200, answer.read()
    assert json.loads(answer.read())["update"]["type"] == "AssociateEncryptionConfig"


@pytest.mark.parametrize("unusable", ["disabled", "asymmetric", "missing"])
def test_an_unusable_key_is_refused_and_nothing_changes(url, unusable):
    eks, kms = client(url, "eks"), client(url, "kms")
    if unusable == "missing":
        key = "arn:aws:kms:us-east-1:123456789012:key/00000000-0000-0000-0000-000000000000"
    elif unusable == "asymmetric":
        key = kms.create_key(KeySpec="RSA_2048", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["Arn"]
    else:
        meta = kms.create_key()["KeyMetadata"]
        kms.disable_key(KeyId=meta["KeyId"])
        key = meta["Arn"]
    name = new_cluster(eks, "1.31")
    with pytest.raises(ClientError) as e:
        eks.associate_encryption_config(clusterName=name, encryptionConfig=secrets(key))
    assert code(e) == "InvalidParameterException"
    assert key in e.value.response["Error"]["Message"]
    cluster = eks.describe_cluster(name=name)["cluster"]
    assert cluster["status"] == "ACTIVE" and not cluster.get("encryptionConfig")


def test_an_encryption_config_must_name_secrets_and_a_key(url):
    eks = client(url, "eks")
    name = new_cluster(eks, "1.31")
    with pytest.raises(ClientError) as e:
        eks.associate_encryption_config(clusterName=name, encryptionConfig=[{"resources": ["configmaps"], "provider": {"keyArn": "k"}}])
    assert code(e) == "InvalidParameterException"


def test_describe_update_of_an_unknown_id_is_not_found(url):
    eks = client(url, "eks")
    name = new_cluster(eks)
    with pytest.raises(ClientError) as e:
        eks.describe_update(name=name, updateId=str(uuid.uuid4()))
    assert code(e) == "ResourceNotFoundException"


# --- Security Hub ----------------------------------------------------------------------------


def loaded_finding(url: str) -> dict:
    event = json.loads(EVENT.read_text())
    finding = event["detail"]["findings"][0]
    finding["metadata"]["uid"] = uuid.uuid4().hex * 2
    finding["finding_info"]["uid"] = "arn:aws:securityhub:us-east-1:444455556666:risk:" + uuid.uuid4().hex * 2
    event["detail"]["findings"] = [finding]
    assert control(url, "POST", "/_standin/findings", event)["loaded"] == [finding["metadata"]["uid"]]
    return finding


def uid_filter(field: str, values: list[str], comparison: str = "EQUALS") -> dict:
    return {"CompositeFilters": [{"Operator": "OR", "StringFilters": [
        {"FieldName": field, "Filter": {"Value": v, "Comparison": comparison}} for v in values]}]}


def test_findings_are_found_by_metadata_uid_and_finding_info_uid(url):
    hub = client(url, "securityhub")
    a, b = loaded_finding(url), loaded_finding(url)
    by_meta = hub.get_findings_v2(Filters=uid_filter("metadata.uid", [a["metadata"]["uid"]]))["Findings"]
    assert [f["metadata"]["uid"] for f in by_meta] == [a["metadata"]["uid"]]
    assert by_meta[0]["resources"] == a["resources"], "the whole OCSF document comes back"
    both = hub.get_findings_v2(Filters=uid_filter("finding_info.uid", [a["finding_info"]["uid"], b["finding_info"]["uid"]]), MaxResults=100)
    assert sorted(f["metadata"]["uid"] for f in both["Findings"]) == sorted([a["metadata"]["uid"], b["metadata"]["uid"]])
    assert hub.get_findings_v2(Filters=uid_filter("metadata.uid", ["0" * 64]))["Findings"] == []
    narrowed = hub.get_findings_v2(Filters={"CompositeOperator": "AND", "CompositeFilters": [
        {"StringFilters": [{"FieldName": "metadata.uid", "Filter": {"Value": a["metadata"]["uid"], "Comparison": "EQUALS"}}]},
        {"NumberFilters": [{"FieldName": "status_id", "Filter": {"Eq": 1}}]},
        {"StringFilters": [{"FieldName": "resources.type", "Filter": {"Value": "AWS::EKS::", "Comparison": "PREFIX"}}]},
    ]})["Findings"]
    assert [f["metadata"]["uid"] for f in narrowed] == [a["metadata"]["uid"]]


def test_status_and_comment_updates_are_applied_and_read_back(url):
    hub = client(url, "securityhub")
    f = loaded_finding(url)
    uid = f["metadata"]["uid"]
    out = hub.batch_update_findings_v2(MetadataUids=[uid, "f" * 64], Comment="eks-exposure-responder: proposed", StatusId=2)
    assert out["ProcessedFindings"] == [{"MetadataUid": uid}]
    assert out["UnprocessedFindings"][0]["MetadataUid"] == "f" * 64
    assert out["UnprocessedFindings"][0]["ErrorCode"] == "ResourceNotFoundException"
    record = control(url, "GET", f"/_standin/findings/{uid}")
    assert (record["status_id"], record["status"], record["comment"]) == (2, "In Progress", "eks-exposure-responder: proposed")
    assert len(record["history"]) == 1
    seen = hub.get_findings_v2(Filters=uid_filter("metadata.uid", [uid]))["Findings"][0]
    assert (seen["status_id"], seen["comment"]) == (2, "eks-exposure-responder: proposed")
    # A comment alone keeps the status.
    hub.batch_update_findings_v2(MetadataUids=[uid], Comment="stage 1 of 2")
    record = control(url, "GET", f"/_standin/findings/{uid}")
    assert (record["status_id"], record["comment"], len(record["history"])) == (2, "stage 1 of 2", 2)
    by_identifier = hub.batch_update_findings_v2(FindingIdentifiers=[{
        "CloudAccountUid": f["cloud"]["account"]["uid"], "FindingInfoUid": f["finding_info"]["uid"],
        "MetadataProductUid": f["metadata"]["product"]["uid"]}], StatusId=1)
    assert len(by_identifier["ProcessedFindings"]) == 1
    assert control(url, "GET", f"/_standin/findings/{uid}")["status"] == "New"


def test_invalid_finding_updates_are_refused(url):
    hub = client(url, "securityhub")
    uid = loaded_finding(url)["metadata"]["uid"]
    for bad in ({"Comment": "x" * 513}, {"StatusId": 7}, {}):
        with pytest.raises(ClientError) as e:
            hub.batch_update_findings_v2(MetadataUids=[uid], **bad)
        assert code(e) == "ValidationException", bad
    assert control(url, "GET", f"/_standin/findings/{uid}")["history"] == []


# --- What it does not implement, and what it passes on ---------------------------------------


def test_an_eks_call_neither_implements_fails_loudly_with_its_name(url):
    eks = client(url, "eks")
    name = new_cluster(eks)
    with pytest.raises(ClientError) as e:
        eks.list_access_entries(clusterName=name)
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 501
    assert code(e) == "NotImplemented"
    assert "eks:ListAccessEntries" in e.value.response["Error"]["Message"]


def test_a_security_hub_call_neither_implements_fails_loudly_with_its_name(url):
    hub = client(url, "securityhub")
    with pytest.raises(ClientError) as e:
        hub.get_resources_v2()
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 501
    assert "securityhub:GetResourcesV2" in e.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as e:
        hub.get_findings_v2(SortCriteria=[{"Field": "severity_id", "SortOrder": "desc"}])
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 501
    assert "SortCriteria" in e.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as e:
        hub.get_findings_v2(Filters={"CompositeFilters": [{"DateFilters": [
            {"FieldName": "finding_info.created_time_dt", "Filter": {"DateRange": {"Value": 1, "Unit": "DAYS"}}}]}]})
    assert "DateFilters" in e.value.response["Error"]["Message"]


def test_a_chunked_request_is_passed_on_whole(url):
    name = f"c-{uuid.uuid4().hex[:10]}"
    body = json.dumps({"name": name, "version": "1.31", "roleArn": ROLE,
                       "resourcesVpcConfig": {"subnetIds": ["subnet-1"]}}).encode()
    host, port = url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    conn.request("POST", "/clusters", body=iter([body[:10], body[10:]]), encode_chunked=True, headers={
        "Content-Type": "application/json", "Transfer-Encoding": "chunked",
        "Authorization": "AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/eks/aws4_request, "
                         "SignedHeaders=host, Signature=0"})
    answer = conn.getresponse()
    assert answer.status == 200, answer.read()
    assert client(url, "eks").describe_cluster(name=name)["cluster"]["version"] == "1.31"


def test_moto_errors_reach_the_caller_as_moto_gave_them(url):
    with pytest.raises(ClientError) as e:
        client(url, "eks").describe_cluster(name="no-such-cluster")
    assert code(e) == "ResourceNotFoundException"
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404


def test_what_moto_implements_is_passed_on(url):
    eks, hub = client(url, "eks"), client(url, "securityhub")
    name = new_cluster(eks)
    assert name in eks.get_paginator("list_clusters").paginate().build_full_result()["clusters"]
    eks.tag_resource(resourceArn=eks.describe_cluster(name=name)["cluster"]["arn"], tags={"k": "v"})
    assert eks.describe_cluster(name=name)["cluster"]["tags"]["k"] == "v"
    assert "Findings" in hub.get_findings()  # Security Hub v1: moto's
    assert client(url, "sts").get_caller_identity()["Account"] == "123456789012"
    queue = client(url, "sqs").create_queue(QueueName=f"q-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    assert queue.endswith("/123456789012/" + queue.rsplit("/", 1)[1])
