//! OTLP traces: the `trace/v1` and `collector/trace/v1` messages, and span
//! to [`Event`] conversion.
//!
//! ```text
//! ExportTraceServiceRequest  { repeated ResourceSpans resource_spans = 1 }
//! ExportTraceServiceResponse { ExportTracePartialSuccess partial_success = 1 }
//! ExportTracePartialSuccess  { int64 rejected_spans = 1; string error_message = 2 }
//! ResourceSpans { Resource resource = 1; repeated ScopeSpans scope_spans = 2;
//!                 string schema_url = 3; reserved 1000 }
//! ScopeSpans    { InstrumentationScope scope = 1; repeated Span spans = 2;
//!                 string schema_url = 3 }
//! Span   { bytes trace_id = 1; bytes span_id = 2; string trace_state = 3;
//!          bytes parent_span_id = 4; fixed32 flags = 16; string name = 5;
//!          SpanKind kind = 6; fixed64 start_time_unix_nano = 7;
//!          fixed64 end_time_unix_nano = 8; repeated KeyValue attributes = 9;
//!          uint32 dropped_attributes_count = 10; repeated Event events = 11;
//!          uint32 dropped_events_count = 12; repeated Link links = 13;
//!          uint32 dropped_links_count = 14; Status status = 15 }
//! Span.Event { fixed64 time_unix_nano = 1; string name = 2;
//!              repeated KeyValue attributes = 3; uint32 dropped_attributes_count = 4 }
//! Span.Link  { bytes trace_id = 1; bytes span_id = 2; string trace_state = 3;
//!              repeated KeyValue attributes = 4; uint32 dropped_attributes_count = 5;
//!              fixed32 flags = 6 }
//! Status { reserved 1; string message = 2; StatusCode code = 3 }
//! ```
//!
//! A span becomes an event with `source = "span"`, the span name as message,
//! `error` or `ok` status, and the attributes `span_id`, `parent_id` (not on
//! root spans), `resource`, `duration` (ns), `span.kind`, `otel.status_code`,
//! `otel.status_message`, then the span's, resource's and scope's attributes,
//! then `events` and `links` as JSON arrays. A span with more than 1000
//! attributes, [`MAX_SPAN_EVENTS`] events or [`MAX_SPAN_LINKS`] links is
//! refused (in protobuf, before it is decoded).

use serde::ser::SerializeMap;
use serde::{Deserialize, Serialize, Serializer};
use strata_types::{AttrValue, Event, Status as EventStatus};

use super::common::{
    de_enum, de_hex_id, de_i64, de_nullable, de_seq, de_u32, de_u64, id_hex, json_text, nanos_i64,
    prefix, scalar_text, to_hex, AttrList, InstrumentationScope, KeyValue, KeyValuesJson, OtlpEnum,
    Resource,
};
use super::json_walk::JsonKeys;
use super::wire::Shape;
use super::{service_of, Collector, Context, Counts, DecodedEvents, Format, Names, OtlpRequest};
use crate::IngestError;

/// `ExportTraceServiceRequest`: the body of `POST /v1/traces`.
#[derive(Clone, PartialEq, prost::Message, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ExportTraceServiceRequest {
    /// Field 1.
    #[prost(message, repeated, tag = "1")]
    #[serde(alias = "resource_spans", deserialize_with = "de_seq")]
    pub resource_spans: Vec<ResourceSpans>,
}

/// `ResourceSpans`: the spans of one resource.
#[derive(Clone, PartialEq, prost::Message, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ResourceSpans {
    /// Field 1.
    #[prost(message, optional, tag = "1")]
    pub resource: Option<Resource>,
    /// Field 2.
    #[prost(message, repeated, tag = "2")]
    #[serde(alias = "scope_spans", deserialize_with = "de_seq")]
    pub scope_spans: Vec<ScopeSpans>,
    /// Field 3.
    #[prost(string, tag = "3")]
    #[serde(alias = "schema_url", deserialize_with = "de_nullable")]
    pub schema_url: String,
}

/// `ScopeSpans`: the spans of one instrumentation scope.
#[derive(Clone, PartialEq, prost::Message, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ScopeSpans {
    /// Field 1.
    #[prost(message, optional, tag = "1")]
    pub scope: Option<InstrumentationScope>,
    /// Field 2.
    #[prost(message, repeated, tag = "2")]
    #[serde(deserialize_with = "de_seq")]
    pub spans: Vec<Span>,
    /// Field 3.
    #[prost(string, tag = "3")]
    #[serde(alias = "schema_url", deserialize_with = "de_nullable")]
    pub schema_url: String,
}

/// `Span`.
#[derive(Clone, PartialEq, prost::Message, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Span {
    /// Field 1: 16 bytes, not all zero (hex in JSON).
    #[prost(bytes = "vec", tag = "1")]
    #[serde(alias = "trace_id", deserialize_with = "de_hex_id")]
    pub trace_id: Vec<u8>,
    /// Field 2: 8 bytes, not all zero (hex in JSON).
    #[prost(bytes = "vec", tag = "2")]
    #[serde(alias = "span_id", deserialize_with = "de_hex_id")]
    pub span_id: Vec<u8>,
    /// Field 3: W3C `tracestate`.
    #[prost(string, tag = "3")]
    #[serde(alias = "trace_state", deserialize_with = "de_nullable")]
    pub trace_state: String,
    /// Field 4: 8 bytes, or empty for a root span (hex in JSON).
    #[prost(bytes = "vec", tag = "4")]
    #[serde(alias = "parent_span_id", deserialize_with = "de_hex_id")]
    pub parent_span_id: Vec<u8>,
    /// Field 16: W3C trace flags and the remote-parent bits.
    #[prost(fixed32, tag = "16")]
    #[serde(deserialize_with = "de_u32")]
    pub flags: u32,
    /// Field 5.
    #[prost(string, tag = "5")]
    #[serde(deserialize_with = "de_nullable")]
    pub name: String,
    /// Field 6: a [`SpanKind`].
    #[prost(enumeration = "SpanKind", tag = "6")]
    #[serde(deserialize_with = "de_enum::<_, SpanKind>")]
    pub kind: i32,
    /// Field 7: ns since the epoch.
    #[prost(fixed64, tag = "7")]
    #[serde(alias = "start_time_unix_nano", deserialize_with = "de_u64")]
    pub start_time_unix_nano: u64,
    /// Field 8: ns since the epoch.
    #[prost(fixed64, tag = "8")]
    #[serde(alias = "end_time_unix_nano", deserialize_with = "de_u64")]
    pub end_time_unix_nano: u64,
    /// Field 9.
    #[prost(message, repeated, tag = "9")]
    #[serde(deserialize_with = "de_seq")]
    pub attributes: Vec<KeyValue>,
    /// Field 10.
    #[prost(uint32, tag = "10")]
    #[serde(alias = "dropped_attributes_count", deserialize_with = "de_u32")]
    pub dropped_attributes_count: u32,
    /// Field 11.
    #[prost(message, repeated, tag = "11")]
    #[serde(deserialize_with = "de_seq")]
    pub events: Vec<SpanEvent>,
    /// Field 12.
    #[prost(uint32, tag = "12")]
    #[serde(alias = "dropped_events_count", deserialize_with = "de_u32")]
    pub dropped_events_count: u32,
    /// Field 13.
    #[prost(message, repeated, tag = "13")]
    #[serde(deserialize_with = "de_seq")]
    pub links: Vec<SpanLink>,
    /// Field 14.
    #[prost(uint32, tag = "14")]
    #[serde(alias = "dropped_links_count", deserialize_with = "de_u32")]
    pub dropped_links_count: u32,
    /// Field 15.
    #[prost(message, optional, tag = "15")]
    pub status: Option<SpanStatus>,
}

/// `Span.Event`: a timed annotation on a span.
#[derive(Clone, PartialEq, prost::Message, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct SpanEvent {
    /// Field 1: ns since the epoch.
    #[prost(fixed64, tag = "1")]
    #[serde(alias = "time_unix_nano", deserialize_with = "de_u64")]
    pub time_unix_nano: u64,
    /// Field 2.
    #[prost(string, tag = "2")]
    #[serde(deserialize_with = "de_nullable")]
    pub name: String,
    /// Field 3.
    #[prost(message, repeated, tag = "3")]
    #[serde(deserialize_with = "de_seq")]
    pub attributes: Vec<KeyValue>,
    /// Field 4.
    #[prost(uint32, tag = "4")]
    #[serde(alias = "dropped_attributes_count", deserialize_with = "de_u32")]
    pub dropped_attributes_count: u32,
}

/// `Span.Link`: a reference to another span.
#[derive(Clone, PartialEq, prost::Message, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct SpanLink {
    /// Field 1 (hex in JSON).
    #[prost(bytes = "vec", tag = "1")]
    #[serde(alias = "trace_id", deserialize_with = "de_hex_id")]
    pub trace_id: Vec<u8>,
    /// Field 2 (hex in JSON).
    #[prost(bytes = "vec", tag = "2")]
    #[serde(alias = "span_id", deserialize_with = "de_hex_id")]
    pub span_id: Vec<u8>,
    /// Field 3.
    #[prost(string, tag = "3")]
    #[serde(alias = "trace_state", deserialize_with = "de_nullable")]
    pub trace_state: String,
    /// Field 4.
    #[prost(message, repeated, tag = "4")]
    #[serde(deserialize_with = "de_seq")]
    pub attributes: Vec<KeyValue>,
    /// Field 5.
    #[prost(uint32, tag = "5")]
    #[serde(alias = "dropped_attributes_count", deserialize_with = "de_u32")]
    pub dropped_attributes_count: u32,
    /// Field 6.
    #[prost(fixed32, tag = "6")]
    #[serde(deserialize_with = "de_u32")]
    pub flags: u32,
}

/// `Status`: a span's outcome.
#[derive(Clone, PartialEq, prost::Message, Deserialize)]
#[serde(default)]
pub struct SpanStatus {
    /// Field 2.
    #[prost(string, tag = "2")]
    #[serde(deserialize_with = "de_nullable")]
    pub message: String,
    /// Field 3: a [`StatusCode`].
    #[prost(enumeration = "StatusCode", tag = "3")]
    #[serde(deserialize_with = "de_enum::<_, StatusCode>")]
    pub code: i32,
}

/// `Span.SpanKind`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum SpanKind {
    /// `SPAN_KIND_UNSPECIFIED`.
    Unspecified = 0,
    /// `SPAN_KIND_INTERNAL`.
    Internal = 1,
    /// `SPAN_KIND_SERVER`.
    Server = 2,
    /// `SPAN_KIND_CLIENT`.
    Client = 3,
    /// `SPAN_KIND_PRODUCER`.
    Producer = 4,
    /// `SPAN_KIND_CONSUMER`.
    Consumer = 5,
}

impl SpanKind {
    /// The lowercase name stored in `span.kind`; unknown numbers are
    /// `unspecified`.
    pub fn label(number: i32) -> &'static str {
        match SpanKind::try_from(number) {
            Ok(SpanKind::Internal) => "internal",
            Ok(SpanKind::Server) => "server",
            Ok(SpanKind::Client) => "client",
            Ok(SpanKind::Producer) => "producer",
            Ok(SpanKind::Consumer) => "consumer",
            Ok(SpanKind::Unspecified) | Err(_) => "unspecified",
        }
    }
}

impl OtlpEnum for SpanKind {
    fn number_of(name: &str) -> Option<i32> {
        let kind = match name {
            "SPAN_KIND_UNSPECIFIED" => SpanKind::Unspecified,
            "SPAN_KIND_INTERNAL" => SpanKind::Internal,
            "SPAN_KIND_SERVER" => SpanKind::Server,
            "SPAN_KIND_CLIENT" => SpanKind::Client,
            "SPAN_KIND_PRODUCER" => SpanKind::Producer,
            "SPAN_KIND_CONSUMER" => SpanKind::Consumer,
            _ => return None,
        };
        Some(kind as i32)
    }
}

/// `Status.StatusCode`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum StatusCode {
    /// `STATUS_CODE_UNSET`.
    Unset = 0,
    /// `STATUS_CODE_OK`.
    Ok = 1,
    /// `STATUS_CODE_ERROR`.
    Error = 2,
}

impl StatusCode {
    /// The name stored in `otel.status_code`; unknown numbers are `Unset`.
    pub fn label(number: i32) -> &'static str {
        match StatusCode::try_from(number) {
            Ok(StatusCode::Ok) => "Ok",
            Ok(StatusCode::Error) => "Error",
            Ok(StatusCode::Unset) | Err(_) => "Unset",
        }
    }
}

impl OtlpEnum for StatusCode {
    fn number_of(name: &str) -> Option<i32> {
        let code = match name {
            "STATUS_CODE_UNSET" => StatusCode::Unset,
            "STATUS_CODE_OK" => StatusCode::Ok,
            "STATUS_CODE_ERROR" => StatusCode::Error,
            _ => return None,
        };
        Some(code as i32)
    }
}

/// `ExportTraceServiceResponse`.
#[derive(Clone, PartialEq, prost::Message, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ExportTraceServiceResponse {
    /// Field 1: set when some spans were rejected.
    #[prost(message, optional, tag = "1")]
    #[serde(alias = "partial_success")]
    pub partial_success: Option<ExportTracePartialSuccess>,
}

/// `ExportTracePartialSuccess`.
#[derive(Clone, PartialEq, prost::Message, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ExportTracePartialSuccess {
    /// Field 1.
    #[prost(int64, tag = "1")]
    #[serde(alias = "rejected_spans", deserialize_with = "de_i64")]
    pub rejected_spans: i64,
    /// Field 2.
    #[prost(string, tag = "2")]
    #[serde(alias = "error_message", deserialize_with = "de_nullable")]
    pub error_message: String,
}

/// Most events one span may carry; a span with more is refused (counted in
/// `rejected_spans`), before it is decoded when it comes as protobuf.
pub const MAX_SPAN_EVENTS: usize = 1000;

/// Most links one span may carry; a span with more is refused.
pub const MAX_SPAN_LINKS: usize = 1000;

const NAMES: Names = Names {
    request: "ExportTraceServiceRequest",
    resource: "ResourceSpans",
    scope: "ScopeSpans",
    record: "Span",
    shape: Shape::Span,
};

const JSON_KEYS: JsonKeys = JsonKeys {
    resources: ["resourceSpans", "resource_spans"],
    scopes: ["scopeSpans", "scope_spans"],
    records: ["spans", "spans"],
};

/// Decodes an `ExportTraceServiceRequest` (see [`super::decode_traces`]).
pub(crate) fn decode(body: &[u8], request: &OtlpRequest) -> Result<DecodedEvents, IngestError> {
    let mut out = Collector::new(request);
    match request.format {
        Format::Protobuf => super::wire::walk(body, &NAMES, &mut out, convert)?,
        Format::Json => super::json_walk::walk(body, &NAMES, &JSON_KEYS, &mut out, convert)?,
    }
    Ok(out.finish())
}

/// The span's ids as hex: trace id, span id, parent id (`None` for a root:
/// empty or all zero), or why the span is invalid.
fn span_ids(span: &Span) -> Result<(String, String, Option<String>), String> {
    let invalid = |field: &str, bytes: &[u8], want: usize| {
        format!(
            "span {:?}: invalid {field} {:?} ({} bytes; want {want}, not all zero)",
            span.name.chars().take(64).collect::<String>(),
            to_hex(&bytes[..bytes.len().min(32)]),
            bytes.len()
        )
    };
    let trace_id =
        id_hex(&span.trace_id, 16).ok_or_else(|| invalid("trace_id", &span.trace_id, 16))?;
    let span_id = id_hex(&span.span_id, 8).ok_or_else(|| invalid("span_id", &span.span_id, 8))?;
    let parent = match span.parent_span_id.len() {
        0 => None,
        8 => id_hex(&span.parent_span_id, 8),
        _ => return Err(invalid("parent_span_id", &span.parent_span_id, 8)),
    };
    Ok((trace_id, span_id, parent))
}

/// The Datadog-like resource name: `<method> <route>` for HTTP,
/// `<rpc.service>/<rpc.method>` for RPC, the database statement, else the
/// span name.
pub fn resource_name(span: &Span) -> String {
    let attr = |key: &str| {
        span.attributes
            .iter()
            .find(|kv| kv.key == key)
            .and_then(|kv| scalar_text(kv.value.as_ref()))
    };
    let method = attr("http.request.method").or_else(|| attr("http.method"));
    if let (Some(method), Some(route)) = (&method, attr("http.route")) {
        return format!("{method} {route}");
    }
    if let (Some(service), Some(rpc_method)) = (attr("rpc.service"), attr("rpc.method")) {
        return format!("{service}/{rpc_method}");
    }
    attr("db.statement")
        .or_else(|| attr("db.query.text"))
        .unwrap_or_else(|| span.name.clone())
}

/// One span as an event.
fn convert(mut span: Span, context: &Context, request: &OtlpRequest) -> Result<Event, String> {
    Counts {
        attributes: span.attributes.len(),
        events: span.events.len(),
        links: span.links.len(),
    }
    .check()?;
    let (resource, scope) = context.fields()?;
    let (trace_id, span_id, parent_id) = span_ids(&span)?;
    let start = nanos_i64(span.start_time_unix_nano);
    let timestamp_ns = if start == 0 { request.now_ns } else { start };
    let duration = i128::from(span.end_time_unix_nano) - i128::from(span.start_time_unix_nano);
    let duration = i64::try_from(duration.max(0)).unwrap_or(i64::MAX);
    let code = span.status.as_ref().map_or(0, |s| s.code);

    let name = prefix(&span.name, request.max_log_bytes).to_string();
    let mut event = Event::new(timestamp_ns, name);
    event.status = if code == StatusCode::Error as i32 {
        EventStatus::Error
    } else {
        EventStatus::Ok
    };
    event.service = service_of(resource, &span.attributes);
    event.host = resource.host.clone();
    event.source = Some("span".into());
    event.tags = resource.tags.clone();
    event.trace_id = Some(trace_id);

    let mut attributes = AttrList::new();
    attributes.push("span_id".into(), AttrValue::Str(span_id))?;
    if let Some(parent_id) = parent_id {
        attributes.push("parent_id".into(), AttrValue::Str(parent_id))?;
    }
    attributes.push("resource".into(), AttrValue::Str(resource_name(&span)))?;
    attributes.push("duration".into(), AttrValue::Int(duration))?;
    attributes.push(
        "span.kind".into(),
        AttrValue::Str(SpanKind::label(span.kind).into()),
    )?;
    attributes.push(
        "otel.status_code".into(),
        AttrValue::Str(StatusCode::label(code).into()),
    )?;
    if let Some(status) = span.status.as_ref().filter(|s| !s.message.is_empty()) {
        let message = AttrValue::Str(status.message.clone());
        attributes.push("otel.status_message".into(), message)?;
    }
    attributes.push_key_values(std::mem::take(&mut span.attributes))?;
    attributes.extend_from(&resource.attributes)?;
    attributes.extend_from(scope)?;
    if !span.events.is_empty() {
        let events = AttrValue::Json(json_text(&EventsJson(&span.events)));
        attributes.push("events".into(), events)?;
    }
    if !span.links.is_empty() {
        let links = AttrValue::Json(json_text(&LinksJson(&span.links)));
        attributes.push("links".into(), links)?;
    }
    event.attributes = attributes.into_vec();
    Ok(event)
}

/// A span's events as a JSON array:
/// `[{"attributes":{…},"name":…,"time_unix_nano":…}]`.
#[derive(Debug, Clone, Copy)]
struct EventsJson<'a>(&'a [SpanEvent]);

impl Serialize for EventsJson<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.iter().map(EventJson))
    }
}

#[derive(Debug, Clone, Copy)]
struct EventJson<'a>(&'a SpanEvent);

impl Serialize for EventJson<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(3))?;
        map.serialize_entry("attributes", &KeyValuesJson(&self.0.attributes))?;
        map.serialize_entry("name", &self.0.name)?;
        map.serialize_entry("time_unix_nano", &self.0.time_unix_nano)?;
        map.end()
    }
}

/// A span's links as a JSON array, ids as lowercase hex:
/// `[{"attributes":{…},"span_id":…,"trace_id":…}]`.
#[derive(Debug, Clone, Copy)]
struct LinksJson<'a>(&'a [SpanLink]);

impl Serialize for LinksJson<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.iter().map(LinkJson))
    }
}

#[derive(Debug, Clone, Copy)]
struct LinkJson<'a>(&'a SpanLink);

impl Serialize for LinkJson<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(3))?;
        map.serialize_entry("attributes", &KeyValuesJson(&self.0.attributes))?;
        map.serialize_entry("span_id", &to_hex(&self.0.span_id))?;
        map.serialize_entry("trace_id", &to_hex(&self.0.trace_id))?;
        map.end()
    }
}
