#!/usr/bin/env bash
# The project's test command (the README names it; .ci/run calls it).
# Runs every unit, property, integration and crash test of the workspace,
# after the documentation examples (nextest does not run doctests).
#
# The S3 tests (strata-storage's conformance suite, strata-cli's storage_e2e)
# run against a real S3-compatible server: unless S3_TEST_ENDPOINT is already
# set, this starts s3s-fs on 127.0.0.1:9900 (scripts/s3-server.sh; installed by
# scripts/install-test-deps.sh when missing) and stops it at exit if it
# started it. S3_TEST_REQUIRED=1 makes those tests fail rather than skip
# without a server.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo test --workspace --doc --quiet

if [[ -z "${S3_TEST_ENDPOINT:-}" ]]; then
  if ! command -v s3s-fs >/dev/null 2>&1 && [[ ! -x "$HOME/.cargo/bin/s3s-fs" ]]; then
    echo "test.sh: s3s-fs is missing; running scripts/install-test-deps.sh" >&2
    scripts/install-test-deps.sh
  fi
  if ! scripts/s3-server.sh env >/dev/null 2>&1; then
    trap 'scripts/s3-server.sh stop || true' EXIT
  fi
  s3_env=$(scripts/s3-server.sh start)
  eval "$s3_env"
fi
export S3_TEST_REQUIRED=1
echo "test.sh: S3 tests against $S3_TEST_ENDPOINT (bucket ${S3_TEST_BUCKET:-strata-test})" >&2

cargo nextest run --workspace --no-fail-fast "$@"
