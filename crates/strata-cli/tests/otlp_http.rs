//! Issue 6: the OTLP/HTTP receiver's answers to hand-made requests (no
//! client library: bodies built by `common/otlp.rs`): a successful export
//! answers 200 with an empty `Export*ServiceResponse` in the request's
//! encoding and stores what it carried; a table of bad requests gets the
//! OTLP/HTTP error answers (status, `google.rpc.Status` in the request's
//! encoding) and stores nothing. The real clients are in `otlp_compat.rs`.

mod common;
#[path = "common/otlp.rs"]
mod otlp;

use serde_json::{json, Value};

use common::metrics::now_s;
use common::Server;
use otlp::{attr, decode_status, hex, logs_request, post_raw, search, PbLog};

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
    // 25 % over the limit: the server drains the rest before its 413, so
    // the client reads the answer (CI once saw `Broken pipe` here when it
    // did not).
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
