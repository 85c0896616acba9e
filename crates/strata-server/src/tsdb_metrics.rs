//! Metrics of the metrics pipeline: intake points, the metrics store and
//! the DogStatsD listeners.

use prometheus::{Histogram, IntCounter, IntCounterVec, IntGauge, Registry};

use crate::metrics::{counter, counter_vec, gauge, histogram};

/// Metrics-pipeline metrics (part of [`crate::metrics::Metrics`]).
#[derive(Debug, Clone)]
pub struct TsdbMetrics {
    /// `strata_metric_points_total{source}`: points stored (a sketch counts as one).
    pub points_in: IntCounterVec,
    /// `strata_metric_points_dropped_total{reason}`: points not stored
    /// (`too_old`, `too_new`, `non_finite`, `no_value`).
    pub points_dropped: IntCounterVec,
    /// `strata_metric_memtable_bytes`.
    pub memtable_bytes: IntGauge,
    /// `strata_metric_memtable_points`.
    pub memtable_points: IntGauge,
    /// `strata_metric_segments`: registered metric segments.
    pub segments: IntGauge,
    /// `strata_metric_segment_points`: points in registered metric segments.
    pub segment_points: IntGauge,
    /// `strata_metric_segment_bytes`: bytes of registered metric segments.
    pub segment_bytes: IntGauge,
    /// `strata_metric_flush_seconds`.
    pub flush_seconds: Histogram,
    /// `strata_statsd_packets_total{listener}`: datagrams received.
    pub statsd_packets: IntCounterVec,
    /// `strata_statsd_bytes_total{listener}`: datagram bytes received.
    pub statsd_bytes: IntCounterVec,
    /// `strata_statsd_messages_total{kind}`: parsed metrics, events, service checks.
    pub statsd_messages: IntCounterVec,
    /// `strata_statsd_parse_errors_total{reason}`: malformed lines skipped.
    pub statsd_errors: IntCounterVec,
    /// `strata_statsd_dropped_contexts_total`: new contexts refused over `statsd.max_contexts`.
    pub statsd_dropped_contexts: IntCounter,
    /// `strata_statsd_flush_failures_total`: aggregated windows the WAL refused.
    pub statsd_flush_failures: IntCounter,
}

impl TsdbMetrics {
    pub(crate) fn new(registry: &Registry, seconds: Vec<f64>) -> TsdbMetrics {
        TsdbMetrics {
            points_in: counter_vec(
                registry,
                "strata_metric_points_total",
                "Metric points stored, by source (a sketch counts as one point)",
                &["source"],
            ),
            points_dropped: counter_vec(
                registry,
                "strata_metric_points_dropped_total",
                "Metric points not stored, by reason",
                &["reason"],
            ),
            memtable_bytes: gauge(
                registry,
                "strata_metric_memtable_bytes",
                "Bytes of metric memtables",
            ),
            memtable_points: gauge(
                registry,
                "strata_metric_memtable_points",
                "Points in metric memtables",
            ),
            segments: gauge(
                registry,
                "strata_metric_segments",
                "Registered metric segments",
            ),
            segment_points: gauge(
                registry,
                "strata_metric_segment_points",
                "Points in registered metric segments",
            ),
            segment_bytes: gauge(
                registry,
                "strata_metric_segment_bytes",
                "Bytes of registered metric segments",
            ),
            flush_seconds: histogram(
                registry,
                "strata_metric_flush_seconds",
                "Metrics memtable flushes",
                seconds,
            ),
            statsd_packets: counter_vec(
                registry,
                "strata_statsd_packets_total",
                "DogStatsD datagrams received, by listener",
                &["listener"],
            ),
            statsd_bytes: counter_vec(
                registry,
                "strata_statsd_bytes_total",
                "DogStatsD datagram bytes received, by listener",
                &["listener"],
            ),
            statsd_messages: counter_vec(
                registry,
                "strata_statsd_messages_total",
                "DogStatsD messages parsed, by kind (metric, event, service_check)",
                &["kind"],
            ),
            statsd_errors: counter_vec(
                registry,
                "strata_statsd_parse_errors_total",
                "Malformed DogStatsD lines skipped, by reason",
                &["reason"],
            ),
            statsd_dropped_contexts: counter(
                registry,
                "strata_statsd_dropped_contexts_total",
                "New DogStatsD contexts refused over statsd.max_contexts",
            ),
            statsd_flush_failures: counter(
                registry,
                "strata_statsd_flush_failures_total",
                "Aggregated DogStatsD windows the WAL refused",
            ),
        }
    }
}
