#!/usr/bin/env bash
# Template checks (tests/template/, pytest), run by `make template-test` as part of `make test`:
#   test_lint.py       sam validate --lint and cfn-lint on template.yaml and member-role.yaml,
#                      offline and without AWS credentials; samconfig.toml settings
#   test_deploy.py     template.yaml after the SAM transform (aws-sam-translator), for several
#                      parameter sets: our own dependency-cycle check, cfn-lint, and a deployment
#                      into moto's CloudFormation read back against the contract; member-role.yaml
#                      deployed in every AllowApply / key variant
#   test_checkov.py    checkov (framework cloudformation) over both templates, from .venv-checkov
#   test_check_deployment.py  scripts/check_deployment.py against moto and against a fake
#   test_routing.py    each rule's pattern, read from template.yaml, against every events/*.json
#                      with the quamina matcher, compared with events/manifest.toml's `routes_to`
#   test_iam.py        each function's policy against the AWS operations its Rust code calls
#                      (shared/src + functions/<fn>/src), the member role, parameter switches
# The deployment tests need a moto_server: under `make test` scripts/with_moto.sh has started
# one (MOTO_ENDPOINT); run alone, this script starts its own the same way.
# Extra arguments go to pytest, e.g. scripts/template_test.sh -k routing
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

if [ -z "${MOTO_ENDPOINT:-}" ]; then
  bash scripts/venv.sh
  exec scripts/with_moto.sh bash "$root/scripts/template_test.sh" "$@"
fi

bash scripts/venv.sh
VENV_DIR=.venv-checkov bash scripts/venv.sh requirements-checkov.txt
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
