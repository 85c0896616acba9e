//! `strata-metrics-query` is the Datadog metrics query language and its
//! evaluator: it parses `GET /api/v1/query` queries such as
//! `avg:system.cpu.user{env:prod,!host:a} by {service}.rollup(avg, 60) / 100`
//! ([`parse`] into a [`Query`]), and evaluates them ([`run`]) over a
//! [`SeriesSource`] into Datadog's answer shape ([`QueryResponse`]).
//!
//! ```text
//!  query text ──parse──▶ Query ──┬─▶ per expression: Grid (interval by span, ≤ 1500 buckets)
//!                                │
//!  SeriesSource::fetch ◀── FetchRequest{metric, scope, buckets}   (push-down: the store
//!        │                                                          buckets while it scans)
//!        ▼
//!  FetchedSeries (per-bucket sum/count/min/max, sketches)
//!        │ time aggregation by metric type, as_count/as_rate, fill
//!        │ grouping by tags (missing tag → key:N/A), space aggregation / sketch merge
//!        ▼
//!  result series ── arithmetic joins on tag sets, functions ──▶ QueryResponse (serde)
//! ```
//!
//! Key types: [`Query`]/[`MetricQuery`] (the AST), [`Scope`] (a compiled tag
//! filter with [`Scope::matches`]), [`SeriesSource`] with [`FetchRequest`],
//! [`Bucket`] and [`FetchedSeries`] (the push-down contract), and
//! [`memory::MemorySource`], the in-memory reference source.
//!
//! What it is not: it stores nothing and does no I/O (a store implements
//! [`SeriesSource`]), speaks no HTTP (the server maps [`QueryError`] to 400
//! or 500 with [`QueryError::http_status`]), knows no units or metric
//! metadata, and implements only part of Datadog's function library
//! (`rollup`, `as_count`, `as_rate`, `fill`, `abs`, `log10`, `cumsum`,
//! `diff`, `per_second`, `per_minute`, `timeshift`; no `top`, `anomalies`,
//! `moving_rollup`, …).
//!
//! # Semantics
//!
//! Sources: Datadog's docs in `DataDog/documentation` (`metrics/
//! custom_metrics/type_modifiers`, `dashboards/functions/{rollup,
//! interpolation,rate,arithmetic}`, `metrics/guide/interpolation-the-fill-
//! modifier-explained`, `metrics/faq/rollup-for-distributions-with-
//! percentiles`, `metrics/advanced-filtering`) and the recorded answer in
//! the reference notes §5. Where Strata differs, it says so.
//!
//! - **Grid** ([`interval`], [`FetchRequest`]): the first bucket starts at
//!   `from` rounded up to the interval; points between `from` and it (a
//!   partial bucket) are dropped, as in Datadog's recorded answer. A point
//!   on a boundary starts the later bucket. At most [`MAX_POINTS`] buckets.
//! - **Time aggregation**, per series and bucket (`W` rollup interval, `I`
//!   the series' point interval, 1 s when unknown):
//!
//!   | type           | default | `.as_count()` | `.as_rate()` |
//!   |----------------|---------|---------------|--------------|
//!   | gauge, untyped | avg     | avg           | avg          |
//!   | count          | sum     | sum           | sum / W      |
//!   | rate           | avg     | sum × I       | sum × I / W  |
//!
//!   An explicit `.rollup(agg)` replaces the aggregator; the scaling stays.
//!   Datadog's page says `.as_rate()` on a rate only switches to `sum`;
//!   Strata returns the per-second rate over the bucket instead (equal to
//!   the average when points tile the bucket), because a sum of rates is
//!   not a rate.
//! - **Distributions** are merged in time and space at once: `p1`…`p99` read
//!   the group's merged sketch per bucket, `avg`/`sum`/`min`/`max`/`count`
//!   its merged summary (`avg` = total sum / total count). Rollup
//!   aggregators and modifiers do not apply to them.
//! - **Fill**: none unless `.fill()` is given (Datadog interpolates linearly
//!   up to 300 s by default; Strata does not). `.fill(m, limit)` fills an
//!   empty bucket at most `limit` seconds (default 300) after the latest
//!   real value: `zero`, `last` (that value), `linear` (only with real data
//!   on both sides). It runs per series before space aggregation (for
//!   distributions, per group).
//! - **Groups**: a series without a `by` key goes to `key:N/A`, as in
//!   Datadog; a series with several values of a key joins each group. A
//!   series' host is the tag `host:<host>` for scopes and groups.
//! - **Space aggregation**: over the series with a value in the bucket;
//!   `count` on non-distributions is the number of such series.
//! - **Arithmetic** joins results on equal tag sets (left side's tag set
//!   kept); a single ungrouped series or a number applies to every series.
//!   A bucket empty on either side stays empty. Non-finite results
//!   (division by zero, `log10(0)`) are `null` in the pointlist; empty
//!   buckets are left out of it, and series with no point are left out of
//!   the answer.
//! - **Functions** run on the query's result series (after space
//!   aggregation); `diff`/`per_second`/`per_minute` compare with the previous
//!   bucket that has a value. `timeshift(q, s)` evaluates `q` on the grid
//!   moved by `s` seconds.
//! - **Intervals in arithmetic**: all operands of one top-level expression
//!   share one grid, whose interval is the largest explicit rollup interval
//!   among them (or the span's default).
#![warn(missing_docs)]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::indexing_slicing))]

mod ast;
mod cursor;
mod error;
mod eval;
pub mod interval;
pub mod memory;
mod parse;
mod response;
pub mod scope;
mod series;
pub mod source;
mod transform;

pub use ast::{
    BinaryOp, Expr, Expression, Fill, FillMethod, Function, MetricQuery, Query, Rollup, RollupAgg,
    SpaceAgg, TypeModifier,
};
pub use error::{ParseError, QueryError};
pub use eval::{evaluate, run};
pub use interval::{default_interval, effective_interval, Grid, MAX_POINTS};
pub use parse::parse;
pub use response::{QueryResponse, SeriesResponse};
pub use scope::{Scope, ScopeExpr, TagPattern};
pub use source::{Bucket, FetchRequest, FetchedSeries, SeriesSource};
