//! Issue 6: the Elasticsearch-compatible intake works with the real,
//! unmodified `elasticsearch` 8.x Python client (installed by
//! `scripts/install-test-deps.sh`; `compat/elasticsearch_bulk.py`), and
//! refuses bad input with Elasticsearch's statuses and error shapes.
//!
//! Every test reads the documents back through the log search and checks
//! the mapped fields (message, status from `log.level`, host, service,
//! `index:<name>` tag, timestamp, nested and dotted attributes), not only
//! the statuses the intake answered.

mod common;

use std::io::Write;
use std::time::Duration;

use serde_json::{json, Value};

use common::storage::{now_ms, search_all};
use common::{Keys, Server};

/// Runs `tests/compat/<script>`; the JSON object it prints last.
fn python(script: &str, args: &[&str]) -> Value {
    common::compat::last_json(&common::compat::python(script, args))
}

/// Every event matching `query` in the last and next hour.
fn search(server: &Server, keys: &Keys, query: &str) -> Vec<Value> {
    search_all(server, keys, query, "now-1h", "now+1h")
}

/// The `attributes` of the hit whose message is `message`.
fn hit<'a>(hits: &'a [Value], message: &str) -> &'a Value {
    &hits
        .iter()
        .find(|h| h["attributes"]["message"] == message)
        .unwrap_or_else(|| panic!("{message:?} not found in {hits:#?}"))["attributes"]
}

fn hit_id(hits: &[Value], message: &str) -> String {
    let found = hits
        .iter()
        .find(|h| h["attributes"]["message"] == message)
        .unwrap_or_else(|| panic!("{message:?} not found"));
    found["id"].as_str().unwrap().to_string()
}

fn has_tag(attributes: &Value, tag: &str) -> bool {
    attributes["tags"]
        .as_array()
        .is_some_and(|tags| tags.iter().any(|t| t == tag))
}

/// Milliseconds of a search hit's `timestamp`.
fn timestamp_ms(attributes: &Value) -> i64 {
    let text = attributes["timestamp"].as_str().unwrap();
    let parsed = parse_iso_ms(text);
    parsed.unwrap_or_else(|| panic!("bad timestamp {text}"))
}

/// Parses `YYYY-MM-DDTHH:MM:SS.mmmZ` (the search API's form) to epoch ms.
fn parse_iso_ms(text: &str) -> Option<i64> {
    let num = |range: std::ops::Range<usize>| text.get(range)?.parse::<i64>().ok();
    let (y, m, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hh, mm, ss, ms) = (num(11..13)?, num(14..16)?, num(17..19)?, num(20..23)?);
    // Days from civil (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(((days * 24 + hh) * 60 + mm) * 60_000 + ss * 1000 + ms)
}

/// The `elasticsearch` client: `info`/`ping`, API-key (raw and `id:key`)
/// and basic auth, `bulk` with every action type, `helpers.bulk` of 500
/// documents, gzip bodies and single documents — all read back with their
/// ECS fields mapped.
#[test]
fn python_client_documents_read_back_with_ecs_mapping() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]);
    let keys = server.keys();
    let started_ms = now_ms();
    let out = python("elasticsearch_bulk.py", &[&server.url(""), &keys.api_key]);

    let info = &out["info"];
    assert!(info["version"]["number"]
        .as_str()
        .unwrap()
        .starts_with("8."));
    assert_eq!(info["version"]["build_flavor"], "default");
    assert!(info["cluster_uuid"].is_string() && info["cluster_name"].is_string());
    assert_eq!(out["bad_key_status"], 401);

    // The bulk reply: one item per action, in order, each with its status.
    let items = out["bulk"]["items"].as_array().unwrap();
    assert_eq!(items[0]["index"]["_id"], "doc-1");
    assert_eq!(items[0]["index"]["result"], "created");
    assert_eq!(items[1]["create"]["status"], 201);
    assert_eq!(
        items[2]["delete"]["error"]["type"],
        "illegal_argument_exception"
    );
    assert_eq!(items[3]["update"]["status"], 400);
    assert_eq!(
        items[4]["index"]["error"]["type"],
        "invalid_index_name_exception"
    );

    let compat = search(&server, &keys, "index:es-compat");
    assert_eq!(compat.len(), 3, "{compat:#?}");
    let nested = hit(&compat, "es-nested");
    assert_eq!(nested["status"], "warn");
    assert_eq!(nested["host"], "es-host-1");
    assert_eq!(nested["service"], "es-svc");
    assert_eq!(nested["trace_id"], "trace-abc");
    assert!(has_tag(nested, "index:es-compat"), "{nested}");
    let attributes = &nested["attributes"];
    assert_eq!(attributes["log"]["logger"], "app.main", "{nested}");
    assert!(
        attributes["log"].get("level").is_none(),
        "mapped away: {nested}"
    );
    assert_eq!(attributes["host"]["ip"], "10.1.2.3");
    assert_eq!(attributes["http"]["response"]["status_code"], 503);
    assert_eq!(attributes["labels"], json!(["x", "y"]));
    assert_eq!(attributes["_id"], "doc-1");
    let age = started_ms - timestamp_ms(nested);
    assert!(
        (55_000..=120_000).contains(&age),
        "@timestamp epoch ms: {nested}"
    );

    let dotted = hit(&compat, "es-dotted");
    assert_eq!(dotted["status"], "error");
    assert_eq!(dotted["host"], "es-host-2");
    assert_eq!(dotted["service"], "es-svc");
    assert_eq!(dotted["source"], "compat.dotted");
    assert_eq!(dotted["attributes"]["user"]["id"], 42);
    let age = started_ms - timestamp_ms(dotted);
    assert!(
        (110_000..=185_000).contains(&age),
        "@timestamp RFC 3339: {dotted}"
    );
    // A generated `_id` is the event's id.
    assert_eq!(items[1]["create"]["_id"], hit_id(&compat, "es-dotted"));

    let plain = hit(&compat, "es-plain");
    assert_eq!(plain["host"], "es-host-3");
    assert_eq!(plain["status"], "debug");
    assert!(search(&server, &keys, "\"es-refused\"").is_empty());

    // helpers.bulk: all 500, each once.
    let helper = search(&server, &keys, "index:es-helper");
    let mut seqs: Vec<i64> = helper
        .iter()
        .map(|h| h["attributes"]["attributes"]["seq"].as_i64().unwrap())
        .collect();
    seqs.sort_unstable();
    assert_eq!(seqs, (0..500).collect::<Vec<i64>>());
    assert!(helper.iter().all(|h| h["attributes"]["status"] == "info"));

    let gzip = search(&server, &keys, "index:es-gzip service:gz");
    assert_eq!(gzip.len(), 2, "{gzip:#?}");

    let single = search(&server, &keys, "index:es-single");
    assert_eq!(single.len(), 3, "{single:#?}");
    assert_eq!(hit(&single, "es-single-auto")["status"], "warn");
    assert_eq!(out["single"][0]["_id"], hit_id(&single, "es-single-auto"));
    assert_eq!(hit(&single, "es-single-id")["attributes"]["_id"], "given-1");
    assert_eq!(out["single"][1]["_id"], "given-1");
    assert_eq!(
        hit(&single, "es-single-create")["attributes"]["_id"],
        "given-2"
    );
    assert_eq!(out["bad_index"]["status"], 400);
    assert_eq!(out["bad_index"]["type"], "invalid_index_name_exception");
}

const IA: &str = "illegal_argument_exception";
const AV: &str = "action_request_validation_exception";
const MT: &str = "media_type_header_exception";
const PE: &str = "parse_exception";
const TL: &str = "content_too_long_exception";
const SE: &str = "security_exception";
const DP: &str = "document_parsing_exception";

/// A raw request and what it must be answered: ("METHOD path", headers,
/// body, status, error type or "").
type Case<'a> = (&'a str, &'a [(&'a str, &'a str)], &'a [u8], u16, &'a str);

/// One raw HTTP answer.
#[derive(Debug)]
struct Reply {
    status: u16,
    body: Value,
    product: Option<String>,
    content_type: Option<String>,
    authenticate: Option<String>,
    retry_after: Option<String>,
}

fn send(method: &str, url: &str, headers: &[(&str, &str)], body: &[u8]) -> Reply {
    let mut request = ureq::request(method, url).timeout(Duration::from_secs(30));
    for (name, value) in headers {
        request = request.set(name, value);
    }
    let response = match request.send_bytes(body) {
        Ok(response) => response,
        Err(ureq::Error::Status(_, response)) => response,
        Err(error) => panic!("{method} {url}: {error}"),
    };
    let header = |name: &str| response.header(name).map(str::to_string);
    let (product, content_type) = (header("x-elastic-product"), header("content-type"));
    let (authenticate, retry_after) = (header("www-authenticate"), header("retry-after"));
    let status = response.status();
    let text = response.into_string().unwrap_or_default();
    Reply {
        status,
        body: serde_json::from_str(&text).unwrap_or(Value::Null),
        product,
        content_type,
        authenticate,
        retry_after,
    }
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(data).unwrap();
    encoder.finish().unwrap()
}

/// Raw HTTP: per-item and whole-request errors, limits, auth, content
/// types and routing beside the other endpoints, each with Elasticsearch's
/// status, error shape and `X-Elastic-Product` header.
#[test]
fn raw_http_errors_have_elasticsearch_statuses_and_shapes() {
    let dir = tempfile::tempdir().unwrap();
    let limit = ["--set", "limits.max_request_bytes=2000000"];
    let server = Server::start(dir.path(), &limit);
    let keys = server.keys();
    let auth = format!("ApiKey {}", keys.api_key);
    let ndjson = [
        ("Authorization", auth.as_str()),
        ("Content-Type", "application/x-ndjson"),
    ];
    let big = "{\"index\":{}}\n{\"message\":\"padding padding padding padding\"}\n".repeat(40_000);
    let zeros = gzip(&[b' '; 3_000_000]);
    let gz_headers = [
        ("Authorization", auth.as_str()),
        ("Content-Type", "application/json"),
        ("Content-Encoding", "gzip"),
    ];
    let plain = [
        ("Authorization", auth.as_str()),
        ("Content-Type", "text/plain"),
    ];
    let bad_key = [("Authorization", "ApiKey 00000000000000000000000000000000")];
    let basic_bad = [("Authorization", "Basic ZWxhc3RpYzp3cm9uZw==")];
    let dd = [("DD-API-KEY", keys.api_key.as_str())];
    let unknown = b"{\"upsert\":{\"_index\":\"x\"}}\n{}\n";
    let no_source = b"{\"index\":{\"_index\":\"es-raw\"}}\n{\"message\":\"a\"}\n{\"index\":{}}\n";
    let one: &[u8] = b"{\"index\":{}}\n{}\n";
    // ("METHOD path", headers, body, status, error type or "" for none).
    let table: [Case; 16] = [
        ("POST /_bulk", &ndjson, unknown, 400, IA),
        ("POST /_bulk", &ndjson, no_source, 400, AV),
        ("POST /_bulk", &ndjson, b"{\"index\":\n", 400, PE),
        ("POST /_bulk", &ndjson, b"", 400, AV),
        ("POST /es-raw/_bulk", &ndjson, big.as_bytes(), 413, TL),
        ("POST /es-raw/_bulk", &gz_headers, &zeros, 413, TL),
        ("POST /es-raw/_bulk", &plain, one, 406, MT),
        ("POST /es-raw/_doc", &ndjson, b"{not json", 400, DP),
        ("POST /_bulk", &[], one, 401, SE),
        ("POST /_bulk", &bad_key, one, 401, SE),
        ("PUT /es-raw/_doc/1", &basic_bad, b"{}", 401, SE),
        ("GET /", &[], b"", 401, SE),
        ("GET /_bulk", &ndjson, b"", 405, "exception"),
        ("PUT /es-raw/_doc", &ndjson, b"{}", 405, "exception"),
        ("HEAD /", &ndjson, b"", 200, ""),
        ("GET /", &dd, b"", 200, ""),
    ];
    for (request, headers, body, status, error_type) in table {
        let (method, path) = request.split_once(' ').unwrap();
        let reply = send(method, &server.url(path), headers, body);
        let what = format!(
            "{method} {path} {:?}",
            String::from_utf8_lossy(&body[..body.len().min(40)])
        );
        assert_eq!(reply.status, status, "{what}: {reply:?}");
        assert_eq!(reply.product.as_deref(), Some("Elasticsearch"), "{what}");
        if !error_type.is_empty() {
            assert_eq!(reply.body["error"]["type"], error_type, "{what}: {reply:?}");
            assert_eq!(reply.body["error"]["root_cause"][0]["type"], error_type);
            assert_eq!(reply.body["status"], status, "{what}");
            assert!(reply.content_type.unwrap().starts_with("application/json"));
        }
        if status == 401 {
            let challenge = reply.authenticate.unwrap_or_default();
            assert!(
                challenge.contains("Basic") && challenge.contains("ApiKey"),
                "{what}"
            );
        }
    }
    // Nothing of a refused request was stored.
    assert!(search(&server, &keys, "index:es-raw").is_empty());

    // A source line that is not JSON fails its item; the others are stored.
    let mixed = concat!(
        "{\"index\":{}}\n{\"message\":\"raw-good-1\"}\n",
        "{\"index\":{}}\n{\"message\": oops}\n",
        "{\"create\":{}}\n{\"message\":\"raw-good-2\",\"log.level\":\"error\"}\n"
    );
    let vnd = [
        ("Authorization", auth.as_str()),
        (
            "Content-Type",
            "application/vnd.elasticsearch+x-ndjson; compatible-with=8",
        ),
    ];
    let reply = send(
        "POST",
        &server.url("/es-mixed/_bulk"),
        &vnd,
        mixed.as_bytes(),
    );
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(
        reply.content_type.as_deref(),
        Some("application/vnd.elasticsearch+json; compatible-with=8")
    );
    assert_eq!(reply.body["errors"], true);
    let statuses: Vec<&Value> = reply.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| &i.as_object().unwrap().values().next().unwrap()["status"])
        .collect();
    assert_eq!(statuses, [&json!(201), &json!(400), &json!(201)]);
    let error = &reply.body["items"][1]["index"]["error"];
    assert_eq!(error["type"], "document_parsing_exception", "{error}");
    let mixed = search(&server, &keys, "index:es-mixed");
    assert_eq!(mixed.len(), 2, "{mixed:#?}");
    assert_eq!(hit(&mixed, "raw-good-2")["status"], "error");

    // Index names that share a first segment with other routes, and those
    // routes still answering as before.
    for index in ["metrics", "api", "v1", "health"] {
        let body = format!("{{\"index\":{{}}}}\n{{\"message\":\"routed-{index}\"}}\n");
        let reply = send(
            "POST",
            &server.url(&format!("/{index}/_bulk")),
            &ndjson,
            body.as_bytes(),
        );
        assert_eq!(reply.status, 200, "{index}: {reply:?}");
        assert_eq!(reply.body["errors"], false, "{index}");
        let doc = send(
            "POST",
            &server.url(&format!("/{index}/_doc")),
            &ndjson,
            b"{}",
        );
        assert_eq!(doc.status, 201, "{index}/_doc: {doc:?}");
        let found = search(&server, &keys, &format!("index:{index}"));
        assert_eq!(found.len(), 2, "{index}: {found:#?}");
    }
    let metrics = ureq::get(&server.url("/metrics")).call().unwrap();
    let text = metrics.into_string().unwrap();
    assert!(text.contains("strata_ingest_events_total{source=\"elasticsearch\"}"));
    let live = send("GET", &server.url("/health/live"), &[], b"");
    assert_eq!(live.status, 200);
    assert!(
        live.product.is_none(),
        "other routes are not Elasticsearch's"
    );
    let dd_logs = [
        ("DD-API-KEY", keys.api_key.as_str()),
        ("Content-Type", "application/json"),
    ];
    let logs = send(
        "POST",
        &server.url("/api/v2/logs"),
        &dd_logs,
        b"[{\"message\":\"dd\"}]",
    );
    assert_eq!(logs.status, 202);
}

/// Sets the default tenant's events-per-second quota (`None`: unlimited)
/// on a stopped server's data directory.
fn set_quota(dir: &std::path::Path, events_per_sec: Option<&str>) {
    let mut args = vec!["quota", "set", "--data-dir", dir.to_str().unwrap()];
    args.extend(["--tenant", "default"]);
    if let Some(rate) = events_per_sec {
        args.extend(["--events-per-sec", rate]);
    }
    let set = common::admin(&args);
    assert!(set.status.success(), "{set:?}");
}

/// Back-pressure in Elasticsearch's terms: over the tenant's quota a bulk
/// request is a 429 `es_rejected_execution_exception` with `Retry-After`;
/// over the memory budget a 503 with `Retry-After`. Nothing of either is
/// stored.
#[test]
fn quota_and_memory_refusals_are_retryable_and_store_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]);
    let keys = server.keys();
    let stop = |server: Server| {
        let (status, stderr) = server.terminate();
        assert!(status.success(), "{stderr}");
    };
    stop(server);
    set_quota(dir.path(), Some("10"));
    let server = Server::start(dir.path(), &[]);
    let auth = format!("ApiKey {}", keys.api_key);
    let headers = [
        ("Authorization", auth.as_str()),
        ("Content-Type", "application/x-ndjson"),
    ];
    let post = |server: &Server, path: &str, body: &str| {
        send("POST", &server.url(path), &headers, body.as_bytes())
    };
    let body = "{\"index\":{}}\n{\"message\":\"over quota\"}\n".repeat(50);
    // The first request takes the bucket into debt; the next is refused.
    let first = post(&server, "/quota-ok/_bulk", &body);
    assert_eq!(first.status, 200, "{:?}", first.body["errors"]);
    let reply = post(&server, "/quota/_bulk", &body);
    assert_eq!(reply.status, 429, "{:?}", reply.body);
    let error_type = &reply.body["error"]["type"];
    assert_eq!(error_type, "es_rejected_execution_exception");
    assert_eq!(reply.product.as_deref(), Some("Elasticsearch"));
    assert!(reply.retry_after.is_some(), "{reply:?}");
    assert!(search(&server, &keys, "index:quota").is_empty());
    stop(server);

    // The budget is exactly one request's reservation: once anything is in
    // the memtable, the next request is over it.
    set_quota(dir.path(), None);
    let budget = [
        "--set",
        "limits.max_request_bytes=2000000",
        "--set",
        "limits.memory_budget_bytes=4000000",
    ];
    let server = Server::start(dir.path(), &budget);
    let one = "{\"index\":{}}\n{\"message\":\"within budget\"}\n";
    let first = post(&server, "/memory/_bulk", one);
    assert_eq!(first.status, 200, "{first:?}");
    let second = post(&server, "/memory/_bulk", one);
    assert_eq!(second.status, 503, "{second:?}");
    assert_eq!(second.body["error"]["type"], "status_exception");
    assert_eq!(second.retry_after.as_deref(), Some("1"));
    assert_eq!(second.product.as_deref(), Some("Elasticsearch"));
    assert_eq!(search(&server, &keys, "index:memory").len(), 1);
}
