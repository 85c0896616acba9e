//! The Datadog Agent's DDSketch variant (`pkg/quantile`, now
//! `pkg/util/quantile`): relative accuracy 1/128, so sketches from any host
//! or time merge exactly, including the `Dogsketch{k[], n[]}` bins a real
//! Agent ships to `/api/beta/sketches`.
//!
//! # The mapping (Agent `config.go`)
//!
//! - `eps = 1/128`, `γ = 1 + 2·eps = 1.015625` (exact in binary),
//!   `ln γ = ln_1p(2·eps)`.
//! - `bias = 1 − ⌊log_γ(1e-9)⌋ = 1338`, so the smallest positive key is 1
//!   ([`KEY_BIAS`]). `norm_min = γ^(1−bias) ≈ 9.94e-10` is the smallest
//!   magnitude with a non-zero key.
//! - `key(v) = round_half_even(ln v / ln γ) + bias` for `v ≥ norm_min`,
//!   clamped to `1..=32766`; larger values get the "+∞" key 32767
//!   (values above `γ^(32766−bias) ≈ 4.1e211`). Negative values use the
//!   negated key of `|v|`; `|v| < norm_min` (and 0) use key 0. See [`key`].
//! - The value of a key is `γ^(k−bias)` (Agent `f64`/`binLow`, negated for
//!   negative keys, 0 for key 0, ±∞ for ±32767). See [`key_value`]. The Agent
//!   calls it the bin's "lower bound", but because keys *round* to the
//!   nearest exponent it is the centre of the bin in log space: bin `k`
//!   holds the values in `[γ^(k−bias−½), γ^(k−bias+½)]`, so `key_value`
//!   is within a factor `γ^½ = 1.00778` (relative error < 1/128) of every
//!   value in the bin.
//!
//! # Reading quantiles (Agent `sparse.go` `Quantile`)
//!
//! The wanted rank is `round_half_even(q·(n−1))` (0-based, `n` the bins'
//! total). In the bin holding that rank, with `w = (cum − rank) / bin.n`
//! (`cum` the count up to and including the bin), the estimate is
//! `lo·w + lo·γ·(1−w)` with `lo = key_value(key)`, except that the first bin
//! uses the sketch's `min` as `lo`. We then clamp to `[min, max]` (the Agent
//! does not; Vector's port does); `q ≤ 0` gives `min`, `q ≥ 1` gives `max`.
//!
//! Because the Agent interpolates from the bin's centre `γ^i` up to
//! `γ^(i+1)` while the bin spans `γ^(i±½)`, the estimate `e` of the true
//! rank-`round(q(n−1))` value `x` satisfies, for `|x| ≥ norm_min`,
//! `γ^−1 ≤ e/x ≤ γ^1.5` (−1.54 %, +2.35 %), not the ±0.78 % a single key
//! gives. That is the Agent's behaviour and we keep it so that Strata reads
//! a sketch the way Datadog's Agent does. Below `norm_min` the error is
//! absolute (≤ 2e-9).
//!
//! # Bounded size
//!
//! At most [`BIN_LIMIT`] (4096) bins are kept. Like the Agent's `trimLeft`,
//! the **lowest** keys collapse: their counts move into the lowest kept
//! bin. Quantiles whose rank falls in the collapsed bins are then
//! over-estimated (they read as the lowest kept bin); upper quantiles, and
//! count/min/max/sum, stay exact. 4096 keys span a factor of
//! `γ^4096 ≈ 4e27`, so only data whose magnitudes cover more than ~27
//! decades (positive and negative values counted separately) collapses.
//!
//! # Differences from the Agent
//!
//! - The Agent stores `n` as `uint16` and splits a heavier bin into several
//!   bins with the same key; we keep one bin per key with a `u32` count
//!   ([`Sketch::from_agent`] merges the Agent's duplicates). Reading a
//!   quantile inside such a split bin interpolates over the whole bin
//!   instead of per 65535-slice, and the 4096-bin limit counts unique keys.
//!   A single bin holding more than `u32::MAX` values saturates; quantiles
//!   use the bins' total as `n`, so they stay consistent.
//! - Logarithms and powers come from Rust's `ln`/`powf` (the platform libm)
//!   where the Agent uses Go's `math.Log`/`math.Pow`: a value within an ulp
//!   of a rounding boundary could in theory get the neighbouring key, and
//!   a key's value may differ in the last bit.

use std::cmp::Ordering;
use std::sync::LazyLock;

/// The Agent's relative accuracy parameter `eps`.
pub const RELATIVE_ACCURACY: f64 = 1.0 / 128.0;
/// `γ = 1 + 2·eps`: the ratio between neighbouring keys' values.
pub const GAMMA: f64 = 1.0 + 2.0 * RELATIVE_ACCURACY;
/// Most bins a sketch keeps (Agent `defaultBinLimit`).
pub const BIN_LIMIT: usize = 4096;
/// The smallest magnitude the Agent is configured for (`defaultMin`).
pub const MIN_VALUE: f64 = 1e-9;
/// `1 − ⌊log_γ(MIN_VALUE)⌋`: added to the exponent so positive keys are ≥ 1.
pub const KEY_BIAS: i32 = 1338;
/// Largest finite key (Agent `maxKey = 2^15 − 2`).
pub const MAX_KEY: i32 = 32766;
/// The key of values above the representable range (Agent `uvinf`); its
/// negation is the key of values below `-max`.
pub const INF_KEY: i32 = 32767;

struct Mapping {
    gamma_ln: f64,
    norm_min: f64,
}

static MAPPING: LazyLock<Mapping> = LazyLock::new(|| Mapping {
    gamma_ln: (2.0 * RELATIVE_ACCURACY).ln_1p(),
    norm_min: GAMMA.powf(f64::from(1 - KEY_BIAS)),
});

/// The smallest magnitude with a non-zero key, `γ^(1−bias)` (≈ 9.94e-10).
pub fn norm_min() -> f64 {
    MAPPING.norm_min
}

/// The Agent's key of `v` (see the module docs). NaN maps to 0; callers
/// drop non-finite values before they get here.
pub fn key(v: f64) -> i32 {
    if v < 0.0 {
        return -key(-v);
    }
    if v.is_nan() || v < MAPPING.norm_min {
        return 0;
    }
    let exp = (v.ln() / MAPPING.gamma_ln).round_ties_even() + f64::from(KEY_BIAS);
    if exp > f64::from(MAX_KEY) {
        INF_KEY
    } else if exp < 1.0 {
        // Cannot happen for v >= norm_min; the Agent guards it the same way.
        1
    } else {
        exp as i32
    }
}

/// The value the Agent reads for a key: `γ^(k−bias)`, negated for negative
/// keys, 0 for key 0 and ±∞ for the ±[`INF_KEY`] keys (Agent `f64`/`binLow`).
pub fn key_value(k: i32) -> f64 {
    match k {
        0 => 0.0,
        k if k < 0 => -key_value(k.saturating_neg()),
        k if k >= INF_KEY => f64::INFINITY,
        k => GAMMA.powf(f64::from(k - KEY_BIAS)),
    }
}

/// Why a sketch received from a client was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SketchError {
    /// `k[]` and `n[]` differ in length.
    #[error("sketch has {keys} keys but {counts} counts")]
    LengthMismatch {
        /// Number of keys.
        keys: usize,
        /// Number of counts.
        counts: usize,
    },
    /// A key outside `-32767..=32767`.
    #[error("sketch key {0} is outside the agent's range -32767..=32767")]
    KeyOutOfRange(i32),
    /// The count is negative.
    #[error("sketch count {0} is negative")]
    NegativeCount(i64),
    /// The count is not the sum of the bins.
    #[error("sketch count {count} differs from the sum of its bins {bins}")]
    CountMismatch {
        /// The `cnt` sent.
        count: i64,
        /// The sum of `n[]`.
        bins: u64,
    },
    /// `min`, `max` or `sum` is NaN or infinite.
    #[error("sketch {0} is not finite")]
    NonFinite(&'static str),
    /// `min > max`.
    #[error("sketch min {min} is above its max {max}")]
    MinAboveMax {
        /// The `min` sent.
        min: f64,
        /// The `max` sent.
        max: f64,
    },
}

/// One bucket of a [`Sketch`]: the Agent's key and how many values fell in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Bin {
    /// The Agent's bucket key (sign-symmetric; 0 holds values near zero).
    pub key: i32,
    /// Values in the bucket (> 0).
    pub n: u32,
}

/// A distribution summary: exact count, min, max and sum, plus bins.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Sketch {
    /// Number of values.
    pub count: u64,
    /// Smallest value (0 when empty).
    pub min: f64,
    /// Largest value (0 when empty).
    pub max: f64,
    /// Sum of the values.
    pub sum: f64,
    /// Bins, sorted by key, keys unique, counts > 0.
    pub bins: Vec<Bin>,
}

impl Sketch {
    /// An empty sketch.
    pub fn new() -> Sketch {
        Sketch::default()
    }

    /// Whether no value was inserted.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Inserts one value; NaN and ±∞ are ignored.
    pub fn insert(&mut self, v: f64) {
        self.insert_n(v, 1);
    }

    /// Inserts `v` as if it had been seen `n` times (the Agent's sample-rate
    /// path uses `n = ⌊1/rate⌋`); NaN, ±∞ and `n = 0` are ignored.
    pub fn insert_n(&mut self, v: f64, n: u32) {
        if !v.is_finite() || n == 0 {
            return;
        }
        self.observe(v, v, u64::from(n), v * f64::from(n));
        let k = key(v);
        match self.bins.binary_search_by_key(&k, |b| b.key) {
            Ok(i) => {
                if let Some(bin) = self.bins.get_mut(i) {
                    bin.n = bin.n.saturating_add(n);
                }
            }
            Err(i) => {
                self.bins.insert(i, Bin { key: k, n });
                collapse(&mut self.bins);
            }
        }
    }

    /// A sketch of `values` (non-finite ones ignored).
    pub fn from_values(values: &[f64]) -> Sketch {
        let mut sketch = Sketch::new();
        let mut keys = Vec::with_capacity(values.len());
        for &v in values.iter().filter(|v| v.is_finite()) {
            sketch.observe(v, v, 1, v);
            keys.push(key(v));
        }
        keys.sort_unstable();
        let mut bins: Vec<Bin> = Vec::new();
        for k in keys {
            match bins.last_mut() {
                Some(last) if last.key == k => last.n = last.n.saturating_add(1),
                _ => bins.push(Bin { key: k, n: 1 }),
            }
        }
        collapse(&mut bins);
        sketch.bins = bins;
        sketch
    }

    /// Adds `other` into `self`: bins add key by key (then collapse to
    /// [`BIN_LIMIT`]), count and sum add, min/max combine. Merging is exact:
    /// the result has the same bins as a sketch of both inputs' values.
    pub fn merge(&mut self, other: &Sketch) {
        if other.count > 0 {
            self.observe(other.min, other.max, other.count, other.sum);
        }
        if other.bins.is_empty() {
            return;
        }
        let mut merged = Vec::with_capacity(self.bins.len() + other.bins.len());
        let (mut i, mut j) = (0, 0);
        while let (Some(x), Some(y)) = (self.bins.get(i), other.bins.get(j)) {
            match x.key.cmp(&y.key) {
                Ordering::Less => {
                    merged.push(*x);
                    i += 1;
                }
                Ordering::Greater => {
                    merged.push(*y);
                    j += 1;
                }
                Ordering::Equal => {
                    merged.push(Bin {
                        key: x.key,
                        n: x.n.saturating_add(y.n),
                    });
                    i += 1;
                    j += 1;
                }
            }
        }
        merged.extend_from_slice(self.bins.get(i..).unwrap_or_default());
        merged.extend_from_slice(other.bins.get(j..).unwrap_or_default());
        collapse(&mut merged);
        self.bins = merged;
    }

    /// Builds a sketch from an Agent `Dogsketch` (`cnt`, `min`, `max`,
    /// `sum`, `k[]`, `n[]`). Keys may come unsorted and repeated (the
    /// Agent splits bins above 65535 into several with the same key):
    /// they are sorted and merged. Zero counts (which the Agent's
    /// interpolation can emit) are dropped. Refused: `k`/`n` of different
    /// lengths, keys outside `-32767..=32767`, a negative count, a count
    /// different from the sum of `n[]`, and for a non-empty sketch a
    /// non-finite min/max/sum or `min > max`. An empty sketch reads as
    /// [`Sketch::new`] whatever min/max/sum say. More than [`BIN_LIMIT`]
    /// keys collapse as the Agent would.
    pub fn from_agent(
        count: i64,
        min: f64,
        max: f64,
        sum: f64,
        keys: &[i32],
        counts: &[u32],
    ) -> Result<Sketch, SketchError> {
        if keys.len() != counts.len() {
            return Err(SketchError::LengthMismatch {
                keys: keys.len(),
                counts: counts.len(),
            });
        }
        let total = u64::try_from(count).map_err(|_| SketchError::NegativeCount(count))?;
        if let Some(&bad) = keys.iter().find(|k| !(-INF_KEY..=INF_KEY).contains(*k)) {
            return Err(SketchError::KeyOutOfRange(bad));
        }
        let bins_total: u64 = counts.iter().map(|&n| u64::from(n)).sum();
        if bins_total != total {
            return Err(SketchError::CountMismatch {
                count,
                bins: bins_total,
            });
        }
        if total == 0 {
            return Ok(Sketch::new());
        }
        for (name, v) in [("min", min), ("max", max), ("sum", sum)] {
            if !v.is_finite() {
                return Err(SketchError::NonFinite(name));
            }
        }
        if min > max {
            return Err(SketchError::MinAboveMax { min, max });
        }
        let mut pairs: Vec<(i32, u64)> = keys
            .iter()
            .zip(counts)
            .filter(|(_, &n)| n > 0)
            .map(|(&k, &n)| (k, u64::from(n)))
            .collect();
        pairs.sort_unstable_by_key(|p| p.0);
        let mut bins: Vec<Bin> = Vec::with_capacity(pairs.len());
        let mut pending: Option<(i32, u64)> = None;
        for (k, n) in pairs {
            pending = match pending {
                Some((pk, pn)) if pk == k => Some((pk, pn + n)),
                Some((pk, pn)) => {
                    bins.push(Bin {
                        key: pk,
                        n: saturate(pn),
                    });
                    Some((k, n))
                }
                None => Some((k, n)),
            };
        }
        if let Some((k, n)) = pending {
            bins.push(Bin {
                key: k,
                n: saturate(n),
            });
        }
        collapse(&mut bins);
        Ok(Sketch {
            count: total,
            min,
            max,
            sum,
            bins,
        })
    }

    /// The bins as the Agent's `Dogsketch` columns `(k[], n[])`.
    pub fn to_agent_cols(&self) -> (Vec<i32>, Vec<u32>) {
        self.bins.iter().map(|b| (b.key, b.n)).unzip()
    }

    /// The `q`-quantile read the Agent's way (see the module docs), clamped
    /// to `[min, max]`; `q ≤ 0` is `min`, `q ≥ 1` is `max`. `None` when the
    /// sketch is empty or `q` is NaN.
    pub fn quantile(&self, q: f64) -> Option<f64> {
        if self.is_empty() || q.is_nan() {
            return None;
        }
        if q <= 0.0 {
            return Some(self.min);
        }
        if q >= 1.0 {
            return Some(self.max);
        }
        let total: u64 = self.bins.iter().map(|b| u64::from(b.n)).sum();
        if total == 0 {
            return Some(self.max);
        }
        let wanted = (q * (total - 1) as f64).round_ties_even();
        let mut cum = 0.0;
        for (i, bin) in self.bins.iter().enumerate() {
            cum += f64::from(bin.n);
            if cum <= wanted {
                continue;
            }
            if bin.key >= INF_KEY {
                return Some(self.max);
            }
            if bin.key <= -INF_KEY {
                return Some(self.min);
            }
            let weight = (cum - wanted) / f64::from(bin.n);
            let mut low = key_value(bin.key);
            let high = low * GAMMA;
            if i == 0 {
                low = self.min;
            }
            let estimate = low * weight + high * (1.0 - weight);
            return Some(estimate.max(self.min).min(self.max));
        }
        Some(self.max)
    }

    /// The mean (`sum / count`), `None` when empty.
    pub fn avg(&self) -> Option<f64> {
        (self.count > 0).then(|| self.sum / self.count as f64)
    }

    /// Folds a summary (min, max, count, sum) into count/min/max/sum.
    fn observe(&mut self, min: f64, max: f64, count: u64, sum: f64) {
        if self.count == 0 {
            self.min = min;
            self.max = max;
        } else {
            self.min = self.min.min(min);
            self.max = self.max.max(max);
        }
        self.count = self.count.saturating_add(count);
        self.sum += sum;
    }
}

fn saturate(n: u64) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// Keeps at most [`BIN_LIMIT`] bins by folding the lowest keys into the
/// lowest kept bin (the Agent's `trimLeft`).
fn collapse(bins: &mut Vec<Bin>) {
    let Some(remove) = bins.len().checked_sub(BIN_LIMIT).filter(|&r| r > 0) else {
        return;
    };
    let folded: u64 = bins.iter().take(remove + 1).map(|b| u64::from(b.n)).sum();
    if let Some(kept) = bins.get_mut(remove) {
        kept.n = saturate(folded);
    }
    bins.drain(..remove);
}

#[cfg(test)]
#[path = "sketch_tests.rs"]
mod tests;
