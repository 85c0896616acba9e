//! `strata-ingest` turns intake requests into normalised values: bounded
//! decompression ([`decompress`]), the Datadog logs body decoder
//! ([`decode_logs`]: JSON array, single object, text/plain and logplex lines,
//! reserved-attribute remapping, status normalisation, timestamp parsing,
//! limits) into [`Event`]s, the Datadog metrics decoders (series v1/v2 JSON
//! and the Agent's protobuf, distribution points, sketches:
//! [`decode_series_v2_protobuf`] and friends) into
//! [`strata_metrics::MetricBatch`]es, service checks and events into
//! [`Event`]s, and per-tenant ingest quotas ([`TokenBucket`]).
//!
//! It is not the HTTP layer (no routing, auth or status codes: errors carry
//! an [`ErrorKind`] that the server maps) and it does no I/O. Every decoder is
//! a pure function over bytes, which is what the fuzz targets in `fuzz/` call.
//!
//! ```
//! use strata_ingest::{decode_logs, LogsRequest};
//! let request = LogsRequest::json(1_700_000_000_000_000_000);
//! let body = br#"[{"message":"hi","status":"ERR","hostname":"h1","ddtags":"env:prod","http":{"status_code":500}}]"#;
//! let events = decode_logs(body, &request).unwrap();
//! assert_eq!(events[0].host.as_deref(), Some("h1"));
//! assert_eq!(events[0].status, strata_types::Status::Error);
//! assert_eq!(events[0].tags, vec!["env:prod".to_string()]);
//! ```
#![warn(missing_docs)]

mod compression;
pub mod es;
mod flatten;
mod logs;
mod metrics;
pub mod otlp;
mod quota;
pub mod syslog;
mod timestamp;

pub use compression::{decompress, Encoding};
pub use logs::{decode_logs, decode_logs_measured, BodyFormat, Decoded, LogsRequest};
pub use metrics::{
    agent_payload, decode_check_runs, decode_distribution_points, decode_events_v1,
    decode_series_v1, decode_series_v2_json, decode_series_v2_protobuf, decode_sketches_protobuf,
    event_response_json, DecodedMetrics, DroppedPoints, MetricsLimits, MAX_AGGREGATION_KEY_CHARS,
    MAX_CHECK_RUNS, MAX_EVENT_TEXT_CHARS,
};
pub use quota::TokenBucket;
pub use timestamp::{parse_timestamp_ns, parse_timestamp_str};

pub use strata_types::Event;

/// What class of failure an [`IngestError`] is; the server maps it to a status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// Malformed body: 400.
    BadRequest,
    /// Over a size or count limit: 413.
    TooLarge,
    /// Unsupported content type or encoding: 415.
    Unsupported,
}

/// A decoding error, with a message that names the problem.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{detail}")]
pub struct IngestError {
    /// The class of failure.
    pub kind: ErrorKind,
    /// What is wrong, for the client.
    pub detail: String,
}

impl IngestError {
    pub(crate) fn bad(detail: impl Into<String>) -> IngestError {
        IngestError {
            kind: ErrorKind::BadRequest,
            detail: detail.into(),
        }
    }

    pub(crate) fn too_large(detail: impl Into<String>) -> IngestError {
        IngestError {
            kind: ErrorKind::TooLarge,
            detail: detail.into(),
        }
    }

    pub(crate) fn unsupported(detail: impl Into<String>) -> IngestError {
        IngestError {
            kind: ErrorKind::Unsupported,
            detail: detail.into(),
        }
    }
}
