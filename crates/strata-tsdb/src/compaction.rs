//! Compaction of metric segments: the same size-tiered plan as log segments
//! (`strata_index::compaction::plan`, per tenant and hour bucket), inputs
//! read whole, re-sorted by (metric, series, time) and written at the
//! compaction zstd level, then swapped in one metastore transaction
//! (`replace_stream_segments` on the metrics stream) and in the catalog.

use std::sync::Arc;
use std::time::Duration;

use rustc_hash::FxHashMap;
use strata_index::compaction::{plan, CompactionConfig, CompactionStats, MergeJob};
use strata_index::lifecycle::IoLimiter;
use strata_metastore::{MetastoreError, SegmentRecord};
use strata_metrics::Sketch;

use crate::scan::Columns;
use crate::segment::{self, Row, SeriesInfo};
use crate::store::{encode_one, now_ms, Tsdb};
use crate::TsdbError;

/// Rows per row group of merged segments.
const MERGED_ROW_GROUP_ROWS: usize = 131_072;

/// One owned row of a merge input.
type OwnedRow = (Arc<SeriesInfo>, i64, f64, Option<Sketch>);

impl Tsdb {
    /// Plans and runs the due merges of every tenant, one at a time, reads
    /// and writes paced by `io`. A merge whose input left the catalog first
    /// is abandoned and counted as a conflict.
    pub async fn compact_once(
        self: &Arc<Self>,
        config: &CompactionConfig,
        zstd_level: i32,
        io: &IoLimiter,
    ) -> Result<CompactionStats, TsdbError> {
        let now_ns = now_ms().saturating_mul(1_000_000);
        let mut stats = CompactionStats::default();
        for tenant in self.tenants() {
            let catalog = self.catalog(&tenant);
            for job in plan(&catalog, now_ns, config) {
                io.take(job.bytes()).await;
                match self.merge(&job, zstd_level, config.grace).await {
                    Ok(output) => {
                        io.take(output.size_bytes).await;
                        stats.merges += 1;
                        stats.segments_in += job.inputs.len() as u64;
                        stats.segments_out += 1;
                        stats.rows += output.rows;
                        stats.bytes_in += job.bytes();
                        stats.bytes_out += output.size_bytes;
                        stats
                            .removed
                            .extend(job.inputs.iter().map(|s| s.id.clone()));
                    }
                    Err(TsdbError::Conflict(id)) => {
                        tracing::info!(tenant = %tenant, segment = %id, "metrics merge abandoned: an input left the catalog");
                        stats.conflicts += 1;
                    }
                    Err(error) => return Err(error),
                }
            }
        }
        Ok(stats)
    }

    /// Merges one job's inputs into one segment and swaps it in.
    pub async fn merge(
        self: &Arc<Self>,
        job: &MergeJob,
        zstd_level: i32,
        grace: Duration,
    ) -> Result<SegmentRecord, TsdbError> {
        let this = Arc::clone(self);
        let inputs = job.inputs.clone();
        let tenant = job.tenant.clone();
        let bucket = job.hour_bucket_ns;
        let (record, data) = tokio::task::spawn_blocking(move || {
            let rows = this.read_inputs(&inputs)?;
            let mut refs: Vec<Row<'_>> = rows
                .iter()
                .map(|(series, ts, value, sketch)| Row {
                    series,
                    ts_s: *ts,
                    value: *value,
                    sketch: sketch.as_ref(),
                })
                .collect();
            segment::sort_rows(&mut refs);
            encode_one(&tenant, bucket, &refs, zstd_level, MERGED_ROW_GROUP_ROWS)
        })
        .await
        .map_err(|e| TsdbError::Task(e.to_string()))??;
        self.store().put(&record.path, data).await?;
        let ids: Vec<String> = job.inputs.iter().map(|s| s.id.clone()).collect();
        match self
            .commit_merge(&job.tenant, &ids, record.clone(), grace)
            .await
        {
            Ok(()) => Ok(record),
            Err(MetastoreError::SegmentGone { segment, .. }) => {
                let _ = self.store().delete(&record.path).await;
                Err(TsdbError::Conflict(segment))
            }
            Err(error) => {
                // Keep the output if the swap committed after all: deleting
                // it would lose rows. The orphan sweep removes it otherwise.
                let committed = self
                    .metastore()
                    .list_stream_segments(
                        strata_metastore::Stream::Metrics,
                        Some(&job.tenant),
                        i64::MIN,
                        i64::MAX,
                    )
                    .await
                    .map(|l| l.iter().any(|s| s.id == record.id))
                    .unwrap_or(true);
                if committed {
                    self.swap_segments(&job.tenant, &ids, vec![record.clone()]);
                    return Ok(record);
                }
                Err(error.into())
            }
        }
    }

    /// Every row of the inputs, checked against the catalog's row counts.
    fn read_inputs(&self, inputs: &[Arc<SegmentRecord>]) -> Result<Vec<OwnedRow>, TsdbError> {
        let mut series: FxHashMap<u64, Arc<SeriesInfo>> = FxHashMap::default();
        let mut rows = Vec::with_capacity(inputs.iter().map(|s| s.rows as usize).sum());
        for input in inputs {
            let footer = self.footer(input)?;
            let before = rows.len();
            let batches = self.store().read_batches_blocking(
                &input.path,
                input.size_bytes,
                &footer,
                None,
                None,
                65_536,
            )?;
            for batch in batches {
                let batch = batch?;
                let columns = Columns::new(&batch)?;
                for row in 0..batch.num_rows() {
                    // Rollup rows are recomputed from the raw rows by the writer.
                    if columns.res.value(row) != 0 {
                        continue;
                    }
                    let id = columns.series_id.value(row);
                    let info = match series.get(&id) {
                        Some(info) => Arc::clone(info),
                        None => {
                            let info = Arc::new(columns.series(row)?);
                            series.insert(id, Arc::clone(&info));
                            info
                        }
                    };
                    rows.push((
                        info,
                        columns.ts.value(row),
                        columns.value.value(row),
                        columns.sketch(row)?,
                    ));
                }
            }
            if (rows.len() - before) as u64 != input.rows {
                return Err(TsdbError::Corrupt(
                    "segment row count differs from the catalog",
                ));
            }
        }
        Ok(rows)
    }
}
