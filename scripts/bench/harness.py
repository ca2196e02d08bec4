"""Measurements of `make bench` that run processes: a Lambda Runtime API on loopback, moto
resources, cold starts, first events beside Cloud Custodian, warm streams and peak memory.

    harness.py setup STATE_DIR                  create the moto resources, write STATE_DIR/env.json
    harness.py add-clusters STATE_DIR           create the other sample events' clusters
    harness.py cold STATE_DIR OUT --runs N --binary NAME=PATH ...
    harness.py first STATE_DIR OUT --runs N --binary NAME=PATH ... [--custodian PATH]
    harness.py warm STATE_DIR OUT --events N --binary NAME=PATH ...

Each measuring command writes a JSON file OUT; scripts/bench/report.py turns them into the table.
Needs boto3 (the project's .venv) and AWS_ENDPOINT_URL pointing at moto_server.

The Runtime API implemented here is the documented one
(https://docs.aws.amazon.com/lambda/latest/dg/runtimes-api.html): GET
/2018-06-01/runtime/invocation/next (long-polled; answered with the event and the
Lambda-Runtime-* headers), POST .../invocation/<id>/response, .../invocation/<id>/error and
/2018-06-01/runtime/init/error.

Times are taken with time.perf_counter_ns() in this process: the start is taken immediately
before fork/exec (subprocess.Popen), so it includes process creation, the dynamic loader and
everything the binary does before its first request.

Peak memory is the kernel's high-water mark of the program's resident set: VmHWM from
/proc/<pid>/status for a function (read after its response; it does nothing more before it is
killed), and /usr/bin/time's %M for Cloud Custodian (which exits by itself). Not this
process's ru_maxrss of a child: a child forked from Python carries the harness's own resident
pages into that number before it execs.
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))
import moto_fixtures  # noqa: E402  (the moto fixtures make demo uses too)
from moto_fixtures import client, endpoint  # noqa: E402
EVENTS = ROOT / "events"
REGION = "us-east-1"
ACCOUNT = "444455556666"
TOPIC = "eks-exposure-responder-bench"
LEDGER_TABLE = "eks-exposure-responder-bench-ledger"
API = "/2018-06-01/runtime"

# The sample event each function answers in the first-event run (`propose` mode). A function
# not listed here gets the first actionable event events/manifest.toml routes to it.
FIRST_EVENT = {
    "endpoint-access": "eks-public-access.json",
    "kubernetes-version": "eks-unsupported-kubernetes-version.json",
    "secrets-encryption": "eks-unencrypted-secrets.json",
    "container-vulnerabilities": "eks-high-priority-vulnerability.json",
    "bench-empty": "eks-public-access.json",  # the empty function echoes it
}

# ---------------------------------------------------------------------------------------------
# events/manifest.toml


def manifest() -> list:
    sys.path.insert(0, str(ROOT / "scripts"))
    import event_manifest

    return event_manifest.load()


def events_for(function: str) -> list[str]:
    """Actionable sample events routed to `function` whose cluster lives in the bench account."""
    return [e.file for e in manifest()
            if e.actionable and function in e.routes_to and e.account == ACCOUNT]


def first_event_for(function: str) -> str | None:
    if function in FIRST_EVENT and (EVENTS / FIRST_EVENT[function]).exists():
        return FIRST_EVENT[function]
    routed = events_for(function)
    return routed[0] if routed else None


def cluster_of(event_file: str) -> str:
    event = json.loads((EVENTS / event_file).read_text())
    for r in event["detail"]["findings"][0].get("resources", []):
        if r.get("type") == "AWS::EKS::Cluster":
            uid = r.get("uid_alt") or r.get("uid") or ""
            return uid.rsplit("/", 1)[-1] if "/" in uid else uid
    raise SystemExit(f"{event_file}: no AWS::EKS::Cluster resource")


# ---------------------------------------------------------------------------------------------
# moto


def account_session():
    """boto3 session whose requests moto attributes to ACCOUNT, and its credentials."""
    creds = moto_fixtures.credentials_for(ACCOUNT, "eks-exposure-responder-bench", "bench")
    return moto_fixtures.session_from(creds), creds


def cmd_setup(args) -> None:
    state = Path(args.state)
    state.mkdir(parents=True, exist_ok=True)
    session, creds = account_session()
    key_arn = client(session, "kms").create_key(Description="bench secrets key")["KeyMetadata"]["Arn"]
    moto_fixtures.create_clusters(session, ACCOUNT, ["payments-prod"], key_arn)
    topic_arn = client(session, "sns").create_topic(Name=TOPIC)["TopicArn"]
    # Every function runs with its decision ledger, as deployed (a replayed event is then a
    # re-delivery the ledger recognises).
    moto_fixtures.create_ledger_table(session, LEDGER_TABLE)
    env = {
        **creds,
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_ENDPOINT_URL": endpoint(),
        "AWS_EC2_METADATA_DISABLED": "true",
        "SNS_TOPIC_ARN": topic_arn,
        "MODE": "propose",
        "SECRETS_KMS_KEY_ARN": key_arn,
        "LEDGER_TABLE": LEDGER_TABLE,
    }
    (state / "env.json").write_text(json.dumps(env, indent=1))
    print(f"  moto: cluster payments-prod (public endpoint), topic {topic_arn}")


def cmd_add_clusters(args) -> None:
    env = json.loads((Path(args.state) / "env.json").read_text())
    session, _ = account_session()
    names = sorted({cluster_of(e.file) for e in manifest()
                    if e.actionable and e.account == ACCOUNT})
    made = moto_fixtures.create_clusters(session, ACCOUNT, names, env["SECRETS_KMS_KEY_ARN"])
    if made:
        print(f"  moto: clusters {', '.join(c['name'] for c in made)}")


# ---------------------------------------------------------------------------------------------
# The Runtime API


class Run:
    """One process's session with the Runtime API: the events to hand out and what came back."""

    def __init__(self, events: list[bytes], function_arn: str):
        self.pending: queue.Queue = queue.Queue()
        for e in events:
            self.pending.put(e)
        self.function_arn = function_arn
        self.first_next_ns: int | None = None
        self.first_next = threading.Event()
        self.handed: dict[str, int] = {}
        self.done: list[tuple[str, int, int, bytes, str]] = []  # id, handed, answered, body, kind
        self.init_error: bytes | None = None
        self.changed = threading.Condition()

    def close(self) -> None:
        for _ in range(4):
            self.pending.put(None)


class RuntimeApi:
    """A Runtime API endpoint. Each process gets a server of its own (start(run) → a new
    port), so a request still in flight from a killed process can never take the next
    process's event or count as its first request."""

    def __init__(self) -> None:
        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a) -> None:  # quiet
                pass

            def _reply(self, code: int, body: bytes = b"", headers: dict | None = None) -> None:
                self.send_response(code)
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if body:
                    self.wfile.write(body)
                self.wfile.flush()

            def do_GET(self) -> None:
                now = time.perf_counter_ns()
                run = self.server.run
                if run is None or self.path != f"{API}/invocation/next":
                    self._reply(404)
                    return
                if run.first_next_ns is None:
                    run.first_next_ns = now
                    run.first_next.set()
                event = run.pending.get()
                if event is None:
                    self.close_connection = True
                    try:
                        self._reply(410)
                    except OSError:
                        pass
                    return
                rid = str(uuid.uuid4())
                deadline = int(time.time() * 1000) + 900_000
                headers = {
                    "Content-Type": "application/json",
                    "Lambda-Runtime-Aws-Request-Id": rid,
                    "Lambda-Runtime-Deadline-Ms": str(deadline),
                    "Lambda-Runtime-Invoked-Function-Arn": run.function_arn,
                    "Lambda-Runtime-Trace-Id": f"Root=1-{int(time.time()):08x}-{uuid.uuid4().hex[:24]};Sampled=0",
                }
                run.handed[rid] = time.perf_counter_ns()
                try:
                    self._reply(200, event, headers)
                except OSError:
                    pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                    body = self._chunked()
                now = time.perf_counter_ns()
                run = self.server.run
                m = re.fullmatch(rf"{API}/invocation/([^/]+)/(response|error)", self.path)
                if run is not None and m:
                    rid, kind = m.group(1), m.group(2)
                    with run.changed:
                        run.done.append((rid, run.handed.get(rid, now), now, body, kind))
                        run.changed.notify_all()
                    self._reply(202, b'{"status":"OK"}', {"Content-Type": "application/json"})
                elif run is not None and self.path == f"{API}/init/error":
                    with run.changed:
                        run.init_error = body or b"init error"
                        run.changed.notify_all()
                    self._reply(202, b'{"status":"OK"}', {"Content-Type": "application/json"})
                else:
                    self._reply(404)

            def _chunked(self) -> bytes:
                out = b""
                while True:
                    size = int(self.rfile.readline().strip() or b"0", 16)
                    if size == 0:
                        self.rfile.readline()
                        return out
                    out += self.rfile.read(size)
                    self.rfile.readline()

        class Server(ThreadingHTTPServer):
            daemon_threads = True
            run: Run | None = None

            def handle_error(self, request, client_address) -> None:
                pass  # a measured process is killed mid-connection on purpose

        self._server_class = Server
        self._handler = Handler
        self.server = None
        self.address = ""

    def start(self, run: Run) -> None:
        self.server = self._server_class(("127.0.0.1", 0), self._handler)
        self.server.run = run
        self.address = f"127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def stop(self) -> None:
        server, self.server = self.server, None
        if server is None:
            return
        if server.run is not None:
            server.run.close()

        def close() -> None:
            server.shutdown()
            server.server_close()

        threading.Thread(target=close, daemon=True).start()


class Proc:
    """A child process whose peak memory is read with wait4 when it is reaped."""

    def __init__(self, argv: list[str], env: dict, log) -> None:
        self.t0 = time.perf_counter_ns()
        self.p = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        self.status: int | None = None
        self.maxrss_kb: int | None = None

    def poll(self) -> bool:
        """True while running."""
        if self.status is not None:
            return False
        pid, status, ru = os.wait4(self.p.pid, os.WNOHANG)
        if pid == 0:
            return True
        self._reaped(status, ru)
        return False

    def _reaped(self, status: int, ru) -> None:
        self.status = status
        self.maxrss_kb = ru.ru_maxrss
        self.p.returncode = os.waitstatus_to_exitcode(status)

    def status_fields(self) -> dict[str, int]:
        """VmHWM, VmRSS, RssAnon, RssFile (kB) and Threads from /proc/<pid>/status."""
        out = {}
        try:
            for line in Path(f"/proc/{self.p.pid}/status").read_text().splitlines():
                key, _, value = line.partition(":")
                if key in ("VmHWM", "VmRSS", "RssAnon", "RssFile", "RssShmem", "Threads"):
                    out[key] = int(value.split()[0])
        except (OSError, ValueError, IndexError):
            pass
        return out

    def vm_hwm_kb(self) -> int | None:
        return self.status_fields().get("VmHWM")

    def wait(self, timeout: float | None = None) -> bool:
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.poll():
            if deadline is not None and time.monotonic() > deadline:
                return False
            time.sleep(0.002)
        return True

    def kill(self) -> None:
        if self.status is None:
            try:
                os.kill(self.p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            _, status, ru = os.wait4(self.p.pid, 0)
            self._reaped(status, ru)

    def exit_text(self) -> str:
        if self.status is None:
            return "running"
        code = os.waitstatus_to_exitcode(self.status)
        return f"exit {code}" if code >= 0 else f"signal {-code}"


# What a Lambda sandbox sets besides the function's own variables; nothing is inherited from
# the shell (a developer's SSL_CERT_DIR, for example, makes the TLS stack read every file in
# that directory at start-up, which no Lambda sandbox does).
BASE_ENV = {
    "PATH": "/usr/local/bin:/usr/bin:/bin",
    "LANG": "C.UTF-8",
    "TZ": ":UTC",
}


EXTRA_ENV: dict[str, str] = {}  # --env K=V: diagnostic variants (scripts/bench/profile.sh)


def function_env(state: Path, name: str, api: RuntimeApi) -> dict:
    env = dict(BASE_ENV)
    env.update(json.loads((state / "env.json").read_text()))
    env.update(EXTRA_ENV)
    env.update(
        {
            "AWS_LAMBDA_RUNTIME_API": api.address,
            "AWS_LAMBDA_FUNCTION_NAME": name,
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128",
            "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{name}",
            "AWS_LAMBDA_LOG_STREAM_NAME": "2026/01/01/[$LATEST]bench",
            "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
            "AWS_EXECUTION_ENV": "AWS_Lambda_rust",
            "LAMBDA_TASK_ROOT": str(ROOT),
            "LAMBDA_RUNTIME_DIR": str(ROOT),
            "_HANDLER": "bootstrap",
        }
    )
    return env


def function_arn(name: str) -> str:
    return f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}"


def parse_binaries(specs: list[str]) -> list[tuple[str, str]]:
    out = []
    for s in specs:
        name, _, path = s.partition("=")
        out.append((name, path))
    return out


def tail(path: Path, n: int = 5) -> str:
    try:
        return " | ".join(path.read_text(errors="replace").splitlines()[-n:])[-600:]
    except OSError:
        return ""


def summary(xs: list[float]) -> dict:
    if not xs:
        return {"n": 0}
    s = sorted(xs)

    def pct(p: float) -> float:
        # nearest-rank percentile
        k = max(0, min(len(s) - 1, int(-(-p * len(s) // 1)) - 1))
        return s[k]

    return {
        "n": len(s),
        "min": s[0],
        "median": statistics.median(s),
        "p90": pct(0.90),
        "p99": pct(0.99),
        "max": s[-1],
        "mean": statistics.fmean(s),
    }


# ---------------------------------------------------------------------------------------------
# cold start


def cold_once(api: RuntimeApi, state: Path, name: str, path: str, log) -> dict:
    run = Run([], function_arn(name))
    api.start(run)
    proc = Proc([path], function_env(state, name, api), log)
    try:
        while not run.first_next.wait(0.002):
            if not proc.poll():
                return {"error": f"{proc.exit_text()} before asking for work"}
            if time.perf_counter_ns() - proc.t0 > 10e9:
                return {"error": "no request for work within 10 s"}
        hwm = proc.vm_hwm_kb()
        return {"ms": (run.first_next_ns - proc.t0) / 1e6, "hwm_kb": hwm}
    finally:
        proc.kill()
        api.stop()


def cmd_cold(args) -> None:
    state = Path(args.state)
    api = RuntimeApi()
    logs = state / "logs"
    logs.mkdir(exist_ok=True)
    result = {}
    bins = parse_binaries(args.binary)
    samples: dict[str, list[float]] = {n: [] for n, _ in bins}
    errors: dict[str, str] = {}
    hwm: dict[str, int] = {}
    with open(logs / "cold.log", "ab") as log:
        # Round-robin, so drift in machine load spreads over every binary alike.
        for _ in range(args.runs):
            for name, path in bins:
                if name in errors:
                    continue
                r = cold_once(api, state, name, path, log)
                if "error" in r:
                    errors[name] = r["error"] + (f" (log: {tail(logs / 'cold.log', 3)})" if args.verbose else "")
                    continue
                samples[name].append(r["ms"])
                hwm[name] = max(hwm.get(name, 0), r["hwm_kb"] or 0)
    for name, _ in bins:
        result[name] = {"ms": summary(samples[name]), "init_hwm_kb": hwm.get(name)}
        if name in errors:
            result[name]["error"] = errors[name]
    Path(args.out).write_text(json.dumps(result, indent=1))
    for name, r in result.items():
        s = r["ms"]
        if s.get("n"):
            print(f"  cold start {name:<26} median {s['median']:7.2f} ms  p90 {s['p90']:7.2f} ms  (n={s['n']})")
        else:
            print(f"  cold start {name:<26} {r.get('error')}")


# ---------------------------------------------------------------------------------------------
# first event (and Cloud Custodian)


def first_once(api: RuntimeApi, state: Path, name: str, path: str, event: bytes, log, timeout: float) -> dict:
    run = Run([event], function_arn(name))
    api.start(run)
    proc = Proc([path], function_env(state, name, api), log)
    try:
        with run.changed:
            while not run.done and run.init_error is None:
                run.changed.wait(0.005)
                if run.done or run.init_error is not None:
                    break
                if not proc.poll():
                    return {"error": f"{proc.exit_text()} before answering"}
                if time.perf_counter_ns() - proc.t0 > timeout * 1e9:
                    return {"error": f"no answer within {timeout:.0f} s"}
        if run.init_error is not None:
            return {"error": f"init error: {run.init_error[:300].decode(errors='replace')}"}
        rid, handed, answered, body, kind = run.done[0]
        status = proc.status_fields()
        proc.kill()
        out = {
            "ms": (answered - proc.t0) / 1e6,
            "invoke_ms": (answered - handed) / 1e6,
            # VmHWM: the high-water mark of the process's resident set since exec, read after
            # the response (the process does nothing more before it is killed).
            "peak_kb": status.get("VmHWM"),
            "status": status,
            "kind": kind,
        }
        try:
            doc = json.loads(body)
            out["outcome"] = doc.get("outcome") if kind == "response" else doc.get("errorType")
            if kind == "error":
                out["error_message"] = str(doc.get("errorMessage", ""))[:300]
        except (ValueError, AttributeError):
            out["outcome"] = None
        return out
    finally:
        proc.kill()
        api.stop()


def custodian_policy(state: Path) -> Path:
    env = json.loads((state / "env.json").read_text())
    policy = state / "custodian-policy.yml"
    # The equivalent of endpoint-access in propose mode: find the cluster whose API endpoint is
    # public and send the proposal to the same SNS topic; the cluster is not changed.
    policy.write_text(
        f"""policies:
  - name: eks-public-endpoint
    resource: aws.eks
    description: EKS cluster with a public API endpoint (EKS.1); notify, change nothing
    filters:
      - type: value
        key: resourcesVpcConfig.endpointPublicAccess
        value: true
    actions:
      - type: notify
        subject: "[PROPOSED] {{{{ account }}}} {{{{ region }}}}: public API endpoint"
        violation_desc: The EKS cluster API endpoint is publicly accessible
        action_desc: Turn on private access, then turn off public access
        to:
          - bench@example.com
        transport:
          type: sns
          topic: {env['SNS_TOPIC_ARN']}
"""
    )
    return policy


def custodian_once(state: Path, custodian: str, policy: Path, log) -> dict:
    env = dict(BASE_ENV)
    env.update(json.loads((state / "env.json").read_text()))
    env["HOME"] = str(state / "custodian-home")  # no user config, no shared cache
    with tempfile.TemporaryDirectory(dir=state) as out:
        argv = [custodian, "run", "--cache-period", "0", "--region", REGION, "-s", out, str(policy)]
        # Peak memory: /usr/bin/time's %M is the ru_maxrss of a child that `time` (a small
        # process) forked, so it is Custodian's own. This process's ru_maxrss of a child would
        # include the pages of the forked harness before exec.
        peak_file = Path(out) / "peak-kb"
        timed = Path("/usr/bin/time").exists()
        if timed:
            argv = ["/usr/bin/time", "-f", "%M", "-o", str(peak_file)] + argv
        proc = Proc(argv, env, log)
        proc.wait()
        t1 = time.perf_counter_ns()
        peak = None
        if timed:
            try:
                peak = int(peak_file.read_text().split()[-1])
            except (OSError, ValueError, IndexError):
                peak = None
        r = {"ms": (t1 - proc.t0) / 1e6, "peak_kb": peak, "peak_source": "/usr/bin/time %M" if timed else None, "exit": proc.exit_text()}
        res = Path(out) / "eks-public-endpoint" / "resources.json"
        try:
            r["resources"] = [c.get("name") for c in json.loads(res.read_text())]
        except (OSError, ValueError):
            r["resources"] = None
        runlog = Path(out) / "eks-public-endpoint" / "custodian-run.log"
        text = runlog.read_text(errors="replace") if runlog.exists() else ""
        r["notified"] = "sent message" in text
        if proc.exit_text() != "exit 0":
            r["error"] = f"custodian {proc.exit_text()}: {text[-400:]}"
        return r


def cmd_first(args) -> None:
    state = Path(args.state)
    api = RuntimeApi()
    logs = state / "logs"
    logs.mkdir(exist_ok=True)
    bins = parse_binaries(args.binary)
    policy = custodian_policy(state) if args.custodian else None
    result: dict = {"functions": {}, "custodian": None, "pairs": []}
    with open(logs / "first.log", "ab") as log, open(logs / "custodian.log", "ab") as clog:
        for name, path in bins:
            event_file = first_event_for(name)
            entry = {"event": event_file, "runs": []}
            result["functions"][name] = entry
            if not event_file:
                entry["error"] = "no sample event routes to this function"
                continue
            event = (EVENTS / event_file).read_bytes()
            pair = args.custodian and name == args.pair_with
            if pair:
                # One unmeasured pair first: both start with the page cache warm for their files.
                first_once(api, state, name, path, event, log, args.timeout)
                custodian_once(state, args.custodian, policy, clog)
            for i in range(args.runs):
                r = first_once(api, state, name, path, event, log, args.timeout)
                entry["runs"].append(r)
                if "error" in r:
                    entry["error"] = r["error"]
                    break
                if pair:
                    c = custodian_once(state, args.custodian, policy, clog)
                    result.setdefault("custodian_runs", []).append(c)
                    if "error" in c:
                        result["custodian_error"] = c["error"]
                        pair = False
                        continue
                    result["pairs"].append({"rust_ms": r["ms"], "custodian_ms": c["ms"], "ratio": c["ms"] / r["ms"]})
            ok = [r for r in entry["runs"] if "error" not in r]
            entry["ms"] = summary([r["ms"] for r in ok])
            entry["invoke_ms"] = summary([r["invoke_ms"] for r in ok])
            entry["peak_kb"] = max((r["peak_kb"] or 0 for r in ok), default=None)
            last = ok[-1]["status"] if ok else {}
            entry["at_response_kb"] = {k: last.get(k) for k in ("VmRSS", "RssAnon", "RssFile", "Threads")}
            entry["outcomes"] = sorted({str(r.get("outcome")) for r in ok})
            if ok:
                print(
                    f"  first event {name:<25} median {entry['ms']['median']:7.1f} ms  "
                    f"peak RSS {entry['peak_kb'] / 1024:5.1f} MiB  outcome {','.join(entry['outcomes'])}  ({event_file})"
                )
            else:
                print(f"  first event {name:<25} {entry.get('error')}")
    cr = [c for c in result.get("custodian_runs", []) if "error" not in c]
    if cr:
        result["custodian"] = {
            "ms": summary([c["ms"] for c in cr]),
            "peak_kb": max(c["peak_kb"] or 0 for c in cr) or None,
            "peak_source": cr[0].get("peak_source"),
            "resources": cr[0].get("resources"),
        }
        result["ratio"] = summary([p["ratio"] for p in result["pairs"]])
        print(
            f"  first event {'cloud-custodian':<25} median {result['custodian']['ms']['median']:7.1f} ms  "
            f"peak RSS {(result['custodian']['peak_kb'] or 0) / 1024:5.1f} MiB  resources {cr[0].get('resources')}"
        )
        print("  ratio per pair (custodian / rust): " + " ".join(f"{p['ratio']:.0f}x" for p in result["pairs"]))
    elif args.custodian:
        print(f"  cloud-custodian: {result.get('custodian_error', 'no successful run')}")
    Path(args.out).write_text(json.dumps(result, indent=1))


# ---------------------------------------------------------------------------------------------
# warm stream


def cmd_warm(args) -> None:
    state = Path(args.state)
    api = RuntimeApi()
    logs = state / "logs"
    logs.mkdir(exist_ok=True)
    result = {}
    with open(logs / "warm.log", "ab") as log:
        for name, path in parse_binaries(args.binary):
            files = events_for(name) or ([first_event_for(name)] if first_event_for(name) else [])
            if not files:
                result[name] = {"error": "no sample event routes to this function"}
                continue
            payloads = [(EVENTS / f).read_bytes() for f in files]
            # One warm-up event (the first call opens the connections), then the measured stream.
            stream = [payloads[0]] + [payloads[i % len(payloads)] for i in range(args.events)]
            run = Run(stream, function_arn(name))
            api.start(run)
            proc = Proc([path], function_env(state, name, api), log)
            error = None
            try:
                with run.changed:
                    while len(run.done) < len(stream):
                        run.changed.wait(0.01)
                        if len(run.done) >= len(stream):
                            break
                        if run.init_error is not None:
                            error = "init error"
                            break
                        if not proc.poll():
                            error = f"{proc.exit_text()} after {len(run.done)} events"
                            break
                        if time.perf_counter_ns() - proc.t0 > args.timeout * 1e9:
                            error = f"only {len(run.done)} of {len(stream)} events within {args.timeout:.0f} s"
                            break
                hwm = proc.vm_hwm_kb()
            finally:
                proc.kill()
                api.stop()
            measured = run.done[1:]
            lat = [(answered - handed) / 1e6 for _, handed, answered, _, _ in measured]
            kinds = {}
            for _, _, _, body, kind in measured:
                try:
                    doc = json.loads(body)
                    key = doc.get("outcome") if kind == "response" else f"error:{doc.get('errorType')}"
                except ValueError:
                    key = kind
                kinds[str(key)] = kinds.get(str(key), 0) + 1
            entry = {"events": len(measured), "files": files, "latency_ms": summary(lat), "outcomes": kinds, "hwm_kb": hwm}
            if measured:
                span = (measured[-1][2] - measured[0][1]) / 1e9
                entry["events_per_s"] = len(measured) / span if span > 0 else None
            if error:
                entry["error"] = error
            result[name] = entry
            if lat:
                print(
                    f"  warm {name:<26} {entry['events_per_s']:7.1f} events/s  p50 {entry['latency_ms']['median']:6.2f} ms"
                    f"  p99 {entry['latency_ms']['p99']:6.2f} ms  (n={len(lat)}, outcomes {kinds})"
                )
            else:
                print(f"  warm {name:<26} {error}")
    Path(args.out).write_text(json.dumps(result, indent=1))


# ---------------------------------------------------------------------------------------------


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("setup")
    s.add_argument("state")
    s.set_defaults(fn=cmd_setup)
    s = sub.add_parser("add-clusters")
    s.add_argument("state")
    s.set_defaults(fn=cmd_add_clusters)
    for name, fn in (("cold", cmd_cold), ("first", cmd_first), ("warm", cmd_warm)):
        s = sub.add_parser(name)
        s.add_argument("state")
        s.add_argument("out")
        s.add_argument("--binary", action="append", default=[], help="NAME=PATH")
        s.add_argument("--runs", type=int, default=10)
        s.add_argument("--events", type=int, default=200)
        s.add_argument("--timeout", type=float, default=60.0)
        s.add_argument("--custodian", help="path of the custodian executable (first)")
        s.add_argument("--pair-with", default="endpoint-access", help="function compared with Custodian")
        s.add_argument("--verbose", action="store_true")
        s.add_argument("--env", action="append", default=[], help="K=V added to the functions' environment")
        s.set_defaults(fn=fn)
    args = ap.parse_args()
    for kv in getattr(args, "env", []):
        k, _, v = kv.partition("=")
        EXTRA_ENV[k] = v
    args.fn(args)


if __name__ == "__main__":
    sys.exit(main())
