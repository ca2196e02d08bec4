"""A loopback stand-in for the AWS calls moto_server lacks, in front of moto_server.

    aws_standin.py --moto URL [--host 127.0.0.1] [--port 0] [--update-seconds S]

Prints its URL (http://127.0.0.1:<port>) on stdout once it listens. scripts/moto.sh starts it
next to moto_server; the functions reach it through AWS_ENDPOINT_URL_EKS and
AWS_ENDPOINT_URL_SECURITYHUB while every other service goes to moto (AWS_ENDPOINT_URL).

What it answers itself (request and response shapes of botocore's service models):

  EKS   DescribeClusterVersions  from scripts/standin/eks-versions.json; each version's status is
                                 computed from its dates on the day of the request
        ListInsights, DescribeInsight
                                 the insights set per cluster with PUT /_standin/insights/<cluster>
                                 (none set: an empty list, as EKS answers before its first refresh)
        ListAddons               the EKS add-on names set per cluster with PUT /_standin/addons/<cluster>
                                 (none set: an empty list, as on a cluster whose vpc-cni, coredns and
                                 kube-proxy are self-managed)
        UpdateClusterVersion, AssociateEncryptionConfig
                                 start an update (InProgress, cluster UPDATING) that completes after
                                 --update-seconds (or POST /_standin/updates/settle); the same
                                 clientRequestToken returns the same update. ERROR upgrade insights
                                 for the target refuse the upgrade unless `force`, as EKS's readiness
                                 checks do; the KMS key is checked with DescribeKey in moto.
        DescribeUpdate, ListUpdates
                                 those updates (ListUpdates oldest first)
        DescribeCluster          moto's answer with the stand-in's changes laid over it: moto has no
                                 API to change a cluster's version or encryptionConfig, so the
                                 stand-in keeps them and patches the response
        UpdateClusterConfig      moto's change, refused while an update runs, answered with a
                                 Successful EndpointAccessUpdate (its params as EKS lists them)
        DeleteCluster            moto's, forgetting the overlay
  Security Hub  GetFindingsV2, BatchUpdateFindingsV2
                                 the findings loaded with POST /_standin/findings; string, number
                                 and boolean filters (nested, AND/OR); status, severity and comment
                                 updates, read back with GET /_standin/findings/<metadata uid>

Any other EKS or Security Hub operation goes to moto when moto implements it; one neither
implements fails with HTTP 501 and a JSON error naming the operation, never a default answer.
Requests for other services (signed for another service, or unsigned) go to moto unchanged.

Control endpoints (JSON):
  GET  /_standin/health
  PUT  /_standin/insights/<cluster>    {"insights": [{"name", "status", "kubernetesVersion",
                                        "reason", "description", "recommendation", ...}]}
  PUT  /_standin/addons/<cluster>      {"addons": ["vpc-cni", ...]}
  POST /_standin/findings              an OCSF finding, or an EventBridge event whose
                                       detail.findings are loaded
  GET  /_standin/findings/<uid>        the record: status, status_id, comment, history
  POST /_standin/updates/settle        complete every update in progress now
"""

from __future__ import annotations

import argparse
import copy
import datetime as dt
import http.client
import json
import re
import sys
import threading
import time
import urllib.parse
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import botocore.session
from botocore import xform_name

VERSIONS_FILE = Path(__file__).resolve().parent / "standin" / "eks-versions.json"
CREDENTIAL_SCOPE = re.compile(r"Credential=[^/,\s]+/\d{8}/([^/]+)/([^/]+)/aws4_request")
HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "te", "trailer", "upgrade"}
# OCSF finding status ids.
STATUS_NAMES = {0: "Unknown", 1: "New", 2: "In Progress", 3: "Suppressed", 4: "Resolved", 5: "Archived", 6: "Deleted", 99: "Other"}
SEVERITY_NAMES = {0: "Unknown", 1: "Informational", 2: "Low", 3: "Medium", 4: "High", 5: "Critical", 6: "Fatal", 99: "Other"}
INSIGHT_STATUSES = {"PASSING", "WARNING", "ERROR", "UNKNOWN"}
COMMENT_MAX = 512


class ApiError(Exception):
    """An AWS error answer: the exception name, its HTTP status, a message."""

    def __init__(self, code: str, status: int, message: str):
        super().__init__(message)
        self.code, self.status, self.message = code, status, message


class MotoAnswer(Exception):
    """moto's own answer, passed to the caller as it is."""

    def __init__(self, status: int, headers: list, body: bytes):
        super().__init__(status)
        self.status, self.headers, self.body = status, headers, body


def not_implemented(what: str) -> ApiError:
    return ApiError("NotImplemented", 501, f"{what} is not implemented by the local AWS stand-in (scripts/aws_standin.py) nor by moto")


def epoch(day: str) -> float:
    return dt.datetime.strptime(day, "%Y-%m-%d").replace(tzinfo=dt.timezone.utc).timestamp()


def minor(version: str) -> tuple[int, int] | None:
    m = re.fullmatch(r"(\d+)\.(\d+)", version or "")
    return (int(m[1]), int(m[2])) if m else None


# ---------------------------------------------------------------------------------------------
# Operations, from botocore's service models


class Operations:
    """Maps a REST request (method, path) of one service to its operation name."""

    def __init__(self, service: str):
        model = botocore.session.get_session().get_service_model(service)
        self.routes = []
        for name in model.operation_names:
            http = model.operation_model(name).http
            path = http["requestUri"].split("?", 1)[0]
            literal = len(re.sub(r"\{[^}]+\}", "", path))
            pattern = re.sub(
                r"\\\{([^}]+?)(\\\+)?\\\}",
                lambda m: f"(?P<{m[1]}>.+)" if m[2] else f"(?P<{m[1]}>[^/]+)",
                re.escape(path),
            )
            self.routes.append((literal, http["method"], re.compile(pattern + "$"), name))
        self.routes.sort(key=lambda r: -r[0])

    def match(self, method: str, path: str) -> tuple[str, dict[str, str]] | None:
        for _, m, regex, name in self.routes:
            hit = regex.match(path)
            if m == method and hit:
                return name, {k: urllib.parse.unquote(v) for k, v in hit.groupdict().items()}
        return None


def moto_operations(service: str) -> set[str]:
    """The operations of `service` moto's server answers (its response class has a handler)."""
    if service == "eks":
        from moto.eks.responses import EKSResponse as Handlers
    else:
        from moto.securityhub.responses import SecurityHubResponse as Handlers
    model = botocore.session.get_session().get_service_model(service)
    return {op for op in model.operation_names if callable(getattr(Handlers, xform_name(op), None))}


# ---------------------------------------------------------------------------------------------
# The stand-in's state


class Standin:
    def __init__(self, moto_url: str, update_seconds: float, versions_file: Path = VERSIONS_FILE):
        parsed = urllib.parse.urlsplit(moto_url)
        self.moto_url = moto_url
        self.moto_host, self.moto_port = parsed.hostname or "127.0.0.1", parsed.port or 80
        self.update_seconds = update_seconds
        self.catalogue = json.loads(versions_file.read_text())
        self.ops = {"eks": Operations("eks"), "securityhub": Operations("securityhub")}
        self.moto_ops = {s: moto_operations(s) for s in self.ops}
        self.lock = threading.RLock()
        self.insights: dict[str, list[dict]] = {}
        self.addons: dict[str, list[str]] = {}  # cluster name -> its EKS add-on names
        self.overlays: dict[str, dict] = {}  # cluster ARN -> fields laid over moto's DescribeCluster
        self.updates: dict[str, dict] = {}  # update id -> update (with the stand-in's own "_" keys)
        self.findings: dict[str, dict] = {}  # metadata.uid -> OCSF finding
        self.history: dict[str, list[dict]] = {}
        self.handlers = {
            ("eks", "DescribeClusterVersions"): self.describe_cluster_versions,
            ("eks", "ListInsights"): self.list_insights,
            ("eks", "DescribeInsight"): self.describe_insight,
            ("eks", "ListAddons"): self.list_addons,
            ("eks", "UpdateClusterVersion"): self.update_cluster_version,
            ("eks", "AssociateEncryptionConfig"): self.associate_encryption_config,
            ("eks", "DescribeUpdate"): self.describe_update,
            ("eks", "DescribeCluster"): self.describe_cluster,
            ("eks", "UpdateClusterConfig"): self.update_cluster_config,
            ("eks", "ListUpdates"): self.list_updates,
            ("eks", "DeleteCluster"): self.delete_cluster,
            ("securityhub", "GetFindingsV2"): self.get_findings_v2,
            ("securityhub", "BatchUpdateFindingsV2"): self.batch_update_findings_v2,
        }

    # -- moto ----------------------------------------------------------------------------------

    def moto(self, method: str, path: str, headers: dict, body: bytes = b"") -> tuple[int, list, bytes]:
        conn = http.client.HTTPConnection(self.moto_host, self.moto_port, timeout=60)
        try:
            conn.request(method, path, body=body or None, headers=headers)
            resp = conn.getresponse()
            return resp.status, resp.getheaders(), resp.read()
        finally:
            conn.close()

    def moto_json(self, req: "Request", method: str, path: str, service: str | None = None,
                  target: str | None = None, body: dict | None = None) -> tuple[int, dict, list, bytes]:
        """A call to moto on behalf of the request's caller (moto reads the account from the
        access key in Authorization and does not check signatures)."""
        # Header names as sent (the Rust SDK sends them in lower case): compare case-insensitively.
        headers = {k.title(): v for k, v in req.headers.items() if k.lower() in ("authorization", "x-amz-security-token", "x-amz-date")}
        if service:
            headers["Authorization"] = CREDENTIAL_SCOPE.sub(
                lambda m: m[0].replace(f"/{m[1]}/{m[2]}/", f"/{m[1]}/{service}/"), headers.get("Authorization", ""))
        if target:
            headers["X-Amz-Target"] = target
            headers["Content-Type"] = "application/x-amz-json-1.1"
        raw = json.dumps(body).encode() if body is not None else b""
        status, answer_headers, data = self.moto(method, path, headers, raw)
        try:
            return status, json.loads(data or b"{}"), answer_headers, data
        except ValueError:
            return status, {"message": data.decode(errors="replace")}, answer_headers, data

    def cluster(self, req: "Request", name: str) -> dict:
        """The cluster as DescribeCluster answers it (moto + overlay); moto's error otherwise."""
        status, body, headers, raw = self.moto_json(req, "GET", f"/clusters/{urllib.parse.quote(name, safe='')}")
        if status != 200:
            raise MotoAnswer(status, headers, raw)
        return self.lay_over(body["cluster"])

    # -- EKS updates ---------------------------------------------------------------------------

    def settle(self, now: float | None = None) -> list[str]:
        now = time.time() if now is None else now
        done = []
        with self.lock:
            for update in self.updates.values():
                if update["status"] == "InProgress" and update["_done_at"] <= now:
                    self.overlays.setdefault(update["_cluster_arn"], {}).update(update["_changes"])
                    update["status"] = "Successful"
                    done.append(update["id"])
        return done

    def in_progress(self, arn: str) -> dict | None:
        self.settle()
        with self.lock:
            return next((u for u in self.updates.values() if u["_cluster_arn"] == arn and u["status"] == "InProgress"), None)

    def lay_over(self, cluster: dict) -> dict:
        self.settle()
        arn = cluster.get("arn", "")
        with self.lock:
            cluster.update(copy.deepcopy(self.overlays.get(arn, {})))
        if self.in_progress(arn):
            cluster["status"] = "UPDATING"
        return cluster

    def start_update(self, cluster: dict, kind: str, params: list[dict], changes: dict, token: str | None,
                     done: bool = False) -> dict:
        arn = cluster["arn"]
        with self.lock:
            if token:
                for u in self.updates.values():
                    if u["_cluster_arn"] == arn and u["_token"] == token:
                        if u["type"] != kind or u["params"] != params:
                            raise ApiError("InvalidRequestException", 400,
                                           f"clientRequestToken {token} was already used for a different request on this cluster")
                        return u
            if self.in_progress(arn):
                raise ApiError("ResourceInUseException", 409,
                               f"Cluster {cluster['name']} has an update in progress; wait for it to finish")
            update = {
                "id": str(uuid.uuid4()),
                "status": "Successful" if done else "InProgress",
                "type": kind,
                "params": params,
                "createdAt": time.time(),
                "errors": [],
                "_cluster_arn": arn,
                "_cluster": cluster["name"],
                "_token": token,
                "_done_at": time.time() + self.update_seconds,
                "_changes": changes,
            }
            self.updates[update["id"]] = update
            return update

    @staticmethod
    def public_update(update: dict) -> dict:
        return {"update": {k: v for k, v in update.items() if not k.startswith("_")}}

    # -- EKS operations ------------------------------------------------------------------------

    def version_rows(self, now: float) -> list[dict]:
        rows = []
        for v in self.catalogue["versions"]:
            if now < epoch(v["endOfStandardSupportDate"]):
                status = "STANDARD_SUPPORT"
            elif now < epoch(v["endOfExtendedSupportDate"]):
                status = "EXTENDED_SUPPORT"
            else:
                status = "UNSUPPORTED"
            rows.append({
                "clusterVersion": v["clusterVersion"],
                "clusterType": "eks",
                "defaultPlatformVersion": v["defaultPlatformVersion"],
                "defaultVersion": v["clusterVersion"] == self.catalogue["defaultVersion"],
                "releaseDate": epoch(v["releaseDate"]),
                "endOfStandardSupportDate": epoch(v["endOfStandardSupportDate"]),
                "endOfExtendedSupportDate": epoch(v["endOfExtendedSupportDate"]),
                "status": status.lower().replace("_", "-"),
                "versionStatus": status,
                "kubernetesPatchVersion": v["kubernetesPatchVersion"],
            })
        return rows

    def describe_cluster_versions(self, req: "Request", _labels: dict) -> dict:
        q = req.query
        rows = self.version_rows(time.time())
        if q.get("clusterType", ["eks"])[0].lower() != "eks":
            rows = []
        if q.get("includeAll", ["false"])[0].lower() != "true":
            rows = [r for r in rows if r["versionStatus"] != "UNSUPPORTED"]
        if q.get("defaultOnly", ["false"])[0].lower() == "true":
            rows = [r for r in rows if r["defaultVersion"]]
        if "clusterVersions" in q:
            wanted = {v for raw in q["clusterVersions"] for v in raw.split(",")}
            rows = [r for r in rows if r["clusterVersion"] in wanted]
        for key, field in (("versionStatus", "versionStatus"), ("status", "status")):
            if key in q:
                rows = [r for r in rows if r[field] == q[key][0]]
        rows.sort(key=lambda r: minor(r["clusterVersion"]) or (0, 0), reverse=True)
        return page(rows, "clusterVersions", q.get("nextToken", [None])[0], q.get("maxResults", [None])[0])

    def list_insights(self, req: "Request", labels: dict) -> dict:
        cluster = self.cluster(req, labels["name"])
        body = req.json()
        f = body.get("filter") or {}
        with self.lock:
            rows = copy.deepcopy(self.insights.get(cluster["name"], []))
        if f.get("categories"):
            rows = [r for r in rows if r["category"] in f["categories"]]
        if f.get("kubernetesVersions"):
            rows = [r for r in rows if r["kubernetesVersion"] in f["kubernetesVersions"]]
        if f.get("statuses"):
            rows = [r for r in rows if r["insightStatus"]["status"] in f["statuses"]]
        summaries = [{k: r[k] for k in ("id", "name", "category", "kubernetesVersion", "lastRefreshTime",
                                        "lastTransitionTime", "description", "insightStatus")} for r in rows]
        return page(summaries, "insights", body.get("nextToken"), body.get("maxResults"))

    def list_addons(self, req: "Request", labels: dict) -> dict:
        cluster = self.cluster(req, labels["name"])
        q = req.query
        with self.lock:
            names = sorted(self.addons.get(cluster["name"], []))
        return page(names, "addons", q.get("nextToken", [None])[0], q.get("maxResults", [None])[0])

    def describe_insight(self, req: "Request", labels: dict) -> dict:
        cluster = self.cluster(req, labels["name"])
        with self.lock:
            for r in self.insights.get(cluster["name"], []):
                if r["id"] == labels["id"]:
                    return {"insight": copy.deepcopy(r)}
        raise ApiError("ResourceNotFoundException", 404, f"No insight found for id {labels['id']} on cluster {cluster['name']}")

    def update_cluster_version(self, req: "Request", labels: dict) -> dict:
        body = req.json()
        target = body.get("version")
        if not target:
            raise ApiError("InvalidParameterException", 400, "version is required")
        cluster = self.cluster(req, labels["name"])
        current = cluster.get("version", "")
        params = [{"type": "Version", "value": target}]
        listed = {v["clusterVersion"]: v for v in self.catalogue["versions"]}
        token = body.get("clientRequestToken")
        with self.lock:
            reused = any(u["_cluster_arn"] == cluster["arn"] and u["_token"] == token for u in self.updates.values()) if token else False
        if not reused:
            cur, want = minor(current), minor(target)
            if target not in listed or cur is None or want != (cur[0], cur[1] + 1):
                raise ApiError("InvalidParameterException", 400,
                               f"Unsupported Kubernetes minor version update from {current} to {target}")
            if not body.get("force"):
                with self.lock:
                    errors = [i for i in self.insights.get(cluster["name"], [])
                              if i["category"] == "UPGRADE_READINESS" and i["kubernetesVersion"] == target
                              and i["insightStatus"]["status"] == "ERROR"]
                if errors:
                    raise ApiError("InvalidStateException", 400,
                                   f"Upgrade readiness checks failed for {target}: " + "; ".join(i["name"] for i in errors)
                                   + ". Resolve them or set force to override")
            params.append({"type": "PlatformVersion", "value": listed[target]["defaultPlatformVersion"]})
        else:
            params.append({"type": "PlatformVersion", "value": listed.get(target, {}).get("defaultPlatformVersion", "")})
        changes = {"version": target, "platformVersion": params[1]["value"]}
        return self.public_update(self.start_update(cluster, "VersionUpdate", params, changes, token))

    def associate_encryption_config(self, req: "Request", labels: dict) -> dict:
        body = req.json()
        config = body.get("encryptionConfig")
        if (not isinstance(config, list) or len(config) != 1 or config[0].get("resources") != ["secrets"]
                or not (config[0].get("provider") or {}).get("keyArn")):
            raise ApiError("InvalidParameterException", 400,
                           "encryptionConfig must be one entry with resources [\"secrets\"] and provider.keyArn")
        key = config[0]["provider"]["keyArn"]
        cluster = self.cluster(req, labels["name"])
        token = body.get("clientRequestToken")
        params = [{"type": "EncryptionConfig", "value": json.dumps(config, separators=(",", ":"))}]
        with self.lock:
            reused = any(u["_cluster_arn"] == cluster["arn"] and u["_token"] == token for u in self.updates.values()) if token else False
        if not reused:
            if cluster.get("encryptionConfig"):
                raise ApiError("InvalidRequestException", 400,
                               f"Cluster {cluster['name']} already has an encryption configuration; it cannot be changed")
            self.check_key(req, key)
        return self.public_update(self.start_update(cluster, "AssociateEncryptionConfig", params,
                                                    {"encryptionConfig": config}, token))

    def check_key(self, req: "Request", key: str) -> None:
        """EKS accepts only an enabled symmetric encryption key the caller can describe."""
        status, body, _, _ = self.moto_json(req, "POST", "/", service="kms", target="TrentService.DescribeKey", body={"KeyId": key})
        if status != 200:
            raise ApiError("InvalidParameterException", 400,
                           f"KMS key {key} could not be described: {body.get('message') or body.get('__type') or status}")
        meta = body.get("KeyMetadata", {})
        if meta.get("KeyState") != "Enabled":
            raise ApiError("InvalidParameterException", 400, f"KMS key {key} is {meta.get('KeyState')}, not Enabled")
        # KMS's defaults; moto leaves KeyUsage out of a key created without it.
        if (meta.get("KeySpec") or "SYMMETRIC_DEFAULT") != "SYMMETRIC_DEFAULT" or (meta.get("KeyUsage") or "ENCRYPT_DECRYPT") != "ENCRYPT_DECRYPT":
            raise ApiError("InvalidParameterException", 400,
                           f"KMS key {key} is {meta.get('KeySpec')}/{meta.get('KeyUsage')}: EKS needs a symmetric ENCRYPT_DECRYPT key")

    def describe_update(self, req: "Request", labels: dict) -> dict:
        self.settle()
        with self.lock:
            update = self.updates.get(labels["updateId"])
            if update and update["_cluster"] == labels["name"] and not ({"nodegroupName", "addonName", "capabilityName"} & set(req.query)):
                return self.public_update(copy.deepcopy(update))
        raise ApiError("ResourceNotFoundException", 404, f"No update found for ID: {labels['updateId']}")

    def describe_cluster(self, req: "Request", labels: dict) -> dict:
        return {"cluster": self.cluster(req, labels["name"])}

    def update_cluster_config(self, req: "Request", labels: dict):
        """moto changes the endpoint settings (and answers with the cluster, not an update); the
        stand-in answers as EKS does, with an EndpointAccessUpdate that ListUpdates and
        DescribeUpdate then show. moto applies the change at once, so the update is Successful
        from the start. Other changes (logging, network config) are moto's alone."""
        cluster = self.cluster(req, labels["name"])
        if self.in_progress(cluster["arn"]):
            raise ApiError("ResourceInUseException", 409, f"Cluster {cluster['name']} has an update in progress; wait for it to finish")
        body = req.json() or {}
        vpc = body.get("resourcesVpcConfig")
        if not vpc:
            return FORWARD
        token = body.get("clientRequestToken")
        params = [{"type": t, "value": json.dumps(vpc[k]) if isinstance(vpc[k], list) else str(vpc[k]).lower()}
                  for k, t in (("endpointPublicAccess", "EndpointPublicAccess"),
                               ("endpointPrivateAccess", "EndpointPrivateAccess"),
                               ("publicAccessCidrs", "PublicAccessCidrs")) if k in vpc]
        with self.lock:
            known = token and any(u["_cluster_arn"] == cluster["arn"] and u["_token"] == token for u in self.updates.values())
        if not known:
            passed_on = {k: v for k, v in req.headers.items() if k.lower() not in HOP_BY_HOP}
            status, headers, raw = self.moto(req.method, req.raw_path, passed_on, req.body)
            if status != 200:
                raise MotoAnswer(status, headers, raw)
        update = self.start_update(cluster, "EndpointAccessUpdate", params, {}, token, done=True)
        return self.public_update(copy.deepcopy(update))

    def list_updates(self, req: "Request", labels: dict) -> dict:
        """The cluster's updates, oldest first (node group, add-on and capability updates: none)."""
        arn = self.cluster(req, labels["name"])["arn"]
        self.settle()
        with self.lock:
            ids = [] if {"nodegroupName", "addonName", "capabilityName"} & set(req.query) else [
                u["id"] for u in sorted(self.updates.values(), key=lambda u: u["createdAt"]) if u["_cluster_arn"] == arn]
        return page(ids, "updateIds", req.query.get("nextToken", [None])[0], req.query.get("maxResults", [None])[0])

    def delete_cluster(self, req: "Request", labels: dict):
        """moto deletes the cluster; the stand-in forgets what it laid over it, so a new cluster of
        the same name (and ARN) starts from what moto holds."""
        arn = self.cluster(req, labels["name"])["arn"]
        passed_on = {k: v for k, v in req.headers.items() if k.lower() not in HOP_BY_HOP}
        status, headers, body = self.moto(req.method, req.raw_path, passed_on, req.body)
        if status == 200:
            with self.lock:
                self.overlays.pop(arn, None)
                self.insights.pop(labels["name"], None)
                self.addons.pop(labels["name"], None)
                for update in self.updates.values():
                    if update["_cluster_arn"] == arn:
                        update["_cluster_arn"] = f"{arn} (deleted)"
        raise MotoAnswer(status, headers, body)

    # -- Security Hub --------------------------------------------------------------------------

    def get_findings_v2(self, req: "Request", _labels: dict) -> dict:
        body = req.json()
        for unsupported in ("SortCriteria", "Scopes"):
            if body.get(unsupported):
                raise not_implemented(f"securityhub:GetFindingsV2 with {unsupported}")
        filters = body.get("Filters") or {}
        with self.lock:
            rows = [copy.deepcopy(f) for f in self.findings.values()]
        rows = [f for f in rows if matches_filters(f, filters)]
        return page(rows, "Findings", body.get("NextToken"), body.get("MaxResults"), token_key="NextToken")

    def batch_update_findings_v2(self, req: "Request", _labels: dict) -> dict:
        body = req.json()
        uids, identifiers = body.get("MetadataUids") or [], body.get("FindingIdentifiers") or []
        comment, status_id, severity_id = body.get("Comment"), body.get("StatusId"), body.get("SeverityId")
        if not uids and not identifiers:
            raise ApiError("ValidationException", 400, "Give MetadataUids or FindingIdentifiers")
        if comment is None and status_id is None and severity_id is None:
            raise ApiError("ValidationException", 400, "Give at least one of Comment, StatusId, SeverityId")
        if comment is not None and not 1 <= len(comment) <= COMMENT_MAX:
            raise ApiError("ValidationException", 400, f"Comment must be 1-{COMMENT_MAX} characters, got {len(comment)}")
        if status_id is not None and status_id not in STATUS_NAMES:
            raise ApiError("ValidationException", 400, f"StatusId {status_id} is not an OCSF status id")
        if severity_id is not None and severity_id not in SEVERITY_NAMES:
            raise ApiError("ValidationException", 400, f"SeverityId {severity_id} is not an OCSF severity id")
        processed, unprocessed = [], []
        with self.lock:
            targets = [({"MetadataUid": u}, self.findings.get(u)) for u in uids]
            for ident in identifiers:
                found = next((f for f in self.findings.values()
                              if dig(f, "cloud.account.uid") == [ident.get("CloudAccountUid")]
                              and dig(f, "finding_info.uid") == [ident.get("FindingInfoUid")]
                              and dig(f, "metadata.product.uid") == [ident.get("MetadataProductUid")]), None)
                targets.append(({"FindingIdentifier": ident}, found))
            for key, finding in targets:
                if finding is None:
                    unprocessed.append({**key, "ErrorCode": "ResourceNotFoundException",
                                        "ErrorMessage": "No finding with this identifier was loaded into the stand-in"})
                    continue
                change = {"at": time.time()}
                if comment is not None:
                    finding["comment"] = change["comment"] = comment
                if status_id is not None:
                    finding["status_id"] = change["status_id"] = status_id
                    finding["status"] = STATUS_NAMES[status_id]
                if severity_id is not None:
                    finding["severity_id"] = change["severity_id"] = severity_id
                    finding["severity"] = SEVERITY_NAMES[severity_id]
                self.history.setdefault(finding["metadata"]["uid"], []).append(change)
                processed.append(key)
        return {"ProcessedFindings": processed, "UnprocessedFindings": unprocessed}

    # -- control -------------------------------------------------------------------------------

    def control(self, req: "Request") -> tuple[int, dict]:
        parts = [urllib.parse.unquote(p) for p in req.path.split("/")[2:]]
        if req.method == "GET" and parts == ["health"]:
            return 200, {"ok": True, "moto": self.moto_url, "update_seconds": self.update_seconds}
        if req.method in ("PUT", "POST") and len(parts) == 2 and parts[0] == "insights":
            return 200, {"cluster": parts[1], "insights": self.set_insights(parts[1], req.json())}
        if req.method in ("PUT", "POST") and len(parts) == 2 and parts[0] == "addons":
            body = req.json()
            names = body.get("addons", []) if isinstance(body, dict) else body
            if not isinstance(names, list) or not all(isinstance(n, str) and n for n in names):
                raise ApiError("ValidationException", 400, f"addons must be a list of add-on names: {body}")
            with self.lock:
                self.addons[parts[1]] = list(names)
            return 200, {"cluster": parts[1], "addons": names}
        if req.method == "POST" and parts == ["findings"]:
            return 200, {"loaded": self.load_findings(req.json())}
        if req.method == "GET" and len(parts) == 2 and parts[0] == "findings":
            with self.lock:
                f = self.findings.get(parts[1])
                if f is None:
                    return 404, {"message": f"no finding with metadata.uid {parts[1]} was loaded"}
                return 200, {"metadata_uid": parts[1], "finding_info_uid": dig(f, "finding_info.uid")[:1] or None,
                             "status": f.get("status"), "status_id": f.get("status_id"), "comment": f.get("comment"),
                             "severity_id": f.get("severity_id"), "history": list(self.history.get(parts[1], []))}
        if req.method == "POST" and parts == ["updates", "settle"]:
            return 200, {"settled": self.settle(now=float("inf"))}
        return 404, {"message": f"no stand-in control endpoint {req.method} {req.path}"}

    def set_insights(self, cluster: str, body) -> list[dict]:
        given = body.get("insights", []) if isinstance(body, dict) else body
        now = time.time()
        rows = []
        for i in given:
            status = i.get("status", "PASSING")
            if status not in INSIGHT_STATUSES or not i.get("name") or not i.get("kubernetesVersion"):
                raise ApiError("ValidationException", 400,
                               f"an insight needs a name, a kubernetesVersion and a status in {sorted(INSIGHT_STATUSES)}: {i}")
            rows.append({
                "id": i.get("id") or str(uuid.uuid4()),
                "name": i["name"],
                "category": i.get("category", "UPGRADE_READINESS"),
                "kubernetesVersion": i["kubernetesVersion"],
                "lastRefreshTime": now,
                "lastTransitionTime": now,
                "description": i.get("description", ""),
                "insightStatus": {"status": status, "reason": i.get("reason", "")},
                "recommendation": i.get("recommendation", ""),
                "additionalInfo": i.get("additionalInfo", {}),
                "resources": i.get("resources", []),
                "categorySpecificSummary": i.get("categorySpecificSummary", {"deprecationDetails": [], "addonCompatibilityDetails": []}),
            })
        with self.lock:
            self.insights[cluster] = rows
        return rows

    def load_findings(self, body) -> list[str]:
        found = body.get("detail", {}).get("findings") if isinstance(body, dict) and "detail" in body else [body]
        loaded = []
        with self.lock:
            for f in found or []:
                uid = (f.get("metadata") or {}).get("uid") if isinstance(f, dict) else None
                if not uid:
                    raise ApiError("ValidationException", 400, "a finding needs metadata.uid")
                self.findings[uid] = copy.deepcopy(f)
                self.history[uid] = []
                loaded.append(uid)
        return loaded


FORWARD = object()


def page(rows: list, key: str, token, max_results, token_key: str = "nextToken") -> dict:
    start = int(token) if token and str(token).isdigit() else 0
    size = int(max_results) if max_results else 100
    out = {key: rows[start:start + size]}
    if start + size < len(rows):
        out[token_key] = str(start + size)
    return out


def dig(doc, path: str) -> list:
    """Every value at a dotted OCSF path; lists along the way are flattened."""
    values = [doc]
    for part in path.split("."):
        nxt = []
        for v in values:
            items = v if isinstance(v, list) else [v]
            nxt.extend(i[part] for i in items if isinstance(i, dict) and part in i)
        values = nxt
    flat = []
    for v in values:
        flat.extend(v if isinstance(v, list) else [v])
    return flat


STRING_TESTS = {
    "EQUALS": lambda v, x: v == x,
    "PREFIX": lambda v, x: v.startswith(x),
    "CONTAINS": lambda v, x: x in v,
    "CONTAINS_WORD": lambda v, x: x in re.findall(r"\w+", v),
}
NEGATED = {"NOT_EQUALS": "EQUALS", "PREFIX_NOT_EQUALS": "PREFIX", "NOT_CONTAINS": "CONTAINS"}


def string_match(doc, f: dict) -> bool:
    comparison, value = f["Filter"].get("Comparison", "EQUALS"), f["Filter"].get("Value", "")
    values = [str(v) for v in dig(doc, f["FieldName"])]
    if comparison in NEGATED:
        return not any(STRING_TESTS[NEGATED[comparison]](v, value) for v in values)
    if comparison not in STRING_TESTS:
        raise not_implemented(f"securityhub:GetFindingsV2 string comparison {comparison}")
    return any(STRING_TESTS[comparison](v, value) for v in values)


def number_match(doc, f: dict) -> bool:
    tests = {"Eq": lambda v, x: v == x, "Gte": lambda v, x: v >= x, "Lte": lambda v, x: v <= x,
             "Gt": lambda v, x: v > x, "Lt": lambda v, x: v < x}
    values = [v for v in dig(doc, f["FieldName"]) if isinstance(v, (int, float)) and not isinstance(v, bool)]
    return any(all(tests[k](v, x) for k, x in f["Filter"].items() if k in tests) for v in values)


def composite_match(doc, c: dict) -> bool:
    for kind in ("DateFilters", "MapFilters", "IpFilters"):
        if c.get(kind):
            raise not_implemented(f"securityhub:GetFindingsV2 {kind}")
    results = [string_match(doc, f) for f in c.get("StringFilters", [])]
    results += [number_match(doc, f) for f in c.get("NumberFilters", [])]
    results += [f["Filter"].get("Value") in dig(doc, f["FieldName"]) for f in c.get("BooleanFilters", [])]
    results += [composite_match(doc, n) for n in c.get("NestedCompositeFilters", [])]
    if not results:
        return True
    return any(results) if c.get("Operator", "AND") == "OR" else all(results)


def matches_filters(doc, filters: dict) -> bool:
    results = [composite_match(doc, c) for c in filters.get("CompositeFilters", [])]
    if not results:
        return True
    return any(results) if filters.get("CompositeOperator", "AND") == "OR" else all(results)


# ---------------------------------------------------------------------------------------------
# HTTP


class Request:
    def __init__(self, handler: BaseHTTPRequestHandler, body: bytes):
        split = urllib.parse.urlsplit(handler.path)
        self.method, self.raw_path, self.path = handler.command, handler.path, split.path
        self.query = urllib.parse.parse_qs(split.query, keep_blank_values=True)
        self.headers, self.body = handler.headers, body

    def json(self):
        if not self.body:
            return {}
        try:
            return json.loads(self.body)
        except ValueError as e:
            raise ApiError("SerializationException", 400, f"the request body is not JSON: {e}") from None

    def service(self) -> tuple[str, str] | None:
        m = CREDENTIAL_SCOPE.search(self.headers.get("Authorization", ""))
        return (m[2], m[1]) if m else None


def make_handler(standin: Standin):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Headers and body leave in two writes: without TCP_NODELAY each answer on a kept-alive
        # connection waits for the client's delayed ACK (about 40 ms).
        disable_nagle_algorithm = True

        def log_message(self, fmt, *args) -> None:
            sys.stderr.write("aws_standin: " + (fmt % args) + "\n")

        def read_body(self) -> bytes:
            if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
                out = b""
                while True:
                    size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                    if size == 0:
                        while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                            pass
                        return out
                    out += self.rfile.read(size)
                    self.rfile.readline()
            return self.rfile.read(int(self.headers.get("Content-Length") or 0))

        def reply(self, status: int, headers: list, body: bytes) -> None:
            self.send_response(status)
            for k, v in headers:
                if k.lower() not in HOP_BY_HOP:
                    self.send_header(k, v)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def reply_json(self, status: int, doc, error: str | None = None) -> None:
            headers = [("Content-Type", "application/json"), ("x-amzn-RequestId", str(uuid.uuid4()))]
            if error:
                headers.append(("x-amzn-ErrorType", error))
            self.reply(status, headers, json.dumps(doc).encode())

        def handle_any(self) -> None:
            req = Request(self, self.read_body())
            try:
                if req.path.startswith("/_standin/"):
                    status, doc = standin.control(req)
                    return self.reply_json(status, doc)
                svc = req.service()
                service = svc[0] if svc else None
                if service in standin.ops:
                    ops = standin.ops[service]
                    hit = ops.match(req.method, req.path)
                    if hit is None:
                        raise not_implemented(f"{service} request {req.method} {req.path} (no operation of the service model matches it)")
                    op, labels = hit
                    handler = standin.handlers.get((service, op))
                    result = handler(req, labels) if handler else FORWARD
                    if result is not FORWARD:
                        return self.reply_json(200, result)
                    if op not in standin.moto_ops[service]:
                        raise not_implemented(f"{service}:{op}")
                passed_on = {k: v for k, v in req.headers.items() if k.lower() not in HOP_BY_HOP}
                status, headers, body = standin.moto(req.method, req.raw_path, passed_on, req.body)
                self.reply(status, headers, body)
            except MotoAnswer as e:
                self.reply(e.status, e.headers, e.body)
            except ApiError as e:
                self.reply_json(e.status, {"__type": e.code, "message": e.message}, error=e.code)
            except Exception as e:  # noqa: BLE001 - answer, and say what broke, rather than drop the connection
                self.log_message("internal error on %s %s: %r", req.method, req.path, e)
                self.reply_json(500, {"__type": "StandinInternalError", "message": f"aws_standin.py failed: {e!r}"},
                                error="StandinInternalError")

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = handle_any

    return Handler


def serve(moto_url: str, host: str = "127.0.0.1", port: int = 0, update_seconds: float = 10.0) -> tuple[ThreadingHTTPServer, Standin]:
    standin = Standin(moto_url, update_seconds)
    server = ThreadingHTTPServer((host, port), make_handler(standin))
    server.daemon_threads = True
    return server, standin


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--moto", required=True, help="moto_server URL")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--update-seconds", type=float, default=10.0, help="how long an update stays InProgress")
    a = p.parse_args()
    if a.host not in ("127.0.0.1", "localhost", "::1"):
        sys.exit("aws_standin.py: listens on loopback only")
    server, _ = serve(a.moto, a.host, a.port, a.update_seconds)
    print(f"http://{a.host}:{server.server_address[1]}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
