//! Retention, deferred deletion, the orphan sweep, and the I/O bound they
//! share with compaction.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use strata_metastore::{Metastore, Stream};
use strata_storage::SegmentStore;
use strata_types::TenantId;

use crate::{Index, IndexError};

pub(crate) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

pub(crate) fn now_ns() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// A token bucket of storage bytes per second shared by the background
/// work (compaction reads and writes, retention), so that it never takes
/// the disk or the network away from ingest and queries. A request larger
/// than the bucket goes into debt and later requests wait it out.
#[derive(Debug)]
pub struct IoLimiter {
    bytes_per_sec: f64,
    state: Mutex<(f64, Instant)>,
}

impl IoLimiter {
    /// A limiter of `bytes_per_sec` (at least 1), with one second of burst.
    pub fn new(bytes_per_sec: u64) -> IoLimiter {
        let rate = bytes_per_sec.max(1) as f64;
        IoLimiter {
            bytes_per_sec: rate,
            state: Mutex::new((rate, Instant::now())),
        }
    }

    /// Waits until `bytes` may be used.
    pub async fn take(&self, bytes: u64) {
        let wait = {
            let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
            let (tokens, last) = &mut *state;
            let now = Instant::now();
            *tokens = (*tokens + now.duration_since(*last).as_secs_f64() * self.bytes_per_sec)
                .min(self.bytes_per_sec);
            *last = now;
            *tokens -= bytes as f64;
            if *tokens < 0.0 {
                Duration::from_secs_f64(-*tokens / self.bytes_per_sec)
            } else {
                Duration::ZERO
            }
        };
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
    }
}

/// What a retention pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RetentionStats {
    /// Segments dropped from the catalog.
    pub segments: u64,
    /// Their rows.
    pub rows: u64,
    /// Their bytes.
    pub bytes: u64,
    /// Ids of the segments that left the catalog.
    pub removed: Vec<String>,
}

/// Drops every segment whose newest event is older than its tenant's
/// retention (`retention_days`, else `default_days`): first from the
/// metastore (their objects queued for deletion after `grace`), then from
/// the in-memory catalog. Storage follows when the deletions are due
/// ([`delete_due`]). A tenant whose swap fails is skipped (and retried by
/// the next pass); the first error is returned after the other tenants ran.
pub async fn expire(
    index: &Index,
    retention_days: &HashMap<TenantId, u32>,
    default_days: u64,
    grace: Duration,
) -> Result<RetentionStats, IndexError> {
    let metastore = index.metastore();
    let mut stats = RetentionStats::default();
    let mut first_error = None;
    let now_ns = now_ns();
    for tenant in index.tenants() {
        let days = retention_days
            .get(&tenant)
            .map(|d| u64::from(*d))
            .unwrap_or(default_days);
        let keep_ns = i64::try_from(days.saturating_mul(86_400_000_000_000)).unwrap_or(i64::MAX);
        let cutoff = now_ns.saturating_sub(keep_ns);
        let expired: Vec<Arc<strata_metastore::SegmentRecord>> = index
            .catalog(&tenant)
            .into_iter()
            .filter(|s| s.max_ts_ns < cutoff)
            .collect();
        if expired.is_empty() {
            continue;
        }
        let ids: Vec<String> = expired.iter().map(|s| s.id.clone()).collect();
        let now = now_ms();
        let delete_after = now.saturating_add(i64::try_from(grace.as_millis()).unwrap_or(i64::MAX));
        if let Err(error) = metastore
            .replace_segments(&tenant, &ids, &[], delete_after, now)
            .await
        {
            tracing::error!(tenant = %tenant, %error, "retention pass failed for a tenant; will retry");
            first_error.get_or_insert(IndexError::from(error));
            continue;
        }
        index.swap_segments(&tenant, &ids, Vec::new());
        stats.segments += expired.len() as u64;
        stats.rows += expired.iter().map(|s| s.rows).sum::<u64>();
        stats.bytes += expired.iter().map(|s| s.size_bytes).sum::<u64>();
        tracing::info!(
            tenant = %tenant,
            days,
            segments = expired.len(),
            "expired segments left the catalog"
        );
        stats.removed.extend(ids);
    }
    match first_error {
        Some(error) => Err(error),
        None => Ok(stats),
    }
}

/// Deletes the queued objects whose grace period is over, then forgets
/// them. Returns how many were deleted.
pub async fn delete_due(
    metastore: &dyn Metastore,
    store: &SegmentStore,
) -> Result<usize, IndexError> {
    let mut deleted = 0;
    loop {
        let due = metastore.pending_deletions(Some(now_ms()), 512).await?;
        if due.is_empty() {
            return Ok(deleted);
        }
        let mut gone = Vec::with_capacity(due.len());
        for item in &due {
            match store.delete(&item.path).await {
                Ok(()) => gone.push(item.path.clone()),
                Err(error) => {
                    tracing::warn!(path = %item.path, %error, "deleting a replaced segment failed; will retry");
                }
            }
        }
        metastore.forget_deletions(&gone).await?;
        deleted += gone.len();
        if gone.len() < due.len() {
            return Ok(deleted);
        }
    }
}

/// Deletes every stored object that is neither a registered segment nor a
/// queued deletion: outputs of flushes and merges that crashed before their
/// registration, and temporary files. Call at start, before anything
/// writes. Returns how many were deleted.
pub async fn remove_orphans(
    metastore: &dyn Metastore,
    store: &SegmentStore,
) -> Result<usize, IndexError> {
    // Every stream's segments: the logs and metrics stores share the object store.
    let mut known: HashSet<String> = HashSet::new();
    for stream in Stream::ALL {
        known.extend(
            metastore
                .list_stream_segments(stream, None, i64::MIN, i64::MAX)
                .await?
                .into_iter()
                .map(|s| s.path),
        );
    }
    known.extend(
        metastore
            .pending_deletions(None, usize::MAX >> 1)
            .await?
            .into_iter()
            .map(|d| d.path),
    );
    let mut removed = 0;
    for object in store.list(None).await? {
        if known.contains(&object.path) {
            continue;
        }
        tracing::warn!(path = %object.path, "removing an unregistered segment object left by a crash");
        store.delete(&object.path).await?;
        removed += 1;
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn the_limiter_spreads_bytes_over_time() {
        let limiter = IoLimiter::new(1000);
        let started = tokio::time::Instant::now();
        limiter.take(1000).await; // the burst
        assert!(started.elapsed() < Duration::from_millis(5));
        limiter.take(2000).await; // two seconds of debt
        let waited = started.elapsed();
        assert!(waited >= Duration::from_millis(1900), "{waited:?}");
    }
}
