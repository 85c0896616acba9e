//! The push-down contract between the evaluator and a store.
//!
//! A query over a day of a busy metric may cover tens of millions of raw
//! points, so the evaluator never asks for points: it asks a
//! [`SeriesSource`] for every matching series already cut into the query's
//! time buckets, each bucket summarised as a [`Bucket`] (sum, count, min,
//! max) and, when percentiles are wanted, a merged [`Sketch`]. The store
//! computes those while it scans; the evaluator does everything after that
//! (time aggregation per metric type, fill, grouping, space aggregation,
//! arithmetic). [`crate::memory::MemorySource`] is the reference
//! implementation.

use strata_metrics::{MetricType, SeriesKey, Sketch};

use crate::interval::Grid;
use crate::scope::Scope;

/// What the evaluator asks a [`SeriesSource`] for: every series of
/// `metric` whose key matches `scope`, with its points bucketed.
///
/// Bucketing rule, exactly: a point at `ts` (seconds) is read if and only if
/// `start_s <= ts <= to_s`, and then goes to bucket
/// `(ts - start_s) / interval_s` (integer division; a point exactly on a
/// boundary starts the later bucket). That index is always below
/// `buckets`. Points in `[from_s, start_s)` fall in a partial bucket before
/// the first one and are dropped, as Datadog drops them.
/// [`FetchRequest::bucket_index`] implements the rule.
#[derive(Debug, Clone, Copy)]
pub struct FetchRequest<'a> {
    /// Metric name.
    pub metric: &'a str,
    /// Which series; [`Scope::matches`] decides for one key.
    pub scope: &'a Scope,
    /// The query's `from`, seconds (informative: nothing before `start_s`
    /// is read).
    pub from_s: i64,
    /// The query's `to`, seconds, inclusive: the last point read.
    pub to_s: i64,
    /// Bucket width, seconds (> 0).
    pub interval_s: i64,
    /// Start of bucket 0: `from_s` rounded up to a multiple of
    /// `interval_s`, except under `timeshift`, where the whole grid is
    /// shifted and need not be aligned.
    pub start_s: i64,
    /// Number of buckets (every answered series has this many).
    pub buckets: usize,
    /// Whether to fill [`FetchedSeries::sketches`] for distribution series
    /// (only percentile aggregators need them).
    pub sketches: bool,
}

impl FetchRequest<'_> {
    /// The bucket a point at `ts` belongs to, or `None` if it is not read.
    pub fn bucket_index(&self, ts: i64) -> Option<usize> {
        if ts < self.start_s || ts > self.to_s || self.interval_s <= 0 {
            return None;
        }
        let index = usize::try_from((ts - self.start_s) / self.interval_s).ok()?;
        (index < self.buckets).then_some(index)
    }

    /// Start of bucket `i`, seconds.
    pub fn bucket_start(&self, i: usize) -> i64 {
        self.grid().bucket_start(i)
    }

    pub(crate) fn grid(&self) -> Grid {
        Grid {
            start_s: self.start_s,
            interval_s: self.interval_s,
            buckets: self.buckets,
            from_s: self.from_s,
            to_s: self.to_s,
        }
    }
}

/// The summary of one series' points in one bucket. For a distribution,
/// the summary of all values in the bucket's sketches.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bucket {
    /// Sum of the values.
    pub sum: f64,
    /// Number of values (> 0: a bucket without values is `None`).
    pub count: u64,
    /// Smallest value.
    pub min: f64,
    /// Largest value.
    pub max: f64,
}

impl Bucket {
    /// A bucket holding one value.
    pub fn of(value: f64) -> Bucket {
        Bucket {
            sum: value,
            count: 1,
            min: value,
            max: value,
        }
    }

    /// The summary of a sketch's values, or `None` for an empty sketch.
    pub fn of_sketch(sketch: &Sketch) -> Option<Bucket> {
        (sketch.count > 0).then_some(Bucket {
            sum: sketch.sum,
            count: sketch.count,
            min: sketch.min,
            max: sketch.max,
        })
    }

    /// Adds one value.
    pub fn add(&mut self, value: f64) {
        self.merge(&Bucket::of(value));
    }

    /// Adds another bucket's values.
    pub fn merge(&mut self, other: &Bucket) {
        self.sum += other.sum;
        self.count += other.count;
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
    }

    /// Merges `other` into an optional bucket.
    pub fn merge_into(slot: &mut Option<Bucket>, other: &Bucket) {
        match slot {
            Some(bucket) => bucket.merge(other),
            None => *slot = Some(*other),
        }
    }
}

/// One series, bucketed as a [`FetchRequest`] asked.
#[derive(Debug, Clone, PartialEq)]
pub struct FetchedSeries {
    /// The series.
    pub key: SeriesKey,
    /// Its type (decides the default time aggregation and what
    /// `as_count`/`as_rate` do).
    pub kind: MetricType,
    /// The interval in seconds one point of a count or rate covers (0 when
    /// unknown; used by `as_count()` on rates).
    pub interval_s: u32,
    /// One entry per bucket (`len == buckets`); `None` where the series has
    /// no point.
    pub buckets: Vec<Option<Bucket>>,
    /// For distributions when the request asked for sketches: the merged
    /// sketch of each bucket (`len == buckets`). Otherwise empty.
    pub sketches: Vec<Option<Sketch>>,
}

/// A store that answers [`FetchRequest`]s. Implementations must follow the
/// bucketing rule of [`FetchRequest`] exactly; they may omit series with no
/// point in the range, and answer series in any order.
pub trait SeriesSource {
    /// Why a fetch failed.
    type Error: std::error::Error + Send + Sync + 'static;

    /// Every matching series, bucketed.
    fn fetch(&self, request: &FetchRequest<'_>) -> Result<Vec<FetchedSeries>, Self::Error>;
}

impl<S: SeriesSource + ?Sized> SeriesSource for &S {
    type Error = S::Error;

    fn fetch(&self, request: &FetchRequest<'_>) -> Result<Vec<FetchedSeries>, Self::Error> {
        (**self).fetch(request)
    }
}
