//! The steps every event intake shares (Datadog logs, OTLP logs and traces,
//! Elasticsearch bulk): memory admission before the body is read, decoding on
//! the blocking pool, and the commit (reservation grown to the decoded size,
//! quota, WAL append acknowledged after fsync, counters). Protocol modules
//! keep only their own framing, auth header and answer shapes.

use std::sync::Arc;

use axum::http::StatusCode;
use strata_ingest::IngestError;
use strata_types::Event;

use crate::error::ApiError;
use crate::intake::{append, check_quota, ingest_error, refund_quota, unavailable, Reservation};
use crate::state::{AppState, Committed, Core};

/// Reserves `bytes` (a request's worst case: wire plus decoded) against the
/// memory budget before its body is read; 503 with `Retry-After` when over.
pub(crate) fn reserve(
    state: &Arc<AppState>,
    core: &Core,
    bytes: u64,
) -> Result<Reservation, ApiError> {
    let (reservation, used) = Reservation::new(state, bytes, core.memtable_bytes());
    if used > state.config.limits.memory_budget_bytes {
        state.flush_wanted.notify_one();
        return Err(over_budget());
    }
    Ok(reservation)
}

fn over_budget() -> ApiError {
    unavailable("memory", "ingest is over its memory budget; retry shortly")
}

/// Runs `decode` on the blocking pool, at most one decode per core: more
/// would only add threads (and their allocator caches) without throughput.
/// The permit is released before the caller waits for the WAL, because group
/// commit needs many requests queued.
pub(crate) async fn decode_blocking<T, F>(state: &AppState, decode: F) -> Result<T, ApiError>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T, IngestError> + Send + 'static,
{
    let permit = state
        .decode_permits
        .acquire()
        .await
        .map_err(|_| unavailable("shutting_down", "the server is shutting down"))?;
    let decoded = tokio::task::spawn_blocking(decode).await.map_err(|e| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            format!("decoder failed: {e}"),
        )
    })?;
    drop(permit);
    decoded.map_err(ingest_error)
}

/// Events decoded from one request, with their WAL payload.
#[derive(Debug)]
pub(crate) struct EventBatch {
    pub(crate) events: Vec<Event>,
    /// Heap bytes the events hold (memory accounting).
    pub(crate) heap_bytes: u64,
    /// `strata_types::batch::encode` of the events.
    pub(crate) payload: Vec<u8>,
    /// Decompressed body bytes (quota and `strata_ingest_bytes_total`).
    pub(crate) raw_len: u64,
    /// Body bytes on the wire (`strata_ingest_wire_bytes_total`).
    pub(crate) wire_len: u64,
}

impl EventBatch {
    /// Encodes `events` of `tenant` for the WAL (call on the blocking pool).
    pub(crate) fn encode(tenant: &str, events: Vec<Event>, raw_len: u64, wire_len: u64) -> Self {
        let payload = strata_types::batch::encode(tenant, &events);
        let heap_bytes = events.iter().map(|e| e.heap_size() as u64).sum();
        EventBatch {
            events,
            heap_bytes,
            payload,
            raw_len,
            wire_len,
        }
    }
}

/// Commits one request's events: grows the reservation to the decoded size
/// (503 if that crosses the budget), takes the tenant's quota (429), appends
/// to the WAL and waits for its fsync, then counts the events under
/// `source`. Returns the WAL sequence number, or `None` for an empty batch
/// (nothing to store, nothing counted).
pub(crate) async fn commit_events(
    state: &Arc<AppState>,
    core: &Core,
    tenant: &str,
    mut reservation: Reservation,
    batch: EventBatch,
    source: &'static str,
) -> Result<Option<u64>, ApiError> {
    let EventBatch {
        events,
        heap_bytes,
        payload,
        raw_len,
        wire_len,
    } = batch;
    if events.is_empty() {
        return Ok(None);
    }
    let decoded = heap_bytes + payload.len() as u64;
    // Only a request that decoded to more than it reserved is checked again:
    // one within its reservation was admitted already.
    let grew = decoded > reservation.bytes;
    let in_use = reservation.grow_to(decoded, core.memtable_bytes());
    if grew && in_use > state.config.limits.memory_budget_bytes {
        state.flush_wanted.notify_one();
        return Err(over_budget());
    }
    let count = events.len() as u64;
    check_quota(state, tenant, count, raw_len)?;
    let item = Committed {
        tenant: tenant.to_string(),
        events,
        metrics: None,
        heap_bytes,
        reservation: Some(reservation),
    };
    let seq = match append(core, payload, item).await {
        Ok(seq) => seq,
        Err(error) => {
            // Nothing was stored: the tokens taken for it go back.
            refund_quota(state, tenant, count, raw_len);
            return Err(error);
        }
    };
    let metrics = &state.metrics;
    metrics.events_in.with_label_values(&[source]).inc_by(count);
    metrics
        .bytes_in
        .with_label_values(&[source])
        .inc_by(raw_len);
    metrics
        .wire_bytes_in
        .with_label_values(&[source])
        .inc_by(wire_len);
    if core.index.needs_flush() {
        state.flush_wanted.notify_one();
    }
    Ok(Some(seq))
}

/// Commits one request's metric points (a chunk prepared on the decode pool
/// with `Tsdb::prepare`): the same steps as [`commit_events`], counting
/// `points` in `strata_metric_points_total{source}`.
#[allow(clippy::too_many_arguments)] // the parts of one committed request
pub(crate) async fn commit_metrics(
    state: &Arc<AppState>,
    core: &Core,
    tenant: &str,
    mut reservation: Reservation,
    chunk: strata_tsdb::PreparedChunk,
    points: u64,
    payload: Vec<u8>,
    raw_len: u64,
    source: &'static str,
) -> Result<u64, ApiError> {
    let decoded = payload.len() as u64 * 3;
    let grew = decoded > reservation.bytes;
    let in_use = reservation.grow_to(decoded, core.memtable_bytes());
    if grew && in_use > state.config.limits.memory_budget_bytes {
        state.flush_wanted.notify_one();
        return Err(over_budget());
    }
    check_quota(state, tenant, points, raw_len)?;
    let item = Committed {
        tenant: tenant.to_string(),
        events: Vec::new(),
        metrics: Some(chunk),
        heap_bytes: 0,
        reservation: Some(reservation),
    };
    let seq = match append(core, payload, item).await {
        Ok(seq) => seq,
        Err(error) => {
            refund_quota(state, tenant, points, raw_len);
            return Err(error);
        }
    };
    let metrics = &state.metrics;
    metrics
        .tsdb
        .points_in
        .with_label_values(&[source])
        .inc_by(points);
    metrics
        .bytes_in
        .with_label_values(&[source])
        .inc_by(raw_len);
    if core.tsdb.wants_flush() {
        state.flush_wanted.notify_one();
    }
    Ok(seq)
}
