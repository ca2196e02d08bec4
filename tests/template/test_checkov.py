"""Security posture of template.yaml and member-role.yaml: checkov (framework cloudformation)
finds nothing that is not fixed or skipped with a reason in the template itself.

checkov runs from its own .venv-checkov (requirements-checkov.txt): its pins (boto3 1.35 among
them) clash with aws-sam-cli's in .venv. scripts/template_test.sh installs it. It runs offline:
--skip-download keeps it from fetching guidelines from its vendor, and a proxy on a closed
loopback port makes any other attempt fail here instead of leaving the machine.
"""

from __future__ import annotations

import json
import os
import subprocess
from functools import cache

import pytest

from cfn import MEMBER_ROLE, ROOT, TEMPLATE

CHECKOV = ROOT / ".venv-checkov" / "bin" / "checkov"
NOWHERE = "http://127.0.0.1:9"


@cache
def scan() -> dict:
    if not CHECKOV.exists():
        raise AssertionError(f"{CHECKOV} missing: run scripts/template_test.sh (it installs "
                             "requirements-checkov.txt into .venv-checkov)")
    env = {**os.environ, "HTTPS_PROXY": NOWHERE, "HTTP_PROXY": NOWHERE, "NO_PROXY": "",
           "BC_SKIP_MAPPING": "TRUE"}
    out = subprocess.run(
        [str(CHECKOV), "--framework", "cloudformation", "--skip-download", "--output", "json",
         "--file", str(TEMPLATE), "--file", str(MEMBER_ROLE)],
        cwd=ROOT, env=env, capture_output=True, text=True, check=False, timeout=300)
    assert out.returncode in (0, 1), out.stderr  # 1: failed checks, reported below
    report = json.loads(out.stdout)
    (report,) = report if isinstance(report, list) else [report]
    assert report["check_type"] == "cloudformation"
    return report


def where(check: dict) -> str:
    return f"{check['check_id']} {check['resource']} ({check['file_path']}): {check['check_name']}"


def test_checkov_scans_both_templates_without_parse_errors():
    report = scan()
    assert report["summary"]["parsing_errors"] == 0
    files = {c["file_path"].lstrip("/") for c in report["results"]["passed_checks"]}
    assert files == {"template.yaml", "member-role.yaml"}


def test_no_unexplained_checkov_failure():
    failed = scan()["results"]["failed_checks"]
    assert [where(c) for c in failed] == []


def test_every_skip_gives_its_reason_in_the_template():
    skipped = scan()["results"]["skipped_checks"]
    assert skipped, "the skips below no longer reach checkov"
    unexplained = [where(c) for c in skipped
                   if len(c["check_result"].get("suppress_comment", "").split()) < 4]
    assert unexplained == []


@pytest.mark.parametrize("check_id,resource_type", [
    ("CKV_AWS_115", "AWS::Serverless::Function"),  # reserved concurrency
    ("CKV_AWS_33", "AWS::KMS::Key"),  # key rotation
])
def test_fixed_findings_stay_fixed(check_id, resource_type):
    passed = [c for c in scan()["results"]["passed_checks"]
              if c["check_id"] == check_id and c["resource"].startswith(resource_type)]
    assert passed, f"{check_id} no longer passes on any {resource_type}"
