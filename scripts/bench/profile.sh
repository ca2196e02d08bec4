#!/usr/bin/env bash
# What dominates a missed target (called by scripts/bench.sh with the missed targets on stdin,
# one "<target> <function>" per line; prints a report, installs what it needs with apt-get).
#
#   decision   valgrind --tool=callgrind over a function's multi-trait decision (criterion's
#              --profile-time mode of the bench binary, which keeps its symbols): the inclusive
#              share of each stage of decision::decide.
#   cold       the table's diagnostic rows vary the TLS root store (bundle only, none); here
#              strace counts the files the function and the empty function open before their
#              first request for work.
#   first / memory / size / linear
#              the table already carries the evidence (per-pair ratios, VmHWM split, sizes);
#              this script names the measurement to look at.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root"
state=$1
bindir=$2
empty_bin=$3

apt_tool() {
  command -v "$1" >/dev/null 2>&1 && return 0
  if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    echo "profile: installing $2 (for $1)"
    { apt-get install -y -qq "$2" || { apt-get update -qq && apt-get install -y -qq "$2"; }; } >/dev/null 2>&1 || true
  fi
  command -v "$1" >/dev/null 2>&1
}

done_targets=" "
while read -r target function; do
  case "$done_targets" in *" $target:$function "*) continue ;; esac
  done_targets+="$target:$function "
  case "$target" in
    decision)
      echo "-- decision path of $function: what dominates (callgrind, instructions, inclusive, share of decision::decide)"
      bench_bin=$(cat "$state/decision-bin" 2>/dev/null || true)
      if [ -z "$bench_bin" ] || [ ! -x "$bench_bin" ]; then
        echo "   the bench binary is unknown; run the full bench first"
        continue
      fi
      if ! apt_tool valgrind valgrind; then
        echo "   valgrind is not available"
        continue
      fi
      (CRITERION_HOME="$state/criterion-profile" valgrind --tool=callgrind --callgrind-out-file="$state/callgrind.out" \
        "$bench_bin" --bench --profile-time 2 "decision/multi-trait/$function\$" >"$state/callgrind.log" 2>&1) || {
        echo "   callgrind failed: $(tail -n 3 "$state/callgrind.log")"
        continue
      }
      callgrind_annotate --inclusive=yes "$state/callgrind.out" 2>/dev/null | "$root/.venv/bin/python" -c '
import re, sys
rows = {}
for line in sys.stdin:
    m = re.match(r"\s*([\d,]+) \([\d.]+%\)\s+\S*?:(.+?) \[", line)
    if m:
        name = m.group(2).strip()
        rows.setdefault(name, int(m.group(1).replace(",", "")))
total = rows.get("decision::decide")
if not total:
    sys.exit("   decision::decide not found in the profile")
parts = [
    ("request body -> runtime payload (RawValue)", "decision::runtime_payload"),
    ("payload -> typed event", "<alloc::boxed::Box<serde_json::raw::RawValue> as shared::gate::IncomingEvent>::parse"),
    ("gate + classify", "shared::gate::gate"),
    ("mode + plan", "decision::plan"),
    ("render (SNS message)", "shared::notify::render"),
    ("  of which the email text", "shared::notify::email_text_under"),
    ("  of which the SNS body (JSON report inside)", "shared::notify::report_body"),
    ("finding comment", "shared::record::record_for"),
    ("malloc + free (all stages)", None),
]
alloc = sum(v for k, v in rows.items() if k in ("malloc", "free", "realloc", "calloc"))
print(f"   decision::decide = {total:,} instructions per run of the profile")
for label, sym in parts:
    v = alloc if sym is None else rows.get(sym)
    if v is None:
        print(f"   {label:<52}  (inlined: not a separate symbol)")
    else:
        print(f"   {label:<52} {v / total * 100:5.1f}%")
'
      ;;
    cold)
      # One function shows it: every function builds the same SDK client at start-up.
      case "$done_targets" in *" cold:"*" cold:"*) continue ;; esac
      echo "-- cold start ($function; every function starts the same SDK client): see the two diagnostic"
      echo "   'cold start' rows, where only the TLS root store varies. Files opened before the first request:"
      if apt_tool strace strace; then
        "$root/.venv/bin/python" - "$state/env.json" "$bindir/$function" "$empty_bin" <<'EOF' || true
import json, os, subprocess, sys
env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", **json.load(open(sys.argv[1]))}
env.update({"AWS_LAMBDA_RUNTIME_API": "127.0.0.1:9", "AWS_LAMBDA_FUNCTION_NAME": "f",
            "AWS_LAMBDA_FUNCTION_VERSION": "1", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128",
            "AWS_LAMBDA_LOG_STREAM_NAME": "s", "AWS_LAMBDA_LOG_GROUP_NAME": "g"})
# Port 9 refuses the connection: the process ends at its first request for work.
for binary in sys.argv[2:]:
    if not os.path.exists(binary):
        continue
    lines = subprocess.run(["strace", "-f", "-e", "trace=openat,read", "-o", "/dev/stdout", binary],
                           env=env, capture_output=True, text=True, timeout=30).stdout.splitlines()
    opens = [l for l in lines if "openat(" in l and "ENOENT" not in l]
    certs = [l for l in opens if "/etc/ssl/" in l or "/etc/pki/" in l]
    reads = sum(1 for l in lines if "read(" in l and "pread" not in l)
    print(f"   {os.path.basename(binary)}: {len(opens)} files opened before asking for work, "
          f"{len(certs)} of them TLS roots; {reads} read calls")
EOF
      fi
      ;;
    first) echo "-- first event of $function: see the per-pair ratios in the table" ;;
    memory) echo "-- peak memory of $function: the table splits VmRSS into binary pages and heap" ;;
    size) echo "-- size of $function: see the size levers in BENCHMARKS.md" ;;
    linear) echo "-- growth: see the cves/* rows" ;;
  esac
done
