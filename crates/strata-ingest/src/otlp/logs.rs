//! OTLP logs: the `logs/v1` and `collector/logs/v1` messages, and log record
//! to [`Event`] conversion.
//!
//! ```text
//! ExportLogsServiceRequest  { repeated ResourceLogs resource_logs = 1 }
//! ExportLogsServiceResponse { ExportLogsPartialSuccess partial_success = 1 }
//! ExportLogsPartialSuccess  { int64 rejected_log_records = 1; string error_message = 2 }
//! ResourceLogs { Resource resource = 1; repeated ScopeLogs scope_logs = 2;
//!                string schema_url = 3; reserved 1000 }
//! ScopeLogs    { InstrumentationScope scope = 1; repeated LogRecord log_records = 2;
//!                string schema_url = 3 }
//! LogRecord    { fixed64 time_unix_nano = 1; fixed64 observed_time_unix_nano = 11;
//!                SeverityNumber severity_number = 2; string severity_text = 3;
//!                AnyValue body = 5; repeated KeyValue attributes = 6;
//!                uint32 dropped_attributes_count = 7; fixed32 flags = 8;
//!                bytes trace_id = 9; bytes span_id = 10; string event_name = 12;
//!                reserved 4 }
//! ```

use serde::Deserialize;
use strata_types::{AttrValue, Event, Status};

use super::common::{
    de_enum, de_hex_id, de_i64, de_nullable, de_seq, de_u32, de_u64, id_hex, into_text_max,
    nanos_i64, AnyValue, AttrList, InstrumentationScope, KeyValue, OtlpEnum, Resource,
};
use super::json_walk::JsonKeys;
use super::wire::Shape;
use super::{service_of, Collector, Context, Counts, DecodedEvents, Format, Names, OtlpRequest};
use crate::IngestError;

/// `ExportLogsServiceRequest`: the body of `POST /v1/logs`.
#[derive(Clone, PartialEq, prost::Message, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ExportLogsServiceRequest {
    /// Field 1.
    #[prost(message, repeated, tag = "1")]
    #[serde(alias = "resource_logs", deserialize_with = "de_seq")]
    pub resource_logs: Vec<ResourceLogs>,
}

/// `ResourceLogs`: the logs of one resource.
#[derive(Clone, PartialEq, prost::Message, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ResourceLogs {
    /// Field 1.
    #[prost(message, optional, tag = "1")]
    pub resource: Option<Resource>,
    /// Field 2.
    #[prost(message, repeated, tag = "2")]
    #[serde(alias = "scope_logs", deserialize_with = "de_seq")]
    pub scope_logs: Vec<ScopeLogs>,
    /// Field 3.
    #[prost(string, tag = "3")]
    #[serde(alias = "schema_url", deserialize_with = "de_nullable")]
    pub schema_url: String,
}

/// `ScopeLogs`: the logs of one instrumentation scope.
#[derive(Clone, PartialEq, prost::Message, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ScopeLogs {
    /// Field 1.
    #[prost(message, optional, tag = "1")]
    pub scope: Option<InstrumentationScope>,
    /// Field 2.
    #[prost(message, repeated, tag = "2")]
    #[serde(alias = "log_records", deserialize_with = "de_seq")]
    pub log_records: Vec<LogRecord>,
    /// Field 3.
    #[prost(string, tag = "3")]
    #[serde(alias = "schema_url", deserialize_with = "de_nullable")]
    pub schema_url: String,
}

/// `LogRecord`.
#[derive(Clone, PartialEq, prost::Message, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct LogRecord {
    /// Field 1: event time, ns since the epoch (0: unknown).
    #[prost(fixed64, tag = "1")]
    #[serde(alias = "time_unix_nano", deserialize_with = "de_u64")]
    pub time_unix_nano: u64,
    /// Field 11: collection time, ns since the epoch.
    #[prost(fixed64, tag = "11")]
    #[serde(alias = "observed_time_unix_nano", deserialize_with = "de_u64")]
    pub observed_time_unix_nano: u64,
    /// Field 2: a [`SeverityNumber`].
    #[prost(enumeration = "SeverityNumber", tag = "2")]
    #[serde(
        alias = "severity_number",
        deserialize_with = "de_enum::<_, SeverityNumber>"
    )]
    pub severity_number: i32,
    /// Field 3.
    #[prost(string, tag = "3")]
    #[serde(alias = "severity_text", deserialize_with = "de_nullable")]
    pub severity_text: String,
    /// Field 5.
    #[prost(message, optional, tag = "5")]
    pub body: Option<AnyValue>,
    /// Field 6.
    #[prost(message, repeated, tag = "6")]
    #[serde(deserialize_with = "de_seq")]
    pub attributes: Vec<KeyValue>,
    /// Field 7.
    #[prost(uint32, tag = "7")]
    #[serde(alias = "dropped_attributes_count", deserialize_with = "de_u32")]
    pub dropped_attributes_count: u32,
    /// Field 8: W3C trace flags in the low byte.
    #[prost(fixed32, tag = "8")]
    #[serde(deserialize_with = "de_u32")]
    pub flags: u32,
    /// Field 9: 16 bytes (hex in JSON), or empty.
    #[prost(bytes = "vec", tag = "9")]
    #[serde(alias = "trace_id", deserialize_with = "de_hex_id")]
    pub trace_id: Vec<u8>,
    /// Field 10: 8 bytes (hex in JSON), or empty.
    #[prost(bytes = "vec", tag = "10")]
    #[serde(alias = "span_id", deserialize_with = "de_hex_id")]
    pub span_id: Vec<u8>,
    /// Field 12.
    #[prost(string, tag = "12")]
    #[serde(alias = "event_name", deserialize_with = "de_nullable")]
    pub event_name: String,
}

/// `SeverityNumber`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
#[allow(missing_docs)]
pub enum SeverityNumber {
    Unspecified = 0,
    Trace = 1,
    Trace2 = 2,
    Trace3 = 3,
    Trace4 = 4,
    Debug = 5,
    Debug2 = 6,
    Debug3 = 7,
    Debug4 = 8,
    Info = 9,
    Info2 = 10,
    Info3 = 11,
    Info4 = 12,
    Warn = 13,
    Warn2 = 14,
    Warn3 = 15,
    Warn4 = 16,
    Error = 17,
    Error2 = 18,
    Error3 = 19,
    Error4 = 20,
    Fatal = 21,
    Fatal2 = 22,
    Fatal3 = 23,
    Fatal4 = 24,
}

impl OtlpEnum for SeverityNumber {
    /// `SEVERITY_NUMBER_UNSPECIFIED`, `SEVERITY_NUMBER_TRACE` … `SEVERITY_NUMBER_FATAL4`.
    fn number_of(name: &str) -> Option<i32> {
        let rest = name.strip_prefix("SEVERITY_NUMBER_")?;
        if rest == "UNSPECIFIED" {
            return Some(0);
        }
        let split = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let (level, step) = rest.split_at(split);
        let base = match level {
            "TRACE" => 1,
            "DEBUG" => 5,
            "INFO" => 9,
            "WARN" => 13,
            "ERROR" => 17,
            "FATAL" => 21,
            _ => return None,
        };
        let offset = match step {
            "" => 0,
            "2" => 1,
            "3" => 2,
            "4" => 3,
            _ => return None,
        };
        Some(base + offset)
    }
}

/// `ExportLogsServiceResponse`.
#[derive(Clone, PartialEq, prost::Message, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ExportLogsServiceResponse {
    /// Field 1: set when some records were rejected.
    #[prost(message, optional, tag = "1")]
    #[serde(alias = "partial_success")]
    pub partial_success: Option<ExportLogsPartialSuccess>,
}

/// `ExportLogsPartialSuccess`.
#[derive(Clone, PartialEq, prost::Message, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ExportLogsPartialSuccess {
    /// Field 1.
    #[prost(int64, tag = "1")]
    #[serde(alias = "rejected_log_records", deserialize_with = "de_i64")]
    pub rejected_log_records: i64,
    /// Field 2.
    #[prost(string, tag = "2")]
    #[serde(alias = "error_message", deserialize_with = "de_nullable")]
    pub error_message: String,
}

const NAMES: Names = Names {
    request: "ExportLogsServiceRequest",
    resource: "ResourceLogs",
    scope: "ScopeLogs",
    record: "LogRecord",
    shape: Shape::LogRecord,
};

const JSON_KEYS: JsonKeys = JsonKeys {
    resources: ["resourceLogs", "resource_logs"],
    scopes: ["scopeLogs", "scope_logs"],
    records: ["logRecords", "log_records"],
};

/// Decodes an `ExportLogsServiceRequest` (see [`super::decode_logs`]).
pub(crate) fn decode(body: &[u8], request: &OtlpRequest) -> Result<DecodedEvents, IngestError> {
    let mut out = Collector::new(request);
    match request.format {
        Format::Protobuf => super::wire::walk(body, &NAMES, &mut out, convert)?,
        Format::Json => super::json_walk::walk(body, &NAMES, &JSON_KEYS, &mut out, convert)?,
    }
    Ok(out.finish())
}

/// The status of a record: from `severity_number` (1–8 debug, 9–12 info,
/// 13–16 warn, 17–20 error, 21–24 emergency, as `fatal` normalises), else
/// from `severity_text` as Datadog normalises it, else info.
pub fn severity_status(number: i32, text: &str) -> Status {
    match number {
        1..=8 => Status::Debug,
        9..=12 => Status::Info,
        13..=16 => Status::Warn,
        17..=20 => Status::Error,
        21..=24 => Status::Emergency,
        _ if text.trim().is_empty() => Status::Info,
        _ => Status::normalize(text),
    }
}

/// One log record as an event (its strings move into the event).
fn convert(record: LogRecord, context: &Context, request: &OtlpRequest) -> Result<Event, String> {
    Counts {
        attributes: record.attributes.len(),
        ..Counts::default()
    }
    .check()?;
    let (resource, scope) = context.fields()?;
    let timestamp_ns = match (record.time_unix_nano, record.observed_time_unix_nano) {
        (0, 0) => request.now_ns,
        (0, observed) => nanos_i64(observed),
        (time, _) => nanos_i64(time),
    };
    let message = into_text_max(record.body, request.max_log_bytes);
    let mut event = Event::new(timestamp_ns, message);
    event.status = severity_status(record.severity_number, &record.severity_text);
    event.service = service_of(resource, &record.attributes);
    event.host = resource.host.clone();
    event.tags = resource.tags.clone();
    event.trace_id = id_hex(&record.trace_id, 16);

    let mut attributes = AttrList::new();
    if let Some(span_id) = id_hex(&record.span_id, 8) {
        attributes.push("span_id".into(), AttrValue::Str(span_id))?;
    }
    attributes.push_key_values(record.attributes)?;
    attributes.extend_from(&resource.attributes)?;
    attributes.extend_from(scope)?;
    if !record.severity_text.is_empty() {
        let text = AttrValue::Str(record.severity_text);
        attributes.push("otel.severity_text".into(), text)?;
    }
    if !record.event_name.is_empty() {
        let name = AttrValue::Str(record.event_name);
        attributes.push("otel.event_name".into(), name)?;
    }
    event.attributes = attributes.into_vec();
    Ok(event)
}
