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
//! [`SeriesSource`]), speaks no HTTP (the server maps [`QueryError`] to
//! 400/500 with [`QueryError::http_status`]), and does not know units or
//! metric metadata. Semantics decisions (as_count/as_rate, fill, partial
//! buckets, `N/A` groups, arithmetic joins) are documented where they are
//! implemented: [`source`], [`interval`], and the crate-private evaluator
//! modules summarised in [`run`]'s and [`SeriesSource`]'s docs and in
//! `docs` below.
//!
//! # Semantics in one place
//!
//! - **Grid**: the first bucket starts at `from` rounded up to the
//!   interval; points between `from` and it (a partial bucket) are dropped,
//!   as in Datadog's recorded answer. See [`interval`] for the default
//!   interval table.
//! - **Time aggregation**: gauges `avg`; counts `sum` (`.as_rate()` divides
//!   by the rollup interval); rates `avg` (`.as_count()` sums and multiplies
//!   by the point interval; `.as_rate()` gives the per-second rate over the
//!   bucket). An explicit `.rollup(agg)` replaces the aggregator.
//! - **Distributions**: merged in time and space at once; `p50`…`p99` read
//!   the merged sketch, `avg`/`sum`/`min`/`max`/`count` the merged summary.
//! - **Fill**: no interpolation unless `.fill()` is given (Datadog
//!   interpolates linearly by default; Strata does not). `.fill()` fills
//!   empty buckets up to `limit` seconds after real data, per series before
//!   space aggregation.
//! - **Groups**: a series without a `by` key goes to `key:N/A`; a series
//!   with several values of a key joins each group.
//! - **Arithmetic**: joins on equal tag sets; a single ungrouped series or a
//!   number applies to all; undefined results are `null`, empty buckets are
//!   left out of the pointlist.
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
