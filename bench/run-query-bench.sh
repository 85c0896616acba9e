#!/usr/bin/env bash
# The query benchmark end to end: builds the release binary, runs
# `strata bench query` (fresh server, N generated events through the HTTP
# intake, nine queries, freshness probe), exports the stored events, and runs
# the same queries on ClickHouse (chDB) and DuckDB over that export.
#
# usage: bench/run-query-bench.sh [events] [extra `strata bench query` flags...]
#   e.g. bench/run-query-bench.sh 10000000
#        bench/run-query-bench.sh 200000 --set wal.durability=none
# env:   BENCH_OUT (default /tmp): where strata-q.json, strata-q.ndjson and
#        query-suite.json go; BENCH_BIN (default target/release/strata, built
#        unless BENCH_SKIP_BUILD=1); PYTHON (default python3).
set -euo pipefail
cd "$(dirname "$0")/.."
events=${1:-10000000}
shift || true
out=${BENCH_OUT:-/tmp}
bin=${BENCH_BIN:-target/release/strata}
python=${PYTHON:-python3}

if [ "${BENCH_SKIP_BUILD:-0}" != 1 ]; then
  cargo build --release -p strata-cli
fi
if ! "$python" -c 'import chdb, duckdb' 2>/dev/null; then
  "$python" -m pip install --quiet chdb duckdb
fi
"$bin" bench query --events "$events" --json "$out/strata-q.json" --export "$out/strata-q.ndjson" "$@"
"$python" bench/query_suite.py --strata "$out/strata-q.json" --data "$out/strata-q.ndjson" \
  --json "$out/query-suite.json"
