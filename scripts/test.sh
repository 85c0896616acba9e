#!/usr/bin/env bash
# The project's test command (the README names it; .ci/run calls it).
# Runs every unit, property, integration and crash test of the workspace.
set -euo pipefail
cd "$(dirname "$0")/.."
exec cargo nextest run --workspace --no-fail-fast "$@"
