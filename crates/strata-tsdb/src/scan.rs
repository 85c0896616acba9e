//! Reading points back: memtable chunks and segments of one tenant, for one
//! metric and time range, handed to a visitor one point at a time. The
//! query adapter ([`crate::source`]) folds them into time buckets as they
//! stream by, so no query materialises raw points.

use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int32Type, Int64Type, UInt32Type, UInt64Type, UInt8Type};
use arrow_array::{Array, RecordBatch};
use parquet::arrow::arrow_reader::{RowSelection, RowSelector};
use parquet::arrow::ProjectionMask;
use parquet::file::statistics::Statistics;
use rustc_hash::FxHashMap;
use strata_metastore::SegmentRecord;
use strata_metrics::{MetricType, SeriesKey, Sketch};

use crate::segment::{col, footer_names, SeriesInfo};
use crate::store::{Snapshot, Tsdb};
use crate::TsdbError;

/// Rows per decoded batch.
const BATCH_ROWS: usize = 65_536;

/// What to read.
#[derive(Debug, Clone, Copy)]
pub struct ScanRequest<'a> {
    /// The metric name.
    pub metric: &'a str,
    /// First second (inclusive).
    pub from_s: i64,
    /// Last second (inclusive).
    pub to_s: i64,
    /// Whether the visitor merges sketch bins (distribution percentiles).
    /// Sketches are handed over either way: a distribution's count, min
    /// and max are in them.
    pub sketches: bool,
    /// When set, segments answer `[from_s, rollup_until_s)` from their
    /// rollup rows ([`crate::segment::ROLLUP_SECONDS`] buckets, through
    /// [`Visitor::summary`]) and only `[rollup_until_s, to_s]` from raw
    /// rows. Both bounds must be multiples of the rollup width, and the
    /// visitor must fold points into buckets that are whole multiples of it.
    pub rollup_until_s: Option<i64>,
}

/// Receives matching points.
pub trait Visitor {
    /// Whether a series is wanted (called once per series per scan).
    fn wants(&mut self, key: &SeriesKey) -> bool;
    /// One point of a wanted series.
    fn point(&mut self, series: &Arc<SeriesInfo>, ts_s: i64, value: f64, sketch: Option<&Sketch>);
    /// The summary of a wanted series' values in one rollup bucket starting
    /// at `ts_s` (only with [`ScanRequest::rollup_until_s`]).
    /// Visitors that never set [`ScanRequest::rollup_until_s`] never see
    /// one (the default hands the sum over as a point).
    fn summary(
        &mut self,
        series: &Arc<SeriesInfo>,
        ts_s: i64,
        summary: Summary,
        sketch: Option<&Sketch>,
    ) {
        self.point(series, ts_s, summary.sum, sketch);
    }
}

/// Values summarised by a rollup row.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Summary {
    /// Sum.
    pub sum: f64,
    /// Number of values.
    pub count: u64,
    /// Smallest.
    pub min: f64,
    /// Largest.
    pub max: f64,
}

/// Which rows of a segment one pass reads.
#[derive(Debug, Clone, Copy)]
struct Pass {
    /// 0: raw rows; else rollup rows of this width.
    res: u32,
    from_s: i64,
    to_s: i64,
}

/// Per-scan memo of series decisions: id → the series when wanted.
type Decisions = FxHashMap<u64, Option<Arc<SeriesInfo>>>;

impl Tsdb {
    /// Streams every point of `request` in `tenant` to `visitor`: memtable
    /// chunks first, then segments (no order between points is promised).
    /// Returns the number of points visited.
    pub fn scan(
        &self,
        tenant: &str,
        request: &ScanRequest<'_>,
        visitor: &mut dyn Visitor,
    ) -> Result<u64, TsdbError> {
        let snapshot = self.snapshot(tenant, request.from_s, request.to_s);
        self.scan_snapshot(&snapshot, request, visitor)
    }

    /// [`Tsdb::scan`] over a snapshot taken earlier.
    pub fn scan_snapshot(
        &self,
        snapshot: &Snapshot,
        request: &ScanRequest<'_>,
        visitor: &mut dyn Visitor,
    ) -> Result<u64, TsdbError> {
        let mut decisions = Decisions::default();
        let mut visited = 0u64;
        for chunk in &snapshot.chunks {
            let wanted: Vec<bool> = chunk
                .series
                .iter()
                .map(|s| decide(&mut decisions, s, request.metric, visitor).is_some())
                .collect();
            let in_range = |ts: i64| ts >= request.from_s && ts <= request.to_s;
            for (i, ts, v) in &chunk.points {
                if wanted[*i as usize] && in_range(*ts) {
                    visitor.point(&chunk.series[*i as usize], *ts, *v, None);
                    visited += 1;
                }
            }
            for (i, ts, sketch) in &chunk.sketches {
                if wanted[*i as usize] && in_range(*ts) {
                    visitor.point(&chunk.series[*i as usize], *ts, sketch.sum, Some(sketch));
                    visited += 1;
                }
            }
        }
        let passes = match request.rollup_until_s {
            Some(cut) if cut > request.from_s => vec![
                Pass {
                    res: crate::segment::ROLLUP_SECONDS as u32,
                    from_s: request.from_s,
                    to_s: cut.min(request.to_s.saturating_add(1)) - 1,
                },
                Pass {
                    res: 0,
                    from_s: cut,
                    to_s: request.to_s,
                },
            ],
            _ => vec![Pass {
                res: 0,
                from_s: request.from_s,
                to_s: request.to_s,
            }],
        };
        for segment in &snapshot.segments {
            for pass in passes.iter().filter(|p| p.from_s <= p.to_s) {
                visited += self.scan_segment(segment, request, *pass, &mut decisions, visitor)?;
            }
        }
        Ok(visited)
    }

    fn scan_segment(
        &self,
        segment: &SegmentRecord,
        request: &ScanRequest<'_>,
        pass: Pass,
        decisions: &mut Decisions,
        visitor: &mut dyn Visitor,
    ) -> Result<u64, TsdbError> {
        let footer = self.footer(segment)?;
        let metadata = footer.metadata();
        if let Some(names) = footer_names(metadata) {
            if !names.iter().any(|n| n == request.metric) {
                return Ok(0);
            }
        }
        let Some(selection) = select_row_groups(metadata, request.metric, pass) else {
            return Ok(0);
        };
        // The sketch column is always read: a distribution's count, min and
        // max live in it (only its rows are non-null).
        let leaves: Vec<usize> = (0..=col::MAX).collect();
        let projection = ProjectionMask::leaves(metadata.file_metadata().schema_descr(), leaves);
        let batches = self.store().read_batches_blocking(
            &segment.path,
            segment.size_bytes,
            &footer,
            Some(projection),
            Some(selection),
            BATCH_ROWS,
        )?;
        let mut visited = 0;
        for batch in batches {
            visited += visit_batch(&batch?, request.metric, pass, decisions, visitor)?;
        }
        Ok(visited)
    }
}

fn decide(
    decisions: &mut Decisions,
    series: &Arc<SeriesInfo>,
    metric: &str,
    visitor: &mut dyn Visitor,
) -> Option<Arc<SeriesInfo>> {
    decisions
        .entry(series.id)
        .or_insert_with(|| {
            (series.key.metric == metric && visitor.wants(&series.key)).then(|| Arc::clone(series))
        })
        .clone()
}

/// The rows of the row groups that may hold the metric in the range, or
/// `None` when no row group can.
fn select_row_groups(
    metadata: &parquet::file::metadata::ParquetMetaData,
    metric: &str,
    pass: Pass,
) -> Option<RowSelection> {
    let mut selectors = Vec::new();
    let mut any = false;
    for rg in metadata.row_groups() {
        let rows = rg.num_rows() as usize;
        let keep = metric_may_match(rg.column(col::METRIC).statistics(), metric)
            && ts_may_match(rg.column(col::TS).statistics(), pass)
            && res_may_match(rg.column(col::RES).statistics(), pass.res);
        any |= keep;
        selectors.push(if keep {
            RowSelector::select(rows)
        } else {
            RowSelector::skip(rows)
        });
    }
    any.then(|| RowSelection::from(selectors))
}

fn metric_may_match(stats: Option<&Statistics>, metric: &str) -> bool {
    match stats {
        Some(Statistics::ByteArray(s)) => match (s.min_opt(), s.max_opt()) {
            (Some(min), Some(max)) => {
                min.data() <= metric.as_bytes() && metric.as_bytes() <= max.data()
            }
            _ => true,
        },
        _ => true,
    }
}

fn res_may_match(stats: Option<&Statistics>, res: u32) -> bool {
    match stats {
        Some(Statistics::Int32(s)) => match (s.min_opt(), s.max_opt()) {
            (Some(min), Some(max)) => *min as u32 <= res && res <= *max as u32,
            _ => true,
        },
        _ => true,
    }
}

fn ts_may_match(stats: Option<&Statistics>, pass: Pass) -> bool {
    match stats {
        Some(Statistics::Int64(s)) => match (s.min_opt(), s.max_opt()) {
            (Some(min), Some(max)) => *min <= pass.to_s && *max >= pass.from_s,
            _ => true,
        },
        _ => true,
    }
}

/// A decoded batch's columns, dictionary columns resolved per row.
pub(crate) struct Columns<'a> {
    metric: DictColumn<'a>,
    host: DictColumn<'a>,
    tags: DictColumn<'a>,
    unit: DictColumn<'a>,
    pub(crate) series_id: &'a arrow_array::PrimitiveArray<UInt64Type>,
    kind: &'a arrow_array::PrimitiveArray<UInt8Type>,
    interval: &'a arrow_array::PrimitiveArray<UInt32Type>,
    pub(crate) ts: &'a arrow_array::PrimitiveArray<Int64Type>,
    pub(crate) value: &'a arrow_array::PrimitiveArray<Float64Type>,
    pub(crate) sketch: Option<&'a arrow_array::BinaryArray>,
    pub(crate) res: &'a arrow_array::PrimitiveArray<UInt32Type>,
    count: &'a arrow_array::PrimitiveArray<UInt64Type>,
    min: &'a arrow_array::PrimitiveArray<Float64Type>,
    max: &'a arrow_array::PrimitiveArray<Float64Type>,
}

struct DictColumn<'a> {
    keys: &'a arrow_array::PrimitiveArray<Int32Type>,
    values: &'a arrow_array::StringArray,
}

impl DictColumn<'_> {
    fn get(&self, row: usize) -> &str {
        let key = self.keys.value(row);
        usize::try_from(key)
            .ok()
            .filter(|k| *k < self.values.len())
            .map(|k| self.values.value(k))
            .unwrap_or("")
    }
}

fn dict(batch: &RecordBatch, index: usize) -> Result<DictColumn<'_>, TsdbError> {
    let column = batch.column(index);
    let array = column
        .as_dictionary_opt::<Int32Type>()
        .ok_or(TsdbError::Corrupt("dictionary column expected"))?;
    let values = array
        .values()
        .as_string_opt::<i32>()
        .ok_or(TsdbError::Corrupt("string dictionary expected"))?;
    Ok(DictColumn {
        keys: array.keys(),
        values,
    })
}

impl<'a> Columns<'a> {
    pub(crate) fn new(batch: &'a RecordBatch) -> Result<Columns<'a>, TsdbError> {
        let prim = |i: usize| batch.column(i);
        let bad = || TsdbError::Corrupt("unexpected column type");
        Ok(Columns {
            metric: dict(batch, col::METRIC)?,
            host: dict(batch, col::HOST)?,
            tags: dict(batch, col::TAGS)?,
            unit: dict(batch, col::UNIT)?,
            series_id: prim(col::SERIES_ID).as_primitive_opt().ok_or_else(bad)?,
            kind: prim(col::KIND).as_primitive_opt().ok_or_else(bad)?,
            interval: prim(col::INTERVAL).as_primitive_opt().ok_or_else(bad)?,
            ts: prim(col::TS).as_primitive_opt().ok_or_else(bad)?,
            value: prim(col::VALUE).as_primitive_opt().ok_or_else(bad)?,
            sketch: batch
                .columns()
                .get(col::SKETCH)
                .map(|c| c.as_binary_opt::<i32>().ok_or_else(bad))
                .transpose()?,
            res: prim(col::RES).as_primitive_opt().ok_or_else(bad)?,
            count: prim(col::COUNT).as_primitive_opt().ok_or_else(bad)?,
            min: prim(col::MIN).as_primitive_opt().ok_or_else(bad)?,
            max: prim(col::MAX).as_primitive_opt().ok_or_else(bad)?,
        })
    }

    /// The summary of a rollup row.
    fn summary(&self, row: usize) -> Summary {
        Summary {
            sum: self.value.value(row),
            count: self.count.value(row),
            min: self.min.value(row),
            max: self.max.value(row),
        }
    }

    pub(crate) fn metric(&self, row: usize) -> &str {
        self.metric.get(row)
    }

    /// The series of a row.
    pub(crate) fn series(&self, row: usize) -> Result<SeriesInfo, TsdbError> {
        let tags_json = self.tags.get(row);
        let tags: Vec<String> = serde_json::from_str(tags_json)
            .map_err(|_| TsdbError::Corrupt("tags column is not a JSON array"))?;
        let key = SeriesKey {
            metric: self.metric.get(row).to_string(),
            host: self.host.get(row).to_string(),
            tags,
        };
        let kind = MetricType::from_code(self.kind.value(row))
            .ok_or(TsdbError::Corrupt("unknown metric type"))?;
        Ok(SeriesInfo {
            id: self.series_id.value(row),
            key,
            kind,
            interval_s: self.interval.value(row),
            unit: self.unit.get(row).to_string(),
            tags_json: tags_json.to_string(),
        })
    }

    /// The sketch of a row, if it has one.
    pub(crate) fn sketch(&self, row: usize) -> Result<Option<Sketch>, TsdbError> {
        match self.sketch {
            Some(column) if column.is_valid(row) => {
                strata_metrics::codec::decode_sketch(column.value(row))
                    .map(Some)
                    .map_err(|_| TsdbError::Corrupt("invalid sketch"))
            }
            _ => Ok(None),
        }
    }
}

fn visit_batch(
    batch: &RecordBatch,
    metric: &str,
    pass: Pass,
    decisions: &mut Decisions,
    visitor: &mut dyn Visitor,
) -> Result<u64, TsdbError> {
    let columns = Columns::new(batch)?;
    let mut visited = 0;
    let mut current: Option<(u64, Option<Arc<SeriesInfo>>)> = None;
    for row in 0..batch.num_rows() {
        if columns.res.value(row) != pass.res {
            continue;
        }
        let id = columns.series_id.value(row);
        if current.as_ref().is_none_or(|(c, _)| *c != id) {
            let series = match decisions.get(&id) {
                Some(known) => known.clone(),
                None if columns.metric(row) != metric => {
                    decisions.insert(id, None);
                    None
                }
                None => {
                    let info = Arc::new(columns.series(row)?);
                    let wanted = visitor.wants(&info.key).then_some(info);
                    decisions.insert(id, wanted.clone());
                    wanted
                }
            };
            current = Some((id, series));
        }
        let Some((_, Some(series))) = &current else {
            continue;
        };
        let ts = columns.ts.value(row);
        if ts < pass.from_s || ts > pass.to_s {
            continue;
        }
        let sketch = columns.sketch(row)?;
        if pass.res == 0 {
            visitor.point(series, ts, columns.value.value(row), sketch.as_ref());
        } else {
            visitor.summary(series, ts, columns.summary(row), sketch.as_ref());
        }
        visited += 1;
    }
    Ok(visited)
}

impl Tsdb {
    /// Names of the metrics of `tenant` with a point at or after `from_s`
    /// (`GET /api/v1/metrics`): memtable series, then segment footers.
    pub fn metric_names(
        &self,
        tenant: &str,
        from_s: i64,
    ) -> Result<std::collections::BTreeSet<String>, TsdbError> {
        let snapshot = self.snapshot(tenant, from_s, i64::MAX / 2_000_000_000);
        let mut names = std::collections::BTreeSet::new();
        for chunk in &snapshot.chunks {
            names.extend(chunk.series.iter().map(|s| s.key.metric.clone()));
        }
        for segment in &snapshot.segments {
            let footer = self.footer(segment)?;
            match footer_names(footer.metadata()) {
                Some(found) => names.extend(found),
                None => return Err(TsdbError::Corrupt("segment footer lists no metric names")),
            }
        }
        Ok(names)
    }
}
