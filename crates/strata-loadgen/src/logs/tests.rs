use super::*;
use std::convert::Infallible;
use std::io::Read as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use flate2::read::GzDecoder;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use strata_ingest::otlp::logs::{ExportLogsPartialSuccess, ExportLogsServiceRequest};
use tokio::net::TcpListener;

use crate::{LogsProtocol, Protocol};

#[test]
fn bulk_answers_count_failed_items() {
    assert_eq!(
        bulk_answer(br#"{"took":3,"errors":false,"items":[]}"#),
        Ok(vec![])
    );
    let body = br#"{"took":3,"errors":true,"items":[
        {"create":{"_index":"loadgen","status":201}},
        {"create":{"_index":"loadgen","status":400,"error":{"type":"mapper_parsing_exception"}}},
        {"create":{"_index":"loadgen","status":429}},
        {"create":{"_index":"loadgen","status":400}},
        {"create":{"_index":"loadgen"}}]}"#;
    assert_eq!(
        bulk_answer(body),
        Ok(vec![
            ("400".into(), 2),
            ("429".into(), 1),
            ("unknown".into(), 1)
        ])
    );
    assert!(bulk_answer(br#"{"errors":true,"items":[{"create":{"status":201}}]}"#).is_err());
    assert!(bulk_answer(b"{}").is_err());
    assert!(bulk_answer(b"accepted").is_err());
}

#[test]
fn otlp_answers_count_rejected_records() {
    assert_eq!(otlp_json_answer(b""), Ok(vec![]));
    assert_eq!(otlp_json_answer(b"{}"), Ok(vec![]));
    assert_eq!(
        otlp_json_answer(br#"{"partialSuccess":{"rejectedLogRecords":"3","errorMessage":"x"}}"#),
        Ok(vec![(OTLP_REJECTED.into(), 3)])
    );
    assert_eq!(
        otlp_json_answer(br#"{"partialSuccess":{"rejectedLogRecords":2}}"#),
        Ok(vec![(OTLP_REJECTED.into(), 2)])
    );
    assert_eq!(otlp_json_answer(br#"{"partialSuccess":{}}"#), Ok(vec![]));
    assert!(otlp_json_answer(b"<html>").is_err());

    assert_eq!(otlp_protobuf_answer(b""), Ok(vec![]));
    let answer = ExportLogsServiceResponse {
        partial_success: Some(ExportLogsPartialSuccess {
            rejected_log_records: 7,
            error_message: "too old".into(),
        }),
    };
    assert_eq!(
        otlp_protobuf_answer(&answer.encode_to_vec()),
        Ok(vec![(OTLP_REJECTED.into(), 7)])
    );
    assert!(otlp_protobuf_answer(b"\xff\xff\xff").is_err());
}

/// What the test intake saw.
#[derive(Debug, Default)]
struct Seen {
    requests: AtomicU64,
    events: AtomicU64,
    bad: Mutex<Vec<String>>,
}

/// An intake for every HTTP logs protocol: checks the path, headers and
/// body of `protocol`, answers 200/202, and on every 4th request rejects
/// two items (bulk `"errors":true`, OTLP `partialSuccess`).
async fn serve(seen: Arc<Seen>, protocol: LogsProtocol) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let seen = Arc::clone(&seen);
            tokio::spawn(async move {
                let svc = service_fn(move |req: Request<Incoming>| {
                    let seen = Arc::clone(&seen);
                    async move { Ok::<_, Infallible>(handle(req, &seen, protocol).await) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    format!("http://{addr}")
}

fn header<'a>(req: &'a Request<Incoming>, name: &str) -> &'a str {
    req.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

async fn handle(
    req: Request<Incoming>,
    seen: &Seen,
    protocol: LogsProtocol,
) -> Response<Full<Bytes>> {
    let mut problems = Vec::new();
    let intake = intake(protocol).unwrap();
    if req.uri().path() != intake.path {
        problems.push(format!("path {}", req.uri()));
    }
    if header(&req, "content-type") != intake.content_type {
        problems.push(format!("content-type {}", header(&req, "content-type")));
    }
    if header(&req, "content-encoding") != "gzip" {
        problems.push("not gzip".into());
    }
    let auth_ok = match protocol {
        LogsProtocol::Bulk => {
            header(&req, "authorization") == "ApiKey test-key"
                && header(&req, "dd-api-key").is_empty()
        }
        _ => header(&req, "dd-api-key") == "test-key",
    };
    if !auth_ok {
        problems.push("auth".into());
    }
    let body = req.into_body().collect().await.unwrap().to_bytes();
    let mut raw = Vec::new();
    GzDecoder::new(&body[..]).read_to_end(&mut raw).unwrap();
    let events = match protocol {
        LogsProtocol::Datadog => serde_json::from_slice::<Vec<serde_json::Value>>(&raw)
            .map(|v| v.len())
            .map_err(|e| e.to_string()),
        LogsProtocol::Otlp => ExportLogsServiceRequest::decode(&raw[..])
            .map(|r| count_records(&r))
            .map_err(|e| e.to_string()),
        LogsProtocol::OtlpJson => serde_json::from_slice::<ExportLogsServiceRequest>(&raw)
            .map(|r| count_records(&r))
            .map_err(|e| e.to_string()),
        LogsProtocol::Bulk => bulk_documents(&raw),
        LogsProtocol::Syslog => Err("syslog over HTTP".into()),
    };
    match events {
        Ok(n) => {
            seen.events.fetch_add(n as u64, Ordering::SeqCst);
        }
        Err(e) => problems.push(format!("body: {e}")),
    }
    seen.bad.lock().unwrap().extend(problems);
    let n = seen.requests.fetch_add(1, Ordering::SeqCst) + 1;
    let reject = n.is_multiple_of(4);
    let (status, body): (StatusCode, Vec<u8>) = match protocol {
        LogsProtocol::Bulk if reject => (
            StatusCode::OK,
            br#"{"took":1,"errors":true,"items":[{"create":{"status":201}},{"create":{"status":429}},{"create":{"status":400}}]}"#.to_vec(),
        ),
        LogsProtocol::Bulk => (StatusCode::OK, br#"{"took":1,"errors":false,"items":[]}"#.to_vec()),
        LogsProtocol::Otlp => {
            let answer = ExportLogsServiceResponse {
                partial_success: reject.then(|| ExportLogsPartialSuccess {
                    rejected_log_records: 2,
                    error_message: "rejected".into(),
                }),
            };
            (StatusCode::OK, answer.encode_to_vec())
        }
        LogsProtocol::OtlpJson if reject => (
            StatusCode::OK,
            br#"{"partialSuccess":{"rejectedLogRecords":"2"}}"#.to_vec(),
        ),
        LogsProtocol::OtlpJson => (StatusCode::OK, b"{}".to_vec()),
        _ => (StatusCode::ACCEPTED, b"{}".to_vec()),
    };
    let mut resp = Response::new(Full::new(Bytes::from(body)));
    *resp.status_mut() = status;
    resp
}

fn count_records(request: &ExportLogsServiceRequest) -> usize {
    request
        .resource_logs
        .iter()
        .flat_map(|rl| &rl.scope_logs)
        .map(|sl| sl.log_records.len())
        .sum()
}

/// Documents in an NDJSON bulk body, checking that every line is JSON and
/// that actions and documents alternate.
fn bulk_documents(raw: &[u8]) -> Result<usize, String> {
    let text = std::str::from_utf8(raw).map_err(|e| e.to_string())?;
    let lines: Vec<&str> = text.lines().collect();
    if !lines.len().is_multiple_of(2) || !text.ends_with('\n') {
        return Err("odd number of lines".into());
    }
    for pair in lines.chunks(2) {
        let action: serde_json::Value = serde_json::from_str(pair[0]).map_err(|e| e.to_string())?;
        let doc: serde_json::Value = serde_json::from_str(pair[1]).map_err(|e| e.to_string())?;
        if action["create"]["_index"] != "loadgen" || !doc["@timestamp"].is_string() {
            return Err(format!("{action} / {doc}"));
        }
    }
    Ok(lines.len() / 2)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_http_protocol_is_sent_and_acked() {
    for protocol in [
        LogsProtocol::Datadog,
        LogsProtocol::Otlp,
        LogsProtocol::OtlpJson,
        LogsProtocol::Bulk,
    ] {
        let seen = Arc::new(Seen::default());
        let target = serve(Arc::clone(&seen), protocol).await;
        let args = LoadgenArgs {
            target,
            api_key: Some("test-key".into()),
            protocol: Some(Protocol::Logs(protocol)),
            connections: 2,
            payloads: 3,
            batch_size: Some(250),
            events: Some(2_100),
            ..LoadgenArgs::default()
        };
        let s = run_logs(&args).await.unwrap();
        let bad = seen.bad.lock().unwrap().clone();
        assert!(bad.is_empty(), "{protocol:?}: {bad:?}");
        // 8 full requests and a remainder of 100; the 4th and 8th answers
        // reject two events (none for datadog).
        assert_eq!(seen.requests.load(Ordering::SeqCst), 9, "{protocol:?}");
        assert_eq!(seen.events.load(Ordering::SeqCst), 2_100, "{protocol:?}");
        assert_eq!(s.protocol, protocol.as_str());
        assert_eq!(s.encoding, "gzip");
        assert_eq!(
            (s.events_sent, s.requests_ok, s.requests_failed),
            (2_100, 9, 0)
        );
        let rejected = if protocol == LogsProtocol::Datadog {
            0
        } else {
            4
        };
        assert_eq!(s.events_rejected, rejected, "{s:?}");
        assert_eq!(s.events_acked, 2_100 - rejected, "{s:?}");
        assert_eq!(
            s.rejected_by_status.values().sum::<u64>(),
            rejected,
            "{s:?}"
        );
        if protocol == LogsProtocol::Bulk {
            let want = BTreeMap::from([("400".to_owned(), 2), ("429".to_owned(), 2)]);
            assert_eq!(s.rejected_by_status, want);
        }
        assert!(s.compression_ratio > 2.0, "{s:?}");
        assert!(s.avg_event_bytes > 150.0, "{s:?}");
        let line = s.to_json_line();
        assert!(
            line.contains(&format!("\"protocol\":\"{}\"", protocol.as_str())),
            "{line}"
        );
    }
}

#[tokio::test]
async fn run_logs_refuses_syslog_and_metrics_protocols() {
    for protocol in [
        Protocol::Logs(LogsProtocol::Syslog),
        Protocol::Metrics(crate::MetricsProtocol::V2Json),
    ] {
        let args = LoadgenArgs {
            protocol: Some(protocol),
            ..LoadgenArgs::default()
        };
        let err = run_logs(&args).await.unwrap_err();
        assert!(
            matches!(
                err,
                LoadgenError::InvalidArgs {
                    flag: "protocol",
                    ..
                }
            ),
            "{err}"
        );
    }
}
