#!/usr/bin/env bash
# make bench: cold start, first event beside Cloud Custodian, warm events, each function's
# respond with mocked AWS, peak memory and package size — measured in one run and printed as one table
# (BENCHMARKS.md explains every number).
#
#   scripts/bench.sh            the full benchmark (make bench)
#   scripts/bench.sh --smoke    a tiny run for make test: debug binaries, 2 runs each, 5 warm
#                               events, criterion in test mode (each benchmark once), no
#                               Custodian, no arm64 build. Fails when something cannot be measured.
#
# Knobs (full run): BENCH_COLD_RUNS (50), BENCH_PAIRS (10: first-event runs, each paired with a
# Custodian run), BENCH_WARM_EVENTS (200), BENCH_SIZES (1: arm64 build + zip; 0 skips),
# BENCH_PROFILE (1: profile what misses a target; 0 skips).
#
# Everything it writes lands in .bench/ (results.md: the table). Functions are every crate in
# functions/*/ with a src/main.rs but the scheduled digest; the empty baseline is
# scripts/bench/empty-function.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
# shellcheck source=scripts/lib.sh
. "$root/scripts/lib.sh"

smoke=0
case "${1:-}" in
  --smoke) smoke=1 ;;
  "") ;;
  *)
    echo "usage: $0 [--smoke]" >&2
    exit 2
    ;;
esac

if [ "$smoke" = 1 ]; then
  state="$root/.bench/smoke"
  cold_runs=2 pairs=2 warm_events=5 sizes=0 profile=0
else
  state="$root/.bench/run"
  cold_runs=${BENCH_COLD_RUNS:-50}
  pairs=${BENCH_PAIRS:-10}
  warm_events=${BENCH_WARM_EVENTS:-200}
  sizes=${BENCH_SIZES:-1}
  profile=${BENCH_PROFILE:-1}
fi
pair_with=endpoint-access
started=$SECONDS
step() { printf '\n== %s (%ss)\n' "$*" "$((SECONDS - started))"; }

# --- tools -----------------------------------------------------------------------------------
"$root/scripts/venv.sh"
py="$root/.venv/bin/python"
custodian=""
if [ "$smoke" = 0 ]; then
  VENV_DIR=.venv-bench "$root/scripts/venv.sh" requirements-bench.txt
  custodian="$root/.venv-bench/bin/custodian"
fi

# apt_tool CMD PACKAGE: install PACKAGE with apt-get when CMD is missing (idempotent).
apt_tool() {
  command -v "$1" >/dev/null 2>&1 && return 0
  if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    echo "bench: installing $2 for $1"
    { apt-get install -y -qq "$2" || { apt-get update -qq && apt-get install -y -qq "$2"; }; } >/dev/null 2>&1 || true
  fi
  command -v "$1" >/dev/null 2>&1
}

# Custodian's peak memory is read with /usr/bin/time (Debian/Ubuntu package `time`).
if [ "$smoke" = 0 ] && [ ! -x /usr/bin/time ]; then
  apt_tool /usr/bin/time time || echo "bench: /usr/bin/time is missing; Custodian's peak memory is not measured"
fi

# --- the functions ---------------------------------------------------------------------------
functions=()
for manifest in functions/*/Cargo.toml; do
  dir=$(dirname "$manifest")
  [ -f "$dir/src/main.rs" ] || continue
  # The digest answers a schedule, not a finding: no sample event is its work.
  [ "$dir" = functions/digest ] && continue
  name=$(sed -n 's/^name *= *"\([^"]*\)".*/\1/p' "$manifest" | head -n 1)
  [ -n "$name" ] && functions+=("$name")
done
if [ "${#functions[@]}" -eq 0 ]; then
  echo "bench: no function crates under functions/" >&2
  exit 1
fi
pkgs=()
for f in "${functions[@]}"; do pkgs+=(-p "$f"); done

rm -rf "$state"
mkdir -p "$state"
export CARGO_TERM_COLOR=never
# The bench profile inherits release; keeping the symbol table (no other change to the code)
# lets perf and callgrind name functions when a target is missed.
export CARGO_PROFILE_BENCH_STRIP=none

# --- builds (all before any measurement, so no compiler competes with the timings) -----------
empty_dir="$root/scripts/bench/empty-function"
empty_target="$root/target/bench-empty"
if [ "$smoke" = 1 ]; then
  step "Building debug binaries: ${functions[*]} and the empty function"
  cargo build --bins "${pkgs[@]}"
  (cd "$empty_dir" && CARGO_TARGET_DIR="$empty_target" cargo build --locked)
  bindir="$root/target/debug"
  empty_bin="$empty_target/debug/bench-empty"
  step "Building the respond benchmark (test profile)"
  cargo test --no-run -p integration-tests --bench respond
else
  step "Building host release binaries (x86_64): ${functions[*]} and the empty function"
  cargo build --release "${pkgs[@]}"
  (cd "$empty_dir" && CARGO_TARGET_DIR="$empty_target" cargo build --release --locked)
  bindir="$root/target/release"
  empty_bin="$empty_target/release/bench-empty"
  step "Building the respond benchmark (bench profile = release)"
  cargo bench --no-run -p integration-tests --bench respond
  if [ "$sizes" = 1 ]; then
    step "Building arm64 bootstraps with cargo lambda build --release --arm64"
    size_args=()
    for f in "${functions[@]}"; do
      if PATH="$root/.venv/bin:$PATH" cargo lambda build --release --arm64 -p "$f" >"$state/lambda-build-$f.log" 2>&1; then
        size_args+=("$f=$root/target/lambda/$f/bootstrap")
      else
        echo "  $f: cargo lambda build failed (log: $state/lambda-build-$f.log)"
        tail -n 5 "$state/lambda-build-$f.log" | sed 's/^/    /'
        size_args+=("$f=$state/not-built/$f")
      fi
    done
    (cd "$empty_dir" && CARGO_TARGET_DIR="$empty_target" PATH="$root/.venv/bin:$PATH" \
      cargo lambda build --release --arm64 --locked >"$state/lambda-build-empty.log" 2>&1) &&
      size_args+=("bench-empty=$empty_target/lambda/bench-empty/bootstrap")
    "$py" scripts/bench/report.py sizes "$state" "${size_args[@]}"
  fi
fi

# --- machine ---------------------------------------------------------------------------------
# On a shared machine other jobs (compilers) compete for the cores: measure at a higher
# priority where allowed (root), so the numbers are the code's and not the neighbours'.
if [ "$smoke" = 0 ] && [ "$(id -u)" = 0 ]; then
  renice -n -10 -p $$ >/dev/null 2>&1 || true
fi
"$py" - "$state/machine.json" "$pair_with" "${functions[@]}" <<'EOF'
import json, os, platform, subprocess, sys, time
out, pair_with, functions = sys.argv[1], sys.argv[2], sys.argv[3:]
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
mem = next((int(l.split()[1]) for l in open("/proc/meminfo") if l.startswith("MemTotal")), 0)
json.dump({
    "date": time.strftime("%Y-%m-%d %H:%M %Z"),
    "nproc": os.cpu_count(),
    "cpu": cpu,
    "memory": f"{mem / 1024 / 1024:.1f} GiB",
    "kernel": f"Linux {platform.release()}",
    "rustc": subprocess.run(["rustc", "--version"], capture_output=True, text=True).stdout.strip(),
    "load_start": " ".join(open("/proc/loadavg").read().split()[:3]),
    "functions": functions,
    "pair_with": pair_with,
    "nice": os.nice(0),
}, open(out, "w"), indent=1)
EOF

# --- moto ------------------------------------------------------------------------------------
export MOTO_DIR="$state/moto"
cleanup() { "$root/scripts/moto.sh" stop; }
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
step "Starting moto_server on loopback"
AWS_ENDPOINT_URL=$("$root/scripts/moto.sh" start)
export AWS_ENDPOINT_URL AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing
export AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true
unset AWS_SESSION_TOKEN AWS_PROFILE AWS_DEFAULT_PROFILE MOTO_ACCOUNT_ID
echo "  $AWS_ENDPOINT_URL"
"$py" scripts/bench/harness.py setup "$state"

bins=(--binary "bench-empty=$empty_bin")
for f in "${functions[@]}"; do bins+=(--binary "$f=$bindir/$f"); done
fn_bins=("${bins[@]:2}")

# --- 1. cold start ---------------------------------------------------------------------------
step "1. Cold start: process start -> first GET .../invocation/next ($cold_runs runs each, round-robin)"
"$py" scripts/bench/harness.py cold "$state" "$state/cold.json" --runs "$cold_runs" "${bins[@]}"
# The same for one function with the TLS root store varied. The functions use the SDK's default
# HTTPS client, which reads the platform's bundle file and every file of its certificate
# directory (rustls-native-certs via openssl-probe): on Debian, 147 more files. Lambda's
# Amazon Linux 2023 has one bundle file and no such directory: "bundle" emulates it with
# SSL_CERT_FILE; "no-roots" is the floor of everything else.
# (Full run only: in a debug build the SDK debug-asserts that some root parsed.)
bundle=""
for candidate in /etc/ssl/certs/ca-certificates.crt /etc/pki/tls/certs/ca-bundle.crt; do
  [ -f "$candidate" ] && { bundle=$candidate; break; }
done
mkdir -p "$state/no-certs"
: >"$state/no-certs.pem"
if [ "$smoke" = 0 ] && [ -n "$bundle" ]; then
  "$py" scripts/bench/harness.py cold "$state" "$state/cold-bundle.json" --runs "$cold_runs" \
    --binary "bench-empty=$empty_bin" --binary "$pair_with=$bindir/$pair_with" \
    --env "SSL_CERT_FILE=$bundle" | sed 's/cold start/one-bundle platform (SSL_CERT_FILE):/'
fi
if [ "$smoke" = 0 ]; then
  "$py" scripts/bench/harness.py cold "$state" "$state/cold-noroots.json" --runs "$cold_runs" \
    --binary "bench-empty=$empty_bin" --binary "$pair_with=$bindir/$pair_with" \
    --env "SSL_CERT_FILE=$state/no-certs.pem" --env "SSL_CERT_DIR=$state/no-certs" | sed 's/cold start/no root store:/'
fi

# --- 2 + 4. first event and peak memory, beside Cloud Custodian ------------------------------
# moto holds only payments-prod here, so Custodian lists and describes exactly the cluster
# the Rust function is asked about.
step "2. First event: process start -> response, propose mode, against moto ($pairs runs)"
pair_args=()
if [ -n "$custodian" ]; then
  pair_args=(--custodian "$custodian")
  echo "  interleaved with Cloud Custodian (c7n $("$root/.venv-bench/bin/python" -c 'import c7n.version; print(c7n.version.version)'))"
fi
"$py" scripts/bench/harness.py first "$state" "$state/first-pair.json" --runs "$pairs" \
  --pair-with "$pair_with" "${pair_args[@]}" --binary "$pair_with=$bindir/$pair_with"
"$py" scripts/bench/harness.py add-clusters "$state"
rest=(--binary "bench-empty=$empty_bin")
for f in "${functions[@]}"; do
  [ "$f" = "$pair_with" ] || rest+=(--binary "$f=$bindir/$f")
done
"$py" scripts/bench/harness.py first "$state" "$state/first-rest.json" --runs "$pairs" "${rest[@]}"

# --- 3a. warm stream -------------------------------------------------------------------------
step "3. Warm events: one process, $warm_events events (after one warm-up event)"
"$py" scripts/bench/harness.py warm "$state" "$state/warm.json" --events "$warm_events" "${fn_bins[@]}"
"$root/scripts/moto.sh" stop

# --- 3b. respond with mocked AWS ------------------------------------------------------------
if [ "$smoke" = 1 ]; then
  step "3. Each function's respond, AWS mocked (criterion, test mode: each benchmark once)"
  cargo test -q -p integration-tests --bench respond 2>&1 | grep -E "^(Testing|Success)|error" | tr '\n' ' '
  echo
else
  step "3. Each function's respond, AWS mocked (criterion, one core)"
  rm -rf "$root/target/criterion/respond"
  cargo bench -q -p integration-tests --bench respond >"$state/criterion.log" 2>&1 ||
    { tail -n 20 "$state/criterion.log"; exit 1; }
  echo "  $(grep -c 'time:' "$state/criterion.log") benchmarks; output in $state/criterion.log"
fi

# --- the table -------------------------------------------------------------------------------
"$py" - "$state/machine.json" <<'EOF'
import json, sys
p = sys.argv[1]
m = json.load(open(p))
m["load_end"] = " ".join(open("/proc/loadavg").read().split()[:3])
json.dump(m, open(p, "w"), indent=1)
EOF
step "Results"
status=0
"$py" scripts/bench/report.py table "$state" $([ "$smoke" = 1 ] && echo --smoke) || status=$?

# --- profile what missed a target ------------------------------------------------------------
if [ "$profile" = 1 ] && [ -f "$state/results.json" ]; then
  "$py" - "$state/results.json" >"$state/missed.txt" <<'EOF'
import json, sys
for m in json.load(open(sys.argv[1]))["missed"]:
    print(m["target"], m.get("function", "-"))
EOF
  if [ -s "$state/missed.txt" ]; then
    step "Profiling the missed targets"
    bash scripts/bench/profile.sh "$state" "$bindir" "$empty_bin" <"$state/missed.txt" | tee "$state/profile.txt"
    { printf '\nWhat dominates the missed targets (scripts/bench/profile.sh):\n\n```\n'; cat "$state/profile.txt"; printf '```\n'; } >>"$state/results.md"
  fi
fi

echo
echo "bench: done in $((SECONDS - started)) s; table in $state/results.md"
exit "$status"
