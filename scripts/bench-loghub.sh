#!/usr/bin/env bash
# Storage benchmark on real logs: sends every loghub sample (16 systems, 2k
# lines each) and the 10k-line Apache access log as text/plain (one log per
# line, ddsource = the system), stops the server (which flushes), and prints
# raw bytes, segment bytes and the ratio.
#
# usage: scripts/bench-loghub.sh   env: BENCH_BIN (default target/release/strata)
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${BENCH_BIN:-target/release/strata}
data=${LOGHUB_DIR:-../shared/data}
dir=${BENCH_DIR:-/tmp/strata-loghub}
port=${BENCH_PORT:-7691}
rm -rf "$dir"
mkdir -p "$dir"
env -u BENCH_BIN STRATA_LOG=warn "$bin" serve --data-dir "$dir/data" --listen "127.0.0.1:$port" >"$dir/serve.out" 2>"$dir/serve.err" &
pid=$!
for _ in $(seq 1 100); do curl -fs "http://127.0.0.1:$port/health/ready" >/dev/null 2>&1 && break; sleep 0.1; done
key=$(python3 -c "import json,sys;print(json.load(open(sys.argv[1]))['api_key'])" "$dir/data/bootstrap-keys.json")
raw=0
for file in "$data"/loghub/*/*_2k.log "$data"/access_logs/apache_combined_10k.log; do
  source=$(basename "$(dirname "$file")" | tr 'A-Z' 'a-z')
  raw=$((raw + $(wc -c <"$file")))
  split -l 1000 "$file" "$dir/chunk-"
  for chunk in "$dir"/chunk-*; do
    curl -fsS -X POST "http://127.0.0.1:$port/api/v2/logs?ddsource=$source&service=$source" \
      -H "DD-API-KEY: $key" -H 'Content-Type: text/plain' --data-binary @"$chunk" >/dev/null
    rm "$chunk"
  done
done
kill -TERM "$pid"
wait "$pid"
segments=$(du -sb "$dir/data/segments" | awk '{print $1}')
python3 -c "import sys; r,s=int(sys.argv[1]),int(sys.argv[2]); print(f'raw {r} bytes, segments {s} bytes, {r/s:.1f}x smaller')" "$raw" "$segments"
