#!/usr/bin/env bash
# The storage lifecycle benchmark (issue 4), end to end with the release
# binary:
#   A. `strata serve` with compaction off on a fresh data directory; N
#      generated events ingested through HTTP (`strata bench query --url`);
#      then a restart and the query suite again (queries only) on the
#      uncompacted segments; `strata admin segments stats`.
#   B. A restart with compaction on (cold_after 0, 1 s passes, no I/O limit,
#      so the figure is the CPU rate); waits until merges stop; compaction
#      throughput from /metrics (bytes and rows merged / summed pass seconds)
#      and from the server's CPU time; then a restart with compaction off and
#      the suite on the compacted segments; segment stats.
#   C. The same events on S3 (s3s-fs on loopback, scripts/s3-server.sh),
#      compacted the same way; then, per query, a fresh server start (its
#      disk range cache is emptied at start, the footer cache is in memory):
#      the first run is the cold cache, the median of the warm runs the warm
#      cache; cache and object-store counters from /metrics.
#
# usage: bench/run-storage-bench.sh [events]      (default 2000000, 24 h span)
# env:   S3_PORT (default 9907) for s3s-fs; BENCH_OUT (default /tmp/strata-storage-bench): every JSON, metrics
#        snapshot, log and summary.txt; BENCH_BIN (default
#        target/release/strata, built unless BENCH_SKIP_BUILD=1);
#        BENCH_PORT (default 7695); BENCH_RUNS (warm runs, default 5);
#        BENCH_SPAN_HOURS (default 24); BENCH_PHASES (default ABC).
set -euo pipefail
cd "$(dirname "$0")/.."
events=${1:-2000000}
out=${BENCH_OUT:-/tmp/strata-storage-bench}
bin=${BENCH_BIN:-target/release/strata}
port=${BENCH_PORT:-7695}
runs=${BENCH_RUNS:-5}
span=${BENCH_SPAN_HOURS:-24}
phases=${BENCH_PHASES:-ABC}
export S3_PORT=${S3_PORT:-9907}
url="http://127.0.0.1:$port"
mkdir -p "$out"
summary="$out/summary.txt"

if [ "${BENCH_SKIP_BUILD:-0}" != 1 ]; then
  cargo build --release -p strata-cli
fi

log() { echo "storage-bench: $*" >&2; }
note() { echo "$*" | tee -a "$summary"; }

# Compaction everywhere it runs: every closed hour merged at once, a pass
# every second, and no I/O budget (1 TiB/s) so the rate is the CPU's.
compact_on=(--set compaction.enabled=true --set compaction.cold_after_secs=0
  --set compaction.interval_secs=1 --set compaction.max_bytes_per_sec=1099511627776)
compact_off=(--set compaction.enabled=false)

server_pid=
# start_server DIR LOGNAME [--set ...]: starts `strata serve`, waits for ready.
start_server() {
  local dir=$1 name=$2
  shift 2
  STRATA_LOG=${STRATA_LOG:-warn,strata_index=info} "$bin" serve --data-dir "$dir" \
    --listen "127.0.0.1:$port" "$@" >>"$out/$name.serve.log" 2>&1 &
  server_pid=$!
  for _ in $(seq 1 600); do
    if curl -sf "$url/health/ready" >/dev/null 2>&1; then
      return
    fi
    if ! kill -0 "$server_pid" 2>/dev/null; then
      log "strata serve exited; see $out/$name.serve.log"
      tail -20 "$out/$name.serve.log" >&2
      exit 1
    fi
    sleep 0.1
  done
  log "strata serve not ready after 60 s"
  exit 1
}

stop_server() {
  [ -n "$server_pid" ] || return 0
  kill -TERM "$server_pid" 2>/dev/null || true
  wait "$server_pid" || true
  server_pid=
}

cleanup() {
  stop_server
  if [ "${s3_started:-0}" = 1 ]; then
    scripts/s3-server.sh stop "$out/s3s" || true
  fi
}
trap cleanup EXIT

# cpu_secs: user+system CPU seconds of the server so far.
cpu_secs() {
  awk -v hz="$(getconf CLK_TCK)" '{print ($14 + $15) / hz}' "/proc/$server_pid/stat"
}

# metric FILE NAME: the value of one sample line (NAME with its labels).
metric() {
  awk -v n="$2" '$1 == n {print $2; found=1} END {if (!found) print 0}' "$1"
}

# wait_merges_stop: until 3 compaction passes in a row merged nothing (the
# counters move when a pass ends, and one pass may take long).
wait_merges_stop() {
  local last=-1 since=0 merges passes
  while :; do
    curl -sf "$url/metrics" >"$out/metrics.tmp"
    merges=$(metric "$out/metrics.tmp" strata_compaction_merges_total)
    passes=$(metric "$out/metrics.tmp" strata_compaction_pass_seconds_count)
    if [ "$merges" != "$last" ]; then
      last=$merges
      since=$passes
      log "compaction: $merges merges after $passes passes"
    fi
    [ "$((passes - since))" -ge 3 ] && return
    sleep 0.5
  done
}

segments_stats() { # DIR NAME [--set ...]
  local dir=$1 name=$2
  shift 2
  "$bin" admin segments stats --tenant default --data-dir "$dir" "$@" >"$out/$name.txt"
  "$bin" admin segments stats --tenant default --data-dir "$dir" "$@" --json >"$out/$name.json"
  head -12 "$out/$name.txt" | tee -a "$summary"
}

suite_only() { # DIR NAME [bench flags...]
  local dir=$1 name=$2
  shift 2
  "$bin" bench query --url "$url" --data-dir "$dir" --queries-only \
    --range-from-json "$out/ingest.json" --runs "$runs" --json "$out/$name.json" "$@" \
    | tee "$out/$name.txt"
}

: >"$summary"
note "strata storage bench: $events events over $span h, $(date -u +%FT%TZ), $(nproc) cores, $(git rev-parse --short HEAD)"

if [[ $phases == *A* ]]; then
  # A. Uncompacted.
  local_dir="$out/local"
  rm -rf "$local_dir" "$out"/a-*.serve.log "$out"/b-*.serve.log
  start_server "$local_dir" a-ingest "${compact_off[@]}"
  "$bin" bench query --url "$url" --data-dir "$local_dir" --events "$events" \
    --span-hours "$span" --runs "$runs" --json "$out/ingest.json" | tee "$out/ingest.txt"
  stop_server
  start_server "$local_dir" a-uncompacted "${compact_off[@]}"
  suite_only "$local_dir" uncompacted
  stop_server
  note "--- segments before compaction"
  segments_stats "$local_dir" segments-uncompacted
fi

if [[ $phases == *B* ]]; then
  # B. Compaction, then the suite on compacted data.
  local_dir="$out/local"
  start_server "$local_dir" b-compaction "${compact_on[@]}"
  cpu0=$(cpu_secs)
  t0=$(date +%s.%N)
  wait_merges_stop
  cpu1=$(cpu_secs)
  t1=$(date +%s.%N)
  curl -sf "$url/metrics" >"$out/compaction.metrics"
  stop_server
  m="$out/compaction.metrics"
  bytes_in=$(metric "$m" 'strata_compaction_bytes_total{direction="in"}')
  bytes_out=$(metric "$m" 'strata_compaction_bytes_total{direction="out"}')
  rows=$(metric "$m" strata_compaction_rows_total)
  merges=$(metric "$m" strata_compaction_merges_total)
  seg_in=$(metric "$m" 'strata_compaction_segments_total{direction="in"}')
  seg_out=$(metric "$m" 'strata_compaction_segments_total{direction="out"}')
  pass_s=$(metric "$m" strata_compaction_pass_seconds_sum)
  passes=$(metric "$m" strata_compaction_pass_seconds_count)
  merge_ms=$(sed 's/\x1b\[[0-9;]*m//g' "$out/b-compaction.serve.log" | grep 'segments merged' \
    | grep -o 'elapsed_ms=[0-9]*' | cut -d= -f2 | paste -sd+ | bc || echo 0)
  note "--- compaction"
  note "merges $merges ($seg_in segments -> $seg_out), rows $rows, bytes in $bytes_in, out $bytes_out"
  note "pass seconds (sum of $passes passes) $pass_s; merge seconds (sum of the per-merge elapsed_ms in the log) $(echo "scale=3; ${merge_ms:-0}/1000" | bc)"
  note "server CPU seconds from start of compaction to 15 s after the last merge: $(echo "$cpu1 - $cpu0" | bc) (wall $(echo "$t1 - $t0" | bc) s)"
  note "throughput per core (one merge at a time): $(echo "scale=2; $bytes_in / $pass_s / 1000000" | bc) MB/s in, $(echo "scale=2; $bytes_out / $pass_s / 1000000" | bc) MB/s out, $(echo "scale=0; $rows / $pass_s" | bc) rows/s"
  note "per CPU-second of the server: $(echo "scale=2; $bytes_in / ($cpu1 - $cpu0) / 1000000" | bc) MB/s in, $(echo "scale=0; $rows / ($cpu1 - $cpu0)" | bc) rows/s"
  start_server "$local_dir" b-compacted "${compact_off[@]}"
  suite_only "$local_dir" compacted
  stop_server
  note "--- segments after compaction"
  segments_stats "$local_dir" segments-compacted
fi

if [[ $phases == *C* ]]; then
  # C. S3: the same events, compacted, then cold vs warm read cache.
  eval "$(scripts/s3-server.sh start "$out/s3s")"
  s3_started=1
  s3_dir="$out/s3"
  rm -rf "$s3_dir" "$out"/c-*.serve.log
  prefix="bench-$(date +%s)"
  s3=(--set storage.backend=s3 --set "storage.s3.endpoint=$S3_TEST_ENDPOINT"
    --set "storage.s3.bucket=$S3_TEST_BUCKET" --set "storage.s3.prefix=$prefix"
    --set "storage.s3.access_key_id=$S3_TEST_ACCESS_KEY"
    --set "storage.s3.secret_access_key=$S3_TEST_SECRET_KEY" --set storage.s3.allow_http=true)
  start_server "$s3_dir" c-ingest "${s3[@]}" "${compact_on[@]}"
  "$bin" bench query --url "$url" --data-dir "$s3_dir" --events "$events" \
    --span-hours "$span" --only q8 --runs 1 --probe-interval-ms 0 --json "$out/s3-ingest.json" \
    | tee "$out/s3-ingest.txt"
  wait_merges_stop
  stop_server
  note "--- segments on S3 (prefix $prefix)"
  segments_stats "$s3_dir" segments-s3 "${s3[@]}"
  # The run's own range (it generated its events at its own time).
  for q in q1 q2 q3 q4 q5 q6 q7 q8 q9; do
    start_server "$s3_dir" "c-$q" "${s3[@]}" "${compact_off[@]}"
    curl -sf "$url/metrics" >"$out/s3-$q.before.metrics"
    "$bin" bench query --url "$url" --data-dir "$s3_dir" --queries-only \
      --range-from-json "$out/s3-ingest.json" --only "$q" --runs "$runs" \
      --json "$out/s3-$q.json" | tee "$out/s3-$q.txt"
    curl -sf "$url/metrics" >"$out/s3-$q.after.metrics"
    stop_server
  done
  note "--- S3 read cache per query (a fresh server per query; counters after 1 cold + $runs warm runs)"
  note "query cold_ms warm_median_ms cache_hits cache_misses hit_MB miss_MB store_gets store_read_MB"
  for q in q1 q2 q3 q4 q5 q6 q7 q8 q9; do
    a="$out/s3-$q.after.metrics" b="$out/s3-$q.before.metrics"
    d() { echo "$(metric "$a" "$1") - $(metric "$b" "$1")" | bc; }
    mb() { echo "scale=1; ($(metric "$a" "$1") - $(metric "$b" "$1")) / 1000000" | bc; }
    times=$(python3 -c 'import json,sys; r=json.load(open(sys.argv[1]))["queries"][0]; print(round(r["cold_ms"],1), round(r["median_ms"],1))' "$out/s3-$q.json")
    note "$q $times $(d 'strata_cache_requests_total{result="hit"}') $(d 'strata_cache_requests_total{result="miss"}') $(mb 'strata_cache_request_bytes_total{result="hit"}') $(mb 'strata_cache_request_bytes_total{result="miss"}') $(d 'strata_storage_requests_total{op="get"}') $(mb 'strata_storage_bytes_total{direction="read"}')"
  done
fi

if [ -f "$out/uncompacted.json" ] && [ -f "$out/compacted.json" ]; then
  note "--- local disk: uncompacted vs compacted (warm medians, ms)"
  python3 - "$out" <<'EOF' | tee -a "$summary"
import json, sys
out = sys.argv[1]
u = {q["id"]: q for q in json.load(open(f"{out}/uncompacted.json"))["queries"]}
c = {q["id"]: q for q in json.load(open(f"{out}/compacted.json"))["queries"]}
print("query uncompacted_cold compacted_cold uncompacted_median compacted_median compacted/uncompacted same_answer")
for i in sorted(u):
    a, b = u[i], c.get(i, {})
    ratio = b.get("median_ms", float("nan")) / a["median_ms"]
    print(i, round(a["cold_ms"], 1), round(b.get("cold_ms", float("nan")), 1),
          round(a["median_ms"], 1), round(b.get("median_ms", float("nan")), 1),
          f"{ratio:.2f}", a["digest"] == b.get("digest"))
EOF
fi
log "done; summary in $summary"
