//! Decoders for the Datadog metrics intake and its two event-like
//! neighbours: pure functions from an uncompressed body to
//! [`strata_metrics`] values (or [`Event`](strata_types::Event)s).
//!
//! | route | body | decoder |
//! |---|---|---|
//! | `POST /api/v2/series` | JSON `{"series":[…]}` | [`decode_series_v2_json`] |
//! | `POST /api/v2/series` | protobuf `MetricPayload` (the Agent) | [`decode_series_v2_protobuf`] |
//! | `POST /api/v1/series` | JSON `{"series":[…]}`, points `[[ts, value]]` | [`decode_series_v1`] |
//! | `POST /api/v1/distribution_points` | JSON, points `[[ts, [v…]]]` | [`decode_distribution_points`] |
//! | `POST /api/beta/sketches` | protobuf `SketchPayload` (the Agent) | [`decode_sketches_protobuf`] |
//! | `POST /api/v1/check_run` | JSON array of service checks | [`decode_check_runs`] |
//! | `POST /api/v1/events` | JSON event | [`decode_events_v1`], reply [`event_response_json`] |
//!
//! Shapes and field numbers: `reference/datadog-api.md` §2, checked against
//! `DataDog/agent-payload` `proto/metrics/agent_payload.proto` (see
//! [`agent_payload`](crate::agent_payload)).
//!
//! What is rejected and what is dropped, for every decoder, is on
//! [`DecodedMetrics`].

use strata_metrics::{
    normalize_metric_name, MetricBatch, Point, SeriesKey, SeriesPoints, SketchPoints,
};

use crate::IngestError;

pub mod agent_payload;
mod events;
mod json;

pub use agent_payload::{decode_series_v2_protobuf, decode_sketches_protobuf};
pub use events::{
    decode_check_runs, decode_events_v1, event_response_json, MAX_AGGREGATION_KEY_CHARS,
    MAX_CHECK_RUNS, MAX_EVENT_TEXT_CHARS,
};
pub use json::{decode_distribution_points, decode_series_v1, decode_series_v2_json};

/// Bounds on one metrics request. The byte limits (5 MB decompressed for
/// v2, 62 MB for v1) are the server's; these bound what the decoded bytes
/// may expand into and which points are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MetricsLimits {
    /// Points older than `now - max_past_s` are dropped (Datadog: 3600).
    pub max_past_s: u64,
    /// Points newer than `now + max_future_s` are dropped (Datadog: 600).
    pub max_future_s: u64,
    /// More points than this in one request is a 413. Dropped points count;
    /// each value of a distribution point counts as one point. The Agent
    /// sends at most 10,000 points per payload.
    pub max_points_per_request: usize,
    /// More series (or sketch series) than this in one request is a 413.
    pub max_series_per_request: usize,
}

impl MetricsLimits {
    /// Datadog's one-hour-back, ten-minutes-ahead window, with generous counts.
    pub const DATADOG: MetricsLimits = MetricsLimits {
        max_past_s: 3600,
        max_future_s: 600,
        max_points_per_request: 1_000_000,
        max_series_per_request: 100_000,
    };
}

impl Default for MetricsLimits {
    fn default() -> MetricsLimits {
        MetricsLimits::DATADOG
    }
}

/// Points that were well formed but not kept, by reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DroppedPoints {
    /// Older than the window.
    pub too_old: usize,
    /// Newer than the window.
    pub too_new: usize,
    /// NaN or infinite value (or sketch count, min, max or sum).
    pub non_finite: usize,
    /// `null` or missing value; a distribution point with no value.
    pub no_value: usize,
}

impl DroppedPoints {
    /// All dropped points.
    pub fn total(&self) -> usize {
        self.too_old + self.too_new + self.non_finite + self.no_value
    }
}

/// A decoded metrics request: what to store and what was dropped.
///
/// # What is rejected and what is dropped
///
/// A request is all or nothing for anything that is *malformed*: a body that
/// does not parse, a field of the wrong type, a missing or invalid metric
/// name, an unknown type, too many series or points. The error names the
/// series by its index and the field, e.g. `series[3].metric: …`, and no part
/// of the request is stored.
///
/// Points that are well formed but unusable are *dropped and counted* in
/// [`DroppedPoints`], and the request is still accepted. That follows Datadog:
/// docs.datadoghq.com/metrics/custom_metrics/historical_metrics says "If
/// Historical Metrics Ingestion is not enabled, a metric's values older than
/// an hour from submission are not ingested", i.e. the points are skipped, not
/// the request refused (that the reply stays 202 is inferred, not observed);
/// the spec's "cannot be more than ten minutes in the future or more than one
/// hour in the past" is the same window. Refusing the whole request instead
/// would make an Agent retry, after an outage, a payload that can never
/// succeed. What is dropped:
///
/// - points outside the window [`MetricsLimits::max_past_s`] /
///   [`MetricsLimits::max_future_s`] (defaults: Datadog's 1 h / 10 min; a
///   self-hosted store that backfills raises them);
/// - points whose value is `null` (the v1 spec types a point as
///   `[float, none_type]`) or missing, and distribution points with no value;
/// - non-finite values (NaN, ±inf: only protobuf can carry them; JSON has no
///   literal for them and `1e999` is a parse error). Saluki, Datadog's Rust
///   Agent data plane, drops non-finite DogStatsD values the same way.
///
/// A series left with no point is not stored, but it was still validated.
///
/// Tags are kept as sent (bare or `key:value`; [`SeriesKey::new`] sorts and
/// de-duplicates them). A `host:` tag does not become the host; the host comes
/// from the `host` field (v1, distributions, sketches) or the `host` resource
/// (v2). Metric names go through [`normalize_metric_name`] (other characters
/// become `_`, leading non-letters are dropped) and must then be valid.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct DecodedMetrics {
    /// Series and sketches to store; series left without points are omitted.
    pub batch: MetricBatch,
    /// Points not kept, so the server can report them.
    pub dropped: DroppedPoints,
}

impl DecodedMetrics {
    /// Number of dropped points ([`DroppedPoints::total`]).
    pub fn dropped_points(&self) -> usize {
        self.dropped.total()
    }
}

/// Why a point is not kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DropReason {
    TooOld,
    TooNew,
    NonFinite,
    NoValue,
}

/// Collects one request's series, enforcing the limits; shared by every
/// decoder so they count and drop alike.
#[derive(Debug)]
pub(crate) struct Collector<'a> {
    limits: &'a MetricsLimits,
    oldest: i64,
    newest: i64,
    series_seen: usize,
    points_seen: usize,
    out: DecodedMetrics,
}

impl<'a> Collector<'a> {
    pub(crate) fn new(now_s: i64, limits: &'a MetricsLimits) -> Collector<'a> {
        let past = i64::try_from(limits.max_past_s).unwrap_or(i64::MAX);
        let future = i64::try_from(limits.max_future_s).unwrap_or(i64::MAX);
        Collector {
            limits,
            oldest: now_s.saturating_sub(past),
            newest: now_s.saturating_add(future),
            series_seen: 0,
            points_seen: 0,
            out: DecodedMetrics::default(),
        }
    }

    /// Counts one more series; `label` is e.g. `series[3]`.
    pub(crate) fn count_series(
        &mut self,
        label: &dyn std::fmt::Display,
    ) -> Result<(), IngestError> {
        self.series_seen += 1;
        if self.series_seen > self.limits.max_series_per_request {
            return Err(IngestError::too_large(format!(
                "{label}: more than {} series in one request",
                self.limits.max_series_per_request
            )));
        }
        Ok(())
    }

    /// Counts `n` more points (kept or not).
    pub(crate) fn count_points(
        &mut self,
        n: usize,
        label: &dyn std::fmt::Display,
    ) -> Result<(), IngestError> {
        self.points_seen = self.points_seen.saturating_add(n);
        if self.points_seen > self.limits.max_points_per_request {
            return Err(IngestError::too_large(format!(
                "{label}: more than {} points in one request",
                self.limits.max_points_per_request
            )));
        }
        Ok(())
    }

    /// Why a point at `ts_s` is outside the window, if it is.
    pub(crate) fn outside_window(&self, ts_s: i64) -> Option<DropReason> {
        if ts_s < self.oldest {
            Some(DropReason::TooOld)
        } else if ts_s > self.newest {
            Some(DropReason::TooNew)
        } else {
            None
        }
    }

    /// Records a dropped point.
    pub(crate) fn drop_point(&mut self, why: DropReason) {
        let dropped = &mut self.out.dropped;
        match why {
            DropReason::TooOld => dropped.too_old += 1,
            DropReason::TooNew => dropped.too_new += 1,
            DropReason::NonFinite => dropped.non_finite += 1,
            DropReason::NoValue => dropped.no_value += 1,
        }
    }

    /// Keeps a plain point if it has a finite value inside the window;
    /// otherwise counts it as dropped.
    pub(crate) fn keep_point(&mut self, ts_s: i64, value: Option<f64>, into: &mut Vec<Point>) {
        let why = match value {
            None => DropReason::NoValue,
            Some(v) if !v.is_finite() => DropReason::NonFinite,
            Some(value) => match self.outside_window(ts_s) {
                None => return into.push(Point { ts_s, value }),
                Some(why) => why,
            },
        };
        self.drop_point(why);
    }

    /// Adds a validated series (omitted when it has no point left).
    pub(crate) fn push_series(&mut self, series: SeriesPoints) {
        if !series.points.is_empty() {
            self.out.batch.series.push(series);
        }
    }

    /// Adds a validated sketch series (omitted when it has no point left).
    pub(crate) fn push_sketches(&mut self, sketches: SketchPoints) {
        if !sketches.points.is_empty() {
            self.out.batch.sketches.push(sketches);
        }
    }

    pub(crate) fn finish(self) -> DecodedMetrics {
        self.out
    }
}

/// Normalises a client's metric name and builds the series key; errors name
/// the series (`label`) and the field.
pub(crate) fn series_key(
    label: &dyn std::fmt::Display,
    metric: Option<&str>,
    host: String,
    tags: Vec<String>,
) -> Result<SeriesKey, IngestError> {
    let Some(raw) = metric else {
        return Err(IngestError::bad(format!("{label}.metric: missing")));
    };
    let name = normalize_metric_name(raw);
    SeriesKey::new(name, host, tags).map_err(|e| match e {
        strata_metrics::ModelError::InvalidName(normalized) => IngestError::bad(format!(
            "{label}.metric: invalid metric name {raw:?} (normalised to {normalized:?}): 1 to 200 \
             characters, starting with a letter"
        )),
        other => IngestError::bad(format!("{label}.tags: {other}")),
    })
}

/// Converts a client's interval to seconds; negative or huge is an error.
pub(crate) fn interval_s(label: &dyn std::fmt::Display, interval: i64) -> Result<u32, IngestError> {
    u32::try_from(interval).map_err(|_| {
        IngestError::bad(format!(
            "{label}.interval: {interval} is not a number of seconds between 0 and {}",
            u32::MAX
        ))
    })
}

/// `series[3]`-style labels without allocating until an error needs one.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Label {
    pub(crate) list: &'static str,
    pub(crate) index: usize,
}

impl std::fmt::Display for Label {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}[{}]", self.list, self.index)
    }
}
