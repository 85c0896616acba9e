//! Issue 6: the OTLP/HTTP intake (`POST /v1/logs`, `/v1/metrics`,
//! `/v1/traces`) works with the real, unmodified OpenTelemetry clients
//! (installed by `scripts/install-test-deps.sh`):
//!
//! - the Python SDK with its protobuf exporters
//!   (`opentelemetry-exporter-otlp-proto-http`, `compat/otel_python.py`):
//!   logs through the `logging` module inside spans, traces with a parent,
//!   an error and a 1.5 s span, metrics of every instrument kind in delta
//!   and cumulative temporality, a gzip-compressed exporter, both key
//!   headers (`DD-API-KEY`, `Authorization: Bearer`) and a wrong key;
//! - the JavaScript exporters, which send OTLP/JSON
//!   (`compat/otlp-js/send.js`): logs and spans.
//!
//! Every test reads the data back through the query APIs (log search, SQL
//! `spans` table, `GET /api/v1/query`) and checks fields and values, not
//! only status codes. The answers to hand-made requests (success bodies,
//! the table of bad requests) are in `otlp_http.rs`.

mod common;
#[path = "common/otlp.rs"]
mod otlp;

use std::collections::BTreeMap;

use serde_json::{json, Value};

use common::metrics::{by_group, now_s, query, values};
use common::{post, Keys, Server};
use otlp::{attr, has_tag, is_hex_id, last_json, search};

/// The hit whose message is `message`.
fn hit<'a>(hits: &'a [Value], message: &str) -> &'a Value {
    hits.iter()
        .find(|h| h["message"] == message)
        .unwrap_or_else(|| panic!("{message:?} not found in {hits:#?}"))
}

fn messages(hits: &[Value]) -> Vec<String> {
    let mut all: Vec<String> = hits
        .iter()
        .map(|h| h["message"].as_str().unwrap_or_default().to_string())
        .collect();
    all.sort();
    all
}

/// `POST /api/v1/sql`; panics unless 200.
fn sql(server: &Server, keys: &Keys, text: &str) -> Value {
    let (status, body, _) = post(
        &server.url("/api/v1/sql"),
        &[
            ("DD-API-KEY", &keys.api_key),
            ("DD-APPLICATION-KEY", &keys.app_key),
            ("Content-Type", "application/json"),
        ],
        json!({ "query": text }).to_string().as_bytes(),
    );
    assert_eq!(status, 200, "{text}: {body}");
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("{text}: not JSON ({e}): {body}"))
}

/// The sum of every point of a metrics query answer.
fn total(answer: &Value) -> f64 {
    values(answer).iter().sum()
}

fn max_of(answer: &Value) -> f64 {
    let all = values(answer);
    assert!(!all.is_empty(), "no points: {answer}");
    all.into_iter().fold(f64::MIN, f64::max)
}

fn min_of(answer: &Value) -> f64 {
    let all = values(answer);
    assert!(!all.is_empty(), "no points: {answer}");
    all.into_iter().fold(f64::MAX, f64::min)
}

/// The `otel.status_code` span attribute, lower-cased (`ok`, `error`; the
/// OTel spec writes `OK`/`ERROR`, Datadog's mapping `Ok`/`Error`).
fn otel_status(span: &Value) -> String {
    attr(span, "otel.status_code")
        .as_str()
        .unwrap_or_default()
        .to_ascii_lowercase()
}

/// Checks what every span event has: `source:span`, the resource's
/// service/host/env, trace id, span id, `resource`, a positive integer
/// `duration` in ns; returns the duration.
fn check_span_common(span: &Value, service: &str, host: &str, env: &str, trace_id: &str) -> i64 {
    let name = span["message"].as_str().unwrap();
    assert_eq!(span["service"], service, "{name}: {span}");
    assert_eq!(span["host"], host, "{name}: {span}");
    assert!(has_tag(span, &format!("env:{env}")), "{name}: {span}");
    assert!(has_tag(span, "source:span"), "{name}: {span}");
    assert_eq!(span["trace_id"], trace_id, "{name}: {span}");
    let span_id = attr(span, "span_id").as_str().unwrap_or_default();
    assert!(
        is_hex_id(span_id, 16),
        "{name}: span_id {span_id:?}: {span}"
    );
    let resource = attr(span, "resource").as_str().unwrap_or_default();
    assert!(!resource.is_empty(), "{name}: no resource: {span}");
    let duration = attr(span, "duration");
    let duration = duration
        .as_i64()
        .unwrap_or_else(|| panic!("{name}: duration is not an integer (ns): {span}"));
    assert!(duration > 0, "{name}: {span}");
    duration
}

/// The Python SDK's logs (LoggingHandler → BatchLogRecordProcessor →
/// protobuf exporter with DD-API-KEY) read back with their message, status
/// from the severity, resource fields, the enclosing span's ids and their
/// `extra` attributes; the export with a wrong key stored nothing.
#[test]
fn python_sdk_logs_read_back_with_span_context() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]);
    let keys = server.keys();
    let out = last_json(&otlp::python(
        "otel_python.py",
        &[&server.url(""), &keys.api_key],
    ));
    assert_eq!(out["bad_key_results"], json!(["FAILURE"]), "{out}");
    let (service, host, env) = (
        out["service"].as_str().unwrap(),
        out["host"].as_str().unwrap(),
        out["env"].as_str().unwrap(),
    );
    let trace_id = out["trace_id"].as_str().unwrap();
    assert!(is_hex_id(trace_id, 32), "{out}");

    let logs = search(&server, &keys, &format!("service:{service} -source:span"));
    assert_eq!(
        messages(&logs),
        vec![
            "cache warmed",
            "disk almost full on sda1",
            "payment failed for order A-17"
        ],
        "{logs:#?}"
    );
    for log in &logs {
        assert_eq!(log["service"], service, "{log}");
        assert_eq!(log["host"], host, "{log}");
        assert!(has_tag(log, &format!("env:{env}")), "{log}");
        assert!(has_tag(log, "version:1.2.3"), "service.version: {log}");
        // code.file.path (code.filepath before semantic conventions 1.30).
        let path = attr(log, "code.file.path")
            .as_str()
            .or_else(|| attr(log, "code.filepath").as_str())
            .unwrap_or_default();
        assert!(path.ends_with("otel_python.py"), "code.file.path: {log}");
    }

    // WARNING → warn, inside the root span, `extra` attributes typed.
    let warning = hit(&logs, "disk almost full on sda1");
    assert_eq!(warning["status"], "warn", "{warning}");
    assert_eq!(warning["trace_id"], trace_id, "{warning}");
    assert_eq!(attr(warning, "span_id"), &out["root_span_id"], "{warning}");
    assert_eq!(attr(warning, "disk_device"), "sda1", "{warning}");
    assert_eq!(attr(warning, "usage_pct"), 91.5, "{warning}");
    assert_eq!(attr(warning, "retries"), 3, "{warning}");
    assert_eq!(attr(warning, "cached"), false, "{warning}");
    assert_eq!(attr(warning, "order.id"), "A-17", "{warning}");

    // ERROR (log.exception) → error, inside the child span, exception attributes.
    let error = hit(&logs, "payment failed for order A-17");
    assert_eq!(error["status"], "error", "{error}");
    assert_eq!(error["trace_id"], trace_id, "{error}");
    assert_eq!(attr(error, "span_id"), &out["child_span_id"], "{error}");
    assert_eq!(attr(error, "exception.type"), "ValueError", "{error}");
    assert_eq!(attr(error, "exception.message"), "card declined", "{error}");
    let stack = attr(error, "exception.stacktrace")
        .as_str()
        .unwrap_or_default();
    assert!(stack.contains("ValueError: card declined"), "{error}");

    // INFO outside any span: no trace context.
    let info = hit(&logs, "cache warmed");
    assert_eq!(info["status"], "info", "{info}");
    assert!(info["trace_id"].is_null(), "{info}");
    assert!(attr(info, "span_id").is_null(), "{info}");
    assert_eq!(attr(info, "entries"), 128, "{info}");

    // The search syntax finds them by the OTLP fields.
    let by_trace = search(&server, &keys, &format!("trace_id:{trace_id} -source:span"));
    assert_eq!(by_trace.len(), 2, "{by_trace:#?}");
    let warn = search(&server, &keys, &format!("service:{service} status:warn"));
    assert_eq!(messages(&warn), vec!["disk almost full on sda1"]);
    assert_eq!(search(&server, &keys, "@usage_pct:>90").len(), 1);
    // The wrong key's record was refused.
    assert_eq!(
        search(&server, &keys, "\"must not be stored\"").len(),
        0,
        "a record sent with a wrong key was stored"
    );
}

/// The Python SDK's spans (protobuf, Authorization: Bearer) are span events:
/// name, status, ids, parent link, `span.kind`, `otel.status_code`,
/// `duration` in ns, the span's attributes; `@duration:>1s` finds the 1.5 s
/// span only, and the SQL `spans` table returns them in start order.
#[test]
fn python_sdk_traces_read_back_as_span_events_and_sql() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]);
    let keys = server.keys();
    let out = last_json(&otlp::python(
        "otel_python.py",
        &[&server.url(""), &keys.api_key],
    ));
    let (service, host, env) = (
        out["service"].as_str().unwrap(),
        out["host"].as_str().unwrap(),
        out["env"].as_str().unwrap(),
    );
    let trace_id = out["trace_id"].as_str().unwrap();
    let long_trace_id = out["long_trace_id"].as_str().unwrap();
    let root_id = out["root_span_id"].as_str().unwrap();

    let spans = search(&server, &keys, &format!("source:span service:{service}"));
    assert_eq!(
        messages(&spans),
        vec!["charge-card", "checkout", "nightly-batch", "render"],
        "{spans:#?}"
    );

    let root = hit(&spans, "checkout");
    let root_duration = check_span_common(root, service, host, env, trace_id);
    assert!(root_duration < 1_000_000_000, "{root}");
    assert_eq!(root["status"], "ok", "{root}");
    assert_eq!(attr(root, "span_id"), root_id, "{root}");
    assert!(
        attr(root, "parent_id").is_null(),
        "a root has no parent_id: {root}"
    );
    assert_eq!(attr(root, "span.kind"), "server", "{root}");
    assert_eq!(
        attr(root, "resource"),
        "checkout",
        "no http/db attributes: resource = name"
    );
    assert_eq!(attr(root, "cart.items"), 3, "{root}");
    assert_eq!(attr(root, "customer.tier"), "gold", "{root}");
    assert_eq!(attr(root, "feature.enabled"), true, "{root}");
    assert_eq!(attr(root, "ratio"), 0.25, "{root}");
    assert!(
        matches!(otel_status(root).as_str(), "" | "unset"),
        "status unset: {root}"
    );

    let child = hit(&spans, "charge-card");
    check_span_common(child, service, host, env, trace_id);
    assert_eq!(child["status"], "error", "{child}");
    assert_eq!(attr(child, "span_id"), &out["child_span_id"], "{child}");
    assert_eq!(attr(child, "parent_id"), root_id, "{child}");
    assert_eq!(attr(child, "span.kind"), "client", "{child}");
    assert_eq!(otel_status(child), "error", "{child}");
    assert_eq!(attr(child, "payment.provider"), "acme", "{child}");
    assert_eq!(attr(child, "amount"), 12.5, "{child}");

    let render = hit(&spans, "render");
    check_span_common(render, service, host, env, trace_id);
    assert_eq!(render["status"], "ok", "{render}");
    assert_eq!(attr(render, "parent_id"), root_id, "{render}");
    assert_eq!(attr(render, "span.kind"), "internal", "{render}");
    assert_eq!(otel_status(render), "ok", "{render}");
    assert_eq!(attr(render, "template"), "cart.html", "{render}");

    let long = hit(&spans, "nightly-batch");
    let duration = check_span_common(long, service, host, env, long_trace_id);
    assert_eq!(
        duration, 1_500_000_000,
        "explicit start/end 1.5 s apart: {long}"
    );
    assert_eq!(attr(long, "span_id"), &out["long_span_id"], "{long}");
    assert!(attr(long, "parent_id").is_null(), "{long}");
    assert_eq!(attr(long, "batch.size"), 5000, "{long}");
    let start_ns = out["long_start_ns"].as_i64().unwrap();
    let start = strata_types::format_rfc3339_nanos(start_ns);
    let dot = start.find('.').unwrap();
    assert_eq!(
        long["timestamp"],
        format!("{}Z", &start[..dot + 4]),
        "a span's timestamp is its start: {long}"
    );

    // The parent link: the root's children by parent_id.
    let children = search(&server, &keys, &format!("source:span @parent_id:{root_id}"));
    assert_eq!(messages(&children), vec!["charge-card", "render"]);
    // Duration with a unit: only the 1.5 s span.
    let slow = search(&server, &keys, &format!("@duration:>1s service:{service}"));
    assert_eq!(messages(&slow), vec!["nightly-batch"], "{slow:#?}");
    let errors = search(
        &server,
        &keys,
        &format!("source:span status:error service:{service}"),
    );
    assert_eq!(messages(&errors), vec!["charge-card"]);

    // The SQL spans table, in start order.
    let answer = sql(
        &server,
        &keys,
        "SELECT trace_id, span_id, parent_id, name, service, resource, duration, status \
         FROM spans ORDER BY start",
    );
    let rows = answer["rows"]
        .as_array()
        .unwrap_or_else(|| panic!("{answer}"));
    assert_eq!(rows.len(), 4, "{answer}");
    let columns: Vec<&str> = answer["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        columns,
        [
            "trace_id",
            "span_id",
            "parent_id",
            "name",
            "service",
            "resource",
            "duration",
            "status"
        ]
    );
    assert_eq!(
        rows[0],
        json!([
            long_trace_id,
            out["long_span_id"],
            null,
            "nightly-batch",
            service,
            attr(long, "resource"),
            1_500_000_000i64,
            "ok"
        ])
    );
    assert_eq!(
        rows[1],
        json!([
            trace_id,
            root_id,
            null,
            "checkout",
            service,
            "checkout",
            root_duration,
            "ok"
        ])
    );
    assert_eq!(
        rows[2],
        json!([
            trace_id,
            out["child_span_id"],
            root_id,
            "charge-card",
            service,
            attr(child, "resource"),
            attr(child, "duration"),
            "error"
        ])
    );
    assert_eq!(
        rows[3],
        json!([
            trace_id,
            out["ok_span_id"],
            root_id,
            "render",
            service,
            attr(render, "resource"),
            attr(render, "duration"),
            "ok"
        ])
    );
    let kinds = sql(
        &server,
        &keys,
        &format!("SELECT name, kind FROM spans WHERE trace_id = '{trace_id}' ORDER BY start"),
    );
    assert_eq!(
        kinds["rows"],
        json!([
            ["checkout", "server"],
            ["charge-card", "client"],
            ["render", "internal"]
        ]),
        "{kinds}"
    );
}

/// The Python SDK's metrics: a delta counter (gzip, Bearer) sums to what was
/// added, by attribute and with the resource's env/host/service; a
/// cumulative counter's second export stores the delta (the first is the
/// baseline); the UpDownCounter and the observable gauge are gauges; the
/// delta histogram is a distribution (count, sum, min, max exact, p50 in the
/// median's bucket).
#[test]
fn python_sdk_metrics_read_back_with_temporality_conversion() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]);
    let keys = server.keys();
    let out = last_json(&otlp::python(
        "otel_python.py",
        &[&server.url(""), &keys.api_key],
    ));
    let (service, host, env) = (
        out["service"].as_str().unwrap(),
        out["host"].as_str().unwrap(),
        out["env"].as_str().unwrap(),
    );
    let t0 = out["t0"].as_i64().unwrap();
    let (from, to) = (t0 - 120, now_s() + 120);
    let q = |text: &str| query(&server, &keys, from, to, text);

    // Delta counter: 3 (home) + 4 (cart), then 10 (home).
    let requests = q("sum:otelpy.requests{*}.rollup(sum, 60)");
    assert_eq!(total(&requests), 17.0, "{requests}");
    assert_eq!(
        by_group(&q("sum:otelpy.requests{*} by {endpoint}.rollup(sum, 60)")),
        BTreeMap::from([
            ("endpoint:cart".into(), 4.0),
            ("endpoint:home".into(), 13.0)
        ])
    );
    assert_eq!(
        total(&q(&format!(
            "sum:otelpy.requests{{env:{env}}}.rollup(sum, 60)"
        ))),
        17.0,
        "deployment.environment → env tag"
    );
    assert_eq!(
        total(&q(&format!(
            "sum:otelpy.requests{{service:{service}}}.rollup(sum, 60)"
        ))),
        17.0,
        "service.name → service tag"
    );
    assert_eq!(
        by_group(&q("sum:otelpy.requests{*} by {host}.rollup(sum, 60)")),
        BTreeMap::from([(format!("host:{host}"), 17.0)]),
        "host.name → host"
    );

    // Cumulative counter: 5, then 12 → the baseline, then a delta of 7.
    let jobs = q("sum:otelpy.jobs{queue:emails}.rollup(sum, 60)");
    assert_eq!(total(&jobs), 7.0, "{jobs}");

    // UpDownCounter (cumulative, not monotonic) → a gauge: 3, then 7.
    assert_eq!(max_of(&q("max:otelpy.queue_depth{*}.rollup(max, 60)")), 7.0);
    assert_eq!(min_of(&q("min:otelpy.queue_depth{*}.rollup(min, 60)")), 3.0);

    // Observable gauge: 21.5, then 23.0, tagged room:lab.
    assert_eq!(
        max_of(&q("max:otelpy.temperature{room:lab}.rollup(max, 60)")),
        23.0
    );
    assert_eq!(
        min_of(&q("min:otelpy.temperature{room:lab}.rollup(min, 60)")),
        21.5
    );

    // Delta histogram → a distribution, exported once.
    let latency: Vec<f64> = out["latency_values"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    let sum: f64 = latency.iter().sum();
    let count = q("count:otelpy.latency{*}.rollup(60)");
    assert_eq!(values(&count), vec![latency.len() as f64], "{count}");
    assert_eq!(values(&q("sum:otelpy.latency{*}.rollup(60)")), vec![sum]);
    assert_eq!(
        values(&q("max:otelpy.latency{*}.rollup(60)")),
        vec![900.0],
        "OTLP max"
    );
    assert_eq!(
        values(&q("min:otelpy.latency{*}.rollup(60)")),
        vec![2.0],
        "OTLP min"
    );
    let avg = values(&q("avg:otelpy.latency{endpoint:home}.rollup(60)"));
    assert_eq!(avg.len(), 1, "{avg:?}");
    assert!(
        (avg[0] - sum / latency.len() as f64).abs() < 1e-9,
        "{avg:?}"
    );
    // The median (60) lies in the explicit bucket (50, 75].
    let p50 = values(&q("p50:otelpy.latency{*}.rollup(60)"));
    assert_eq!(p50.len(), 1, "{p50:?}");
    assert!(
        p50[0] > 50.0 && p50[0] <= 75.0,
        "p50 {} not in (50, 75]",
        p50[0]
    );
}

/// The JavaScript exporters' OTLP/JSON (hex ids, string nanoseconds): logs
/// with severity, span context and typed attributes; spans with parent link,
/// error status, kinds and an array attribute.
#[test]
fn javascript_json_exporters_logs_and_spans_read_back() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]);
    let keys = server.keys();
    let out = last_json(&otlp::node("send.js", &[&server.url(""), &keys.api_key]));
    let (service, host, env) = (
        out["service"].as_str().unwrap(),
        out["host"].as_str().unwrap(),
        out["env"].as_str().unwrap(),
    );
    let trace_id = out["trace_id"].as_str().unwrap();
    let root_id = out["root_span_id"].as_str().unwrap();
    let child_id = out["child_span_id"].as_str().unwrap();

    let logs = search(&server, &keys, &format!("service:{service} -source:span"));
    assert_eq!(
        messages(&logs),
        vec!["js query failed", "js slow query", "js started"],
        "{logs:#?}"
    );
    for log in &logs {
        assert_eq!(log["host"], host, "{log}");
        assert!(has_tag(log, &format!("env:{env}")), "{log}");
    }
    let slow = hit(&logs, "js slow query");
    assert_eq!(slow["status"], "warn", "{slow}");
    assert_eq!(slow["trace_id"], trace_id, "{slow}");
    assert_eq!(attr(slow, "span_id"), child_id, "{slow}");
    assert_eq!(attr(slow, "query.rows"), 7, "{slow}");
    assert_eq!(attr(slow, "query.table"), "orders", "{slow}");
    assert_eq!(attr(slow, "query.cached"), false, "{slow}");
    let failed = hit(&logs, "js query failed");
    assert_eq!(failed["status"], "error", "{failed}");
    assert_eq!(failed["trace_id"], trace_id, "{failed}");
    assert_eq!(attr(failed, "error.kind"), "timeout", "{failed}");
    let started = hit(&logs, "js started");
    assert_eq!(started["status"], "info", "{started}");
    assert!(started["trace_id"].is_null(), "{started}");
    assert_eq!(attr(started, "js.version"), 20, "{started}");

    let spans = search(&server, &keys, &format!("source:span service:{service}"));
    assert_eq!(
        messages(&spans),
        vec!["js-db-query", "js-request"],
        "{spans:#?}"
    );
    let root = hit(&spans, "js-request");
    check_span_common(root, service, host, env, trace_id);
    assert_eq!(root["status"], "ok", "{root}");
    assert_eq!(attr(root, "span_id"), root_id, "{root}");
    assert!(attr(root, "parent_id").is_null(), "{root}");
    assert_eq!(attr(root, "span.kind"), "server", "{root}");
    assert_eq!(attr(root, "js.count"), 42, "{root}");
    assert_eq!(attr(root, "js.flag"), true, "{root}");
    assert_eq!(attr(root, "js.ratio"), 0.5, "{root}");
    assert_eq!(attr(root, "js.label"), "alpha", "{root}");
    let child = hit(&spans, "js-db-query");
    check_span_common(child, service, host, env, trace_id);
    assert_eq!(child["status"], "error", "{child}");
    assert_eq!(attr(child, "span_id"), child_id, "{child}");
    assert_eq!(attr(child, "parent_id"), root_id, "{child}");
    assert_eq!(attr(child, "span.kind"), "client", "{child}");
    assert_eq!(otel_status(child), "error", "{child}");
    assert_eq!(attr(child, "db.system"), "postgresql", "{child}");
    assert_eq!(attr(child, "js.rows"), 7, "{child}");
    assert_eq!(attr(child, "js.tags"), &json!(["a", "b"]), "{child}");

    let answer = sql(
        &server,
        &keys,
        // The JS clock can give the root and its child the same start: the
        // root (no parent) first on a tie.
        &format!(
            "SELECT name, parent_id, status, kind FROM spans WHERE trace_id = '{trace_id}' \
             ORDER BY start, parent_id NULLS FIRST"
        ),
    );
    assert_eq!(
        answer["rows"],
        json!([
            ["js-request", null, "ok", "server"],
            ["js-db-query", root_id, "error", "client"]
        ]),
        "{answer}"
    );
}
