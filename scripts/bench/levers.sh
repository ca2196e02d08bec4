#!/usr/bin/env bash
# The size levers, measured on one function (not part of `make bench`: every variant rebuilds
# the whole dependency tree for arm64, several minutes each on 2 cores).
#
#   scripts/bench/levers.sh [FUNCTION] [VARIANT ...]
#
# FUNCTION defaults to endpoint-access. Variants (release profile overrides through
# CARGO_PROFILE_RELEASE_*; everything else as in Cargo.toml):
#   s-fat   opt-level "s", lto = true (fat)   — the workspace profile
#   z-fat   opt-level "z", lto = true
#   3-fat   opt-level 3,   lto = true
#   s-thin  opt-level "s", lto = "thin"
#   s-off   opt-level "s", lto = false
# Each builds with `cargo lambda build --release --arm64` into target/bench-levers/<variant>
# and prints bootstrap and zip sizes and the build time; with BENCH_LEVERS_DECISION=1 it also
# runs the decision benchmark (multi-trait, endpoint-access) at that opt-level on the host.
# Results: .bench/levers/<function>.md
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root"
function=${1:-endpoint-access}
shift || true
variants=("$@")
[ "${#variants[@]}" -gt 0 ] || variants=(s-fat z-fat 3-fat s-thin)

out="$root/.bench/levers"
mkdir -p "$out"
table="$out/$function.md"
printf '| variant | opt-level | lto | bootstrap bytes | zip bytes | build s | multi-trait decision (endpoint-access) |\n|---|---|---|---|---|---|---|\n' >"$table"

for v in "${variants[@]}"; do
  case $v in
    s-fat) opt=s lto=true ;;
    z-fat) opt=z lto=true ;;
    3-fat) opt=3 lto=true ;;
    s-thin) opt=s lto=thin ;;
    s-off) opt=s lto=false ;;
    *)
      echo "levers: unknown variant $v" >&2
      exit 2
      ;;
  esac
  dir="$root/target/bench-levers/$v"
  echo "== $v: opt-level=$opt lto=$lto ($dir)"
  start=$SECONDS
  CARGO_TARGET_DIR="$dir" CARGO_PROFILE_RELEASE_OPT_LEVEL=$opt CARGO_PROFILE_RELEASE_LTO=$lto \
    PATH="$root/.venv/bin:$PATH" cargo lambda build --release --arm64 -p "$function" >"$out/$v.log" 2>&1 || {
    echo "   build failed: $(tail -n 3 "$out/$v.log")"
    continue
  }
  secs=$((SECONDS - start))
  bootstrap="$dir/lambda/$function/bootstrap"
  sizes=$("$root/.venv/bin/python" - "$bootstrap" <<'EOF'
import io, sys, zipfile
data = open(sys.argv[1], "rb").read()
buf = io.BytesIO()
info = zipfile.ZipInfo("bootstrap", date_time=(2026, 1, 1, 0, 0, 0))
info.external_attr = 0o100755 << 16
info.compress_type = zipfile.ZIP_DEFLATED
with zipfile.ZipFile(buf, "w") as zf:
    zf.writestr(info, data, compresslevel=9)
print(len(data), len(buf.getvalue()))
EOF
)
  read -r b z <<<"$sizes"
  decision="-"
  if [ "${BENCH_LEVERS_DECISION:-0}" = 1 ]; then
    CARGO_TARGET_DIR="$dir-host" CARGO_PROFILE_BENCH_OPT_LEVEL=$opt CARGO_PROFILE_BENCH_LTO=$lto \
      CARGO_PROFILE_BENCH_STRIP=none cargo bench -q -p eks-exposure-shared --bench decision -- 'decision/multi-trait/endpoint-access$' \
      >"$out/$v-decision.log" 2>&1 || true
    decision=$(grep -A1 '^decision/multi-trait/endpoint-access' "$out/$v-decision.log" | grep -o 'time: *\[[^]]*\]' | head -n 1 || echo "-")
  fi
  printf '| %s | %s | %s | %s | %s | %s | %s |\n' "$v" "$opt" "$lto" "$b" "$z" "$secs" "$decision" >>"$table"
  echo "   bootstrap $b B, zip $z B, built in ${secs}s, decision $decision"
done
echo
cat "$table"
