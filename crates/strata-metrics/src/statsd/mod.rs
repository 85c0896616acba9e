//! DogStatsD: the line parser and the Agent-like 10 s aggregator.
//!
//! Pure code, no sockets: the server reads datagrams and hands them to an
//! [`Aggregator`] with their arrival time, then calls
//! [`Aggregator::flush`] on a timer and writes the returned
//! [`MetricBatch`](crate::MetricBatch) to the WAL.
//!
//! ```
//! use strata_metrics::statsd::{Aggregator, ListenerDefaults};
//!
//! let defaults = ListenerDefaults { host: "h1".into(), tags: vec!["env:dev".into()] };
//! let mut agg = Aggregator::new(10_000);
//! agg.ingest(b"page.views:1|c|@0.5|#route:/\nlatency:12:15|ms\n", 1_700_000_003, &defaults);
//! assert!(agg.flush(1_700_000_005).is_empty()); // the window [..000, ..010) is still open
//! let batch = agg.flush(1_700_000_010);
//! let views = batch.series.iter().find(|s| s.key.metric == "page.views").unwrap();
//! assert_eq!(views.points[0].value, 2.0); // scaled by 1 / sample rate
//! assert_eq!(views.points[0].ts_s, 1_700_000_000); // the window start
//! assert_eq!(agg.counters().metrics, 2);
//! ```
//!
//! - [`parse`]: `parse_datagram` turns bytes into [`Message`]s (metrics,
//!   events, service checks) or [`ParseError`]s, one per line, and never
//!   panics. Reference: the DogStatsD datagram docs, the Agent's
//!   `comp/dogstatsd/server/impl/parse*.go`, saluki's codec, and
//!   datadogpy's output (including its quirks: `|c:`/`|card:` after a
//!   service check's `m:`, and `_e{}` lengths in bytes or code points).
//! - [`aggregate`]: [`Aggregator`] windows, types and the flush contract.

pub mod aggregate;
pub mod parse;

pub use aggregate::{
    resolve_host_and_tags, window_start, Aggregator, ListenerDefaults, StatsdCounters,
    HISTOGRAM_EXACT_SAMPLES, MAX_SET_MEMBERS, WINDOW_S,
};
pub use parse::{
    parse_datagram, parse_line, AlertType, Event, EventPriority, Message, Metric, MetricKind,
    Origin, ParseError, ParseErrorKind, ServiceCheck, ServiceCheckStatus,
};
