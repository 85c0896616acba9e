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
//! only status codes. A table of bad requests checks the OTLP/HTTP error
//! answers (status, `google.rpc.Status` body in the request's encoding).

mod common;
#[path = "common/otlp.rs"]
mod otlp;

use std::collections::BTreeMap;

use serde_json::{json, Value};

use common::metrics::{by_group, now_s, query, values};
use common::storage::search_all;
use common::{post, Keys, Server};
use otlp::{
    attr, decode_status, has_tag, hex, is_hex_id, last_json, logs_request, post_raw, PbLog,
};

/// Every hit of `text` over the last hour (and the next), as the search
/// answer's `attributes` objects.
fn search(server: &Server, keys: &Keys, text: &str) -> Vec<Value> {
    search_all(server, keys, text, "now-1h", "now+1h")
        .into_iter()
        .map(|hit| hit["attributes"].clone())
        .collect()
}

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
        &format!("SELECT name, parent_id, status, kind FROM spans WHERE trace_id = '{trace_id}' ORDER BY start"),
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

/// A successful export answers 200 with an empty `Export*ServiceResponse`
/// in the request's encoding (empty protobuf body, `{}`), and what a
/// hand-encoded protobuf request carries is stored (bytes ids as hex).
#[test]
fn successful_exports_answer_empty_responses_in_the_request_encoding() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]);
    let keys = server.keys();
    let now_ns = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    let trace_id: [u8; 16] = *b"\x01\x23\x45\x67\x89\xab\xcd\xef\xfe\xdc\xba\x98\x76\x54\x32\x10";
    let span_id: [u8; 8] = *b"\x00\x11\x22\x33\x44\x55\x66\x77";
    let protobuf = logs_request(
        "pb-svc",
        "pb-host",
        &[PbLog {
            time_unix_nano: now_ns - 1_000_000_000,
            severity_number: 18, // ERROR2
            severity_text: "ERROR2",
            body: "hand encoded protobuf",
            attributes: &[("peer", "10.1.2.3")],
            trace_id: Some(trace_id),
            span_id: Some(span_id),
        }],
    );
    let json_body = json!({"resourceLogs": [{
        "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "json-svc"}}]},
        "scopeLogs": [{"logRecords": [{
            "timeUnixNano": (now_ns - 2_000_000_000).to_string(),
            "severityNumber": 5, "severityText": "DEBUG",
            "body": {"stringValue": "hand written json"},
            "traceId": hex(&trace_id), "spanId": hex(&span_id),
            "attributes": [{"key": "n", "value": {"intValue": "12"}}]
        }]}]
    }]})
    .to_string();
    let pb = "application/x-protobuf";
    let js = "application/json";
    let cases: Vec<(&str, &str, Vec<u8>)> = vec![
        ("/v1/logs", pb, protobuf),
        ("/v1/logs", js, json_body.into_bytes()),
        ("/v1/traces", pb, Vec::new()),
        ("/v1/traces", js, br#"{"resourceSpans":[]}"#.to_vec()),
        ("/v1/metrics", pb, Vec::new()),
        ("/v1/metrics", js, br#"{"resourceMetrics":[]}"#.to_vec()),
    ];
    for (path, content_type, body) in cases {
        let (status, answer_type, answer) = post_raw(
            &server.url(path),
            &[
                ("DD-API-KEY", keys.api_key.as_str()),
                ("Content-Type", content_type),
            ],
            &body,
        );
        let text = String::from_utf8_lossy(&answer);
        assert_eq!(status, 200, "{path} {content_type}: {text}");
        assert!(
            answer_type.starts_with(content_type),
            "{path} {content_type}: a 200 answers in the request's encoding, not {answer_type:?}"
        );
        if content_type == pb {
            assert!(
                answer.is_empty(),
                "{path}: an empty protobuf response, not {answer:?}"
            );
        } else {
            let value: Value = serde_json::from_slice(&answer)
                .unwrap_or_else(|e| panic!("{path}: not JSON ({e}): {text}"));
            assert_eq!(value, json!({}), "{path}: an empty JSON response");
        }
    }
    // Authorization: Bearer works as well as DD-API-KEY.
    let bearer = format!("Bearer {}", keys.api_key);
    for path in ["/v1/logs", "/v1/traces", "/v1/metrics"] {
        let (status, _, answer) = post_raw(
            &server.url(path),
            &[("Authorization", bearer.as_str()), ("Content-Type", pb)],
            &[],
        );
        assert_eq!(status, 200, "{path}: {}", String::from_utf8_lossy(&answer));
    }

    let pb_hit = search(&server, &keys, "service:pb-svc");
    assert_eq!(pb_hit.len(), 1, "{pb_hit:#?}");
    let log = &pb_hit[0];
    assert_eq!(log["message"], "hand encoded protobuf");
    assert_eq!(log["status"], "error", "severity 17-20 → error: {log}");
    assert_eq!(log["host"], "pb-host");
    assert_eq!(log["trace_id"], hex(&trace_id), "{log}");
    assert_eq!(attr(log, "span_id"), hex(&span_id).as_str(), "{log}");
    assert_eq!(attr(log, "peer"), "10.1.2.3", "{log}");
    let json_hit = search(&server, &keys, "service:json-svc");
    assert_eq!(json_hit.len(), 1, "{json_hit:#?}");
    let log = &json_hit[0];
    assert_eq!(log["message"], "hand written json");
    assert_eq!(log["status"], "debug", "{log}");
    assert_eq!(log["trace_id"], hex(&trace_id), "{log}");
    assert_eq!(
        attr(log, "n"),
        12,
        "an intValue string is an integer: {log}"
    );
}

/// Bad requests get the OTLP/HTTP error answers: the status, a
/// `google.rpc.Status` (`code` = the gRPC code of the HTTP status, a
/// `message` naming the problem) in the request's encoding — protobuf for
/// `application/x-protobuf`, `{"code", "message"}` for `application/json`,
/// JSON when the content type is unsupported — and nothing is stored.
#[test]
fn bad_requests_get_otlp_error_statuses_in_the_request_encoding() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(
        dir.path(),
        // Above syslog.batch_max_bytes (1 MiB), which may not exceed it.
        &["--set", "limits.max_request_bytes=2000000"],
    );
    let keys = server.keys();
    let valid = logs_request(
        "bad-svc",
        "h",
        &[PbLog {
            time_unix_nano: now_s() as u64 * 1_000_000_000,
            severity_number: 9,
            severity_text: "INFO",
            body: "should never be stored",
            attributes: &[("a", "b")],
            trace_id: None,
            span_id: None,
        }],
    );
    let truncated = valid[..valid.len() - 7].to_vec();
    let oversize_pb = logs_request(
        "bad-svc",
        "h",
        &[PbLog {
            time_unix_nano: now_s() as u64 * 1_000_000_000,
            severity_number: 9,
            severity_text: "INFO",
            body: &"x".repeat(2_500_000),
            attributes: &[],
            trace_id: None,
            span_id: None,
        }],
    );
    let oversize_json = format!(
        r#"{{"resourceLogs":[{{"scopeLogs":[{{"logRecords":[{{"body":{{"stringValue":"{}"}}}}]}}]}}]}}"#,
        "y".repeat(2_500_000)
    );
    let key = keys.api_key.as_str();
    let bearer = format!("Bearer {key}");
    let wrong = "0123456789abcdef0123456789abcdef";
    let wrong_bearer = format!("Bearer {wrong}");
    let pb = "application/x-protobuf";
    let js = "application/json";
    struct Case<'a> {
        name: &'a str,
        path: &'a str,
        headers: Vec<(&'a str, &'a str)>,
        body: Vec<u8>,
        status: u16,
        grpc: i32,
        // The message names the problem: it contains one of these (lower case).
        words: &'a [&'a str],
    }
    let cases = vec![
        Case {
            name: "truncated protobuf",
            path: "/v1/logs",
            headers: vec![("DD-API-KEY", key), ("Content-Type", pb)],
            body: truncated.clone(),
            status: 400,
            grpc: 3,
            words: &["protobuf", "decode", "truncated", "invalid"],
        },
        Case {
            name: "truncated protobuf (traces)",
            path: "/v1/traces",
            headers: vec![("Authorization", bearer.as_str()), ("Content-Type", pb)],
            body: b"\x0a\x10\x0a\x05".to_vec(),
            status: 400,
            grpc: 3,
            words: &["protobuf", "decode", "truncated", "invalid"],
        },
        Case {
            name: "truncated protobuf (metrics)",
            path: "/v1/metrics",
            headers: vec![("DD-API-KEY", key), ("Content-Type", pb)],
            body: b"\x0a\x10\x0a\x05".to_vec(),
            status: 400,
            grpc: 3,
            words: &["protobuf", "decode", "truncated", "invalid"],
        },
        Case {
            name: "invalid JSON",
            path: "/v1/logs",
            headers: vec![("DD-API-KEY", key), ("Content-Type", js)],
            body: br#"{"resourceLogs": [{"scopeLogs": "#.to_vec(),
            status: 400,
            grpc: 3,
            words: &["json", "eof", "parse", "invalid"],
        },
        Case {
            name: "invalid JSON (metrics)",
            path: "/v1/metrics",
            headers: vec![("DD-API-KEY", key), ("Content-Type", js)],
            body: b"not json".to_vec(),
            status: 400,
            grpc: 3,
            words: &["json", "expected", "parse", "invalid"],
        },
        Case {
            name: "wrong JSON type",
            path: "/v1/traces",
            headers: vec![("DD-API-KEY", key), ("Content-Type", js)],
            body: br#"{"resourceSpans": {"not": "an array"}}"#.to_vec(),
            status: 400,
            grpc: 3,
            words: &["resourcespans", "array", "sequence", "invalid", "json"],
        },
        Case {
            name: "missing key (protobuf)",
            path: "/v1/logs",
            headers: vec![("Content-Type", pb)],
            body: valid.clone(),
            status: 401,
            grpc: 16,
            words: &["key"],
        },
        Case {
            name: "missing key (JSON)",
            path: "/v1/metrics",
            headers: vec![("Content-Type", js)],
            body: b"{}".to_vec(),
            status: 401,
            grpc: 16,
            words: &["key"],
        },
        Case {
            name: "wrong key",
            path: "/v1/logs",
            headers: vec![("DD-API-KEY", wrong), ("Content-Type", pb)],
            body: valid.clone(),
            status: 403,
            grpc: 7,
            words: &["key"],
        },
        Case {
            name: "wrong bearer key (JSON)",
            path: "/v1/traces",
            headers: vec![
                ("Authorization", wrong_bearer.as_str()),
                ("Content-Type", js),
            ],
            body: b"{}".to_vec(),
            status: 403,
            grpc: 7,
            words: &["key"],
        },
        Case {
            name: "body over the limit (protobuf)",
            path: "/v1/logs",
            headers: vec![("DD-API-KEY", key), ("Content-Type", pb)],
            body: oversize_pb,
            status: 413,
            grpc: 3,
            words: &["exceeds", "large", "limit", "bytes"],
        },
        Case {
            name: "body over the limit (JSON)",
            path: "/v1/logs",
            headers: vec![("DD-API-KEY", key), ("Content-Type", js)],
            body: oversize_json.into_bytes(),
            status: 413,
            grpc: 3,
            words: &["exceeds", "large", "limit", "bytes"],
        },
        Case {
            name: "text/plain",
            path: "/v1/logs",
            headers: vec![("DD-API-KEY", key), ("Content-Type", "text/plain")],
            body: b"hello".to_vec(),
            status: 415,
            grpc: 3,
            words: &["content-type", "content type", "media type"],
        },
    ];
    let mut failures = Vec::new();
    for case in &cases {
        let (status, content_type, answer) =
            post_raw(&server.url(case.path), &case.headers, &case.body);
        let request_type = case
            .headers
            .iter()
            .find(|(k, _)| *k == "Content-Type")
            .map(|(_, v)| *v)
            .unwrap();
        let problem = check_error(
            (case.status, case.grpc, case.words),
            request_type,
            status,
            &content_type,
            &answer,
        );
        if let Err(problem) = problem {
            failures.push(format!("{}: {problem}", case.name));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));

    // A request with a valid key and body still works, and nothing from the
    // bad requests was stored.
    let (status, _, answer) = post_raw(
        &server.url("/v1/logs"),
        &[("DD-API-KEY", key), ("Content-Type", pb)],
        &valid,
    );
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&answer));
    let stored = search(&server, &keys, "service:bad-svc");
    assert_eq!(
        stored.len(),
        1,
        "only the valid request is stored: {stored:#?}"
    );
}

/// Checks one error answer; `Err` says what is wrong.
fn check_error(
    (expected_status, expected_grpc, words): (u16, i32, &[&str]),
    request_type: &str,
    status: u16,
    content_type: &str,
    answer: &[u8],
) -> Result<(), String> {
    let body = String::from_utf8_lossy(answer);
    if status != expected_status {
        return Err(format!(
            "status {status}, expected {expected_status}: {body:?}"
        ));
    }
    let (code, message) = if request_type == "application/x-protobuf" {
        if !content_type.starts_with("application/x-protobuf") {
            return Err(format!(
                "content type {content_type:?}, expected application/x-protobuf: {body:?}"
            ));
        }
        decode_status(answer).map_err(|e| format!("not a google.rpc.Status ({e}): {body:?}"))?
    } else {
        // JSON requests, and unsupported content types (the request's
        // encoding is unknown), are answered in JSON.
        if !content_type.starts_with("application/json") {
            return Err(format!(
                "content type {content_type:?}, expected application/json: {body:?}"
            ));
        }
        let value: Value =
            serde_json::from_slice(answer).map_err(|e| format!("not JSON ({e}): {body:?}"))?;
        let code = value["code"]
            .as_i64()
            .ok_or_else(|| format!("no integer code: {value}"))?;
        let message = value["message"]
            .as_str()
            .ok_or_else(|| format!("no message: {value}"))?;
        (code as i32, message.to_string())
    };
    if code != expected_grpc {
        return Err(format!(
            "google.rpc code {code}, expected {expected_grpc} ({message:?})"
        ));
    }
    let lower = message.to_lowercase();
    if !words.iter().any(|w| lower.contains(w)) {
        return Err(format!("message {message:?} names none of {words:?}"));
    }
    Ok(())
}
