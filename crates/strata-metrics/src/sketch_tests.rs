use proptest::prelude::*;

use super::*;

// `f64::next_up`/`next_down` need Rust 1.86; the workspace allows 1.85.
// Only used on positive finite values here.
fn next_up(v: f64) -> f64 {
    if v < 0.0 {
        -next_down(-v)
    } else {
        f64::from_bits(v.to_bits() + 1)
    }
}

fn next_down(v: f64) -> f64 {
    if v < 0.0 {
        -next_up(-v)
    } else {
        f64::from_bits(v.to_bits() - 1)
    }
}

/// The true value the Agent's quantile aims at: rank `round_half_even(q(n−1))`.
fn exact_quantile(values: &[f64], q: f64) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let rank = (q * (sorted.len() - 1) as f64).round_ties_even() as usize;
    sorted[rank]
}

/// The bound the Agent's read-back gives (see the module docs):
/// `γ^−1 ≤ e/x ≤ γ^1.5` for `|x| ≥ norm_min`, absolute error below
/// `2·norm_min` otherwise.
fn assert_within_agent_bound(estimate: f64, exact: f64, q: f64) {
    if exact.abs() < norm_min() {
        assert!(
            (estimate - exact).abs() <= 2.0 * norm_min(),
            "q={q}: estimate {estimate} for tiny {exact}"
        );
        return;
    }
    let ratio = estimate / exact;
    let slack = 1e-12;
    assert!(
        ratio >= GAMMA.powf(-1.0) - slack && ratio <= GAMMA.powf(1.5) + slack,
        "q={q}: estimate {estimate} vs exact {exact} (ratio {ratio})"
    );
}

#[test]
fn constants_follow_the_agent_config() {
    assert_eq!(GAMMA, 1.015625);
    let emin = (MIN_VALUE.ln() / (2.0 * RELATIVE_ACCURACY).ln_1p()).floor() as i32;
    assert_eq!(emin, -1337);
    assert_eq!(KEY_BIAS, 1 - emin);
    // config.go: "sanity check": norm.min <= minValue.
    assert!(norm_min() <= MIN_VALUE);
    assert_eq!(norm_min(), key_value(1));
    // config_test.go "key": the boundary cases.
    assert_eq!(key(0.0), 0);
    assert_eq!(key(-0.0), 0);
    assert_eq!(key(next_down(norm_min())), 0);
    assert_eq!(key(norm_min()), 1);
    assert_eq!(key(next_up(norm_min())), 1);
    assert_eq!(key(norm_min() * GAMMA), 2);
    assert_eq!(key(key_value(MAX_KEY)), MAX_KEY);
    assert_eq!(key_value(INF_KEY), f64::INFINITY);
    assert_eq!(key_value(-INF_KEY), f64::NEG_INFINITY);
    // Agent TestConfig "config sanity": norm.max is above MaxUint64.
    assert!(key_value(MAX_KEY) > u64::MAX as f64);
}

#[test]
fn keys_of_known_values_are_pinned() {
    // Derived by hand: key = round_half_even(ln v / ln(1 + 1/64)) + 1338,
    // with ln(1 + 1/64) = 0.0155041865.
    //   ln 2 / 0.0155041865 = 44.707  -> 45  -> 1383
    //   ln 10 / …           = 148.514 -> 149 -> 1487
    //   ln 100 / …          = 297.028 -> 297 -> 1635
    //   ln 0.5 / …          = -44.707 -> -45 -> 1293
    //   ln 1e-3 / …         = -445.54 -> -446 -> 892
    //   ln 1e-9 / …         = -1336.6 -> -1337 -> 1
    let cases = [
        (1.0, 1338),
        (2.0, 1383),
        (10.0, 1487),
        (100.0, 1635),
        (0.5, 1293),
        (1e-3, 892),
        (1e-9, 1),
        (5e-10, 0),
        (-1.0, -1338),
        (-100.0, -1635),
        (1e300, INF_KEY),
        (-1e300, -INF_KEY),
        (f64::MAX, INF_KEY),
    ];
    for (v, k) in cases {
        assert_eq!(key(v), k, "key({v})");
    }
    assert_eq!(key_value(1338), 1.0);
    // γ^45 (and γ^149 ≈ 10.0757) as printed by an independent Python model.
    assert_eq!(key_value(1383), 2.009103080990281);
    assert_eq!(key_value(-1383), -2.009103080990281);
    assert!((key_value(1487) - 10.07567188411511).abs() < 1e-13);
    assert_eq!(key_value(0), 0.0);
}

#[test]
fn key_of_a_keys_value_is_the_key() {
    // Agent config_test.go "key(f64(k)) == k": exact except near 1, where
    // ln is inexact and the key must flip between the neighbouring ulps.
    for k in -MAX_KEY..=MAX_KEY {
        let v = key_value(k);
        if key(v) == k {
            continue;
        }
        assert!((0.5..=2.0).contains(&v.abs()), "k={k} v={v} key={}", key(v));
        assert_eq!(key(next_up(v)) - key(next_down(v)), 1, "k={k}");
    }
}

#[test]
fn empty_and_trivial_sketches() {
    let empty = Sketch::new();
    assert!(empty.is_empty());
    assert_eq!(empty.quantile(0.5), None);
    assert_eq!(empty.avg(), None);
    assert_eq!(empty, Sketch::default());

    let mut one = Sketch::new();
    one.insert(f64::NAN);
    one.insert(f64::INFINITY);
    one.insert_n(3.0, 0);
    assert!(one.is_empty());
    one.insert(3.7);
    for q in [0.0, 0.1, 0.5, 0.99, 1.0] {
        assert_eq!(one.quantile(q), Some(3.7), "q={q}");
    }
    assert_eq!(one.quantile(f64::NAN), None);
    assert_eq!(one.avg(), Some(3.7));
}

#[test]
fn quantiles_match_an_independent_model_of_the_agent() {
    // Expected values computed with a separate Python model of sparse.go's
    // Quantile (rank = round_half_even(q(n−1)), interpolate from
    // key_value(k) to key_value(k)·γ, first bin starts at min), clamped.
    let values: Vec<f64> = (1..=100).map(f64::from).collect();
    let s = Sketch::from_values(&values);
    let expected = [
        (0.25, 25.942412367820403),
        (0.5, 51.31911937625436),
        (0.9, 90.3775807304936),
        (0.95, 95.41452700754016),
        (0.99, 99.18842808205522),
    ];
    for (q, want) in expected {
        let got = s.quantile(q).unwrap();
        assert!((got - want).abs() <= 1e-12 * want, "q={q}: {got} != {want}");
    }
    assert_eq!(s.quantile(0.0), Some(1.0));
    assert_eq!(s.quantile(1.0), Some(100.0));
    assert_eq!(s.avg(), Some(50.5));

    let mixed = Sketch::from_values(&[-5.0, -1.0, 0.0, 0.5, 2.0, 2.0, 2.0, 10.0]);
    let keys: Vec<i32> = mixed.bins.iter().map(|b| b.key).collect();
    assert_eq!(keys, [-1442, -1338, 0, 1293, 1383, 1487]);
    assert_eq!(mixed.bins[4].n, 3);
    assert_eq!(mixed.quantile(0.1), Some(-1.0));
    assert_eq!(mixed.quantile(0.3), Some(0.0));
    let q9 = mixed.quantile(0.9).unwrap();
    assert!((q9 - 2.0300312380839296).abs() < 1e-12, "{q9}");
}

#[test]
fn insert_insert_n_and_from_values_agree() {
    let values = [0.3, 7.0, 7.0, 7.0, -2.5, 1e-12, 4e5, 7.0];
    let mut one_by_one = Sketch::new();
    for v in values {
        one_by_one.insert(v);
    }
    let batch = Sketch::from_values(&values);
    assert_eq!(one_by_one, batch);

    let mut weighted = Sketch::from_values(&[0.3, -2.5, 1e-12, 4e5]);
    weighted.insert_n(7.0, 4);
    assert_eq!(weighted.bins, batch.bins);
    assert_eq!(weighted.count, batch.count);
    assert_eq!((weighted.min, weighted.max), (batch.min, batch.max));
    assert!((weighted.sum - batch.sum).abs() < 1e-9);
}

#[test]
fn values_beyond_the_range_use_the_infinite_keys() {
    let s = Sketch::from_values(&[1.0, 1e250, -1e250]);
    let keys: Vec<i32> = s.bins.iter().map(|b| b.key).collect();
    assert_eq!(keys, [-INF_KEY, KEY_BIAS, INF_KEY]);
    assert_eq!(s.quantile(0.01), Some(-1e250));
    assert_eq!(s.quantile(0.99), Some(1e250));
    assert_eq!(s.quantile(0.5), Some(1.0));
}

#[test]
fn the_lowest_bins_collapse_at_the_limit() {
    // 5000 distinct keys, one value each: 1, γ, γ², …
    let values: Vec<f64> = (0..5000).map(|i| GAMMA.powi(i)).collect();
    let s = Sketch::from_values(&values);
    assert_eq!(s.bins.len(), BIN_LIMIT);
    assert_eq!(s.count, 5000);
    let total: u64 = s.bins.iter().map(|b| u64::from(b.n)).sum();
    assert_eq!(total, 5000);
    // The 904 lowest keys folded into the lowest kept one.
    assert_eq!(s.bins[0].key, KEY_BIAS + 904);
    assert_eq!(s.bins[0].n, 905);
    assert_eq!(s.bins.last().map(|b| b.key), Some(KEY_BIAS + 4999));
    // Upper quantiles keep the bound; low ones read high.
    assert_within_agent_bound(
        s.quantile(0.99).unwrap(),
        exact_quantile(&values, 0.99),
        0.99,
    );
    assert!(s.quantile(0.05).unwrap() > exact_quantile(&values, 0.05));
    assert_eq!(s.quantile(0.0), Some(1.0));

    // Inserting one at a time collapses the same way.
    let mut inc = Sketch::new();
    for v in &values {
        inc.insert(*v);
    }
    assert_eq!(inc.bins, s.bins);
}

#[test]
fn from_agent_normalises_and_round_trips() {
    let s = Sketch::from_values(&[1.0, 2.0, 2.0, -3.0, 0.0]);
    let (k, n) = s.to_agent_cols();
    let back = Sketch::from_agent(5, s.min, s.max, s.sum, &k, &n).unwrap();
    assert_eq!(back, s);

    // Unsorted, duplicated (the Agent splits bins above 65535) and zero counts.
    let got = Sketch::from_agent(
        65535 + 10 + 2,
        1.0,
        2.0,
        100.0,
        &[1383, 1338, 1383, 1500],
        &[65535, 2, 10, 0],
    )
    .unwrap();
    assert_eq!(
        got.bins,
        [
            Bin { key: 1338, n: 2 },
            Bin {
                key: 1383,
                n: 65545
            }
        ]
    );
    assert_eq!(got.count, 65547);

    let empty = Sketch::from_agent(0, f64::NAN, 5.0, 1.0, &[], &[]).unwrap();
    assert_eq!(empty, Sketch::new());
}

#[test]
fn from_agent_refuses_bad_sketches() {
    use SketchError::*;
    let f = Sketch::from_agent;
    assert_eq!(
        f(1, 1.0, 1.0, 1.0, &[1338], &[]),
        Err(LengthMismatch { keys: 1, counts: 0 })
    );
    assert_eq!(
        f(1, 1.0, 1.0, 1.0, &[40000], &[1]),
        Err(KeyOutOfRange(40000))
    );
    assert_eq!(
        f(1, 1.0, 1.0, 1.0, &[-32768], &[1]),
        Err(KeyOutOfRange(-32768))
    );
    assert_eq!(f(-1, 1.0, 1.0, 1.0, &[], &[]), Err(NegativeCount(-1)));
    assert_eq!(
        f(3, 1.0, 1.0, 1.0, &[1338], &[2]),
        Err(CountMismatch { count: 3, bins: 2 })
    );
    assert_eq!(
        f(2, f64::NAN, 1.0, 1.0, &[1338], &[2]),
        Err(NonFinite("min"))
    );
    assert_eq!(
        f(2, 1.0, f64::INFINITY, 1.0, &[1338], &[2]),
        Err(NonFinite("max"))
    );
    assert_eq!(
        f(2, 1.0, 1.0, f64::NAN, &[1338], &[2]),
        Err(NonFinite("sum"))
    );
    assert_eq!(
        f(2, 2.0, 1.0, 3.0, &[1338], &[2]),
        Err(MinAboveMax { min: 2.0, max: 1.0 })
    );
    // Extremes of the Agent's range are fine.
    assert!(f(2, -1e300, 1e300, 0.0, &[-32767, 32767], &[1, 1]).is_ok());
}

#[test]
fn merging_into_and_from_empty() {
    let s = Sketch::from_values(&[1.0, 5.0]);
    let mut e = Sketch::new();
    e.merge(&s);
    assert_eq!(e, s);
    let mut t = s.clone();
    t.merge(&Sketch::new());
    assert_eq!(t, s);
}

/// Distributions the accuracy property runs over.
fn distribution() -> impl Strategy<Value = Vec<f64>> {
    let uniform = prop::collection::vec(-1e6f64..1e6, 1..400);
    let log_uniform = prop::collection::vec((-9.0f64..9.0, any::<bool>()), 1..400).prop_map(|v| {
        v.into_iter()
            .map(|(e, neg)| if neg { -(10f64.powf(e)) } else { 10f64.powf(e) })
            .collect()
    });
    // Sum of four uniforms: roughly normal around 100, a few negatives.
    let normalish =
        prop::collection::vec(prop::array::uniform4(0.0f64..50.0), 1..400).prop_map(|v| {
            v.into_iter()
                .map(|a| a.iter().sum::<f64>() - 10.0)
                .collect()
        });
    // Exponential latencies with heavy duplication and exact zeros.
    let latencies = prop::collection::vec((0u32..1000, 0u8..10), 1..400).prop_map(|v| {
        v.into_iter()
            .map(|(u, z)| {
                if z == 0 {
                    0.0
                } else {
                    -(f64::from(u) / 1000.0 + 1e-3).ln() * 20.0
                }
            })
            .collect()
    });
    let integers = prop::collection::vec(0i32..50, 1..400)
        .prop_map(|v| v.into_iter().map(f64::from).collect());
    prop_oneof![uniform, log_uniform, normalish, latencies, integers]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn quantiles_stay_within_the_agent_bound(values in distribution(), q in 0.0f64..=1.0) {
        let s = Sketch::from_values(&values);
        let estimate = s.quantile(q).unwrap();
        assert_within_agent_bound(estimate, exact_quantile(&values, q), q);
        prop_assert!(estimate >= s.min && estimate <= s.max);
    }

    #[test]
    fn every_value_is_within_eps_of_its_key(v in 1e-9f64..1e200) {
        // The key alone is within γ^½ − 1 = 0.778 % < 1/128 of the value.
        let rel = (key_value(key(v)) - v).abs() / v;
        prop_assert!(rel <= GAMMA.sqrt() - 1.0 + 1e-12, "v={} rel={}", v, rel);
        prop_assert!(rel < RELATIVE_ACCURACY);
    }

    #[test]
    fn merge_is_exact(values in distribution(), split in any::<prop::sample::Index>()) {
        let cut = split.index(values.len() + 1);
        let (a, b) = values.split_at(cut);
        let mut merged = Sketch::from_values(a);
        merged.merge(&Sketch::from_values(b));
        let whole = Sketch::from_values(&values);
        prop_assert_eq!(&merged.bins, &whole.bins);
        prop_assert_eq!(merged.count, whole.count);
        prop_assert_eq!(merged.min, whole.min);
        prop_assert_eq!(merged.max, whole.max);
        prop_assert!((merged.sum - whole.sum).abs() <= 1e-9 * whole.sum.abs().max(1.0));
    }

    #[test]
    fn merge_is_exact_across_collapses(
        values in prop::collection::vec((-60.0f64..200.0, any::<bool>()), 1..3000),
        split in any::<prop::sample::Index>(),
    ) {
        // Values spanning ~500 decades per sign need far more than 4096 keys.
        let values: Vec<f64> = values
            .into_iter()
            .map(|(e, neg)| if neg { -(10f64.powf(e)) } else { 10f64.powf(e) })
            .collect();
        let cut = split.index(values.len() + 1);
        let (a, b) = values.split_at(cut);
        let mut merged = Sketch::from_values(a);
        merged.merge(&Sketch::from_values(b));
        let whole = Sketch::from_values(&values);
        prop_assert!(whole.bins.len() <= BIN_LIMIT);
        prop_assert_eq!(&merged.bins, &whole.bins);
        prop_assert_eq!(merged.count, whole.count);
    }

    #[test]
    fn from_agent_accepts_what_we_produce(values in distribution()) {
        let s = Sketch::from_values(&values);
        let (k, n) = s.to_agent_cols();
        let count = i64::try_from(s.count).unwrap();
        let back = Sketch::from_agent(count, s.min, s.max, s.sum, &k, &n).unwrap();
        prop_assert_eq!(back, s);
    }
}
