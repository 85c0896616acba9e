//! Evaluating whole queries: expressions, arithmetic and the answer.
//!
//! Every top-level expression is evaluated on one time grid (see
//! [`crate::interval`]); its interval is the largest explicit rollup
//! interval among its metric queries, or the default for the span.
//!
//! Arithmetic between two query results joins series on their group tag
//! sets (compared as sets): only series present on both sides give a
//! result, with the left side's tag set. If one side is a single ungrouped
//! series it is combined with every series of the other side
//! (`sum:a{*} by {host} / sum:a{*}`). A number applies to every series.
//! A bucket is empty if either side's is; division by zero and other
//! non-finite results are NaN, shown as `null`.

use std::collections::HashMap;

use crate::ast::{BinaryOp, Expr, Function, Query};
use crate::error::QueryError;
use crate::interval::{effective_interval, Grid, MAX_TIMESTAMP_S};
use crate::parse::parse;
use crate::response::{series_responses, QueryResponse};
use crate::series::{eval_metric, Series};
use crate::source::SeriesSource;
use crate::transform::{apply_function, finite_or_nan, map_values};

/// Parses and evaluates `query` over `[from_s, to_s]` (seconds, inclusive).
///
/// ```
/// use strata_metrics::{MetricType, Point, SeriesKey};
/// use strata_metrics_query::{memory::MemorySource, run};
///
/// let mut source = MemorySource::new();
/// let key = SeriesKey::new("system.cpu.idle", "h1", vec!["env:prod".into()]).unwrap();
/// let points: Vec<Point> = (0..60).map(|i| Point { ts_s: 1_000_000_200 + i * 60, value: 90.0 }).collect();
/// source.push_points(key, MetricType::Gauge, 0, &points);
///
/// let answer = run(&source, "avg:system.cpu.idle{env:prod} by {host}", 1_000_000_000, 1_000_003_600).unwrap();
/// assert_eq!(answer.series[0].tag_set, vec!["host:h1"]);
/// assert_eq!(answer.series[0].interval, 20);
/// assert_eq!(answer.series[0].pointlist[0], (1_000_000_200_000, Some(90.0)));
/// ```
pub fn run<S: SeriesSource>(
    source: &S,
    query: &str,
    from_s: i64,
    to_s: i64,
) -> Result<QueryResponse, QueryError> {
    let parsed = parse(query)?;
    evaluate(source, &parsed, query, from_s, to_s)
}

/// Evaluates an already parsed query; `query_text` is echoed in the answer.
pub fn evaluate<S: SeriesSource>(
    source: &S,
    query: &Query,
    query_text: &str,
    from_s: i64,
    to_s: i64,
) -> Result<QueryResponse, QueryError> {
    let in_range =
        (0..=MAX_TIMESTAMP_S).contains(&from_s) && (from_s..=MAX_TIMESTAMP_S).contains(&to_s);
    if !in_range {
        return Err(QueryError::InvalidRange { from_s, to_s });
    }
    let mut series = Vec::new();
    for (index, expression) in query.expressions.iter().enumerate() {
        let interval_s = effective_interval(to_s - from_s, expression.expr.max_rollup_interval());
        let grid = Grid::new(from_s, to_s, interval_s);
        let result = match eval_expr(source, &expression.expr, &grid)? {
            Value::Series(result) => result,
            // The parser refuses expressions without a metric query.
            Value::Scalar(_) => Vec::new(),
        };
        series.extend(series_responses(index, expression, &grid, result));
    }
    Ok(QueryResponse::new(query, query_text, from_s, to_s, series))
}

/// What a sub-expression evaluates to.
#[derive(Debug)]
enum Value {
    Scalar(f64),
    Series(Vec<Series>),
}

fn eval_expr<S: SeriesSource>(source: &S, expr: &Expr, grid: &Grid) -> Result<Value, QueryError> {
    match expr {
        Expr::Metric(query) => Ok(Value::Series(eval_metric(source, query, grid)?)),
        Expr::Number(x) => Ok(Value::Scalar(*x)),
        Expr::Neg(inner) => Ok(match eval_expr(source, inner, grid)? {
            Value::Scalar(x) => Value::Scalar(-x),
            Value::Series(mut series) => {
                for s in &mut series {
                    map_values(&mut s.values, |v| -v);
                }
                Value::Series(series)
            }
        }),
        Expr::Binary { op, lhs, rhs } => {
            let lhs = eval_expr(source, lhs, grid)?;
            let rhs = eval_expr(source, rhs, grid)?;
            Ok(combine(*op, lhs, rhs))
        }
        Expr::Call { function, arg } => {
            let arg_grid = match function {
                Function::Timeshift(shift_s) => grid.shifted(*shift_s),
                _ => *grid,
            };
            Ok(match eval_expr(source, arg, &arg_grid)? {
                Value::Series(mut series) => {
                    for s in &mut series {
                        apply_function(*function, &mut s.values, grid.interval_s);
                    }
                    Value::Series(series)
                }
                // The parser requires a metric query inside every call.
                scalar @ Value::Scalar(_) => scalar,
            })
        }
    }
}

fn combine(op: BinaryOp, lhs: Value, rhs: Value) -> Value {
    match (lhs, rhs) {
        (Value::Scalar(a), Value::Scalar(b)) => Value::Scalar(op.apply(a, b)),
        (Value::Series(mut series), Value::Scalar(b)) => {
            for s in &mut series {
                map_values(&mut s.values, |a| op.apply(a, b));
            }
            Value::Series(series)
        }
        (Value::Scalar(a), Value::Series(mut series)) => {
            for s in &mut series {
                map_values(&mut s.values, |b| op.apply(a, b));
            }
            Value::Series(series)
        }
        (Value::Series(lhs), Value::Series(rhs)) => Value::Series(join(op, lhs, rhs)),
    }
}

fn is_single_ungrouped(series: &[Series]) -> bool {
    matches!(series, [only] if only.tag_set.is_empty())
}

fn join(op: BinaryOp, lhs: Vec<Series>, rhs: Vec<Series>) -> Vec<Series> {
    if is_single_ungrouped(&rhs) {
        let Some(right) = rhs.first() else {
            return Vec::new();
        };
        return lhs
            .iter()
            .map(|left| zip(op, left, right, &left.tag_set))
            .collect();
    }
    if is_single_ungrouped(&lhs) {
        let Some(left) = lhs.first() else {
            return Vec::new();
        };
        return rhs
            .iter()
            .map(|right| zip(op, left, right, &right.tag_set))
            .collect();
    }
    let by_tags: HashMap<Vec<String>, &Series> =
        rhs.iter().map(|s| (sorted(&s.tag_set), s)).collect();
    lhs.iter()
        .filter_map(|left| {
            let right = by_tags.get(&sorted(&left.tag_set))?;
            Some(zip(op, left, right, &left.tag_set))
        })
        .collect()
}

fn sorted(tags: &[String]) -> Vec<String> {
    let mut tags = tags.to_vec();
    tags.sort_unstable();
    tags
}

fn zip(op: BinaryOp, lhs: &Series, rhs: &Series, tag_set: &[String]) -> Series {
    let values = lhs
        .values
        .iter()
        .zip(&rhs.values)
        .map(|(a, b)| match (a, b) {
            (Some(a), Some(b)) => Some(finite_or_nan(op.apply(*a, *b))),
            _ => None,
        })
        .collect();
    Series {
        tag_set: tag_set.to_vec(),
        values,
    }
}
