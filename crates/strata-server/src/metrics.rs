//! Prometheus metrics for every stage (served on `/metrics`).

use prometheus::{
    exponential_buckets, Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter,
    IntCounterVec, IntGauge, Opts, Registry, TextEncoder,
};

/// Every metric the server exports.
#[derive(Debug, Clone)]
pub struct Metrics {
    registry: Registry,
    /// `strata_http_requests_total{route,status}`
    pub requests: IntCounterVec,
    /// `strata_queries_total{kind,status}`: answered queries (search,
    /// aggregate, sql) by completeness (`done`, `timeout`).
    pub queries: IntCounterVec,
    /// `strata_http_request_duration_seconds{route}`
    pub request_seconds: HistogramVec,
    /// `strata_ingest_events_total{source}`
    pub events_in: IntCounterVec,
    /// `strata_ingest_bytes_total{source}` (uncompressed)
    pub bytes_in: IntCounterVec,
    /// `strata_ingest_wire_bytes_total{source}` (as received)
    pub wire_bytes_in: IntCounterVec,
    /// `strata_ingest_rejections_total{reason}`
    pub rejections: IntCounterVec,
    /// `strata_wal_fsync_seconds`: one write + fdatasync per group.
    pub wal_sync_seconds: Histogram,
    /// `strata_wal_group_records`: records per group commit.
    pub wal_group_records: Histogram,
    /// `strata_wal_group_bytes`: bytes per group commit.
    pub wal_group_bytes: Histogram,
    /// `strata_memtable_bytes`
    pub memtable_bytes: IntGauge,
    /// `strata_memtable_events`
    pub memtable_events: IntGauge,
    /// `strata_inflight_request_bytes`
    pub inflight_bytes: IntGauge,
    /// `strata_tail_subscribers`: open live-tail streams.
    pub tail_subscribers: IntGauge,
    /// `strata_flush_seconds`
    pub flush_seconds: Histogram,
    /// `strata_flush_failures_total`
    pub flush_failures: IntCounter,
    /// `strata_segments`: registered segments.
    pub segments: IntGauge,
    /// `strata_segment_bytes`: registered segment bytes.
    pub segment_bytes: IntGauge,
    /// `strata_segment_events`: events in registered segments.
    pub segment_events: IntGauge,
    /// Object store, read cache, compaction and retention.
    pub storage: crate::storage_metrics::StorageMetrics,
    /// Metric points, the metrics store and DogStatsD.
    pub tsdb: crate::tsdb_metrics::TsdbMetrics,
    /// Syslog listeners.
    pub syslog: crate::syslog::SyslogMetrics,
}

fn register<T: prometheus::core::Collector + Clone + 'static>(registry: &Registry, metric: T) -> T {
    // Names are static and unique, so registration cannot fail; a failure
    // would only lose the metric from /metrics, never break serving.
    if let Err(error) = registry.register(Box::new(metric.clone())) {
        tracing::error!(%error, "metric registration failed");
    }
    metric
}

pub(crate) fn counter_vec(
    registry: &Registry,
    name: &str,
    help: &str,
    labels: &[&str],
) -> IntCounterVec {
    let metric = IntCounterVec::new(Opts::new(name, help), labels)
        .unwrap_or_else(|e| panic!("metric {name}: {e}"));
    register(registry, metric)
}

pub(crate) fn gauge(registry: &Registry, name: &str, help: &str) -> IntGauge {
    register(
        registry,
        IntGauge::new(name, help).unwrap_or_else(|e| panic!("metric {name}: {e}")),
    )
}

pub(crate) fn histogram(
    registry: &Registry,
    name: &str,
    help: &str,
    buckets: Vec<f64>,
) -> Histogram {
    let metric = Histogram::with_opts(HistogramOpts::new(name, help).buckets(buckets))
        .unwrap_or_else(|e| panic!("metric {name}: {e}"));
    register(registry, metric)
}

pub(crate) fn counter(registry: &Registry, name: &str, help: &str) -> IntCounter {
    register(
        registry,
        IntCounter::new(name, help).unwrap_or_else(|e| panic!("metric {name}: {e}")),
    )
}

impl Metrics {
    /// Creates and registers every metric.
    pub fn new() -> Metrics {
        let registry = Registry::new();
        let seconds = exponential_buckets(0.0001, 2.0, 18).unwrap_or_default();
        let request_seconds = HistogramVec::new(
            HistogramOpts::new(
                "strata_http_request_duration_seconds",
                "HTTP request latency",
            )
            .buckets(seconds.clone()),
            &["route"],
        )
        .unwrap_or_else(|e| panic!("metric: {e}"));
        Metrics {
            requests: counter_vec(
                &registry,
                "strata_http_requests_total",
                "HTTP requests by route and status",
                &["route", "status"],
            ),
            queries: counter_vec(
                &registry,
                "strata_queries_total",
                "Answered queries by kind and completeness",
                &["kind", "status"],
            ),
            request_seconds: register(&registry, request_seconds),
            events_in: counter_vec(
                &registry,
                "strata_ingest_events_total",
                "Events accepted",
                &["source"],
            ),
            bytes_in: counter_vec(
                &registry,
                "strata_ingest_bytes_total",
                "Uncompressed bytes accepted",
                &["source"],
            ),
            wire_bytes_in: counter_vec(
                &registry,
                "strata_ingest_wire_bytes_total",
                "Bytes received on the wire",
                &["source"],
            ),
            rejections: counter_vec(
                &registry,
                "strata_ingest_rejections_total",
                "Rejected requests by reason",
                &["reason"],
            ),
            wal_sync_seconds: histogram(
                &registry,
                "strata_wal_fsync_seconds",
                "WAL group write + fdatasync latency",
                seconds.clone(),
            ),
            wal_group_records: histogram(
                &registry,
                "strata_wal_group_records",
                "Records per WAL group commit",
                exponential_buckets(1.0, 2.0, 12).unwrap_or_default(),
            ),
            wal_group_bytes: histogram(
                &registry,
                "strata_wal_group_bytes",
                "Bytes per WAL group commit",
                exponential_buckets(1024.0, 4.0, 10).unwrap_or_default(),
            ),
            memtable_bytes: gauge(
                &registry,
                "strata_memtable_bytes",
                "Bytes held in memtables",
            ),
            memtable_events: gauge(
                &registry,
                "strata_memtable_events",
                "Events held in memtables",
            ),
            inflight_bytes: gauge(
                &registry,
                "strata_inflight_request_bytes",
                "Bytes of requests being processed",
            ),
            tail_subscribers: gauge(
                &registry,
                "strata_tail_subscribers",
                "Open live-tail streams",
            ),
            storage: crate::storage_metrics::StorageMetrics::new(&registry, seconds.clone()),
            tsdb: crate::tsdb_metrics::TsdbMetrics::new(&registry, seconds.clone()),
            syslog: crate::syslog::SyslogMetrics::new(&registry),
            flush_seconds: histogram(
                &registry,
                "strata_flush_seconds",
                "Memtable flush duration",
                seconds,
            ),
            flush_failures: register(
                &registry,
                IntCounter::new("strata_flush_failures_total", "Failed flushes (retried)")
                    .unwrap_or_else(|e| panic!("{e}")),
            ),
            segments: gauge(&registry, "strata_segments", "Registered segments"),
            segment_bytes: gauge(
                &registry,
                "strata_segment_bytes",
                "Bytes of registered segments",
            ),
            segment_events: gauge(
                &registry,
                "strata_segment_events",
                "Events in registered segments",
            ),
            registry,
        }
    }

    /// The text exposition format.
    pub fn render(&self) -> String {
        let mut buffer = Vec::new();
        if let Err(error) = TextEncoder::new().encode(&self.registry.gather(), &mut buffer) {
            tracing::error!(%error, "metrics encoding failed");
        }
        String::from_utf8(buffer).unwrap_or_default()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}
