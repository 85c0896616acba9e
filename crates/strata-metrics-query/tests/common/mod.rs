//! A naive reference evaluator over raw points, written independently of
//! the crate's push-down evaluator: it buckets raw points itself, applies
//! the documented time aggregation per point list, groups by scanning tags
//! and joins by searching. Only the parser, scope matching and the interval
//! table (all tested on their own) are shared.
#![allow(dead_code)]

use strata_metrics::{MetricType, Point, SeriesKey, Sketch};
use strata_metrics_query::memory::MemorySource;
use strata_metrics_query::{
    effective_interval, parse, BinaryOp, Expr, FillMethod, Function, MetricQuery, QueryResponse,
    RollupAgg, SpaceAgg, TypeModifier,
};

/// Raw data of one series. For distributions, `values` holds each
/// timestamp's raw values (one sketch per timestamp).
#[derive(Debug, Clone)]
pub struct RawSeries {
    pub key: SeriesKey,
    pub kind: MetricType,
    pub interval_s: u32,
    pub points: Vec<Point>,
    pub dist: Vec<(i64, Vec<f64>)>,
}

/// Relative tolerance for `strata_metrics::Sketch` quantiles against the
/// exact rank statistic. The sketch's bins are `γ = 1 + 2/128` wide and
/// `quantile` interpolates inside the bin, so estimates land up to about one
/// bin width (2/128) from the exact value: 20,000 random sets measured a
/// worst case of 2.06/128. Hence 3/128, not the nominal 1/128.
pub const SKETCH_TOLERANCE: f64 = 3.0 / 128.0;

/// One expected answer series: (query index, tag set, pointlist).
pub type Answer = Vec<(usize, Vec<String>, Vec<(i64, Option<f64>)>)>;

pub fn key(metric: &str, host: &str, tags: &[&str]) -> SeriesKey {
    SeriesKey::new(metric, host, tags.iter().map(|t| t.to_string()).collect()).unwrap()
}

pub fn source_of(data: &[RawSeries]) -> MemorySource {
    let mut source = MemorySource::new();
    for series in data {
        if series.kind == MetricType::Distribution {
            let sketches: Vec<(i64, Sketch)> = series
                .dist
                .iter()
                .map(|(ts, values)| (*ts, Sketch::from_values(values)))
                .collect();
            source.push_sketches(series.key.clone(), &sketches);
        } else {
            source.push_points(
                series.key.clone(),
                series.kind,
                series.interval_s,
                &series.points,
            );
        }
    }
    source
}

/// The answer's series as comparable tuples.
pub fn answer_of(response: &QueryResponse) -> Answer {
    response
        .series
        .iter()
        .map(|s| (s.query_index, s.tag_set.clone(), s.pointlist.clone()))
        .collect()
}

struct Window {
    start: i64,
    interval: i64,
    buckets: usize,
    to: i64,
}

impl Window {
    fn shifted(&self, shift: i64) -> Window {
        Window {
            start: self.start + shift,
            to: self.to + shift,
            ..*self
        }
    }
}

pub fn reference(data: &[RawSeries], query: &str, from: i64, to: i64) -> Answer {
    let parsed = parse(query).unwrap();
    let mut out = Vec::new();
    for (index, expression) in parsed.expressions.iter().enumerate() {
        let interval = effective_interval(to - from, expression.expr.max_rollup_interval());
        let mut start = from;
        while start % interval != 0 {
            start += 1;
        }
        let buckets = if start > to {
            0
        } else {
            ((to - start) / interval + 1) as usize
        };
        let window = Window {
            start,
            interval,
            buckets,
            to,
        };
        let Value::Groups(groups) = eval(data, &expression.expr, &window) else {
            panic!("no metric query");
        };
        for (tag_set, values) in groups {
            let points: Vec<(i64, Option<f64>)> = values
                .iter()
                .enumerate()
                .filter_map(|(i, v)| {
                    let v = (*v)?;
                    Some((
                        (start + i as i64 * interval) * 1000,
                        if v.is_finite() { Some(v) } else { None },
                    ))
                })
                .collect();
            if !points.is_empty() {
                out.push((index, tag_set, points));
            }
        }
    }
    out
}

enum Value {
    Number(f64),
    Groups(Vec<(Vec<String>, Vec<Option<f64>>)>),
}

fn eval(data: &[RawSeries], expr: &Expr, window: &Window) -> Value {
    match expr {
        Expr::Metric(query) => Value::Groups(eval_metric(data, query, window)),
        Expr::Number(x) => Value::Number(*x),
        Expr::Neg(inner) => apply(eval(data, inner, window), |v| -v),
        Expr::Binary { op, lhs, rhs } => {
            binary(*op, eval(data, lhs, window), eval(data, rhs, window))
        }
        Expr::Call { function, arg } => {
            let inner = match function {
                Function::Timeshift(shift) => eval(data, arg, &window.shifted(*shift)),
                _ => eval(data, arg, window),
            };
            let Value::Groups(groups) = inner else {
                return inner;
            };
            Value::Groups(
                groups
                    .into_iter()
                    .map(|(tags, values)| (tags, call(*function, &values, window.interval)))
                    .collect(),
            )
        }
    }
}

fn defined(v: f64) -> f64 {
    if v.is_finite() {
        v
    } else {
        f64::NAN
    }
}

fn apply(value: Value, f: impl Fn(f64) -> f64) -> Value {
    match value {
        Value::Number(x) => Value::Number(defined(f(x))),
        Value::Groups(groups) => Value::Groups(
            groups
                .into_iter()
                .map(|(tags, values)| {
                    (
                        tags,
                        values
                            .into_iter()
                            .map(|v| v.map(|x| defined(f(x))))
                            .collect(),
                    )
                })
                .collect(),
        ),
    }
}

fn op_apply(op: BinaryOp, a: f64, b: f64) -> f64 {
    defined(match op {
        BinaryOp::Add => a + b,
        BinaryOp::Sub => a - b,
        BinaryOp::Mul => a * b,
        BinaryOp::Div => a / b,
    })
}

fn binary(op: BinaryOp, lhs: Value, rhs: Value) -> Value {
    match (lhs, rhs) {
        (Value::Number(a), Value::Number(b)) => Value::Number(op_apply(op, a, b)),
        (groups @ Value::Groups(_), Value::Number(b)) => apply(groups, |a| op_apply(op, a, b)),
        (Value::Number(a), groups @ Value::Groups(_)) => apply(groups, |b| op_apply(op, a, b)),
        (Value::Groups(l), Value::Groups(r)) => {
            let pair = |a: &[Option<f64>], b: &[Option<f64>]| -> Vec<Option<f64>> {
                (0..a.len())
                    .map(|i| match (a[i], b[i]) {
                        (Some(x), Some(y)) => Some(op_apply(op, x, y)),
                        _ => None,
                    })
                    .collect()
            };
            let mut out = Vec::new();
            if r.len() == 1 && r[0].0.is_empty() {
                for (tags, values) in &l {
                    out.push((tags.clone(), pair(values, &r[0].1)));
                }
            } else if l.len() == 1 && l[0].0.is_empty() {
                for (tags, values) in &r {
                    out.push((tags.clone(), pair(&l[0].1, values)));
                }
            } else {
                for (tags, values) in &l {
                    let mut wanted = tags.clone();
                    wanted.sort();
                    for (other_tags, other_values) in &r {
                        let mut have = other_tags.clone();
                        have.sort();
                        if have == wanted {
                            out.push((tags.clone(), pair(values, other_values)));
                        }
                    }
                }
            }
            Value::Groups(out)
        }
    }
}

fn call(function: Function, values: &[Option<f64>], interval: i64) -> Vec<Option<f64>> {
    let mut out = values.to_vec();
    match function {
        Function::Abs => out.iter_mut().flatten().for_each(|v| *v = v.abs()),
        Function::Log10 => out
            .iter_mut()
            .flatten()
            .for_each(|v| *v = if *v > 0.0 { v.log10() } else { f64::NAN }),
        Function::Cumsum => {
            let mut total = 0.0;
            for v in out.iter_mut().flatten() {
                if v.is_finite() {
                    total += *v;
                    *v = total;
                }
            }
        }
        Function::Diff | Function::PerSecond | Function::PerMinute => {
            for i in 0..values.len() {
                let Some(v) = values[i] else { continue };
                if !v.is_finite() {
                    continue;
                }
                let previous = (0..i)
                    .rev()
                    .find_map(|j| values[j].filter(|p| p.is_finite()).map(|p| (j, p)));
                out[i] = previous.map(|(j, p)| {
                    let seconds = ((i - j) as i64 * interval) as f64;
                    defined(match function {
                        Function::Diff => v - p,
                        Function::PerSecond => (v - p) / seconds,
                        _ => (v - p) * 60.0 / seconds,
                    })
                });
            }
        }
        Function::Timeshift(_) => {}
    }
    out
}

/// The group tag sets of a series, by brute force over all value choices.
fn group_sets(key: &SeriesKey, by: &[String]) -> Vec<Vec<String>> {
    let mut sets = vec![Vec::new()];
    for k in by {
        let mut values: Vec<String> = key
            .tags
            .iter()
            .filter(|t| t.starts_with(&format!("{k}:")))
            .map(|t| t[k.len() + 1..].to_string())
            .collect();
        if k == "host" && !key.host.is_empty() {
            values.push(key.host.clone());
        }
        values.sort();
        values.dedup();
        if values.is_empty() {
            values.push("N/A".to_string());
        }
        let mut next = Vec::new();
        for set in &sets {
            for v in &values {
                let mut s: Vec<String> = set.clone();
                s.push(format!("{k}:{v}"));
                next.push(s);
            }
        }
        sets = next;
    }
    sets
}

fn in_bucket(window: &Window, i: usize, ts: i64) -> bool {
    let start = window.start + i as i64 * window.interval;
    ts >= start && ts < start + window.interval && ts <= window.to
}

fn eval_metric(
    data: &[RawSeries],
    query: &MetricQuery,
    window: &Window,
) -> Vec<(Vec<String>, Vec<Option<f64>>)> {
    let selected: Vec<&RawSeries> = data
        .iter()
        .filter(|s| s.key.metric == query.metric && query.scope.matches(&s.key))
        .filter(|s| {
            (0..window.buckets).any(|i| {
                s.points.iter().any(|p| in_bucket(window, i, p.ts_s))
                    || s.dist
                        .iter()
                        .any(|(ts, v)| !v.is_empty() && in_bucket(window, i, *ts))
            })
        })
        .collect();
    let mut group_names: Vec<Vec<String>> = selected
        .iter()
        .flat_map(|s| group_sets(&s.key, &query.group_by))
        .collect();
    group_names.sort();
    group_names.dedup();
    let is_dist = selected.iter().any(|s| s.kind == MetricType::Distribution);
    let per_series: Vec<Vec<Option<f64>>> = selected
        .iter()
        .map(|s| time_aggregate(s, query, window))
        .collect();
    let mut out = Vec::new();
    for name in group_names {
        let members: Vec<usize> = (0..selected.len())
            .filter(|&m| group_sets(&selected[m].key, &query.group_by).contains(&name))
            .collect();
        let mut values: Vec<Option<f64>> = (0..window.buckets)
            .map(|i| {
                if is_dist {
                    let raw: Vec<f64> = members
                        .iter()
                        .flat_map(|&m| selected[m].dist.iter())
                        .filter(|(ts, _)| in_bucket(window, i, *ts))
                        .flat_map(|(_, v)| v.iter().copied())
                        .collect();
                    distribution_value(query.space_agg.unwrap_or(SpaceAgg::Avg), raw)
                } else {
                    let vals: Vec<f64> = members.iter().filter_map(|&m| per_series[m][i]).collect();
                    space(query.space_agg.unwrap_or(SpaceAgg::Avg), &vals)
                }
            })
            .collect();
        if is_dist {
            fill(&mut values, query, window.interval);
        }
        out.push((name, values));
    }
    out
}

fn space(agg: SpaceAgg, vals: &[f64]) -> Option<f64> {
    if vals.is_empty() {
        return None;
    }
    Some(match agg {
        SpaceAgg::Avg => vals.iter().sum::<f64>() / vals.len() as f64,
        SpaceAgg::Sum => vals.iter().sum(),
        SpaceAgg::Min => vals.iter().copied().fold(f64::INFINITY, f64::min),
        SpaceAgg::Max => vals.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        SpaceAgg::Count => vals.len() as f64,
        SpaceAgg::Percentile(_) => panic!("percentile on a non-distribution"),
    })
}

/// Exact statistics of raw distribution values; percentiles by rank
/// `round_half_even(q·(n−1))`, the rank the sketch estimates.
fn distribution_value(agg: SpaceAgg, mut raw: Vec<f64>) -> Option<f64> {
    if raw.is_empty() {
        return None;
    }
    raw.sort_by(f64::total_cmp);
    let n = raw.len();
    Some(match agg {
        SpaceAgg::Avg => raw.iter().sum::<f64>() / n as f64,
        SpaceAgg::Sum => raw.iter().sum(),
        SpaceAgg::Min => raw[0],
        SpaceAgg::Max => raw[n - 1],
        SpaceAgg::Count => n as f64,
        SpaceAgg::Percentile(p) => {
            let rank = (f64::from(p) / 100.0 * (n - 1) as f64).round_ties_even() as usize;
            raw[rank]
        }
    })
}

fn time_aggregate(series: &RawSeries, query: &MetricQuery, window: &Window) -> Vec<Option<f64>> {
    let explicit = query.rollup.and_then(|r| r.agg);
    let point_interval = if series.interval_s > 0 {
        f64::from(series.interval_s)
    } else {
        1.0
    };
    let w = window.interval as f64;
    let (default, scale) = match (series.kind, query.modifier) {
        (MetricType::Count, Some(TypeModifier::AsRate)) => (RollupAgg::Sum, 1.0 / w),
        (MetricType::Count, _) => (RollupAgg::Sum, 1.0),
        (MetricType::Rate, Some(TypeModifier::AsCount)) => (RollupAgg::Sum, point_interval),
        (MetricType::Rate, Some(TypeModifier::AsRate)) => (RollupAgg::Sum, point_interval / w),
        _ => (RollupAgg::Avg, 1.0),
    };
    let agg = explicit.unwrap_or(default);
    let mut values: Vec<Option<f64>> = (0..window.buckets)
        .map(|i| {
            let pts: Vec<f64> = series
                .points
                .iter()
                .filter(|p| in_bucket(window, i, p.ts_s))
                .map(|p| p.value)
                .collect();
            if pts.is_empty() {
                return None;
            }
            let v = match agg {
                RollupAgg::Avg => pts.iter().sum::<f64>() / pts.len() as f64,
                RollupAgg::Sum => pts.iter().sum(),
                RollupAgg::Min => pts.iter().copied().fold(f64::INFINITY, f64::min),
                RollupAgg::Max => pts.iter().copied().fold(f64::NEG_INFINITY, f64::max),
                RollupAgg::Count => pts.len() as f64,
            };
            Some(v * scale)
        })
        .collect();
    fill(&mut values, query, window.interval);
    values
}

fn fill(values: &mut [Option<f64>], query: &MetricQuery, interval: i64) {
    let Some(fill) = query.fill else { return };
    let original = values.to_vec();
    for i in 0..values.len() {
        if original[i].is_some() {
            continue;
        }
        let Some(j) = (0..i).rev().find(|&j| original[j].is_some()) else {
            continue;
        };
        if (i - j) as i64 * interval > fill.limit_s {
            continue;
        }
        let before = original[j].unwrap();
        values[i] = match fill.method {
            FillMethod::Null => None,
            FillMethod::Zero => Some(0.0),
            FillMethod::Last => Some(before),
            FillMethod::Linear => (i + 1..original.len())
                .find(|&k| original[k].is_some())
                .map(|k| {
                    before + (original[k].unwrap() - before) * (i - j) as f64 / (k - j) as f64
                }),
        };
    }
}

/// Whether two answers agree: same series in the same order, same
/// timestamps, values within `rel` relative (or 1e-9 absolute) error.
pub fn assert_close(got: &Answer, want: &Answer, rel: f64, context: &str) {
    assert_eq!(
        got.iter()
            .map(|(q, t, p)| (q, t, p.len()))
            .collect::<Vec<_>>(),
        want.iter()
            .map(|(q, t, p)| (q, t, p.len()))
            .collect::<Vec<_>>(),
        "series differ for {context}\n got: {got:?}\nwant: {want:?}"
    );
    for ((_, tags, got_points), (_, _, want_points)) in got.iter().zip(want) {
        for (g, w) in got_points.iter().zip(want_points) {
            assert_eq!(g.0, w.0, "timestamps differ in {tags:?} for {context}");
            let ok = match (g.1, w.1) {
                (None, None) => true,
                (Some(a), Some(b)) => (a - b).abs() <= 1e-9 + rel * b.abs().max(a.abs()),
                _ => false,
            };
            assert!(
                ok,
                "value at {} in {tags:?}: got {:?}, want {:?} for {context}",
                g.0, g.1, w.1
            );
        }
    }
}
