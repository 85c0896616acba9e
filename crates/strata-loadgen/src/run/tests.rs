use super::*;
use crate::run_logs;
use flate2::read::GzDecoder;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Response, StatusCode};
use std::convert::Infallible;
use std::io::Read as _;
use tokio::net::TcpListener;

/// What the test server saw.
#[derive(Debug, Default)]
struct Seen {
    requests: AtomicU64,
    /// Events per request body, in arrival order.
    batches: Mutex<Vec<usize>>,
    bad: Mutex<Vec<String>>,
}

/// A tiny intake: 202 `{}` to everything, 503 to every 10th request.
/// Checks the path, headers and that the body is a JSON array.
async fn serve(seen: Arc<Seen>, expect_gzip: bool) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let seen = Arc::clone(&seen);
            tokio::spawn(async move {
                let svc = service_fn(move |req: Request<Incoming>| {
                    let seen = Arc::clone(&seen);
                    async move { Ok::<_, Infallible>(handle(req, &seen, expect_gzip).await) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    format!("http://{addr}")
}

async fn handle(req: Request<Incoming>, seen: &Seen, expect_gzip: bool) -> Response<Full<Bytes>> {
    let mut problems = Vec::new();
    if req.uri().path() != "/api/v2/logs" || req.method() != Method::POST {
        problems.push(format!("{} {}", req.method(), req.uri()));
    }
    let h = req.headers();
    if h.get("dd-api-key").and_then(|v| v.to_str().ok()) != Some("test-key") {
        problems.push("missing DD-API-KEY".into());
    }
    if h.get(CONTENT_TYPE).and_then(|v| v.to_str().ok()) != Some("application/json") {
        problems.push("content-type".into());
    }
    let gzip = h.get(CONTENT_ENCODING).is_some_and(|v| v == "gzip");
    if gzip != expect_gzip {
        problems.push(format!("content-encoding gzip={gzip}"));
    }
    let body = req.into_body().collect().await.unwrap().to_bytes();
    let raw = if gzip {
        let mut out = Vec::new();
        GzDecoder::new(&body[..]).read_to_end(&mut out).unwrap();
        out
    } else {
        body.to_vec()
    };
    match serde_json::from_slice::<Vec<serde_json::Value>>(&raw) {
        Ok(events) => seen.batches.lock().unwrap().push(events.len()),
        Err(e) => problems.push(format!("body: {e}")),
    }
    seen.bad.lock().unwrap().extend(problems);
    let n = seen.requests.fetch_add(1, Ordering::SeqCst) + 1;
    let (status, body) = match n % 10 {
        0 => (
            StatusCode::SERVICE_UNAVAILABLE,
            r#"{"errors":["Service Unavailable"]}"#,
        ),
        _ => (StatusCode::ACCEPTED, "{}"),
    };
    let mut resp = Response::new(Full::new(Bytes::from_static(body.as_bytes())));
    *resp.status_mut() = status;
    resp
}

fn args(target: String) -> LoadgenArgs {
    LoadgenArgs {
        target,
        api_key: Some("test-key".into()),
        connections: 2,
        payloads: 4,
        ..LoadgenArgs::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_counts_acks_and_503s() {
    let seen = Arc::new(Seen::default());
    let target = serve(Arc::clone(&seen), true).await;
    let s = run_logs(&LoadgenArgs {
        events: Some(20_000),
        ..args(target)
    })
    .await
    .unwrap();

    assert!(
        seen.bad.lock().unwrap().is_empty(),
        "{:?}",
        seen.bad.lock().unwrap()
    );
    assert_eq!(seen.requests.load(Ordering::SeqCst), 20);
    assert_eq!(s.requests_ok + s.requests_failed, 20, "{s:?}");
    assert_eq!(s.requests_failed, 2, "{s:?}");
    assert_eq!(s.errors_by_status.get("503"), Some(&2), "{s:?}");
    assert_eq!(s.errors_by_status.values().sum::<u64>(), s.requests_failed);
    assert_eq!(s.events_sent, 20_000);
    assert_eq!(s.events_acked, 1000 * s.requests_ok);
    assert!(seen.batches.lock().unwrap().iter().all(|&n| n == 1000));
    assert!(
        s.events_per_sec > 0.0 && s.mb_per_sec > s.wire_mb_per_sec,
        "{s:?}"
    );
    assert!(
        s.latency_ms_p50 > 0.0 && s.latency_ms_p50 <= s.latency_ms_p99,
        "{s:?}"
    );
    assert!(s.latency_ms_p99 <= s.latency_ms_max * 1.01, "{s:?}");
    assert!(s.compression_ratio > 3.0, "{s:?}");
    assert!((200.0..=450.0).contains(&s.avg_event_bytes), "{s:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_hits_events_exactly_without_gzip() {
    let seen = Arc::new(Seen::default());
    let target = serve(Arc::clone(&seen), false).await;
    let s = run_logs(&LoadgenArgs {
        events: Some(2_500),
        no_gzip: true,
        ..args(target)
    })
    .await
    .unwrap();
    assert!(
        seen.bad.lock().unwrap().is_empty(),
        "{:?}",
        seen.bad.lock().unwrap()
    );
    let mut batches = seen.batches.lock().unwrap().clone();
    batches.sort_unstable();
    assert_eq!(batches, [500, 1000, 1000]);
    assert_eq!(s.events_sent, 2_500);
    assert_eq!(s.events_acked, 2_500);
    assert_eq!(s.requests_ok, 3);
    assert!(s.errors_by_status.is_empty());
    assert_eq!(s.compression_ratio, 1.0);
    assert!((s.mb_per_sec - s.wire_mb_per_sec).abs() < 1e-9);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_paces_to_rate_for_duration() {
    let seen = Arc::new(Seen::default());
    let target = serve(Arc::clone(&seen), true).await;
    // 10k events/s in batches of 500 = one request every 50 ms: about
    // 12 requests in 0.6 s.
    let s = run_logs(&LoadgenArgs {
        duration: Some(0.6),
        rate: Some(10_000.0),
        batch_size: Some(500),
        ..args(target)
    })
    .await
    .unwrap();
    let requests = s.requests_ok + s.requests_failed;
    assert!((6..=14).contains(&requests), "{s:?}");
    assert_eq!(s.events_sent, 500 * requests);
    assert!(s.elapsed_secs >= 0.5 && s.elapsed_secs < 3.0, "{s:?}");
}

#[tokio::test]
async fn run_fails_fast_when_nothing_listens() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let err = run_logs(&LoadgenArgs {
        payloads: 1,
        batch_size: Some(10),
        ..args(format!("http://{addr}"))
    })
    .await
    .unwrap_err();
    assert!(matches!(err, LoadgenError::Connect { .. }), "{err}");
}

#[tokio::test]
async fn run_rejects_bad_arguments() {
    let base = args("http://127.0.0.1:9".into());
    for bad in [
        LoadgenArgs {
            connections: 0,
            ..base.clone()
        },
        LoadgenArgs {
            batch_size: Some(0),
            ..base.clone()
        },
        LoadgenArgs {
            duration: Some(-1.0),
            ..base.clone()
        },
        LoadgenArgs {
            rate: Some(0.0),
            ..base.clone()
        },
        LoadgenArgs {
            events: Some(0),
            ..base.clone()
        },
    ] {
        let err = run_logs(&bad).await.unwrap_err();
        assert!(matches!(err, LoadgenError::InvalidArgs { .. }), "{err}");
    }
    for target in [
        "https://example.com",
        "127.0.0.1:7600",
        "ftp://x",
        "http://",
    ] {
        let err = run_logs(&args(target.into())).await.unwrap_err();
        assert!(
            matches!(err, LoadgenError::InvalidTarget { .. }),
            "{target}: {err}"
        );
    }
}

#[test]
fn targets_resolve_to_the_intake_paths() {
    let t = parse_target("http://127.0.0.1:7600").unwrap();
    assert_eq!(t.addr, "127.0.0.1:7600");
    assert_eq!(t.host, "127.0.0.1:7600");
    assert_eq!(t.uri(LOGS_PATH).unwrap(), "/api/v2/logs");
    assert_eq!(t.uri(SERIES_PATH).unwrap(), "/api/v2/series");
    let t = parse_target("http://logs.internal/strata/").unwrap();
    assert_eq!(t.addr, "logs.internal:80");
    assert_eq!(t.host, "logs.internal");
    assert_eq!(t.uri(LOGS_PATH).unwrap(), "/strata/api/v2/logs");
    assert_eq!(t.uri("/metrics").unwrap(), "/strata/metrics");
    let t = parse_target("http://[::1]:8080/api/v2/logs").unwrap();
    assert_eq!(t.addr, "[::1]:8080");
    assert_eq!(t.uri(LOGS_PATH).unwrap(), "/api/v2/logs");
    let t = parse_target("http://h:1/x/api/v2/series/").unwrap();
    assert_eq!(t.uri(SERIES_PATH).unwrap(), "/x/api/v2/series");
}

#[tokio::test]
async fn pacer_spaces_requests() {
    let p = Pacer {
        secs_per_item: 1e-3,
        next: Mutex::new(None),
    };
    let a = p.reserve(100);
    let b = p.reserve(100);
    let c = p.reserve(50);
    assert_eq!(b - a, Duration::from_millis(100));
    assert_eq!(c - b, Duration::from_millis(100));
}
