//! OTLP histograms to Datadog sketches, and the cumulative-to-delta
//! arithmetic on bucket counts.

use strata_metrics::sketch::key;
use strata_metrics::Sketch;

use super::state::Snapshot;

/// Most distinct values one explicit bucket is spread over; its count is
/// divided evenly between them.
const SPREAD_STEPS: u64 = 32;

/// Most buckets one histogram point may have: explicit buckets, or
/// exponential buckets on each side. Bounds the work and state per point.
pub(super) const MAX_BUCKETS: usize = 4096;

/// Scales the OTLP specification allows (`-10..=20`).
const SCALES: std::ops::RangeInclusive<i32> = -10..=20;

/// The sum, min and max an OTLP point reports, when it does. Cumulative
/// deltas carry only the sum (min and max cover the whole cumulative
/// period, not the delta).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(super) struct Stats {
    pub(super) sum: Option<f64>,
    pub(super) min: Option<f64>,
    pub(super) max: Option<f64>,
}

impl Stats {
    /// Keeps `min`/`max` only when finite and ordered, `sum` only when finite.
    pub(super) fn new(sum: Option<f64>, min: Option<f64>, max: Option<f64>) -> Stats {
        let finite = |v: Option<f64>| v.filter(|v| v.is_finite());
        let (min, max) = match (finite(min), finite(max)) {
            (Some(lo), Some(hi)) if lo > hi => (None, None),
            pair => pair,
        };
        Stats {
            sum: finite(sum),
            min,
            max,
        }
    }

    fn clamp(&self, mut v: f64) -> f64 {
        if let Some(min) = self.min {
            v = v.max(min);
        }
        if let Some(max) = self.max {
            v = v.min(max);
        }
        v
    }
}

/// Accumulates weighted values into the Agent's key space: `(key, count)`
/// runs in insertion order (a run grows while the key repeats, which it
/// does for values added in order), sorted and merged once at the end.
#[derive(Debug, Default)]
struct Builder {
    bins: Vec<(i32, u64)>,
    count: u64,
    sum: f64,
    min: f64,
    max: f64,
}

impl Builder {
    fn add(&mut self, v: f64, n: u64) {
        self.add_keyed(v, n, None);
    }

    /// Adds `n` times `v`, whose key is `known` when the caller knows it.
    fn add_keyed(&mut self, v: f64, n: u64, known: Option<i32>) {
        if n == 0 || !v.is_finite() {
            return;
        }
        if self.count == 0 {
            self.min = v;
            self.max = v;
        } else {
            self.min = self.min.min(v);
            self.max = self.max.max(v);
        }
        self.count = self.count.saturating_add(n);
        self.sum += v * n as f64;
        let k = known.unwrap_or_else(|| key(v));
        match self.bins.last_mut() {
            Some((last, count)) if *last == k => *count = count.saturating_add(n),
            _ => self.bins.push((k, n)),
        }
    }

    /// The runs sorted by key, one per key.
    fn merged_bins(&mut self) -> Vec<(i32, u64)> {
        let mut runs = std::mem::take(&mut self.bins);
        // Stable sort: linear on the (usual) already sorted runs.
        runs.sort_by_key(|&(k, _)| k);
        let mut merged: Vec<(i32, u64)> = Vec::with_capacity(runs.len());
        for (k, n) in runs {
            match merged.last_mut() {
                Some((last, count)) if *last == k => *count = count.saturating_add(n),
                _ => merged.push((k, n)),
            }
        }
        merged
    }

    /// The sketch, with the point's own sum/min/max where it sent them.
    /// `None` when no value was added.
    fn finish(mut self, stats: &Stats) -> Result<Option<Sketch>, String> {
        if self.count == 0 {
            return Ok(None);
        }
        let sum = stats.sum.unwrap_or(self.sum);
        if !sum.is_finite() {
            return Err("the histogram's sum is not finite".into());
        }
        let min = stats.min.unwrap_or(self.min).min(self.min);
        let max = stats.max.unwrap_or(self.max).max(self.max);
        // The Agent's bins count in u32: heavier bins saturate, and the
        // sketch keeps the exact count next to them.
        let (keys, counts): (Vec<i32>, Vec<u32>) = self
            .merged_bins()
            .into_iter()
            .map(|(k, n)| (k, u32::try_from(n).unwrap_or(u32::MAX)))
            .unzip();
        let binned: u64 = counts.iter().map(|&n| u64::from(n)).sum();
        let binned = i64::try_from(binned).map_err(|_| "the histogram's count is too large")?;
        let mut sketch = Sketch::from_agent(binned, min, max, sum, &keys, &counts)
            .map_err(|e| format!("the histogram does not make a sketch: {e}"))?;
        sketch.count = self.count;
        Ok(Some(sketch))
    }
}

/// Checks an explicit-bucket point's layout and answers its bucket counts:
/// `bucket_counts` as sent, or `[count]` when it sent neither bounds nor
/// buckets (a point with only count and sum). More than [`MAX_BUCKETS`]
/// buckets is refused.
pub(super) fn explicit_counts(
    bounds: &[f64],
    bucket_counts: &[u64],
    count: u64,
) -> Result<Vec<u64>, String> {
    let buckets = bucket_counts.len().max(bounds.len().saturating_add(1));
    if buckets > MAX_BUCKETS {
        return Err(format!(
            "histogram has {buckets} buckets (at most {MAX_BUCKETS})"
        ));
    }
    if bounds.iter().any(|b| !b.is_finite()) {
        return Err("explicitBounds holds a value that is not finite".into());
    }
    if bounds.windows(2).any(|w| w.first() >= w.get(1)) {
        return Err("explicitBounds is not strictly increasing".into());
    }
    if bounds.is_empty() && bucket_counts.is_empty() {
        return Ok(vec![count]);
    }
    if bucket_counts.len() != bounds.len() + 1 {
        return Err(format!(
            "bucketCounts has {} entries for {} explicitBounds (want one more)",
            bucket_counts.len(),
            bounds.len()
        ));
    }
    Ok(bucket_counts.to_vec())
}

/// A hash of the bounds' bits: a cumulative point whose bounds changed is a
/// reset.
pub(super) fn layout_hash(bounds: &[f64]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bounds {
        for byte in b.to_bits().to_le_bytes() {
            h ^= u64::from(byte);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    h ^ bounds.len() as u64
}

/// A sketch of an explicit-bucket histogram: each bucket's count spread
/// linearly over at most [`SPREAD_STEPS`] values across the bucket (the
/// first bucket starts at `min`, else at its upper bound; the last ends at
/// `max`, else at its lower bound; everything clamped into `[min, max]`).
/// `counts` comes from [`explicit_counts`]. `None` when the counts are all 0.
pub(super) fn explicit_sketch(
    bounds: &[f64],
    counts: &[u64],
    stats: &Stats,
) -> Result<Option<Sketch>, String> {
    let mut builder = Builder::default();
    let total: u64 = counts.iter().fold(0, |a, &n| a.saturating_add(n));
    let avg = stats.sum.filter(|_| total > 0).map(|s| s / total as f64);
    for (i, &n) in counts.iter().enumerate() {
        if n == 0 {
            continue;
        }
        let upper = bounds.get(i).copied();
        let lower = i.checked_sub(1).and_then(|j| bounds.get(j)).copied();
        let (lo, hi) = match (lower, upper) {
            (Some(lo), Some(hi)) => (lo, hi),
            (None, Some(hi)) => (stats.min.unwrap_or(hi), hi),
            (Some(lo), None) => (lo, stats.max.unwrap_or(lo)),
            (None, None) => {
                let mid = avg.or(stats.min).or(stats.max).unwrap_or(0.0);
                (stats.min.unwrap_or(mid), stats.max.unwrap_or(mid))
            }
        };
        let (mut lo, mut hi) = (stats.clamp(lo), stats.clamp(hi));
        if lo > hi {
            std::mem::swap(&mut lo, &mut hi);
        }
        spread(&mut builder, lo, hi, n, stats);
    }
    builder.finish(stats)
}

/// Adds `n` values spread evenly over `[lo, hi]` (bucket midpoints of
/// `min(n, SPREAD_STEPS)` equal slices). The key is monotonic: when the
/// first and last values share one, it is computed once for all of them.
fn spread(builder: &mut Builder, lo: f64, hi: f64, n: u64, stats: &Stats) {
    if n == 0 {
        return;
    }
    if lo == hi {
        builder.add(lo, n);
        return;
    }
    let steps = n.min(SPREAD_STEPS);
    let (each, extra) = (n / steps, n % steps);
    let value = |j: u64| {
        let t = (j as f64 + 0.5) / steps as f64;
        // lo·(1−t) + hi·t cannot overflow where lo + (hi−lo)·t could.
        stats.clamp(lo * (1.0 - t) + hi * t)
    };
    let (first, last) = (key(value(0)), key(value(steps - 1)));
    let shared = (first == last).then_some(first);
    for j in 0..steps {
        builder.add_keyed(value(j), each + u64::from(j < extra), shared);
    }
}

/// Refuses an exponential side with more than [`MAX_BUCKETS`] buckets.
pub(super) fn check_side(name: &str, side: ExpBuckets<'_>) -> Result<(), String> {
    if side.counts.len() > MAX_BUCKETS {
        return Err(format!(
            "exponential histogram has {} {name} buckets (at most {MAX_BUCKETS})",
            side.counts.len()
        ));
    }
    Ok(())
}

/// One side of an exponential histogram: the index of the first count and
/// the counts.
#[derive(Debug, Clone, Copy)]
pub(super) struct ExpBuckets<'a> {
    pub(super) offset: i64,
    pub(super) counts: &'a [u64],
}

/// A sketch of an exponential histogram at `scale`: bucket `i` covers
/// `(base^i, base^(i+1)]` with `base = 2^(2^-scale)`; its count goes to the
/// bucket's geometric midpoint `base^(i+½)` (negated for the negative
/// side), the zero bucket's to 0, all clamped into `[min, max]`. A scale
/// outside the specification's `-10..=20` is refused.
pub(super) fn exponential_sketch(
    scale: i32,
    zero: u64,
    positive: ExpBuckets<'_>,
    negative: ExpBuckets<'_>,
    stats: &Stats,
) -> Result<Option<Sketch>, String> {
    if !SCALES.contains(&scale) {
        return Err(format!("scale {scale} is outside -10..=20"));
    }
    let width = (-f64::from(scale)).exp2();
    let mut builder = Builder::default();
    builder.add(stats.clamp(0.0), zero);
    for (side, sign) in [(positive, 1.0), (negative, -1.0)] {
        for (i, &n) in side.counts.iter().enumerate() {
            let index = side
                .offset
                .saturating_add(i64::try_from(i).unwrap_or(i64::MAX));
            let magnitude = ((index as f64 + 0.5) * width).exp2();
            let magnitude = magnitude.clamp(f64::MIN_POSITIVE, f64::MAX);
            builder.add(stats.clamp(sign * magnitude), n);
        }
    }
    builder.finish(stats)
}

/// Bucket-wise `cur − prev` of two explicit snapshots; `None` (a reset)
/// when the layouts differ or a count went down.
pub(super) fn bucket_delta(prev: &Snapshot, cur: &Snapshot) -> Option<(Vec<u64>, Option<f64>)> {
    let (
        Snapshot::Buckets {
            layout: pl,
            counts: pc,
            sum: ps,
        },
        Snapshot::Buckets {
            layout: cl,
            counts: cc,
            sum: cs,
        },
    ) = (prev, cur)
    else {
        return None;
    };
    if pl != cl || pc.len() != cc.len() {
        return None;
    }
    let counts = cc
        .iter()
        .zip(pc)
        .map(|(c, p)| c.checked_sub(*p))
        .collect::<Option<Vec<u64>>>()?;
    Some((counts, sum_delta(*ps, *cs)))
}

/// An exponential histogram's delta: zero count, both sides re-aligned by
/// bucket index, and the sum.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct ExpDelta {
    pub(super) zero: u64,
    pub(super) pos_offset: i64,
    pub(super) positive: Vec<u64>,
    pub(super) neg_offset: i64,
    pub(super) negative: Vec<u64>,
    pub(super) sum: Option<f64>,
}

/// `cur − prev` of two exponential snapshots; `None` (a reset) when the
/// scale changed or any count went down.
pub(super) fn exponential_delta(prev: &Snapshot, cur: &Snapshot) -> Option<ExpDelta> {
    let (
        Snapshot::Exponential {
            scale: p_scale,
            zero: p_zero,
            pos_offset: p_po,
            positive: p_pos,
            neg_offset: p_no,
            negative: p_neg,
            sum: p_sum,
        },
        Snapshot::Exponential {
            scale,
            zero,
            pos_offset,
            positive,
            neg_offset,
            negative,
            sum,
        },
    ) = (prev, cur)
    else {
        return None;
    };
    if p_scale != scale {
        return None;
    }
    Some(ExpDelta {
        zero: zero.checked_sub(*p_zero)?,
        pos_offset: *pos_offset,
        positive: aligned_delta(*p_po, p_pos, *pos_offset, positive)?,
        neg_offset: *neg_offset,
        negative: aligned_delta(*p_no, p_neg, *neg_offset, negative)?,
        sum: sum_delta(*p_sum, *sum),
    })
}

/// `cur − prev` by bucket index over `cur`'s range; `None` when a count went
/// down or `prev` has counts where `cur` has no bucket.
fn aligned_delta(p_off: i64, prev: &[u64], c_off: i64, cur: &[u64]) -> Option<Vec<u64>> {
    let prev_at = |index: i64| -> u64 {
        index
            .checked_sub(p_off)
            .and_then(|i| usize::try_from(i).ok())
            .and_then(|i| prev.get(i).copied())
            .unwrap_or(0)
    };
    let delta = cur
        .iter()
        .enumerate()
        .map(|(i, &c)| {
            let index = c_off.saturating_add(i64::try_from(i).unwrap_or(i64::MAX));
            c.checked_sub(prev_at(index))
        })
        .collect::<Option<Vec<u64>>>()?;
    let c_end = c_off.saturating_add(i64::try_from(cur.len()).unwrap_or(i64::MAX));
    let lost = prev.iter().enumerate().any(|(i, &p)| {
        let index = p_off.saturating_add(i64::try_from(i).unwrap_or(i64::MAX));
        p > 0 && !(c_off..c_end).contains(&index)
    });
    (!lost).then_some(delta)
}

fn sum_delta(prev: Option<f64>, cur: Option<f64>) -> Option<f64> {
    Some(cur? - prev?).filter(|d| d.is_finite())
}
