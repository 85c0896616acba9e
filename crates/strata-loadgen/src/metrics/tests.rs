use std::convert::Infallible;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use strata_ingest::{
    decode_series_v2_json, decode_series_v2_protobuf, decompress, Encoding, MetricsLimits,
};
use tokio::net::TcpListener;

use super::*;

const NOW: i64 = 1_700_000_005;

fn format(protocol: MetricsProtocol, encoding: BodyEncoding) -> BodyFormat {
    BodyFormat {
        protocol,
        encoding,
        gzip_level: 6,
        zstd_level: 1,
    }
}

fn ingest_encoding(encoding: BodyEncoding) -> Encoding {
    match encoding {
        BodyEncoding::Zstd => Encoding::Zstd,
        BodyEncoding::Gzip => Encoding::Gzip,
        BodyEncoding::Deflate => Encoding::Deflate,
        BodyEncoding::Identity => Encoding::Identity,
    }
}

/// Decodes a body the way the server does; returns (points kept, points
/// dropped, series).
fn decode(body: &[u8], fmt: &BodyFormat, now_s: i64) -> (usize, usize, usize) {
    let raw = decompress(body, ingest_encoding(fmt.encoding), MAX_RAW_BYTES).unwrap();
    let decoded = match fmt.protocol {
        MetricsProtocol::V2Json => decode_series_v2_json(&raw, now_s, &MetricsLimits::DATADOG),
        _ => decode_series_v2_protobuf(&raw, now_s, &MetricsLimits::DATADOG),
    }
    .unwrap();
    (
        decoded.batch.point_count(),
        decoded.dropped_points(),
        decoded.batch.series.len(),
    )
}

#[test]
fn layouts_place_points_step_by_step() {
    let recent = PointLayout::recent(100, 10, 100 * 50, NOW);
    assert_eq!(recent.point(0), (0, NOW - 5 - 49 * 10));
    assert_eq!(recent.point(99), (99, NOW - 5 - 49 * 10));
    assert_eq!(recent.point(100), (0, NOW - 5 - 48 * 10));
    assert_eq!(recent.point(4_999), (99, NOW - 5));
    // More steps than the 30-minute window: the timestamps wrap.
    let wrapped = PointLayout::recent(10, 10, 10 * 500, NOW);
    assert_eq!(wrapped.wrap_steps, 180);
    assert_eq!(wrapped.point(0).1, NOW - 5 - 179 * 10);
    assert_eq!(wrapped.point(10 * 180), wrapped.point(0));
    for k in 0..5_000 {
        let ts = wrapped.point(k).1;
        assert!(
            ts <= NOW && NOW - ts < RECENT_WINDOW_SECS as i64,
            "{k}: {ts}"
        );
    }
    // A backfill covers every step once, the newest at now.
    let day = PointLayout::backfill(3, 10, 8_640, NOW);
    assert_eq!(day.point(0), (0, NOW - 5 - 8_639 * 10));
    assert_eq!(day.point(3 * 8_640 - 1), (2, NOW - 5));
}

#[test]
fn protobuf_payload_decodes_with_the_requested_point_count() {
    let catalog = SeriesCatalog::agent(2_000, 42);
    let layout = PointLayout::recent(2_000, 10, 10_000, NOW);
    let fmt = format(MetricsProtocol::V2Protobuf, BodyEncoding::Zstd);
    let bodies = build_bodies(&catalog, &layout, 0..10_000, &fmt).unwrap();
    assert_eq!(bodies.len(), 1);
    let body = &bodies[0];
    assert_eq!(body.events(), 10_000);
    assert!(body.wire_len() <= MAX_WIRE_BYTES && body.raw_len() <= MAX_RAW_BYTES);
    assert!(body.raw_len() > 3 * body.wire_len(), "{body:?}");
    let (kept, dropped, series) = decode(body.body(), &fmt, NOW);
    assert_eq!((kept, dropped, series), (10_000, 0, 2_000));

    // The message itself: 5 points per series, the Agent's field layout.
    let message = protobuf_payload(&catalog, &layout, 0..10_000);
    assert_eq!(message.series.len(), 2_000);
    let first = &message.series[0];
    assert_eq!(first.metric, "system.cpu.user");
    assert_eq!(first.r#type, 3);
    assert_eq!(first.points.len(), 5);
    assert_eq!(first.resources[0].r#type, "host");
    assert!(first.tags.iter().any(|t| t.starts_with("env:")));
    let counts = message
        .series
        .iter()
        .find(|s| s.metric == "http.requests")
        .unwrap();
    assert_eq!((counts.r#type, counts.interval), (1, 10));
}

#[test]
fn a_full_agent_payload_is_one_flush_of_every_series() {
    let catalog = SeriesCatalog::agent(10_000, 42);
    let layout = PointLayout::recent(10_000, 10, 640_000, NOW);
    for fmt in [
        format(MetricsProtocol::V2Protobuf, BodyEncoding::Zstd),
        format(MetricsProtocol::V2Json, BodyEncoding::Deflate),
        format(MetricsProtocol::V2Json, BodyEncoding::Gzip),
    ] {
        let bodies = build_bodies(&catalog, &layout, 10_000..20_000, &fmt).unwrap();
        let points: usize = bodies.iter().map(Payload::events).sum();
        assert_eq!(points, 10_000, "{fmt:?}");
        let mut decoded = 0;
        for body in &bodies {
            assert!(body.wire_len() <= MAX_WIRE_BYTES, "{fmt:?} {body:?}");
            assert!(body.raw_len() <= MAX_RAW_BYTES, "{fmt:?} {body:?}");
            let (kept, dropped, series) = decode(body.body(), &fmt, NOW);
            assert_eq!(dropped, 0);
            assert_eq!(kept, series, "one point per series");
            decoded += kept;
        }
        assert_eq!(decoded, 10_000, "{fmt:?}");
    }
}

#[test]
fn bodies_over_the_intake_limits_are_split() {
    // Uncompressed protobuf of 10,000 series is well over 512,000 bytes.
    let catalog = SeriesCatalog::agent(10_000, 1);
    let layout = PointLayout::recent(10_000, 10, 10_000, NOW);
    let fmt = format(MetricsProtocol::V2Protobuf, BodyEncoding::Identity);
    let bodies = build_bodies(&catalog, &layout, 0..10_000, &fmt).unwrap();
    assert!(bodies.len() >= 2, "{}", bodies.len());
    let mut total = 0;
    for body in &bodies {
        assert!(body.wire_len() <= MAX_WIRE_BYTES, "{body:?}");
        assert_eq!(body.wire_len(), body.raw_len());
        let (kept, _, _) = decode(body.body(), &fmt, NOW);
        assert_eq!(kept, body.events());
        total += kept;
    }
    assert_eq!(total, 10_000);
}

#[test]
fn json_payload_has_the_api_client_shape() {
    let catalog = SeriesCatalog::agent(3, 42);
    let layout = PointLayout::recent(3, 10, 6, NOW);
    let body: serde_json::Value =
        serde_json::from_slice(&json_payload(&catalog, &layout, 0..6)).unwrap();
    let series = body["series"].as_array().unwrap();
    assert_eq!(series.len(), 3);
    let first = &series[0];
    assert_eq!(first["metric"], "system.cpu.user");
    assert_eq!(first["type"], 3);
    assert_eq!(first["unit"], "percent");
    assert_eq!(first["resources"][0]["type"], "host");
    assert_eq!(first["points"].as_array().unwrap().len(), 2);
    assert_eq!(first["points"][1]["timestamp"], NOW - 5);
    assert!(first["points"][0]["value"].is_f64());
    assert!(first.get("interval").is_none(), "gauges carry no interval");
}

#[test]
fn cycle_bodies_are_deterministic_and_distinct() {
    let catalog = SeriesCatalog::agent(500, 9);
    let layout = PointLayout::recent(500, 10, 4 * 1_000, NOW);
    let fmt = format(MetricsProtocol::V2Protobuf, BodyEncoding::Zstd);
    let a = build_cycle(&catalog, &layout, 1_000, 4, &fmt).unwrap();
    let b = build_cycle(&catalog, &layout, 1_000, 4, &fmt).unwrap();
    assert_eq!(a.len(), 4);
    for (x, y) in a.iter().zip(&b) {
        assert_eq!(x.body(), y.body());
    }
    assert_ne!(a[0].body(), a[1].body());
}

/// What the test server saw.
#[derive(Debug, Default)]
struct Seen {
    requests: AtomicU64,
    points: AtomicU64,
    /// Timestamps of every point, in arrival order.
    timestamps: Mutex<Vec<i64>>,
    bad: Mutex<Vec<String>>,
    /// `(n, status)`: every n-th request is answered `status` without
    /// storing anything.
    fail: Option<(u64, u16)>,
}

/// A tiny metrics intake: decodes every body like the server does, answers
/// 202 `{"errors":[]}`, and serves `/metrics` with the points counter.
async fn serve(seen: Arc<Seen>) -> String {
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
                    async move { Ok::<_, Infallible>(handle(req, &seen).await) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    format!("http://{addr}")
}

async fn handle(req: Request<Incoming>, seen: &Seen) -> Response<Full<Bytes>> {
    if req.uri().path() == "/metrics" {
        let text = format!(
            "# TYPE strata_metric_points_total counter\nstrata_metric_points_total{{source=\"datadog_metrics\"}} {}\n",
            seen.points.load(Ordering::SeqCst)
        );
        return Response::new(Full::new(Bytes::from(text)));
    }
    let mut problems = Vec::new();
    if req.uri().path() != "/api/v2/series" {
        problems.push(format!("{} {}", req.method(), req.uri()));
    }
    let h = req.headers();
    let header = |name: &str| h.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
    if header("dd-api-key").as_deref() != Some("test-key") {
        problems.push("missing DD-API-KEY".into());
    }
    if header("content-type").as_deref() != Some("application/x-protobuf") {
        problems.push(format!("content-type {:?}", header("content-type")));
    }
    let encoding = Encoding::parse(header("content-encoding").as_deref()).unwrap();
    if encoding != Encoding::Zstd {
        problems.push(format!("content-encoding {encoding:?}"));
    }
    let body = req.into_body().collect().await.unwrap().to_bytes();
    let n = seen.requests.fetch_add(1, Ordering::SeqCst) + 1;
    if let Some((every, status)) = seen.fail {
        if n.checked_rem(every) == Some(0) {
            let mut resp = Response::new(Full::new(Bytes::from_static(
                br#"{"errors":["ingest is over its memory budget; retry shortly"]}"#,
            )));
            *resp.status_mut() = StatusCode::from_u16(status).unwrap();
            return resp;
        }
    }
    let raw = decompress(&body, encoding, MAX_RAW_BYTES).unwrap();
    let limits = MetricsLimits {
        max_past_s: 10 * 86_400,
        ..MetricsLimits::DATADOG
    };
    match decode_series_v2_protobuf(&raw, unix_now_ms() / 1000, &limits) {
        Ok(decoded) => {
            if decoded.dropped_points() > 0 {
                problems.push(format!("dropped {:?}", decoded.dropped));
            }
            let mut timestamps = seen.timestamps.lock().unwrap();
            for series in &decoded.batch.series {
                timestamps.extend(series.points.iter().map(|p| p.ts_s));
            }
            seen.points
                .fetch_add(decoded.batch.point_count() as u64, Ordering::SeqCst);
        }
        Err(e) => problems.push(format!("decode: {e}")),
    }
    seen.bad.lock().unwrap().extend(problems);
    let mut resp = Response::new(Full::new(Bytes::from_static(br#"{"errors":[]}"#)));
    *resp.status_mut() = StatusCode::ACCEPTED;
    resp
}

fn args(target: String) -> LoadgenArgs {
    LoadgenArgs {
        target,
        api_key: Some("test-key".into()),
        connections: 2,
        metrics: true,
        series: 50,
        ..LoadgenArgs::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backfill_sends_every_point_once() {
    let seen = Arc::new(Seen::default());
    let target = serve(Arc::clone(&seen)).await;
    // 0.05 h at 10 s = 18 steps x 50 series = 900 points in bodies of 100.
    let s = run_metrics(&LoadgenArgs {
        backfill_hours: Some(0.05),
        batch_size: Some(100),
        ..args(target)
    })
    .await
    .unwrap();
    assert!(
        seen.bad.lock().unwrap().is_empty(),
        "{:?}",
        seen.bad.lock().unwrap()
    );
    assert_eq!(seen.requests.load(Ordering::SeqCst), 9);
    assert_eq!(s.points_sent, 900, "{s:?}");
    assert_eq!(s.points_acked, 900, "{s:?}");
    assert_eq!(s.requests_ok, 9);
    assert_eq!(s.server_points_stored, Some(900), "{s:?}");
    assert_eq!(s.avg_points_per_request, 100.0);
    // 18 distinct timestamps, each for all 50 series.
    let mut timestamps = seen.timestamps.lock().unwrap().clone();
    timestamps.sort_unstable();
    timestamps.dedup();
    assert_eq!(timestamps.len(), 18);
    assert_eq!(timestamps[1] - timestamps[0], 10);
    let human = s.human();
    assert!(human.contains("every point of the last 0.05 h"), "{human}");
    assert!(human.contains("900 points stored"), "{human}");
    assert!(
        human.contains("900 of 900 points acked, 0 given up"),
        "{human}"
    );
    // One JSON line that reads back (floats may differ in the last digit:
    // serde_json's default float parsing is not exact round-trip).
    let line = s.to_json_line();
    assert!(!line.contains('\n'));
    let back: MetricsSummary = serde_json::from_str(&line).unwrap();
    assert_eq!(back.points_acked, s.points_acked);
    assert_eq!(back.server_points_dropped, s.server_points_dropped);
    assert_eq!(back.backfill_points_total, Some(900));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backfill_resends_bodies_answered_503() {
    let seen = Arc::new(Seen {
        fail: Some((3, 503)),
        ..Seen::default()
    });
    let target = serve(Arc::clone(&seen)).await;
    let s = run_metrics(&LoadgenArgs {
        backfill_hours: Some(0.05),
        batch_size: Some(100),
        ..args(target)
    })
    .await
    .unwrap();
    assert!(
        seen.bad.lock().unwrap().is_empty(),
        "{:?}",
        seen.bad.lock().unwrap()
    );
    // Every point arrived exactly once despite one request in three failing.
    assert_eq!(seen.points.load(Ordering::SeqCst), 900);
    assert_eq!(seen.timestamps.lock().unwrap().len(), 900);
    assert_eq!(s.points_acked, 900, "{s:?}");
    assert_eq!(s.points_given_up, 0, "{s:?}");
    assert_eq!(s.requests_ok, 9);
    assert!(s.requests_failed >= 4, "{s:?}");
    assert_eq!(s.errors_by_status.get("503"), Some(&s.requests_failed));
    assert_eq!(s.points_sent, 900 + 100 * s.requests_failed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backfill_gives_up_on_client_errors() {
    let seen = Arc::new(Seen {
        fail: Some((1, 400)),
        ..Seen::default()
    });
    let target = serve(Arc::clone(&seen)).await;
    let s = run_metrics(&LoadgenArgs {
        backfill_hours: Some(0.05),
        batch_size: Some(300),
        ..args(target)
    })
    .await
    .unwrap();
    // A 400 would fail again: each body is sent once and given up.
    assert_eq!(seen.requests.load(Ordering::SeqCst), 3);
    assert_eq!(s.points_acked, 0);
    assert_eq!(s.points_given_up, 900, "{s:?}");
    assert!(s.human().contains("0 of 900 points acked, 900 given up"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cycling_run_counts_acked_points() {
    let seen = Arc::new(Seen::default());
    let target = serve(Arc::clone(&seen)).await;
    let s = run_metrics(&LoadgenArgs {
        duration: Some(0.3),
        batch_size: Some(200),
        payloads: 3,
        ..args(target)
    })
    .await
    .unwrap();
    assert!(
        seen.bad.lock().unwrap().is_empty(),
        "{:?}",
        seen.bad.lock().unwrap()
    );
    assert!(s.requests_ok > 0, "{s:?}");
    assert_eq!(s.points_acked, 200 * s.requests_ok);
    assert_eq!(s.points_sent, s.points_acked);
    assert_eq!(s.server_points_stored, Some(s.points_acked), "{s:?}");
    assert_eq!(s.protocol, "v2-protobuf");
    assert_eq!(s.encoding, "zstd");
    assert!(s.points_per_sec > 0.0 && s.compression_ratio > 1.0, "{s:?}");
}

#[tokio::test]
async fn run_metrics_rejects_bad_arguments() {
    let base = args("http://127.0.0.1:9".into());
    for bad in [
        LoadgenArgs {
            series: 0,
            ..base.clone()
        },
        LoadgenArgs {
            interval: 0,
            ..base.clone()
        },
        LoadgenArgs {
            backfill_hours: Some(-1.0),
            ..base.clone()
        },
        LoadgenArgs {
            batch_size: Some(0),
            ..base.clone()
        },
        LoadgenArgs {
            connections: 0,
            ..base.clone()
        },
    ] {
        let err = run_metrics(&bad).await.unwrap_err();
        assert!(matches!(err, LoadgenError::InvalidArgs { .. }), "{err}");
    }
}
