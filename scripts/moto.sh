#!/usr/bin/env bash
# Run moto_server (from .venv) on a free loopback port.
#
#   scripts/moto.sh start    start (or reuse the running) server, print its URL
#   scripts/moto.sh url      print the URL of the running server
#   scripts/moto.sh stop     stop it (no-op when none is running)
#   scripts/moto.sh status   exit 0 when running, 1 otherwise
#
# State (pid, url, log) lives in $MOTO_DIR (default .moto/). Use another MOTO_DIR
# for an independent server: scripts/with_moto.sh and scripts/demo.sh do, so every
# test or demo run gets a fresh, empty moto.
#
# MOTO_ACCOUNT_ID is removed from the server's environment on purpose: it would
# pin every request to one account, while the cross-account paths rely on moto
# mapping assumed-role credentials to the role's account.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
# shellcheck source=scripts/lib.sh
. "$root/scripts/lib.sh"

dir=${MOTO_DIR:-.moto}
venv=${VENV_DIR:-.venv}
start_timeout=${MOTO_START_TIMEOUT:-30}

pid_file="$dir/pid"
url_file="$dir/url"
log_file="$dir/moto.log"

# True when $pid_file names a live moto_server process.
running() {
  [ -f "$pid_file" ] || return 1
  local pid
  pid=$(cat "$pid_file")
  [ -n "$pid" ] && alive "$pid" || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q moto_server
}

stop() {
  if running; then
    stop_pid "$(cat "$pid_file")"
  fi
  rm -f "$pid_file" "$url_file"
}

start() {
  if running && [ -f "$url_file" ]; then
    cat "$url_file"
    return 0
  fi
  rm -f "$pid_file" "$url_file"
  if [ ! -x "$venv/bin/moto_server" ]; then
    echo "moto.sh: $venv/bin/moto_server missing: run 'make venv' first" >&2
    return 1
  fi
  mkdir -p "$dir"
  local attempt port pid
  # A port found free can be taken before moto binds it: retry with a new one.
  for attempt in 1 2 3; do
    port=$(free_port)
    env -u MOTO_ACCOUNT_ID "$venv/bin/moto_server" -H 127.0.0.1 -p "$port" \
      >"$log_file" 2>&1 </dev/null &
    pid=$!
    echo "$pid" >"$pid_file"
    if wait_port "$port" "$pid" "$start_timeout"; then
      echo "http://127.0.0.1:$port" | tee "$url_file"
      return 0
    fi
    stop
    echo "moto.sh: moto_server did not listen on 127.0.0.1:$port (attempt $attempt); log:" >&2
    tail -n 20 "$log_file" >&2 || true
  done
  return 1
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  url)
    if running && [ -f "$url_file" ]; then
      cat "$url_file"
    else
      echo "moto.sh: no moto_server running (state in $dir); run 'make moto-start'" >&2
      exit 1
    fi
    ;;
  status) running ;;
  *)
    echo "usage: $0 start|stop|url|status" >&2
    exit 2
    ;;
esac
