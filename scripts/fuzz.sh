#!/usr/bin/env bash
# Long property-based fuzzing of the whole input path (make fuzz). `make test` runs the same
# properties with a few hundred cases; this runs PROPTEST_CASES (default 100,000) of each.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
cases="${PROPTEST_CASES:-100000}"
echo "fuzz: ${cases} cases per property (set PROPTEST_CASES to change)"
start=$(date +%s)
PROPTEST_CASES="$cases" cargo test --profile fuzz -p eks-exposure-shared --test parser_properties
PROPTEST_CASES="$cases" cargo test --profile fuzz -p integration-tests --test hostile_input
echo "fuzz: done in $(( $(date +%s) - start ))s, no failure in ${cases} cases per property"
