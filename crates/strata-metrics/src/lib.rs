//! `strata-metrics` is the metrics data model shared by the intake decoders,
//! the DogStatsD server, the metrics store and the metrics query engine:
//!
//! - [`SeriesKey`] (metric name, host, sorted tags) and its stable [`SeriesKey::id`];
//! - [`MetricType`], [`Point`], [`SeriesPoints`], [`SketchPoints`], [`MetricBatch`];
//! - [`Sketch`], the Datadog Agent's DDSketch variant (relative accuracy 1/128),
//!   which merges exactly across hosts and time;
//! - [`codec`], the binary encoding of a [`MetricBatch`] stored as one WAL record;
//! - [`statsd`], the DogStatsD line parser and the Agent-like 10 s aggregator.
//!
//! It is not a store, a server or a query engine: everything here is pure
//! functions over values, with no I/O and no async.
#![warn(missing_docs)]

pub mod codec;
mod model;
pub mod sketch;
pub mod statsd;

pub use model::{
    is_valid_metric_name, normalize_metric_name, MetricBatch, MetricType, ModelError, Point,
    SeriesKey, SeriesPoints, SketchPoints, MAX_NAME_LEN, MAX_TAGS_PER_SERIES,
};
pub use sketch::Sketch;
pub use sketch::{Bin, SketchError};
