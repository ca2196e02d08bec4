#!/usr/bin/env bash
# What dominates a missed target (called by scripts/bench.sh with the missed targets on stdin,
# one "<target> <function>" per line; prints a report, installs what it needs with apt-get).
#
#   cold       the table's diagnostic rows vary the TLS root store (bundle only, none); here
#              strace counts the files the function and the empty function open before their
#              first request for work.
#   first / memory / size
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
    size) echo "-- size of $function: the size row names the bootstrap and zip; see BENCHMARKS.md" ;;
    linear) echo "-- growth: see the cves/* rows" ;;
  esac
done
