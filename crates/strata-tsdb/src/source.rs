//! The query engine's view of the store: [`TsdbSource`] implements
//! `strata_metrics_query::SeriesSource` for one tenant by scanning with a
//! visitor that folds each point into its series' time bucket, so a query
//! over millions of points holds only `series × buckets` aggregates.

use std::sync::Arc;

use rustc_hash::FxHashMap;
use strata_metrics::{SeriesKey, Sketch};
use strata_metrics_query::{Bucket, FetchRequest, FetchedSeries, SeriesSource};

use crate::scan::Summary;
use crate::scan::{ScanRequest, Visitor};
use crate::segment::{self, SeriesInfo};
use crate::store::Tsdb;
use crate::TsdbError;

/// One tenant's metrics, as a query source.
#[derive(Debug, Clone)]
pub struct TsdbSource {
    tsdb: Arc<Tsdb>,
    tenant: String,
    rollups: bool,
}

impl TsdbSource {
    /// The source of `tenant`.
    pub fn new(tsdb: Arc<Tsdb>, tenant: impl Into<String>) -> TsdbSource {
        TsdbSource {
            tsdb,
            tenant: tenant.into(),
            rollups: true,
        }
    }

    /// The same source reading raw points only (benchmarks compare the two).
    pub fn without_rollups(mut self) -> TsdbSource {
        self.rollups = false;
        self
    }
}

impl SeriesSource for TsdbSource {
    type Error = TsdbError;

    fn fetch(&self, request: &FetchRequest<'_>) -> Result<Vec<FetchedSeries>, TsdbError> {
        let mut folder = Folder {
            request,
            series: FxHashMap::default(),
            last: None,
            out: Vec::new(),
        };
        let interval = request.interval_s.max(1);
        let end = request
            .start_s
            .saturating_add(interval.saturating_mul(request.buckets as i64))
            .saturating_sub(1);
        // Exactly the points `bucket_index` accepts; the visitor re-checks.
        let to_s = end.min(request.to_s);
        // Buckets made of whole rollup buckets read the segments' rollup
        // rows, up to the last rollup bucket that `to_s` does not cut.
        let width = segment::ROLLUP_SECONDS;
        let rollup_until_s =
            (self.rollups && interval % width == 0 && request.start_s.rem_euclid(width) == 0)
                .then(|| (to_s.saturating_add(1)).div_euclid(width) * width);
        let scan = ScanRequest {
            metric: request.metric,
            from_s: request.start_s,
            to_s,
            sketches: request.sketches,
            rollup_until_s,
        };
        self.tsdb.scan(&self.tenant, &scan, &mut folder)?;
        Ok(folder.out)
    }
}

/// Folds points into per-series buckets.
struct Folder<'r, 'a> {
    request: &'r FetchRequest<'a>,
    /// Series id → index in `out`.
    series: FxHashMap<u64, usize>,
    /// The last series seen and its index.
    last: Option<(u64, usize)>,
    out: Vec<FetchedSeries>,
}

impl Visitor for Folder<'_, '_> {
    fn wants(&mut self, key: &SeriesKey) -> bool {
        self.request.scope.matches(key)
    }

    fn point(&mut self, series: &Arc<SeriesInfo>, ts_s: i64, value: f64, sketch: Option<&Sketch>) {
        let summary = match sketch {
            Some(s) => Bucket::of_sketch(s),
            None => Some(Bucket::of(value)),
        };
        self.add(series, ts_s, summary, sketch);
    }

    fn summary(
        &mut self,
        series: &Arc<SeriesInfo>,
        ts_s: i64,
        s: Summary,
        sketch: Option<&Sketch>,
    ) {
        let summary = (s.count > 0).then_some(Bucket {
            sum: s.sum,
            count: s.count,
            min: s.min,
            max: s.max,
        });
        self.add(series, ts_s, summary, sketch);
    }
}

impl Folder<'_, '_> {
    fn add(
        &mut self,
        series: &Arc<SeriesInfo>,
        ts_s: i64,
        summary: Option<Bucket>,
        sketch: Option<&Sketch>,
    ) {
        let Some(bucket) = self.request.bucket_index(ts_s) else {
            return;
        };
        let buckets = self.request.buckets;
        let want_sketches = self.request.sketches;
        // Points of one series arrive in runs: skip the map for repeats.
        let index = match self.last {
            Some((id, index)) if id == series.id => index,
            _ => *self.series.entry(series.id).or_insert_with(|| {
                self.out.push(FetchedSeries {
                    key: series.key.clone(),
                    kind: series.kind,
                    interval_s: series.interval_s,
                    buckets: vec![None; buckets],
                    sketches: if want_sketches {
                        vec![None; buckets]
                    } else {
                        Vec::new()
                    },
                });
                self.out.len() - 1
            }),
        };
        self.last = Some((series.id, index));
        let out = &mut self.out[index];
        if let Some(summary) = summary {
            match &mut out.buckets[bucket] {
                Some(b) => b.merge(&summary),
                slot @ None => *slot = Some(summary),
            }
        }
        if let (Some(sketch), true) = (sketch, want_sketches) {
            match &mut out.sketches[bucket] {
                Some(merged) => merged.merge(sketch),
                slot @ None => *slot = Some(sketch.clone()),
            }
        }
    }
}
