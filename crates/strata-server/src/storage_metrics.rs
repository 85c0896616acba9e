//! Metrics of the storage lifecycle: object store requests, the read cache,
//! compaction, retention and deferred deletion.

use std::sync::Mutex;

use prometheus::{Histogram, IntCounter, IntCounterVec, IntGauge, Registry};
use strata_index::{CompactionStats, RetentionStats};
use strata_storage::{CacheStats, StoreStats};

use crate::metrics::{counter, counter_vec, gauge, histogram};

/// Storage lifecycle metrics (part of [`crate::metrics::Metrics`]).
#[derive(Debug, Clone)]
pub struct StorageMetrics {
    /// `strata_storage_requests_total{op}`: object store requests.
    pub requests: IntCounterVec,
    /// `strata_storage_bytes_total{direction}`: bytes read from / written to the object store.
    pub bytes: IntCounterVec,
    /// `strata_cache_requests_total{result}`: read-cache lookups (`hit`, `miss`).
    pub cache_requests: IntCounterVec,
    /// `strata_cache_request_bytes_total{result}`: bytes served from the cache / fetched on a miss.
    pub cache_bytes_total: IntCounterVec,
    /// `strata_cache_evictions_total`.
    pub cache_evictions: IntCounter,
    /// `strata_cache_bytes`: bytes held by the read cache.
    pub cache_bytes: IntGauge,
    /// `strata_cache_entries`: ranges held by the read cache.
    pub cache_entries: IntGauge,
    /// `strata_compaction_merges_total`.
    pub merges: IntCounter,
    /// `strata_compaction_conflicts_total`: merges abandoned because an input left the catalog.
    pub merge_conflicts: IntCounter,
    /// `strata_compaction_failures_total`.
    pub merge_failures: IntCounter,
    /// `strata_compaction_segments_total{direction}`: segments read (`in`) and written (`out`).
    pub merge_segments: IntCounterVec,
    /// `strata_compaction_bytes_total{direction}`: bytes read and written by merges.
    pub merge_bytes: IntCounterVec,
    /// `strata_compaction_rows_total`: rows rewritten.
    pub merge_rows: IntCounter,
    /// `strata_compaction_pass_seconds`: one planning-and-merging pass.
    pub merge_seconds: Histogram,
    /// `strata_retention_segments_total`: segments dropped by retention.
    pub expired_segments: IntCounter,
    /// `strata_retention_events_total`: events dropped by retention.
    pub expired_events: IntCounter,
    /// `strata_segment_objects_deleted_total`: replaced or expired objects deleted from storage.
    pub deleted_objects: IntCounter,
    last: std::sync::Arc<Mutex<(StoreStats, Option<CacheStats>)>>,
}

impl StorageMetrics {
    pub(crate) fn new(registry: &Registry, seconds: Vec<f64>) -> StorageMetrics {
        StorageMetrics {
            requests: counter_vec(
                registry,
                "strata_storage_requests_total",
                "Object store requests by operation",
                &["op"],
            ),
            bytes: counter_vec(
                registry,
                "strata_storage_bytes_total",
                "Object store bytes by direction (read, written)",
                &["direction"],
            ),
            cache_requests: counter_vec(
                registry,
                "strata_cache_requests_total",
                "Segment read-cache lookups by result (hit, miss)",
                &["result"],
            ),
            cache_bytes_total: counter_vec(
                registry,
                "strata_cache_request_bytes_total",
                "Segment bytes served from the read cache (hit) or fetched (miss)",
                &["result"],
            ),
            cache_evictions: counter(
                registry,
                "strata_cache_evictions_total",
                "Ranges evicted from the read cache",
            ),
            cache_bytes: gauge(
                registry,
                "strata_cache_bytes",
                "Bytes held by the segment read cache",
            ),
            cache_entries: gauge(
                registry,
                "strata_cache_entries",
                "Byte ranges held by the segment read cache",
            ),
            merges: counter(
                registry,
                "strata_compaction_merges_total",
                "Compaction merges committed",
            ),
            merge_conflicts: counter(
                registry,
                "strata_compaction_conflicts_total",
                "Merges abandoned because an input left the catalog first",
            ),
            merge_failures: counter(
                registry,
                "strata_compaction_failures_total",
                "Failed compaction passes",
            ),
            merge_segments: counter_vec(
                registry,
                "strata_compaction_segments_total",
                "Segments read (in) and written (out) by compaction",
                &["direction"],
            ),
            merge_bytes: counter_vec(
                registry,
                "strata_compaction_bytes_total",
                "Bytes read (in) and written (out) by compaction",
                &["direction"],
            ),
            merge_rows: counter(
                registry,
                "strata_compaction_rows_total",
                "Rows rewritten by compaction",
            ),
            merge_seconds: histogram(
                registry,
                "strata_compaction_pass_seconds",
                "Duration of a compaction pass",
                seconds,
            ),
            expired_segments: counter(
                registry,
                "strata_retention_segments_total",
                "Segments dropped by retention",
            ),
            expired_events: counter(
                registry,
                "strata_retention_events_total",
                "Events dropped by retention",
            ),
            deleted_objects: counter(
                registry,
                "strata_segment_objects_deleted_total",
                "Replaced or expired segment objects deleted from storage",
            ),
            last: Default::default(),
        }
    }

    /// Adds what a compaction pass did.
    pub(crate) fn record_compaction(&self, stats: &CompactionStats) {
        self.merges.inc_by(stats.merges);
        self.merge_conflicts.inc_by(stats.conflicts);
        self.merge_segments
            .with_label_values(&["in"])
            .inc_by(stats.segments_in);
        self.merge_segments
            .with_label_values(&["out"])
            .inc_by(stats.segments_out);
        self.merge_bytes
            .with_label_values(&["in"])
            .inc_by(stats.bytes_in);
        self.merge_bytes
            .with_label_values(&["out"])
            .inc_by(stats.bytes_out);
        self.merge_rows.inc_by(stats.rows);
    }

    /// Adds what a retention pass did.
    pub(crate) fn record_retention(&self, stats: &RetentionStats) {
        self.expired_segments.inc_by(stats.segments);
        self.expired_events.inc_by(stats.rows);
    }

    /// Moves the counters by what the store and its cache counted since the
    /// last call.
    pub(crate) fn observe_store(&self, store: StoreStats, cache: Option<CacheStats>) {
        let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        let (before, before_cache) = &*last;
        let ops = [
            ("get", store.gets, before.gets),
            ("put", store.puts, before.puts),
            ("delete", store.deletes, before.deletes),
            ("list", store.lists, before.lists),
        ];
        for (op, now, then) in ops {
            self.requests
                .with_label_values(&[op])
                .inc_by(now.saturating_sub(then));
        }
        self.bytes
            .with_label_values(&["read"])
            .inc_by(store.get_bytes.saturating_sub(before.get_bytes));
        self.bytes
            .with_label_values(&["written"])
            .inc_by(store.put_bytes.saturating_sub(before.put_bytes));
        if let Some(now) = &cache {
            let then = (*before_cache).unwrap_or_default();
            self.cache_requests
                .with_label_values(&["hit"])
                .inc_by(now.hits.saturating_sub(then.hits));
            self.cache_requests
                .with_label_values(&["miss"])
                .inc_by(now.misses.saturating_sub(then.misses));
            self.cache_bytes_total
                .with_label_values(&["hit"])
                .inc_by(now.hit_bytes.saturating_sub(then.hit_bytes));
            self.cache_bytes_total
                .with_label_values(&["miss"])
                .inc_by(now.miss_bytes.saturating_sub(then.miss_bytes));
            self.cache_evictions
                .inc_by(now.evictions.saturating_sub(then.evictions));
            self.cache_bytes
                .set(i64::try_from(now.bytes).unwrap_or(i64::MAX));
            self.cache_entries
                .set(i64::try_from(now.entries).unwrap_or(i64::MAX));
        }
        *last = (store, cache);
    }
}
