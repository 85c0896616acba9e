//! Compaction: size-tiered merging of one tenant's segments of one hour
//! bucket into larger, re-sorted, more strongly compressed ones.
//!
//! A merge reads its inputs whole, writes one output (fsynced or acknowledged
//! by the object store before anything else happens), then swaps inputs for
//! output in ONE metastore transaction ([`Metastore::replace_segments`]) and
//! in the in-memory catalog ([`Index::swap_segments`]) under the lock
//! snapshots take, so a query sees the old set or the new one, never both
//! and never neither. The inputs are queued for deletion after a grace period
//! (queries that took a snapshot before the swap may still read them).
//!
//! Crash safety (`kill -9` at any point): before the transaction the output
//! is an unregistered object, removed by the orphan sweep at start; after
//! it, the inputs are queued deletions, removed once due. Rows are never in
//! two registered segments, and never in none. A swap that fails is
//! checked against the catalog before its output is deleted: an error may
//! come back from a COMMIT that happened.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use strata_metastore::{Metastore, MetastoreError, SegmentRecord};
use strata_segment::{read_segment, write_segment, SegmentOptions};
use strata_storage::SegmentStore;
use strata_types::TenantId;

use crate::lifecycle::{now_ms, now_ns, IoLimiter};
use crate::{Index, IndexError};

/// Compaction policy. See `[compaction]` in the configuration reference.
#[derive(Debug, Clone)]
pub struct CompactionConfig {
    /// Tier width and how many segments of one tier trigger a merge.
    pub merge_factor: u64,
    /// Most segments one merge reads.
    pub max_merge_segments: usize,
    /// Segments with at least this many rows are final; a merge writes at
    /// most this many rows.
    pub target_segment_rows: u64,
    /// An hour bucket that ended this long ago has all its small segments
    /// merged, whatever their tiers.
    pub cold_after: Duration,
    /// Delay between the swap and the deletion of the inputs.
    pub grace: Duration,
    /// Layout of merged segments.
    pub segment: SegmentOptions,
}

/// One planned merge.
#[derive(Debug, Clone)]
pub struct MergeJob {
    /// Tenant.
    pub tenant: TenantId,
    /// Hour bucket of every input.
    pub hour_bucket_ns: i64,
    /// The segments to merge, smallest first.
    pub inputs: Vec<Arc<SegmentRecord>>,
}

impl MergeJob {
    /// Rows of all inputs.
    pub fn rows(&self) -> u64 {
        self.inputs.iter().map(|s| s.rows).sum()
    }

    /// Bytes of all inputs.
    pub fn bytes(&self) -> u64 {
        self.inputs.iter().map(|s| s.size_bytes).sum()
    }
}

/// What compaction did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CompactionStats {
    /// Merges committed.
    pub merges: u64,
    /// Segments read (and replaced).
    pub segments_in: u64,
    /// Segments written.
    pub segments_out: u64,
    /// Rows rewritten.
    pub rows: u64,
    /// Bytes read.
    pub bytes_in: u64,
    /// Bytes written.
    pub bytes_out: u64,
    /// Merges abandoned because an input left the catalog first.
    pub conflicts: u64,
    /// Ids of the segments that left the catalog.
    pub removed: Vec<String>,
}

const HOUR_NS: i64 = 3_600_000_000_000;

/// Plans at most one merge per (tenant, hour bucket) of `segments` (one
/// tenant's catalog), as of `now_ns`.
///
/// Size-tiered: segments below `target_segment_rows` are grouped in tiers of
/// `merge_factor` width (rows `[f^k, f^(k+1))`); a tier with `merge_factor`
/// members is merged (smallest first, within `max_merge_segments` and
/// `target_segment_rows`), so every row is rewritten about
/// log_f(target / flush size) times. Once the bucket has been closed for
/// `cold_after`, every remaining small segment is merged whatever its tier.
pub fn plan(
    segments: &[Arc<SegmentRecord>],
    now_ns: i64,
    config: &CompactionConfig,
) -> Vec<MergeJob> {
    let mut buckets: BTreeMap<(&str, i64), Vec<&Arc<SegmentRecord>>> = BTreeMap::new();
    for segment in segments {
        if segment.rows < config.target_segment_rows {
            buckets
                .entry((segment.tenant.as_str(), segment.hour_bucket_ns))
                .or_default()
                .push(segment);
        }
    }
    let cold_after = i64::try_from(config.cold_after.as_nanos()).unwrap_or(i64::MAX);
    let mut jobs = Vec::new();
    for ((tenant, bucket), mut small) in buckets {
        if small.len() < 2 {
            continue;
        }
        small.sort_by(|a, b| a.rows.cmp(&b.rows).then_with(|| a.id.cmp(&b.id)));
        let mut tiers: BTreeMap<u32, Vec<&Arc<SegmentRecord>>> = BTreeMap::new();
        for segment in &small {
            tiers
                .entry(tier(segment.rows, config.merge_factor))
                .or_default()
                .push(segment);
        }
        let full_tier = tiers
            .values()
            .find(|members| members.len() as u64 >= config.merge_factor);
        let cold = bucket.saturating_add(HOUR_NS).saturating_add(cold_after) <= now_ns;
        // A cold bucket merges all its small segments at once, full tier or
        // not: merging the tier first would rewrite its rows again in the
        // next pass.
        let candidates = match full_tier {
            _ if cold => small,
            Some(members) => members.clone(),
            None => continue,
        };
        let inputs = take_within(&candidates, config);
        if inputs.len() >= 2 {
            jobs.push(MergeJob {
                tenant: tenant.to_string(),
                hour_bucket_ns: bucket,
                inputs,
            });
        }
    }
    jobs
}

/// `floor(log_f(rows))`.
fn tier(rows: u64, factor: u64) -> u32 {
    let factor = factor.max(2);
    let mut tier = 0;
    let mut bound = factor;
    while rows >= bound {
        tier += 1;
        match bound.checked_mul(factor) {
            Some(next) => bound = next,
            None => break,
        }
    }
    tier
}

/// The smallest candidates (they are sorted ascending) that fit one merge.
fn take_within(
    candidates: &[&Arc<SegmentRecord>],
    config: &CompactionConfig,
) -> Vec<Arc<SegmentRecord>> {
    let mut rows = 0u64;
    let mut inputs = Vec::new();
    for segment in candidates {
        if inputs.len() >= config.max_merge_segments
            || rows + segment.rows > config.target_segment_rows
        {
            break;
        }
        rows += segment.rows;
        inputs.push(Arc::clone(segment));
    }
    inputs
}

/// Runs compaction passes over an [`Index`]'s catalog.
#[derive(Debug)]
pub struct Compactor {
    index: Arc<Index>,
    metastore: Arc<dyn Metastore>,
    store: SegmentStore,
    config: CompactionConfig,
    io: Arc<IoLimiter>,
}

impl Compactor {
    /// A compactor over `index`'s catalog, sharing `io` with retention.
    pub fn new(index: Arc<Index>, config: CompactionConfig, io: Arc<IoLimiter>) -> Compactor {
        Compactor {
            metastore: index.metastore(),
            store: index.store().clone(),
            index,
            config,
            io,
        }
    }

    /// Plans over the whole catalog and runs every planned merge, one at a
    /// time. A failed merge is logged and skipped (its output, if written,
    /// is deleted); the first error is returned after the others ran.
    pub async fn run_once(&self) -> Result<CompactionStats, IndexError> {
        let mut jobs = Vec::new();
        for tenant in self.index.tenants() {
            jobs.extend(plan(&self.index.catalog(&tenant), now_ns(), &self.config));
        }
        let mut stats = CompactionStats::default();
        let mut first_error = None;
        for job in jobs {
            if let Err(error) = self.merge(&job, &mut stats).await {
                tracing::error!(tenant = %job.tenant, bucket = job.hour_bucket_ns, %error, "compaction merge failed");
                first_error.get_or_insert(error);
            }
        }
        match first_error {
            Some(error) => Err(error),
            None => Ok(stats),
        }
    }

    /// Runs one merge: read, merge, write, swap. `Ok` without counting a
    /// merge when an input left the catalog first (a conflict).
    pub async fn merge(
        &self,
        job: &MergeJob,
        stats: &mut CompactionStats,
    ) -> Result<(), IndexError> {
        let started = Instant::now();
        self.io.take(job.bytes()).await;
        let store = self.store.clone();
        let owned = job.clone();
        let options = self.config.segment;
        let record = tokio::task::spawn_blocking(move || write_merged(&store, &owned, &options))
            .await
            .map_err(|e| IndexError::Task(e.to_string()))??;
        self.io.take(record.size_bytes).await;
        let removed: Vec<String> = job.inputs.iter().map(|s| s.id.clone()).collect();
        let now = now_ms();
        let grace = i64::try_from(self.config.grace.as_millis()).unwrap_or(i64::MAX);
        let swapped = self
            .metastore
            .replace_segments(
                &job.tenant,
                &removed,
                std::slice::from_ref(&record),
                now.saturating_add(grace),
                now,
            )
            .await;
        match swapped {
            Ok(()) => {}
            Err(MetastoreError::SegmentGone { segment, .. }) => {
                tracing::info!(tenant = %job.tenant, %segment, "compaction input left the catalog first; merge abandoned");
                self.discard(&record).await;
                stats.conflicts += 1;
                return Ok(());
            }
            Err(error) => match self.registered(&record).await {
                // The swap committed although its answer was an error (a
                // connection lost during COMMIT): the output is registered
                // and the inputs are queued for deletion, so deleting the
                // output would lose its rows once the grace period is over.
                Some(true) => {
                    tracing::warn!(tenant = %job.tenant, %error, "the compaction swap reported an error but committed");
                }
                Some(false) => {
                    self.discard(&record).await;
                    return Err(error.into());
                }
                // Unknown: keep the output (the orphan sweep at start removes
                // it if it is not registered).
                None => return Err(error.into()),
            },
        }
        self.index
            .swap_segments(&job.tenant, &removed, vec![record.clone()]);
        stats.merges += 1;
        stats.segments_in += job.inputs.len() as u64;
        stats.segments_out += 1;
        stats.rows += record.rows;
        stats.bytes_in += job.bytes();
        stats.bytes_out += record.size_bytes;
        stats.removed.extend(removed);
        tracing::info!(
            tenant = %job.tenant,
            bucket = job.hour_bucket_ns,
            inputs = job.inputs.len(),
            rows = record.rows,
            bytes_in = job.bytes(),
            bytes_out = record.size_bytes,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "segments merged"
        );
        Ok(())
    }

    /// Whether `record` is in the metastore's catalog; `None` when the
    /// metastore cannot tell.
    async fn registered(&self, record: &SegmentRecord) -> Option<bool> {
        let listed = self
            .metastore
            .list_segments(Some(&record.tenant), record.min_ts_ns, record.max_ts_ns)
            .await;
        match listed {
            Ok(segments) => Some(segments.iter().any(|s| s.id == record.id)),
            Err(error) => {
                tracing::warn!(path = %record.path, %error, "cannot tell whether a merge output is registered; leaving it");
                None
            }
        }
    }

    /// Best-effort removal of an output that was never registered (a crash
    /// before this leaves it to the orphan sweep at start).
    async fn discard(&self, record: &SegmentRecord) {
        if let Err(error) = self.store.delete(&record.path).await {
            tracing::warn!(path = %record.path, %error, "could not remove an unregistered merge output");
        }
    }
}

/// Reads every input, checks that it holds the rows the catalog says, and
/// writes them as one segment. Blocking.
fn write_merged(
    store: &SegmentStore,
    job: &MergeJob,
    options: &SegmentOptions,
) -> Result<SegmentRecord, IndexError> {
    let mut rows = Vec::with_capacity(usize::try_from(job.rows()).unwrap_or(0));
    for input in &job.inputs {
        let bytes = store.get_blocking(&input.path)?;
        let before = rows.len();
        rows.extend(read_segment(bytes)?);
        let read = (rows.len() - before) as u64;
        if read != input.rows {
            return Err(IndexError::Corrupt(format!(
                "segment {} holds {read} rows, the catalog says {}",
                input.path, input.rows
            )));
        }
    }
    let id = uuid::Uuid::now_v7().to_string();
    let path = SegmentStore::segment_path(&job.tenant, job.hour_bucket_ns, &id);
    let mut buffer = Vec::new();
    let meta = write_segment(rows, options, &mut buffer)?;
    let size = store.put_blocking(&path, Bytes::from(buffer))?;
    Ok(SegmentRecord {
        id,
        tenant: job.tenant.clone(),
        path,
        hour_bucket_ns: job.hour_bucket_ns,
        min_ts_ns: meta.min_timestamp_ns,
        max_ts_ns: meta.max_timestamp_ns,
        rows: meta.rows,
        size_bytes: size,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> CompactionConfig {
        CompactionConfig {
            merge_factor: 4,
            max_merge_segments: 8,
            target_segment_rows: 1000,
            cold_after: Duration::from_secs(600),
            grace: Duration::from_secs(60),
            segment: SegmentOptions::default(),
        }
    }

    fn seg(id: &str, bucket: i64, rows: u64) -> Arc<SegmentRecord> {
        Arc::new(SegmentRecord {
            id: id.into(),
            tenant: "t".into(),
            path: format!("t/{bucket}/{id}.parquet"),
            hour_bucket_ns: bucket,
            min_ts_ns: bucket,
            max_ts_ns: bucket + 1,
            rows,
            size_bytes: rows * 10,
        })
    }

    fn ids(job: &MergeJob) -> Vec<&str> {
        job.inputs.iter().map(|s| s.id.as_str()).collect()
    }

    #[test]
    fn tiers_are_powers_of_the_factor() {
        assert_eq!(tier(0, 4), 0);
        assert_eq!(tier(3, 4), 0);
        assert_eq!(tier(4, 4), 1);
        assert_eq!(tier(15, 4), 1);
        assert_eq!(tier(16, 4), 2);
        assert_eq!(tier(u64::MAX, 4), 31);
    }

    #[test]
    fn a_full_tier_of_a_hot_bucket_is_merged() {
        let now = 10 * HOUR_NS;
        let hot = 10 * HOUR_NS;
        let segments = vec![
            seg("a", hot, 20),
            seg("b", hot, 30),
            seg("c", hot, 40),
            seg("d", hot, 50),
            seg("big", hot, 200),
        ];
        let jobs = plan(&segments, now, &config());
        assert_eq!(jobs.len(), 1);
        assert_eq!(ids(&jobs[0]), vec!["a", "b", "c", "d"]);
        // Three of a tier: not yet.
        assert!(plan(&segments[1..], now, &config()).is_empty());
    }

    #[test]
    fn a_cold_bucket_merges_everything_small_within_the_target() {
        let bucket = 0;
        let now = HOUR_NS + 601_000_000_000;
        let segments = vec![
            seg("a", bucket, 5),
            seg("b", bucket, 300),
            seg("c", bucket, 600),
            seg("final", bucket, 1000),
        ];
        let jobs = plan(&segments, now, &config());
        assert_eq!(jobs.len(), 1);
        // a + b + c = 905 <= 1000; "final" is at the target and never merged.
        assert_eq!(ids(&jobs[0]), vec!["a", "b", "c"]);
        // Not cold yet: tiers differ, nothing to do.
        assert!(plan(&segments, HOUR_NS + 1, &config()).is_empty());
    }

    #[test]
    fn a_cold_bucket_with_a_full_tier_merges_across_tiers() {
        let now = 10 * HOUR_NS;
        // 3 is tier 0, 4..=7 a full tier 1: a hot bucket merges the tier only.
        let segments: Vec<_> = [3, 4, 5, 6, 7]
            .iter()
            .map(|&rows| seg(&format!("s{rows}"), 0, rows))
            .collect();
        let hot = plan(&segments, HOUR_NS, &config());
        assert_eq!(ids(&hot[0]), vec!["s4", "s5", "s6", "s7"]);
        let cold = plan(&segments, now, &config());
        assert_eq!(ids(&cold[0]), vec!["s3", "s4", "s5", "s6", "s7"]);
    }

    #[test]
    fn buckets_and_limits_are_respected() {
        let now = 100 * HOUR_NS;
        let mut segments = Vec::new();
        for i in 0..20 {
            segments.push(seg(&format!("x{i:02}"), 0, 10));
        }
        segments.push(seg("other", HOUR_NS, 10));
        let jobs = plan(&segments, now, &config());
        assert_eq!(jobs.len(), 1, "a lone segment in its bucket is left alone");
        assert_eq!(jobs[0].inputs.len(), 8, "max_merge_segments");
        assert!(jobs[0].inputs.iter().all(|s| s.hour_bucket_ns == 0));
        let mut tight = config();
        tight.target_segment_rows = 35;
        let jobs = plan(&segments, now, &tight);
        assert_eq!(jobs[0].rows(), 30, "target_segment_rows bounds a merge");
    }
}
