//! Per-series transformations on bucket values: `.fill()` and the wrapper
//! functions (`abs`, `log10`, `cumsum`, `diff`, `per_second`,
//! `per_minute`).
//!
//! Values are `Option<f64>`: `None` is a bucket without data (left out of
//! the answer's pointlist), NaN a bucket whose value is undefined (shown as
//! `null`).

use crate::ast::{Fill, FillMethod, Function};

/// Fills empty buckets in place.
///
/// A bucket without data at time `t` is filled only if some earlier bucket
/// holds real data and the latest such bucket, at `t0`, satisfies
/// `t - t0 <= limit_s` ("up to X seconds after real samples", Datadog's
/// `metrics/guide/interpolation-the-fill-modifier-explained`). Then:
/// `zero` puts 0; `last` repeats the value at `t0`; `linear` interpolates
/// between `t0` and the next bucket with real data, and leaves the bucket
/// empty if there is none. `null` fills nothing. Buckets before the first
/// real value are never filled. Filled values never count as real data.
pub(crate) fn fill(values: &mut [Option<f64>], fill: Fill, interval_s: i64) {
    if fill.method == FillMethod::Null {
        return;
    }
    let next_real = next_real_values(values);
    let mut last_real: Option<(usize, f64)> = None;
    for ((i, slot), next) in values.iter_mut().enumerate().zip(next_real) {
        if let Some(value) = *slot {
            last_real = Some((i, value));
            continue;
        }
        let Some((j, before)) = last_real else {
            continue;
        };
        let distance_s = i64::try_from(i - j)
            .unwrap_or(i64::MAX)
            .saturating_mul(interval_s);
        if distance_s > fill.limit_s {
            continue;
        }
        *slot = match fill.method {
            FillMethod::Null => None,
            FillMethod::Zero => Some(0.0),
            FillMethod::Last => Some(before),
            FillMethod::Linear => next.map(|(k, after)| {
                let fraction = (i - j) as f64 / (k - j) as f64;
                before + (after - before) * fraction
            }),
        };
    }
}

/// For each bucket, the first bucket at or after it holding a value.
fn next_real_values(values: &[Option<f64>]) -> Vec<Option<(usize, f64)>> {
    let mut out = vec![None; values.len()];
    let mut next = None;
    for ((i, value), slot) in values.iter().enumerate().zip(out.iter_mut()).rev() {
        if let Some(v) = value {
            next = Some((i, *v));
        }
        *slot = next;
    }
    out
}

/// Applies a wrapper function in place (`timeshift` needs nothing here:
/// its argument was evaluated on a shifted grid).
///
/// - `abs`, `log10`: per value (`log10` of a value <= 0 is NaN);
/// - `cumsum`: running sum over the buckets with a finite value;
/// - `diff`: value minus the previous finite value (an earlier bucket, not
///   necessarily the adjacent one); empty for the first;
/// - `per_second` / `per_minute`: that difference divided by the seconds
///   (minutes) between the two buckets.
///
/// These run after space aggregation, on the query's result series (Datadog
/// runs `diff` before space aggregation; the results differ only when
/// series start or stop inside the window).
pub(crate) fn apply_function(function: Function, values: &mut [Option<f64>], interval_s: i64) {
    match function {
        Function::Abs => map_values(values, f64::abs),
        Function::Log10 => map_values(values, |v| if v > 0.0 { v.log10() } else { f64::NAN }),
        Function::Cumsum => cumsum(values),
        Function::Diff => differences(values, interval_s, None),
        Function::PerSecond => differences(values, interval_s, Some(1.0)),
        Function::PerMinute => differences(values, interval_s, Some(60.0)),
        Function::Timeshift(_) => {}
    }
}

/// Applies `f` to every value (NaN stays NaN).
pub(crate) fn map_values(values: &mut [Option<f64>], f: impl Fn(f64) -> f64) {
    for value in values.iter_mut().flatten() {
        *value = finite_or_nan(f(*value));
    }
}

/// Infinite results (overflow, division by zero) become NaN: undefined.
pub(crate) fn finite_or_nan(value: f64) -> f64 {
    if value.is_finite() {
        value
    } else {
        f64::NAN
    }
}

fn cumsum(values: &mut [Option<f64>]) {
    let mut total = 0.0;
    for value in values.iter_mut().flatten() {
        if value.is_finite() {
            total += *value;
            *value = finite_or_nan(total);
        }
    }
}

/// `per = None`: plain differences; `Some(unit_s)`: change per `unit_s`.
fn differences(values: &mut [Option<f64>], interval_s: i64, per: Option<f64>) {
    let mut previous: Option<(usize, f64)> = None;
    for (i, slot) in values.iter_mut().enumerate() {
        let Some(value) = *slot else {
            continue;
        };
        if !value.is_finite() {
            continue;
        }
        *slot = previous.map(|(j, before)| {
            let delta = value - before;
            match per {
                None => finite_or_nan(delta),
                Some(unit_s) => {
                    finite_or_nan(delta * unit_s / ((i - j) as f64 * interval_s as f64))
                }
            }
        });
        previous = Some((i, value));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filled(values: &[Option<f64>], method: FillMethod, limit_s: i64) -> Vec<Option<f64>> {
        let mut values = values.to_vec();
        fill(&mut values, Fill { method, limit_s }, 10);
        values
    }

    #[test]
    fn fill_methods() {
        let v = [None, Some(1.0), None, None, Some(4.0), None, None, None];
        assert_eq!(filled(&v, FillMethod::Null, 300), v.to_vec());
        assert_eq!(
            filled(&v, FillMethod::Zero, 300),
            vec![
                None,
                Some(1.0),
                Some(0.0),
                Some(0.0),
                Some(4.0),
                Some(0.0),
                Some(0.0),
                Some(0.0)
            ]
        );
        assert_eq!(
            filled(&v, FillMethod::Last, 20),
            vec![
                None,
                Some(1.0),
                Some(1.0),
                Some(1.0),
                Some(4.0),
                Some(4.0),
                Some(4.0),
                None
            ]
        );
        assert_eq!(
            filled(&v, FillMethod::Linear, 300),
            vec![
                None,
                Some(1.0),
                Some(2.0),
                Some(3.0),
                Some(4.0),
                None,
                None,
                None
            ]
        );
        assert_eq!(
            filled(&v, FillMethod::Linear, 10),
            vec![
                None,
                Some(1.0),
                Some(2.0),
                None,
                Some(4.0),
                None,
                None,
                None
            ]
        );
    }

    #[test]
    fn functions() {
        let mut v = vec![Some(-1.0), None, Some(3.0), Some(10.0)];
        apply_function(Function::Abs, &mut v, 10);
        assert_eq!(v, vec![Some(1.0), None, Some(3.0), Some(10.0)]);
        let mut c = v.clone();
        apply_function(Function::Cumsum, &mut c, 10);
        assert_eq!(c, vec![Some(1.0), None, Some(4.0), Some(14.0)]);
        let mut d = v.clone();
        apply_function(Function::Diff, &mut d, 10);
        assert_eq!(d, vec![None, None, Some(2.0), Some(7.0)]);
        let mut p = v.clone();
        apply_function(Function::PerSecond, &mut p, 10);
        assert_eq!(p, vec![None, None, Some(0.1), Some(0.7)]);
        let mut m = v.clone();
        apply_function(Function::PerMinute, &mut m, 10);
        assert_eq!(m, vec![None, None, Some(6.0), Some(42.0)]);
        let mut l = vec![Some(100.0), Some(0.0)];
        apply_function(Function::Log10, &mut l, 10);
        assert_eq!(l[0], Some(2.0));
        assert!(l[1].unwrap().is_nan());
    }
}
