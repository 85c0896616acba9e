//! Memtables and flushing.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use strata_metastore::{Metastore, MetastoreError, SegmentRecord};
use strata_segment::{write_segment_refs, SegmentError, SegmentOptions, SegmentRow};
use strata_types::{event_id, hour_bucket, Event, TenantId};

use bytes::Bytes;
use strata_storage::{SegmentStore, StorageError};

/// Flush errors. A failed flush loses nothing: the frozen memtable stays,
/// rows and all, and is retried.
#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    /// Writing the Parquet bytes failed.
    #[error("segment encoding failed: {0}")]
    Segment(#[from] SegmentError),
    /// Writing the file failed.
    #[error("segment write failed: {0}")]
    Io(#[from] std::io::Error),
    /// Object storage failed.
    #[error("segment storage failed: {0}")]
    Storage(#[from] StorageError),
    /// A stored segment disagrees with the catalog.
    #[error("segment corrupt: {0}")]
    Corrupt(String),
    /// Registering the segments failed.
    #[error("segment registration failed: {0}")]
    Metastore(#[from] MetastoreError),
    /// The blocking flush task panicked or was cancelled.
    #[error("flush task failed: {0}")]
    Task(String),
}

/// Flush policy.
#[derive(Debug, Clone)]
pub struct IndexConfig {
    /// Flush a tenant's memtable at this many bytes.
    pub flush_bytes: u64,
    /// Flush a tenant's memtable when its oldest record is this old.
    pub max_age: Duration,
    /// Above this many memtable bytes in all, flush the largest memtable.
    pub pressure_bytes: u64,
    /// Segment layout.
    pub segment: SegmentOptions,
}

/// What one [`Index::flush_due`] call did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FlushStats {
    /// Memtables flushed.
    pub memtables: usize,
    /// Segments written and registered.
    pub segments: usize,
    /// Events flushed.
    pub events: u64,
    /// Segment bytes written.
    pub bytes: u64,
}

/// One committed WAL record's events: the unit memtables hold, queries read
/// and live tail publishes. Immutable once built, shared behind an `Arc`.
#[derive(Debug)]
pub struct MemChunk {
    /// WAL sequence number of the record.
    pub seq: u64,
    /// The events with their ids, in record order.
    pub rows: Vec<SegmentRow>,
    /// Smallest event timestamp, ns.
    pub min_ts_ns: i64,
    /// Largest event timestamp, ns.
    pub max_ts_ns: i64,
}

impl MemChunk {
    fn new(seq: u64, events: Vec<Event>) -> MemChunk {
        let mut min_ts_ns = i64::MAX;
        let mut max_ts_ns = i64::MIN;
        let rows = events
            .into_iter()
            .enumerate()
            .map(|(index, event)| {
                min_ts_ns = min_ts_ns.min(event.timestamp_ns);
                max_ts_ns = max_ts_ns.max(event.timestamp_ns);
                SegmentRow {
                    id: event_id(seq, index as u32),
                    event,
                }
            })
            .collect();
        MemChunk {
            seq,
            rows,
            min_ts_ns,
            max_ts_ns,
        }
    }
}

#[derive(Debug)]
struct Memtable {
    chunks: Vec<Arc<MemChunk>>,
    rows: usize,
    min_seq: Option<u64>,
    max_seq: Option<u64>,
    bytes: u64,
    created: Instant,
}

impl Memtable {
    fn new() -> Memtable {
        Memtable {
            chunks: Vec::new(),
            rows: 0,
            min_seq: None,
            max_seq: None,
            bytes: 0,
            created: Instant::now(),
        }
    }

    fn is_empty(&self) -> bool {
        self.max_seq.is_none()
    }

    /// Appends a record's events; `heap_bytes` is their summed `heap_size`.
    fn push(&mut self, seq: u64, events: Vec<Event>, heap_bytes: u64) -> Arc<MemChunk> {
        if self.is_empty() {
            self.created = Instant::now();
        }
        self.min_seq.get_or_insert(seq);
        self.max_seq = Some(seq);
        self.bytes += heap_bytes + ROW_OVERHEAD * events.len() as u64;
        self.rows += events.len();
        let chunk = Arc::new(MemChunk::new(seq, events));
        self.chunks.push(Arc::clone(&chunk));
        chunk
    }
}

/// Bytes charged per row on top of the event: its id string.
const ROW_OVERHEAD: u64 = 48;

fn heap_bytes(events: &[Event]) -> u64 {
    events.iter().map(|e| e.heap_size() as u64).sum()
}

#[derive(Debug)]
struct Frozen {
    /// The rows, readable by queries while they are being written.
    memtable: Memtable,
    max_seq: u64,
    bytes: u64,
    rows: u64,
}

#[derive(Debug)]
struct TenantTable {
    active: Memtable,
    frozen: Option<Frozen>,
    /// The tenant's registered segments, kept here so that a snapshot sees
    /// each row exactly once: a flush adds its segments and drops the frozen
    /// memtable under the same lock.
    segments: Vec<Arc<SegmentRecord>>,
}

impl TenantTable {
    fn new() -> TenantTable {
        TenantTable {
            active: Memtable::new(),
            frozen: None,
            segments: Vec::new(),
        }
    }
}

/// What a query reads of one tenant: its registered segments and its
/// memtable chunks (frozen and active), taken together under one lock so
/// that every row appears exactly once.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// Registered segments.
    pub segments: Vec<Arc<SegmentRecord>>,
    /// Memtable chunks, oldest first.
    pub chunks: Vec<Arc<MemChunk>>,
}

#[derive(Debug, Default)]
struct State {
    tenants: HashMap<TenantId, TenantTable>,
    last_applied: u64,
}

/// All tenants' memtables. Cheap to share behind an `Arc`.
#[derive(Debug)]
pub struct Index {
    state: Mutex<State>,
    total_bytes: AtomicU64,
    total_events: AtomicU64,
    config: IndexConfig,
    metastore: Arc<dyn Metastore>,
    store: SegmentStore,
    flush_lock: tokio::sync::Mutex<()>,
}

impl Index {
    /// An empty index writing segments to `store` and registering them in `metastore`.
    pub fn new(config: IndexConfig, metastore: Arc<dyn Metastore>, store: SegmentStore) -> Index {
        Index {
            state: Mutex::new(State::default()),
            total_bytes: AtomicU64::new(0),
            total_events: AtomicU64::new(0),
            config,
            metastore,
            store,
            flush_lock: tokio::sync::Mutex::new(()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding this lock leaves plain data behind; keep serving.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Inserts a committed record's events. Must be called in seq order
    /// (the WAL's `on_commit` and recovery replay both are).
    pub fn apply(&self, seq: u64, tenant: &str, events: Vec<Event>) -> Option<Arc<MemChunk>> {
        let measured = heap_bytes(&events);
        self.apply_measured(seq, tenant, events, measured)
    }

    /// [`Index::apply`] with the events' summed `heap_size` already known
    /// (the intake measures it while decoding; this runs on the WAL writer
    /// thread, which should not walk every event again). Returns the chunk
    /// the events became (for live tail), `None` for an empty record.
    pub fn apply_measured(
        &self,
        seq: u64,
        tenant: &str,
        events: Vec<Event>,
        heap_bytes: u64,
    ) -> Option<Arc<MemChunk>> {
        let count = events.len() as u64;
        let mut state = self.lock();
        if events.is_empty() {
            // A record with no events (sequence numbers skipped at recovery).
            state.last_applied = state.last_applied.max(seq);
            return None;
        }
        let table = state
            .tenants
            .entry(tenant.to_string())
            .or_insert_with(TenantTable::new);
        let before = table.active.bytes;
        let chunk = table.active.push(seq, events, heap_bytes);
        let bytes = table.active.bytes - before;
        state.last_applied = state.last_applied.max(seq);
        drop(state);
        self.total_bytes.fetch_add(bytes, Ordering::Relaxed);
        self.total_events.fetch_add(count, Ordering::Relaxed);
        Some(chunk)
    }

    /// Puts the registered segments (the metastore's list at start) into the
    /// in-memory catalog that [`Index::snapshot`] reads. Call once at start,
    /// before serving queries.
    pub fn load_catalog(&self, records: Vec<SegmentRecord>) {
        let mut state = self.lock();
        for record in records {
            state
                .tenants
                .entry(record.tenant.clone())
                .or_insert_with(TenantTable::new)
                .segments
                .push(Arc::new(record));
        }
    }

    /// What a query of `tenant` reads: its segments and memtable chunks,
    /// each row exactly once. Only chunks overlapping `[from_ns, to_ns]`
    /// are returned; segments are returned whole (callers prune them).
    pub fn snapshot(&self, tenant: &str, from_ns: i64, to_ns: i64) -> Snapshot {
        let state = self.lock();
        let Some(table) = state.tenants.get(tenant) else {
            return Snapshot::default();
        };
        let overlaps = |c: &&Arc<MemChunk>| c.max_ts_ns >= from_ns && c.min_ts_ns <= to_ns;
        let mut chunks = Vec::new();
        if let Some(frozen) = &table.frozen {
            chunks.extend(frozen.memtable.chunks.iter().filter(overlaps).cloned());
        }
        chunks.extend(table.active.chunks.iter().filter(overlaps).cloned());
        Snapshot {
            segments: table.segments.clone(),
            chunks,
        }
    }

    /// The segment store.
    pub fn store(&self) -> &SegmentStore {
        &self.store
    }

    /// The metastore.
    pub fn metastore(&self) -> Arc<dyn Metastore> {
        Arc::clone(&self.metastore)
    }

    /// A tenant's registered segments (the in-memory catalog).
    pub fn catalog(&self, tenant: &str) -> Vec<Arc<SegmentRecord>> {
        self.lock()
            .tenants
            .get(tenant)
            .map(|t| t.segments.clone())
            .unwrap_or_default()
    }

    /// Segments, rows and bytes of every tenant's catalog.
    pub fn catalog_totals(&self) -> (u64, u64, u64) {
        let state = self.lock();
        let mut totals = (0, 0, 0);
        for segment in state.tenants.values().flat_map(|t| t.segments.iter()) {
            totals.0 += 1;
            totals.1 += segment.rows;
            totals.2 += segment.size_bytes;
        }
        totals
    }

    /// Ids of every registered segment.
    pub fn catalog_ids(&self) -> std::collections::HashSet<String> {
        let state = self.lock();
        state
            .tenants
            .values()
            .flat_map(|t| t.segments.iter().map(|s| s.id.clone()))
            .collect()
    }

    /// Replaces segments `removed` (ids) of `tenant` by `added` in the
    /// in-memory catalog, under the lock [`Index::snapshot`] takes: a
    /// snapshot sees the old set or the new one. Call after the same swap
    /// committed in the metastore.
    pub fn swap_segments(&self, tenant: &str, removed: &[String], added: Vec<SegmentRecord>) {
        let removed: std::collections::HashSet<&str> = removed.iter().map(String::as_str).collect();
        let mut state = self.lock();
        let table = state
            .tenants
            .entry(tenant.to_string())
            .or_insert_with(TenantTable::new);
        table.segments.retain(|s| !removed.contains(s.id.as_str()));
        table.segments.extend(added.into_iter().map(Arc::new));
    }

    /// Tenants the index holds anything for.
    pub fn tenants(&self) -> Vec<TenantId> {
        self.lock().tenants.keys().cloned().collect()
    }

    /// Bytes held by memtables (active and frozen).
    pub fn memtable_bytes(&self) -> u64 {
        self.total_bytes.load(Ordering::Relaxed)
    }

    /// Events held by memtables (active and frozen).
    pub fn memtable_events(&self) -> u64 {
        self.total_events.load(Ordering::Relaxed)
    }

    /// Whether some memtable is over its size threshold or memory is under pressure.
    pub fn needs_flush(&self) -> bool {
        if self.memtable_bytes() >= self.config.pressure_bytes {
            return true;
        }
        let state = self.lock();
        state
            .tenants
            .values()
            .any(|t| t.active.bytes >= self.config.flush_bytes)
    }

    /// The highest WAL sequence number below which every record is in a
    /// registered segment: the WAL may delete files up to it.
    pub fn safe_wal_seq(&self) -> u64 {
        let state = self.lock();
        let mut oldest_unflushed: Option<u64> = None;
        for table in state.tenants.values() {
            let seqs = [
                table.frozen.as_ref().and_then(|f| f.memtable.min_seq),
                table.active.min_seq,
            ];
            for seq in seqs.into_iter().flatten() {
                oldest_unflushed = Some(oldest_unflushed.map_or(seq, |o| o.min(seq)));
            }
        }
        match oldest_unflushed {
            Some(seq) => seq.saturating_sub(1),
            None => state.last_applied,
        }
    }

    /// Flushes every memtable that is due (over size, over age, the largest
    /// one under memory pressure, or any non-empty one when `force`), one
    /// tenant at a time. Returns what was flushed; the first failure is
    /// returned after the other tenants were tried.
    pub async fn flush_due(&self, force: bool) -> Result<FlushStats, IndexError> {
        let _guard = self.flush_lock.lock().await;
        let tenants = self.pick_due(force);
        let mut stats = FlushStats::default();
        let mut first_error = None;
        for tenant in tenants {
            match self.flush_tenant(&tenant).await {
                Ok(Some(one)) => {
                    stats.memtables += 1;
                    stats.segments += one.segments;
                    stats.events += one.events;
                    stats.bytes += one.bytes;
                }
                Ok(None) => {}
                Err(error) => {
                    tracing::error!(tenant = %tenant, %error, "memtable flush failed; will retry");
                    first_error.get_or_insert(error);
                }
            }
        }
        match first_error {
            Some(error) => Err(error),
            None => Ok(stats),
        }
    }

    fn pick_due(&self, force: bool) -> Vec<TenantId> {
        let state = self.lock();
        let under_pressure = self.memtable_bytes() >= self.config.pressure_bytes;
        let largest = state
            .tenants
            .iter()
            .max_by_key(|(_, t)| t.active.bytes)
            .map(|(id, _)| id.clone());
        let mut due = Vec::new();
        for (id, table) in &state.tenants {
            let active = &table.active;
            let has_data = !active.is_empty();
            let is_due = table.frozen.is_some()
                || (has_data
                    && (force
                        || active.bytes >= self.config.flush_bytes
                        || active.created.elapsed() >= self.config.max_age
                        || (under_pressure && largest.as_ref() == Some(id))));
            if is_due {
                due.push(id.clone());
            }
        }
        due
    }

    /// Freezes (or retries) one tenant's memtable and flushes it. The frozen
    /// rows stay readable by queries until their segments are registered; a
    /// failed attempt keeps them for the retry.
    async fn flush_tenant(&self, tenant: &str) -> Result<Option<FlushStats>, IndexError> {
        let (rows, max_seq) = {
            let mut state = self.lock();
            let Some(table) = state.tenants.get_mut(tenant) else {
                return Ok(None);
            };
            if table.frozen.is_none() {
                if table.active.is_empty() {
                    return Ok(None);
                }
                let active = std::mem::replace(&mut table.active, Memtable::new());
                table.frozen = Some(Frozen {
                    max_seq: active.max_seq.unwrap_or(0),
                    bytes: active.bytes,
                    rows: active.rows as u64,
                    memtable: active,
                });
            }
            let Some(frozen) = table.frozen.as_ref() else {
                return Ok(None);
            };
            (frozen.memtable.chunks.clone(), frozen.max_seq)
        };
        let started = Instant::now();
        let store = self.store.clone();
        let options = self.config.segment;
        let owned_tenant = tenant.to_string();
        let written = tokio::task::spawn_blocking(move || {
            let refs: Vec<&SegmentRow> = rows.iter().flat_map(|c| c.rows.iter()).collect();
            write_rows(&owned_tenant, refs, &options, &store)
        })
        .await
        .map_err(|e| IndexError::Task(e.to_string()))
        .and_then(|r| r);
        // On failure the frozen memtable stays, rows and all, for the retry.
        let records = self.register(tenant, written?, max_seq).await?;
        let mut stats = FlushStats {
            memtables: 1,
            segments: records.len(),
            ..FlushStats::default()
        };
        stats.bytes = records.iter().map(|r| r.size_bytes).sum();
        let mut state = self.lock();
        if let Some(table) = state.tenants.get_mut(tenant) {
            table.segments.extend(records.into_iter().map(Arc::new));
            if let Some(frozen) = table.frozen.take() {
                self.total_bytes.fetch_sub(frozen.bytes, Ordering::Relaxed);
                self.total_events.fetch_sub(frozen.rows, Ordering::Relaxed);
                stats.events = frozen.rows;
            }
        }
        drop(state);
        tracing::info!(
            tenant,
            segments = stats.segments,
            events = stats.events,
            bytes = stats.bytes,
            checkpoint = max_seq,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "memtable flushed"
        );
        Ok(Some(stats))
    }

    /// Registers a flush's segments with its checkpoint; returns the
    /// segments to add to the catalog. Files are deleted only when they are
    /// known not to be registered: an error may come back from a COMMIT
    /// that happened (a connection lost during it), and deleting registered
    /// files would lose acknowledged rows.
    async fn register(
        &self,
        tenant: &str,
        records: Vec<SegmentRecord>,
        max_seq: u64,
    ) -> Result<Vec<SegmentRecord>, IndexError> {
        let error = match self
            .metastore
            .register_segments(tenant, &records, max_seq, crate::lifecycle::now_ms())
            .await
        {
            Ok(()) => return Ok(records),
            // An earlier attempt committed although it reported an error we
            // could not check: its segments hold these rows and are
            // registered (the in-memory catalog learns them at the next start).
            Err(MetastoreError::AlreadyRegistered { .. }) => {
                self.remove_files(&records).await;
                return Ok(Vec::new());
            }
            Err(error) => error,
        };
        let (from, to) = records.iter().fold((i64::MAX, i64::MIN), |(lo, hi), r| {
            (lo.min(r.min_ts_ns), hi.max(r.max_ts_ns))
        });
        match self.metastore.list_segments(Some(tenant), from, to).await {
            Ok(listed) if records.iter().all(|r| listed.iter().any(|s| s.id == r.id)) => {
                tracing::warn!(tenant, %error, "segment registration reported an error but committed");
                Ok(records)
            }
            Ok(_) => {
                self.remove_files(&records).await;
                Err(IndexError::from(error))
            }
            // Unknown: keep the files (the orphan sweep at start removes
            // them if they are not registered).
            Err(_) => Err(IndexError::from(error)),
        }
    }

    /// Best-effort removal of segment files that were never registered (a
    /// crash before this leaves them to the orphan sweep at start).
    async fn remove_files(&self, records: &[SegmentRecord]) {
        for record in records {
            if let Err(error) = self.store.delete(&record.path).await {
                tracing::warn!(path = %record.path, %error, "could not remove an unregistered segment file");
            }
        }
    }
}

/// Splits a memtable by hour bucket and writes one segment per bucket.
fn write_rows(
    tenant: &str,
    rows: Vec<&SegmentRow>,
    options: &SegmentOptions,
    store: &SegmentStore,
) -> Result<Vec<SegmentRecord>, IndexError> {
    let mut parts: Vec<(i64, Vec<&SegmentRow>)> = Vec::new();
    for (bucket, rows) in split_by_hour(rows) {
        parts.extend(
            split_for_threads(rows)
                .into_iter()
                .map(|rows| (bucket, rows)),
        );
    }
    // Segments are independent files: write them on parallel threads. Flush
    // is the ingest bottleneck on a busy node (one thread could not keep up
    // with two cores of decoding; see docs/benchmarks.md).
    // At most one writer thread per core: a tenant sending many distinct
    // hours must not make a flush spawn thousands of threads.
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut records = Vec::with_capacity(parts.len());
    let mut parts = parts.into_iter().peekable();
    while parts.peek().is_some() {
        let wave: Vec<(i64, Vec<&SegmentRow>)> = parts.by_ref().take(threads).collect();
        let results: Vec<Result<SegmentRecord, IndexError>> = std::thread::scope(|scope| {
            let handles: Vec<_> = wave
                .into_iter()
                .map(|(bucket, rows)| {
                    scope.spawn(move || write_one(tenant, bucket, rows, options, store))
                })
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join()
                        .unwrap_or_else(|_| Err(IndexError::Task("segment writer panicked".into())))
                })
                .collect()
        });
        for result in results {
            records.push(result?);
        }
    }
    Ok(records)
}

fn write_one(
    tenant: &str,
    bucket: i64,
    rows: Vec<&SegmentRow>,
    options: &SegmentOptions,
    store: &SegmentStore,
) -> Result<SegmentRecord, IndexError> {
    let id = uuid::Uuid::now_v7().to_string();
    let path = SegmentStore::segment_path(tenant, bucket, &id);
    let mut buffer = Vec::new();
    let meta = write_segment_refs(&rows, options, &mut buffer)?;
    let size = store.put_blocking(&path, Bytes::from(buffer))?;
    Ok(SegmentRecord {
        id,
        tenant: tenant.to_string(),
        path,
        hour_bucket_ns: bucket,
        min_ts_ns: meta.min_timestamp_ns,
        max_ts_ns: meta.max_timestamp_ns,
        rows: meta.rows,
        size_bytes: size,
    })
}

/// Rows grouped by hour bucket; the usual single-bucket case moves nothing.
fn split_by_hour(rows: Vec<&SegmentRow>) -> BTreeMap<i64, Vec<&SegmentRow>> {
    let mut buckets: BTreeMap<i64, Vec<&SegmentRow>> = BTreeMap::new();
    let first = rows.first().map(|r| hour_bucket(r.event.timestamp_ns));
    if let Some(bucket) = first {
        if rows
            .iter()
            .all(|r| hour_bucket(r.event.timestamp_ns) == bucket)
        {
            buckets.insert(bucket, rows);
            return buckets;
        }
    }
    for row in rows {
        buckets
            .entry(hour_bucket(row.event.timestamp_ns))
            .or_default()
            .push(row);
    }
    buckets
}

/// Rows above which a bucket is split into one segment per core.
const PARALLEL_FLUSH_ROWS: usize = 50_000;

fn split_for_threads(mut rows: Vec<&SegmentRow>) -> Vec<Vec<&SegmentRow>> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    if threads < 2 || rows.len() < PARALLEL_FLUSH_ROWS {
        return vec![rows];
    }
    let per_part = rows.len().div_ceil(threads);
    let mut parts = Vec::with_capacity(threads);
    while rows.len() > per_part {
        let tail = rows.split_off(rows.len() - per_part);
        parts.push(tail);
    }
    parts.push(rows);
    parts.reverse();
    parts
}
