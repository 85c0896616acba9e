//! A small lock-free latency histogram (HDR-style log-linear buckets).
//!
//! Values below 128 are counted exactly; larger values land in buckets whose
//! width is at most 1/64 of their lower bound, and percentiles report the
//! bucket midpoint, so the relative error is below 1%. Values are clamped to
//! 2^41 - 1 (about 25 days in microseconds). The maximum is tracked exactly.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};

const SUB_BITS: u32 = 7;
const SUB: u64 = 1 << SUB_BITS;
const HALF: u64 = SUB / 2;
const MAX_EXP: u32 = 40;
const MAX_VALUE: u64 = (1 << (MAX_EXP + 1)) - 1;
const BUCKETS: usize = (SUB + (MAX_EXP - SUB_BITS + 1) as u64 * HALF) as usize;

/// Concurrent histogram of `u64` samples (the load generator records
/// microseconds). Recording is a couple of relaxed atomic adds.
pub struct LatencyHistogram {
    buckets: Box<[AtomicU64]>,
    count: AtomicU64,
    max: AtomicU64,
}

impl fmt::Debug for LatencyHistogram {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LatencyHistogram")
            .field("count", &self.count())
            .field("max", &self.max())
            .finish_non_exhaustive()
    }
}

impl Default for LatencyHistogram {
    fn default() -> Self {
        Self::new()
    }
}

fn index(v: u64) -> usize {
    let v = v.min(MAX_VALUE);
    if v < SUB {
        return v as usize;
    }
    let e = 63 - v.leading_zeros(); // >= SUB_BITS
    let m = v >> (e - (SUB_BITS - 1)); // in [HALF, SUB)
    (SUB + u64::from(e - SUB_BITS) * HALF + (m - HALF)) as usize
}

/// `[lo, hi)` of bucket `idx`.
fn bounds(idx: usize) -> (u64, u64) {
    let idx = idx as u64;
    if idx < SUB {
        return (idx, idx + 1);
    }
    let j = idx - SUB;
    let e = (j / HALF) as u32 + SUB_BITS;
    let m = j % HALF + HALF;
    let shift = e - (SUB_BITS - 1);
    (m << shift, (m + 1) << shift)
}

impl LatencyHistogram {
    /// An empty histogram.
    pub fn new() -> Self {
        Self {
            buckets: (0..BUCKETS).map(|_| AtomicU64::new(0)).collect(),
            count: AtomicU64::new(0),
            max: AtomicU64::new(0),
        }
    }

    /// Records one sample.
    pub fn record(&self, value: u64) {
        self.buckets[index(value)].fetch_add(1, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
        self.max.fetch_max(value, Ordering::Relaxed);
    }

    /// Number of samples recorded.
    pub fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }

    /// Largest sample recorded (exact), 0 when empty.
    pub fn max(&self) -> u64 {
        self.max.load(Ordering::Relaxed)
    }

    /// The `q`-th percentile (`q` in 0..=100), 0 when empty. Uses the
    /// nearest-rank definition; exact below 128, within 1% above.
    pub fn percentile(&self, q: f64) -> u64 {
        let counts: Vec<u64> = self
            .buckets
            .iter()
            .map(|b| b.load(Ordering::Relaxed))
            .collect();
        let total: u64 = counts.iter().sum();
        if total == 0 {
            return 0;
        }
        let exact = q.clamp(0.0, 100.0) / 100.0 * total as f64;
        let rank = ((exact - 1e-9).ceil() as u64).clamp(1, total);
        let max = self.max();
        let mut seen = 0;
        for (i, c) in counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                let (lo, hi) = bounds(i);
                let mid = if hi - lo == 1 { lo } else { lo + (hi - lo) / 2 };
                return mid.min(max);
            }
        }
        max
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_contiguous_and_monotonic() {
        let mut prev_hi = 0;
        for i in 0..BUCKETS {
            let (lo, hi) = bounds(i);
            assert_eq!(lo, prev_hi, "bucket {i}");
            assert!(hi > lo);
            assert_eq!(index(lo), i);
            assert_eq!(index(hi - 1), i);
            prev_hi = hi;
        }
        assert_eq!(prev_hi, MAX_VALUE + 1);
        assert_eq!(index(u64::MAX), BUCKETS - 1);
    }

    #[test]
    fn percentiles_are_exact_for_small_values() {
        let h = LatencyHistogram::new();
        assert_eq!(h.percentile(50.0), 0);
        assert_eq!(h.max(), 0);
        for v in 1..=100 {
            h.record(v);
        }
        assert_eq!(h.count(), 100);
        assert_eq!(h.percentile(50.0), 50);
        assert_eq!(h.percentile(99.0), 99);
        assert_eq!(h.percentile(100.0), 100);
        assert_eq!(h.percentile(0.0), 1);
        assert_eq!(h.max(), 100);
    }

    #[test]
    fn percentiles_are_within_one_percent() {
        let h = LatencyHistogram::new();
        for v in 1..=100_000u64 {
            h.record(v);
        }
        for (q, want) in [
            (50.0, 50_000.0),
            (90.0, 90_000.0),
            (99.0, 99_000.0),
            (99.9, 99_900.0),
        ] {
            let got = h.percentile(q) as f64;
            assert!((got - want).abs() / want < 0.01, "p{q}: {got} vs {want}");
        }
        assert_eq!(h.max(), 100_000);
        assert!(h.percentile(100.0) <= 100_000);
    }

    #[test]
    fn percentiles_follow_a_skewed_distribution() {
        let h = LatencyHistogram::new();
        // 990 fast requests, 10 slow ones: p50 is fast, p99.5 is slow.
        for _ in 0..990 {
            h.record(2_000);
        }
        for _ in 0..10 {
            h.record(1_500_000);
        }
        let p50 = h.percentile(50.0);
        assert!((1_980..=2_020).contains(&p50), "{p50}");
        let p99 = h.percentile(99.0);
        assert!((1_980..=2_020).contains(&p99), "{p99}");
        let p995 = h.percentile(99.5);
        assert!((1_485_000..=1_515_000).contains(&p995), "{p995}");
        assert_eq!(h.max(), 1_500_000);
    }
}
