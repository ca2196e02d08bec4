#!/usr/bin/env bash
# Template checks (tests/template/, pytest), run by `make template-test` as part of `make test`:
#   test_lint.py     sam validate --lint and cfn-lint on template.yaml and member-role.yaml,
#                    offline and without AWS credentials; samconfig.toml settings
#   test_routing.py  each rule's pattern, read from template.yaml, against every events/*.json
#                    with the quamina matcher, compared with events/manifest.toml's `routes_to`
#   test_iam.py      each function's policy against the AWS operations its Rust code calls
#                    (shared/src + functions/<fn>/src), the member role, parameter switches
# Extra arguments go to pytest, e.g. scripts/template_test.sh -k routing
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

if [ -f scripts/venv.sh ]; then
  bash scripts/venv.sh
fi
py=.venv/bin/python
if ! "$py" -c 'import pytest, cfnlint, samtranslator' 2>/dev/null; then
  echo "template_test.sh: $py lacks pytest/cfn-lint/aws-sam-cli; run scripts/venv.sh (requirements-dev.txt)" >&2
  exit 2
fi

export PATH="$root/.venv/bin:$PATH" SAM_CLI_TELEMETRY=0 PYTHONDONTWRITEBYTECODE=1

status=0
"$py" -m pytest -p no:cacheprovider -q -rs tests/template "$@" || status=$?
if [ "$status" -eq 5 ]; then
  echo "template_test.sh: pytest collected no tests" >&2
  exit 1
fi
exit "$status"
