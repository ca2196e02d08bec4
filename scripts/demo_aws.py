"""AWS side of `make demo`: boto3 against moto_server (AWS_ENDPOINT_URL).

Subcommands (all print for an operator, not for a machine):

  setup DIR            create the demo's accounts' resources in moto and write
                       DIR/function.env (the functions' environment) and DIR/state.json
  show-cluster DIR EV  describe the cluster named by the finding in event file EV
  drain DIR [REPORT]   read every SNS message the SQS subscriber received, print each as
                       an operator reads it, delete it; REPORT is the step's response file
                       (exit 3 when its outcome is `skipped` and a message arrived anyway)
  report FILE [OUT]    pretty-print a function's JSON response; with OUT, check its
                       `outcome` equals OUT (exit 3 when it does not)
  selftest DIR         publish one sample notification the way the functions do and
                       drain it: checks the harness without the Rust functions
  variant EV CLUSTER OUT
                       write event EV about another cluster: its name, ARN and finding
                       uids replaced (a second exposure, with its own finding record)
  load-finding EV      hand the finding of event EV to the Security Hub stand-in, unless it
                       holds it already (the record then carries over from earlier steps)
  finding-record EV    print the record the stand-in holds for the finding of event EV
  wait-cluster EV [S]  wait (at most S seconds, default 60) until the cluster of event EV is
                       no longer UPDATING, then describe it
  approval-request REPORT ARN OUT
                       write the function URL request (payload 2.0, as Lambda hands it over
                       after AWS_IAM auth) that approves REPORT's approval, from approver ARN
                       (`-`: a request without an IAM caller)
  url-post URL REPORT OUT
                       POST REPORT's approval.request to URL (cargo lambda watch's function URL
                       emulation); exit 3 unless refused with HTTP 403 no_iam_caller

Sessions, accounts and the cluster fixtures: scripts/moto_fixtures.py (shared with make bench).
EKS and Security Hub calls go to AWS_ENDPOINT_URL_EKS / AWS_ENDPOINT_URL_SECURITYHUB (the AWS
stand-in, scripts/aws_standin.py) when set, like the functions' own.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import boto3

sys.path.insert(0, str(Path(__file__).resolve().parent))
import moto_fixtures  # noqa: E402
from moto_fixtures import (  # noqa: E402
    REGION, client, create_clusters, create_ledger_table, endpoint, endpoint_for,
)

# The sample events' clusters live here (see events/*.json resources[].uid).
CLUSTER_ACCOUNT = os.environ.get("DEMO_CLUSTER_ACCOUNT", "444455556666")
# Where the functions, the SNS topic and the SQS subscriber live. Same as the clusters
# by default: under `cargo lambda watch` the invoked function ARN is the literal
# "function-arn", so a function cannot tell its own account from its context there.
FUNCTION_ACCOUNT = os.environ.get("DEMO_FUNCTION_ACCOUNT", CLUSTER_ACCOUNT)
MEMBER_ROLE_NAME = os.environ.get("DEMO_MEMBER_ROLE_NAME", "EksExposureResponderMember")
HARNESS_ROLE_NAME = "eks-exposure-responder-demo"
TOPIC_NAME = "eks-exposure-responder-demo"
QUEUE_NAME = "eks-exposure-responder-demo"
# The sample events' clusters, and the two the one-way-door steps refuse on.
DEMO_CLUSTERS = [
    "payments-prod", "ledger-internal", "batch-legacy", "reports-legacy",
    "orders-staging", "inventory-staging", "analytics-dev", "platform-shared",
]
LEDGER_TABLE = "eks-exposure-responder-demo-ledger"

# EKS upgrade readiness insights for 1.25 (the names and checks EKS runs; the reasons are
# illustrative). batch-legacy passes them all; reports-legacy still uses PodSecurityPolicy,
# which Kubernetes 1.25 removes.
PASSING_INSIGHTS = [
    {"name": "Deprecated APIs removed in Kubernetes v1.25", "status": "PASSING",
     "reason": "No deprecated API usage detected within the last 30 days."},
    {"name": "Kubelet version skew", "status": "PASSING",
     "reason": "Node kubelet versions match the cluster control plane version."},
    {"name": "EKS add-on version compatibility", "status": "PASSING",
     "reason": "All installed EKS add-on versions are compatible with the next Kubernetes version."},
    {"name": "Cluster health issues", "status": "PASSING", "reason": "No cluster health issues detected."},
]
BLOCKING_INSIGHT = {
    "name": "Deprecated APIs removed in Kubernetes v1.25", "status": "ERROR",
    "reason": "Deprecated API usage detected within the last 30 days: policy/v1beta1 PodSecurityPolicy",
    "description": "Checks for usage of deprecated APIs that are scheduled for removal in Kubernetes v1.25.",
    "recommendation": "Replace PodSecurityPolicy with Pod Security Admission before upgrading; "
                      "update every client that still calls policy/v1beta1",
}


def session_for(account: str, session_name: str = "demo-harness") -> boto3.Session:
    return moto_fixtures.session_for(account, HARNESS_ROLE_NAME, session_name)


def credentials_for(account: str, session_name: str) -> dict[str, str]:
    return moto_fixtures.credentials_for(account, HARNESS_ROLE_NAME, session_name)


def standin(method: str, path: str, body=None) -> dict:
    """A call to the AWS stand-in's control endpoints (scripts/aws_standin.py)."""
    req = urllib.request.Request(endpoint_for("securityhub") + path, method=method,
                                 data=None if body is None else json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.load(r)


def set_insights(cluster: str, insights: list[dict], version: str = "1.25") -> None:
    standin("PUT", f"/_standin/insights/{cluster}", [{"kubernetesVersion": version, **i} for i in insights])


def setup(state_dir: str) -> None:
    out = Path(state_dir)
    out.mkdir(parents=True, exist_ok=True)

    member = session_for(CLUSTER_ACCOUNT)
    iam = client(member, "iam")
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{FUNCTION_ACCOUNT}:root"},
                "Action": "sts:AssumeRole",
            }
        ],
    }
    iam.create_role(RoleName=MEMBER_ROLE_NAME, AssumeRolePolicyDocument=json.dumps(trust))
    kms = client(member, "kms")
    # Usage and spec explicit: moto reports no KeyUsage for a key created without it, and the
    # pre-flight of secrets-encryption refuses a key whose usage it cannot see.
    symmetric = {"KeyUsage": "ENCRYPT_DECRYPT", "KeySpec": "SYMMETRIC_DEFAULT"}
    key_arn = kms.create_key(
        Description="eks-exposure-responder demo: secrets envelope key", **symmetric
    )["KeyMetadata"]["Arn"]
    # A key someone disabled: EKS cannot use it, and the pre-flight must say so.
    disabled = kms.create_key(Description="eks-exposure-responder demo: a disabled key", **symmetric)["KeyMetadata"]
    kms.disable_key(KeyId=disabled["KeyId"])

    rows = []
    for cluster in create_clusters(member, CLUSTER_ACCOUNT, DEMO_CLUSTERS, key_arn):
        v = cluster["resourcesVpcConfig"]
        rows.append(
            f"  {cluster['name']:<18} {cluster['version']:<5} "
            f"public={str(v.get('endpointPublicAccess')).lower():<5} "
            f"private={str(v.get('endpointPrivateAccess')).lower():<5} "
            f"cidrs={','.join(v.get('publicAccessCidrs', [])) or '-':<15} "
            f"secrets-key={'yes' if cluster.get('encryptionConfig') else 'no'}"
        )

    home = session_for(FUNCTION_ACCOUNT)
    sns = client(home, "sns")
    sqs = client(home, "sqs")
    topic_arn = sns.create_topic(Name=TOPIC_NAME)["TopicArn"]
    queue_url = sqs.create_queue(QueueName=QUEUE_NAME)["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    # Raw delivery stays off: the queue receives the SNS envelope (Subject, Message,
    # MessageAttributes), as a ticketing or CI subscriber would.
    sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn)
    ledger_arn = create_ledger_table(home, LEDGER_TABLE)

    function_creds = credentials_for(FUNCTION_ACCOUNT, "eks-exposure-responder")
    env = {
        **function_creds,
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_ENDPOINT_URL": endpoint(),
        "AWS_EC2_METADATA_DISABLED": "true",
        "SNS_TOPIC_ARN": topic_arn,
        # Every function records its decisions here: re-deliveries send nothing twice, and a
        # finding several functions act on carries all their decisions in one comment.
        "LEDGER_TABLE": LEDGER_TABLE,
        "MEMBER_ROLE_NAME": MEMBER_ROLE_NAME,
        "SECRETS_KMS_KEY_ARN": key_arn,
        # No soak between endpoint stages 1 and 2, so the demo shows stage 2 right after stage 1.
        "ENDPOINT_STAGE_SOAK_MINUTES": "0",
    }
    # The functions reach EKS and Security Hub through the stand-in, everything else moto.
    for service in ("EKS", "SECURITYHUB"):
        if os.environ.get(f"AWS_ENDPOINT_URL_{service}"):
            env[f"AWS_ENDPOINT_URL_{service}"] = os.environ[f"AWS_ENDPOINT_URL_{service}"]
    # Quoted: cargo-lambda's env-file parser rejects bare values such as "ab/c+d==".
    (out / "function.env").write_text("".join(f"{k}={json.dumps(v)}\n" for k, v in env.items()))
    state = {
        "topic_arn": topic_arn,
        "queue_url": queue_url,
        "ledger_table": LEDGER_TABLE,
        "function_account": FUNCTION_ACCOUNT,
        "cluster_account": CLUSTER_ACCOUNT,
        "kms_key_arn": key_arn,
        "disabled_kms_key_arn": disabled["Arn"],
    }
    (out / "state.json").write_text(json.dumps(state, indent=2) + "\n")

    print(f"moto_server        {endpoint()}")
    print(f"function account   {FUNCTION_ACCOUNT} (credentials from sts:AssumeRole in moto)")
    print(f"SNS topic          {topic_arn}")
    print(f"SQS subscriber     {queue_arn} (raw message delivery off)")
    print(f"decision ledger    {ledger_arn} (DynamoDB)")
    print(f"member role        arn:aws:iam::{CLUSTER_ACCOUNT}:role/{MEMBER_ROLE_NAME}")
    print(f"KMS key            {key_arn}")
    print(f"disabled KMS key   {disabled['Arn']}")
    print(f"EKS clusters in {CLUSTER_ACCOUNT}/{REGION}:")
    print("\n".join(rows))
    # The Inspector finding behind the CVE signal of eks-high-priority-vulnerability.json.
    standin("POST", "/_standin/findings",
            json.loads((Path(__file__).resolve().parent / "standin" / "inspector-finding.json").read_text()))
    set_insights("batch-legacy", PASSING_INSIGHTS)
    set_insights("reports-legacy", [BLOCKING_INSIGHT, *PASSING_INSIGHTS[1:]])
    print(f"AWS stand-in       {endpoint_for('eks')} (EKS and Security Hub calls moto lacks)")
    print("  upgrade insights for 1.25: batch-legacy all PASSING; reports-legacy ERROR "
          f"'{BLOCKING_INSIGHT['name']}'")
    print("  Security Hub holds the Inspector finding for CVE-2023-44487 in payments-api")


def load_state(state_dir: str) -> dict:
    return json.loads((Path(state_dir) / "state.json").read_text())


def cluster_of_event(event_file: str) -> tuple[str, str, str]:
    """(account, region, name) of the EKS cluster the finding in `event_file` is about."""
    event = json.loads(Path(event_file).read_text())
    for finding in event.get("detail", {}).get("findings", []):
        for res in finding.get("resources", []):
            if res.get("type") != "AWS::EKS::Cluster":
                continue
            for uid in (res.get("uid"), res.get("uid_alt")):
                if uid and uid.startswith("arn:"):
                    parts = uid.split(":")
                    return parts[4], parts[3], parts[5].split("/", 1)[1]
            account = (res.get("owner") or {}).get("account", {}).get("uid", CLUSTER_ACCOUNT)
            return account, res.get("region", REGION), res["uid"]
    sys.exit(f"demo_aws.py: no AWS::EKS::Cluster resource in {event_file}")


def show_cluster(state_dir: str, event_file: str) -> None:
    account, region, name = cluster_of_event(event_file)
    eks = client(session_for(account), "eks")
    c = eks.describe_cluster(name=name)["cluster"]
    keys = [e["provider"]["keyArn"] for e in c.get("encryptionConfig", [])]
    print(f"{c['arn']}  status={c['status']}  version={c['version']}")
    print(f"  resourcesVpcConfig: {json.dumps(c.get('resourcesVpcConfig', {}), sort_keys=True)}")
    print(f"  secrets key: {', '.join(keys) or 'none (no encryptionConfig)'}")
    print(f"  tags: {json.dumps(c.get('tags', {}), sort_keys=True)}")


def variant(event_file: str, cluster: str, out_file: str) -> None:
    """The event about another cluster, as a second exposure: its own metadata and finding uids."""
    text = Path(event_file).read_text()
    finding = json.loads(text)["detail"]["findings"][0]
    name = next(r["name"] for r in finding["resources"] if r.get("type") == "AWS::EKS::Cluster")
    meta_uid = finding["metadata"]["uid"]
    risk_uid = finding["finding_info"]["uid"].rsplit(":", 1)[1]

    def derived(uid: str) -> str:
        return hashlib.sha256(f"{uid}|{cluster}".encode()).hexdigest()

    for old, new in ((meta_uid, derived(meta_uid)), (risk_uid, derived(risk_uid)),
                     (f"cluster/{name}\"", f"cluster/{cluster}\""), (f"\"{name}\"", f"\"{cluster}\"")):
        text = text.replace(old, new)
    Path(out_file).parent.mkdir(parents=True, exist_ok=True)
    Path(out_file).write_text(text)


def finding_of(event_file: str) -> dict:
    return json.loads(Path(event_file).read_text())["detail"]["findings"][0]


def load_finding(event_file: str) -> None:
    uid = finding_of(event_file)["metadata"]["uid"]
    try:
        standin("GET", f"/_standin/findings/{uid}")
    except urllib.error.HTTPError as e:
        if e.code != 404:
            raise
        standin("POST", "/_standin/findings", json.loads(Path(event_file).read_text()))


def finding_record(event_file: str) -> None:
    finding = finding_of(event_file)
    r = standin("GET", f"/_standin/findings/{finding['metadata']['uid']}")
    print(f"metadata.uid {r['metadata_uid'][:16]}…  status: {r['status']} ({r['status_id']})"
          f"  updates so far: {len(r['history'])}")
    if r["comment"]:
        print("comment:")
        print(indent(r["comment"], "  "))
    else:
        print("comment: none")


def wait_cluster(state_dir: str, event_file: str, limit: float = 60) -> None:
    account, _, name = cluster_of_event(event_file)
    eks = client(session_for(account), "eks")
    deadline = time.monotonic() + limit
    while eks.describe_cluster(name=name)["cluster"]["status"] == "UPDATING":
        if time.monotonic() > deadline:
            sys.exit(f"demo_aws.py: {name} is still UPDATING after {limit:.0f}s")
        time.sleep(0.5)
    show_cluster(state_dir, event_file)


def sent_notifications(topic_arn: str) -> dict[str, dict]:
    """moto's record of every publish to the topic, by message id: the full Message as
    published (for MessageStructure=json, every protocol's text), Subject, attributes."""
    try:
        with urllib.request.urlopen(endpoint() + "/moto-api/data.json", timeout=10) as r:
            data = json.load(r)
    except (OSError, ValueError):
        return {}
    found = {}
    for topic in data.get("sns", {}).get("Topic", []):
        if topic.get("arn") != topic_arn:
            continue
        for message_id, message, subject, *_ in topic.get("sent_notifications", []):
            found[message_id] = {"message": message, "subject": subject}
    return found


def email_text(published: str | None, report_notification) -> str | None:
    """What an email subscriber receives: the `email` entry of a per-protocol message,
    else its `default`, else a plain message as is."""
    if published is not None:
        try:
            per_protocol = json.loads(published)
        except ValueError:
            return published
        if isinstance(per_protocol, dict):
            text = per_protocol.get("email", per_protocol.get("default"))
            if isinstance(text, str):
                return text
        return published
    if isinstance(report_notification, dict):
        for key in ("email", "text", "body", "message"):
            if isinstance(report_notification.get(key), str):
                return report_notification[key]
    return None


def indent(text: str, prefix: str = "    ") -> str:
    return "\n".join(prefix + line if line else line for line in text.splitlines())


def brief_json(text: str, limit: int = 400) -> str:
    try:
        compact = json.dumps(json.loads(text), separators=(",", ":"))
    except ValueError:
        compact = text.replace("\n", " ")
    if len(compact) > limit:
        compact = compact[:limit] + f"… ({len(text)} bytes in all)"
    return compact


def drain(state_dir: str, report_file: str | None = None) -> int:
    state = load_state(state_dir)
    sqs = client(session_for(state["function_account"]), "sqs")
    report_notification = None
    if report_file and Path(report_file).is_file():
        try:
            report_notification = json.loads(Path(report_file).read_text()).get("notification")
        except (ValueError, AttributeError):
            pass
    published = None
    saved = Path(state_dir) / "messages"
    saved.mkdir(exist_ok=True)
    count = 0
    while True:
        batch = sqs.receive_message(
            QueueUrl=state["queue_url"], MaxNumberOfMessages=10, WaitTimeSeconds=0
        ).get("Messages", [])
        if not batch:
            break
        if published is None:
            published = sent_notifications(state["topic_arn"])
        for m in batch:
            count += 1
            envelope = json.loads(m["Body"])
            (saved / f"{envelope['MessageId']}.json").write_text(json.dumps(envelope, indent=2))
            attrs = envelope.get("MessageAttributes", {})
            print(f"  ── SNS message {count} ──")
            print(f"  Subject: {envelope.get('Subject', '(none)')}")
            if attrs:
                print("  Attributes: " + "  ".join(f"{k}={v.get('Value')}" for k, v in sorted(attrs.items())))
            record = published.get(envelope["MessageId"])
            text = email_text(record["message"] if record else None, report_notification)
            if text is not None:
                print("  Email body:")
                print(indent(text))
            else:
                print("  Email body: (not available: moto kept no copy and the report has none)")
            print(f"  SQS copy (Message): {brief_json(envelope.get('Message', ''))}")
            print(f"  full envelope: {saved / (envelope['MessageId'] + '.json')}")
            sqs.delete_message(QueueUrl=state["queue_url"], ReceiptHandle=m["ReceiptHandle"])
    if count == 0:
        print("  (no SNS message)")
    return count


def drain_checked(state_dir: str, report_file: str | None = None) -> int:
    """drain; 3 when the report says `skipped` (nothing may be sent) and a message arrived."""
    count = drain(state_dir, report_file)
    try:
        skipped = json.loads(Path(report_file).read_text()).get("outcome") == "skipped"
    except (TypeError, OSError, ValueError, AttributeError):
        skipped = False
    if skipped and count:
        print(f"  ✗ a skipped decision sends nothing, yet {count} SNS message(s) arrived")
        return 3
    return 0


def report(path: str, expected: str | None = None) -> int:
    raw = Path(path).read_text() if Path(path).is_file() else ""
    try:
        body = json.loads(raw)
    except ValueError:
        print(indent(raw.strip() or "(empty response)"))
        if expected:
            print(f"  ✗ expected outcome '{expected}', got no JSON report")
            return 3
        return 0
    if isinstance(body, dict) and "statusCode" in body:
        # A function URL response: the report is its body.
        print(f"  HTTP {body['statusCode']} (the function URL response; its body:)")
        try:
            body = json.loads(body.get("body") or "null")
        except ValueError:
            pass
    print(indent(json.dumps(body, indent=2, ensure_ascii=False)))
    outcome = body.get("outcome") if isinstance(body, dict) else None
    reason = body.get("reason") if isinstance(body, dict) else None
    print(f"  → outcome: {outcome}" + (f" — {reason}" if reason else ""))
    if expected and outcome != expected:
        print(f"  ✗ expected outcome '{expected}'")
        return 3
    if expected:
        print(f"  ✓ outcome is '{expected}' as expected")
    return 0


def approval_request(report_file: str, approver: str, out_file: str) -> None:
    """The payload Lambda hands the function for a signed function URL request carrying the
    proposal's `approval.request`, from `approver` (events/function-url/approval-request.json).
    Locally nothing checks a signature: with AuthType AWS_IAM, AWS does, before the function."""
    report_body = json.loads(Path(report_file).read_text())
    approval = report_body.get("approval") or {}
    if "request" not in approval:
        sys.exit(f"approval-request: {report_file} carries no approval.request")
    root = Path(__file__).resolve().parent.parent
    payload = json.loads((root / "events" / "function-url" / "approval-request.json").read_text())
    payload["body"] = json.dumps(approval["request"])
    if approver == "-":
        # What arrives without AWS_IAM auth (or from a direct invoke): no caller at all.
        del payload["requestContext"]["authorizer"]
    else:
        payload["requestContext"]["authorizer"]["iam"]["userArn"] = approver
    Path(out_file).write_text(json.dumps(payload, indent=2) + "\n")
    print("  The proposal's approve command (run by an approver with the stack's ApproverPolicy):")
    print(indent(approval.get("command", "(none)")))


def url_post(url: str, report_file: str, out_file: str) -> int:
    """POST REPORT's `approval.request` to URL (cargo lambda watch's function URL emulation),
    save the response body to OUT; exit 3 unless it is the refusal of a request without an IAM
    caller (HTTP 403, no_iam_caller)."""
    import urllib.error
    import urllib.request

    body = json.dumps(json.loads(Path(report_file).read_text())["approval"]["request"]).encode()
    req = urllib.request.Request(url, data=body, method="POST",
                                 headers={"content-type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=120) as answer:
            status, text = answer.status, answer.read().decode()
    except urllib.error.HTTPError as error:
        status, text = error.code, error.read().decode()
    Path(out_file).write_text(text)
    print(f"  HTTP {status}:")
    print(indent(text))
    if status == 403 and '"no_iam_caller"' in text:
        print("  ✓ refused before anything was read (no_iam_caller)")
        return 0
    print("  ✗ expected HTTP 403 with reason_code no_iam_caller")
    return 3


def selftest(state_dir: str) -> None:
    """Publish like a function does (MessageStructure=json, attributes) and drain."""
    state = load_state(state_dir)
    sns = client(session_for(state["function_account"]), "sns")
    report_body = {"function": "selftest", "outcome": "proposed", "cluster": {"name": "payments-prod"}}
    email = "Cluster payments-prod (444455556666/us-east-1)\nDecision: proposed\nRun: aws eks update-cluster-config ..."
    sns.publish(
        TopicArn=state["topic_arn"],
        Subject="[PROPOSED] payments-prod 444455556666/us-east-1: public API endpoint",
        Message=json.dumps({"default": email, "email": email, "sqs": json.dumps(report_body)}),
        MessageStructure="json",
        MessageAttributes={
            "outcome": {"DataType": "String", "StringValue": "proposed"},
            "function": {"DataType": "String", "StringValue": "selftest"},
        },
    )
    if drain(state_dir) != 1:
        sys.exit("selftest: expected exactly one SNS message in the queue")
    if drain(state_dir) != 0:
        sys.exit("selftest: the queue was not emptied")


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__)
        return 2
    cmd, args = argv[0], argv[1:]
    if cmd == "setup" and len(args) == 1:
        setup(args[0])
    elif cmd == "show-cluster" and len(args) == 2:
        show_cluster(*args)
    elif cmd == "drain" and len(args) in (1, 2):
        return drain_checked(*args)
    elif cmd == "report" and len(args) in (1, 2):
        return report(*args)
    elif cmd == "selftest" and len(args) == 1:
        selftest(args[0])
    elif cmd == "variant" and len(args) == 3:
        variant(*args)
    elif cmd == "url-post" and len(args) == 3:
        return url_post(*args)
    elif cmd == "approval-request" and len(args) == 3:
        approval_request(*args)
    elif cmd == "load-finding" and len(args) == 1:
        load_finding(args[0])
    elif cmd == "finding-record" and len(args) == 1:
        finding_record(args[0])
    elif cmd == "wait-cluster" and len(args) in (2, 3):
        wait_cluster(args[0], args[1], *(float(a) for a in args[2:]))
    else:
        print(__doc__)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
