#!/usr/bin/env bash
# Ingest benchmark: starts a release `strata serve` on a fresh data directory,
# drives it with `strata loadgen`, stops it gracefully (which flushes), and
# prints one JSON line per run with acked events/s, MB/s, ack latency, the
# server's peak RSS and bytes on disk after flush versus raw NDJSON bytes.
#
# usage: scripts/bench-ingest.sh [fsync|none] [runs] [duration_s] [connections]
# env:   BENCH_BIN (default target/release/strata), BENCH_LOADGEN (the binary whose
#        loadgen drives it; default BENCH_BIN), BENCH_DIR (default /tmp/strata-bench),
#        BENCH_LOADGEN_ARGS (extra loadgen flags, e.g. "--payloads 1000 --events 1000000"),
#        BENCH_SERVE_ARGS (extra serve flags, e.g. "--set segment.zstd_level=3")
set -euo pipefail
cd "$(dirname "$0")/.."
durability=${1:-fsync}
runs=${2:-3}
duration=${3:-20}
connections=${4:-8}
bin=${BENCH_BIN:-target/release/strata}
loadgen=${BENCH_LOADGEN:-$bin}
base=${BENCH_DIR:-/tmp/strata-bench}
port=${BENCH_PORT:-7690}

for run in $(seq 1 "$runs"); do
  dir="$base/run-$run"
  rm -rf "$dir"
  mkdir -p "$dir"
  env -u BENCH_BIN -u BENCH_LOADGEN STRATA_LOG=warn "$bin" serve --data-dir "$dir/data" --listen "127.0.0.1:$port" \
    --set "wal.durability=\"$durability\"" ${BENCH_SERVE_ARGS:-} >"$dir/serve.out" 2>"$dir/serve.err" &
  pid=$!
  for _ in $(seq 1 100); do
    curl -fs "http://127.0.0.1:$port/health/ready" >/dev/null 2>&1 && break
    sleep 0.1
  done
  key=$(python3 -c "import json,sys;print(json.load(open(sys.argv[1]))['api_key'])" "$dir/data/bootstrap-keys.json")
  "$loadgen" loadgen --target "http://127.0.0.1:$port" --api-key "$key" --connections "$connections" \
    --duration "$duration" ${BENCH_LOADGEN_ARGS:-} --json 2>"$dir/loadgen.err" | tail -n 1 >"$dir/loadgen.json"
  rss_kb=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status")
  kill -TERM "$pid"
  wait "$pid"
  rss_final_kb=$rss_kb
  segments=$(du -sb "$dir/data/segments" | awk '{print $1}')
  python3 - "$dir/loadgen.json" "$rss_final_kb" "$segments" "$durability" <<'PY'
import json, sys
summary = json.load(open(sys.argv[1]))
rss_kb, segment_bytes, durability = int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
raw = summary["events_acked"] * summary["avg_event_bytes"]
print(json.dumps({
    "durability": durability,
    "events_per_sec": round(summary["events_per_sec"]),
    "mb_per_sec": round(summary["mb_per_sec"], 1),
    "ack_p50_ms": summary.get("latency_ms_p50"),
    "ack_p99_ms": summary.get("latency_ms_p99"),
    "errors": summary.get("errors_by_status"),
    "peak_rss_mib": round(rss_kb / 1024),
    "raw_ndjson_mb": round(raw / 1e6, 1),
    "segment_mb": round(segment_bytes / 1e6, 1),
    "compression_x": round(raw / segment_bytes, 1) if segment_bytes else None,
}))
PY
done
