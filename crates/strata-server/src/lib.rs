//! `strata-server` is the `strata serve` process: it opens the data
//! directory (lock, metastore, WAL recovery, segment orphan cleanup),
//! bootstraps the `default` tenant, and serves the Datadog logs and metrics
//! intakes (`metrics_intake`: series v1/v2 JSON and protobuf, distribution
//! points, sketches, service checks, events), DogStatsD listeners
//! (`statsd`), the read API (search, analytics, SQL, live tail;
//! `query_api`; metrics queries, `metrics_query`), health and metrics over
//! HTTP until SIGTERM/SIGINT, then drains in-flight requests, writes open
//! DogStatsD windows, flushes every memtable and exits.
//!
//! It is not a library of protocol logic: decoding lives in `strata-ingest`,
//! durability in `strata-wal`, memtables and segments in `strata-index`
//! (logs) and `strata-tsdb` (metrics).
//!
//! Request path: `accept (connection limit, header timeout) → auth → memory
//! reservation → bounded body read → (blocking pool, one per core) decompress +
//! decode + encode → reservation grown to the decoded size → quota → WAL
//! append (group commit) → on_commit applies to the memtable and releases the
//! reservation → 202`.
#![warn(missing_docs)]

mod bootstrap;
mod error;
mod es_intake;
mod intake;
mod lifecycle;
mod listener;
mod metrics;
mod metrics_intake;
mod metrics_query;
mod otlp_intake;
mod query_api;
mod state;
mod statsd;
mod storage_metrics;
mod syslog;
mod tail;
mod tsdb_metrics;
mod write_path;

pub use bootstrap::{BootstrapKeys, BOOTSTRAP_FILE};
pub use metrics::Metrics;
pub use state::{open_data_dir, open_segment_store, DataDir, ServeError, Server};
