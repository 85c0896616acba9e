//! End-to-end tests of the metrics platform over HTTP and UDP against the
//! real `strata` binary (issue 5), in Rust only:
//!
//! - the Datadog Agent's protobuf `MetricPayload` on `/api/v2/series`
//!   (zstd, deflate, identity) and `SketchPayload` on `/api/beta/sketches`,
//!   assembled here byte by byte from `DataDog/agent-payload`'s
//!   `agent_payload.proto` (field numbers in `strata_ingest::agent_payload`),
//!   read back with `GET /api/v1/query`;
//! - distribution summaries (count/min/max/sum/avg) after a restart;
//! - tenant isolation of points, queries, metric lists and DogStatsD listeners;
//! - errors: 4xx with `{"errors":[…]}` for bad keys, bodies, encodings, sizes
//!   and queries;
//! - the intake window (`metrics.max_past_secs`);
//! - `kill -9`: every acknowledged point is answered after a restart.

mod common;

use std::collections::BTreeMap;
use std::io::Write;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use common::metrics::{by_group, now_s, query, rank_quantile, single, values};
use common::{admin, get_json, metrics_query, post, prometheus_sum, Keys, Server};

/// A minute boundary two minutes back: queries from here with a 60 s rollup
/// have whole buckets, the first starting exactly at `t0`.
fn minute_t0() -> i64 {
    let now = now_s();
    now - now.rem_euclid(60) - 120
}

fn assert_close(actual: f64, expected: f64, relative: f64, what: &str) {
    assert!(
        (actual - expected).abs() <= relative * expected.abs(),
        "{what}: {actual} is not within {relative} of {expected}"
    );
}

fn zstd(data: &[u8]) -> Vec<u8> {
    zstd::encode_all(data, 3).unwrap()
}

fn deflate(data: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(data).unwrap();
    encoder.finish().unwrap()
}

/// POSTs to `path` with the API key and `headers`; (status, body as JSON).
fn send(
    server: &Server,
    key: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (u16, Value) {
    let mut all = vec![("DD-API-KEY", key)];
    all.extend_from_slice(headers);
    let (status, text, _) = post(&server.url(path), &all, body);
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

const PROTOBUF: (&str, &str) = ("Content-Type", "application/x-protobuf");
const JSON: (&str, &str) = ("Content-Type", "application/json");

/// Protobuf wire format, enough for `agent_payload.proto`.
mod pb {
    pub fn varint(out: &mut Vec<u8>, mut v: u64) {
        while v >= 0x80 {
            out.push((v as u8) | 0x80);
            v >>= 7;
        }
        out.push(v as u8);
    }

    fn tag(out: &mut Vec<u8>, field: u32, wire: u64) {
        varint(out, (u64::from(field) << 3) | wire);
    }

    pub fn bytes(out: &mut Vec<u8>, field: u32, data: &[u8]) {
        tag(out, field, 2);
        varint(out, data.len() as u64);
        out.extend_from_slice(data);
    }

    pub fn string(out: &mut Vec<u8>, field: u32, s: &str) {
        bytes(out, field, s.as_bytes());
    }

    pub fn int64(out: &mut Vec<u8>, field: u32, v: i64) {
        tag(out, field, 0);
        varint(out, v as u64);
    }

    pub fn double(out: &mut Vec<u8>, field: u32, v: f64) {
        tag(out, field, 1);
        out.extend_from_slice(&v.to_le_bytes());
    }

    /// `repeated sint32`, packed (zigzag varints).
    pub fn packed_sint32(out: &mut Vec<u8>, field: u32, values: &[i32]) {
        let mut body = Vec::new();
        for &v in values {
            varint(&mut body, u64::from(((v << 1) ^ (v >> 31)) as u32));
        }
        bytes(out, field, &body);
    }

    /// `repeated uint32`, packed.
    pub fn packed_uint32(out: &mut Vec<u8>, field: u32, values: &[u32]) {
        let mut body = Vec::new();
        for &v in values {
            varint(&mut body, u64::from(v));
        }
        bytes(out, field, &body);
    }
}

/// `MetricPayload.MetricType`.
const COUNT: i64 = 1;
const RATE: i64 = 2;
const GAUGE: i64 = 3;

/// One `MetricPayload.MetricSeries`.
struct AgentSeries<'a> {
    metric: &'a str,
    host: &'a str,
    tags: &'a [&'a str],
    kind: i64,
    interval: i64,
    unit: &'a str,
    points: Vec<(i64, f64)>,
}

/// `MetricPayload{ series = 1 }`, the way the Agent fills it (host as a
/// `Resource{type:"host"}`, origin metadata, source type name).
fn metric_payload(series: &[AgentSeries<'_>]) -> Vec<u8> {
    let mut payload = Vec::new();
    for s in series {
        let mut m = Vec::new();
        let mut resource = Vec::new();
        pb::string(&mut resource, 1, "host");
        pb::string(&mut resource, 2, s.host);
        pb::bytes(&mut m, 1, &resource);
        pb::string(&mut m, 2, s.metric);
        for tag in s.tags {
            pb::string(&mut m, 3, tag);
        }
        for &(ts, value) in &s.points {
            let mut point = Vec::new();
            pb::double(&mut point, 1, value);
            pb::int64(&mut point, 2, ts);
            pb::bytes(&mut m, 4, &point);
        }
        pb::int64(&mut m, 5, s.kind);
        if !s.unit.is_empty() {
            pb::string(&mut m, 6, s.unit);
        }
        pb::string(&mut m, 7, "System");
        if s.interval != 0 {
            pb::int64(&mut m, 8, s.interval);
        }
        let mut origin = Vec::new();
        pb::int64(&mut origin, 4, 10);
        pb::int64(&mut origin, 5, 11);
        pb::int64(&mut origin, 6, 12);
        let mut metadata = Vec::new();
        pb::bytes(&mut metadata, 1, &origin);
        pb::bytes(&mut m, 9, &metadata);
        pb::bytes(&mut payload, 1, &m);
    }
    payload
}

/// The Agent's sketch key of a value ≥ 1e-9 (`pkg/quantile`: eps 1/128,
/// γ = 1 + 2·eps, bias 1338, keys rounded half to even).
fn agent_key(v: f64) -> i32 {
    let gamma_ln = (2.0_f64 / 128.0).ln_1p();
    (v.ln() / gamma_ln).round_ties_even() as i32 + 1338
}

/// One `Sketch` with one `Dogsketch` per `(ts, values)`.
fn sketch(metric: &str, host: &str, tags: &[&str], points: &[(i64, Vec<f64>)]) -> Vec<u8> {
    let mut s = Vec::new();
    pb::string(&mut s, 1, metric);
    pb::string(&mut s, 2, host);
    for tag in tags {
        pb::string(&mut s, 4, tag);
    }
    for (ts, values) in points {
        let mut bins: BTreeMap<i32, u32> = BTreeMap::new();
        for &v in values {
            *bins.entry(agent_key(v)).or_default() += 1;
        }
        let (k, n): (Vec<i32>, Vec<u32>) = bins.into_iter().unzip();
        let sum: f64 = values.iter().sum();
        let min = values.iter().copied().fold(f64::INFINITY, f64::min);
        let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let mut d = Vec::new();
        pb::int64(&mut d, 1, *ts);
        pb::int64(&mut d, 2, values.len() as i64);
        pb::double(&mut d, 3, min);
        pb::double(&mut d, 4, max);
        pb::double(&mut d, 5, sum / values.len() as f64);
        pb::double(&mut d, 6, sum);
        pb::packed_sint32(&mut d, 7, &k);
        pb::packed_uint32(&mut d, 8, &n);
        pb::bytes(&mut s, 7, &d);
    }
    s
}

/// `SketchPayload{ sketches = 1, metadata = 2 }`.
fn sketch_payload(sketches: &[Vec<u8>]) -> Vec<u8> {
    let mut payload = Vec::new();
    for s in sketches {
        pb::bytes(&mut payload, 1, s);
    }
    let mut metadata = Vec::new();
    pb::string(&mut metadata, 1, "7.99.0");
    pb::string(&mut metadata, 2, "UTC");
    pb::bytes(&mut payload, 2, &metadata);
    payload
}

/// The Agent's series protobuf (zstd, deflate and identity bodies) is stored
/// with its types, hosts, tags and intervals: gauges average, counts sum (and
/// `as_rate()` divides by the bucket), rates `as_count()` multiply by the
/// interval, scopes and groups select by tag and host.
#[test]
fn agent_protobuf_series_with_zstd_and_deflate_are_queryable() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]);
    let keys = server.keys();
    let t0 = minute_t0();
    let first = metric_payload(&[
        AgentSeries {
            metric: "agent.cpu",
            host: "a",
            tags: &["env:prod", "service:web"],
            kind: GAUGE,
            interval: 0,
            unit: "percent",
            points: vec![(t0, 10.0), (t0 + 20, 30.0)],
        },
        AgentSeries {
            metric: "agent.requests",
            host: "a",
            tags: &["env:prod", "service:web"],
            kind: COUNT,
            interval: 10,
            unit: "",
            points: vec![(t0, 5.0), (t0 + 10, 7.0)],
        },
        AgentSeries {
            metric: "agent.bytes",
            host: "a",
            tags: &["env:prod"],
            kind: RATE,
            interval: 10,
            unit: "byte",
            points: vec![(t0, 2.5)],
        },
    ]);
    let second = metric_payload(&[
        AgentSeries {
            metric: "agent.cpu",
            host: "b",
            tags: &["env:prod", "service:db"],
            kind: GAUGE,
            interval: 0,
            unit: "percent",
            points: vec![(t0 + 5, 50.0)],
        },
        AgentSeries {
            metric: "agent.requests",
            host: "b",
            tags: &["env:prod", "service:db"],
            kind: COUNT,
            interval: 10,
            unit: "",
            points: vec![(t0 + 5, 100.0)],
        },
    ]);
    let third = metric_payload(&[AgentSeries {
        metric: "agent.cpu",
        host: "c",
        tags: &["env:staging"],
        kind: GAUGE,
        interval: 0,
        unit: "",
        points: vec![(t0 + 1, 1.0)],
    }]);
    // Our bytes are the Agent's message: the server's own decoder reads them.
    let decoded = strata_ingest::decode_series_v2_protobuf(
        &first,
        now_s(),
        &strata_ingest::MetricsLimits::default(),
    )
    .expect("the hand-assembled MetricPayload decodes");
    assert_eq!(decoded.batch.point_count(), 5);

    for (body, encoding) in [
        (zstd(&first), "zstd"),
        (deflate(&second), "deflate"),
        (third.clone(), "identity"),
    ] {
        let (status, answer) = send(
            &server,
            &keys.api_key,
            "/api/v2/series",
            &[PROTOBUF, ("Content-Encoding", encoding)],
            &body,
        );
        assert_eq!(status, 202, "{encoding}: {answer}");
        assert_eq!(answer, json!({"errors": []}), "{encoding}");
    }

    let to = now_s() + 60;
    let q = |text: &str| query(&server, &keys, t0, to, text);
    assert_eq!(
        by_group(&q("avg:agent.cpu{env:prod} by {host}.rollup(avg, 60)")),
        BTreeMap::from([("host:a".into(), 20.0), ("host:b".into(), 50.0)])
    );
    assert_eq!(single(&q("max:agent.cpu{*}.rollup(max, 60)")), 50.0);
    assert_eq!(single(&q("min:agent.cpu{*}.rollup(min, 60)")), 1.0);
    assert_eq!(
        single(&q(
            "avg:agent.cpu{env:prod AND NOT service:db}.rollup(avg, 60)"
        )),
        20.0
    );
    assert_eq!(
        single(&q("avg:agent.cpu{env:staging}.rollup(avg, 60)")),
        1.0
    );
    assert_eq!(
        by_group(&q("avg:agent.cpu{*} by {service}.rollup(avg, 60)")),
        BTreeMap::from([
            ("service:N/A".into(), 1.0),
            ("service:db".into(), 50.0),
            ("service:web".into(), 20.0),
        ])
    );
    assert_eq!(single(&q("sum:agent.requests{*}.rollup(sum, 60)")), 112.0);
    assert_close(
        single(&q("sum:agent.requests{*}.rollup(sum, 60).as_rate()")),
        112.0 / 60.0,
        1e-12,
        "as_rate",
    );
    assert_eq!(
        single(&q("sum:agent.bytes{*}.rollup(sum, 60).as_count()")),
        25.0,
        "a rate of 2.5/s over a 10 s interval"
    );
    assert_eq!(
        single(&q("sum:agent.requests{*}.rollup(sum, 60) / 2")),
        56.0
    );
    let answer = q("avg:agent.cpu{host:a}.rollup(avg, 60)");
    let series = &answer["series"][0];
    assert_eq!(series["pointlist"], json!([[t0 * 1000, 20.0]]));
    assert_eq!(series["interval"], 60);
    assert_eq!(series["start"], t0 * 1000);
    assert_eq!(series["length"], 1);
    assert_eq!(series["aggr"], "avg");

    let (status, listed) = get_json(
        &format!("{}?from={}", server.url("/api/v1/metrics"), t0 - 60),
        &[
            ("DD-API-KEY", &keys.api_key),
            ("DD-APPLICATION-KEY", &keys.app_key),
        ],
    );
    assert_eq!(status, 200, "{listed}");
    for name in ["agent.cpu", "agent.requests", "agent.bytes"] {
        assert!(
            listed["metrics"]
                .as_array()
                .unwrap()
                .iter()
                .any(|m| m == name),
            "{name}: {listed}"
        );
    }
}

/// Agent `SketchPayload`s (DDSketch bins) from two hosts merge: percentiles
/// are within the sketch's accuracy of the exact rank values, and
/// count/min/max/sum/avg are exact, merged or grouped by host.
#[test]
fn agent_sketch_payload_answers_percentile_queries() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]);
    let keys = server.keys();
    let t0 = minute_t0();
    let a: Vec<f64> = (1..=100).map(f64::from).collect();
    let b: Vec<f64> = (101..=1000).map(f64::from).collect();
    let body = sketch_payload(&[
        sketch(
            "agent.latency",
            "a",
            &["env:prod"],
            &[(t0, a.clone()), (t0 + 10, vec![2000.0])],
        ),
        sketch("agent.latency", "b", &["env:prod"], &[(t0 + 20, b.clone())]),
    ]);
    let decoded = strata_ingest::decode_sketches_protobuf(
        &body,
        now_s(),
        &strata_ingest::MetricsLimits::default(),
    )
    .expect("the hand-assembled SketchPayload decodes");
    assert_eq!(decoded.batch.point_count(), 3);
    let (status, answer) = send(
        &server,
        &keys.api_key,
        "/api/beta/sketches",
        &[PROTOBUF, ("Content-Encoding", "zstd")],
        &zstd(&body),
    );
    assert_eq!(status, 202, "{answer}");

    let mut all: Vec<f64> = a.iter().chain(&b).copied().collect();
    all.push(2000.0);
    all.sort_by(f64::total_cmp);
    let to = now_s() + 60;
    let q = |text: &str| single(&query(&server, &keys, t0, to, text));
    for (aggregator, quantile) in [
        ("p50", 0.5),
        ("p75", 0.75),
        ("p90", 0.9),
        ("p95", 0.95),
        ("p99", 0.99),
    ] {
        assert_close(
            q(&format!("{aggregator}:agent.latency{{*}}.rollup(60)")),
            rank_quantile(&all, quantile),
            0.025,
            aggregator,
        );
    }
    assert_eq!(q("count:agent.latency{*}.rollup(60)"), 1001.0);
    assert_eq!(q("max:agent.latency{*}.rollup(60)"), 2000.0);
    assert_eq!(q("min:agent.latency{*}.rollup(60)"), 1.0);
    let sum: f64 = all.iter().sum();
    assert_eq!(q("sum:agent.latency{*}.rollup(60)"), sum);
    assert_close(
        q("avg:agent.latency{*}.rollup(60)"),
        sum / 1001.0,
        1e-12,
        "avg",
    );
    let mut on_a = a.clone();
    on_a.push(2000.0);
    assert_close(
        q("p99:agent.latency{host:a}.rollup(60)"),
        rank_quantile(&on_a, 0.99),
        0.025,
        "p99 on host a",
    );
    assert_eq!(
        by_group(&query(
            &server,
            &keys,
            t0,
            to,
            "max:agent.latency{*} by {host}.rollup(60)"
        )),
        BTreeMap::from([("host:a".into(), 2000.0), ("host:b".into(), 1000.0)])
    );
    // Without a rollup the default interval splits the three dogsketches over
    // buckets; the counts still add up.
    let counts = query(&server, &keys, t0, to, "count:agent.latency{*}");
    assert_eq!(values(&counts).iter().sum::<f64>(), 1001.0, "{counts}");
}

/// Distribution summaries read the same before and after a restart (after
/// SIGTERM the points come from metric segments and their rollup rows, not
/// the memtable): count, min, max, sum, avg and p50 of a sketch sent as an
/// Agent sketch and as distribution points, with 60 s, 300 s and 3600 s
/// buckets. (An earlier build answered count 1 and min = max = avg = sum
/// after a restart.)
#[test]
fn distribution_summaries_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]);
    let keys = server.keys();
    let t0 = minute_t0();
    let values: Vec<f64> = (1..=100).map(f64::from).collect();
    let body = sketch_payload(&[sketch(
        "restart.sketch",
        "a",
        &[],
        &[(t0 + 5, values.clone())],
    )]);
    let (status, answer) = send(
        &server,
        &keys.api_key,
        "/api/beta/sketches",
        &[PROTOBUF],
        &body,
    );
    assert_eq!(status, 202, "{answer}");
    let points = json!({"series": [{"metric": "restart.points", "host": "a",
        "points": [[t0 + 5, [1.0, 2.0, 3.0, 4.0, 10.0]]]}]});
    let (status, answer) = send(
        &server,
        &keys.api_key,
        "/api/v1/distribution_points",
        &[JSON],
        points.to_string().as_bytes(),
    );
    assert_eq!(status, 202, "{answer}");

    let expected = [
        ("restart.sketch", [100.0, 1.0, 100.0, 5050.0, 50.5]),
        ("restart.points", [5.0, 1.0, 10.0, 20.0, 4.0]),
    ];
    // From an hour boundary, so that 60 s, 300 s (whole 5-minute rollup rows
    // in segments) and 3600 s buckets each hold the one point.
    let from = t0 - t0.rem_euclid(3600);
    let check = |server: &Server, when: &str| {
        let to = now_s() + 60;
        for rollup in [60, 300, 3600] {
            for (metric, [count, min, max, sum, avg]) in expected {
                let q = |aggregator: &str| {
                    single(&query(
                        server,
                        &keys,
                        from,
                        to,
                        &format!("{aggregator}:{metric}{{*}}.rollup({rollup})"),
                    ))
                };
                let got = [q("count"), q("min"), q("max"), q("sum"), q("avg")];
                assert_eq!(
                    got,
                    [count, min, max, sum, avg],
                    "{metric} {when}, rollup {rollup}: [count, min, max, sum, avg]"
                );
            }
            let p50 = single(&query(
                server,
                &keys,
                from,
                to,
                &format!("p50:restart.sketch{{*}}.rollup({rollup})"),
            ));
            assert_close(
                p50,
                rank_quantile(&values, 0.5),
                0.025,
                &format!("p50 {when}, rollup {rollup}"),
            );
        }
    };
    check(&server, "before the restart");
    let (status, stderr) = server.terminate();
    assert!(status.success(), "{stderr}");
    let server = Server::start(dir.path(), &[]);
    check(&server, "after the restart");
}

/// Runs `strata admin key create` for `tenant`; the secret.
fn create_key(dir: &std::path::Path, tenant: &str, kind: &str) -> String {
    let output = admin(&[
        "key",
        "create",
        "--data-dir",
        dir.to_str().unwrap(),
        "--tenant",
        tenant,
        "--kind",
        kind,
    ]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap().trim().to_string()
}

/// Waits until the running server knows an API key (keys reach it within
/// about a second).
fn wait_for_key(server: &Server, key: &str) {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let (status, _) = get_json(&server.url("/api/v1/validate"), &[("DD-API-KEY", key)]);
        if status == 200 || Instant::now() > deadline {
            assert_eq!(status, 200, "the new key never worked");
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn list_metrics(server: &Server, keys: &Keys, from: i64) -> Vec<String> {
    let (status, listed) = get_json(
        &format!("{}?from={from}", server.url("/api/v1/metrics")),
        &[
            ("DD-API-KEY", &keys.api_key),
            ("DD-APPLICATION-KEY", &keys.app_key),
        ],
    );
    assert_eq!(status, 200, "{listed}");
    listed["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m.as_str().unwrap().to_string())
        .collect()
}

/// Two tenants send the same metric name: each one's queries, groups and
/// metric list see only its own points, mixed keys are refused, and a
/// DogStatsD listener given tenant B's key (`--statsd-api-key`) writes into
/// tenant B only.
#[test]
fn tenants_see_only_their_own_metrics() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]);
    let default = server.keys();
    let d = dir.path().to_str().unwrap();
    let created = admin(&["tenant", "create", "--data-dir", d, "acme"]);
    assert!(
        created.status.success(),
        "{}",
        String::from_utf8_lossy(&created.stderr)
    );
    let acme = Keys {
        api_key: create_key(dir.path(), "acme", "api"),
        app_key: create_key(dir.path(), "acme", "app"),
    };
    wait_for_key(&server, &acme.api_key);

    let t0 = minute_t0();
    let body = |owner: &str, value: f64, only: &str| {
        json!({"series": [
            {"metric": "shared.metric", "type": 3, "points": [{"timestamp": t0, "value": value}],
             "resources": [{"name": "h1", "type": "host"}], "tags": [format!("owner:{owner}")]},
            {"metric": only, "type": 3, "points": [{"timestamp": t0, "value": value}]}
        ]})
        .to_string()
    };
    for (keys, owner, value, only) in [
        (&default, "default", 1.0, "default.only"),
        (&acme, "acme", 2.0, "acme.only"),
    ] {
        let (status, answer) = send(
            &server,
            &keys.api_key,
            "/api/v2/series",
            &[JSON],
            body(owner, value, only).as_bytes(),
        );
        assert_eq!(status, 202, "{owner}: {answer}");
    }

    let to = now_s() + 60;
    for (keys, owner, value, mine, theirs) in [
        (&default, "default", 1.0, "default.only", "acme.only"),
        (&acme, "acme", 2.0, "acme.only", "default.only"),
    ] {
        let q = |text: &str| query(&server, keys, t0, to, text);
        assert_eq!(
            single(&q("avg:shared.metric{*}.rollup(avg, 60)")),
            value,
            "{owner}"
        );
        assert_eq!(
            by_group(&q("sum:shared.metric{*} by {owner}.rollup(sum, 60)")),
            BTreeMap::from([(format!("owner:{owner}"), value)]),
            "{owner}"
        );
        assert_eq!(
            single(&q(&format!("avg:{mine}{{*}}.rollup(avg, 60)"))),
            value
        );
        assert_eq!(
            q(&format!("avg:{theirs}{{*}}.rollup(avg, 60)"))["series"],
            json!([]),
            "{owner} must not see {theirs}"
        );
        let listed = list_metrics(&server, keys, t0 - 60);
        assert!(listed.contains(&mine.to_string()), "{owner}: {listed:?}");
        assert!(!listed.contains(&theirs.to_string()), "{owner}: {listed:?}");
    }
    let mixed = Keys {
        api_key: default.api_key.clone(),
        app_key: acme.app_key.clone(),
    };
    let (status, answer) = metrics_query(&server, &mixed, t0, to, "avg:shared.metric{*}");
    assert_eq!(status, 403, "keys of two tenants: {answer}");
    assert!(answer["errors"][0].is_string(), "{answer}");

    // A DogStatsD listener writes into the tenant of its key.
    let (status, stderr) = server.terminate();
    assert!(status.success(), "{stderr}");
    let udp = common::free_udp_port();
    let listen = format!("127.0.0.1:{udp}");
    let server = Server::start(
        dir.path(),
        &[
            "--statsd-listen",
            &listen,
            "--statsd-api-key",
            &acme.api_key,
        ],
    );
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    socket
        .send_to(b"tenant.statsd:7|c|#env:acme\n", &listen)
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while prometheus_sum(&server, "strata_statsd_messages_total", "kind=\"metric\"") < 1.0
        && Instant::now() < deadline
    {
        std::thread::sleep(Duration::from_millis(50));
    }
    let (status, stderr) = server.terminate();
    assert!(status.success(), "{stderr}");
    let server = Server::start(dir.path(), &[]);
    let from = t0 - 600;
    let to = now_s() + 60;
    let acme_sees = query(&server, &acme, from, to, "sum:tenant.statsd{*}");
    assert_eq!(values(&acme_sees).iter().sum::<f64>(), 7.0, "{acme_sees}");
    let default_sees = query(&server, &default, from, to, "sum:tenant.statsd{*}");
    assert_eq!(default_sees["series"], json!([]), "{default_sees}");
}

/// Asserts a 4xx answer in the metrics API's error shape `{"errors":["…"]}`
/// whose message contains `needle`.
fn assert_error(what: &str, (status, body): (u16, Value), expected: u16, needle: &str) {
    assert_eq!(status, expected, "{what}: {body}");
    let message = body["errors"][0]
        .as_str()
        .unwrap_or_else(|| panic!("{what}: not {{\"errors\":[\"…\"]}}: {body}"));
    assert!(
        message.to_lowercase().contains(&needle.to_lowercase()),
        "{what}: {message:?} does not mention {needle:?}"
    );
}

/// Bad requests to the metrics intake and query APIs are answered with the
/// right 4xx and `{"errors":[…]}`, store nothing, and leave the server
/// serving.
#[test]
fn metrics_api_errors_are_4xx_with_errors_json() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]);
    let keys = server.keys();
    let key = keys.api_key.as_str();
    let t0 = minute_t0();
    let good = json!({"series": [{"metric": "errors.good", "type": 3,
        "points": [{"timestamp": t0, "value": 1.0}]}]})
    .to_string();
    let v2 = "/api/v2/series";

    let (status, text, _) = post(&server.url(v2), &[JSON], good.as_bytes());
    assert_error(
        "no DD-API-KEY",
        (status, serde_json::from_str(&text).unwrap_or(Value::Null)),
        401,
        "DD-API-KEY",
    );
    assert_error(
        "unknown key",
        send(&server, &"0".repeat(32), v2, &[JSON], good.as_bytes()),
        403,
        "key",
    );
    assert_error(
        "application key used as API key",
        send(&server, &keys.app_key, v2, &[JSON], good.as_bytes()),
        403,
        "key",
    );
    assert_error(
        "invalid JSON",
        send(
            &server,
            key,
            v2,
            &[JSON],
            br#"{"series":[{"metric":"errors.bad""#,
        ),
        400,
        "parsing",
    );
    let bad_name = json!({"series": [{"metric": "1234", "type": 3,
        "points": [{"timestamp": t0, "value": 1.0}]}]});
    assert_error(
        "invalid metric name",
        send(&server, key, v2, &[JSON], bad_name.to_string().as_bytes()),
        400,
        "metric name",
    );
    let bad_type = json!({"series": [{"metric": "errors.type", "type": 7,
        "points": [{"timestamp": t0, "value": 1.0}]}]});
    assert_error(
        "type 7",
        send(&server, key, v2, &[JSON], bad_type.to_string().as_bytes()),
        400,
        "type",
    );
    let mut huge = good.clone().into_bytes();
    huge.resize(600_000, b' ');
    assert_error(
        "600,000 bytes on /api/v2/series",
        send(&server, key, v2, &[JSON], &huge),
        413,
        "",
    );
    let bomb = zstd(&vec![b' '; 6 * 1024 * 1024]);
    assert!(bomb.len() < 512_000);
    assert_error(
        "6 MiB once decompressed",
        send(
            &server,
            key,
            v2,
            &[JSON, ("Content-Encoding", "zstd")],
            &bomb,
        ),
        413,
        "",
    );
    assert_error(
        "Content-Encoding br",
        send(
            &server,
            key,
            v2,
            &[JSON, ("Content-Encoding", "br")],
            good.as_bytes(),
        ),
        415,
        "content-encoding",
    );
    assert_error(
        "not zstd",
        send(
            &server,
            key,
            v2,
            &[JSON, ("Content-Encoding", "zstd")],
            good.as_bytes(),
        ),
        400,
        "zstd",
    );
    assert_error(
        "not protobuf",
        send(
            &server,
            key,
            v2,
            &[PROTOBUF],
            b"\xff\xff\xff\xff not protobuf",
        ),
        400,
        "protobuf",
    );
    let empty_name = metric_payload(&[AgentSeries {
        metric: "",
        host: "a",
        tags: &[],
        kind: GAUGE,
        interval: 0,
        unit: "",
        points: vec![(t0, 1.0)],
    }]);
    assert_error(
        "protobuf series without a name",
        send(&server, key, v2, &[PROTOBUF], &empty_name),
        400,
        "metric",
    );
    assert_error(
        "v1 points without values",
        send(
            &server,
            key,
            "/api/v1/series",
            &[JSON],
            json!({"series": [{"metric": "errors.v1", "points": [[t0]]}]})
                .to_string()
                .as_bytes(),
        ),
        400,
        "points",
    );
    assert_error(
        "v1 distribution points, invalid JSON",
        send(&server, key, "/api/v1/distribution_points", &[JSON], b"{"),
        400,
        "json",
    );
    // A dogsketch whose k and n differ in length.
    let mut d = Vec::new();
    pb::int64(&mut d, 1, t0);
    pb::int64(&mut d, 2, 2);
    pb::double(&mut d, 3, 1.0);
    pb::double(&mut d, 4, 2.0);
    pb::double(&mut d, 6, 3.0);
    pb::packed_sint32(&mut d, 7, &[agent_key(1.0), agent_key(2.0)]);
    pb::packed_uint32(&mut d, 8, &[2]);
    let mut s = Vec::new();
    pb::string(&mut s, 1, "errors.sketch");
    pb::bytes(&mut s, 7, &d);
    assert_error(
        "dogsketch with 2 keys and 1 count",
        send(
            &server,
            key,
            "/api/beta/sketches",
            &[PROTOBUF],
            &sketch_payload(&[s]),
        ),
        400,
        "dogsketches[0]",
    );
    assert_error(
        "event without a title",
        send(
            &server,
            key,
            "/api/v1/events",
            &[JSON],
            br#"{"text":"no title"}"#,
        ),
        400,
        "title",
    );
    assert_error(
        "service check status 9",
        send(
            &server,
            key,
            "/api/v1/check_run",
            &[JSON],
            br#"[{"check":"errors.check","status":9}]"#,
        ),
        400,
        "status",
    );

    // The query API.
    let to = now_s() + 60;
    assert_error(
        "unclosed scope",
        metrics_query(&server, &keys, t0, to, "avg:errors.good{env:prod"),
        400,
        "at byte 24",
    );
    assert_error(
        "unknown aggregator",
        metrics_query(&server, &keys, t0, to, "median:errors.good{*}"),
        400,
        "at byte 0",
    );
    assert_error(
        "unknown function",
        metrics_query(&server, &keys, t0, to, "avg:errors.good{*}.nope()"),
        400,
        "nope",
    );
    let read_headers = [
        ("DD-API-KEY", keys.api_key.as_str()),
        ("DD-APPLICATION-KEY", keys.app_key.as_str()),
    ];
    let url = server.url("/api/v1/query");
    assert_error(
        "no from",
        get_json(
            &format!("{url}?to={to}&query=avg:errors.good%7B*%7D"),
            &read_headers,
        ),
        400,
        "from",
    );
    assert_error(
        "no to",
        get_json(
            &format!("{url}?from={t0}&query=avg:errors.good%7B*%7D"),
            &read_headers,
        ),
        400,
        "to",
    );
    assert_error(
        "no query",
        get_json(&format!("{url}?from={t0}&to={to}"), &read_headers),
        400,
        "query",
    );
    assert_error(
        "from is not a number",
        get_json(
            &format!("{url}?from=yesterday&to={to}&query=avg:errors.good%7B*%7D"),
            &read_headers,
        ),
        400,
        "from",
    );
    assert_error(
        "to before from",
        metrics_query(&server, &keys, to, t0, "avg:errors.good{*}"),
        400,
        "before",
    );
    assert_error(
        "no application key",
        get_json(
            &format!("{url}?from={t0}&to={to}&query=avg:errors.good%7B*%7D"),
            &[("DD-API-KEY", key)],
        ),
        403,
        "application key",
    );
    let wrong_app = Keys {
        api_key: keys.api_key.clone(),
        app_key: "f".repeat(40),
    };
    assert_error(
        "unknown application key",
        metrics_query(&server, &wrong_app, t0, to, "avg:errors.good{*}"),
        403,
        "application key",
    );
    assert_error(
        "metric list without keys",
        get_json(&server.url("/api/v1/metrics"), &[]),
        403,
        "",
    );

    // Nothing was stored, and the server still takes good requests.
    let (status, answer) = send(&server, key, v2, &[JSON], good.as_bytes());
    assert_eq!(status, 202, "{answer}");
    assert_eq!(
        list_metrics(&server, &keys, t0 - 3600),
        vec!["errors.good".to_string()]
    );
    assert!(
        prometheus_sum(&server, "strata_ingest_rejections_total", "") >= 17.0,
        "rejections are counted"
    );
}

/// Points older than `metrics.max_past_secs` (default 3600) or more than 10
/// minutes ahead are dropped and counted, the rest of the request is kept;
/// raising `metrics.max_past_secs` allows a backfill.
#[test]
fn points_outside_the_intake_window_are_dropped_unless_backfill_is_allowed() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]);
    let keys = server.keys();
    let now = now_s();
    let old = now - 7200;
    let recent = now - 60;
    let future = now + 3600;
    let body = |metric: &str| {
        json!({"series": [{"metric": metric, "type": "gauge", "host": "h1",
            "points": [[old, 1.0], [recent, 2.0], [future, 3.0]]}]})
        .to_string()
    };
    let (status, answer) = send(
        &server,
        &keys.api_key,
        "/api/v1/series",
        &[JSON],
        body("window.default").as_bytes(),
    );
    assert_eq!(status, 202, "{answer}");
    assert_eq!(answer, json!({"status": "ok"}));
    let from = old - old.rem_euclid(3600) - 3600;
    let to = future + 3600;
    let stored = |server: &Server, metric: &str| {
        let answer = query(
            server,
            &keys,
            from,
            to,
            &format!("max:{metric}{{*}}.rollup(max, 60)"),
        );
        values(&answer)
    };
    assert_eq!(stored(&server, "window.default"), vec![2.0]);
    assert_eq!(
        prometheus_sum(
            &server,
            "strata_metric_points_dropped_total",
            "reason=\"too_old\""
        ),
        1.0
    );
    assert_eq!(
        prometheus_sum(
            &server,
            "strata_metric_points_dropped_total",
            "reason=\"too_new\""
        ),
        1.0
    );

    let (status, stderr) = server.terminate();
    assert!(status.success(), "{stderr}");
    let server = Server::start(dir.path(), &["--set", "metrics.max_past_secs=86400"]);
    let (status, answer) = send(
        &server,
        &keys.api_key,
        "/api/v1/series",
        &[JSON],
        body("window.backfill").as_bytes(),
    );
    assert_eq!(status, 202, "{answer}");
    assert_eq!(stored(&server, "window.backfill"), vec![1.0, 2.0]);
    assert_eq!(stored(&server, "window.default"), vec![2.0]);
}

/// `kill -9` after N acknowledged requests (v2 JSON with zstd, Agent
/// protobuf with deflate, v1 JSON; four concurrent writers): after a restart
/// on the same directory every acknowledged point is answered, sums and
/// point counts exactly.
#[test]
fn acknowledged_series_survive_kill_9() {
    const WRITERS: i64 = 4;
    const REQUESTS: i64 = 25;
    const POINTS: i64 = 3;
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]);
    let keys = server.keys();
    let base = now_s() - 1200;

    let expected: Vec<(i64, f64, i64)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..WRITERS)
            .map(|writer| {
                let server = &server;
                let key = keys.api_key.as_str();
                scope.spawn(move || {
                    let tag = format!("writer:{writer}");
                    let mut acked = (writer, 0.0, 0);
                    for request in 0..REQUESTS {
                        let n = writer * REQUESTS + request;
                        let points: Vec<(i64, f64)> = (0..POINTS)
                            .map(|j| (base + n * POINTS + j, (n * POINTS + j + 1) as f64))
                            .collect();
                        let (path, headers, body): (&str, Vec<(&str, &str)>, Vec<u8>) =
                            match request % 3 {
                                0 => {
                                    let body = json!({"series": [{"metric": "durable.count",
                                        "type": 1, "interval": 10, "tags": [&tag],
                                        "points": points.iter().map(|(ts, v)| json!({"timestamp": ts, "value": v})).collect::<Vec<_>>()}]});
                                    (
                                        "/api/v2/series",
                                        vec![JSON, ("Content-Encoding", "zstd")],
                                        zstd(body.to_string().as_bytes()),
                                    )
                                }
                                1 => (
                                    "/api/v2/series",
                                    vec![PROTOBUF, ("Content-Encoding", "deflate")],
                                    deflate(&metric_payload(&[AgentSeries {
                                        metric: "durable.count",
                                        host: "",
                                        tags: &[&tag],
                                        kind: COUNT,
                                        interval: 10,
                                        unit: "",
                                        points: points.clone(),
                                    }])),
                                ),
                                _ => {
                                    let body = json!({"series": [{"metric": "durable.count",
                                        "type": "count", "interval": 10, "tags": [&tag],
                                        "points": points.iter().map(|(ts, v)| json!([ts, v])).collect::<Vec<_>>()}]});
                                    ("/api/v1/series", vec![JSON], body.to_string().into_bytes())
                                }
                            };
                        let (status, answer) = send(server, key, path, &headers, &body);
                        assert_eq!(status, 202, "request {n}: {answer}");
                        acked.1 += points.iter().map(|p| p.1).sum::<f64>();
                        acked.2 += POINTS;
                    }
                    acked
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    server.kill9();

    let server = Server::start(dir.path(), &[]);
    let from = base - base.rem_euclid(3600);
    let to = now_s() + 60;
    let q = |text: &str| query(&server, &keys, from, to, text);
    let total: f64 = expected.iter().map(|e| e.1).sum();
    let count: i64 = expected.iter().map(|e| e.2).sum();
    assert_eq!(count, WRITERS * REQUESTS * POINTS);
    let sums = q("sum:durable.count{*}.rollup(sum, 3600)");
    assert_eq!(values(&sums).iter().sum::<f64>(), total, "{sums}");
    let counts = q("sum:durable.count{*}.rollup(count, 3600)");
    assert_eq!(
        values(&counts).iter().sum::<f64>(),
        count as f64,
        "{counts}"
    );
    let per_writer = by_group(&q("sum:durable.count{*} by {writer}.rollup(sum, 3600)"));
    let expected_per_writer: BTreeMap<String, f64> = expected
        .iter()
        .map(|(writer, sum, _)| (format!("writer:{writer}"), *sum))
        .collect();
    assert_eq!(per_writer, expected_per_writer);
}
