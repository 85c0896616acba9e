//! The parsed form of a metrics query.

use crate::scope::Scope;

/// A whole query: one or more comma-separated expressions, answered as
/// `query_index` 0, 1, …
#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    /// The expressions, in the order written.
    pub expressions: Vec<Expression>,
}

/// One top-level expression and the text it was written as.
#[derive(Debug, Clone, PartialEq)]
pub struct Expression {
    /// The parsed expression.
    pub expr: Expr,
    /// Its source text, trimmed (the response's `expression`).
    pub text: String,
}

/// An expression over metric queries and numbers.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    /// `avg:metric{scope} by {tags}.fn()…`
    Metric(MetricQuery),
    /// A number literal (`100`, `-3.5`, `1e3`).
    Number(f64),
    /// Unary minus applied to a non-literal.
    Neg(Box<Expr>),
    /// `lhs op rhs`, with `*` and `/` binding tighter than `+` and `-`,
    /// all left-associative.
    Binary {
        /// The operator.
        op: BinaryOp,
        /// Left operand.
        lhs: Box<Expr>,
        /// Right operand.
        rhs: Box<Expr>,
    },
    /// `function(arg[, …])`.
    Call {
        /// The function and its non-expression arguments.
        function: Function,
        /// The expression it applies to.
        arg: Box<Expr>,
    },
}

impl Expr {
    /// The metric queries in the expression, left to right.
    pub fn metric_queries(&self) -> Vec<&MetricQuery> {
        let mut out = Vec::new();
        self.collect_metric_queries(&mut out);
        out
    }

    fn collect_metric_queries<'a>(&'a self, out: &mut Vec<&'a MetricQuery>) {
        match self {
            Expr::Metric(query) => out.push(query),
            Expr::Number(_) => {}
            Expr::Neg(inner) | Expr::Call { arg: inner, .. } => inner.collect_metric_queries(out),
            Expr::Binary { lhs, rhs, .. } => {
                lhs.collect_metric_queries(out);
                rhs.collect_metric_queries(out);
            }
        }
    }

    /// The largest explicit `.rollup(…, seconds)` interval in the
    /// expression: all its operands are evaluated on one time grid.
    pub fn max_rollup_interval(&self) -> Option<i64> {
        self.metric_queries()
            .iter()
            .filter_map(|q| q.rollup.and_then(|r| r.interval_s))
            .max()
    }
}

/// An arithmetic operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinaryOp {
    /// `+`
    Add,
    /// `-`
    Sub,
    /// `*`
    Mul,
    /// `/`
    Div,
}

impl BinaryOp {
    /// Applies the operator; a non-finite result (division by zero,
    /// overflow) is NaN, which the response shows as `null`.
    pub fn apply(self, lhs: f64, rhs: f64) -> f64 {
        let value = match self {
            BinaryOp::Add => lhs + rhs,
            BinaryOp::Sub => lhs - rhs,
            BinaryOp::Mul => lhs * rhs,
            BinaryOp::Div => lhs / rhs,
        };
        if value.is_finite() {
            value
        } else {
            f64::NAN
        }
    }
}

/// A function wrapping an expression.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Function {
    /// `abs(q)`: absolute value.
    Abs,
    /// `log10(q)`: base-10 logarithm (`null` for values <= 0).
    Log10,
    /// `cumsum(q)`: running sum over the window.
    Cumsum,
    /// `diff(q)`: value minus the previous value.
    Diff,
    /// `per_second(q)`: change per second since the previous value.
    PerSecond,
    /// `per_minute(q)`: change per minute since the previous value.
    PerMinute,
    /// `timeshift(q, seconds)`: the values `seconds` away (negative = past),
    /// shown at the current times.
    Timeshift(i64),
}

impl Function {
    /// The name as written in queries.
    pub fn name(self) -> &'static str {
        match self {
            Function::Abs => "abs",
            Function::Log10 => "log10",
            Function::Cumsum => "cumsum",
            Function::Diff => "diff",
            Function::PerSecond => "per_second",
            Function::PerMinute => "per_minute",
            Function::Timeshift(_) => "timeshift",
        }
    }
}

/// One metric query: `<space_agg>:<metric>{<scope>} [by {<tag>,…}][.<fn>(…)]…`.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricQuery {
    /// The space aggregator; `None` when the query has none (evaluated as
    /// `avg`, reported as `"aggr": null`).
    pub space_agg: Option<SpaceAgg>,
    /// Metric name.
    pub metric: String,
    /// Which series to read.
    pub scope: Scope,
    /// Group-by tag keys, in the order written (empty: one group).
    pub group_by: Vec<String>,
    /// `.rollup(…)`, if given.
    pub rollup: Option<Rollup>,
    /// `.as_count()` or `.as_rate()`, if given.
    pub modifier: Option<TypeModifier>,
    /// `.fill(…)`, if given.
    pub fill: Option<Fill>,
}

/// How series are combined across space, within a group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpaceAgg {
    /// Mean of the series' values.
    Avg,
    /// Sum of the series' values.
    Sum,
    /// Smallest value.
    Min,
    /// Largest value.
    Max,
    /// Distributions: number of values; other metrics: number of series
    /// with a value.
    Count,
    /// Distributions only: the given percentile (1 to 99) of the merged
    /// sketches.
    Percentile(u8),
}

impl SpaceAgg {
    /// Parses `avg`, `sum`, `min`, `max`, `count` or `p1` … `p99`.
    pub fn from_name(name: &str) -> Option<SpaceAgg> {
        match name {
            "avg" => Some(SpaceAgg::Avg),
            "sum" => Some(SpaceAgg::Sum),
            "min" => Some(SpaceAgg::Min),
            "max" => Some(SpaceAgg::Max),
            "count" => Some(SpaceAgg::Count),
            _ => {
                let digits = name.strip_prefix('p')?;
                if digits.is_empty()
                    || digits.len() > 2
                    || !digits.bytes().all(|b| b.is_ascii_digit())
                {
                    return None;
                }
                let p: u8 = digits.parse().ok()?;
                (1..=99).contains(&p).then_some(SpaceAgg::Percentile(p))
            }
        }
    }

    /// The name as written (`avg`, `p99`).
    pub fn name(self) -> String {
        match self {
            SpaceAgg::Avg => "avg".to_string(),
            SpaceAgg::Sum => "sum".to_string(),
            SpaceAgg::Min => "min".to_string(),
            SpaceAgg::Max => "max".to_string(),
            SpaceAgg::Count => "count".to_string(),
            SpaceAgg::Percentile(p) => format!("p{p}"),
        }
    }
}

/// `.rollup([agg][, seconds])`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rollup {
    /// Time aggregator; `None` keeps the metric type's default.
    pub agg: Option<RollupAgg>,
    /// Bucket width in seconds; `None` keeps the default for the span.
    pub interval_s: Option<i64>,
}

/// How points of one series are combined within a time bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RollupAgg {
    /// Mean of the points.
    Avg,
    /// Sum of the points.
    Sum,
    /// Smallest point.
    Min,
    /// Largest point.
    Max,
    /// Number of points.
    Count,
}

impl RollupAgg {
    /// Parses `avg`, `sum`, `min`, `max` or `count`.
    pub fn from_name(name: &str) -> Option<RollupAgg> {
        match name {
            "avg" => Some(RollupAgg::Avg),
            "sum" => Some(RollupAgg::Sum),
            "min" => Some(RollupAgg::Min),
            "max" => Some(RollupAgg::Max),
            "count" => Some(RollupAgg::Count),
            _ => None,
        }
    }
}

/// `.as_count()` / `.as_rate()`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TypeModifier {
    /// `.as_count()`
    AsCount,
    /// `.as_rate()`
    AsRate,
}

/// `.fill(method[, limit_s])`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fill {
    /// How empty buckets are filled.
    pub method: FillMethod,
    /// Only buckets at most this many seconds after a bucket with data are
    /// filled (default [`Fill::DEFAULT_LIMIT_S`]).
    pub limit_s: i64,
}

impl Fill {
    /// Datadog's default fill limit (`dashboards/functions/interpolation`).
    pub const DEFAULT_LIMIT_S: i64 = 300;
}

/// A fill method.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FillMethod {
    /// No filling.
    Null,
    /// Zero.
    Zero,
    /// Linear interpolation between the neighbouring values (only gaps with
    /// data on both sides).
    Linear,
    /// The previous value.
    Last,
}
