//! Unit tests of [`DdSketch`](super::DdSketch).

use super::*;
use proptest::prelude::*;

/// SplitMix64: a tiny deterministic PRNG, so the tests need no `rand`.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, 1)`.
    fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Standard normal (Box-Muller).
    fn normal(&mut self) -> f64 {
        let u1 = 1.0 - self.unit(); // (0, 1]
        let u2 = self.unit();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }
}

/// The value at rank `floor(q * (n - 1))` of the sorted values: the same
/// convention as [`DdSketch::quantile`].
fn exact_quantile(sorted: &[f64], q: f64) -> f64 {
    let rank = (q * (sorted.len() - 1) as f64).floor() as usize;
    sorted[rank]
}

fn sketch_of(values: &[f64]) -> DdSketch {
    let mut sketch = DdSketch::default();
    for &value in values {
        sketch.add(value);
    }
    sketch
}

/// `|estimate - exact| <= alpha * |exact|`, with a hair of float slack, and
/// the documented absolute error for values counted as zero.
fn within_alpha(estimate: f64, exact: f64, alpha: f64) -> bool {
    let slack = if exact.abs() < MIN_INDEXABLE {
        MIN_INDEXABLE
    } else {
        0.0
    };
    (estimate - exact).abs() <= alpha * exact.abs() * (1.0 + 1e-9) + slack
}

const QS: &[f64] = &[
    0.0, 0.001, 0.01, 0.05, 0.1, 0.25, 0.333, 0.5, 0.75, 0.9, 0.95, 0.99, 0.999, 1.0,
];

fn assert_quantiles_within_alpha(values: &[f64]) {
    let sketch = sketch_of(values);
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    for &q in QS {
        let exact = exact_quantile(&sorted, q);
        let estimate = sketch.quantile(q).expect("non-empty");
        assert!(
            within_alpha(estimate, exact, sketch.alpha()),
            "q={q}: estimate {estimate} vs exact {exact}"
        );
    }
    assert_eq!(sketch.count(), values.len() as u64);
    assert_eq!(sketch.min(), sorted.first().copied());
    assert_eq!(sketch.max(), sorted.last().copied());
    let exact_sum: f64 = values.iter().sum();
    assert!((sketch.sum() - exact_sum).abs() <= 1e-9 * exact_sum.abs().max(1.0));
}

#[test]
fn empty_sketch_has_no_quantiles() {
    let sketch = DdSketch::default();
    assert_eq!(sketch.count(), 0);
    assert!(sketch.is_empty());
    assert_eq!(sketch.quantile(0.5), None);
    assert_eq!(sketch.quantile(0.0), None);
    assert_eq!(sketch.min(), None);
    assert_eq!(sketch.max(), None);
    assert_eq!(sketch.sum(), 0.0);
}

#[test]
fn constructor_validates_alpha_and_bin_limit() {
    assert!(DdSketch::new(0.01).is_ok());
    assert!(DdSketch::new(MIN_ALPHA).is_ok());
    for alpha in [0.0, -0.1, 1.0, 2.0, f64::NAN, f64::INFINITY, 1e-9] {
        assert!(
            matches!(DdSketch::new(alpha), Err(SketchError::InvalidAlpha(_))),
            "{alpha}"
        );
    }
    for limit in [0, MAX_BIN_LIMIT + 1] {
        assert_eq!(
            DdSketch::with_bin_limit(0.01, limit).unwrap_err(),
            SketchError::InvalidBinLimit(limit)
        );
    }
    assert_eq!(DdSketch::default().alpha(), DEFAULT_ALPHA);
    assert_eq!(DdSketch::default().bin_limit(), DEFAULT_BIN_LIMIT);
}

#[test]
fn uniform_values_are_within_alpha() {
    let mut rng = SplitMix64(1);
    let values: Vec<f64> = (0..20_000).map(|_| rng.unit() * 1000.0).collect();
    assert_quantiles_within_alpha(&values);
    let integers: Vec<f64> = (1..=1000).map(f64::from).collect();
    assert_quantiles_within_alpha(&integers);
}

#[test]
fn exponential_and_lognormal_values_are_within_alpha() {
    let mut rng = SplitMix64(2);
    let exponential: Vec<f64> = (0..20_000)
        .map(|_| -(1.0 - rng.unit()).ln() * 0.25)
        .collect();
    assert_quantiles_within_alpha(&exponential);
    let lognormal: Vec<f64> = (0..20_000).map(|_| (3.0 * rng.normal()).exp()).collect();
    assert_quantiles_within_alpha(&lognormal);
}

#[test]
fn constant_values_are_exact() {
    let sketch = sketch_of(&[42.5; 1000]);
    for &q in QS {
        assert_eq!(sketch.quantile(q), Some(42.5), "q={q}");
    }
    let single = sketch_of(&[-3.0]);
    assert_eq!(single.quantile(0.5), Some(-3.0));
}

#[test]
fn negative_values_are_within_alpha() {
    let mut rng = SplitMix64(3);
    let values: Vec<f64> = (0..10_000).map(|_| -(2.0 * rng.normal()).exp()).collect();
    assert_quantiles_within_alpha(&values);
}

#[test]
fn mixed_signs_and_zeros_are_within_alpha() {
    let mut rng = SplitMix64(4);
    let mut values: Vec<f64> = (0..10_000).map(|_| rng.normal() * 100.0).collect();
    values.extend(std::iter::repeat_n(0.0, 2_000));
    values.extend([-0.0, 1e-12, -1e-12]);
    assert_quantiles_within_alpha(&values);
}

#[test]
fn zeros_and_tiny_values_count_as_zero() {
    let sketch = sketch_of(&[0.0; 10]);
    assert_eq!(sketch.quantile(0.5), Some(0.0));
    let tiny = sketch_of(&[1e-12, 5e-10, -3e-11]);
    assert_eq!(tiny.count(), 3);
    assert_eq!(tiny.quantile(0.5), Some(0.0));
    assert_eq!(tiny.quantile(1.0), Some(5e-10));
    assert_eq!(tiny.quantile(0.0), Some(-3e-11));
    // All values in the zero bucket but positive: the clamp returns the min.
    assert_eq!(sketch_of(&[5e-10, 6e-10]).quantile(0.5), Some(5e-10));
}

#[test]
fn non_finite_values_are_ignored() {
    let sketch = sketch_of(&[f64::NAN, f64::INFINITY, 1.0, f64::NEG_INFINITY, 2.0]);
    assert_eq!(sketch.count(), 2);
    assert_eq!(sketch.min(), Some(1.0));
    assert_eq!(sketch.max(), Some(2.0));
    assert_eq!(sketch.sum(), 3.0);
}

#[test]
fn extreme_finite_values_stay_in_range() {
    // 1e-9 .. f64::MAX spans ~36,500 buckets: the positive store collapses,
    // but nothing overflows and the extremes stay exact.
    let values = [f64::MAX, -f64::MAX, f64::MIN_POSITIVE, 1e-9, 1e300, 1e301];
    let sketch = sketch_of(&values);
    for &q in QS {
        let estimate = sketch.quantile(q).expect("non-empty");
        assert!(estimate.is_finite(), "q={q}: {estimate}");
    }
    assert_eq!(sketch.quantile(0.0), Some(-f64::MAX));
    assert_eq!(sketch.quantile(1.0), Some(f64::MAX));
    // The top buckets are intact: rank 4 is 1e301.
    assert!(within_alpha(
        sketch.quantile(0.8).expect("non-empty"),
        1e301,
        0.01
    ));
    // Without collapsing (1e-9 .. 1e8 fits in 2048 buckets), every rank holds.
    assert_quantiles_within_alpha(&[1e-9, 2e-9, -1e-9, 1e8, -1e8, 0.5]);
}

#[test]
fn out_of_range_q_gives_none_and_bounds_are_exact() {
    let sketch = sketch_of(&[1.0, 2.0, 3.0, 1000.0]);
    assert_eq!(sketch.quantile(-0.1), None);
    assert_eq!(sketch.quantile(1.1), None);
    assert_eq!(sketch.quantile(f64::NAN), None);
    assert_eq!(sketch.quantile(0.0), Some(1.0));
    assert_eq!(sketch.quantile(1.0), Some(1000.0));
}

#[test]
fn merge_equals_sketch_of_union() {
    let mut rng = SplitMix64(5);
    let values: Vec<f64> = (0..5_000)
        .map(|_| rng.normal() * (3.0 * rng.normal()).exp())
        .collect();
    let whole = sketch_of(&values);
    let mut merged = DdSketch::default();
    for chunk in values.chunks(777) {
        merged.merge(&sketch_of(chunk)).expect("same alpha");
    }
    merged.merge(&DdSketch::default()).expect("same alpha");
    assert_same_buckets(&merged, &whole);
    for &q in QS {
        assert_eq!(merged.quantile(q), whole.quantile(q), "q={q}");
    }
}

fn assert_same_buckets(left: &DdSketch, right: &DdSketch) {
    assert_eq!(left.positive, right.positive);
    assert_eq!(left.negative, right.negative);
    assert_eq!(left.zero_count, right.zero_count);
    assert_eq!(left.count(), right.count());
    assert_eq!(left.min(), right.min());
    assert_eq!(left.max(), right.max());
    assert!((left.sum() - right.sum()).abs() <= 1e-9 * right.sum().abs().max(1.0));
}

#[test]
fn merge_rejects_different_alpha() {
    let mut left = sketch_of(&[1.0]);
    let mut right = DdSketch::new(0.02).expect("valid");
    right.add(5.0);
    assert!(matches!(
        left.merge(&right),
        Err(SketchError::AlphaMismatch { .. })
    ));
    assert_eq!(
        left.count(),
        1,
        "a failed merge leaves the sketch unchanged"
    );
}

#[test]
fn collapsing_bounds_memory_and_keeps_the_high_tail() {
    let limit = 64;
    let mut sketch = DdSketch::with_bin_limit(0.01, limit).expect("valid");
    // 1e-6 .. 1e6: about 1380 buckets at alpha = 0.01, far above the limit.
    let values: Vec<f64> = (0..=1200)
        .map(|i| 10f64.powf(-6.0 + f64::from(i) * 0.01))
        .collect();
    for &value in &values {
        sketch.add(value);
    }
    assert!(sketch.positive.counts.len() <= limit);
    assert_eq!(sketch.count(), values.len() as u64);
    let sorted = values.clone();
    // The top 64 buckets (a factor gamma^64 ~ 3.6) are intact: p99 and up hold.
    for q in [0.99, 0.995, 0.999] {
        let exact = exact_quantile(&sorted, q);
        let estimate = sketch.quantile(q).expect("non-empty");
        assert!(
            within_alpha(estimate, exact, 0.01),
            "q={q}: {estimate} vs {exact}"
        );
    }
    // Low quantiles were collapsed upwards: overestimated, never under.
    let exact = exact_quantile(&sorted, 0.1);
    let estimate = sketch.quantile(0.1).expect("non-empty");
    assert!(estimate > exact * 1.5, "{estimate} vs {exact}");
    // The exact min survives collapsing.
    assert_eq!(sketch.quantile(0.0), Some(1e-6));
}

#[test]
fn collapsing_negative_store_folds_values_near_zero() {
    let limit = 32;
    let mut sketch = DdSketch::with_bin_limit(0.01, limit).expect("valid");
    let values: Vec<f64> = (0..=600)
        .map(|i| -(10f64.powf(-3.0 + f64::from(i) * 0.01)))
        .collect();
    for &value in &values {
        sketch.add(value);
    }
    assert!(sketch.negative.counts.len() <= limit);
    let mut sorted = values.clone();
    sorted.sort_by(f64::total_cmp);
    // Large |x| (the low quantiles) are intact.
    let exact = exact_quantile(&sorted, 0.01);
    assert!(within_alpha(
        sketch.quantile(0.01).expect("non-empty"),
        exact,
        0.01
    ));
    // Near zero (high quantiles) comes out too negative.
    let exact = exact_quantile(&sorted, 0.9);
    let estimate = sketch.quantile(0.9).expect("non-empty");
    assert!(estimate < exact * 1.5, "{estimate} vs {exact}");
}

#[test]
fn merge_is_exact_after_collapsing() {
    let mut rng = SplitMix64(6);
    let values: Vec<f64> = (0..3_000)
        .map(|_| (20.0 * rng.normal()).exp() * rng.normal().signum())
        .collect();
    let build = |chunk: &[f64]| {
        let mut sketch = DdSketch::with_bin_limit(0.01, 100).expect("valid");
        for &value in chunk {
            sketch.add(value);
        }
        sketch
    };
    let whole = build(&values);
    assert_eq!(whole.positive.counts.len(), 100, "the test must collapse");
    let mut merged = build(&[]);
    // Reverse chunk order, so merges arrive in a different order than adds.
    for chunk in values.chunks(211).rev() {
        merged.merge(&build(chunk)).expect("same alpha");
    }
    assert_same_buckets(&merged, &whole);
}

#[test]
fn bytes_round_trip() {
    let mut rng = SplitMix64(7);
    let mut values: Vec<f64> = (0..2_000).map(|_| rng.normal() * 50.0).collect();
    values.extend([0.0, 0.0, 1e-12]);
    let mut collapsed = DdSketch::with_bin_limit(0.02, 8).expect("valid");
    for &value in &values {
        collapsed.add(value);
    }
    for sketch in [
        DdSketch::default(),
        sketch_of(&values),
        sketch_of(&[7.0]),
        collapsed,
    ] {
        let bytes = sketch.to_bytes();
        let decoded = DdSketch::from_bytes(&bytes).expect("round trip");
        assert_same_buckets(&decoded, &sketch);
        assert_eq!(decoded.sum().to_bits(), sketch.sum().to_bits());
        assert_eq!(decoded.alpha(), sketch.alpha());
        assert_eq!(decoded.bin_limit(), sketch.bin_limit());
        assert_eq!(decoded.to_bytes(), bytes);
        for &q in QS {
            assert_eq!(decoded.quantile(q), sketch.quantile(q));
        }
    }
    assert_eq!(DdSketch::default().to_bytes().len(), 46);
}

#[test]
fn garbage_bytes_are_rejected() {
    let valid = sketch_of(&[-5.0, 0.0, 1.0, 2.0, 300.0]).to_bytes();
    for len in 0..valid.len() {
        assert!(
            DdSketch::from_bytes(&valid[..len]).is_err(),
            "prefix of {len} bytes"
        );
    }
    let mut trailing = valid.clone();
    trailing.push(0);
    assert_eq!(
        DdSketch::from_bytes(&trailing).unwrap_err(),
        SketchError::Corrupt("trailing bytes")
    );
    let mut bad_magic = valid.clone();
    bad_magic[0] = b'X';
    assert_eq!(
        DdSketch::from_bytes(&bad_magic).unwrap_err(),
        SketchError::Corrupt("bad magic")
    );
    let mut bad_version = valid.clone();
    bad_version[4] = 9;
    assert_eq!(
        DdSketch::from_bytes(&bad_version).unwrap_err(),
        SketchError::UnsupportedVersion(9)
    );
    let mut bad_alpha = valid.clone();
    bad_alpha[5..13].copy_from_slice(&f64::NAN.to_le_bytes());
    assert!(matches!(
        DdSketch::from_bytes(&bad_alpha),
        Err(SketchError::InvalidAlpha(_))
    ));
    let mut bad_minmax = valid.clone();
    bad_minmax[17..25].copy_from_slice(&1e6f64.to_le_bytes());
    assert!(DdSketch::from_bytes(&bad_minmax).is_err(), "min > max");
    let mut huge_limit = valid.clone();
    huge_limit[13..17].copy_from_slice(&u32::MAX.to_le_bytes());
    assert!(DdSketch::from_bytes(&huge_limit).is_err());
    assert!(DdSketch::from_bytes(b"definitely not a sketch").is_err());
}

#[test]
fn flipped_bytes_never_panic() {
    let valid = sketch_of(&[-5.0, 0.0, 1.0, 2.0, 300.0, 1e9]).to_bytes();
    for index in 0..valid.len() {
        for bit in 0..8 {
            let mut corrupted = valid.clone();
            corrupted[index] ^= 1 << bit;
            if let Ok(sketch) = DdSketch::from_bytes(&corrupted) {
                // Whatever decoded must still answer without panicking.
                for &q in QS {
                    let _ = sketch.quantile(q);
                }
                let _ = sketch.to_bytes();
            }
        }
    }
}

/// Finite values of both signs and many magnitudes, with |x| in
/// `[1e-9, 1e8]` or 0: that range needs ln(1e17) / ln(gamma) ~ 1955 buckets,
/// under the 2048 limit, so nothing collapses and the guarantee must hold
/// at every rank.
fn value_strategy() -> impl Strategy<Value = f64> {
    prop_oneof![
        1 => Just(0.0),
        8 => -1e6..1e6f64,
        4 => (-9.0..8.0f64, any::<bool>()).prop_map(|(exp, neg)| {
            let magnitude = 10f64.powf(exp);
            if neg { -magnitude } else { magnitude }
        }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn quantiles_are_within_alpha(
        values in prop::collection::vec(value_strategy(), 1..400),
        q in 0.0..=1.0f64,
    ) {
        let sketch = sketch_of(&values);
        let mut sorted = values.clone();
        sorted.sort_by(f64::total_cmp);
        let exact = exact_quantile(&sorted, q);
        let estimate = sketch.quantile(q).expect("non-empty");
        prop_assert!(within_alpha(estimate, exact, sketch.alpha()), "q={} {} vs {}", q, estimate, exact);
    }

    #[test]
    fn merge_of_halves_equals_whole(
        values in prop::collection::vec(value_strategy(), 0..300),
        split in 0usize..300,
    ) {
        let split = split.min(values.len());
        let (left, right) = values.split_at(split);
        let mut merged = sketch_of(left);
        merged.merge(&sketch_of(right)).expect("same alpha");
        let whole = sketch_of(&values);
        prop_assert_eq!(&merged.positive, &whole.positive);
        prop_assert_eq!(&merged.negative, &whole.negative);
        prop_assert_eq!(merged.zero_count, whole.zero_count);
        prop_assert_eq!(merged.min(), whole.min());
        prop_assert_eq!(merged.max(), whole.max());
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        let _ = DdSketch::from_bytes(&bytes);
        let mut prefixed = DdSketch::default().to_bytes()[..5].to_vec();
        prefixed.extend_from_slice(&bytes);
        if let Ok(sketch) = DdSketch::from_bytes(&prefixed) {
            let _ = sketch.quantile(0.5);
        }
    }
}
