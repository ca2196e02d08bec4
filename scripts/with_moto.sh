#!/usr/bin/env bash
# Run a command against a fresh moto_server, and always stop the server after.
#
#   scripts/with_moto.sh CMD [ARGS...]
#
# The command sees MOTO_ENDPOINT=<server URL>, STANDIN_ENDPOINT=<URL of the AWS stand-in in
# front of it> (scripts/aws_standin.py: the EKS and Security Hub calls moto lacks), dummy credentials (AWS_ACCESS_KEY_ID=
# testing: moto's default account 123456789012) and AWS_REGION=us-east-1. It does
# not see AWS_ENDPOINT_URL: each caller decides what talks to moto.
# The command's exit status is this script's exit status.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

if [ "$#" -eq 0 ]; then
  echo "usage: $0 CMD [ARGS...]" >&2
  exit 2
fi

# A private state dir per run: never reuse (or stop) a server someone else started.
MOTO_DIR="$root/.moto/run-$$"
export MOTO_DIR
finish() {
  local status=$?
  "$root/scripts/moto.sh" stop
  if [ "$status" -ne 0 ] && [ -s "$MOTO_DIR/moto.log" ]; then
    echo "with_moto.sh: exit $status; last lines of the moto_server log:" >&2
    tail -n 15 "$MOTO_DIR/moto.log" >&2
  fi
  if [ "$status" -ne 0 ] && [ -s "$MOTO_DIR/standin.log" ]; then
    echo "with_moto.sh: last lines of the stand-in log:" >&2
    tail -n 15 "$MOTO_DIR/standin.log" >&2
  fi
  rm -rf "$MOTO_DIR"
}
trap finish EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

MOTO_ENDPOINT=$("$root/scripts/moto.sh" start)
STANDIN_ENDPOINT=$("$root/scripts/moto.sh" standin-url)
export MOTO_ENDPOINT STANDIN_ENDPOINT
export AWS_ACCESS_KEY_ID=testing
export AWS_SECRET_ACCESS_KEY=testing
export AWS_REGION=us-east-1
export AWS_DEFAULT_REGION=us-east-1
export AWS_EC2_METADATA_DISABLED=true
unset AWS_SESSION_TOKEN AWS_PROFILE AWS_DEFAULT_PROFILE MOTO_ACCOUNT_ID
echo "with_moto.sh: moto_server at $MOTO_ENDPOINT, the AWS stand-in at $STANDIN_ENDPOINT"

"$@"
