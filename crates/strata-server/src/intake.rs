//! HTTP routes: the Datadog logs intake, key validation, health and metrics.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use http_body_util::BodyExt;
use strata_ingest::{
    decode_logs_measured, decompress, BodyFormat, Decoded, Encoding, ErrorKind, IngestError,
    LogsRequest,
};
use strata_metastore::KeyKind;
use strata_wal::WalError;

use crate::error::ApiError;
use crate::metrics_intake::{self as mi, route as metrics_route};
use crate::state::{now_secs, AppState, Committed, Core};
use crate::write_path::{commit_events, decode_blocking, reserve, EventBatch};

pub(crate) fn router(state: Arc<AppState>) -> Router {
    let timeout = Duration::from_secs_f64(state.config.limits.request_timeout_secs);
    Router::new()
        .route("/api/v2/logs", post(logs_v2))
        .route("/v1/input", post(logs_v1))
        .route("/v1/input/{key}", post(logs_v1_key))
        .route("/api/v1/validate", get(validate))
        .route("/api/v2/series", post(metrics_route::<{ mi::SERIES_V2 }>))
        .route("/api/v1/series", post(metrics_route::<{ mi::SERIES_V1 }>))
        .route(
            "/api/v1/distribution_points",
            post(metrics_route::<{ mi::DISTRIBUTION_POINTS }>),
        )
        .route(
            "/api/beta/sketches",
            post(metrics_route::<{ mi::SKETCHES }>),
        )
        .route(
            "/api/v1/check_run",
            post(metrics_route::<{ mi::CHECK_RUN }>),
        )
        .route("/api/v1/events", post(metrics_route::<{ mi::EVENTS }>))
        .route("/api/v1/query", get(crate::metrics_query::query))
        .route("/api/v1/metrics", get(crate::metrics_query::list_metrics))
        .route(
            "/health/live",
            get(|| async { Json(serde_json::json!({"status":"ok"})) }),
        )
        .route("/health/ready", get(ready))
        .route("/metrics", get(metrics))
        .route(
            "/api/v2/logs/events/search",
            post(crate::query_api::search_post),
        )
        .route("/api/v2/logs/events", get(crate::query_api::search_get))
        .route(
            "/api/v2/logs/analytics/aggregate",
            post(crate::query_api::aggregate),
        )
        .route("/api/v1/sql", post(crate::query_api::sql))
        .merge(crate::otlp_intake::routes())
        .merge(crate::es_intake::routes())
        .fallback(not_found)
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            timeout,
        ))
        // Added after the timeout layer: a tail stream lives as long as its reader.
        .route("/api/v2/logs/tail", get(crate::query_api::tail))
        .layer(axum::middleware::map_response(datadog_error_shape))
        .with_state(state)
}

/// Gives errors produced outside the handlers (405 from the router, 408 from
/// the timeout layer) the same Datadog JSON error body as every other error.
async fn datadog_error_shape(response: Response) -> Response {
    let status = response.status();
    // Handlers always set a content type (JSON, or protobuf for OTLP); the
    // router's 405 and the timeout layer's 408 have none or text/plain.
    let bare = response
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .is_none_or(|v| v.as_bytes().starts_with(b"text/plain"));
    if (status.is_client_error() || status.is_server_error()) && bare {
        let detail = match status {
            StatusCode::METHOD_NOT_ALLOWED => "method not allowed on this endpoint",
            StatusCode::REQUEST_TIMEOUT => "the request was not received in time",
            _ => status.canonical_reason().unwrap_or("error"),
        };
        return ApiError::new(status, "http", detail).into_response();
    }
    response
}

async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such endpoint")
}

async fn ready(State(state): State<Arc<AppState>>) -> Response {
    match state.core.get() {
        Some(core) if core.wal.is_poisoned() => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(serde_json::json!({"status":"wal_poisoned"})),
        )
            .into_response(),
        Some(_) => Json(serde_json::json!({"status":"ready"})).into_response(),
        None => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(serde_json::json!({"status":"recovering"})),
        )
            .into_response(),
    }
}

async fn metrics(State(state): State<Arc<AppState>>) -> Response {
    state.update_gauges();
    (
        [("content-type", "text/plain; version=0.0.4")],
        state.metrics.render(),
    )
        .into_response()
}

async fn validate(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    let route = "/api/v1/validate";
    let response = match header(&headers, "dd-api-key") {
        Some(key) if state.keyring().authenticate(key, KeyKind::Api).is_some() => {
            Json(serde_json::json!({"valid": true})).into_response()
        }
        Some(_) => {
            ApiError::new(StatusCode::FORBIDDEN, "forbidden", "invalid API key").into_response()
        }
        None => ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "missing DD-API-KEY header",
        )
        .into_response(),
    };
    state
        .metrics
        .requests
        .with_label_values(&[route, response.status().as_str()])
        .inc();
    response
}

pub(crate) fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
}

async fn logs_v2(
    State(state): State<Arc<AppState>>,
    Query(params): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let route = ("/api/v2/logs", StatusCode::ACCEPTED);
    handle(state, route, None, params, headers, body).await
}

/// The legacy endpoint answers 200 `{}` (reference §1).
async fn logs_v1(
    State(state): State<Arc<AppState>>,
    Query(params): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    handle(
        state,
        ("/v1/input", StatusCode::OK),
        None,
        params,
        headers,
        body,
    )
    .await
}

async fn logs_v1_key(
    State(state): State<Arc<AppState>>,
    Path(key): Path<String>,
    Query(params): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let route = ("/v1/input/{key}", StatusCode::OK);
    handle(state, route, Some(key), params, headers, body).await
}

/// One logs request: `route` is (metrics label, success status); the key
/// comes from the path when the route has one, else from `DD-API-KEY`.
async fn handle(
    state: Arc<AppState>,
    (route, success): (&'static str, StatusCode),
    path_key: Option<String>,
    params: HashMap<String, String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let started = Instant::now();
    let key = path_key.or_else(|| header(&headers, "dd-api-key").map(str::to_string));
    let mut body = Some(body);
    let response = match ingest(&state, key, params, headers, &mut body).await {
        Ok(()) => (success, Json(serde_json::json!({}))).into_response(),
        Err(error) => {
            let limit = state.config.limits.max_request_bytes;
            refuse(&state, error, body.take(), limit).await
        }
    };
    observe_request(&state, route, started, response)
}

/// A refused write: the unread body is drained (up to `limit`) so the
/// client reads the answer, and the rejection is counted.
pub(crate) async fn refuse(
    state: &AppState,
    error: ApiError,
    unread: Option<Body>,
    limit: u64,
) -> Response {
    if let Some(unread) = unread {
        discard(unread, limit).await;
    }
    state
        .metrics
        .rejections
        .with_label_values(&[error.reason])
        .inc();
    error.into_response()
}

/// Counts a write request by route and status and times it.
pub(crate) fn observe_request(
    state: &AppState,
    route: &str,
    started: Instant,
    response: Response,
) -> Response {
    state
        .metrics
        .requests
        .with_label_values(&[route, response.status().as_str()])
        .inc();
    state
        .metrics
        .request_seconds
        .with_label_values(&[route])
        .observe(started.elapsed().as_secs_f64());
    response
}

/// In-flight bytes of one request, counted against the memory budget until
/// dropped. It travels with the events into the WAL queue and is dropped once
/// they are in the memtable (which counts them from then on), so a request
/// whose client gave up still counts while it waits for its group commit.
#[derive(Debug)]
pub(crate) struct Reservation {
    state: Arc<AppState>,
    pub(crate) bytes: u64,
}

impl Reservation {
    /// Reserves `bytes`; returns the reservation and the total now in use
    /// (memtables plus every in-flight reservation, this one included).
    pub(crate) fn new(
        state: &Arc<AppState>,
        bytes: u64,
        memtable_bytes: u64,
    ) -> (Reservation, u64) {
        let before = state.inflight_bytes.fetch_add(bytes, Ordering::Relaxed);
        let reservation = Reservation {
            state: Arc::clone(state),
            bytes,
        };
        (reservation, before + bytes + memtable_bytes)
    }

    /// Grows the reservation to `bytes` if it is smaller; returns the total in use.
    pub(crate) fn grow_to(&mut self, bytes: u64, memtable_bytes: u64) -> u64 {
        let extra = bytes.saturating_sub(self.bytes);
        self.bytes += extra;
        self.state
            .inflight_bytes
            .fetch_add(extra, Ordering::Relaxed)
            + extra
            + memtable_bytes
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        self.state
            .inflight_bytes
            .fetch_sub(self.bytes, Ordering::Relaxed);
    }
}

pub(crate) fn unavailable(reason: &'static str, detail: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::SERVICE_UNAVAILABLE, reason, detail).with_header("retry-after", 1)
}

pub(crate) fn ingest_error(error: IngestError) -> ApiError {
    match error.kind {
        ErrorKind::BadRequest => {
            ApiError::new(StatusCode::BAD_REQUEST, "bad_request", error.detail)
        }
        ErrorKind::TooLarge => {
            ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "too_large", error.detail)
        }
        ErrorKind::Unsupported => ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported",
            error.detail,
        ),
    }
}

/// Checks what every write checks before reading a body: an API key of a
/// live tenant, a recovered node, a healthy WAL.
pub(crate) fn admit(
    state: &AppState,
    key: Option<String>,
) -> Result<(strata_metastore::AuthenticatedKey, &Core), ApiError> {
    let Some(key) = key.filter(|k| !k.is_empty()) else {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "missing DD-API-KEY header",
        ));
    };
    let Some(auth) = state.keyring().authenticate(&key, KeyKind::Api) else {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "invalid or revoked API key",
        ));
    };
    let Some(core) = state.core.get() else {
        return Err(unavailable(
            "recovering",
            "the server is recovering its write-ahead log; retry shortly",
        ));
    };
    if core.wal.is_poisoned() {
        return Err(unavailable(
            "wal_poisoned",
            "the write-ahead log failed; writes are refused until restart",
        ));
    }
    Ok((auth, core))
}

async fn ingest(
    state: &Arc<AppState>,
    key: Option<String>,
    params: HashMap<String, String>,
    headers: HeaderMap,
    body: &mut Option<Body>,
) -> Result<(), ApiError> {
    let (auth, core) = admit(state, key)?;
    let format =
        BodyFormat::from_content_type(header(&headers, "content-type")).map_err(ingest_error)?;
    let encoding = Encoding::parse(header(&headers, "content-encoding")).map_err(ingest_error)?;
    let limits = &state.config.limits;
    let max_request = limits.max_request_bytes;
    // Back-pressure: reserve the body's worst case (wire + decompressed)
    // before reading it; grown to the decoded size after decoding.
    let reservation = reserve(state, core, max_request.saturating_mul(2))?;
    let Some(body) = body.take() else {
        return Err(ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "request body already read",
        ));
    };
    let wire = read_body(body, max_request).await?;
    let request = LogsRequest {
        format,
        ddtags: params.get("ddtags").cloned(),
        host: params
            .get("host")
            .or_else(|| params.get("hostname"))
            .cloned(),
        service: params.get("service").cloned(),
        ddsource: params.get("ddsource").cloned(),
        now_ns: (now_secs() * 1e9) as i64,
        max_log_bytes: limits.max_log_bytes as usize,
        max_items: limits.max_batch_items as usize,
        max_decoded_bytes: max_request.saturating_mul(8) as usize,
    };
    let tenant = auth.tenant.clone();
    let batch = decode_blocking(state, move || {
        let raw = decompress(&wire, encoding, max_request as usize)?;
        let Decoded { events, heap_bytes } = decode_logs_measured(&raw, &request)?;
        let payload = strata_types::batch::encode(&tenant, &events);
        Ok(EventBatch {
            events,
            heap_bytes,
            payload,
            raw_len: raw.len() as u64,
            wire_len: wire.len() as u64,
        })
    })
    .await?;
    commit_events(
        state,
        core,
        &auth.tenant,
        reservation,
        batch,
        "datadog_logs",
    )
    .await?;
    Ok(())
}

pub(crate) async fn append(
    core: &Core,
    payload: Vec<u8>,
    item: Committed,
) -> Result<u64, ApiError> {
    match core.wal.append(payload, item).await {
        Ok(seq) => Ok(seq),
        Err(WalError::Poisoned) => Err(unavailable(
            "wal_poisoned",
            "the write-ahead log failed; writes are refused until restart",
        )),
        Err(WalError::Closed) => Err(unavailable("shutting_down", "the server is shutting down")),
        Err(error) => {
            tracing::error!(%error, "WAL append failed");
            Err(unavailable(
                "wal_error",
                format!("write-ahead log error: {error}"),
            ))
        }
    }
}

/// Reads and drops a body that was refused before it was read, so the client
/// gets the error response instead of a reset connection while it is still
/// sending. Nothing is buffered; a body over `limit` is left unread (the
/// connection is then closed).
async fn discard(mut body: Body, limit: u64) {
    let mut seen = 0u64;
    while let Some(frame) = body.frame().await {
        let Ok(frame) = frame else { return };
        seen += frame.data_ref().map_or(0, |d| d.len() as u64);
        if seen > limit {
            return;
        }
    }
}

/// Reads the body, refusing (413) once more than `limit` wire bytes arrive.
/// The rest of a refused body is drained (up to `limit` more bytes) before
/// the answer, so a client still sending reads the 413 instead of a reset
/// connection (the CI failure of 2026-11-27: ureq got `Broken pipe` for a
/// body 25 % over the limit).
pub(crate) async fn read_body(mut body: Body, limit: u64) -> Result<Bytes, ApiError> {
    let mut chunks: Vec<Bytes> = Vec::new();
    let mut total = 0u64;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|error| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "bad_request",
                format!("could not read body: {error}"),
            )
        })?;
        let Ok(data) = frame.into_data() else {
            continue;
        };
        total += data.len() as u64;
        if total > limit {
            discard(body, limit).await;
            return Err(ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "too_large",
                format!("request body exceeds {limit} bytes"),
            ));
        }
        chunks.push(data);
    }
    Ok(match chunks.len() {
        0 => Bytes::new(),
        1 => chunks.swap_remove(0),
        _ => Bytes::from(chunks.concat()),
    })
}

/// Returns tokens taken by [`check_quota`] for a request that was not stored.
pub(crate) fn refund_quota(state: &AppState, tenant: &str, events: u64, bytes: u64) {
    let mut quotas = state.quotas.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(quota) = quotas.get_mut(tenant) {
        if let Some(bucket) = quota.events.as_mut() {
            bucket.give_back(events);
        }
        if let Some(bucket) = quota.bytes.as_mut() {
            bucket.give_back(bytes);
        }
    }
}

/// Takes tokens from the tenant's buckets or answers 429 with `X-Ratelimit-*`.
pub(crate) fn check_quota(
    state: &AppState,
    tenant: &str,
    events: u64,
    bytes: u64,
) -> Result<(), ApiError> {
    let mut quotas = state.quotas.lock().unwrap_or_else(|p| p.into_inner());
    let Some(quota) = quotas.get_mut(tenant) else {
        return Ok(());
    };
    let now = now_secs();
    let refused = |which: &str, wait: f64, limit: u64| {
        ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "quota",
            format!("tenant {tenant} is over its ingest quota of {limit} {which} per second"),
        )
        .with_header("x-ratelimit-limit", limit)
        .with_header("x-ratelimit-remaining", 0)
        .with_header("x-ratelimit-reset", wait.ceil().max(1.0) as u64)
        .with_header("x-ratelimit-period", 1)
        .with_header("retry-after", wait.ceil().max(1.0) as u64)
    };
    if let Some(bucket) = quota.events.as_mut() {
        if let Err(wait) = bucket.try_take(events, now) {
            let limit = bucket.rate();
            return Err(refused("events", wait, limit));
        }
    }
    if let Some(bucket) = quota.bytes.as_mut() {
        if let Err(wait) = bucket.try_take(bytes, now) {
            let limit = bucket.rate();
            if let Some(events_bucket) = quota.events.as_mut() {
                events_bucket.give_back(events);
            }
            return Err(refused("bytes", wait, limit));
        }
    }
    Ok(())
}
