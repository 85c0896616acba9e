//! OTLP metrics (`POST /v1/metrics`, protobuf or JSON
//! `ExportMetricsServiceRequest`) to a Datadog-style [`MetricBatch`](strata_metrics::MetricBatch).
//!
//! The mapping follows what Datadog's OTLP ingestion does
//! (`opentelemetry-mapping-go`), simplified:
//!
//! | OTLP | stored |
//! |---|---|
//! | `Gauge` | gauge points |
//! | `Sum`, monotonic, DELTA | count points; interval `time − start_time` in seconds when both are set and positive, else 0 |
//! | `Sum`, monotonic, CUMULATIVE | count points of the increase since the previous point of the series (see below) |
//! | `Sum`, not monotonic (either temporality) | gauge points |
//! | `Histogram`, DELTA | one distribution sketch per point, built from the buckets |
//! | `Histogram`, CUMULATIVE | a sketch of the bucket-wise increase since the previous point |
//! | `ExponentialHistogram` | the same, from the exponential buckets |
//! | `Summary` | `<name>.count` and `<name>.sum` as counts of the increase (summaries are cumulative), and each quantile as a gauge `<name>.quantile` tagged `quantile:<q>` (`0.99`, `0.5`, `1`) |
//!
//! **Series.** The metric name goes through
//! [`normalize_metric_name`](strata_metrics::normalize_metric_name) (once
//! per metric; a summary's names with their suffix); the host
//! is the resource's `host.name`; the tags are the data point's attributes
//! as `key:value` (strings as they are, numbers and booleans as text, arrays
//! and maps as compact JSON, bytes as base64; an empty value gives the bare
//! key; empty keys are skipped), plus `service:<service.name>` and
//! `env:<deployment.environment.name>` (else `deployment.environment`) from
//! the resource. Other resource attributes and the scope are not stored.
//! The unit is mapped from UCUM for the common cases (`By` → `byte`,
//! `s` → `second`, `ms`, `us`, `ns`, `%` → `percent`, `bit`); others are not
//! kept. Sketch series carry no unit.
//!
//! **Timestamps.** `time_unix_nano` in whole seconds; 0 means now. Points
//! outside [`MetricsLimits`]' window are dropped like Datadog series
//! ([`DroppedPoints`](crate::DroppedPoints) `too_old` / `too_new`) and also
//! counted as rejected.
//!
//! **Histograms to sketches.** An explicit bucket with count `n` adds `n`
//! values spread evenly over the bucket (at most 32 distinct values, the
//! count divided between them): bucket `i` is `(bounds[i-1], bounds[i]]`;
//! the first bucket starts at `min` when sent, else at its upper bound; the
//! last ends at `max` when sent, else at its lower bound; every value is
//! clamped into `[min, max]` when those are sent. A point with neither
//! bounds nor buckets is `count` values at `sum / count`. Exponential bucket
//! `i` at scale `s` covers `(base^i, base^(i+1)]`, `base = 2^(2^-s)`; its
//! count goes to the geometric midpoint `base^(i+½)` (negated for negative
//! buckets), the zero bucket's to 0; scales outside `-10..=20` are refused.
//! The sketch then takes the point's own `sum`, `min` and `max` when sent
//! (for cumulative points only the sum's increase: min and max cover the
//! whole cumulative period). `count` is the sum of the bucket counts.
//! A histogram (or histogram delta) with no value in it stores nothing and
//! is not an error.
//!
//! **Cumulative to delta.** [`CumulativeState`], shared by the server, keeps
//! per tenant and series the last point's start time, time and value (or
//! bucket counts). Its key adds to the stored series a hash of the full
//! resource attributes and the scope's name and version, so two processes
//! of one service on one host (say, differing only in
//! `service.instance.id`) keep separate baselines while their points go to
//! the same stored series. The first point of a series only sets that baseline (as
//! Datadog, which drops the first cumulative point); so do a point whose
//! start time differs from the remembered one, a value or bucket count that
//! went down (a reset), and a histogram whose bounds or scale changed. Later
//! points emit the increase, with interval `time − previous time`. A point
//! not newer than the remembered one (a retry) is ignored. Points are
//! applied as they are decoded; [`OtlpMetrics::undo`] records what the
//! request changed, and the server passes it to
//! [`CumulativeState::rollback`] when the batch is not stored, so the
//! client's retry finds the baselines as they were (a decode error rolls
//! back by itself). The state is bounded; when full, the tenant holding
//! the most entries loses its least recently used half, so a tenant within
//! its fair share (the bound divided by the tenants present) keeps its
//! baselines whatever another one sends. The state is in memory only:
//! after a restart, the first cumulative point of each series is a
//! baseline again.
//!
//! **What is rejected.** A body that does not decode is a 400 naming OTLP
//! `ExportMetricsServiceRequest`. More points (every output point: a
//! summary point is 2 + its quantiles) or series than [`MetricsLimits`]
//! allows is a 413, and so is a body that would decode to more than eight
//! times its size (at least 1 MiB; checked before decoding protobuf, while
//! parsing JSON), which only bodies of near-empty messages do. Everything
//! else is per data point and reported in [`OtlpMetrics::rejected`] /
//! [`OtlpMetrics::error_message`] (OTLP's partial success): an invalid
//! metric name (after normalisation), more than 1000 tags, a number point
//! without a value (also counted as `no_value`) or with a NaN/±inf value
//! (`non_finite`), a monotonic sum or histogram whose temporality is
//! neither DELTA nor CUMULATIVE, an invalid histogram layout (bounds not
//! finite or not increasing, one bucket count too many or too few, more
//! than 4096 buckets, or more than 4096 exponential buckets on a side), a
//! point outside the window. A summary's non-finite quantile drops that
//! quantile only. A data point counts as one rejection however many of its
//! outputs fail (a summary's count, sum and quantiles). Points flagged
//! `FLAG_NO_RECORDED_VALUE` are dropped (counted as `no_value`) but not
//! rejected. A metric with no data is skipped.

use std::collections::hash_map::DefaultHasher;
use std::collections::HashMap;
use std::fmt;
use std::hash::{Hash, Hasher};

use prost::Message;
use strata_metrics::{MetricType, Point, SeriesKey, SeriesPoints, Sketch, SketchPoints};

use super::common::{any_text, scalar_text, InstrumentationScope, JsonBudget, KeyValue, Resource};
use super::Format;
use crate::metrics::{Collector, DecodedMetrics, DropReason, MetricsLimits};
use crate::IngestError;

mod budget;
mod convert;
pub mod proto;
mod sketches;
mod state;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_kinds;
#[cfg(test)]
mod tests_review;

pub use proto::{
    ExportMetricsPartialSuccess, ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
pub use state::{CumulativeState, CumulativeUndo};

/// A decoded OTLP metrics request.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct OtlpMetrics {
    /// What to store, and the points dropped by reason.
    pub decoded: DecodedMetrics,
    /// Data points refused (OTLP `partial_success.rejected_data_points`).
    pub rejected: u64,
    /// Why, for `partial_success.error_message`: the first reason, and how
    /// many more there were. Empty when nothing was rejected.
    pub error_message: String,
    /// What the decode changed in the [`CumulativeState`]: pass it to
    /// [`CumulativeState::rollback`] when the batch is not stored (quota,
    /// memory, WAL), so the client's retry counts the increase again.
    pub undo: CumulativeUndo,
}

/// Decodes an OTLP `ExportMetricsServiceRequest` (protobuf or JSON, already
/// decompressed) into a metric batch for `tenant`; see the module docs for
/// the mapping. `state` carries cumulative series across requests; the
/// answer's [`OtlpMetrics::undo`] undoes this request's part of it. On an
/// error the state is left as it was.
pub fn decode_metrics(
    body: &[u8],
    format: Format,
    tenant: &str,
    now_s: i64,
    limits: &MetricsLimits,
    state: &CumulativeState,
) -> Result<OtlpMetrics, IngestError> {
    let request = parse_request(body, format)?;
    let mut decoder = Decoder::new(tenant, now_s, limits, state);
    if let Err(error) = decoder.request(&request) {
        state.rollback(decoder.undo);
        return Err(error);
    }
    Ok(decoder.finish())
}

/// Decodes the request, first bounding what it decodes to (see
/// [`budget`]): past [`budget::BYTES_PER_BODY_BYTE`] times the body's size
/// (at least 1 MiB) it is a 413.
fn parse_request(body: &[u8], format: Format) -> Result<ExportMetricsServiceRequest, IngestError> {
    let limit = budget::budget(body.len());
    let too_large = || {
        IngestError::too_large(format!(
            "OTLP ExportMetricsServiceRequest of {} bytes decodes to more than {limit} bytes",
            body.len()
        ))
    };
    match format {
        Format::Protobuf => {
            if budget::protobuf_estimate(body) > limit {
                return Err(too_large());
            }
            ExportMetricsServiceRequest::decode(body).map_err(|e| {
                IngestError::bad(format!(
                    "invalid protobuf OTLP ExportMetricsServiceRequest: {e}"
                ))
            })
        }
        Format::Json => {
            let charged = JsonBudget::start(limit);
            serde_json::from_slice(body).map_err(|e| {
                if charged.exceeded() {
                    too_large()
                } else {
                    IngestError::bad(format!(
                        "invalid OTLP/JSON ExportMetricsServiceRequest: {e}"
                    ))
                }
            })
        }
    }
}

/// Where a metric or data point is, for messages:
/// `resourceMetrics[0].scopeMetrics[1].metrics[2].dataPoints[3]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Place {
    r: usize,
    s: usize,
    m: usize,
    p: Option<usize>,
}

impl Place {
    fn point(self, p: usize) -> Place {
        Place { p: Some(p), ..self }
    }
}

impl fmt::Display for Place {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "resourceMetrics[{}].scopeMetrics[{}].metrics[{}]",
            self.r, self.s, self.m
        )?;
        match self.p {
            Some(p) => write!(f, ".dataPoints[{p}]"),
            None => Ok(()),
        }
    }
}

/// What a resource gives every series under it.
#[derive(Debug, Default)]
struct ResourceTags {
    host: String,
    tags: Vec<String>,
    /// A hash of all the attributes (in any order), for the state key.
    origin: u64,
}

impl ResourceTags {
    fn new(resource: Option<&Resource>) -> ResourceTags {
        let attributes = resource.map_or(&[][..], |r| r.attributes.as_slice());
        let mut encoded: Vec<Vec<u8>> = attributes.iter().map(|kv| kv.encode_to_vec()).collect();
        encoded.sort_unstable();
        let mut hasher = DefaultHasher::new();
        encoded.hash(&mut hasher);
        let mut out = ResourceTags {
            origin: hasher.finish(),
            ..ResourceTags::default()
        };
        let (mut service, mut env, mut legacy_env) = (None, None, None);
        for kv in attributes {
            let slot = match kv.key.as_str() {
                "host.name" if out.host.is_empty() => {
                    out.host = scalar_text(kv.value.as_ref()).unwrap_or_default();
                    continue;
                }
                "service.name" => &mut service,
                "deployment.environment.name" => &mut env,
                "deployment.environment" => &mut legacy_env,
                _ => continue,
            };
            if slot.is_none() {
                *slot = scalar_text(kv.value.as_ref());
            }
        }
        if let Some(service) = service {
            out.tags.push(format!("service:{service}"));
        }
        if let Some(env) = env.or(legacy_env) {
            out.tags.push(format!("env:{env}"));
        }
        out
    }

    /// The origin of the series under `scope`: the resource's attributes
    /// and the scope's name and version. Part of the cumulative state key
    /// only, so two processes that store the same series keep apart.
    fn origin(&self, scope: Option<&InstrumentationScope>) -> u64 {
        let mut hasher = DefaultHasher::new();
        self.origin.hash(&mut hasher);
        scope.map(|s| (&s.name, &s.version)).hash(&mut hasher);
        hasher.finish()
    }
}

/// Data point attributes as tags (see the module docs), after the
/// resource's.
fn point_tags(resource: &ResourceTags, attributes: &[KeyValue]) -> Vec<String> {
    let mut tags = Vec::with_capacity(resource.tags.len() + attributes.len());
    tags.extend(resource.tags.iter().cloned());
    for kv in attributes.iter().filter(|kv| !kv.key.is_empty()) {
        let text = any_text(kv.value.as_ref());
        tags.push(if text.is_empty() {
            kv.key.clone()
        } else {
            format!("{}:{text}", kv.key)
        });
    }
    tags
}

/// The Datadog unit name for common UCUM units; empty otherwise.
fn datadog_unit(ucum: &str) -> &'static str {
    match ucum {
        "By" => "byte",
        "KiBy" => "kibibyte",
        "MiBy" => "mebibyte",
        "GiBy" => "gibibyte",
        "bit" => "bit",
        "s" => "second",
        "ms" => "millisecond",
        "us" => "microsecond",
        "ns" => "nanosecond",
        "min" => "minute",
        "h" => "hour",
        "d" => "day",
        "%" => "percent",
        "Hz" => "hertz",
        _ => "",
    }
}

/// A data point that passed the common checks: its time and tags.
#[derive(Debug)]
struct Begun {
    ts_s: i64,
    time_ns: u64,
    tags: Vec<String>,
}

/// One request's output, grouped by series.
#[derive(Debug)]
struct Decoder<'a> {
    now_ns: u64,
    state: &'a CumulativeState,
    undo: CumulativeUndo,
    /// [`ResourceTags::origin`] of the scope being decoded.
    origin: u64,
    collector: Collector<'a>,
    series: Vec<SeriesPoints>,
    series_index: HashMap<(u64, MetricType, u32), usize>,
    sketches: Vec<SketchPoints>,
    sketch_index: HashMap<u64, usize>,
    rejected: u64,
    /// The last data point rejected: each counts once.
    last_rejected: Option<Place>,
    first_error: Option<String>,
}

impl<'a> Decoder<'a> {
    fn new(
        tenant: &'a str,
        now_s: i64,
        limits: &'a MetricsLimits,
        state: &'a CumulativeState,
    ) -> Decoder<'a> {
        let now_ns = u64::try_from(now_s)
            .unwrap_or(0)
            .saturating_mul(1_000_000_000);
        Decoder {
            now_ns,
            state,
            undo: CumulativeUndo::new(tenant),
            origin: 0,
            collector: Collector::new(now_s, limits),
            series: Vec::new(),
            series_index: HashMap::new(),
            sketches: Vec::new(),
            sketch_index: HashMap::new(),
            rejected: 0,
            last_rejected: None,
            first_error: None,
        }
    }

    /// Decodes every metric of the request.
    fn request(&mut self, request: &ExportMetricsServiceRequest) -> Result<(), IngestError> {
        for (r, rm) in request.resource_metrics.iter().enumerate() {
            let resource = ResourceTags::new(rm.resource.as_ref());
            for (s, sm) in rm.scope_metrics.iter().enumerate() {
                self.origin = resource.origin(sm.scope.as_ref());
                for (m, metric) in sm.metrics.iter().enumerate() {
                    let at = Place { r, s, m, p: None };
                    self.metric(&resource, at, metric)?;
                }
            }
        }
        Ok(())
    }

    /// Counts a rejected data point (once per point, however many of its
    /// outputs fail) and a drop reason, when it is one.
    fn reject(&mut self, at: Place, why: Option<DropReason>, message: impl fmt::Display) {
        if self.last_rejected != Some(at) {
            self.rejected += 1;
            self.last_rejected = Some(at);
        }
        if let Some(why) = why {
            self.collector.drop_point(why);
        }
        if self.first_error.is_none() {
            self.first_error = Some(format!("{at}: {message}"));
        }
    }

    /// The checks every data point goes through: the point budget
    /// (`outputs` points), the no-recorded-value flag, the time and window;
    /// then the tags. `None` when the point is not to be used.
    fn begin(
        &mut self,
        at: Place,
        resource: &ResourceTags,
        attributes: &[KeyValue],
        time_ns: u64,
        flags: u32,
        outputs: usize,
    ) -> Result<Option<Begun>, IngestError> {
        self.collector.count_points(outputs, &at)?;
        if flags & proto::FLAG_NO_RECORDED_VALUE != 0 {
            self.collector.drop_point(DropReason::NoValue);
            return Ok(None);
        }
        let time_ns = if time_ns == 0 { self.now_ns } else { time_ns };
        let ts_s = i64::try_from(time_ns / 1_000_000_000).unwrap_or(i64::MAX);
        if let Some(why) = self.collector.outside_window(ts_s) {
            let side = if why == DropReason::TooOld {
                "too old"
            } else {
                "too far in the future"
            };
            self.reject(
                at,
                Some(why),
                format_args!("timestamp {ts_s} is {side} (outside the accepted window)"),
            );
            return Ok(None);
        }
        Ok(Some(Begun {
            ts_s,
            time_ns,
            tags: point_tags(resource, attributes),
        }))
    }

    /// Builds a series key from an already normalised name, rejecting the
    /// point when the name or the tags are invalid.
    fn key(&mut self, at: Place, name: &str, host: &str, tags: Vec<String>) -> Option<SeriesKey> {
        match SeriesKey::new(name, host, tags) {
            Ok(key) => Some(key),
            Err(e) => {
                self.reject(at, None, format_args!("metric {name:?}: {e}"));
                None
            }
        }
    }

    /// Adds a point to its series (created on first use).
    fn emit(
        &mut self,
        at: Place,
        key: SeriesKey,
        kind: MetricType,
        interval_s: u32,
        unit: &str,
        point: Point,
    ) -> Result<(), IngestError> {
        let id = (key.id(), kind, interval_s);
        if let Some(&i) = self.series_index.get(&id) {
            if let Some(series) = self.series.get_mut(i).filter(|s| s.key == key) {
                series.points.push(point);
                return Ok(());
            }
        }
        self.collector.count_series(&at)?;
        self.series_index.entry(id).or_insert(self.series.len());
        self.series.push(SeriesPoints {
            key,
            kind,
            interval_s,
            unit: datadog_unit(unit).to_owned(),
            points: vec![point],
        });
        Ok(())
    }

    /// Adds a sketch to its distribution series (created on first use).
    fn emit_sketch(
        &mut self,
        at: Place,
        key: SeriesKey,
        ts_s: i64,
        sketch: Sketch,
    ) -> Result<(), IngestError> {
        let id = key.id();
        if let Some(&i) = self.sketch_index.get(&id) {
            if let Some(series) = self.sketches.get_mut(i).filter(|s| s.key == key) {
                series.points.push((ts_s, sketch));
                return Ok(());
            }
        }
        self.collector.count_series(&at)?;
        self.sketch_index.entry(id).or_insert(self.sketches.len());
        self.sketches.push(SketchPoints {
            key,
            points: vec![(ts_s, sketch)],
        });
        Ok(())
    }

    fn finish(mut self) -> OtlpMetrics {
        for series in std::mem::take(&mut self.series) {
            self.collector.push_series(series);
        }
        for sketches in std::mem::take(&mut self.sketches) {
            self.collector.push_sketches(sketches);
        }
        let error_message = match (self.first_error, self.rejected) {
            (None, _) => String::new(),
            (Some(first), 0 | 1) => first,
            (Some(first), n) => format!("{first} (and {} more rejected data points)", n - 1),
        };
        OtlpMetrics {
            decoded: self.collector.finish(),
            rejected: self.rejected,
            error_message,
            undo: self.undo,
        }
    }
}

/// Seconds between two nanosecond times, 0 when not positive.
fn interval_between(start_ns: u64, end_ns: u64) -> u32 {
    if start_ns == 0 {
        return 0;
    }
    let seconds = end_ns.saturating_sub(start_ns) / 1_000_000_000;
    u32::try_from(seconds).unwrap_or(u32::MAX)
}
