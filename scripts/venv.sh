#!/usr/bin/env bash
# Create or refresh a project-local virtualenv with pinned tools.
#
#   scripts/venv.sh                              # .venv from requirements-dev.txt
#   VENV_DIR=.venv-bench scripts/venv.sh requirements-bench.txt
#
# requirements-X.txt pins the tools; constraints-X.txt, when present, pins every
# package they pull in (make constraints rewrites it).
# Idempotent: a stamp file inside the venv records a hash of the Python version
# and of every requirements and constraints file; when it matches, the script
# exits at once. A missing or broken venv (e.g. after a Python upgrade) is rebuilt.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

venv=${VENV_DIR:-.venv}
python=${PYTHON:-python3}
if [ "$#" -eq 0 ]; then
  set -- requirements-dev.txt
fi

files=()
args=()
for req in "$@"; do
  if [ ! -f "$req" ]; then
    echo "venv.sh: requirements file not found: $req" >&2
    exit 2
  fi
  files+=("$req")
  args+=(-r "$req")
  constraints="$(dirname "$req")/$(basename "$req" | sed 's/^requirements-/constraints-/')"
  if [ "$constraints" != "$req" ] && [ -f "$constraints" ]; then
    files+=("$constraints")
    args+=(-c "$constraints")
  fi
done

if ! command -v "$python" >/dev/null 2>&1; then
  echo "venv.sh: '$python' not found; install Python 3.11+ or set PYTHON=/path/to/python3" >&2
  exit 2
fi

key=$(
  {
    "$python" -c 'import sys; print(sys.version)'
    for file in "${files[@]}"; do
      printf '== %s\n' "$file"
      cat "$file"
    done
  } | sha256sum | cut -d' ' -f1
)
stamp="$venv/.requirements.sha256"

up_to_date() {
  [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$key" ] && "$venv/bin/python" -c '' 2>/dev/null
}

if up_to_date; then
  exit 0
fi

# Serialise concurrent callers (make -j, two terminals) on one lock file.
mkdir -p "$(dirname "$venv")"
exec 9>"$venv.lock"
if command -v flock >/dev/null 2>&1; then
  flock 9
fi
if up_to_date; then
  exit 0
fi

if ! "$venv/bin/python" -c '' 2>/dev/null; then
  echo "venv.sh: creating $venv with $("$python" --version 2>&1)"
  rm -rf "$venv"
  "$python" -m venv "$venv"
fi

rm -f "$stamp"
start=$(date +%s)
echo "venv.sh: installing ${files[*]} into $venv (about a minute on a fresh machine)"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check "${args[@]}"
printf '%s\n' "$key" >"$stamp"
echo "venv.sh: $venv ready in $(($(date +%s) - start)) s"
