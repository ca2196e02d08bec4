#!/usr/bin/env bash
# make demo: the responder end to end, with no AWS account.
#
# Starts moto_server on loopback with the AWS stand-in in front of it (scripts/aws_standin.py:
# the EKS and Security Hub calls moto lacks), creates EKS clusters matching events/*.json,
# an SNS topic and an SQS subscriber, then runs each function under `cargo lambda watch`
# (the Lambda runtime emulator) with sample events, printing after each run the function's
# report, the cluster as EKS now describes it, every SNS message as an operator receives
# it, and the finding's record in Security Hub. Everything it writes lands in .demo/.
#
# Knobs: DEMO_INVOKE_TIMEOUT (s, default 120) bounds one invocation; STANDIN_UPDATE_SECONDS
# (default 5) is how long an EKS update the stand-in runs keeps the cluster UPDATING.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
# shellcheck source=scripts/lib.sh
. "$root/scripts/lib.sh"

invoke_timeout=${DEMO_INVOKE_TIMEOUT:-120}
state="$root/.demo"
export MOTO_DIR="$state/moto"
export STANDIN_UPDATE_SECONDS=${STANDIN_UPDATE_SECONDS:-5}

section() { printf '\n\033[1m══ %s\033[0m\n' "$*"; }
[ -t 1 ] || section() { printf '\n══ %s\n' "$*"; }

# A previous run that was killed hard may have left its server behind.
"$root/scripts/moto.sh" stop
rm -rf "$state"
mkdir -p "$state"

"$root/scripts/venv.sh"
export PATH="$root/.venv/bin:$PATH"
demo_aws() { "$root/.venv/bin/python" "$root/scripts/demo_aws.py" "$@"; }

watch_pid="" watch_mode="" watch_port="" watch_log=""
stop_watch() {
  if [ -n "$watch_pid" ]; then
    stop_pid "$watch_pid"
    wait "$watch_pid" 2>/dev/null || true
  fi
  watch_pid="" watch_mode="" watch_port=""
}
watch_env=""
cleanup() {
  stop_watch
  "$root/scripts/moto.sh" stop
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# The environment a function reads is fixed when its process starts, and a warm
# instance keeps running between invocations: a new MODE (or other variable) needs a new
# watch server. start_watch MODE [NAME=VALUE ...]
start_watch() {
  local mode=$1 assignment extra=()
  shift
  stop_watch
  for assignment in "$@"; do
    extra+=(--env-var "$assignment")
  done
  watch_port=$(free_port)
  watch_log="$state/watch-$mode.log"
  # setsid: one process group for cargo-lambda, `cargo run` and the function, so
  # stop_watch ends them all. --ignore-changes: edits made elsewhere during the demo
  # must not rebuild the function mid-run. Precedence: --env-var > --env-file >
  # this process's environment. No --timeout: it also ends a function's idle wait for
  # the next event, and lambda_runtime then panics ("missing lambda-runtime-aws-request-id
  # header"); the invoke below is bounded on the client side instead.
  setsid cargo lambda watch --ignore-changes \
    --invoke-address 127.0.0.1 --invoke-port "$watch_port" \
    --env-file "$state/function.env" --env-var "MODE=$mode" "${extra[@]}" \
    >>"$watch_log" 2>&1 </dev/null &
  watch_pid=$!
  if ! wait_port "$watch_port" "$watch_pid" 30; then
    echo "demo: cargo lambda watch did not start; its log ($watch_log):" >&2
    tail -n 30 "$watch_log" >&2
    exit 1
  fi
  watch_mode=$mode
  watch_env="$*"
}

step=0
failed=()
unresponsive=" "

# run_step "<title>" <function> <event file> <MODE> [<expected outcome> [NAME=VALUE ...]]
# The NAME=VALUE pairs are extra function environment for this step (e.g. another key).
run_step() {
  local title=$1 fn=$2 event=$3 mode=$4 expected=${5:-}
  shift $(($# < 5 ? $# : 5))
  step=$((step + 1))
  section "Step $step: $title"
  echo "  function=$fn  MODE=$mode  event=${event#"$root"/}${expected:+  expect=$expected}"
  if [ "$#" -gt 0 ]; then
    echo "  environment: $*"
  fi
  if [ ! -f "$event" ]; then
    echo "  ✗ skipped: $event does not exist"
    failed+=("step $step ($fn): $event missing")
    return 0
  fi
  case "$unresponsive" in
    *" $fn "*)
      echo "  ✗ skipped: $fn did not answer in an earlier step"
      failed+=("step $step ($fn): skipped")
      return 0
      ;;
  esac
  if [ "$watch_mode" != "$mode" ] || [ "$watch_env" != "$*" ]; then
    start_watch "$mode" "$@"
  fi
  # Security Hub holds the finding the event carries (once: its record carries over).
  demo_aws load-finding "$event" || failed+=("step $step: the stand-in did not take the finding")
  invoke_and_show "$fn" "$event" "$expected" "$event"
}

# Invoke `fn` with the JSON in `data`, then show its report, log, the cluster of `event`, the
# messages sent and the finding record.
invoke_and_show() {
  local fn=$1 data=$2 expected=$3 event=$4
  local out="$state/step-$step-$fn.json" log_start
  log_start=$(($(wc -c <"$watch_log") + 1))
  if timeout "$invoke_timeout" cargo lambda invoke "$fn" \
    --invoke-address 127.0.0.1 --invoke-port "$watch_port" --data-file "$data" \
    >"$out" 2>"$out.err"; then
    echo "  Report (the function's response, $out):"
    demo_aws report "$out" "$expected" || failed+=("step $step ($fn): outcome is not '$expected'")
  else
    echo "  ✗ the invocation failed:"
    if [ -s "$out.err" ]; then
      sed 's/^/    /' "$out.err"
    else
      echo "    no answer within ${invoke_timeout}s (DEMO_INVOKE_TIMEOUT): a function that exits"
      echo "    at once or never reads its next event looks like this; see $watch_log"
    fi
    failed+=("step $step ($fn): invocation failed")
    unresponsive+="$fn "
  fi
  # The function's own log lines (tracing JSON) from this invocation.
  local logs
  logs=$(tail -c "+$log_start" "$watch_log" | grep '^{' | cut -c1-300 | tail -n 8 || true)
  if [ -n "$logs" ]; then
    echo "  Function log ($watch_log):"
    printf '%s\n' "$logs" | sed 's/^/    /'
  fi

  echo "  Cluster now (DescribeCluster):"
  demo_aws show-cluster "$state" "$event" | sed 's/^/    /' || failed+=("step $step: DescribeCluster failed")
  echo "  What the topic's subscribers received:"
  demo_aws drain "$state" "$out" || failed+=("step $step: reading the SQS subscriber failed, or a skipped decision sent a message")
  echo "  The finding's record in Security Hub (status and comment, as the stand-in holds them):"
  demo_aws finding-record "$event" | sed 's/^/    /' || failed+=("step $step: reading the finding record failed")
}

# after_update <event file>: the cluster once EKS has finished the update the step started.
# An approval: the function URL request that the proposal's command sends, delivered to the
# same function. Run after the step that proposed it (its report is the proposal).
approve_step() {
  local title=$1 fn=$2 event=$3 proposal=$4 approver=$5 expected=$6
  step=$((step + 1))
  section "Step $step: $title"
  echo "  function=$fn  MODE=approve  approver=$approver  expect=$expected"
  local request="$state/step-$step-approval-request.json"
  if ! demo_aws approval-request "$proposal" "$approver" "$request"; then
    failed+=("step $step ($fn): the proposal carried no approval")
    return 0
  fi
  echo "  Here nothing checks the SigV4 signature or the approver's IAM policy: in AWS the"
  echo "  function URL (AuthType AWS_IAM) does, before the function runs, and hands it the"
  echo "  caller's ARN. The demo delivers what Lambda would hand over: ${request#"$root"/}"
  invoke_and_show "$fn" "$request" "$expected" "$event"
}

# The proposal's request through cargo lambda watch's function URL emulation: it checks no
# signature and names no caller, as a direct invoke with a hand-made payload would not either.
unsigned_step() {
  local title=$1 fn=$2 proposal=$3
  step=$((step + 1))
  section "Step $step: $title"
  local url="http://127.0.0.1:$watch_port/lambda-url/$fn/"
  echo "  POST $url (the emulator's function URL: no SigV4, no IAM caller)"
  demo_aws url-post "$url" "$proposal" "$state/step-$step-$fn.json" ||
    failed+=("step $step ($fn): a request without an IAM caller was not refused")
}

after_update() {
  echo "  The cluster once EKS has finished the update (${STANDIN_UPDATE_SECONDS}s UPDATING here):"
  demo_aws wait-cluster "$state" "$1" | sed 's/^/    /' || failed+=("step $step: the update did not finish")
}

section "Starting moto_server and the AWS stand-in in front of it, on loopback"
moto_url=$("$root/scripts/moto.sh" start)
standin_url=$("$root/scripts/moto.sh" standin-url)
# The harness's own calls (EKS and Security Hub through the stand-in, like the functions'),
# and the functions' environment, .demo/function.env, written from these.
export AWS_ENDPOINT_URL="$moto_url"
export AWS_ENDPOINT_URL_EKS="$standin_url" AWS_ENDPOINT_URL_SECURITYHUB="$standin_url"
export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing
export AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true
unset AWS_SESSION_TOKEN AWS_PROFILE AWS_DEFAULT_PROFILE MOTO_ACCOUNT_ID
echo "  moto_server  $moto_url  (every AWS service)"
echo "  stand-in     $standin_url  (EKS and Security Hub calls moto lacks; the rest goes to moto)"

section "Creating the demo's AWS resources"
demo_aws setup "$state" | sed 's/^/  /'
# Second exposures of the same kinds, about the clusters the one-way doors are refused on.
blocked_event="$state/events/eks-unsupported-kubernetes-version-reports-legacy.json"
demo_aws variant events/eks-unsupported-kubernetes-version.json reports-legacy "$blocked_event"
unusable_event="$state/events/eks-unencrypted-secrets-inventory-staging.json"
demo_aws variant events/eks-unencrypted-secrets.json inventory-staging "$unusable_event"
disabled_key=$("$root/.venv/bin/python" -c 'import json, sys; print(json.load(open(sys.argv[1]))["disabled_kms_key_arn"])' "$state/state.json")

section "Building the functions (cargo build --bins: the binaries cargo lambda watch runs)"
cargo build --bins

# One line per step: run_step "<title>" <function> <event file> <MODE> [<expected outcome>]
run_step "payments-prod has a public API endpoint: propose" \
  endpoint-access events/eks-public-access.json propose proposed
run_step "the same event delivered again: the ledger already holds this decision, nothing is sent" \
  endpoint-access events/eks-public-access.json propose skipped
run_step "apply, first run: private access on, public kept (stage 1 of 2)" \
  endpoint-access events/eks-public-access.json apply applied
run_step "apply, second run: private access confirmed, public access off (stage 2 of 2)" \
  endpoint-access events/eks-public-access.json apply applied
run_step "apply again: nothing left to do" \
  endpoint-access events/eks-public-access.json apply already_compliant
run_step "a stale finding: ledger-internal is already private" \
  endpoint-access events/eks-public-access-stale.json propose already_compliant
run_step "batch-legacy runs an unsupported Kubernetes version: propose" \
  kubernetes-version events/eks-unsupported-kubernetes-version.json propose proposed
run_step "apply: batch-legacy's upgrade insights for 1.25 all pass: one minor version, 1.24 -> 1.25" \
  kubernetes-version events/eks-unsupported-kubernetes-version.json apply applied
after_update events/eks-unsupported-kubernetes-version.json
run_step "apply: reports-legacy has an ERROR upgrade insight for 1.25: the upgrade is refused" \
  kubernetes-version "$blocked_event" apply proposed
run_step "orders-staging secrets have no customer KMS key: propose" \
  secrets-encryption events/eks-unencrypted-secrets.json propose proposed
run_step "apply: inventory-staging, with a disabled KMS key configured: the pre-flight refuses" \
  secrets-encryption "$unusable_event" apply proposed "SECRETS_KMS_KEY_ARN=$disabled_key"
run_step "apply: orders-staging, with the enabled KMS key: pre-flight passed, secrets encrypted (one-way)" \
  secrets-encryption events/eks-unencrypted-secrets.json apply applied
after_update events/eks-unencrypted-secrets.json
run_step "payments-prod runs images with exploitable CVEs: propose" \
  container-vulnerabilities events/eks-high-priority-vulnerability.json propose proposed

# Plan-bound approvals: analytics-dev's public endpoint proposed in approve mode, with an
# approval; an approver sends it back; the same approval again is refused.
approval_event="$state/events/eks-public-access-analytics-dev.json"
demo_aws variant events/eks-public-access.json analytics-dev "$approval_event"
run_step "approve mode: analytics-dev has a public API endpoint: proposed, with an approval" \
  endpoint-access "$approval_event" approve proposed
proposal="$state/step-$step-endpoint-access.json"
unsigned_step "the approval sent to the function URL without an IAM caller: refused" \
  endpoint-access "$proposal"
approve_step "an approver approves exactly that plan: decided again, applied once, approver named" \
  endpoint-access "$approval_event" "$proposal" \
  "arn:aws:sts::444455556666:assumed-role/PlatformApprover/alice" applied
approve_step "the same approval again: refused (already_used), nothing changes" \
  endpoint-access "$approval_event" "$proposal" \
  "arn:aws:sts::444455556666:assumed-role/PlatformApprover/bob" already_compliant

# One exposure finding carrying four traits, so four functions act on it. Each records its
# decision in the ledger and rewrites the finding's comment from all of them: no function
# erases another's, and the finding stays New until every trait's function has decided.
multi=events/eks-multi-trait.json
run_step "platform-shared, four traits on one finding (1/4): public endpoint" \
  endpoint-access "$multi" propose proposed
run_step "platform-shared (2/4): unsupported Kubernetes version" \
  kubernetes-version "$multi" propose proposed
run_step "platform-shared (3/4): secrets without a KMS key" \
  secrets-encryption "$multi" propose proposed
run_step "platform-shared (4/4): exploitable CVEs; now every trait has a decision" \
  container-vulnerabilities "$multi" propose proposed

# The digest: one message for the period's decisions, read from the ledger's by-day index (what
# the e-mail subscription receives instead of the proposals above). The schedule passes its
# time; here it is the next minute, so the default hour covers every decision of this run.
step=$((step + 1))
section "Step $step: the hourly digest summarises this run's decisions in one message"
if [ "$watch_mode" != propose ] || [ -n "$watch_env" ]; then
  start_watch propose
fi
scheduled=$("$root/.venv/bin/python" -c 'import datetime as d; t = d.datetime.now(d.timezone.utc) + d.timedelta(minutes=1); print(t.strftime("%Y-%m-%dT%H:%M:00Z"))')
echo "  function=decision-digest  event={\"scheduled_time\": \"$scheduled\"} (EventBridge Scheduler's input)"
digest_out="$state/step-$step-decision-digest.json"
if timeout "$invoke_timeout" cargo lambda invoke decision-digest \
  --invoke-address 127.0.0.1 --invoke-port "$watch_port" \
  --data-ascii "{\"scheduled_time\": \"$scheduled\"}" >"$digest_out" 2>"$digest_out.err"; then
  demo_aws report "$digest_out" || true
  if "$root/.venv/bin/python" -c 'import json, sys; r = json.load(open(sys.argv[1])); sys.exit(0 if r["decisions"] > 0 and r["message_id"] and not r["not_read"] else 1)' "$digest_out"; then
    echo "  ✓ one digest of every decision in the period, nothing unread"
  else
    failed+=("step $step (decision-digest): no digest of the run's decisions")
  fi
  echo "  What the topic's subscribers received:"
  demo_aws drain "$state" "$digest_out" || failed+=("step $step: reading the SQS subscriber failed")
else
  echo "  ✗ the invocation failed:"
  sed 's/^/    /' "$digest_out.err"
  failed+=("step $step (decision-digest): invocation failed")
fi

section "Done"
echo "  Reports, SNS envelopes and function logs of this run: .demo/"
echo "  Next, in README.md: 'Configuration' (MODE and the other settings), 'Report schema'"
echo "  (the JSON printed above), and 'Deploy' (make build, then make deploy)."
if [ "${#failed[@]}" -gt 0 ]; then
  echo
  echo "  ${#failed[@]} of $step steps did not go as expected:"
  printf '    - %s\n' "${failed[@]}"
  exit 1
fi
echo "  All $step steps went as expected."
