//! The storage lifecycle in the background: compaction passes, retention
//! passes and the deletion of replaced objects once their grace period is
//! over, all under one I/O bound (`compaction.max_bytes_per_sec`).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use strata_config::Config;
use strata_index::{lifecycle, CompactionConfig, Compactor, IoLimiter};
use strata_metastore::Metastore;
use strata_segment::SegmentOptions;

use crate::state::AppState;

/// The compaction policy `config` describes.
pub(crate) fn compaction_config(config: &Config) -> CompactionConfig {
    let section = &config.compaction;
    CompactionConfig {
        merge_factor: section.merge_factor,
        max_merge_segments: usize::try_from(section.max_merge_segments).unwrap_or(usize::MAX),
        target_segment_rows: section.target_segment_rows,
        cold_after: Duration::from_secs_f64(section.cold_after_secs),
        grace: Duration::from_secs_f64(section.grace_secs),
        segment: SegmentOptions {
            max_attribute_columns: config.segment.max_attribute_columns as usize,
            row_group_rows: section.row_group_rows as usize,
            zstd_level: section.zstd_level,
        },
    }
}

/// Runs until `stop` changes.
pub(crate) async fn lifecycle_loop(
    state: Arc<AppState>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let Some(core) = state.core.get() else { return };
    let config = &state.config;
    let io = Arc::new(IoLimiter::new(config.compaction.max_bytes_per_sec));
    let compaction = compaction_config(config);
    let compactor = Compactor::new(Arc::clone(&core.index), compaction.clone(), Arc::clone(&io));
    let compaction_every = Duration::from_secs_f64(config.compaction.interval_secs);
    let retention_every = Duration::from_secs_f64(config.retention.interval_secs);
    let grace = Duration::from_secs_f64(config.compaction.grace_secs);
    let tick = compaction_every
        .min(retention_every)
        .min(Duration::from_secs(5));
    let mut next_compaction = Instant::now() + compaction_every;
    let mut next_retention = Instant::now();
    loop {
        tokio::select! {
            _ = stop.changed() => return,
            _ = tokio::time::sleep(tick) => {}
        }
        let mut changed = false;
        if config.compaction.enabled && Instant::now() >= next_compaction {
            let started = Instant::now();
            let result = tokio::select! {
                _ = stop.changed() => return,
                result = compactor.run_once() => result,
            };
            match result {
                Ok(stats) => {
                    state.metrics.storage.record_compaction(&stats);
                    changed |= !stats.removed.is_empty();
                }
                Err(_) => state.metrics.storage.merge_failures.inc(),
            }
            // Metric segments: the same policy, the same I/O bound.
            let result = tokio::select! {
                _ = stop.changed() => return,
                result = core.tsdb.compact_once(&compaction, config.compaction.zstd_level, &io) => result,
            };
            match result {
                Ok(stats) => state.metrics.storage.record_compaction(&stats),
                Err(error) => {
                    tracing::error!(%error, "metrics compaction failed; will retry");
                    state.metrics.storage.merge_failures.inc();
                }
            }
            state
                .metrics
                .storage
                .merge_seconds
                .observe(started.elapsed().as_secs_f64());
            next_compaction = Instant::now() + compaction_every;
        }
        if Instant::now() >= next_retention {
            match retention_days(state.metastore.as_ref()).await {
                Ok(days) => {
                    match lifecycle::expire(
                        &core.index,
                        &days,
                        config.retention.default_days,
                        grace,
                    )
                    .await
                    {
                        Ok(stats) => {
                            state.metrics.storage.record_retention(&stats);
                            changed |= !stats.removed.is_empty();
                        }
                        Err(error) => tracing::error!(%error, "retention pass failed"),
                    }
                    let metric_retention = core
                        .tsdb
                        .expire(&days, config.retention.default_days, grace)
                        .await;
                    match metric_retention {
                        Ok(dropped) => state.metrics.storage.expired_segments.inc_by(dropped),
                        Err(error) => tracing::error!(%error, "metrics retention pass failed"),
                    }
                }
                Err(error) => tracing::warn!(%error, "retention: tenants unreadable"),
            }
            next_retention = Instant::now() + retention_every;
        }
        match lifecycle::delete_due(state.metastore.as_ref(), core.index.store()).await {
            Ok(deleted) => state.metrics.storage.deleted_objects.inc_by(deleted as u64),
            Err(error) => tracing::warn!(%error, "deleting replaced segments failed; will retry"),
        }
        if changed {
            core.engine.retain_segments(&core.index.catalog_ids());
        }
    }
}

async fn retention_days(
    metastore: &dyn Metastore,
) -> Result<HashMap<String, u32>, strata_metastore::MetastoreError> {
    Ok(metastore
        .list_tenants()
        .await?
        .into_iter()
        .filter_map(|t| Some((t.id, t.retention_days?)))
        .collect())
}
