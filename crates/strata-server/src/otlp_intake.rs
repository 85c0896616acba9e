//! The OTLP/HTTP receiver (`POST /v1/logs`, `/v1/metrics`, `/v1/traces`):
//! binary protobuf (`application/x-protobuf`) or OTLP/JSON
//! (`application/json`), `Content-Encoding` identity, gzip, deflate or zstd,
//! chunked or not. Decoding is `strata_ingest::otlp`; what is stored goes
//! through the same write path as the Datadog intakes (`write_path`: memory
//! admission, quota, WAL append answered after fsync, counters).
//!
//! The tenant comes from `DD-API-KEY: <key>` or `Authorization: Bearer <key>`
//! (the OTel SDKs' `OTEL_EXPORTER_OTLP_HEADERS` sets either). Answers follow
//! the OTLP/HTTP specification: 200 with an empty `Export*ServiceResponse`
//! in the request's encoding, or one whose `partial_success` counts the
//! records refused (span ids of the wrong length, points without a value or outside the
//! accepted time window) and says why; errors carry a `google.rpc.Status`
//! in the request's encoding: 400 (not retryable), 401, 403, 413, 415, and
//! 429/503 with `Retry-After` (retryable).

use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use strata_ingest::otlp::{self, Format, OtlpRequest, Signal};
use strata_ingest::{decompress, Encoding};

use crate::error::ApiError;
use crate::intake::{admit, header, ingest_error, observe_request, read_body, refuse};
use crate::metrics_intake::{limits as metrics_limits, record_dropped};
use crate::state::{now_secs, AppState};
use crate::write_path::{commit_events, commit_metrics, decode_blocking, reserve, EventBatch};

/// Most OTLP cumulative series whose last value is remembered (the bound of
/// `AppState::otlp_cumulative`).
pub(crate) const CUMULATIVE_SERIES: usize = 1_000_000;

/// A body may decompress to this many times `limits.max_request_bytes`
/// (the decompression stops at the bound). Twice the Datadog logs bound:
/// OTLP/JSON spells every attribute out (`{"key":…,"value":{"stringValue":…}}`).
const RAW_FACTOR: u64 = 2;

pub(crate) fn routes() -> Router<Arc<AppState>> {
    let mut router = Router::new();
    for signal in [Signal::Logs, Signal::Traces, Signal::Metrics] {
        let handler = move |s: State<Arc<AppState>>, h: HeaderMap, b: Body| handle(s, signal, h, b);
        router = router.route(route_label(signal), post(handler));
    }
    router
}

/// The path of a signal's route (also its `strata_http_requests_total` label).
fn route_label(signal: Signal) -> &'static str {
    match signal {
        Signal::Logs => "/v1/logs",
        Signal::Metrics => "/v1/metrics",
        Signal::Traces => "/v1/traces",
    }
}

async fn handle(
    State(state): State<Arc<AppState>>,
    signal: Signal,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let started = Instant::now();
    let wire_limit = state.config.limits.max_request_bytes;
    let mut body = Some(body);
    let response = match Format::from_content_type(header(&headers, "content-type")) {
        // The request's encoding is unknown: the status goes out as JSON.
        Err(error) => {
            let error = ingest_error(error).otlp(Format::Json);
            refuse(&state, error, body.take(), wire_limit).await
        }
        Ok(format) => match ingest(&state, signal, format, &headers, &mut body).await {
            Ok((rejected, message)) => success(signal, format, rejected, &message),
            Err(error) => refuse(&state, error.otlp(format), body.take(), wire_limit).await,
        },
    };
    observe_request(&state, route_label(signal), started, response)
}

fn success(signal: Signal, format: Format, rejected: u64, message: &str) -> Response {
    let body = otlp::export_response(signal, format, rejected, message);
    (
        StatusCode::OK,
        [("content-type", otlp::content_type(format))],
        body,
    )
        .into_response()
}

/// The error answer of an OTLP route: a `google.rpc.Status` with the gRPC
/// code matching `status`, in the request's encoding (`ApiError::otlp`).
pub(crate) fn error_response(
    format: Format,
    status: StatusCode,
    detail: &str,
    headers: Vec<(&'static str, String)>,
) -> Response {
    let body = otlp::status_body(format, grpc_code(status), detail);
    let mut response =
        (status, [("content-type", otlp::content_type(format))], body).into_response();
    for (name, value) in headers {
        if let Ok(value) = HeaderValue::from_str(&value) {
            response.headers_mut().insert(name, value);
        }
    }
    response
}

/// The gRPC status code an OTLP/gRPC receiver would use for `status`.
fn grpc_code(status: StatusCode) -> i32 {
    match status.as_u16() {
        400 | 413 | 415 => 3, // INVALID_ARGUMENT
        401 => 16,            // UNAUTHENTICATED
        403 => 7,             // PERMISSION_DENIED
        404 => 5,             // NOT_FOUND
        429 => 8,             // RESOURCE_EXHAUSTED
        503 => 14,            // UNAVAILABLE
        _ => 13,              // INTERNAL
    }
}

/// `DD-API-KEY: <key>`, else `Authorization: Bearer <key>`.
fn api_key(headers: &HeaderMap) -> Option<String> {
    if let Some(key) = header(headers, "dd-api-key").filter(|k| !k.is_empty()) {
        return Some(key.to_string());
    }
    let auth = header(headers, "authorization")?;
    let (scheme, key) = auth.split_once(' ')?;
    let key = key.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !key.is_empty()).then(|| key.to_string())
}

/// Reads, decodes and commits one export request; returns the records
/// refused inside it (partial success) and why.
async fn ingest(
    state: &Arc<AppState>,
    signal: Signal,
    format: Format,
    headers: &HeaderMap,
    body: &mut Option<Body>,
) -> Result<(u64, String), ApiError> {
    let Some(key) = api_key(headers) else {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "missing API key: send DD-API-KEY: <key> or Authorization: Bearer <key>",
        ));
    };
    let (auth, core) = admit(state, Some(key))?;
    let encoding = Encoding::parse(header(headers, "content-encoding")).map_err(ingest_error)?;
    let wire_limit = state.config.limits.max_request_bytes;
    let raw_limit = wire_limit.saturating_mul(RAW_FACTOR);
    // The body's declared length (the SDKs send one) bounds its wire part.
    let wire_bound = header(headers, "content-length")
        .and_then(|v| v.parse::<u64>().ok())
        .map_or(wire_limit, |len| len.min(wire_limit));
    let reservation = reserve(state, core, wire_bound.saturating_add(raw_limit))?;
    let Some(body) = body.take() else {
        return Err(ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "request body already read",
        ));
    };
    let wire = read_body(body, wire_limit).await?;
    let tenant = auth.tenant.clone();
    if let Signal::Metrics = signal {
        let limits = metrics_limits(state);
        let now_s = now_secs() as i64;
        let tsdb = Arc::clone(&core.tsdb);
        let cumulative = Arc::clone(&state.otlp_cumulative);
        // A decode error leaves the cumulative state as it was.
        let decoded = decode_blocking(state, move || {
            let raw = decompress(&wire, encoding, raw_limit as usize)?;
            let m =
                otlp::metrics::decode_metrics(&raw, format, &tenant, now_s, &limits, &cumulative)?;
            let batch = m.decoded.batch;
            let payload = strata_metrics::codec::encode(&tenant, &batch);
            let points = batch.point_count() as u64;
            let chunk = tsdb.prepare(&tenant, batch);
            let outcome = (m.decoded.dropped, m.rejected, m.error_message, m.undo);
            Ok((chunk, points, payload, raw.len() as u64, outcome))
        })
        .await?;
        let (chunk, points, payload, raw_len, (dropped, rejected, message, undo)) = decoded;
        record_dropped(state, &dropped);
        if points > 0 {
            let tenant = &auth.tenant;
            let committed = commit_metrics(
                state,
                core,
                tenant,
                reservation,
                chunk,
                points,
                payload,
                raw_len,
                "otlp_metrics",
            )
            .await;
            // Not stored (quota, memory, WAL): the client's retry must find
            // the cumulative baselines as they were.
            if let Err(error) = committed {
                state.otlp_cumulative.rollback(undo);
                return Err(error);
            }
        }
        return Ok((rejected, message));
    }
    let limits = &state.config.limits;
    let request = OtlpRequest {
        format,
        now_ns: (now_secs() * 1e9) as i64,
        max_log_bytes: limits.max_log_bytes as usize,
        max_decoded_bytes: raw_limit.saturating_mul(2) as usize,
    };
    let (batch, rejected, message) = decode_blocking(state, move || {
        let raw = decompress(&wire, encoding, raw_limit as usize)?;
        let decoded = match signal {
            Signal::Traces => otlp::decode_traces(&raw, &request)?,
            _ => otlp::decode_logs(&raw, &request)?,
        };
        let payload = strata_types::batch::encode(&tenant, &decoded.events);
        let batch = EventBatch {
            events: decoded.events,
            heap_bytes: decoded.heap_bytes,
            payload,
            raw_len: raw.len() as u64,
            wire_len: wire.len() as u64,
        };
        Ok((batch, decoded.rejected, decoded.error_message))
    })
    .await?;
    let source = match signal {
        Signal::Traces => "otlp_traces",
        _ => "otlp_logs",
    };
    commit_events(state, core, &auth.tenant, reservation, batch, source).await?;
    Ok((rejected, message))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_key_from_either_header() {
        let mut headers = HeaderMap::new();
        assert_eq!(api_key(&headers), None);
        headers.insert("authorization", HeaderValue::from_static("Bearer  k1 "));
        assert_eq!(api_key(&headers).as_deref(), Some("k1"));
        headers.insert("authorization", HeaderValue::from_static("Basic abc"));
        assert_eq!(api_key(&headers), None);
        headers.insert("dd-api-key", HeaderValue::from_static("k2"));
        assert_eq!(api_key(&headers).as_deref(), Some("k2"));
    }

    #[test]
    fn grpc_codes_follow_the_otlp_http_table() {
        assert_eq!(grpc_code(StatusCode::BAD_REQUEST), 3);
        assert_eq!(grpc_code(StatusCode::UNAUTHORIZED), 16);
        assert_eq!(grpc_code(StatusCode::FORBIDDEN), 7);
        assert_eq!(grpc_code(StatusCode::TOO_MANY_REQUESTS), 8);
        assert_eq!(grpc_code(StatusCode::SERVICE_UNAVAILABLE), 14);
    }
}
