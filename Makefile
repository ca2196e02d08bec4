# Every entry point of eks-exposure-responder. Each target installs what it needs
# (Python tools into .venv, pinned in requirements-dev.txt), so a fresh clone works.
SHELL := bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help
MAKEFLAGS += --no-print-directory

VENV_BIN := $(CURDIR)/.venv/bin
# sam finds cargo-lambda (and cargo-lambda finds zig) through PATH.
WITH_VENV := PATH="$(VENV_BIN):$$PATH" SAM_CLI_TELEMETRY=0

.PHONY: arm64-target help venv constraints moto-start moto-stop fmt fmt-check lint test template-test standin-test \
	build deploy check-deployment demo demo-check bench fuzz clean distclean

help:
	@echo "make demo           run every function against moto_server (no AWS account needed)"
	@echo "make test           fmt-check, lint, cargo test against a fresh moto_server, template tests"
	@echo "make build | deploy sam build | sam deploy --guided"
	@echo "make check-deployment  after a deploy: routes every sample event, invokes each function once"
	@echo "make bench | fuzz   benchmarks | fuzzing"
	@echo "make venv           install the pinned Python tools into .venv (constraints: re-pin them)"
	@echo "make moto-start     start a moto_server and the AWS stand-in for manual runs"
	@echo "                    (URLs: scripts/moto.sh url, scripts/moto.sh standin-url)"
	@echo "make moto-stop | fmt | fmt-check | lint | demo-check | clean | distclean"

venv:
	@scripts/venv.sh

# Re-resolve requirements-{dev,bench,checkov}.txt from scratch in a scratch venv and pin every
# package they pull in into constraints-{dev,bench,checkov}.txt (header comments are kept).
constraints:
	@for set in dev bench checkov; do \
		rm -rf .venv-freeze; python3 -m venv .venv-freeze; \
		.venv-freeze/bin/python -m pip install --quiet -r requirements-$$set.txt; \
		{ grep '^#' constraints-$$set.txt || true; .venv-freeze/bin/python -m pip freeze | grep -v '^-e'; } \
			>constraints-$$set.txt.new; \
		mv constraints-$$set.txt.new constraints-$$set.txt; \
		echo "constraints-$$set.txt: $$(grep -c '==' constraints-$$set.txt) pins"; \
	done; \
	rm -rf .venv-freeze

moto-start: venv
	@scripts/moto.sh start

moto-stop:
	@scripts/moto.sh stop

fmt:
	cargo fmt --all

fmt-check:
	cargo fmt --all -- --check

lint:
	cargo clippy --workspace --all-targets -- -D warnings

# with_moto.sh starts a private moto_server with the AWS stand-in in front (scripts/aws_standin.py),
# exports MOTO_ENDPOINT, STANDIN_ENDPOINT, AWS_ACCESS_KEY_ID=
# testing, AWS_SECRET_ACCESS_KEY=testing, AWS_REGION=us-east-1, and stops the server
# however the command ends.
# The bench smoke (a tiny run of make bench) goes first so the suites' summaries end the output.
test: fmt-check lint venv
	scripts/bench.sh --smoke
	scripts/with_moto.sh bash -c '$(MAKE) standin-test && cargo test --workspace && $(MAKE) template-test'

# The AWS stand-in (scripts/aws_standin.py) against boto3, on the moto_server at MOTO_ENDPOINT
# (or one of its own).
standin-test: venv
	$(WITH_VENV) PYTHONDONTWRITEBYTECODE=1 .venv/bin/python -m pytest -p no:cacheprovider -q scripts/standin

template-test: venv
	@$(WITH_VENV) bash scripts/template_test.sh

# Lambda runs arm64 (Graviton): cargo-lambda cross-compiles with zig for this Rust target.
arm64-target:
	@rustup target list --installed | grep -qx aarch64-unknown-linux-gnu || rustup target add aarch64-unknown-linux-gnu

build: venv arm64-target
	$(WITH_VENV) sam build

deploy: build
	$(WITH_VENV) sam deploy --guided

# Reads the deployed stack (samconfig.toml's name, or STACK=...; REGION=... or the AWS
# settings), runs TestEventPattern for each rule against events/*.json, compares with
# events/README.md, invokes each function once with events/eks-closed.json. Changes nothing.
check-deployment: venv
	@$(WITH_VENV) .venv/bin/python scripts/check_deployment.py \
		$(if $(STACK),--stack $(STACK)) $(if $(REGION),--region $(REGION))

demo:
	@scripts/demo.sh

# The demo harness's AWS side alone (setup, SNS -> SQS, draining), without the functions.
demo-check: venv
	@scripts/with_moto.sh bash -c 'export AWS_ENDPOINT_URL="$$MOTO_ENDPOINT" \
		AWS_ENDPOINT_URL_EKS="$$STANDIN_ENDPOINT" AWS_ENDPOINT_URL_SECURITYHUB="$$STANDIN_ENDPOINT"; \
		d=$$(mktemp -d); trap "rm -rf $$d" EXIT; \
		.venv/bin/python scripts/demo_aws.py setup "$$d" && \
		.venv/bin/python scripts/demo_aws.py show-cluster "$$d" events/eks-public-access.json && \
		.venv/bin/python scripts/demo_aws.py selftest "$$d"'

bench: venv arm64-target
	@VENV_DIR=.venv-bench scripts/venv.sh requirements-bench.txt
	@$(WITH_VENV) bash scripts/bench.sh

fuzz:
	@bash scripts/fuzz.sh

clean:
	scripts/moto.sh stop
	cargo clean
	rm -rf .aws-sam .moto .demo .bench

distclean: clean
	rm -rf .venv .venv-bench .venv-checkov .venv-freeze .venv.lock .venv-bench.lock .venv-checkov.lock
