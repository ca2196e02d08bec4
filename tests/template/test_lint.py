"""`sam validate --lint` and `cfn-lint` pass, offline and without AWS credentials."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

from cfn import MEMBER_ROLE, ROOT, TEMPLATE

BIN = Path(sys.executable).parent  # the venv that runs pytest (.venv)


def offline_env() -> dict[str, str]:
    """No credentials, no profile, no instance metadata: prove nothing needs an AWS account."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        AWS_CONFIG_FILE=os.devnull,
        AWS_SHARED_CREDENTIALS_FILE=os.devnull,
        AWS_EC2_METADATA_DISABLED="true",
        SAM_CLI_TELEMETRY="0",
    )
    return env


def run(*cmd: str) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, cwd=ROOT, env=offline_env(), capture_output=True, text=True,
                          timeout=300, check=False)


def test_sam_validate_lint():
    # --region: sam validate otherwise looks one up in the (absent) AWS config.
    out = run(str(BIN / "sam"), "validate", "--lint", "--template", str(TEMPLATE),
              "--region", "us-east-1")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "is a valid SAM Template" in out.stdout + out.stderr


def test_cfn_lint_both_templates():
    out = run(str(BIN / "cfn-lint"), str(TEMPLATE), str(MEMBER_ROLE))
    assert out.returncode == 0, out.stdout + out.stderr


def test_samconfig_builds_in_parallel_without_sams_stale_cache_and_validates_with_lint():
    config = tomllib.loads((ROOT / "samconfig.toml").read_text())["default"]
    # SAM's cache keys a function on its CodeUri dir alone: shared/ changes would not rebuild it.
    assert config["build"]["parameters"] == {"cached": False, "parallel": True}
    assert config["validate"]["parameters"]["lint"] is True
    deploy = config["deploy"]["parameters"]
    assert deploy["capabilities"] == "CAPABILITY_IAM"
    assert deploy["confirm_changeset"] is True
