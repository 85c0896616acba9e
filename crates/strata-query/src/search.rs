//! Log search: the newest (or oldest) `limit` events matching a query in a
//! time range, with keyset pagination.
//!
//! Sources (memtable chunks and segments) are visited in time order, newest
//! first for `-timestamp`; the scan stops as soon as the page is full and the
//! next source cannot hold an event that belongs on it (early termination).
//! Segments whose skip index rules the query out are never read.
//!
//! The cursor is the sort key `(timestamp, id)` of the page's last event plus
//! the request's resolved time range, so a later page neither repeats nor
//! skips events while ingest goes on (new events sort before a descending
//! cursor; `now` does not move between pages).

use std::cmp::Ordering;
use std::collections::{BinaryHeap, HashMap};
use std::sync::Arc;

use base64::Engine as _;
use strata_index::MemChunk;
use strata_metastore::SegmentRecord;
use strata_segment::SegmentRow;

use crate::engine::{Budget, Completeness, Engine, Source};
use crate::matcher::Matcher;
use crate::needs::Needs;
use crate::view::BatchColumns;
use crate::QueryError;

/// Largest page Datadog allows.
pub const MAX_PAGE_LIMIT: usize = 1000;

/// A resolved search request.
#[derive(Debug, Clone)]
pub struct SearchParams {
    /// The search query text.
    pub query: String,
    /// Range start, epoch ms, inclusive.
    pub from_ms: i64,
    /// Range end, epoch ms, exclusive.
    pub to_ms: i64,
    /// Oldest first (`timestamp`) instead of newest first (`-timestamp`).
    pub ascending: bool,
    /// Page size, 1..=[`MAX_PAGE_LIMIT`].
    pub limit: usize,
    /// Where the previous page ended.
    pub cursor: Option<Cursor>,
}

/// The position after a page's last event. Opaque to clients.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Cursor {
    /// Timestamp (ns) of the last event returned.
    pub ts: i64,
    /// Id of the last event returned.
    pub id: String,
    /// The first page's resolved range start (ms).
    pub from_ms: i64,
    /// The first page's resolved range end (ms).
    pub to_ms: i64,
    /// The first page's sort order.
    pub ascending: bool,
}

impl Cursor {
    /// The opaque text form (URL-safe base64 of JSON).
    pub fn encode(&self) -> String {
        let json = serde_json::to_vec(self).unwrap_or_default();
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json)
    }

    /// Parses [`Cursor::encode`]'s output.
    pub fn decode(text: &str) -> Result<Cursor, QueryError> {
        let bad =
            || QueryError::BadRequest("page.cursor is not a cursor this server issued".into());
        let json = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(text.trim())
            .map_err(|_| bad())?;
        serde_json::from_slice(&json).map_err(|_| bad())
    }
}

/// A page of results.
#[derive(Debug)]
pub struct SearchResult {
    /// The events, in the requested order.
    pub events: Vec<SegmentRow>,
    /// The cursor of the next page, when the page is full.
    pub next: Option<Cursor>,
    /// Whether every candidate was examined.
    pub status: Completeness,
}

/// Where a candidate row lives until the page is final.
enum RowRef {
    Chunk(Arc<MemChunk>, usize),
    /// A segment and the row's position in it (stored order); the row is
    /// read in full only if it makes the page.
    Segment(Arc<SegmentRecord>, usize),
}

struct Candidate {
    ts: i64,
    id: String,
    row: RowRef,
    /// Larger is better (belongs earlier on the page).
    ascending: bool,
}

impl Candidate {
    /// Order where the **worst** candidate is the greatest (the heap top).
    fn key_cmp(&self, other: &Candidate) -> Ordering {
        let natural = (self.ts, &self.id).cmp(&(other.ts, &other.id));
        if self.ascending {
            natural
        } else {
            natural.reverse()
        }
    }
}

impl PartialEq for Candidate {
    fn eq(&self, other: &Self) -> bool {
        self.key_cmp(other) == Ordering::Equal
    }
}
impl Eq for Candidate {}
impl PartialOrd for Candidate {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Candidate {
    fn cmp(&self, other: &Self) -> Ordering {
        self.key_cmp(other)
    }
}

/// The page being filled: the best `limit` candidates, worst on top.
struct Page {
    heap: BinaryHeap<Candidate>,
    limit: usize,
    ascending: bool,
    cursor: Option<(i64, String)>,
}

impl Page {
    /// Whether `(ts, id)` is past the cursor in the sort order.
    fn after_cursor(&self, ts: i64, id: &str) -> bool {
        match &self.cursor {
            None => true,
            Some((cts, cid)) => {
                let ord = (ts, id).cmp(&(*cts, cid.as_str()));
                if self.ascending {
                    ord == Ordering::Greater
                } else {
                    ord == Ordering::Less
                }
            }
        }
    }

    /// Whether a row at `ts` could still make the page.
    fn wants_ts(&self, ts: i64) -> bool {
        if self.heap.len() < self.limit {
            return true;
        }
        let Some(worst) = self.heap.peek() else {
            return true;
        };
        if self.ascending {
            ts <= worst.ts
        } else {
            ts >= worst.ts
        }
    }

    fn offer(&mut self, ts: i64, id: &str, row: impl FnOnce() -> RowRef) {
        if !self.wants_ts(ts) || !self.after_cursor(ts, id) {
            return;
        }
        if self.heap.len() >= self.limit {
            // Compare before building the candidate: most rows of a big scan
            // lose to a full page, and they should not allocate their id.
            let beats_worst = self.heap.peek().is_some_and(|worst| {
                let ord = (ts, id).cmp(&(worst.ts, worst.id.as_str()));
                if self.ascending {
                    ord == Ordering::Less
                } else {
                    ord == Ordering::Greater
                }
            });
            if !beats_worst {
                return;
            }
            self.heap.pop();
        }
        self.heap.push(Candidate {
            ts,
            id: id.to_string(),
            row: row(),
            ascending: self.ascending,
        });
    }

    /// Whether every row of a source spanning `[min_ts, max_ts]` is on an
    /// earlier page (beyond the cursor). Later sources may still qualify.
    fn source_before_cursor(&self, min_ts: i64, max_ts: i64) -> bool {
        match &self.cursor {
            Some((cts, _)) => {
                (self.ascending && max_ts < *cts) || (!self.ascending && min_ts > *cts)
            }
            None => false,
        }
    }

    /// Whether the page is full and no row of a source spanning
    /// `[min_ts, max_ts]` can beat its worst row. Sources come in time order,
    /// so no later source can either: the scan stops (early termination).
    fn page_closed_for(&self, min_ts: i64, max_ts: i64) -> bool {
        if self.ascending {
            !self.wants_ts(min_ts)
        } else {
            !self.wants_ts(max_ts)
        }
    }
}

impl Engine {
    /// Runs one search for `tenant`.
    pub async fn search(
        self: &Arc<Self>,
        tenant: &str,
        params: SearchParams,
    ) -> Result<SearchResult, QueryError> {
        let query = crate::parse::parse(&params.query)?;
        let _permit = self.admit(tenant)?;
        let engine = Arc::clone(self);
        let tenant = tenant.to_string();
        tokio::task::spawn_blocking(move || engine.search_blocking(&tenant, &query, &params))
            .await
            .map_err(|e| QueryError::Internal(format!("search task: {e}")))?
    }

    fn search_blocking(
        &self,
        tenant: &str,
        query: &crate::Query,
        params: &SearchParams,
    ) -> Result<SearchResult, QueryError> {
        let from_ns = params.from_ms.saturating_mul(1_000_000);
        let to_ns = params.to_ms.saturating_mul(1_000_000).saturating_sub(1);
        let matcher = Matcher::new(query);
        let budget = Budget::new(self.limits());
        let limit = params.limit.clamp(1, MAX_PAGE_LIMIT);
        let mut page = Page {
            heap: BinaryHeap::with_capacity(limit + 1),
            limit,
            ascending: params.ascending,
            cursor: params.cursor.as_ref().map(|c| (c.ts, c.id.clone())),
        };
        let mut sources = self.sources(tenant, from_ns, to_ns);
        if params.ascending {
            sources.sort_by_key(|s| s.min_ts());
        } else {
            sources.sort_by_key(|s| std::cmp::Reverse(s.max_ts()));
        }
        let mut status = Completeness::Done;
        for source in &sources {
            if page.page_closed_for(source.min_ts(), source.max_ts()) {
                break;
            }
            if page.source_before_cursor(source.min_ts(), source.max_ts()) {
                continue;
            }
            if !self.search_source(source, from_ns, to_ns, &matcher, &budget, &mut page)? {
                status = Completeness::Timeout;
                break;
            }
        }
        let mut candidates = page.heap.into_sorted_vec();
        candidates.truncate(limit);
        let next = (candidates.len() == limit).then(|| {
            let last = &candidates[candidates.len() - 1];
            Cursor {
                ts: last.ts,
                id: last.id.clone(),
                from_ms: params.from_ms,
                to_ms: params.to_ms,
                ascending: params.ascending,
            }
        });
        let events = self.materialize(candidates)?;
        Ok(SearchResult {
            events,
            next,
            status,
        })
    }

    /// The page's rows, in page order: memtable rows are cloned, segment rows
    /// read (all columns) with one selective read per segment.
    fn materialize(&self, candidates: Vec<Candidate>) -> Result<Vec<SegmentRow>, QueryError> {
        let mut out: Vec<Option<SegmentRow>> = Vec::with_capacity(candidates.len());
        // Per segment: (row in segment, slot on the page).
        type Wanted = (Arc<SegmentRecord>, Vec<(usize, usize)>);
        let mut wanted: HashMap<String, Wanted> = HashMap::new();
        for (slot, candidate) in candidates.into_iter().enumerate() {
            match candidate.row {
                RowRef::Chunk(chunk, i) => out.push(Some(chunk.rows[i].clone())),
                RowRef::Segment(record, row) => {
                    out.push(None);
                    wanted
                        .entry(record.id.clone())
                        .or_insert_with(|| (record, Vec::new()))
                        .1
                        .push((row, slot));
                }
            }
        }
        for (record, mut rows) in wanted.into_values() {
            rows.sort_unstable();
            let indices: Vec<usize> = rows.iter().map(|(row, _)| *row).collect();
            let read = self.segment_rows(&record, &indices)?;
            for ((_, slot), row) in rows.into_iter().zip(read) {
                out[slot] = Some(row);
            }
        }
        out.into_iter()
            .map(|row| row.ok_or_else(|| QueryError::Internal("page row not read".into())))
            .collect()
    }

    /// Offers a source's matching rows to the page; false when the budget ran out.
    fn search_source(
        &self,
        source: &Source,
        from_ns: i64,
        to_ns: i64,
        matcher: &Matcher,
        budget: &Budget,
        page: &mut Page,
    ) -> Result<bool, QueryError> {
        match source {
            Source::Chunk(chunk) => {
                if !budget.charge(chunk.rows.len()) {
                    return Ok(false);
                }
                for (i, row) in chunk.rows.iter().enumerate() {
                    let ts = row.event.timestamp_ns;
                    if ts < from_ns || ts > to_ns || !page.wants_ts(ts) {
                        continue;
                    }
                    if matcher.matches(&row.event) {
                        page.offer(ts, &row.id, || RowRef::Chunk(Arc::clone(chunk), i));
                    }
                }
            }
            Source::Segment(record) => {
                if !self.may_match(record, matcher)? {
                    return Ok(true);
                }
                let mut needs = Needs::default();
                needs.add_query(matcher.query());
                needs.add_id();
                let mut offset = 0;
                for batch in self.segment_batches(record, &needs)? {
                    let batch = batch?;
                    if !budget.charge(batch.num_rows()) {
                        return Ok(false);
                    }
                    let columns = BatchColumns::new(&batch)?;
                    for i in 0..columns.len() {
                        let ts = columns.timestamp_ns(i);
                        if ts < from_ns || ts > to_ns || !page.wants_ts(ts) {
                            continue;
                        }
                        if matcher.matches(&columns.row(i)) {
                            page.offer(ts, columns.id(i), || {
                                RowRef::Segment(Arc::clone(record), offset + i)
                            });
                        }
                    }
                    offset += batch.num_rows();
                }
            }
        }
        Ok(true)
    }
}
