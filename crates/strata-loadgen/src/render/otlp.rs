//! OTLP `ExportLogsServiceRequest` bodies, as protobuf and as OTLP/JSON.
//!
//! Records are grouped by resource into one `ResourceLogs` each, in order
//! of first appearance, with one `ScopeLogs` (scope `strata-loadgen`): the
//! shape of a collector gateway forwarding many services' logs. The
//! resource is what an OpenTelemetry SDK would set: `service.name`,
//! `host.name`, and the Datadog tags `env` and `version` as
//! `deployment.environment` and `service.version` (which the intake maps
//! back to the `env:` and `version:` tags); every other attribute stays on
//! the record. A `LogRecord` has `time_unix_nano` and
//! `observed_time_unix_nano` (the event's time), `severity_number` and
//! `severity_text`, a string body, the attributes, and the trace and span
//! ids (the Datadog 64-bit ids in the low bytes) when the event has them.
//!
//! OTLP/JSON follows the protobuf JSON mapping as the OTLP spec pins it:
//! lowerCamelCase keys, 64-bit integers as strings, enums as integers, trace
//! and span ids as hex.

use std::collections::HashMap;

use prost::Message as _;
use serde::Serialize;
use strata_ingest::otlp::common::{AnyValue, InstrumentationScope, KeyValue, Resource};
use strata_ingest::otlp::logs::{ExportLogsServiceRequest, LogRecord, ResourceLogs, ScopeLogs};

use super::{AttrValue, Record};

/// `InstrumentationScope.name` of every `ScopeLogs`.
pub const SCOPE_NAME: &str = "strata-loadgen";

/// The OpenTelemetry `SeverityNumber` and `SeverityText` of a status.
pub fn severity_number(status: &str) -> (i32, &'static str) {
    match status {
        "trace" => (1, "TRACE"),
        "debug" => (5, "DEBUG"),
        "notice" => (10, "NOTICE"),
        "warn" | "warning" => (13, "WARN"),
        "error" => (17, "ERROR"),
        "critical" => (21, "CRITICAL"),
        "alert" => (22, "ALERT"),
        "emergency" => (23, "EMERGENCY"),
        _ => (9, "INFO"),
    }
}

/// The Datadog tags that OpenTelemetry SDKs send as resource attributes
/// (`OTEL_RESOURCE_ATTRIBUTES`), and the attribute each becomes.
const RESOURCE_TAGS: [(&str, &str); 2] = [
    ("env", "deployment.environment"),
    ("version", "service.version"),
];

/// A resource: its attributes, as (key, string value).
type ResourceKey<'a> = Vec<(&'static str, &'a str)>;

/// The resource of a record: `service.name`, `host.name`, then its
/// [`RESOURCE_TAGS`].
fn resource_of(r: &Record) -> ResourceKey<'_> {
    let mut key = vec![
        ("service.name", r.service.as_str()),
        ("host.name", r.host.as_str()),
    ];
    for (tag, attribute) in RESOURCE_TAGS {
        if let Some((_, AttrValue::Str(value))) = r.attrs.iter().find(|(k, _)| k == tag) {
            key.push((attribute, value.as_str()));
        }
    }
    key
}

/// The attributes of a record that stay on the record (not on its resource).
fn record_attrs(r: &Record) -> impl Iterator<Item = &(String, AttrValue)> {
    r.attrs
        .iter()
        .filter(|(k, _)| !RESOURCE_TAGS.iter().any(|(tag, _)| k == tag))
}

/// Records grouped by resource, in order of first appearance.
fn by_resource(records: &[Record]) -> Vec<(ResourceKey<'_>, Vec<&Record>)> {
    let mut groups: Vec<(ResourceKey<'_>, Vec<&Record>)> = Vec::new();
    let mut index: HashMap<ResourceKey<'_>, usize> = HashMap::new();
    for r in records {
        let key = resource_of(r);
        let i = *index.entry(key.clone()).or_insert_with(|| {
            groups.push((key, Vec::new()));
            groups.len() - 1
        });
        groups[i].1.push(r);
    }
    groups
}

fn nanos(ts_ms: i64) -> u64 {
    u64::try_from(ts_ms).unwrap_or(0).saturating_mul(1_000_000)
}

/// The 16-byte trace id of a 64-bit Datadog trace id (high bytes zero).
fn trace_id_bytes(id: u64) -> [u8; 16] {
    u128::from(id).to_be_bytes()
}

/// An `ExportLogsServiceRequest` of `records` as OTLP/JSON.
pub fn otlp_json_body(records: &[Record]) -> Vec<u8> {
    let request = JsonRequest {
        resource_logs: by_resource(records)
            .into_iter()
            .map(|(resource, records)| JsonResourceLogs {
                resource: JsonResource {
                    attributes: resource
                        .into_iter()
                        .map(|(key, value)| JsonKv {
                            key,
                            value: JsonValue::StringValue(value),
                        })
                        .collect(),
                },
                scope_logs: [JsonScopeLogs {
                    scope: JsonScope {
                        name: SCOPE_NAME,
                        version: env!("CARGO_PKG_VERSION"),
                    },
                    log_records: records.into_iter().map(json_record).collect(),
                }],
            })
            .collect(),
    };
    // Serializing strings and integers cannot fail.
    serde_json::to_vec(&request).unwrap_or_default()
}

fn json_record(r: &Record) -> JsonLogRecord<'_> {
    let (severity_number, severity_text) = severity_number(&r.status);
    let time = nanos(r.ts_ms).to_string();
    JsonLogRecord {
        observed_time_unix_nano: time.clone(),
        time_unix_nano: time,
        severity_number,
        severity_text,
        body: JsonValue::StringValue(&r.message),
        attributes: record_attrs(r)
            .map(|(key, value)| JsonKv {
                key,
                value: match value {
                    AttrValue::Str(s) => JsonValue::StringValue(s),
                    AttrValue::Int(i) => JsonValue::IntValue(i.to_string()),
                },
            })
            .collect(),
        trace_id: r.trace_id.map(|id| hex(&trace_id_bytes(id))),
        span_id: r.span_id.map(|id| hex(&id.to_be_bytes())),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct JsonRequest<'a> {
    resource_logs: Vec<JsonResourceLogs<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct JsonResourceLogs<'a> {
    resource: JsonResource<'a>,
    scope_logs: [JsonScopeLogs<'a>; 1],
}

#[derive(Serialize)]
struct JsonResource<'a> {
    attributes: Vec<JsonKv<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct JsonScopeLogs<'a> {
    scope: JsonScope,
    log_records: Vec<JsonLogRecord<'a>>,
}

#[derive(Serialize)]
struct JsonScope {
    name: &'static str,
    version: &'static str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct JsonLogRecord<'a> {
    time_unix_nano: String,
    observed_time_unix_nano: String,
    severity_number: i32,
    severity_text: &'static str,
    body: JsonValue<'a>,
    attributes: Vec<JsonKv<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    trace_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    span_id: Option<String>,
}

#[derive(Serialize)]
struct JsonKv<'a> {
    key: &'a str,
    value: JsonValue<'a>,
}

/// `AnyValue` in JSON: the oneof member as the only key.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
enum JsonValue<'a> {
    StringValue(&'a str),
    IntValue(String),
}

/// An `ExportLogsServiceRequest` of `records` as protobuf.
pub fn otlp_protobuf_body(records: &[Record]) -> Vec<u8> {
    otlp_request(records).encode_to_vec()
}

/// The `ExportLogsServiceRequest` of `records` (the prost structs of
/// [`strata_ingest::otlp::logs`]).
pub fn otlp_request(records: &[Record]) -> ExportLogsServiceRequest {
    let resource_logs = by_resource(records)
        .into_iter()
        .map(|(resource, records)| ResourceLogs {
            resource: Some(Resource {
                attributes: resource
                    .into_iter()
                    .map(|(key, value)| KeyValue::string(key, value))
                    .collect(),
                ..Resource::default()
            }),
            scope_logs: vec![ScopeLogs {
                scope: Some(InstrumentationScope {
                    name: SCOPE_NAME.to_owned(),
                    version: env!("CARGO_PKG_VERSION").to_owned(),
                    ..InstrumentationScope::default()
                }),
                log_records: records.into_iter().map(proto_record).collect(),
                ..ScopeLogs::default()
            }],
            ..ResourceLogs::default()
        })
        .collect();
    ExportLogsServiceRequest { resource_logs }
}

fn proto_record(r: &Record) -> LogRecord {
    let (severity_number, severity_text) = severity_number(&r.status);
    LogRecord {
        time_unix_nano: nanos(r.ts_ms),
        observed_time_unix_nano: nanos(r.ts_ms),
        severity_number,
        severity_text: severity_text.to_owned(),
        body: Some(AnyValue::string(r.message.as_str())),
        attributes: record_attrs(r)
            .map(|(key, value)| {
                let value = match value {
                    AttrValue::Str(s) => AnyValue::string(s.as_str()),
                    AttrValue::Int(i) => AnyValue::int(*i),
                };
                KeyValue::new(key.as_str(), value)
            })
            .collect(),
        trace_id: r
            .trace_id
            .map_or_else(Vec::new, |id| trace_id_bytes(id).to_vec()),
        span_id: r
            .span_id
            .map_or_else(Vec::new, |id| id.to_be_bytes().to_vec()),
        ..LogRecord::default()
    }
}
