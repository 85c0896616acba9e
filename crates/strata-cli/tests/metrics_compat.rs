//! Issue 5: the metrics platform works with the real, unmodified Datadog
//! Python clients (installed by `scripts/install-test-deps.sh`):
//!
//! - `datadog` (datadogpy) `api.Metric` / `api.Distribution` / `api.Event` /
//!   `api.ServiceCheck` against the HTTP intake, read back with
//!   `api.Metric.query` and `api.Metric.list` (`compat/datadogpy_metrics_api.py`);
//! - datadogpy's `DogStatsd` against a `--statsd-listen` UDP listener, read
//!   back after a SIGTERM and a restart (`compat/dogstatsd_metrics.py`);
//! - `datadog-api-client` v2 `submit_metrics` (plain, deflate, gzip, zstd1)
//!   and v1 `query_metrics`, whose response models validate our answers
//!   (`compat/datadog_api_client_metrics.py`).
//!
//! Every test reads the data back (`GET /api/v1/query`, the log search for
//! events and service checks) and checks values, not only status codes.

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use common::compat::{last_json, python};
use common::metrics::{by_group, now_s, query, rank_quantile, single, values};
use common::{free_udp_port, get_json, post, prometheus_sum, Keys, Server};

/// Within the Agent sketch's error bounds (−1.54 %, +2.35 %; 2.5 % here).
fn assert_sketch_close(actual: f64, expected: f64, what: &str) {
    let relative = (actual - expected).abs() / expected.abs();
    assert!(
        relative <= 0.025,
        "{what}: {actual} is not within 2.5 % of {expected}"
    );
}

/// `POST /api/v2/logs/events/search` over the last hour; the `data` items.
fn search(server: &Server, keys: &Keys, text: &str) -> Vec<Value> {
    let body = json!({"filter": {"query": text, "from": "now-1h", "to": "now+1h"}, "page": {"limit": 100}});
    let (status, answer, _) = post(
        &server.url("/api/v2/logs/events/search"),
        &[
            ("DD-API-KEY", &keys.api_key),
            ("DD-APPLICATION-KEY", &keys.app_key),
            ("Content-Type", "application/json"),
        ],
        body.to_string().as_bytes(),
    );
    assert_eq!(status, 200, "{text}: {answer}");
    let answer: Value = serde_json::from_str(&answer).unwrap();
    answer["data"].as_array().unwrap().clone()
}

/// The search hit whose message is `message`.
fn hit<'a>(hits: &'a [Value], message: &str) -> &'a Value {
    &hits
        .iter()
        .find(|h| h["attributes"]["message"] == message)
        .unwrap_or_else(|| panic!("{message:?} not found in {hits:#?}"))["attributes"]
}

fn has_tag(attributes: &Value, tag: &str) -> bool {
    attributes["tags"]
        .as_array()
        .is_some_and(|tags| tags.iter().any(|t| t == tag))
}

/// datadogpy's HTTP API: series (count, gauge, deflate, several per request,
/// a bare value, a name Datadog normalises), distribution points, events and
/// service checks are stored, and `api.Metric.query` / `api.Metric.list`
/// read them back with the right values.
#[test]
fn datadogpy_api_metrics_events_and_checks_read_back() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]);
    let keys = server.keys();
    let out = last_json(&python(
        "datadogpy_metrics_api.py",
        &[&server.url(""), &keys.api_key, &keys.app_key],
    ));
    let t0 = out["t0"].as_i64().unwrap();
    let q = |name: &str| out["queries"][name].clone();

    // Counts: 3 + 4 + 5 on web-1, 10 on web-2, all in the bucket starting at t0.
    let requests = q("requests_sum");
    assert_eq!(single(&requests), 22.0, "{requests}");
    let series = &requests["series"][0];
    assert_eq!(series["pointlist"][0][0], t0 * 1000, "{series}");
    assert_eq!(series["interval"], 60);
    assert_eq!(series["aggr"], "sum");
    assert_eq!(series["metric"], "ddpy.requests");
    assert_eq!(series["scope"], "env:compat");
    assert_eq!(
        by_group(&q("requests_by_host")),
        BTreeMap::from([("host:web-1".into(), 12.0), ("host:web-2".into(), 10.0)])
    );
    assert_eq!(q("requests_by_host")["group_by"], json!(["host"]));
    assert_eq!(single(&q("requests_team_b")), 10.0);
    assert_eq!(single(&q("requests_not_team_b")), 12.0);
    assert_eq!(single(&q("requests_points")), 4.0, "four points stored");

    // Gauge sent with compress_payload=True.
    assert_eq!(single(&q("temperature_avg")), 21.0);
    assert_eq!(single(&q("temperature_max")), 21.5);
    // metrics=[…] with both `type` and the legacy `metric_type`.
    assert_eq!(single(&q("multi_sum")), 3.75);
    // A bare value stamped "now" by the client.
    assert_eq!(values(&q("now")), vec![42.0]);
    // "ddpy.odd name-x" is stored as ddpy.odd_name_x.
    assert_eq!(single(&q("normalised_name")), 7.0);
    assert_eq!(q("missing_metric")["series"], json!([]));

    // Distribution points: 1..=100 on web-1, 1000 on web-2.
    let mut latency: Vec<f64> = (1..=100).map(f64::from).collect();
    latency.push(1000.0);
    assert_eq!(single(&q("latency_count")), 101.0);
    assert_eq!(single(&q("latency_max")), 1000.0);
    let avg = latency.iter().sum::<f64>() / latency.len() as f64;
    assert!(
        (single(&q("latency_avg")) - avg).abs() < 1e-9,
        "{}",
        q("latency_avg")
    );
    assert_sketch_close(
        single(&q("latency_p50")),
        rank_quantile(&latency, 0.5),
        "p50",
    );
    assert_sketch_close(
        single(&q("latency_p99")),
        rank_quantile(&latency, 0.99),
        "p99",
    );
    assert_eq!(
        by_group(&q("latency_max_by_host")),
        BTreeMap::from([("host:web-1".into(), 100.0), ("host:web-2".into(), 1000.0)])
    );

    // A syntax error reaches the client as {"errors": ["… at byte N …"]}.
    let error = out["syntax_error"]["errors"][0].as_str().unwrap();
    assert!(error.contains("byte 28"), "{error}");

    // api.Metric.list: the active metric names.
    let listed: Vec<&str> = out["list"]["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m.as_str().unwrap())
        .collect();
    for name in [
        "ddpy.requests",
        "ddpy.temperature",
        "ddpy.multi.a",
        "ddpy.multi.b",
        "ddpy.now",
        "ddpy.odd_name_x",
        "ddpy.latency",
    ] {
        assert!(listed.contains(&name), "{name} not in {listed:?}");
    }
    assert!(out["list"]["from"].is_string(), "{}", out["list"]);

    // api.Event.create: Datadog's reply shape with a unique id per event.
    let event = &out["event"];
    assert_eq!(event["status"], "ok", "{event}");
    let id = event["event"]["id"].as_u64().unwrap();
    assert!(id > 0, "{event}");
    assert_eq!(event["event"]["id_str"], id.to_string());
    assert_eq!(event["event"]["title"], "Deploy finished");
    assert_eq!(event["event"]["text"], "version 42\nall good");
    assert_eq!(event["event"]["tags"], json!(["env:compat", "deploy:42"]));
    assert!(event["event"]["date_happened"].as_i64().unwrap() >= t0);
    let second = out["second_event"]["event"]["id"].as_u64().unwrap();
    assert_ne!(id, second, "event ids are unique");

    // The events are found by the log search as source:event.
    let events = search(&server, &keys, "source:event");
    assert_eq!(events.len(), 2, "{events:#?}");
    let deploy = hit(&events, "Deploy finished\nversion 42\nall good");
    assert_eq!(deploy["status"], "ok", "alert_type success: {deploy}");
    assert_eq!(deploy["host"], "web-1");
    assert_eq!(deploy["attributes"]["title"], "Deploy finished");
    assert_eq!(deploy["attributes"]["aggregation_key"], "deploy-42");
    assert!(has_tag(deploy, "deploy:42"), "{deploy}");
    hit(&events, "Second event");
    assert_eq!(search(&server, &keys, "source:event deploy:42").len(), 1);

    // The service check as source:service_check.
    let checks = search(&server, &keys, "source:service_check");
    assert_eq!(checks.len(), 1, "{checks:#?}");
    let check = hit(&checks, "app.can_connect: connection refused");
    assert_eq!(check["status"], "critical");
    assert_eq!(check["host"], "web-1");
    assert_eq!(check["attributes"]["check"], "app.can_connect");
    assert_eq!(check["attributes"]["status_code"], 2);
    assert!(has_tag(check, "db:main"), "{check}");
}

/// Polls until `done` holds (or 20 s pass; then the caller's asserts report).
fn wait_until(mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !done() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// datadogpy's DogStatsd (buffering off and on) and raw datagrams: the
/// listener aggregates 10 s windows like the Agent (counts summed and scaled
/// by 1/sample rate, gauge last value, set unique count, histogram and timer
/// aggregates, distributions as sketches, value packing, timestamped counts);
/// malformed lines are counted by reason on `/metrics` while the valid lines
/// of the same datagram are kept; SIGTERM writes the open window, and
/// everything is answered by `/api/v1/query` (events and service checks by
/// the log search) after a restart on the same data directory.
#[test]
fn datadogpy_dogstatsd_windows_survive_restart_with_agent_semantics() {
    let dir = tempfile::tempdir().unwrap();
    let udp = free_udp_port();
    let listen = format!("127.0.0.1:{udp}");
    let server = Server::start(dir.path(), &["--statsd-listen", &listen]);
    let keys = server.keys();
    let sent = last_json(&python(
        "dogstatsd_metrics.py",
        &["127.0.0.1", &udp.to_string()],
    ));
    let window = sent["window"].as_i64().unwrap();
    let metric_lines = sent["metric_lines"].as_f64().unwrap();
    let parse_errors = sent["parse_errors"].as_object().unwrap().clone();

    // Everything was received and parsed before the server is stopped.
    let received = |kind: &str| {
        prometheus_sum(
            &server,
            "strata_statsd_messages_total",
            &format!("kind=\"{kind}\""),
        )
    };
    wait_until(|| {
        received("metric") >= metric_lines
            && received("event") >= 2.0
            && received("service_check") >= 2.0
            && prometheus_sum(&server, "strata_statsd_parse_errors_total", "") >= 6.0
    });
    // At least: the buffered client may add its own telemetry lines
    // (datadog.dogstatsd.client.*) if a flush comes 10 s after it started.
    assert!(
        received("metric") >= metric_lines,
        "metric lines parsed: {} of {metric_lines}",
        received("metric")
    );
    assert_eq!(received("event"), 2.0);
    assert_eq!(received("service_check"), 2.0);
    for (reason, count) in &parse_errors {
        assert_eq!(
            prometheus_sum(
                &server,
                "strata_statsd_parse_errors_total",
                &format!("reason=\"{reason}\"")
            ),
            count.as_f64().unwrap(),
            "strata_statsd_parse_errors_total{{reason={reason}}}"
        );
    }
    assert_eq!(
        prometheus_sum(&server, "strata_statsd_parse_errors_total", ""),
        6.0
    );
    assert!(prometheus_sum(&server, "strata_statsd_packets_total", "") > 0.0);

    // SIGTERM writes the open windows; a restart reads them back.
    let (status, stderr) = server.terminate();
    assert!(status.success(), "{stderr}");
    let server = Server::start(dir.path(), &[]);
    let from = window - window.rem_euclid(60) - 600;
    let to = from + 1260;
    let q = |text: &str| query(&server, &keys, from, to, text);
    let in_window = |text: &str| {
        let answer = q(text);
        let value = single(&answer);
        let series = &answer["series"][0];
        let bucket = series["pointlist"][0][0].as_i64().unwrap();
        let width = series["interval"].as_i64().unwrap() * 1000;
        assert!(
            bucket <= window * 1000 && window * 1000 < bucket + width,
            "{text}: bucket {bucket} does not hold the window {window}: {answer}"
        );
        value
    };

    // Counts: 10 increments + 5 - 2 unbuffered, 5 × 2 buffered.
    assert_eq!(in_window("sum:statsd.compat.hits{env:compat}"), 23.0);
    assert_eq!(
        in_window("sum:statsd.compat.hits{*}.as_count()"),
        23.0,
        "a count stays a count"
    );
    // Sample rates: 3|@0.5 twice and 1|@0.25 → 6 + 6 + 4.
    assert_eq!(in_window("sum:statsd.compat.sampled{*}"), 16.0);
    // Gauge: the last value of the window (1, 7, 3).
    assert_eq!(in_window("avg:statsd.compat.queue{*}"), 3.0);
    // Set: alice, bob, carol, 42.
    assert_eq!(in_window("avg:statsd.compat.users{*}"), 4.0);
    // Histogram 10, 20, 30, 40.
    assert_eq!(in_window("max:statsd.compat.request_size.max{*}"), 40.0);
    assert_eq!(in_window("avg:statsd.compat.request_size.avg{*}"), 25.0);
    assert_eq!(in_window("avg:statsd.compat.request_size.median{*}"), 20.0);
    assert_eq!(
        in_window("avg:statsd.compat.request_size.95percentile{*}"),
        40.0
    );
    assert_eq!(
        in_window("sum:statsd.compat.request_size.count{*}.as_count()"),
        4.0,
        ".count is a rate of 4 per 10 s window"
    );
    assert!((in_window("sum:statsd.compat.request_size.count{*}") - 0.4).abs() < 1e-9);
    // Timer 100 ms, 300 ms.
    assert_eq!(in_window("avg:statsd.compat.db_time.avg{*}"), 200.0);
    assert_eq!(in_window("max:statsd.compat.db_time.max{*}"), 300.0);
    assert_eq!(
        in_window("sum:statsd.compat.db_time.count{*}.as_count()"),
        2.0
    );
    // Value packing (protocol v1.1): 1:2:3|h.
    assert_eq!(in_window("max:statsd.compat.packed.max{*}"), 3.0);
    assert_eq!(
        in_window("sum:statsd.compat.packed.count{*}.as_count()"),
        3.0
    );
    // The valid lines around the malformed ones: 1 + 2.
    assert_eq!(in_window("sum:statsd.compat.mixed{*}"), 3.0);
    // A host: tag becomes the series' host.
    assert_eq!(
        by_group(&q("avg:statsd.compat.connections{*} by {host}")),
        BTreeMap::from([("host:db-1".into(), 12.0)])
    );
    // A timestamped count (|T, protocol v1.3) keeps its own timestamp.
    let stamped = sent["stamped"].as_i64().unwrap();
    let answer = q("sum:statsd.compat.stamped{*}.rollup(sum, 60)");
    assert_eq!(single(&answer), 5.0, "{answer}");
    assert_eq!(
        answer["series"][0]["pointlist"][0][0].as_i64().unwrap(),
        (stamped - stamped.rem_euclid(60)) * 1000,
        "{answer}"
    );

    // Distribution 1..=1000 (buffered client): a sketch per window.
    let payload: Vec<f64> = (1..=1000).map(f64::from).collect();
    assert_sketch_close(
        in_window("p50:statsd.compat.payload{*}"),
        rank_quantile(&payload, 0.5),
        "p50",
    );
    assert_sketch_close(
        in_window("p99:statsd.compat.payload{*}"),
        rank_quantile(&payload, 0.99),
        "p99",
    );
    assert_eq!(in_window("count:statsd.compat.payload{*}"), 1000.0);
    assert_eq!(in_window("max:statsd.compat.payload{*}"), 1000.0);
    assert_eq!(in_window("min:statsd.compat.payload{*}"), 1.0);
    assert_eq!(in_window("sum:statsd.compat.payload{*}"), 500_500.0);
    assert_eq!(in_window("avg:statsd.compat.payload{*}"), 500.5);

    // Events (the malformed _e line is not one).
    let events = search(&server, &keys, "source:event");
    assert_eq!(events.len(), 2, "{events:#?}");
    let disk = hit(&events, "Disk almost full\nsda1 at 91%\nclean up /var/log");
    assert_eq!(disk["status"], "error");
    assert_eq!(disk["host"], "db-1");
    assert_eq!(disk["attributes"]["aggregation_key"], "disk-sda1");
    assert_eq!(disk["attributes"]["source_type_name"], "compat");
    assert!(has_tag(disk, "device:sda1"), "{disk}");
    let buffered = hit(&events, "Buffered event\nfrom the buffered client");
    assert_eq!(buffered["status"], "info");

    // Service checks (the one with status 9 is not one). datadogpy escapes
    // "m:" in the message as "m\:"; it reads back unescaped.
    let checks = search(&server, &keys, "source:service_check");
    assert_eq!(checks.len(), 2, "{checks:#?}");
    let db = hit(&checks, "compat.db.can_connect: timed out m: 10s");
    assert_eq!(db["status"], "critical");
    assert_eq!(db["host"], "db-1");
    assert_eq!(db["attributes"]["status_code"], 2);
    let cache = hit(&checks, "compat.cache.ok");
    assert_eq!(cache["status"], "ok");
    assert_eq!(cache["host"], "cache-1");
    assert_eq!(cache["attributes"]["check"], "compat.cache.ok");
}

/// datadog-api-client: v2 `submit_metrics` (JSON, every intake type; plain,
/// deflate, gzip and zstd1 bodies), v1 `submit_metrics`, distribution
/// points, events and service checks; the client's models accept our 202
/// bodies, the `query_metrics` answer (interval, pointlist, tag_set, …) and
/// `list_active_metrics`, and surface our 400/403 errors. The script asserts
/// the values it reads; this test re-reads two of them over HTTP.
#[test]
fn datadog_api_client_metrics_models_accept_our_answers() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]);
    let keys = server.keys();
    let out = last_json(&python(
        "datadog_api_client_metrics.py",
        &[&server.url(""), &keys.api_key, &keys.app_key],
    ));
    let t0 = out["t0"].as_i64().unwrap();
    assert!(out["event_id"].as_u64().unwrap() > 0, "{out}");
    assert!(
        out["query_error"].as_str().unwrap().contains("byte 33"),
        "the 400 names the position: {out}"
    );
    assert_eq!(
        out["values"]["by_encoding"],
        json!({"encoding:deflate": 1.0, "encoding:gzip": 2.0, "encoding:zstd1": 3.0})
    );

    let now = now_s();
    let zstd = query(
        &server,
        &keys,
        t0,
        now + 60,
        "sum:apiclient.v2.encoded{encoding:zstd1}.rollup(sum, 60)",
    );
    assert_eq!(single(&zstd), 3.0, "{zstd}");
    let rate = query(
        &server,
        &keys,
        t0,
        now + 60,
        "sum:apiclient.v2.rate{host:h2}.rollup(sum, 60)",
    );
    assert_eq!(single(&rate), 0.5, "a rate reads as sent: {rate}");
    // Nothing was stored for the refused requests.
    let (status, listed) = get_json(
        &format!("{}?from={}", server.url("/api/v1/metrics"), now - 3600),
        &[
            ("DD-API-KEY", &keys.api_key),
            ("DD-APPLICATION-KEY", &keys.app_key),
        ],
    );
    assert_eq!(status, 200, "{listed}");
    let names = listed["metrics"].as_array().unwrap();
    assert!(
        !names.iter().any(|n| n == "apiclient.forbidden"),
        "{listed}"
    );
    assert!(names.iter().any(|n| n == "apiclient.v1.gauge"), "{listed}");

    // The event and the service check are searchable.
    let events = search(&server, &keys, "source:event");
    let event = hit(&events, "api client event\nfrom datadog-api-client");
    assert_eq!(event["status"], "warn");
    assert_eq!(event["host"], "h1");
    let checks = search(&server, &keys, "source:service_check");
    let check = hit(&checks, "apiclient.check: slow");
    assert_eq!(check["status"], "warn");
    assert_eq!(check["attributes"]["status_code"], 1);
}
