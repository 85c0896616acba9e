//! In-memory metric points: one immutable [`MetricChunk`] per WAL record,
//! shared by reference with queries and the flush.

use std::sync::Arc;
use std::time::Instant;

use rustc_hash::FxHashMap;
use strata_metrics::{MetricBatch, MetricType, SeriesKey, Sketch};

use crate::segment::{Row, SeriesInfo};

/// Bytes charged per point on top of the series it belongs to.
const POINT_BYTES: u64 = 24;

/// Bytes charged for a series the tenant's registry did not hold yet.
pub(crate) fn series_bytes(info: &SeriesInfo) -> u64 {
    (info.key.heap_size() + info.tags_json.len() + 96) as u64
}

/// Turns a series into the shared `Arc` of the tenant's registry, and says
/// how many bytes that added (0 when the registry held it already).
pub(crate) trait Intern {
    fn intern(
        &mut self,
        id: u64,
        key: SeriesKey,
        kind: MetricType,
        interval_s: u32,
        unit: String,
    ) -> (Arc<SeriesInfo>, u64);
}

/// One WAL record's points, in columnar form.
#[derive(Debug)]
pub struct MetricChunk {
    /// WAL sequence number of the record.
    pub seq: u64,
    /// The series of this chunk.
    pub series: Vec<Arc<SeriesInfo>>,
    /// `(index into series, ts_s, value)`.
    pub points: Vec<(u32, i64, f64)>,
    /// `(index into series, ts_s, sketch)`.
    pub sketches: Vec<(u32, i64, Sketch)>,
    /// Memory charged for the chunk.
    pub bytes: u64,
    /// Smallest and largest point timestamp (s).
    pub ts_range: (i64, i64),
}

impl MetricChunk {
    /// Builds a chunk from a decoded batch. Series repeated inside the batch
    /// share one entry; `intern` turns a new series into the shared
    /// `Arc` of the tenant's registry and says how many bytes it added
    /// (0 when the registry held it already).
    pub(crate) fn build(seq: u64, batch: MetricBatch, intern: &mut dyn Intern) -> MetricChunk {
        let mut index: FxHashMap<u64, u32> = FxHashMap::default();
        let mut series: Vec<Arc<SeriesInfo>> = Vec::new();
        let mut bytes = 0u64;
        let mut slot = |key: SeriesKey, kind, interval_s, unit: String, bytes: &mut u64| -> u32 {
            let id = key.id();
            *index.entry(id).or_insert_with(|| {
                let (shared, added) = intern.intern(id, key, kind, interval_s, unit);
                *bytes += added + 8;
                series.push(shared);
                (series.len() - 1) as u32
            })
        };
        let mut points = Vec::with_capacity(batch.series.iter().map(|s| s.points.len()).sum());
        let mut range = (i64::MAX, i64::MIN);
        for s in batch.series {
            let i = slot(s.key, s.kind, s.interval_s, s.unit, &mut bytes);
            for p in s.points {
                range = (range.0.min(p.ts_s), range.1.max(p.ts_s));
                points.push((i, p.ts_s, p.value));
            }
        }
        let mut sketches = Vec::new();
        for s in batch.sketches {
            let kind = MetricType::Distribution;
            let i = slot(s.key, kind, 0, String::new(), &mut bytes);
            for (ts, sketch) in s.points {
                range = (range.0.min(ts), range.1.max(ts));
                bytes += 64 + sketch.bins.len() as u64 * 8;
                sketches.push((i, ts, sketch));
            }
        }
        bytes += points.len() as u64 * POINT_BYTES;
        MetricChunk {
            seq,
            series,
            points,
            sketches,
            bytes,
            ts_range: range,
        }
    }

    /// Number of points (a sketch counts as one).
    pub fn len(&self) -> usize {
        self.points.len() + self.sketches.len()
    }

    /// Whether the chunk holds no point.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The chunk's rows, for a flush.
    pub fn rows(&self) -> impl Iterator<Item = Row<'_>> {
        let points = self.points.iter().map(|(i, ts, v)| Row {
            series: &self.series[*i as usize],
            ts_s: *ts,
            value: *v,
            sketch: None,
        });
        let sketches = self.sketches.iter().map(|(i, ts, sk)| Row {
            series: &self.series[*i as usize],
            ts_s: *ts,
            value: sk.sum,
            sketch: Some(sk),
        });
        points.chain(sketches)
    }
}

/// The chunks of one tenant not yet in segments.
#[derive(Debug, Default)]
pub(crate) struct MemTable {
    pub(crate) chunks: Vec<Arc<MetricChunk>>,
    pub(crate) bytes: u64,
    pub(crate) points: u64,
    pub(crate) created: Option<Instant>,
}

impl MemTable {
    pub(crate) fn push(&mut self, chunk: Arc<MetricChunk>) {
        self.bytes += chunk.bytes;
        self.points += chunk.len() as u64;
        self.created.get_or_insert_with(Instant::now);
        self.chunks.push(chunk);
    }

    pub(crate) fn min_seq(&self) -> Option<u64> {
        self.chunks.iter().map(|c| c.seq).min()
    }

    pub(crate) fn max_seq(&self) -> Option<u64> {
        self.chunks.iter().map(|c| c.seq).max()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.chunks.is_empty()
    }
}
