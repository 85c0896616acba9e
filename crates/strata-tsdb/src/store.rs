//! [`Tsdb`]: per-tenant metric memtables, their flush to segments, and the
//! in-memory catalog of the metrics stream.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use parquet::arrow::arrow_reader::ArrowReaderMetadata;
use rustc_hash::FxHashMap;
use strata_metastore::{Metastore, MetastoreError, SegmentRecord, Stream};
use strata_metrics::MetricBatch;
use strata_storage::SegmentStore;
use strata_types::{hour_bucket, TenantId};

use crate::memtable::{series_bytes, Intern, MemTable, MetricChunk};
use crate::segment::{self, Row, SeriesInfo};
use crate::TsdbError;

/// Flush and layout settings.
#[derive(Debug, Clone)]
pub struct TsdbConfig {
    /// A tenant's memtable is flushed once it holds this many bytes.
    pub flush_bytes: u64,
    /// ... or once its oldest point arrived this long ago.
    pub max_age: Duration,
    /// zstd level of flushed segments.
    pub zstd_level: i32,
    /// Rows per Parquet row group.
    pub row_group_rows: usize,
    /// When all metric memtables together hold this many bytes, the
    /// largest is flushed whatever its size or age.
    pub pressure_bytes: u64,
}

impl Default for TsdbConfig {
    fn default() -> Self {
        TsdbConfig {
            flush_bytes: 64 << 20,
            max_age: Duration::from_secs(60),
            zstd_level: 3,
            row_group_rows: 65_536,
            pressure_bytes: u64::MAX,
        }
    }
}

/// What a flush did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FlushStats {
    /// Memtables flushed.
    pub memtables: u64,
    /// Segments written.
    pub segments: u64,
    /// Points written.
    pub points: u64,
    /// Bytes written.
    pub bytes: u64,
}

#[derive(Debug, Default)]
struct TenantTable {
    active: MemTable,
    frozen: Option<MemTable>,
    catalog: Vec<Arc<SegmentRecord>>,
}

#[derive(Debug, Default)]
struct State {
    tenants: HashMap<TenantId, TenantTable>,
    last_applied: u64,
}

/// What a query reads for one tenant: memtable chunks and segments, taken
/// under one lock so a flush in between is seen once.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// Unflushed chunks (active and frozen).
    pub chunks: Vec<Arc<MetricChunk>>,
    /// Catalog segments overlapping the range.
    pub segments: Vec<Arc<SegmentRecord>>,
}

/// The metrics store of one node.
#[derive(Debug)]
pub struct Tsdb {
    config: TsdbConfig,
    metastore: Arc<dyn Metastore>,
    store: SegmentStore,
    state: Mutex<State>,
    flush_lock: tokio::sync::Mutex<()>,
    footers: Mutex<HashMap<String, Arc<ArrowReaderMetadata>>>,
    /// Per tenant, the series of its memtables, shared by every chunk that
    /// holds points of them (a series is allocated once, not per request).
    /// Entries no chunk uses any more are dropped after each flush.
    registry: Mutex<HashMap<TenantId, FxHashMap<u64, Arc<SeriesInfo>>>>,
    /// Bytes of every memtable (active and frozen), read without the lock
    /// by the intake's memory admission on every request.
    memtable_bytes: AtomicU64,
}

/// One tenant's known series, for [`MetricChunk::build`].
struct Registry<'a>(&'a mut FxHashMap<u64, Arc<SeriesInfo>>);

impl Intern for Registry<'_> {
    fn intern(
        &mut self,
        id: u64,
        key: strata_metrics::SeriesKey,
        kind: strata_metrics::MetricType,
        interval_s: u32,
        unit: String,
    ) -> (Arc<SeriesInfo>, u64) {
        // Known series are compared field by field, without building a new
        // `SeriesInfo` (its tags JSON) for every point of every request.
        if let Some(shared) = self.0.get(&id) {
            if shared.key == key
                && shared.kind == kind
                && shared.interval_s == interval_s
                && shared.unit == unit
            {
                return (Arc::clone(shared), 0);
            }
        }
        let info = SeriesInfo::new(key, kind, interval_s, unit);
        let bytes = series_bytes(&info);
        let shared = Arc::new(info);
        self.0.insert(id, Arc::clone(&shared));
        (shared, bytes)
    }
}

/// A batch turned into a memtable chunk away from the WAL's writer thread
/// ([`Tsdb::prepare`]); [`Tsdb::apply_prepared`] adds it once committed.
#[derive(Debug)]
pub struct PreparedChunk(MetricChunk);

impl PreparedChunk {
    /// Points in the chunk.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether it holds no point.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

pub(crate) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// The object path of a metric segment: `{tenant}/metrics/{hour_bucket_ns}/{id}.parquet`.
pub fn segment_path(tenant: &str, hour_bucket_ns: i64, id: &str) -> String {
    format!("{tenant}/metrics/{hour_bucket_ns}/{id}.parquet")
}

impl Tsdb {
    /// A store writing segments to `store` and registering them in `metastore`.
    pub fn new(config: TsdbConfig, metastore: Arc<dyn Metastore>, store: SegmentStore) -> Tsdb {
        Tsdb {
            config,
            metastore,
            store,
            state: Mutex::new(State::default()),
            flush_lock: tokio::sync::Mutex::new(()),
            footers: Mutex::new(HashMap::new()),
            registry: Mutex::new(HashMap::new()),
            memtable_bytes: AtomicU64::new(0),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The segment store.
    pub fn store(&self) -> &SegmentStore {
        &self.store
    }

    /// The metastore.
    pub fn metastore(&self) -> Arc<dyn Metastore> {
        Arc::clone(&self.metastore)
    }

    /// Puts the registered metric segments (the metastore's list at start)
    /// in the catalog. Call once at start.
    pub fn load_catalog(&self, records: Vec<SegmentRecord>) {
        let mut state = self.lock();
        for record in records {
            state
                .tenants
                .entry(record.tenant.clone())
                .or_default()
                .catalog
                .push(Arc::new(record));
        }
    }

    /// Applies one committed WAL record's points to the tenant's memtable
    /// ([`Tsdb::prepare`] then [`Tsdb::apply_prepared`]).
    pub fn apply(&self, seq: u64, tenant: &str, batch: MetricBatch) {
        let prepared = self.prepare(tenant, batch);
        self.apply_prepared(seq, tenant, prepared);
    }

    /// Builds the memtable chunk of a batch, sharing the tenant's known
    /// series. Call it where the batch is decoded (any thread): the WAL's
    /// commit callback then only links the chunk in.
    pub fn prepare(&self, tenant: &str, batch: MetricBatch) -> PreparedChunk {
        let mut registry = self.registry.lock().unwrap_or_else(|p| p.into_inner());
        let known = registry.entry(tenant.to_string()).or_default();
        PreparedChunk(MetricChunk::build(0, batch, &mut Registry(known)))
    }

    /// Adds a prepared chunk as the committed WAL record `seq`.
    pub fn apply_prepared(&self, seq: u64, tenant: &str, prepared: PreparedChunk) {
        let mut state = self.lock();
        state.last_applied = state.last_applied.max(seq);
        let mut chunk = prepared.0;
        if chunk.is_empty() {
            return;
        }
        chunk.seq = seq;
        self.memtable_bytes
            .fetch_add(chunk.bytes, Ordering::Relaxed);
        state
            .tenants
            .entry(tenant.to_string())
            .or_default()
            .active
            .push(Arc::new(chunk));
    }

    /// Drops the registry's series that no memtable chunk holds any more.
    fn forget_unused_series(&self, tenant: &str) {
        let mut registry = self.registry.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(known) = registry.get_mut(tenant) {
            known.retain(|_, series| Arc::strong_count(series) > 1);
        }
    }

    /// Notes a WAL record that holds no metrics (a log batch), so that
    /// [`Tsdb::safe_wal_seq`] can move past it.
    pub fn note_applied(&self, seq: u64) {
        let mut state = self.lock();
        state.last_applied = state.last_applied.max(seq);
    }

    /// The highest WAL sequence number below which every metrics record is
    /// in a registered segment.
    pub fn safe_wal_seq(&self) -> u64 {
        let state = self.lock();
        let oldest = state
            .tenants
            .values()
            .flat_map(|t| {
                [
                    t.frozen.as_ref().and_then(|f| f.min_seq()),
                    t.active.min_seq(),
                ]
            })
            .flatten()
            .min();
        match oldest {
            Some(seq) => seq.saturating_sub(1),
            None => state.last_applied,
        }
    }

    /// Bytes held in memtables (active and frozen), without taking the lock.
    pub fn memtable_bytes(&self) -> u64 {
        self.memtable_bytes.load(Ordering::Relaxed)
    }

    /// Bytes and points held in memtables.
    pub fn memtable_totals(&self) -> (u64, u64) {
        let state = self.lock();
        state.tenants.values().fold((0, 0), |(b, p), t| {
            let frozen = t.frozen.as_ref().map_or((0, 0), |f| (f.bytes, f.points));
            (
                b + t.active.bytes + frozen.0,
                p + t.active.points + frozen.1,
            )
        })
    }

    /// Segments, points and bytes in the catalog.
    pub fn catalog_totals(&self) -> (u64, u64, u64) {
        let state = self.lock();
        let mut totals = (0, 0, 0);
        for s in state.tenants.values().flat_map(|t| &t.catalog) {
            totals = (totals.0 + 1, totals.1 + s.rows, totals.2 + s.size_bytes);
        }
        totals
    }

    /// Tenants with data.
    pub fn tenants(&self) -> Vec<TenantId> {
        self.lock().tenants.keys().cloned().collect()
    }

    /// A tenant's catalog.
    pub fn catalog(&self, tenant: &str) -> Vec<Arc<SegmentRecord>> {
        self.lock()
            .tenants
            .get(tenant)
            .map(|t| t.catalog.clone())
            .unwrap_or_default()
    }

    /// What a query over `[from_s, to_s]` of `tenant` reads.
    pub fn snapshot(&self, tenant: &str, from_s: i64, to_s: i64) -> Snapshot {
        let state = self.lock();
        let Some(table) = state.tenants.get(tenant) else {
            return Snapshot::default();
        };
        let from_ns = from_s.saturating_mul(1_000_000_000);
        let to_ns = to_s.saturating_add(1).saturating_mul(1_000_000_000);
        let chunks = table
            .frozen
            .iter()
            .chain(std::iter::once(&table.active))
            .flat_map(|m| m.chunks.iter())
            .filter(|c| c.ts_range.0 <= to_s && c.ts_range.1 >= from_s)
            .cloned()
            .collect();
        let segments = table
            .catalog
            .iter()
            .filter(|s| s.min_ts_ns < to_ns && s.max_ts_ns >= from_ns)
            .cloned()
            .collect();
        Snapshot { chunks, segments }
    }

    /// Replaces catalog entries (compaction and retention), dropping the
    /// footers of the removed segments from the cache.
    pub(crate) fn swap_segments(
        &self,
        tenant: &str,
        removed: &[String],
        added: Vec<SegmentRecord>,
    ) {
        {
            let mut state = self.lock();
            let table = state.tenants.entry(tenant.to_string()).or_default();
            table.catalog.retain(|s| !removed.contains(&s.id));
            table.catalog.extend(added.into_iter().map(Arc::new));
        }
        let mut footers = self.footers.lock().unwrap_or_else(|p| p.into_inner());
        for id in removed {
            footers.remove(id);
        }
    }

    /// A segment's footer, read once and cached.
    pub(crate) fn footer(
        &self,
        segment: &SegmentRecord,
    ) -> Result<Arc<ArrowReaderMetadata>, TsdbError> {
        if let Some(found) = self
            .footers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&segment.id)
        {
            return Ok(Arc::clone(found));
        }
        let metadata = Arc::new(
            self.store
                .read_metadata_blocking(&segment.path, segment.size_bytes)?,
        );
        self.footers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(segment.id.clone(), Arc::clone(&metadata));
        Ok(metadata)
    }

    /// Flushes every due memtable (over size, over age, or any non-empty one
    /// when `force`), one tenant at a time; a failed tenant keeps its rows
    /// frozen for the retry and its error is returned after the others ran.
    pub async fn flush_due(&self, force: bool) -> Result<FlushStats, TsdbError> {
        let _guard = self.flush_lock.lock().await;
        let due: Vec<TenantId> = {
            let state = self.lock();
            let total: u64 = state.tenants.values().map(|t| t.active.bytes).sum();
            let largest = state
                .tenants
                .iter()
                .max_by_key(|(_, t)| t.active.bytes)
                .map(|(id, _)| id.clone());
            let under_pressure = total >= self.config.pressure_bytes;
            state
                .tenants
                .iter()
                .filter(|(id, t)| {
                    t.frozen.is_some()
                        || (!t.active.is_empty()
                            && (force
                                || t.active.bytes >= self.config.flush_bytes
                                || (under_pressure && largest.as_ref() == Some(*id))
                                || t.active
                                    .created
                                    .is_some_and(|c| c.elapsed() >= self.config.max_age)))
                })
                .map(|(id, _)| id.clone())
                .collect()
        };
        let mut stats = FlushStats::default();
        let mut first_error = None;
        for tenant in due {
            match self.flush_tenant(&tenant).await {
                Ok(one) => {
                    stats.memtables += 1;
                    stats.segments += one.segments;
                    stats.points += one.points;
                    stats.bytes += one.bytes;
                }
                Err(error) => {
                    tracing::error!(tenant = %tenant, %error, "metrics flush failed; will retry");
                    first_error.get_or_insert(error);
                }
            }
        }
        match first_error {
            Some(error) => Err(error),
            None => Ok(stats),
        }
    }

    /// Whether some memtable is over its size bound (the server wakes the
    /// flush loop early then).
    pub fn wants_flush(&self) -> bool {
        // No tenant can be over `flush_bytes` while all of them together are
        // under it: the common case answers without the lock.
        let total = self.memtable_bytes();
        if total < self.config.flush_bytes && total < self.config.pressure_bytes {
            return false;
        }
        let state = self.lock();
        let total: u64 = state.tenants.values().map(|t| t.active.bytes).sum();
        total >= self.config.pressure_bytes
            || state
                .tenants
                .values()
                .any(|t| t.active.bytes >= self.config.flush_bytes)
    }

    async fn flush_tenant(&self, tenant: &str) -> Result<FlushStats, TsdbError> {
        let (chunks, max_seq) = {
            let mut state = self.lock();
            let Some(table) = state.tenants.get_mut(tenant) else {
                return Ok(FlushStats::default());
            };
            if table.frozen.is_none() {
                table.frozen = Some(std::mem::take(&mut table.active));
            }
            let frozen = table.frozen.as_ref().expect("frozen above");
            (frozen.chunks.clone(), frozen.max_seq().unwrap_or(0))
        };
        let config = self.config.clone();
        let owner = tenant.to_string();
        let outputs =
            tokio::task::spawn_blocking(move || encode_segments(&owner, &chunks, &config))
                .await
                .map_err(|e| TsdbError::Task(e.to_string()))??;
        let mut stats = FlushStats {
            memtables: 1,
            ..FlushStats::default()
        };
        let mut records = Vec::with_capacity(outputs.len());
        for (record, data) in outputs {
            self.store.put(&record.path, data).await?;
            stats.segments += 1;
            stats.points += record.rows;
            stats.bytes += record.size_bytes;
            records.push(record);
        }
        let now = now_ms();
        if let Err(error) = self
            .metastore
            .register_stream_segments(Stream::Metrics, tenant, &records, max_seq, now)
            .await
        {
            if !self.registered(tenant, &records).await {
                return Err(error.into());
            }
            tracing::warn!(tenant, %error, "metrics registration reported an error but committed");
        }
        {
            let mut state = self.lock();
            if let Some(table) = state.tenants.get_mut(tenant) {
                if let Some(flushed) = table.frozen.take() {
                    self.memtable_bytes
                        .fetch_sub(flushed.bytes, Ordering::Relaxed);
                }
                table.catalog.extend(records.into_iter().map(Arc::new));
            }
        }
        self.forget_unused_series(tenant);
        Ok(stats)
    }

    /// Whether every record is in the metastore (an error from a commit
    /// that happened must not make the flush run twice).
    async fn registered(&self, tenant: &str, records: &[SegmentRecord]) -> bool {
        match self
            .metastore
            .list_stream_segments(Stream::Metrics, Some(tenant), i64::MIN, i64::MAX)
            .await
        {
            Ok(listed) => records.iter().all(|r| listed.iter().any(|l| l.id == r.id)),
            Err(_) => false,
        }
    }

    /// Drops whole segments whose newest point is older than the tenant's
    /// retention: metastore first (objects queued for deletion after
    /// `grace`), then the catalog. Returns how many segments left.
    pub async fn expire(
        &self,
        retention_days: &HashMap<TenantId, u32>,
        default_days: u64,
        grace: Duration,
    ) -> Result<u64, TsdbError> {
        let now = now_ms();
        let mut dropped = 0;
        let mut first_error = None;
        for tenant in self.tenants() {
            let days = retention_days
                .get(&tenant)
                .map(|d| u64::from(*d))
                .unwrap_or(default_days);
            let keep_ns =
                i64::try_from(days.saturating_mul(86_400_000_000_000)).unwrap_or(i64::MAX);
            let cutoff = now.saturating_mul(1_000_000).saturating_sub(keep_ns);
            let ids: Vec<String> = self
                .catalog(&tenant)
                .iter()
                .filter(|s| s.max_ts_ns < cutoff)
                .map(|s| s.id.clone())
                .collect();
            if ids.is_empty() {
                continue;
            }
            let delete_after = now.saturating_add(grace.as_millis() as i64);
            match self
                .metastore
                .replace_stream_segments(Stream::Metrics, &tenant, &ids, &[], delete_after, now)
                .await
            {
                Ok(()) => {
                    dropped += ids.len() as u64;
                    self.swap_segments(&tenant, &ids, Vec::new());
                }
                Err(error) => {
                    tracing::error!(tenant = %tenant, %error, "metrics retention failed; will retry");
                    first_error.get_or_insert(error);
                }
            }
        }
        match first_error {
            Some(error) => Err(error.into()),
            None => Ok(dropped),
        }
    }

    /// Registers a merge's output in place of its inputs (compaction).
    pub(crate) async fn commit_merge(
        &self,
        tenant: &str,
        inputs: &[String],
        output: SegmentRecord,
        grace: Duration,
    ) -> Result<(), MetastoreError> {
        let now = now_ms();
        let delete_after = now.saturating_add(grace.as_millis() as i64);
        self.metastore
            .replace_stream_segments(
                Stream::Metrics,
                tenant,
                inputs,
                std::slice::from_ref(&output),
                delete_after,
                now,
            )
            .await?;
        self.swap_segments(tenant, inputs, vec![output]);
        Ok(())
    }
}

/// Encodes the frozen chunks of one tenant as one segment per hour bucket.
fn encode_segments(
    tenant: &str,
    chunks: &[Arc<MetricChunk>],
    config: &TsdbConfig,
) -> Result<Vec<(SegmentRecord, Bytes)>, TsdbError> {
    let mut buckets: HashMap<i64, Vec<Row<'_>>> = HashMap::new();
    for chunk in chunks {
        for row in chunk.rows() {
            buckets
                .entry(hour_bucket(row.ts_s.saturating_mul(1_000_000_000)))
                .or_default()
                .push(row);
        }
    }
    let mut out = Vec::with_capacity(buckets.len());
    for (bucket, mut rows) in buckets {
        segment::sort_rows(&mut rows);
        out.push(encode_one(
            tenant,
            bucket,
            &rows,
            config.zstd_level,
            config.row_group_rows,
        )?);
    }
    Ok(out)
}

/// Encodes sorted rows of one hour bucket as a segment and its catalog record.
pub(crate) fn encode_one(
    tenant: &str,
    bucket: i64,
    rows: &[Row<'_>],
    zstd_level: i32,
    row_group_rows: usize,
) -> Result<(SegmentRecord, Bytes), TsdbError> {
    let data = segment::write(rows, zstd_level, row_group_rows)?;
    let id = uuid::Uuid::now_v7().to_string();
    let (min, max) = rows.iter().fold((i64::MAX, i64::MIN), |(lo, hi), r| {
        (lo.min(r.ts_s), hi.max(r.ts_s))
    });
    let record = SegmentRecord {
        path: segment_path(tenant, bucket, &id),
        id,
        tenant: tenant.to_string(),
        hour_bucket_ns: bucket,
        min_ts_ns: min.saturating_mul(1_000_000_000),
        max_ts_ns: max.saturating_mul(1_000_000_000),
        rows: rows.len() as u64,
        size_bytes: data.len() as u64,
    };
    Ok((record, Bytes::from(data)))
}
