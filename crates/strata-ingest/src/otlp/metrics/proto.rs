//! `opentelemetry/proto/metrics/v1/metrics.proto` and
//! `collector/metrics/v1/metrics_service.proto`, written by hand as prost
//! messages that also derive `serde::Deserialize` for OTLP/JSON (see
//! [`common`](crate::otlp::common) for the JSON conventions).
//!
//! ```text
//! ExportMetricsServiceRequest { repeated ResourceMetrics resource_metrics = 1 }
//! ExportMetricsServiceResponse { ExportMetricsPartialSuccess partial_success = 1 }
//! ExportMetricsPartialSuccess { int64 rejected_data_points = 1; string error_message = 2 }
//! MetricsData     { repeated ResourceMetrics resource_metrics = 1 }
//! ResourceMetrics { Resource resource = 1; repeated ScopeMetrics scope_metrics = 2;
//!                   string schema_url = 3 }  (1000, the deprecated
//!                   instrumentation_library_metrics, is skipped)
//! ScopeMetrics    { InstrumentationScope scope = 1; repeated Metric metrics = 2;
//!                   string schema_url = 3 }
//! Metric          { string name = 1; string description = 2; string unit = 3;
//!                   oneof data { Gauge gauge = 5; Sum sum = 7; Histogram histogram = 9;
//!                   ExponentialHistogram exponential_histogram = 10; Summary summary = 11 }
//!                   repeated KeyValue metadata = 12 }
//! Gauge           { repeated NumberDataPoint data_points = 1 }
//! Sum             { repeated NumberDataPoint data_points = 1;
//!                   AggregationTemporality aggregation_temporality = 2; bool is_monotonic = 3 }
//! Histogram       { repeated HistogramDataPoint data_points = 1;
//!                   AggregationTemporality aggregation_temporality = 2 }
//! ExponentialHistogram { repeated ExponentialHistogramDataPoint data_points = 1;
//!                   AggregationTemporality aggregation_temporality = 2 }
//! Summary         { repeated SummaryDataPoint data_points = 1 }
//! AggregationTemporality { UNSPECIFIED = 0; DELTA = 1; CUMULATIVE = 2 }
//!                   (names prefixed AGGREGATION_TEMPORALITY_)
//! NumberDataPoint { repeated KeyValue attributes = 7; fixed64 start_time_unix_nano = 2;
//!                   fixed64 time_unix_nano = 3; oneof value { double as_double = 4;
//!                   sfixed64 as_int = 6 } repeated Exemplar exemplars = 5; uint32 flags = 8 }
//! HistogramDataPoint { repeated KeyValue attributes = 9; fixed64 start_time_unix_nano = 2;
//!                   fixed64 time_unix_nano = 3; fixed64 count = 4; optional double sum = 5;
//!                   repeated fixed64 bucket_counts = 6; repeated double explicit_bounds = 7;
//!                   repeated Exemplar exemplars = 8; uint32 flags = 10;
//!                   optional double min = 11; optional double max = 12 }
//! ExponentialHistogramDataPoint { repeated KeyValue attributes = 1;
//!                   fixed64 start_time_unix_nano = 2; fixed64 time_unix_nano = 3;
//!                   fixed64 count = 4; optional double sum = 5; sint32 scale = 6;
//!                   fixed64 zero_count = 7; Buckets positive = 8; Buckets negative = 9;
//!                   uint32 flags = 10; repeated Exemplar exemplars = 11;
//!                   optional double min = 12; optional double max = 13;
//!                   double zero_threshold = 14 }
//!   Buckets       { sint32 offset = 1; repeated uint64 bucket_counts = 2 }
//! SummaryDataPoint { repeated KeyValue attributes = 7; fixed64 start_time_unix_nano = 2;
//!                   fixed64 time_unix_nano = 3; fixed64 count = 4; double sum = 5;
//!                   repeated ValueAtQuantile quantile_values = 6; uint32 flags = 8 }
//!   ValueAtQuantile { double quantile = 1; double value = 2 }
//! ```
//!
//! Exemplars are not decoded (prost skips the unknown fields; JSON ignores
//! the keys). Checked against `open-telemetry/opentelemetry-proto`
//! `metrics/v1/metrics.proto` (v1.x, with `metadata = 12`).

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::otlp::common::{
    de_enum, de_f64, de_i32, de_nullable, de_opt_f64, de_seq, de_u32, de_u64, InstrumentationScope,
    KeyValue, OtlpEnum, Resource,
};

/// `ExportMetricsServiceRequest`: the body of `POST /v1/metrics`.
#[derive(Clone, PartialEq, prost::Message, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ExportMetricsServiceRequest {
    /// Field 1.
    #[prost(message, repeated, tag = "1")]
    #[serde(alias = "resource_metrics", deserialize_with = "de_seq")]
    pub resource_metrics: Vec<ResourceMetrics>,
}

/// `MetricsData`: the same shape as [`ExportMetricsServiceRequest`], for
/// files and other transports.
#[derive(Clone, PartialEq, prost::Message, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct MetricsData {
    /// Field 1.
    #[prost(message, repeated, tag = "1")]
    #[serde(alias = "resource_metrics", deserialize_with = "de_seq")]
    pub resource_metrics: Vec<ResourceMetrics>,
}

/// `ExportMetricsServiceResponse`: the reply to `POST /v1/metrics`. In JSON
/// (`Serialize`) `rejectedDataPoints` is a string, as proto3 JSON writes
/// `int64`.
#[derive(Clone, PartialEq, prost::Message, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ExportMetricsServiceResponse {
    /// Field 1: set when some data points were refused.
    #[prost(message, optional, tag = "1")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub partial_success: Option<ExportMetricsPartialSuccess>,
}

/// `ExportMetricsPartialSuccess`.
#[derive(Clone, PartialEq, prost::Message, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ExportMetricsPartialSuccess {
    /// Field 1: data points refused.
    #[prost(int64, tag = "1")]
    #[serde(serialize_with = "ser_i64_string")]
    pub rejected_data_points: i64,
    /// Field 2: why (human readable).
    #[prost(string, tag = "2")]
    pub error_message: String,
}

fn ser_i64_string<S: Serializer>(v: &i64, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(v)
}

/// `ResourceMetrics`: the metrics of one resource.
#[derive(Clone, PartialEq, prost::Message, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ResourceMetrics {
    /// Field 1.
    #[prost(message, optional, tag = "1")]
    pub resource: Option<Resource>,
    /// Field 2.
    #[prost(message, repeated, tag = "2")]
    #[serde(alias = "scope_metrics", deserialize_with = "de_seq")]
    pub scope_metrics: Vec<ScopeMetrics>,
    /// Field 3.
    #[prost(string, tag = "3")]
    #[serde(alias = "schema_url", deserialize_with = "de_nullable")]
    pub schema_url: String,
}

/// `ScopeMetrics`: the metrics of one instrumentation scope.
#[derive(Clone, PartialEq, prost::Message, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ScopeMetrics {
    /// Field 1.
    #[prost(message, optional, tag = "1")]
    pub scope: Option<InstrumentationScope>,
    /// Field 2.
    #[prost(message, repeated, tag = "2")]
    #[serde(deserialize_with = "de_seq")]
    pub metrics: Vec<Metric>,
    /// Field 3.
    #[prost(string, tag = "3")]
    #[serde(alias = "schema_url", deserialize_with = "de_nullable")]
    pub schema_url: String,
}

/// `Metric`: a name, a unit and one kind of data. In JSON the `data` oneof
/// is flattened: `{"name":"x","sum":{…}}`.
#[derive(Clone, PartialEq, prost::Message, Deserialize)]
#[serde(from = "MetricJson")]
pub struct Metric {
    /// Field 1.
    #[prost(string, tag = "1")]
    pub name: String,
    /// Field 2.
    #[prost(string, tag = "2")]
    pub description: String,
    /// Field 3: a UCUM unit (`By`, `ms`, `1`, `{request}`).
    #[prost(string, tag = "3")]
    pub unit: String,
    /// Fields 5, 7, 9, 10, 11 (oneof `data`).
    #[prost(oneof = "metric::Data", tags = "5, 7, 9, 10, 11")]
    pub data: Option<metric::Data>,
    /// Field 12.
    #[prost(message, repeated, tag = "12")]
    pub metadata: Vec<KeyValue>,
}

/// The `Metric.data` oneof.
pub mod metric {
    /// One kind of metric data.
    #[derive(Clone, PartialEq, prost::Oneof)]
    pub enum Data {
        /// Field 5.
        #[prost(message, tag = "5")]
        Gauge(super::Gauge),
        /// Field 7.
        #[prost(message, tag = "7")]
        Sum(super::Sum),
        /// Field 9.
        #[prost(message, tag = "9")]
        Histogram(super::Histogram),
        /// Field 10.
        #[prost(message, tag = "10")]
        ExponentialHistogram(super::ExponentialHistogram),
        /// Field 11.
        #[prost(message, tag = "11")]
        Summary(super::Summary),
    }
}

/// The JSON shape of [`Metric`]: every oneof member as an optional key (the
/// first present, in field order, wins).
#[derive(Deserialize)]
#[serde(default, rename_all = "camelCase")]
#[derive(Default)]
struct MetricJson {
    #[serde(deserialize_with = "de_nullable")]
    name: String,
    #[serde(deserialize_with = "de_nullable")]
    description: String,
    #[serde(deserialize_with = "de_nullable")]
    unit: String,
    gauge: Option<Gauge>,
    sum: Option<Sum>,
    histogram: Option<Histogram>,
    #[serde(alias = "exponential_histogram")]
    exponential_histogram: Option<ExponentialHistogram>,
    summary: Option<Summary>,
    #[serde(deserialize_with = "de_seq")]
    metadata: Vec<KeyValue>,
}

impl From<MetricJson> for Metric {
    fn from(json: MetricJson) -> Metric {
        use metric::Data;
        let data = if let Some(g) = json.gauge {
            Some(Data::Gauge(g))
        } else if let Some(s) = json.sum {
            Some(Data::Sum(s))
        } else if let Some(h) = json.histogram {
            Some(Data::Histogram(h))
        } else if let Some(e) = json.exponential_histogram {
            Some(Data::ExponentialHistogram(e))
        } else {
            json.summary.map(Data::Summary)
        };
        Metric {
            name: json.name,
            description: json.description,
            unit: json.unit,
            data,
            metadata: json.metadata,
        }
    }
}

/// `AggregationTemporality`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, prost::Enumeration)]
#[repr(i32)]
pub enum AggregationTemporality {
    /// Not set (the specification says it must not be used).
    Unspecified = 0,
    /// Each point covers `(start, time]` only.
    Delta = 1,
    /// Each point covers everything since a fixed start time.
    Cumulative = 2,
}

impl OtlpEnum for AggregationTemporality {
    fn number_of(name: &str) -> Option<i32> {
        match name {
            "AGGREGATION_TEMPORALITY_UNSPECIFIED" => Some(0),
            "AGGREGATION_TEMPORALITY_DELTA" => Some(1),
            "AGGREGATION_TEMPORALITY_CUMULATIVE" => Some(2),
            _ => None,
        }
    }
}

fn de_temporality<'de, D: Deserializer<'de>>(d: D) -> Result<i32, D::Error> {
    de_enum::<D, AggregationTemporality>(d)
}

/// `Gauge`.
#[derive(Clone, PartialEq, prost::Message, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Gauge {
    /// Field 1.
    #[prost(message, repeated, tag = "1")]
    #[serde(alias = "data_points", deserialize_with = "de_seq")]
    pub data_points: Vec<NumberDataPoint>,
}

/// `Sum`.
#[derive(Clone, PartialEq, prost::Message, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Sum {
    /// Field 1.
    #[prost(message, repeated, tag = "1")]
    #[serde(alias = "data_points", deserialize_with = "de_seq")]
    pub data_points: Vec<NumberDataPoint>,
    /// Field 2: an [`AggregationTemporality`].
    #[prost(enumeration = "AggregationTemporality", tag = "2")]
    #[serde(alias = "aggregation_temporality", deserialize_with = "de_temporality")]
    pub aggregation_temporality: i32,
    /// Field 3.
    #[prost(bool, tag = "3")]
    #[serde(alias = "is_monotonic", deserialize_with = "de_nullable")]
    pub is_monotonic: bool,
}

/// `Histogram`.
#[derive(Clone, PartialEq, prost::Message, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Histogram {
    /// Field 1.
    #[prost(message, repeated, tag = "1")]
    #[serde(alias = "data_points", deserialize_with = "de_seq")]
    pub data_points: Vec<HistogramDataPoint>,
    /// Field 2: an [`AggregationTemporality`].
    #[prost(enumeration = "AggregationTemporality", tag = "2")]
    #[serde(alias = "aggregation_temporality", deserialize_with = "de_temporality")]
    pub aggregation_temporality: i32,
}

/// `ExponentialHistogram`.
#[derive(Clone, PartialEq, prost::Message, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ExponentialHistogram {
    /// Field 1.
    #[prost(message, repeated, tag = "1")]
    #[serde(alias = "data_points", deserialize_with = "de_seq")]
    pub data_points: Vec<ExponentialHistogramDataPoint>,
    /// Field 2: an [`AggregationTemporality`].
    #[prost(enumeration = "AggregationTemporality", tag = "2")]
    #[serde(alias = "aggregation_temporality", deserialize_with = "de_temporality")]
    pub aggregation_temporality: i32,
}

/// `Summary` (always cumulative).
#[derive(Clone, PartialEq, prost::Message, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Summary {
    /// Field 1.
    #[prost(message, repeated, tag = "1")]
    #[serde(alias = "data_points", deserialize_with = "de_seq")]
    pub data_points: Vec<SummaryDataPoint>,
}

/// `DataPointFlags.FLAG_NO_RECORDED_VALUE`: the point only marks a gap.
pub const FLAG_NO_RECORDED_VALUE: u32 = 1;

/// `NumberDataPoint`: one gauge or sum value. In JSON the `value` oneof is
/// flattened: `{"asDouble":1.5}` or `{"asInt":"3"}`.
#[derive(Clone, PartialEq, prost::Message, Deserialize)]
#[serde(from = "NumberDataPointJson")]
pub struct NumberDataPoint {
    /// Field 7.
    #[prost(message, repeated, tag = "7")]
    pub attributes: Vec<KeyValue>,
    /// Field 2.
    #[prost(fixed64, tag = "2")]
    pub start_time_unix_nano: u64,
    /// Field 3.
    #[prost(fixed64, tag = "3")]
    pub time_unix_nano: u64,
    /// Fields 4 and 6 (oneof `value`); `None` when the point has no value.
    #[prost(oneof = "number_data_point::Value", tags = "4, 6")]
    pub value: Option<number_data_point::Value>,
    /// Field 8: see [`FLAG_NO_RECORDED_VALUE`].
    #[prost(uint32, tag = "8")]
    pub flags: u32,
}

/// The `NumberDataPoint.value` oneof.
pub mod number_data_point {
    /// A point's value.
    #[derive(Clone, Copy, PartialEq, prost::Oneof)]
    pub enum Value {
        /// Field 4.
        #[prost(double, tag = "4")]
        AsDouble(f64),
        /// Field 6.
        #[prost(sfixed64, tag = "6")]
        AsInt(i64),
    }
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct NumberDataPointJson {
    #[serde(deserialize_with = "de_seq")]
    attributes: Vec<KeyValue>,
    #[serde(alias = "start_time_unix_nano", deserialize_with = "de_u64")]
    start_time_unix_nano: u64,
    #[serde(alias = "time_unix_nano", deserialize_with = "de_u64")]
    time_unix_nano: u64,
    #[serde(alias = "as_double", deserialize_with = "de_opt_f64")]
    as_double: Option<f64>,
    #[serde(alias = "as_int", deserialize_with = "crate::otlp::common::de_opt_i64")]
    as_int: Option<i64>,
    #[serde(deserialize_with = "de_u32")]
    flags: u32,
}

impl From<NumberDataPointJson> for NumberDataPoint {
    fn from(json: NumberDataPointJson) -> NumberDataPoint {
        use number_data_point::Value;
        let value = match (json.as_double, json.as_int) {
            (Some(d), _) => Some(Value::AsDouble(d)),
            (None, Some(i)) => Some(Value::AsInt(i)),
            (None, None) => None,
        };
        NumberDataPoint {
            attributes: json.attributes,
            start_time_unix_nano: json.start_time_unix_nano,
            time_unix_nano: json.time_unix_nano,
            value,
            flags: json.flags,
        }
    }
}

/// A `fixed64`/`uint64` list element in JSON (number or string).
struct U64(u64);

impl<'de> Deserialize<'de> for U64 {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<U64, D::Error> {
        de_u64(d).map(U64)
    }
}

/// A `double` list element in JSON (number, `"NaN"`, `"Infinity"`, …).
struct F64(f64);

impl<'de> Deserialize<'de> for F64 {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<F64, D::Error> {
        de_f64(d).map(F64)
    }
}

/// A repeated `uint64`/`fixed64` field: through [`de_seq`], so each element
/// is charged to the [`JsonBudget`](crate::otlp::common::JsonBudget) (the
/// `collect` reuses the list's allocation).
fn de_u64_list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u64>, D::Error> {
    let list: Vec<U64> = de_seq(d)?;
    Ok(list.into_iter().map(|v| v.0).collect())
}

/// A repeated `double` field, charged like [`de_u64_list`].
fn de_f64_list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<f64>, D::Error> {
    let list: Vec<F64> = de_seq(d)?;
    Ok(list.into_iter().map(|v| v.0).collect())
}

/// `HistogramDataPoint`: explicit-bucket histogram.
#[derive(Clone, PartialEq, prost::Message, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct HistogramDataPoint {
    /// Field 9.
    #[prost(message, repeated, tag = "9")]
    #[serde(deserialize_with = "de_seq")]
    pub attributes: Vec<KeyValue>,
    /// Field 2.
    #[prost(fixed64, tag = "2")]
    #[serde(alias = "start_time_unix_nano", deserialize_with = "de_u64")]
    pub start_time_unix_nano: u64,
    /// Field 3.
    #[prost(fixed64, tag = "3")]
    #[serde(alias = "time_unix_nano", deserialize_with = "de_u64")]
    pub time_unix_nano: u64,
    /// Field 4.
    #[prost(fixed64, tag = "4")]
    #[serde(deserialize_with = "de_u64")]
    pub count: u64,
    /// Field 5.
    #[prost(double, optional, tag = "5")]
    #[serde(deserialize_with = "de_opt_f64")]
    pub sum: Option<f64>,
    /// Field 6: one more than `explicit_bounds`.
    #[prost(fixed64, repeated, tag = "6")]
    #[serde(alias = "bucket_counts", deserialize_with = "de_u64_list")]
    pub bucket_counts: Vec<u64>,
    /// Field 7: bucket `i` is `(bounds[i-1], bounds[i]]`.
    #[prost(double, repeated, tag = "7")]
    #[serde(alias = "explicit_bounds", deserialize_with = "de_f64_list")]
    pub explicit_bounds: Vec<f64>,
    /// Field 10: see [`FLAG_NO_RECORDED_VALUE`].
    #[prost(uint32, tag = "10")]
    #[serde(deserialize_with = "de_u32")]
    pub flags: u32,
    /// Field 11.
    #[prost(double, optional, tag = "11")]
    #[serde(deserialize_with = "de_opt_f64")]
    pub min: Option<f64>,
    /// Field 12.
    #[prost(double, optional, tag = "12")]
    #[serde(deserialize_with = "de_opt_f64")]
    pub max: Option<f64>,
}

/// `ExponentialHistogramDataPoint`.
#[derive(Clone, PartialEq, prost::Message, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ExponentialHistogramDataPoint {
    /// Field 1.
    #[prost(message, repeated, tag = "1")]
    #[serde(deserialize_with = "de_seq")]
    pub attributes: Vec<KeyValue>,
    /// Field 2.
    #[prost(fixed64, tag = "2")]
    #[serde(alias = "start_time_unix_nano", deserialize_with = "de_u64")]
    pub start_time_unix_nano: u64,
    /// Field 3.
    #[prost(fixed64, tag = "3")]
    #[serde(alias = "time_unix_nano", deserialize_with = "de_u64")]
    pub time_unix_nano: u64,
    /// Field 4.
    #[prost(fixed64, tag = "4")]
    #[serde(deserialize_with = "de_u64")]
    pub count: u64,
    /// Field 5.
    #[prost(double, optional, tag = "5")]
    #[serde(deserialize_with = "de_opt_f64")]
    pub sum: Option<f64>,
    /// Field 6: `base = 2^(2^-scale)`.
    #[prost(sint32, tag = "6")]
    #[serde(deserialize_with = "de_i32")]
    pub scale: i32,
    /// Field 7.
    #[prost(fixed64, tag = "7")]
    #[serde(alias = "zero_count", deserialize_with = "de_u64")]
    pub zero_count: u64,
    /// Field 8.
    #[prost(message, optional, tag = "8")]
    pub positive: Option<Buckets>,
    /// Field 9.
    #[prost(message, optional, tag = "9")]
    pub negative: Option<Buckets>,
    /// Field 10: see [`FLAG_NO_RECORDED_VALUE`].
    #[prost(uint32, tag = "10")]
    #[serde(deserialize_with = "de_u32")]
    pub flags: u32,
    /// Field 12.
    #[prost(double, optional, tag = "12")]
    #[serde(deserialize_with = "de_opt_f64")]
    pub min: Option<f64>,
    /// Field 13.
    #[prost(double, optional, tag = "13")]
    #[serde(deserialize_with = "de_opt_f64")]
    pub max: Option<f64>,
    /// Field 14.
    #[prost(double, tag = "14")]
    #[serde(alias = "zero_threshold", deserialize_with = "de_f64")]
    pub zero_threshold: f64,
}

/// `ExponentialHistogramDataPoint.Buckets`.
#[derive(Clone, PartialEq, prost::Message, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Buckets {
    /// Field 1: the index of `bucket_counts[0]`.
    #[prost(sint32, tag = "1")]
    #[serde(deserialize_with = "de_i32")]
    pub offset: i32,
    /// Field 2.
    #[prost(uint64, repeated, tag = "2")]
    #[serde(alias = "bucket_counts", deserialize_with = "de_u64_list")]
    pub bucket_counts: Vec<u64>,
}

/// `SummaryDataPoint`.
#[derive(Clone, PartialEq, prost::Message, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct SummaryDataPoint {
    /// Field 7.
    #[prost(message, repeated, tag = "7")]
    #[serde(deserialize_with = "de_seq")]
    pub attributes: Vec<KeyValue>,
    /// Field 2.
    #[prost(fixed64, tag = "2")]
    #[serde(alias = "start_time_unix_nano", deserialize_with = "de_u64")]
    pub start_time_unix_nano: u64,
    /// Field 3.
    #[prost(fixed64, tag = "3")]
    #[serde(alias = "time_unix_nano", deserialize_with = "de_u64")]
    pub time_unix_nano: u64,
    /// Field 4.
    #[prost(fixed64, tag = "4")]
    #[serde(deserialize_with = "de_u64")]
    pub count: u64,
    /// Field 5.
    #[prost(double, tag = "5")]
    #[serde(deserialize_with = "de_f64")]
    pub sum: f64,
    /// Field 6.
    #[prost(message, repeated, tag = "6")]
    #[serde(alias = "quantile_values", deserialize_with = "de_seq")]
    pub quantile_values: Vec<ValueAtQuantile>,
    /// Field 8: see [`FLAG_NO_RECORDED_VALUE`].
    #[prost(uint32, tag = "8")]
    #[serde(deserialize_with = "de_u32")]
    pub flags: u32,
}

/// `SummaryDataPoint.ValueAtQuantile`.
#[derive(Clone, PartialEq, prost::Message, Deserialize)]
#[serde(default)]
pub struct ValueAtQuantile {
    /// Field 1: in `[0, 1]`.
    #[prost(double, tag = "1")]
    #[serde(deserialize_with = "de_f64")]
    pub quantile: f64,
    /// Field 2.
    #[prost(double, tag = "2")]
    #[serde(deserialize_with = "de_f64")]
    pub value: f64,
}
