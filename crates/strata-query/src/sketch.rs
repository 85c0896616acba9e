//! DDSketch: a mergeable quantile sketch with a relative-error guarantee
//! (Masson, Rim, Lee, "DDSketch: A Fast and Fully-Mergeable Quantile Sketch
//! with Relative-Error Guarantees", PVLDB 12(12), 2019), plus a DataFusion
//! aggregate ([`quantile_udaf`]) that answers percentiles such as `p99(x)`.
//!
//! # Mapping
//!
//! With relative accuracy `alpha` (default [`DEFAULT_ALPHA`] = 0.01) let
//! `gamma = (1 + alpha) / (1 - alpha)`. A value `x >= MIN_INDEXABLE` goes to
//! the bucket with key `i = ceil(log_gamma(x))`, which holds the range
//! `(gamma^(i-1), gamma^i]`, and is read back as `2 * gamma^i / (gamma + 1)`.
//! Negative values are mapped by `|x|` into a separate store. Values with
//! `|x| <` [`MIN_INDEXABLE`] (1e-9) are counted as zero.
//!
//! # Rank convention
//!
//! For `n` values sorted ascending as `v[0] <= ... <= v[n-1]`,
//! [`DdSketch::quantile`]`(q)` estimates `v[floor(q * (n - 1))]` (the product
//! computed in `f64`). This is the "lower" quantile of DataDog's sketches-py
//! and sketches-go: no interpolation between neighbours. `q = 0` and `q = 1`
//! return the exact minimum and maximum, and every estimate is clamped into
//! `[min, max]` (the clamp can only move an estimate towards the true value).
//!
//! # Accuracy guarantee
//!
//! For every `q` whose rank falls in a bucket that was not collapsed (see
//! below), the estimate `y` of the true value `x = v[floor(q * (n - 1))]`
//! satisfies `|y - x| <= alpha * |x|`. Values counted as zero are read back as
//! `0`, so for them the error is absolute: `|y - x| < 1e-9`. Merging is exact:
//! merging sketches gives the same buckets as sketching the union.
//!
//! # Memory bound and collapsing
//!
//! Each of the two stores (positive, negative) keeps at most `bin_limit`
//! contiguous buckets (default [`DEFAULT_BIN_LIMIT`] = 2048), as a dense
//! `Vec<u64>` plus the key of its first bin: at most 2 x 2048 x 8 bytes =
//! 32 KiB of counts per sketch, whatever the number of values. With
//! `alpha = 0.01`, 2048 buckets span a ratio of `gamma^2048 ~ 6e17` between
//! the smallest and largest magnitude (80 µs to 1 year when values are
//! seconds), so collapsing needs data spread over more than 17 orders of
//! magnitude of one sign.
//!
//! When a store would need more buckets, its **lowest** keys are folded into
//! the lowest bucket it keeps:
//!
//! - positive store: the smallest positive values are read back as the
//!   smallest kept bucket, so low quantiles are **overestimated** (too large);
//! - negative store: the values closest to zero (smallest `|x|`) are read back
//!   as a larger `|x|`, so those quantiles come out **too negative**.
//!
//! Only quantiles whose rank lands in a collapsed bucket lose the guarantee;
//! the large-magnitude tail (p90, p99, max of latencies) stays within `alpha`.
//! The collapsed state depends only on the set of values, not on the order of
//! adds and merges, so merging stays exact even after collapsing.
//!
//! # Encoding
//!
//! [`DdSketch::to_bytes`] writes a compact, versioned, little-endian encoding
//! (documented on the method) that [`DdSketch::from_bytes`] validates fully:
//! garbage input gives a [`SketchError`], never a panic. The DataFusion
//! aggregate ships it as its partial state.

#[path = "sketch_store.rs"]
mod store;
#[path = "sketch_udaf.rs"]
mod udaf;

use store::{write_varint, Reader, Store};

pub use udaf::quantile_udaf;

/// Default relative accuracy, as in DataDog's sketches-py / sketches-go.
pub const DEFAULT_ALPHA: f64 = 0.01;

/// Default maximum number of buckets per store (positive and negative).
pub const DEFAULT_BIN_LIMIT: usize = 2048;

/// Largest accepted bin limit; it caps what a decoded sketch may allocate.
pub const MAX_BIN_LIMIT: usize = 1 << 16;

/// Smallest accepted relative accuracy. Much below it, the rounding error of
/// `ln(x) / ln(gamma)` becomes a visible fraction of a bucket and the
/// guarantee no longer holds in `f64`; no caller needs it anyway.
pub const MIN_ALPHA: f64 = 1e-6;

/// Values with `|x|` below this are counted as zero (as in the Agent's
/// `pkg/quantile`).
pub const MIN_INDEXABLE: f64 = 1e-9;

const MAGIC: &[u8; 4] = b"DDSK";
const VERSION: u8 = 1;
/// magic + version + alpha + bin limit + min + max + sum.
const HEADER_LEN: usize = 4 + 1 + 8 + 4 + 8 + 8 + 8;

/// Why a sketch could not be built, merged or decoded.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum SketchError {
    /// The relative accuracy is not in `[MIN_ALPHA, 1)`.
    #[error("relative accuracy must be in [1e-6, 1), got {0}")]
    InvalidAlpha(f64),
    /// The bin limit is not in `[1, MAX_BIN_LIMIT]`.
    #[error("bin limit must be in [1, 65536], got {0}")]
    InvalidBinLimit(usize),
    /// The two sketches of a merge use different relative accuracies.
    #[error("cannot merge sketches with different relative accuracy ({left} vs {right})")]
    AlphaMismatch {
        /// Accuracy of the sketch merged into.
        left: f64,
        /// Accuracy of the sketch merged from.
        right: f64,
    },
    /// The encoding has a version this code does not read.
    #[error("unsupported sketch encoding version {0}")]
    UnsupportedVersion(u8),
    /// The encoding is truncated or inconsistent.
    #[error("corrupt sketch encoding: {0}")]
    Corrupt(&'static str),
}

/// A DDSketch over `f64` values; see the [module docs](self) for the
/// guarantees, the rank convention and the memory bound.
#[derive(Debug, Clone)]
pub struct DdSketch {
    alpha: f64,
    /// `ln(gamma)`.
    ln_gamma: f64,
    /// `ln((gamma + 1) / 2)`: bucket `i` reads back as `exp(i * ln_gamma - value_shift)`.
    value_shift: f64,
    bin_limit: usize,
    positive: Store,
    /// Keyed by `|x|`.
    negative: Store,
    zero_count: u64,
    /// `+inf` while empty.
    min: f64,
    /// `-inf` while empty.
    max: f64,
    sum: f64,
}

impl Default for DdSketch {
    /// An empty sketch with [`DEFAULT_ALPHA`] and [`DEFAULT_BIN_LIMIT`].
    fn default() -> Self {
        Self::build(DEFAULT_ALPHA, DEFAULT_BIN_LIMIT)
    }
}

impl DdSketch {
    /// An empty sketch with relative accuracy `alpha` and
    /// [`DEFAULT_BIN_LIMIT`] buckets per store.
    ///
    /// Fails unless `MIN_ALPHA <= alpha < 1`.
    pub fn new(alpha: f64) -> Result<Self, SketchError> {
        Self::with_bin_limit(alpha, DEFAULT_BIN_LIMIT)
    }

    /// An empty sketch with relative accuracy `alpha` and at most `bin_limit`
    /// buckets in each of the positive and negative stores.
    ///
    /// Fails unless `MIN_ALPHA <= alpha < 1` and `1 <= bin_limit <= MAX_BIN_LIMIT`.
    pub fn with_bin_limit(alpha: f64, bin_limit: usize) -> Result<Self, SketchError> {
        validate_alpha(alpha)?;
        if !(1..=MAX_BIN_LIMIT).contains(&bin_limit) {
            return Err(SketchError::InvalidBinLimit(bin_limit));
        }
        Ok(Self::build(alpha, bin_limit))
    }

    /// Callers have validated `alpha` and `bin_limit`.
    fn build(alpha: f64, bin_limit: usize) -> Self {
        // gamma - 1 = 2 alpha / (1 - alpha); ln_1p keeps precision for small alpha.
        let ln_gamma = (2.0 * alpha / (1.0 - alpha)).ln_1p();
        let gamma = ln_gamma.exp();
        Self {
            alpha,
            ln_gamma,
            value_shift: ((gamma + 1.0) / 2.0).ln(),
            bin_limit,
            positive: Store::default(),
            negative: Store::default(),
            zero_count: 0,
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
            sum: 0.0,
        }
    }

    /// The relative accuracy this sketch guarantees.
    pub fn alpha(&self) -> f64 {
        self.alpha
    }

    /// The maximum number of buckets per store.
    pub fn bin_limit(&self) -> usize {
        self.bin_limit
    }

    /// Adds one value.
    ///
    /// NaN and `±inf` are ignored (not counted, not in min/max/sum): an
    /// infinite value has no bucket, and clamping it to `f64::MAX` would make
    /// `max()` and `sum()` lie. Values with `|x| <` [`MIN_INDEXABLE`] count as zero.
    pub fn add(&mut self, value: f64) {
        if !value.is_finite() {
            return;
        }
        let magnitude = value.abs();
        if magnitude < MIN_INDEXABLE {
            self.zero_count = self.zero_count.saturating_add(1);
        } else if value > 0.0 {
            let key = self.key(magnitude);
            self.positive.add(key, 1, self.bin_limit);
        } else {
            let key = self.key(magnitude);
            self.negative.add(key, 1, self.bin_limit);
        }
        self.min = self.min.min(value);
        self.max = self.max.max(value);
        self.sum += value;
    }

    /// Merges `other` into `self`. The result is the sketch of the union of
    /// both inputs (bucket for bucket; only `sum` may differ in the last bits
    /// because float addition is not associative).
    ///
    /// Fails, leaving `self` unchanged, when the relative accuracies differ.
    /// Different bin limits are fine: `self`'s limit applies.
    pub fn merge(&mut self, other: &DdSketch) -> Result<(), SketchError> {
        if self.alpha.to_bits() != other.alpha.to_bits() {
            return Err(SketchError::AlphaMismatch {
                left: self.alpha,
                right: other.alpha,
            });
        }
        if other.count() == 0 {
            return Ok(());
        }
        self.positive.merge(&other.positive, self.bin_limit);
        self.negative.merge(&other.negative, self.bin_limit);
        self.zero_count = self.zero_count.saturating_add(other.zero_count);
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
        self.sum += other.sum;
        Ok(())
    }

    /// Number of values added (NaN and infinities excluded).
    pub fn count(&self) -> u64 {
        self.negative
            .total
            .saturating_add(self.zero_count)
            .saturating_add(self.positive.total)
    }

    /// True when no value was added.
    pub fn is_empty(&self) -> bool {
        self.count() == 0
    }

    /// The exact smallest value added, `None` when empty.
    pub fn min(&self) -> Option<f64> {
        (!self.is_empty()).then_some(self.min)
    }

    /// The exact largest value added, `None` when empty.
    pub fn max(&self) -> Option<f64> {
        (!self.is_empty()).then_some(self.max)
    }

    /// The sum of the values added (`0.0` when empty; it may overflow to `±inf`).
    pub fn sum(&self) -> f64 {
        self.sum
    }

    /// Bytes used by this sketch, heap included (for memory accounting).
    pub fn memory_size(&self) -> usize {
        size_of::<Self>()
            + (self.positive.counts.capacity() + self.negative.counts.capacity()) * size_of::<u64>()
    }

    /// Estimates the `q`-quantile: the value at rank `floor(q * (n - 1))` of
    /// the sorted values (see the [module docs](self)), within `alpha`
    /// relative error unless that rank is in a collapsed bucket.
    ///
    /// `None` when the sketch is empty or `q` is not in `[0, 1]` (NaN included).
    /// `q = 0` gives the exact min and `q = 1` the exact max.
    pub fn quantile(&self, q: f64) -> Option<f64> {
        let count = self.count();
        if count == 0 || !(0.0..=1.0).contains(&q) {
            return None;
        }
        if q == 0.0 {
            return Some(self.min);
        }
        if q == 1.0 {
            return Some(self.max);
        }
        // q < 1, so rank <= n - 2 (or 0 when n = 1).
        let rank = (q * (count - 1) as f64).floor() as u64;
        let negatives = self.negative.total;
        let non_positives = negatives.saturating_add(self.zero_count);
        let estimate = if rank < negatives {
            // Ascending order visits the negative keys from the largest |x| down.
            match self.negative.key_at_rank_descending(rank) {
                Some(key) => -self.bucket_value(key),
                None => self.min,
            }
        } else if rank < non_positives {
            0.0
        } else {
            match self.positive.key_at_rank(rank - non_positives) {
                Some(key) => self.bucket_value(key),
                None => self.max,
            }
        };
        // Not f64::clamp: it panics on NaN bounds, and this must never panic.
        Some(estimate.max(self.min).min(self.max))
    }

    /// Bucket key of a magnitude `>= MIN_INDEXABLE`.
    fn key(&self, magnitude: f64) -> i64 {
        // Finite and bounded: |ln(x)| <= 710 and ln_gamma >= ~2e-6.
        (magnitude.ln() / self.ln_gamma).ceil() as i64
    }

    /// `2 * gamma^key / (gamma + 1)`, computed in log space so the
    /// intermediate `gamma^key` cannot overflow before the division.
    fn bucket_value(&self, key: i64) -> f64 {
        (key as f64 * self.ln_gamma - self.value_shift).exp()
    }

    /// Serializes the sketch for shipping or storage.
    ///
    /// Layout (version 1, all fixed-width fields little-endian):
    ///
    /// ```text
    /// offset  size  field
    /// 0       4     magic "DDSK"
    /// 4       1     version = 1
    /// 5       8     alpha (f64)
    /// 13      4     bin limit (u32)
    /// 17      8     min (f64; +inf when empty)
    /// 25      8     max (f64; -inf when empty)
    /// 33      8     sum (f64)
    /// 41      var   zero count (LEB128 u64)
    /// ...     var   negative store, then positive store, each:
    ///                 first key (zigzag LEB128 i64),
    ///                 number of bins (LEB128 u64),
    ///                 that many bin counts (LEB128 u64)
    /// ```
    ///
    /// An empty sketch takes 46 bytes; a full one at most about
    /// 46 + 2 x 2048 x 10 bytes, typically 1 to 2 bytes per occupied bucket.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(
            HEADER_LEN + 8 + 2 * (20 + self.positive.counts.len() + self.negative.counts.len()),
        );
        out.extend_from_slice(MAGIC);
        out.push(VERSION);
        out.extend_from_slice(&self.alpha.to_le_bytes());
        // bin_limit <= MAX_BIN_LIMIT, enforced by every constructor.
        out.extend_from_slice(&(self.bin_limit as u32).to_le_bytes());
        out.extend_from_slice(&self.min.to_le_bytes());
        out.extend_from_slice(&self.max.to_le_bytes());
        out.extend_from_slice(&self.sum.to_le_bytes());
        write_varint(&mut out, self.zero_count);
        self.negative.encode(&mut out);
        self.positive.encode(&mut out);
        out
    }

    /// Decodes what [`DdSketch::to_bytes`] wrote, validating everything:
    /// truncated, trailing or inconsistent bytes give an error, never a panic.
    pub fn from_bytes(bytes: &[u8]) -> Result<DdSketch, SketchError> {
        let mut reader = Reader::new(bytes);
        if reader.take(4)? != MAGIC {
            return Err(SketchError::Corrupt("bad magic"));
        }
        let version = reader.u8()?;
        if version != VERSION {
            return Err(SketchError::UnsupportedVersion(version));
        }
        let alpha = reader.f64()?;
        let bin_limit = reader.u32()? as usize;
        let mut sketch = DdSketch::with_bin_limit(alpha, bin_limit)?;
        let min = reader.f64()?;
        let max = reader.f64()?;
        let sum = reader.f64()?;
        sketch.zero_count = reader.varint()?;
        let key_range = sketch.key(MIN_INDEXABLE)..=sketch.key(f64::MAX);
        sketch.negative = Store::decode(&mut reader, bin_limit, &key_range)?;
        sketch.positive = Store::decode(&mut reader, bin_limit, &key_range)?;
        if !reader.is_exhausted() {
            return Err(SketchError::Corrupt("trailing bytes"));
        }
        let count = sketch
            .negative
            .total
            .checked_add(sketch.zero_count)
            .and_then(|partial| partial.checked_add(sketch.positive.total))
            .ok_or(SketchError::Corrupt("count overflows u64"))?;
        if count == 0 {
            // Keep the empty-sketch invariants whatever the bytes said.
            return Ok(sketch);
        }
        if !min.is_finite() || !max.is_finite() || min > max {
            return Err(SketchError::Corrupt("min/max inconsistent"));
        }
        let signs_consistent = (sketch.negative.total == 0 || min <= -MIN_INDEXABLE)
            && (sketch.positive.total == 0 || max >= MIN_INDEXABLE)
            && (sketch.zero_count == 0 || (min < MIN_INDEXABLE && max > -MIN_INDEXABLE));
        if !signs_consistent {
            return Err(SketchError::Corrupt("min/max disagree with the buckets"));
        }
        sketch.min = min;
        sketch.max = max;
        sketch.sum = sum;
        Ok(sketch)
    }
}

fn validate_alpha(alpha: f64) -> Result<(), SketchError> {
    // NaN is in no range, so it fails too.
    if (MIN_ALPHA..1.0).contains(&alpha) {
        Ok(())
    } else {
        Err(SketchError::InvalidAlpha(alpha))
    }
}

#[cfg(test)]
#[path = "sketch_tests.rs"]
mod tests;
