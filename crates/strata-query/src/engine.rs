//! The engine: what every query shares (the index, segment store, limits),
//! and the scan of a tenant's data that search, aggregation and SQL build on.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use arrow_array::RecordBatch;
use parquet::arrow::arrow_reader::{ArrowReaderMetadata, RowSelection, RowSelector};
use parquet::arrow::ProjectionMask;
use strata_index::{Index, MemChunk, Snapshot};
use strata_metastore::SegmentRecord;
use strata_segment::SegmentRow;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::matcher::Matcher;
use crate::needs::Needs;
use crate::view::BatchColumns;
use crate::{EventView, QueryError};

/// Limits that keep one query (or one tenant) from taking the node down.
#[derive(Debug, Clone, Copy)]
pub struct QueryLimits {
    /// Queries one tenant may run at once; more get [`QueryError::TooBusy`].
    pub max_concurrent_per_tenant: usize,
    /// Wall-clock budget of one query; when it runs out the answer is partial.
    pub timeout: Duration,
    /// Rows one query may examine; when it runs out the answer is partial.
    pub scan_budget_rows: u64,
}

impl Default for QueryLimits {
    fn default() -> Self {
        QueryLimits {
            max_concurrent_per_tenant: 8,
            timeout: Duration::from_secs(30),
            scan_budget_rows: 200_000_000,
        }
    }
}

/// Whether an answer covers all the data or stopped at a budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Completeness {
    /// Every candidate row was examined.
    Done,
    /// A time or row budget ran out: the answer is partial.
    Timeout,
}

impl Completeness {
    /// `done` or `timeout`, as in Datadog's `meta.status`.
    pub fn as_str(self) -> &'static str {
        match self {
            Completeness::Done => "done",
            Completeness::Timeout => "timeout",
        }
    }
}

/// One query's time and row budget.
#[derive(Debug)]
pub(crate) struct Budget {
    deadline: Instant,
    rows_left: AtomicI64,
}

impl Budget {
    pub(crate) fn new(limits: &QueryLimits) -> Budget {
        Budget {
            deadline: Instant::now() + limits.timeout,
            rows_left: AtomicI64::new(i64::try_from(limits.scan_budget_rows).unwrap_or(i64::MAX)),
        }
    }

    /// Charges `rows` examined rows; false once the budget is spent.
    pub(crate) fn charge(&self, rows: usize) -> bool {
        let left = self.rows_left.fetch_sub(rows as i64, Ordering::Relaxed) - rows as i64;
        left >= 0 && Instant::now() < self.deadline
    }
}

/// One place data is read from: a memtable chunk or a segment.
#[derive(Debug, Clone)]
pub(crate) enum Source {
    Chunk(Arc<MemChunk>),
    Segment(Arc<SegmentRecord>),
}

impl Source {
    pub(crate) fn min_ts(&self) -> i64 {
        match self {
            Source::Chunk(c) => c.min_ts_ns,
            Source::Segment(s) => s.min_ts_ns,
        }
    }
    pub(crate) fn max_ts(&self) -> i64 {
        match self {
            Source::Chunk(c) => c.max_ts_ns,
            Source::Segment(s) => s.max_ts_ns,
        }
    }
}

/// Cached per-segment facts read from its footer.
#[derive(Debug)]
pub(crate) struct SegmentInfo {
    /// The parsed footer, reused by every read of the segment.
    pub(crate) metadata: ArrowReaderMetadata,
    pub(crate) skip: Option<strata_segment::SkipIndex>,
    /// `(column name, Arrow type)` of its `@` attribute columns.
    pub(crate) attribute_columns: Vec<(String, arrow_schema::DataType)>,
}

/// Shared by every query of a node. Cheap to share behind an `Arc`.
#[derive(Debug)]
pub struct Engine {
    index: Arc<Index>,
    limits: QueryLimits,
    running: Mutex<HashMap<String, Arc<Semaphore>>>,
    infos: Mutex<HashMap<String, Arc<SegmentInfo>>>,
    metrics: Option<Arc<strata_tsdb::Tsdb>>,
}

impl Engine {
    /// Also answers SQL over the metrics store (the `metrics` table).
    pub fn with_metrics(mut self, tsdb: Arc<strata_tsdb::Tsdb>) -> Engine {
        self.metrics = Some(tsdb);
        self
    }

    /// The metrics store, when the engine has one.
    pub(crate) fn metrics_store(&self) -> Option<&Arc<strata_tsdb::Tsdb>> {
        self.metrics.as_ref()
    }

    /// An engine reading `index`'s memtables and catalog, and its segments
    /// through the index's segment store.
    pub fn new(index: Arc<Index>, limits: QueryLimits) -> Engine {
        Engine {
            index,
            limits,
            running: Mutex::new(HashMap::new()),
            infos: Mutex::new(HashMap::new()),
            metrics: None,
        }
    }

    /// Forgets the cached footers of segments that are not in `live` (ids):
    /// call after compaction or retention changed the catalog.
    pub fn retain_segments(&self, live: &std::collections::HashSet<String>) {
        self.infos
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|id, _| live.contains(id));
    }

    /// The limits in force.
    pub fn limits(&self) -> &QueryLimits {
        &self.limits
    }

    /// A slot for one query of `tenant`, or [`QueryError::TooBusy`].
    pub(crate) fn admit(&self, tenant: &str) -> Result<OwnedSemaphorePermit, QueryError> {
        let semaphore = {
            let mut running = self.running.lock().unwrap_or_else(|p| p.into_inner());
            Arc::clone(running.entry(tenant.to_string()).or_insert_with(|| {
                Arc::new(Semaphore::new(self.limits.max_concurrent_per_tenant.max(1)))
            }))
        };
        semaphore
            .try_acquire_owned()
            .map_err(|_| QueryError::TooBusy(self.limits.max_concurrent_per_tenant))
    }

    /// The tenant's sources overlapping `[from_ns, to_ns]`.
    pub(crate) fn sources(&self, tenant: &str, from_ns: i64, to_ns: i64) -> Vec<Source> {
        let Snapshot { segments, chunks } = self.index.snapshot(tenant, from_ns, to_ns);
        let mut sources: Vec<Source> = segments
            .into_iter()
            .filter(|s| s.max_ts_ns >= from_ns && s.min_ts_ns <= to_ns)
            .map(Source::Segment)
            .collect();
        sources.extend(chunks.into_iter().map(Source::Chunk));
        sources
    }

    /// Footer facts of a segment, cached by segment id.
    pub(crate) fn segment_info(
        &self,
        record: &SegmentRecord,
    ) -> Result<Arc<SegmentInfo>, QueryError> {
        if let Some(info) = self
            .infos
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&record.id)
        {
            return Ok(Arc::clone(info));
        }
        let reader_metadata = self
            .index
            .store()
            .read_metadata_blocking(&record.path, record.size_bytes)
            .map_err(|e| QueryError::Storage(format!("segment {} footer: {e}", record.path)))?;
        let metadata = reader_metadata.metadata();
        let kv = metadata
            .file_metadata()
            .key_value_metadata()
            .cloned()
            .unwrap_or_default();
        let skip = strata_segment::SkipIndex::from_key_value_metadata(&kv)
            .map_err(|e| QueryError::Storage(format!("segment {} skip index: {e}", record.path)))?;
        let attribute_columns = reader_metadata
            .schema()
            .fields()
            .iter()
            .filter(|f| {
                f.name()
                    .starts_with(strata_segment::columns::ATTRIBUTE_PREFIX)
            })
            .map(|f| (f.name().clone(), f.data_type().clone()))
            .collect();
        let info = Arc::new(SegmentInfo {
            metadata: reader_metadata,
            skip,
            attribute_columns,
        });
        let mut infos = self.infos.lock().unwrap_or_else(|p| p.into_inner());
        infos.insert(record.id.clone(), Arc::clone(&info));
        Ok(info)
    }

    /// Whether a segment may hold a match of `matcher` (skip index).
    pub(crate) fn may_match(
        &self,
        record: &SegmentRecord,
        matcher: &Matcher,
    ) -> Result<bool, QueryError> {
        if matcher.matches_all() {
            return Ok(true);
        }
        let info = self.segment_info(record)?;
        Ok(match &info.skip {
            Some(skip) => crate::prune::may_match(matcher.query(), skip),
            None => true,
        })
    }

    /// Every row of `sources` in `[from_ns, to_ns]` (inclusive) that matches,
    /// handed to `visit` (in no particular order), within `budget`. Runs on
    /// the calling thread: call it from a blocking task.
    pub(crate) fn scan(
        &self,
        sources: &[Source],
        (from_ns, to_ns): (i64, i64),
        matcher: &Matcher,
        needs: &Needs,
        budget: &Budget,
        visit: &mut dyn FnMut(&dyn EventView),
    ) -> Result<Completeness, QueryError> {
        for source in sources {
            match source {
                Source::Chunk(chunk) => {
                    if !budget.charge(chunk.rows.len()) {
                        return Ok(Completeness::Timeout);
                    }
                    for row in &chunk.rows {
                        let ts = row.event.timestamp_ns;
                        if ts >= from_ns && ts <= to_ns && matcher.matches(&row.event) {
                            visit(&row.event);
                        }
                    }
                }
                Source::Segment(record) => {
                    if !self.may_match(record, matcher)? {
                        continue;
                    }
                    for batch in self.segment_batches(record, needs)? {
                        let batch = batch?;
                        if !budget.charge(batch.num_rows()) {
                            return Ok(Completeness::Timeout);
                        }
                        let columns = BatchColumns::new(&batch)?;
                        for i in 0..columns.len() {
                            let ts = columns.timestamp_ns(i);
                            if ts < from_ns || ts > to_ns {
                                continue;
                            }
                            let row = columns.row(i);
                            if matcher.matches(&row) {
                                visit(&row);
                            }
                        }
                    }
                }
            }
        }
        Ok(Completeness::Done)
    }

    /// The record batches of one segment (in stored order, up to
    /// [`SCAN_BATCH_ROWS`] rows each), with the columns `needs` asks for.
    pub(crate) fn segment_batches(
        &self,
        record: &SegmentRecord,
        needs: &Needs,
    ) -> Result<impl Iterator<Item = Result<RecordBatch, QueryError>>, QueryError> {
        self.segment_reader(record, needs, None)
    }

    /// The rows at `indices` (ascending positions in stored order) of a
    /// segment, all columns, in that order.
    pub(crate) fn segment_rows(
        &self,
        record: &SegmentRecord,
        indices: &[usize],
    ) -> Result<Vec<SegmentRow>, QueryError> {
        let mut selectors = Vec::with_capacity(indices.len() * 2);
        let mut at = 0;
        for &index in indices {
            if index < at {
                return Err(QueryError::Internal("row indices out of order".into()));
            }
            if index > at {
                selectors.push(RowSelector::skip(index - at));
            }
            selectors.push(RowSelector::select(1));
            at = index + 1;
        }
        let mut rows = Vec::with_capacity(indices.len());
        for batch in self.segment_reader(record, &Needs::all(), Some(selectors.into()))? {
            let batch = batch?;
            rows.extend(
                strata_segment::batch_rows(&batch)
                    .map_err(|e| QueryError::Storage(format!("segment {}: {e}", record.path)))?,
            );
        }
        if rows.len() != indices.len() {
            return Err(QueryError::Storage(format!(
                "segment {}: asked for {} rows, read {}",
                record.path,
                indices.len(),
                rows.len()
            )));
        }
        Ok(rows)
    }

    fn segment_reader(
        &self,
        record: &SegmentRecord,
        needs: &Needs,
        selection: Option<RowSelection>,
    ) -> Result<impl Iterator<Item = Result<RecordBatch, QueryError>>, QueryError> {
        // Reads only the projected column chunks (the footer is cached in
        // the segment's info; remote byte ranges go through the read cache).
        let info = self.segment_info(record)?;
        let metadata = &info.metadata;
        let projection = (!needs.is_all()).then(|| {
            let roots = needs.roots(metadata.schema());
            ProjectionMask::roots(metadata.metadata().file_metadata().schema_descr(), roots)
        });
        let path = record.path.clone();
        let batches = self
            .index
            .store()
            .read_batches_blocking(
                &record.path,
                record.size_bytes,
                metadata,
                projection,
                selection,
                SCAN_BATCH_ROWS,
            )
            .map_err(|e| QueryError::Storage(format!("segment {path}: {e}")))?;
        Ok(
            batches
                .map(move |b| b.map_err(|e| QueryError::Storage(format!("segment {path}: {e}")))),
        )
    }
}

/// Rows per record batch when scanning segments.
pub(crate) const SCAN_BATCH_ROWS: usize = 8192;
