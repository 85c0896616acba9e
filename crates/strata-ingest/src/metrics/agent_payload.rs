//! The Datadog Agent's protobuf metric payloads, written by hand as prost
//! messages (no `protoc`), and their decoders.
//!
//! Source: `DataDog/agent-payload`, `proto/metrics/agent_payload.proto`
//! (package `datadog.agentpayload`; read at commit 9e27b06, the version
//! with `MetricType{UNSPECIFIED=0,COUNT=1,RATE=2,GAUGE=3}` and the `Metadata`
//! fields: older copies had `GAUGE=0` and `reserved 9`). Every message and
//! field of the metrics part of that file is here, with its number, so an
//! encoded message round-trips; unknown fields are skipped by prost.
//!
//! ```text
//! MetricPayload  { repeated MetricSeries series = 1 }
//! MetricSeries   { repeated Resource resources = 1; string metric = 2;
//!                  repeated string tags = 3; repeated MetricPoint points = 4;
//!                  MetricType type = 5; string unit = 6;
//!                  string source_type_name = 7; int64 interval = 8;
//!                  Metadata metadata = 9 }
//! Resource       { string type = 1; string name = 2 }
//! MetricPoint    { double value = 1; int64 timestamp = 2 }
//! Metadata       { Origin origin = 1 }
//! Origin         { reserved 1,2,3; uint32 origin_product = 4;
//!                  uint32 origin_category = 5; uint32 origin_service = 6 }
//! SketchPayload  { repeated Sketch sketches = 1; CommonMetadata metadata = 2 }
//! Sketch         { string metric = 1; string host = 2;
//!                  repeated Distribution distributions = 3;
//!                  repeated string tags = 4; reserved 5, 6;
//!                  repeated Dogsketch dogsketches = 7; Metadata metadata = 8 }
//! Dogsketch      { int64 ts = 1; int64 cnt = 2; double min = 3; double max = 4;
//!                  double avg = 5; double sum = 6; repeated sint32 k = 7;
//!                  repeated uint32 n = 8 }
//! Distribution   { int64 ts = 1; int64 cnt = 2; double min = 3; double max = 4;
//!                  double avg = 5; double sum = 6; repeated double v = 7;
//!                  repeated uint32 g = 8; repeated uint32 delta = 9;
//!                  repeated double buf = 10 }
//! CommonMetadata { string agent_version = 1; string timezone = 2;
//!                  double current_epoch = 3; string internal_ip = 4;
//!                  string public_ip = 5; string api_key = 6 }
//! ```
//!
//! Repeated numbers are packed (proto3's default); prost also accepts them
//! unpacked.

use prost::Message;
use strata_metrics::{SeriesPoints, Sketch as StrataSketch, SketchPoints};

use super::{interval_s, series_key, Collector, DecodedMetrics, DropReason, Label, MetricsLimits};
use crate::IngestError;

/// `MetricPayload.MetricType`: how a series' points are read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum MetricType {
    /// No type given (read as a gauge).
    Unspecified = 0,
    /// A count over the interval.
    Count = 1,
    /// A per-second rate over the interval.
    Rate = 2,
    /// The last value.
    Gauge = 3,
}

/// `MetricPayload`: the body of `POST /api/v2/series` from the Agent.
#[derive(Clone, PartialEq, Message)]
pub struct MetricPayload {
    /// Field 1.
    #[prost(message, repeated, tag = "1")]
    pub series: Vec<MetricSeries>,
}

/// `MetricPayload.MetricSeries`.
#[derive(Clone, PartialEq, Message)]
pub struct MetricSeries {
    /// Field 1: at least `{type: "host", name: <hostname>}`.
    #[prost(message, repeated, tag = "1")]
    pub resources: Vec<Resource>,
    /// Field 2: the metric name.
    #[prost(string, tag = "2")]
    pub metric: String,
    /// Field 3.
    #[prost(string, repeated, tag = "3")]
    pub tags: Vec<String>,
    /// Field 4.
    #[prost(message, repeated, tag = "4")]
    pub points: Vec<MetricPoint>,
    /// Field 5: a [`MetricType`].
    #[prost(enumeration = "MetricType", tag = "5")]
    pub r#type: i32,
    /// Field 6.
    #[prost(string, tag = "6")]
    pub unit: String,
    /// Field 7: the check or integration that sent it.
    #[prost(string, tag = "7")]
    pub source_type_name: String,
    /// Field 8: seconds between samples (counts and rates).
    #[prost(int64, tag = "8")]
    pub interval: i64,
    /// Field 9: origin metadata.
    #[prost(message, optional, tag = "9")]
    pub metadata: Option<Metadata>,
}

/// `MetricPayload.Resource`.
#[derive(Clone, PartialEq, Message)]
pub struct Resource {
    /// Field 1: e.g. `host`.
    #[prost(string, tag = "1")]
    pub r#type: String,
    /// Field 2.
    #[prost(string, tag = "2")]
    pub name: String,
}

/// `MetricPayload.MetricPoint`.
#[derive(Clone, PartialEq, Message)]
pub struct MetricPoint {
    /// Field 1.
    #[prost(double, tag = "1")]
    pub value: f64,
    /// Field 2: seconds since the epoch.
    #[prost(int64, tag = "2")]
    pub timestamp: i64,
}

/// `Metadata`, shared by series and sketches.
#[derive(Clone, PartialEq, Message)]
pub struct Metadata {
    /// Field 1.
    #[prost(message, optional, tag = "1")]
    pub origin: Option<Origin>,
}

/// `Origin` (fields 1 to 3 are reserved).
#[derive(Clone, PartialEq, Message)]
pub struct Origin {
    /// Field 4.
    #[prost(uint32, tag = "4")]
    pub origin_product: u32,
    /// Field 5.
    #[prost(uint32, tag = "5")]
    pub origin_category: u32,
    /// Field 6.
    #[prost(uint32, tag = "6")]
    pub origin_service: u32,
}

/// `CommonMetadata`, sent with sketches.
#[derive(Clone, PartialEq, Message)]
pub struct CommonMetadata {
    /// Field 1.
    #[prost(string, tag = "1")]
    pub agent_version: String,
    /// Field 2.
    #[prost(string, tag = "2")]
    pub timezone: String,
    /// Field 3.
    #[prost(double, tag = "3")]
    pub current_epoch: f64,
    /// Field 4.
    #[prost(string, tag = "4")]
    pub internal_ip: String,
    /// Field 5.
    #[prost(string, tag = "5")]
    pub public_ip: String,
    /// Field 6.
    #[prost(string, tag = "6")]
    pub api_key: String,
}

/// `SketchPayload`: the body of `POST /api/beta/sketches` from the Agent.
#[derive(Clone, PartialEq, Message)]
pub struct SketchPayload {
    /// Field 1.
    #[prost(message, repeated, tag = "1")]
    pub sketches: Vec<Sketch>,
    /// Field 2.
    #[prost(message, optional, tag = "2")]
    pub metadata: Option<CommonMetadata>,
}

/// `SketchPayload.Sketch`: one distribution series.
#[derive(Clone, PartialEq, Message)]
pub struct Sketch {
    /// Field 1.
    #[prost(string, tag = "1")]
    pub metric: String,
    /// Field 2.
    #[prost(string, tag = "2")]
    pub host: String,
    /// Field 3: the deprecated GK format; refused when non-empty.
    #[prost(message, repeated, tag = "3")]
    pub distributions: Vec<Distribution>,
    /// Field 4.
    #[prost(string, repeated, tag = "4")]
    pub tags: Vec<String>,
    /// Field 7.
    #[prost(message, repeated, tag = "7")]
    pub dogsketches: Vec<Dogsketch>,
    /// Field 8.
    #[prost(message, optional, tag = "8")]
    pub metadata: Option<Metadata>,
}

/// `SketchPayload.Sketch.Dogsketch`: one point of a distribution.
#[derive(Clone, PartialEq, Message)]
pub struct Dogsketch {
    /// Field 1: seconds since the epoch.
    #[prost(int64, tag = "1")]
    pub ts: i64,
    /// Field 2: number of values.
    #[prost(int64, tag = "2")]
    pub cnt: i64,
    /// Field 3.
    #[prost(double, tag = "3")]
    pub min: f64,
    /// Field 4.
    #[prost(double, tag = "4")]
    pub max: f64,
    /// Field 5 (derivable: `sum / cnt`; not used).
    #[prost(double, tag = "5")]
    pub avg: f64,
    /// Field 6.
    #[prost(double, tag = "6")]
    pub sum: f64,
    /// Field 7: bin keys, `sint32`, packed.
    #[prost(sint32, repeated, tag = "7")]
    pub k: Vec<i32>,
    /// Field 8: bin counts, packed.
    #[prost(uint32, repeated, tag = "8")]
    pub n: Vec<u32>,
}

/// `SketchPayload.Sketch.Distribution`: the deprecated GK-sketch point.
#[derive(Clone, PartialEq, Message)]
pub struct Distribution {
    /// Field 1.
    #[prost(int64, tag = "1")]
    pub ts: i64,
    /// Field 2.
    #[prost(int64, tag = "2")]
    pub cnt: i64,
    /// Field 3.
    #[prost(double, tag = "3")]
    pub min: f64,
    /// Field 4.
    #[prost(double, tag = "4")]
    pub max: f64,
    /// Field 5.
    #[prost(double, tag = "5")]
    pub avg: f64,
    /// Field 6.
    #[prost(double, tag = "6")]
    pub sum: f64,
    /// Field 7.
    #[prost(double, repeated, tag = "7")]
    pub v: Vec<f64>,
    /// Field 8.
    #[prost(uint32, repeated, tag = "8")]
    pub g: Vec<u32>,
    /// Field 9.
    #[prost(uint32, repeated, tag = "9")]
    pub delta: Vec<u32>,
    /// Field 10.
    #[prost(double, repeated, tag = "10")]
    pub buf: Vec<f64>,
}

/// Decodes the Agent's `POST /api/v2/series` protobuf body
/// ([`MetricPayload`]).
///
/// The host is the `name` of the first resource of type `host`;
/// `source_type_name` and `metadata` are not stored. An empty `metric`
/// (proto3's default) is an invalid name; a type outside 0..=3 or a negative
/// interval is a 400. NaN/±inf values are dropped and counted (proto3 cannot
/// say `null`, so a missing value reads as 0). See the
/// [`DecodedMetrics`] for the window.
pub fn decode_series_v2_protobuf(
    body: &[u8],
    now_s: i64,
    limits: &MetricsLimits,
) -> Result<DecodedMetrics, IngestError> {
    let payload = MetricPayload::decode(body)
        .map_err(|e| IngestError::bad(format!("invalid protobuf MetricPayload: {e}")))?;
    let mut collector = Collector::new(now_s, limits);
    for (index, series) in payload.series.into_iter().enumerate() {
        let label = Label {
            list: "series",
            index,
        };
        collector.count_series(&label)?;
        collector.count_points(series.points.len(), &label)?;
        let kind = match MetricType::try_from(series.r#type) {
            Ok(MetricType::Unspecified) => strata_metrics::MetricType::Unspecified,
            Ok(MetricType::Count) => strata_metrics::MetricType::Count,
            Ok(MetricType::Rate) => strata_metrics::MetricType::Rate,
            Ok(MetricType::Gauge) => strata_metrics::MetricType::Gauge,
            Err(_) => {
                return Err(IngestError::bad(format!(
                    "{label}.type: {} is not 0 (unspecified), 1 (count), 2 (rate) or 3 (gauge)",
                    series.r#type
                )))
            }
        };
        let interval_s = interval_s(&label, series.interval)?;
        let host = series
            .resources
            .into_iter()
            .find(|r| r.r#type == "host")
            .map(|r| r.name)
            .unwrap_or_default();
        let key = series_key(&label, Some(&series.metric), host, series.tags)?;
        let mut points = Vec::with_capacity(series.points.len());
        for point in &series.points {
            collector.keep_point(point.timestamp, Some(point.value), &mut points);
        }
        collector.push_series(SeriesPoints {
            key,
            kind,
            interval_s,
            unit: series.unit,
            points,
        });
    }
    Ok(collector.finish())
}

/// Decodes the Agent's `POST /api/beta/sketches` protobuf body
/// ([`SketchPayload`]) into sketch series, one sketch per `Dogsketch`.
///
/// Malformed dogsketches are a 400 naming them (`sketches[2].dogsketches[0]:
/// …`): a negative count, `k`/`n` of different lengths, keys out of range,
/// a count that is not the sum of `n` (see
/// [`strata_metrics::Sketch::from_agent`]). Dropped and counted: non-empty
/// dogsketches whose min, max or sum is not finite, empty ones, and those
/// outside the window. A sketch that only carries the deprecated
/// `distributions` (GK sketches, Agent 5) is refused: it cannot be read
/// exactly. `avg` and the payload's `metadata` are not used.
pub fn decode_sketches_protobuf(
    body: &[u8],
    now_s: i64,
    limits: &MetricsLimits,
) -> Result<DecodedMetrics, IngestError> {
    let payload = SketchPayload::decode(body)
        .map_err(|e| IngestError::bad(format!("invalid protobuf SketchPayload: {e}")))?;
    let mut collector = Collector::new(now_s, limits);
    for (index, sketch) in payload.sketches.into_iter().enumerate() {
        let label = Label {
            list: "sketches",
            index,
        };
        collector.count_series(&label)?;
        collector.count_points(sketch.dogsketches.len(), &label)?;
        if !sketch.distributions.is_empty() {
            return Err(IngestError::bad(format!(
                "{label}.distributions: the deprecated GK distribution format is not supported; \
                 send dogsketches (Agent 6 and later)"
            )));
        }
        let key = series_key(&label, Some(&sketch.metric), sketch.host, sketch.tags)?;
        let mut points = Vec::with_capacity(sketch.dogsketches.len());
        for (j, d) in sketch.dogsketches.iter().enumerate() {
            if d.cnt > 0 && !(d.min.is_finite() && d.max.is_finite() && d.sum.is_finite()) {
                collector.drop_point(DropReason::NonFinite);
                continue;
            }
            let parsed = StrataSketch::from_agent(d.cnt, d.min, d.max, d.sum, &d.k, &d.n)
                .map_err(|e| IngestError::bad(format!("{label}.dogsketches[{j}]: {e}")))?;
            if parsed.is_empty() {
                collector.drop_point(DropReason::NoValue);
            } else if let Some(why) = collector.outside_window(d.ts) {
                collector.drop_point(why);
            } else {
                points.push((d.ts, parsed));
            }
        }
        collector.push_sketches(SketchPoints { key, points });
    }
    Ok(collector.finish())
}

#[cfg(test)]
mod tests;
