#!/usr/bin/env bash
# Issue 6 ingest comparison: acked events/s of the same generated events sent
# as Datadog JSON (the baseline), OTLP protobuf, OTLP/JSON, Elasticsearch bulk
# and syslog over TCP. Rounds are interleaved (every protocol once per round,
# a fresh server each time) so the shared machine's noise spreads over all of
# them; one JSON line per run (scripts/bench-ingest.sh's fields plus
# "protocol"), then the median per protocol and its ratio to Datadog JSON.
#
# usage: scripts/bench-protocols.sh [rounds] [duration_s] [connections]
# env:   BENCH_BIN (default target/release/strata), BENCH_PROTOCOLS (default
#        "datadog otlp otlp-json bulk syslog"), BENCH_DIR
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-3}
duration=${2:-20}
connections=${3:-8}
protocols=${BENCH_PROTOCOLS:-datadog otlp otlp-json bulk syslog}
syslog_port=${BENCH_SYSLOG_PORT:-7691}
out=$(mktemp)
for round in $(seq 1 "$rounds"); do
  for protocol in $protocols; do
    serve_args=""
    loadgen_args="--protocol $protocol"
    if [[ $protocol == syslog ]]; then
      serve_args="--syslog-listen tcp://127.0.0.1:$syslog_port"
      loadgen_args="$loadgen_args --syslog-target 127.0.0.1:$syslog_port"
    fi
    line=$(BENCH_SERVE_ARGS="$serve_args" BENCH_LOADGEN_ARGS="$loadgen_args" \
      scripts/bench-ingest.sh fsync 1 "$duration" "$connections" | tail -n 1)
    echo "{\"protocol\":\"$protocol\",\"round\":$round,${line#\{}" | tee -a "$out"
  done
done
python3 - "$out" <<'PY'
import json, statistics, sys
runs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
by = {}
for r in runs:
    by.setdefault(r["protocol"], []).append(r["events_per_sec"])
base = statistics.median(by["datadog"]) if "datadog" in by else None
for protocol, values in by.items():
    median = statistics.median(values)
    ratio = f"{median / base:.2f}x datadog" if base else ""
    print(f"{protocol:10} median {median:>9,.0f} events/s  runs {values}  {ratio}")
PY
rm -f "$out"
