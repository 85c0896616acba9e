#!/usr/bin/env bash
# The project's test command (the README names it; .ci/run calls it).
# Runs every unit, property, integration and crash test of the workspace,
# after the documentation examples (nextest does not run doctests).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo test --workspace --doc --quiet
cargo nextest run --workspace --no-fail-fast "$@"
