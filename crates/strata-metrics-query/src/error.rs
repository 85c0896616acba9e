//! Parse and evaluation errors.

use crate::interval::MAX_TIMESTAMP_S;

/// Why a query string was refused. Every variant carries the byte offset in
/// the query text where the problem was found ([`ParseError::position`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// The text at `pos` is not what the grammar allows there.
    #[error("expected {expected} at byte {pos}, found {found}")]
    Expected {
        /// Byte offset.
        pos: usize,
        /// What would have been accepted.
        expected: &'static str,
        /// What was there (quoted excerpt, or `end of query`).
        found: String,
    },
    /// `xyz:metric{…}` where `xyz` is not a space aggregator.
    #[error("unknown space aggregator {name:?} at byte {pos} (expected avg, sum, min, max, count or p1..p99)")]
    UnknownAggregator {
        /// Byte offset of the name.
        pos: usize,
        /// The name given.
        name: String,
    },
    /// A function (`.name(…)` or `name(…)`) this engine does not know.
    #[error("unknown function {name:?} at byte {pos}")]
    UnknownFunction {
        /// Byte offset of the name.
        pos: usize,
        /// The name given.
        name: String,
    },
    /// A function argument of the wrong kind or out of range.
    #[error("invalid argument to {function} at byte {pos}: {reason}")]
    InvalidArgument {
        /// Byte offset of the argument (or of the call, for a wrong count).
        pos: usize,
        /// The function.
        function: &'static str,
        /// What was wrong.
        reason: &'static str,
    },
    /// The same clause twice on one metric query (`by`, `rollup`, `fill`, or
    /// both `as_count` and `as_rate`).
    #[error("{what} given twice at byte {pos}")]
    Duplicate {
        /// Byte offset of the second occurrence.
        pos: usize,
        /// The clause.
        what: &'static str,
    },
    /// A scope mixes the symbolic (`,` `!`) and word (`AND OR NOT IN`)
    /// boolean forms, which Datadog refuses.
    #[error(
        "scope mixes symbolic (`,` `!`) and word (AND OR NOT IN) boolean syntax at byte {pos}"
    )]
    MixedScopeSyntax {
        /// Byte offset of the first token of the second form.
        pos: usize,
    },
    /// A top-level expression made only of numbers.
    #[error("expression at byte {pos} has no metric query")]
    NoMetricQuery {
        /// Byte offset where the expression starts.
        pos: usize,
    },
    /// Parentheses, `!`/`NOT` or function calls nested too deeply, or too
    /// many operators and queries in one query.
    #[error("query too complex (nesting or size) at byte {pos}")]
    TooComplex {
        /// Byte offset.
        pos: usize,
    },
}

impl ParseError {
    /// Byte offset in the query text where the problem was found.
    pub fn position(&self) -> usize {
        match self {
            ParseError::Expected { pos, .. }
            | ParseError::UnknownAggregator { pos, .. }
            | ParseError::UnknownFunction { pos, .. }
            | ParseError::InvalidArgument { pos, .. }
            | ParseError::Duplicate { pos, .. }
            | ParseError::MixedScopeSyntax { pos }
            | ParseError::NoMetricQuery { pos }
            | ParseError::TooComplex { pos } => *pos,
        }
    }
}

/// Why [`crate::run`] failed. [`QueryError::is_client_error`] separates the
/// caller's mistakes (HTTP 400) from failures of the series source or of
/// the engine (HTTP 500).
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    /// The query text does not parse.
    #[error(transparent)]
    Parse(#[from] ParseError),
    /// `from`/`to` out of order or outside `0..=MAX_TIMESTAMP_S`.
    #[error(
        "invalid time range from {from_s} to {to_s} (need 0 <= from <= to <= {MAX_TIMESTAMP_S})"
    )]
    InvalidRange {
        /// Requested start, seconds.
        from_s: i64,
        /// Requested end, seconds.
        to_s: i64,
    },
    /// A percentile aggregator (`p50:` …) on a metric that is not a
    /// distribution.
    #[error("aggregator {aggregator} needs a distribution metric and {metric} is not one")]
    PercentileOnNonDistribution {
        /// The metric.
        metric: String,
        /// The aggregator, e.g. `p99`.
        aggregator: String,
    },
    /// The metric has both distribution and non-distribution series, which
    /// aggregate differently.
    #[error("metric {metric} has both distribution and non-distribution series")]
    MixedKinds {
        /// The metric.
        metric: String,
    },
    /// The series source failed.
    #[error("series source failed")]
    Source(#[source] Box<dyn std::error::Error + Send + Sync + 'static>),
    /// The series source answered something that breaks the
    /// [`crate::SeriesSource`] contract (a bug in the source).
    #[error("series source broke its contract: {0}")]
    SourceContract(String),
}

impl QueryError {
    /// Whether the caller is at fault (HTTP 400) rather than the source or
    /// the engine (HTTP 500).
    pub fn is_client_error(&self) -> bool {
        match self {
            QueryError::Parse(_)
            | QueryError::InvalidRange { .. }
            | QueryError::PercentileOnNonDistribution { .. }
            | QueryError::MixedKinds { .. } => true,
            QueryError::Source(_) | QueryError::SourceContract(_) => false,
        }
    }

    /// The HTTP status `GET /api/v1/query` should answer with: 400 or 500.
    pub fn http_status(&self) -> u16 {
        if self.is_client_error() {
            400
        } else {
            500
        }
    }
}
