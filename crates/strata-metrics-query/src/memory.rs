//! [`MemorySource`]: an in-memory [`SeriesSource`], the reference
//! implementation of the push-down contract. Tests of the server and
//! property tests of the store compare against it.

use std::collections::BTreeMap;
use std::convert::Infallible;

use strata_metrics::{MetricBatch, MetricType, Point, SeriesKey, Sketch};

use crate::source::{Bucket, FetchRequest, FetchedSeries, SeriesSource};

/// Raw points of one series.
#[derive(Debug, Clone, Default)]
struct MemorySeries {
    kind: Option<MetricType>,
    interval_s: u32,
    points: Vec<Point>,
    sketches: Vec<(i64, Sketch)>,
}

/// Series held in memory as raw points, bucketed on every fetch by a plain
/// scan. Series are answered in key order.
#[derive(Debug, Clone, Default)]
pub struct MemorySource {
    series: BTreeMap<SeriesKey, MemorySeries>,
}

impl MemorySource {
    /// An empty source.
    pub fn new() -> MemorySource {
        MemorySource::default()
    }

    /// Adds points to a gauge, count or rate series. The last call's `kind`
    /// and `interval_s` win.
    pub fn push_points(
        &mut self,
        key: SeriesKey,
        kind: MetricType,
        interval_s: u32,
        points: &[Point],
    ) {
        let series = self.series.entry(key).or_default();
        series.kind = Some(kind);
        series.interval_s = interval_s;
        series.points.extend_from_slice(points);
    }

    /// Adds `(timestamp, sketch)` points to a distribution series.
    pub fn push_sketches(&mut self, key: SeriesKey, points: &[(i64, Sketch)]) {
        let series = self.series.entry(key).or_default();
        series.kind = Some(MetricType::Distribution);
        series.sketches.extend(points.iter().cloned());
    }

    /// Adds everything in a batch.
    pub fn push_batch(&mut self, batch: &MetricBatch) {
        for series in &batch.series {
            self.push_points(
                series.key.clone(),
                series.kind,
                series.interval_s,
                &series.points,
            );
        }
        for series in &batch.sketches {
            self.push_sketches(series.key.clone(), &series.points);
        }
    }

    /// Number of series held.
    pub fn len(&self) -> usize {
        self.series.len()
    }

    /// Whether no series is held.
    pub fn is_empty(&self) -> bool {
        self.series.is_empty()
    }
}

impl SeriesSource for MemorySource {
    type Error = Infallible;

    fn fetch(&self, request: &FetchRequest<'_>) -> Result<Vec<FetchedSeries>, Infallible> {
        let mut out = Vec::new();
        for (key, series) in &self.series {
            if key.metric != request.metric || !request.scope.matches(key) {
                continue;
            }
            if let Some(fetched) = bucket_series(key, series, request) {
                out.push(fetched);
            }
        }
        Ok(out)
    }
}

/// One series bucketed, or `None` if it has no point in the range.
fn bucket_series(
    key: &SeriesKey,
    series: &MemorySeries,
    request: &FetchRequest<'_>,
) -> Option<FetchedSeries> {
    let kind = series.kind.unwrap_or(MetricType::Unspecified);
    let mut buckets: Vec<Option<Bucket>> = vec![None; request.buckets];
    for point in &series.points {
        let slot = request
            .bucket_index(point.ts_s)
            .and_then(|i| buckets.get_mut(i));
        if let Some(slot) = slot {
            Bucket::merge_into(slot, &Bucket::of(point.value));
        }
    }
    let want_sketches = request.sketches && kind == MetricType::Distribution;
    let mut sketches: Vec<Option<Sketch>> = if want_sketches {
        vec![None; request.buckets]
    } else {
        Vec::new()
    };
    for (ts, sketch) in &series.sketches {
        let Some(index) = request.bucket_index(*ts) else {
            continue;
        };
        let Some(summary) = Bucket::of_sketch(sketch) else {
            continue;
        };
        if let Some(slot) = buckets.get_mut(index) {
            Bucket::merge_into(slot, &summary);
        }
        if let Some(slot) = sketches.get_mut(index) {
            match slot {
                Some(merged) => merged.merge(sketch),
                None => *slot = Some(sketch.clone()),
            }
        }
    }
    if buckets.iter().all(Option::is_none) {
        return None;
    }
    Some(FetchedSeries {
        key: key.clone(),
        kind,
        interval_s: series.interval_s,
        buckets,
        sketches,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scope::Scope;

    #[test]
    fn buckets_follow_the_contract() {
        let key = SeriesKey::new("m", "h", vec!["env:a".into()]).unwrap();
        let mut source = MemorySource::new();
        let points: Vec<Point> = [95, 100, 119, 120, 139, 140, 141, 200]
            .iter()
            .map(|&ts_s| Point {
                ts_s,
                value: ts_s as f64,
            })
            .collect();
        source.push_points(key.clone(), MetricType::Gauge, 0, &points);
        let scope = Scope::all();
        let request = FetchRequest {
            metric: "m",
            scope: &scope,
            from_s: 90,
            to_s: 140,
            interval_s: 20,
            start_s: 100,
            buckets: 3,
            sketches: false,
        };
        let fetched = source.fetch(&request).unwrap();
        assert_eq!(fetched.len(), 1);
        let b = &fetched[0].buckets;
        assert_eq!(
            b[0],
            Some(Bucket {
                sum: 219.0,
                count: 2,
                min: 100.0,
                max: 119.0
            })
        );
        assert_eq!(
            b[1],
            Some(Bucket {
                sum: 259.0,
                count: 2,
                min: 120.0,
                max: 139.0
            })
        );
        // 141 is after `to`; 95 is in the dropped partial bucket.
        assert_eq!(b[2], Some(Bucket::of(140.0)));
        let other = Scope::parse("env:b").unwrap();
        let none = source
            .fetch(&FetchRequest {
                scope: &other,
                ..request
            })
            .unwrap();
        assert!(none.is_empty());
    }
}
