//! `strata-query` is Strata's read path: the Datadog log search syntax
//! ([`parse`] into a [`Query`]), matching events against it ([`Matcher`]),
//! date math for `from`/`to` ([`time`]), DDSketch percentiles ([`sketch`]),
//! segment pruning by skip index ([`prune`]), and the [`Engine`] that answers
//! searches, aggregations and SQL over a tenant's memtable and segments
//! together, within per-query budgets.
//!
//! What it is not: it holds no data (the memtables are `strata-index`'s, the
//! catalog `strata-metastore`'s) and speaks no HTTP (`strata-server` does).
//! Tenant isolation is structural: every entry point takes a tenant id and
//! reads only that tenant's snapshot (`strata_index::Index::snapshot`).
#![warn(missing_docs)]

pub mod aggregate;
mod ast;
mod engine;
mod error;
pub mod matcher;
mod needs;
pub mod parse;
pub mod prune;
pub mod request;
pub mod search;
pub mod sketch;
pub mod sql;
pub mod sql_metrics;
mod sql_spans;
pub mod time;
mod view;

pub use aggregate::{
    AggregatePage, AggregateRequest, AggregateResponse, Bucket, ComputeSpec, GroupBySpec,
    HistogramSpec, SortSpec,
};
pub use ast::{
    AttrRef, CidrBlock, CompareOp, EventView, Field, Pattern, PatternPart, Predicate, Query,
};
pub use engine::{Completeness, Engine, QueryLimits};
pub use error::QueryError;
pub use matcher::Matcher;
pub use parse::{parse, ParseError};
pub use search::{Cursor, SearchParams, SearchResult};
pub use sql::SqlResult;
pub use time::{parse_interval, parse_time, TimeError};
