#!/usr/bin/env python3
"""The `strata bench query` suite on ClickHouse (chDB) and DuckDB.

Loads the events `strata bench query --export PATH` exported (NDJSON, one
stored event per line) into chDB and DuckDB, runs the same nine queries in
their SQL with the parameters Strata used (read from its `--json` results),
one cold run and then RUNS warm runs each, and prints Strata's, chDB's and
DuckDB's median times side by side with the ratios. It also checks that the
three engines gave the same answers (counts, groups, newest timestamps;
percentiles within a tolerance).

usage: query_suite.py --strata strata-q.json --data strata-q.ndjson
                      [--runs 5] [--engines chdb,duckdb] [--workdir DIR]
                      [--json OUT]

Needs `pip install chdb duckdb`. See bench/README.md.
"""

import argparse
import datetime as dt
import json
import os
import shutil
import statistics
import sys
import tempfile
import time

# Columns of the export read by both engines; `attributes` is kept as JSON
# text and the measures the suite needs are flattened into columns.
COLUMNS = "id, timestamp, status, service, host, source, trace_id, message, tags, attributes"

AGGREGATIONS = {"q1", "q2", "q3", "q5", "q6", "q7", "q9"}


def ms_iso(ms):
    """Epoch ms as Strata prints search timestamps: 2024-01-02T03:04:05.678Z."""
    t = dt.datetime.fromtimestamp(ms / 1000, tz=dt.timezone.utc)
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{int(ms) % 1000:03d}Z"


def queries(p, dialect):
    """The nine queries, as (id, shape, sql). `p` holds Strata's parameters."""
    ch = dialect == "chdb"
    if ch:
        rng = (f"timestamp >= fromUnixTimestamp64Milli({p['from_ms']}) "
               f"AND timestamp < fromUnixTimestamp64Milli({p['to_ms']})")
        minute = "toStartOfMinute(timestamp)"
        five = "toStartOfInterval(timestamp, INTERVAL 5 MINUTE)"
        count = "count()"
        pct = "quantiles(0.5, 0.95, 0.99)(duration)"
        token = f"hasToken(lower(message), '{p['token'].lower()}')"
        ts_ms = "toUnixTimestamp64Milli(timestamp)"
    else:
        rng = (f"timestamp >= epoch_ms({p['from_ms']}) "
               f"AND timestamp < epoch_ms({p['to_ms']})")
        minute = "time_bucket(INTERVAL 1 MINUTE, timestamp)"
        five = "time_bucket(INTERVAL 5 MINUTE, timestamp)"
        count = "count(*)"
        pct = "quantile_cont(duration, [0.5, 0.95, 0.99])"
        token = f"message ILIKE '%{p['token']}%'"
        ts_ms = "epoch_ms(timestamp)"
    phrase = p["phrase"].replace("'", "''")
    service = p["service"].replace("'", "''")
    host = p["host"].replace("'", "''")
    newest = f"SELECT {COLUMNS}, {ts_ms} AS ts_ms FROM logs WHERE {rng} AND {{}} ORDER BY timestamp DESC LIMIT 100"
    return [
        ("q1", "timeseries",
         f"SELECT status, {minute} AS t, {count} AS c FROM logs WHERE {rng} GROUP BY status, t"),
        ("q2", "top",
         f"SELECT service, {count} AS c FROM logs WHERE {rng} AND status = 'error' "
         f"GROUP BY service ORDER BY c DESC, service ASC LIMIT 10"),
        ("q3", "percentiles",
         f"SELECT service, {pct} AS p FROM logs WHERE {rng} GROUP BY service"),
        ("q4", "search", newest.format(token)),
        ("q5", "scalar",
         f"SELECT {count} FROM logs WHERE {rng} AND message ILIKE '%{phrase}%'"),
        ("q6", "scalar",
         f"SELECT {count} FROM logs WHERE {rng} AND status_code >= 500 AND service = '{service}'"),
        ("q7", "scalar",
         f"SELECT count(DISTINCT usr_id) FROM logs WHERE {rng}"),
        ("q8", "search", newest.format(f"host = '{host}'")),
        ("q9", "timeseries",
         f"SELECT service, {five} AS t, {count} AS c FROM logs WHERE {rng} "
         f"AND env = 'prod' AND status = 'error' GROUP BY service, t"),
    ]


def digest(shape, rows, service):
    """The same summary of an answer as `strata bench query` records."""
    if shape == "timeseries":
        return {"groups": len({r[0] for r in rows}), "points": len(rows),
                "total": int(sum(r[2] for r in rows))}
    if shape == "top":
        return {"top": [[r[0], int(r[1])] for r in rows]}
    if shape == "percentiles":
        of = next((list(r[1]) for r in rows if r[0] == service), None)
        return {"groups": len(rows), "service": service, "p50_p95_p99": of}
    if shape == "search":
        return {"hits": len(rows),
                "newest": ms_iso(rows[0][-1]) if rows else None,
                "oldest": ms_iso(rows[-1][-1]) if rows else None}
    return {"value": int(rows[0][0]) if rows else 0}


def same(shape, a, b, tolerance=0.05):
    """'=' when two digests agree, '~' when only percentiles differ a little,
    else a short description of the difference."""
    if a is None or b is None:
        return "?"
    if shape == "percentiles":
        if a.get("groups") != b.get("groups"):
            return f"groups {a.get('groups')} vs {b.get('groups')}"
        x, y = a.get("p50_p95_p99"), b.get("p50_p95_p99")
        if x is None or y is None:
            return "=" if x == y else "missing"
        worst = max(abs(float(u) - float(v)) / max(abs(float(v)), 1e-9) for u, v in zip(x, y))
        return "=" if worst == 0 else ("~" if worst <= tolerance else f"percentiles off by {worst:.0%}")
    return "=" if a == b else f"{json.dumps(a)[:80]} vs {json.dumps(b)[:80]}"


class ChDB:
    name = "chdb"

    def __init__(self, workdir):
        from chdb import session
        self.path = os.path.join(workdir, "chdb")
        self.session = session.Session(self.path)

    def load(self, ndjson):
        s = self.session
        s.query("DROP TABLE IF EXISTS logs")
        # A ClickHouse logs schema in the style of the OpenTelemetry
        # exporter's: sorted by service then time, a token bloom filter on
        # the message, plus a bloom filter on host.
        s.query("""
            CREATE TABLE logs (
                id String,
                timestamp DateTime64(9, 'UTC'),
                status LowCardinality(String),
                service LowCardinality(String),
                host LowCardinality(String),
                source LowCardinality(String),
                trace_id String,
                message String,
                tags Array(LowCardinality(String)),
                attributes String,
                env LowCardinality(Nullable(String)),
                duration Nullable(Float64),
                status_code Nullable(Int64),
                usr_id Nullable(String),
                INDEX idx_message lower(message) TYPE tokenbf_v1(32768, 3, 0) GRANULARITY 1,
                INDEX idx_host host TYPE bloom_filter GRANULARITY 1
            ) ENGINE = MergeTree ORDER BY (service, timestamp)""")
        path = os.path.abspath(ndjson).replace("'", "\\'")
        s.query(f"""
            INSERT INTO logs
            SELECT id, parseDateTime64BestEffort(timestamp, 9, 'UTC'), status,
                   ifNull(service, ''), ifNull(host, ''), ifNull(source, ''), ifNull(trace_id, ''),
                   message, tags, attributes,
                   nullIf(substring(arrayFirst(t -> startsWith(t, 'env:'), tags), 5), ''),
                   JSONExtract(attributes, 'duration', 'Nullable(Float64)'),
                   JSONExtract(attributes, 'http', 'status_code', 'Nullable(Int64)'),
                   nullIf(JSONExtractString(attributes, 'usr', 'id'), '')
            FROM file('{path}', 'JSONEachRow',
                      'id String, timestamp String, status String, service Nullable(String),
                       host Nullable(String), source Nullable(String), trace_id Nullable(String),
                       message String, tags Array(String), attributes String')
            SETTINGS input_format_json_read_objects_as_strings = 1""")
        s.query("OPTIMIZE TABLE logs FINAL")
        return self.rows()

    def rows(self):
        return self.run("SELECT count() FROM logs")[0][0]

    def run(self, sql):
        result = self.session.query(sql, "JSONCompact")
        return json.loads(result.bytes())["data"]

    def close(self):
        try:
            self.session.close()
        except Exception:  # noqa: BLE001 - best effort
            pass


class DuckDB:
    name = "duckdb"

    def __init__(self, workdir):
        import duckdb
        self.con = duckdb.connect(os.path.join(workdir, "bench.duckdb"))

    def load(self, ndjson):
        import duckdb
        path = os.path.abspath(ndjson).replace("'", "''")
        # DuckDB 1.3 added `lambda x: ...` and later releases refuse `x -> ...`.
        version = tuple(int(v) for v in duckdb.__version__.split(".")[:2] if v.isdigit())
        env_tag = ("lambda t: starts_with(t, 'env:')" if version >= (1, 3)
                   else "t -> starts_with(t, 'env:')")
        self.con.execute("DROP TABLE IF EXISTS logs")
        self.con.execute(f"""
            CREATE TABLE logs AS
            SELECT id, CAST(timestamp AS TIMESTAMP) AS timestamp, status,
                   coalesce(service, '') AS service, coalesce(host, '') AS host,
                   coalesce(source, '') AS source, coalesce(trace_id, '') AS trace_id,
                   message, tags, CAST(attributes AS VARCHAR) AS attributes,
                   substr(list_filter(tags, {env_tag})[1], 5) AS env,
                   CAST(json_extract(attributes, '$.duration') AS DOUBLE) AS duration,
                   CAST(json_extract(attributes, '$.http.status_code') AS BIGINT) AS status_code,
                   json_extract_string(attributes, '$.usr.id') AS usr_id
            FROM read_json('{path}', format = 'newline_delimited', columns = {{
                id: 'VARCHAR', timestamp: 'VARCHAR', status: 'VARCHAR', service: 'VARCHAR',
                host: 'VARCHAR', source: 'VARCHAR', trace_id: 'VARCHAR', message: 'VARCHAR',
                tags: 'VARCHAR[]', attributes: 'JSON'}})
            ORDER BY timestamp""")
        self.con.execute("CHECKPOINT")
        return self.rows()

    def rows(self):
        return self.run("SELECT count(*) FROM logs")[0][0]

    def run(self, sql):
        return self.con.execute(sql).fetchall()

    def close(self):
        self.con.close()


def time_queries(engine, params, runs):
    out = {}
    for qid, shape, sql in queries(params, engine.name):
        try:
            start = time.perf_counter()
            rows = engine.run(sql)
            cold = (time.perf_counter() - start) * 1e3
            warm = []
            for _ in range(runs):
                start = time.perf_counter()
                rows = engine.run(sql)
                warm.append((time.perf_counter() - start) * 1e3)
            out[qid] = {"sql": sql, "cold_ms": cold, "runs_ms": warm,
                        "median_ms": statistics.median(warm), "min_ms": min(warm),
                        "max_ms": max(warm), "digest": digest(shape, rows, params["service"])}
        except Exception as error:  # noqa: BLE001 - report and go on
            out[qid] = {"sql": sql, "error": str(error)}
        print(f"query_suite: {engine.name} {qid} "
              f"{fmt(out[qid].get('median_ms'))} ms", file=sys.stderr)
    return out


def fmt(ms):
    if ms is None:
        return "-"
    if ms < 10:
        return f"{ms:.2f}"
    if ms < 100:
        return f"{ms:.1f}"
    return f"{ms:.0f}"


def ratio(a, b):
    if a is None or b is None or b <= 0:
        return "-"
    return f"{a / b:.2f}x"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--strata", required=True, help="results of strata bench query --json")
    parser.add_argument("--data", required=True, help="NDJSON of strata bench query --export")
    parser.add_argument("--runs", type=int, default=None,
                        help="warm runs per query [default: Strata's]")
    parser.add_argument("--engines", default="chdb,duckdb")
    parser.add_argument("--workdir", default=None,
                        help="where the engines keep their tables [default: a temp dir, deleted]")
    parser.add_argument("--json", default=None, help="write the combined results here")
    args = parser.parse_args()

    strata = json.load(open(args.strata))
    params = strata["params"]
    runs = args.runs or int(strata.get("runs", 5))
    sq = {q["id"]: q for q in strata["queries"]}
    workdir = args.workdir or tempfile.mkdtemp(prefix="strata-query-suite-")
    os.makedirs(workdir, exist_ok=True)
    engines = {"chdb": ChDB, "duckdb": DuckDB}
    results, loads = {}, {}
    try:
        for name in [e.strip() for e in args.engines.split(",") if e.strip()]:
            engine = engines[name](workdir)
            try:
                print(f"query_suite: loading {args.data} into {name}", file=sys.stderr)
                start = time.perf_counter()
                rows = engine.load(args.data)
                loads[name] = {"rows": rows, "secs": time.perf_counter() - start}
                print(f"query_suite: {name}: {rows} rows in {loads[name]['secs']:.1f} s",
                      file=sys.stderr)
                results[name] = time_queries(engine, params, runs)
            finally:
                engine.close()
    finally:
        if args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)

    names = list(results)
    shapes = {qid: shape for qid, shape, _ in queries(params, "duckdb")}
    print(f"query suite: {strata['events']} events generated, "
          + ", ".join(f"{n} loaded {loads[n]['rows']} rows in {loads[n]['secs']:.1f} s" for n in names)
          + f"; median of {runs} warm runs, ms")
    header = f"{'id':<3} {'query':<44} {'strata':>8}" + "".join(f" {n:>8}" for n in names)
    header += "".join(f" {'strata/' + n:>14}" for n in names) + "  answers"
    print(header)
    notes, slower = [], []
    for qid, q in sq.items():
        s_ms = q.get("median_ms")
        line = f"{qid:<3} {q['name']:<44} {fmt(s_ms):>8}"
        for n in names:
            line += f" {fmt(results[n].get(qid, {}).get('median_ms')):>8}"
        for n in names:
            line += f" {ratio(s_ms, results[n].get(qid, {}).get('median_ms')):>14}"
        checks = []
        for n in names:
            r = results[n].get(qid, {})
            if "error" in r:
                checks.append(f"{n}: ERROR")
                notes.append(f"{qid} {n}: {r['error'][:300]}")
                continue
            verdict = same(shapes[qid], q.get("digest"), r.get("digest"))
            checks.append(f"{n}{verdict}" if verdict in ("=", "~", "?") else f"{n}:DIFF")
            if verdict not in ("=", "~"):
                notes.append(f"{qid} strata vs {n}: {verdict}")
        if q.get("status") not in (None, "done"):
            checks.append(f"strata {q['status'].upper()}!")
        line += "  " + " ".join(checks)
        print(line)
        ch = results.get("chdb", {}).get(qid, {}).get("median_ms")
        if qid in AGGREGATIONS and s_ms is not None and ch is not None and s_ms > ch:
            slower.append(f"{qid} ({s_ms / ch:.2f}x)")
    print("(strata/X < 1: Strata is faster. answers: = same as Strata, ~ percentiles within 5%)")
    if "chdb" in results:
        print("target     every aggregation no slower than chDB: "
              + ("met" if not slower else "MISSED by " + ", ".join(slower)))
    for note in notes:
        print("note       " + note)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"strata": strata, "loads": loads, "engines": results}, f, indent=2)
            f.write("\n")


if __name__ == "__main__":
    main()
