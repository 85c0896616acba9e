//! The Datadog metrics intake (reference §2): series v1/v2 (JSON and the
//! Agent's protobuf), distribution points, sketches, service checks and
//! events. Points go through the same WAL as logs (one record per request,
//! acknowledged after fsync) into the metrics store; service checks and
//! events are stored as log events (`source:service_check`, `source:event`).

use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::Value;
use strata_ingest::{
    decode_check_runs, decode_distribution_points, decode_events_v1, decode_series_v1,
    decode_series_v2_json, decode_series_v2_protobuf, decode_sketches_protobuf, decompress,
    event_response_json, DecodedMetrics, DroppedPoints, Encoding, IngestError, MetricsLimits,
};
use strata_types::Event;

use crate::error::ApiError;
use crate::intake::{admit, header, ingest_error, observe_request, read_body, refuse, unavailable};
use crate::state::{now_secs, AppState};
use crate::write_path::{commit_events, commit_metrics, decode_blocking, reserve, EventBatch};

/// `/api/v2/series` and `/api/beta/sketches`: 512,000 bytes on the wire,
/// 5,242,880 decompressed (Datadog's documented limits, the Agent's defaults).
const V2_WIRE: u64 = 512_000;
const V2_RAW: u64 = 5_242_880;
/// `/api/v1/series` and distribution points: 3.2 MB on the wire, 62 MiB decompressed.
const V1_WIRE: u64 = 3_200_000;
const V1_RAW: u64 = 62_914_560;

/// What a route decodes to.
enum Stored {
    Metrics(DecodedMetrics),
    Events(Vec<Event>),
}

/// What a route stores, ready for the commit callback.
enum Prepared {
    /// The chunk, the dropped points, the points kept.
    Metrics(strata_tsdb::PreparedChunk, DroppedPoints, usize),
    Events(Vec<Event>),
}

/// One route: its name, size limits, decoder and success body.
struct Route {
    label: &'static str,
    wire_limit: u64,
    raw_limit: u64,
    decode: fn(&[u8], i64, &MetricsLimits, bool) -> Result<Stored, IngestError>,
    success: fn(&[Event], u64) -> (StatusCode, Value),
}

fn metrics(d: Result<DecodedMetrics, IngestError>) -> Result<Stored, IngestError> {
    d.map(Stored::Metrics)
}

fn ok_status(_: &[Event], _: u64) -> (StatusCode, Value) {
    (StatusCode::ACCEPTED, serde_json::json!({"status": "ok"}))
}

fn series_v2_decode(
    raw: &[u8],
    now: i64,
    limits: &MetricsLimits,
    protobuf: bool,
) -> Result<Stored, IngestError> {
    if protobuf {
        metrics(decode_series_v2_protobuf(raw, now, limits))
    } else {
        metrics(decode_series_v2_json(raw, now, limits))
    }
}

fn event_reply(events: &[Event], seq: u64) -> (StatusCode, Value) {
    match events.first() {
        // The id is the event's WAL position: unique, and stable across restarts.
        Some(event) => (StatusCode::ACCEPTED, event_response_json(event, seq << 16)),
        None => (StatusCode::ACCEPTED, serde_json::json!({"status": "ok"})),
    }
}

// The routes, indexed by [`route`]'s const parameter (see `intake::router`).

/// `POST /api/v2/series`: protobuf `MetricPayload` (the Agent) or JSON.
pub(crate) const SERIES_V2: usize = 0;
/// `POST /api/v1/series` (`application/json` or `text/json`).
pub(crate) const SERIES_V1: usize = 1;
/// `POST /api/v1/distribution_points`.
pub(crate) const DISTRIBUTION_POINTS: usize = 2;
/// `POST /api/beta/sketches`: protobuf `SketchPayload` (the Agent).
pub(crate) const SKETCHES: usize = 3;
/// `POST /api/v1/check_run`: service checks, stored as events.
pub(crate) const CHECK_RUN: usize = 4;
/// `POST /api/v1/events`: one event, searchable as `source:event`.
pub(crate) const EVENTS: usize = 5;

const ROUTES: [Route; 6] = [
    Route {
        label: "/api/v2/series",
        wire_limit: V2_WIRE,
        raw_limit: V2_RAW,
        decode: series_v2_decode,
        success: |_, _| (StatusCode::ACCEPTED, serde_json::json!({"errors": []})),
    },
    Route {
        label: "/api/v1/series",
        wire_limit: V1_WIRE,
        raw_limit: V1_RAW,
        decode: |raw, now, limits, _| metrics(decode_series_v1(raw, now, limits)),
        success: ok_status,
    },
    Route {
        label: "/api/v1/distribution_points",
        wire_limit: V1_WIRE,
        raw_limit: V1_RAW,
        decode: |raw, now, limits, _| metrics(decode_distribution_points(raw, now, limits)),
        success: ok_status,
    },
    Route {
        label: "/api/beta/sketches",
        wire_limit: V2_WIRE,
        raw_limit: V2_RAW,
        decode: |raw, now, limits, _| metrics(decode_sketches_protobuf(raw, now, limits)),
        success: |_, _| (StatusCode::ACCEPTED, serde_json::json!({})),
    },
    Route {
        label: "/api/v1/check_run",
        wire_limit: V1_WIRE,
        raw_limit: V1_RAW,
        decode: |raw, now, _, _| decode_check_runs(raw, now).map(Stored::Events),
        success: ok_status,
    },
    Route {
        label: "/api/v1/events",
        wire_limit: V1_WIRE,
        raw_limit: V1_RAW,
        decode: |raw, now, _, _| decode_events_v1(raw, now).map(|e| Stored::Events(vec![e])),
        success: event_reply,
    },
];

/// The handler of route `R` (one of the constants above).
pub(crate) async fn route<const R: usize>(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    handle(state, &ROUTES[R], headers, body).await
}

/// `strata_metric_points_dropped_total` plus the request counters, around [`ingest`].
async fn handle(state: Arc<AppState>, route: &Route, headers: HeaderMap, body: Body) -> Response {
    let started = Instant::now();
    let mut body = Some(body);
    let label = route.label;
    let response = match ingest(&state, route, &headers, &mut body).await {
        Ok(ok) => ok.into_response(),
        Err(error) => refuse(&state, error.plain(), body.take(), route.wire_limit).await,
    };
    observe_request(&state, label, started, response)
}

fn is_protobuf(headers: &HeaderMap) -> bool {
    header(headers, "content-type").is_some_and(|v| {
        let v = v.to_ascii_lowercase();
        v.starts_with("application/x-protobuf") || v.starts_with("application/protobuf")
    })
}

pub(crate) fn limits(state: &AppState) -> MetricsLimits {
    MetricsLimits {
        max_past_s: state.config.metrics.max_past_secs,
        max_future_s: state.config.metrics.max_future_secs,
        ..MetricsLimits::DATADOG
    }
}

async fn ingest(
    state: &Arc<AppState>,
    route: &Route,
    headers: &HeaderMap,
    body: &mut Option<Body>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let (auth, core) = admit(state, header(headers, "dd-api-key").map(str::to_string))?;
    let encoding = Encoding::parse(header(headers, "content-encoding")).map_err(ingest_error)?;
    let protobuf = is_protobuf(headers);
    let reservation = reserve(
        state,
        core,
        route.wire_limit.saturating_add(route.raw_limit),
    )?;
    let Some(body) = body.take() else {
        return Err(unavailable("internal", "request body already read"));
    };
    let wire = read_body(body, route.wire_limit).await?;
    let wire_len = wire.len() as u64;
    let tenant = auth.tenant.clone();
    let limits = limits(state);
    let now_s = now_secs() as i64;
    let (raw_limit, decode) = (route.raw_limit, route.decode);
    let tsdb = Arc::clone(&core.tsdb);
    let (raw_len, stored, payload) = decode_blocking(state, move || {
        let raw = decompress(&wire, encoding, raw_limit as usize)?;
        let stored = decode(&raw, now_s, &limits, protobuf)?;
        let (payload, prepared) = match stored {
            Stored::Metrics(m) => {
                let payload = strata_metrics::codec::encode(&tenant, &m.batch);
                let dropped = m.dropped;
                let points = m.batch.point_count();
                // The memtable chunk is built here, on the decode pool,
                // so the WAL's commit callback only links it in.
                let chunk = tsdb.prepare(&tenant, m.batch);
                (payload, Prepared::Metrics(chunk, dropped, points))
            }
            Stored::Events(events) => {
                let payload = strata_types::batch::encode(&tenant, &events);
                (payload, Prepared::Events(events))
            }
        };
        Ok((raw.len() as u64, prepared, payload))
    })
    .await?;
    let tenant = &auth.tenant;
    match stored {
        Prepared::Metrics(chunk, dropped, points) => {
            record_dropped(state, &dropped);
            let seq = if points == 0 {
                0
            } else {
                let source = "datadog_metrics";
                let points = points as u64;
                commit_metrics(
                    state,
                    core,
                    tenant,
                    reservation,
                    chunk,
                    points,
                    payload,
                    raw_len,
                    source,
                )
                .await?
            };
            let (status, body) = (route.success)(&[], seq);
            Ok((status, Json(body)))
        }
        Prepared::Events(events) => {
            // The events reply shows the stored event (cold path: one event).
            let reply = if route.label == "/api/v1/events" {
                events.clone()
            } else {
                Vec::new()
            };
            let heap_bytes = events.iter().map(|e| e.heap_size() as u64).sum();
            let batch = EventBatch {
                events,
                heap_bytes,
                payload,
                raw_len,
                wire_len,
            };
            let seq =
                commit_events(state, core, tenant, reservation, batch, "datadog_events").await?;
            let (status, body) = (route.success)(&reply, seq.unwrap_or(0));
            Ok((status, Json(body)))
        }
    }
}

pub(crate) fn record_dropped(state: &AppState, dropped: &DroppedPoints) {
    let d = *dropped;
    for (reason, n) in [
        ("too_old", d.too_old),
        ("too_new", d.too_new),
        ("non_finite", d.non_finite),
        ("no_value", d.no_value),
    ] {
        if n > 0 {
            state
                .metrics
                .tsdb
                .points_dropped
                .with_label_values(&[reason])
                .inc_by(n as u64);
        }
    }
}
