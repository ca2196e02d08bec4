#!/usr/bin/env bash
# Run moto_server (from .venv) on a free loopback port, with the AWS stand-in
# (scripts/aws_standin.py: the EKS and Security Hub calls moto lacks) in front of it.
#
#   scripts/moto.sh start         start (or reuse the running) servers, print moto's URL
#   scripts/moto.sh url           print the URL of the running moto_server
#   scripts/moto.sh standin-url   print the URL of the running stand-in
#   scripts/moto.sh stop          stop both (no-op when none is running)
#   scripts/moto.sh status        exit 0 when both run, 1 otherwise
#
# STANDIN_UPDATE_SECONDS (default 10): how long an EKS update the stand-in starts stays
# InProgress (the cluster UPDATING) before it takes effect.
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
standin_pid_file="$dir/standin.pid"
standin_url_file="$dir/standin.url"
standin_log_file="$dir/standin.log"

# owns PID_FILE NAME: PID_FILE names a live process whose command line mentions NAME.
owns() {
  [ -f "$1" ] || return 1
  local pid
  pid=$(cat "$1")
  [ -n "$pid" ] && alive "$pid" || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q "$2"
}

# True when $pid_file names a live moto_server process.
running() { owns "$pid_file" moto_server; }
standin_running() { owns "$standin_pid_file" aws_standin.py; }

stop() {
  if standin_running; then
    stop_pid "$(cat "$standin_pid_file")"
  fi
  rm -f "$standin_pid_file" "$standin_url_file"
  if running; then
    stop_pid "$(cat "$pid_file")"
  fi
  rm -f "$pid_file" "$url_file"
}

# start_standin MOTO_URL: the stand-in on its own free port, in front of MOTO_URL.
start_standin() {
  local attempt port pid
  for attempt in 1 2 3; do
    port=$(free_port)
    "$venv/bin/python" "$root/scripts/aws_standin.py" --moto "$1" --port "$port" \
      --update-seconds "${STANDIN_UPDATE_SECONDS:-10}" >"$standin_log_file" 2>&1 </dev/null &
    pid=$!
    echo "$pid" >"$standin_pid_file"
    if wait_port "$port" "$pid" "$start_timeout"; then
      echo "http://127.0.0.1:$port" >"$standin_url_file"
      return 0
    fi
    stop_pid "$pid"
    echo "moto.sh: the stand-in did not listen on 127.0.0.1:$port (attempt $attempt); log:" >&2
    tail -n 20 "$standin_log_file" >&2 || true
  done
  return 1
}

start() {
  if running && [ -f "$url_file" ] && standin_running && [ -f "$standin_url_file" ]; then
    cat "$url_file"
    return 0
  fi
  stop
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
      echo "http://127.0.0.1:$port" >"$url_file"
      if ! start_standin "http://127.0.0.1:$port"; then
        stop
        return 1
      fi
      cat "$url_file"
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
  standin-url)
    if standin_running && [ -f "$standin_url_file" ]; then
      cat "$standin_url_file"
    else
      echo "moto.sh: no stand-in running (state in $dir); run 'make moto-start'" >&2
      exit 1
    fi
    ;;
  status) running && standin_running ;;
  *)
    echo "usage: $0 start|stop|url|standin-url|status" >&2
    exit 2
    ;;
esac
