//! OTLP/HTTP decoders (logs, metrics, traces; protobuf and JSON).
//!
//! The messages are hand-written prost structs that also derive
//! `serde::Deserialize` for OTLP/JSON ([`common`], [`logs`], [`traces`],
//! [`metrics`]); the load generator builds and encodes them with prost.
//! [`decode_logs`] and [`decode_traces`] turn a request body into
//! [`Event`]s: a log record is one event, a span is one event with
//! `source = "span"`. Records that cannot be stored (a span without a valid
//! trace or span id, a record over the attribute limits) are skipped and
//! counted for the partial-success response ([`export_response`]); a body that
//! does not parse is a `BadRequest`, and decoded events over the memory
//! budget are `TooLarge`.
//!
//! Protobuf bodies are walked one record at a time (a `LogRecord` is decoded,
//! turned into an event and dropped before the next), so an empty record's two
//! wire bytes never become a few hundred bytes of struct for the whole body at
//! once; and before a record (or resource, or scope) is decoded, what it
//! decodes to is estimated from its wire bytes and checked against the budget,
//! and its attributes, events and links are counted (`Counts`), so one
//! record of millions of empty attributes is refused undecoded. OTLP/JSON
//! logs and traces are parsed with serde visitors and each record is
//! converted as soon as its resource and scope are known (`json_walk`);
//! what is held meanwhile (records before their resource or scope, the
//! repeated fields inside a record) is charged to a [`common::JsonBudget`].
//! OTLP/JSON metrics are parsed whole under that budget.

use prost::Message;
use strata_types::{AttrValue, Event};

use crate::flatten::MAX_ATTRIBUTES;
use crate::IngestError;
use common::{InstrumentationScope, KeyValue, Resource, ResourceFields};

pub mod common;
pub mod json;
mod json_walk;
pub mod logs;
pub mod metrics;
pub mod traces;

mod wire;

#[cfg(test)]
mod tests;

/// The body encoding of an OTLP/HTTP request or response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Binary protobuf (`application/x-protobuf`).
    Protobuf,
    /// OTLP/JSON (`application/json`).
    Json,
}

impl Format {
    /// Reads a `Content-Type` header: `application/x-protobuf` or
    /// `application/protobuf` is protobuf, `application/json` is JSON
    /// (parameters such as `charset` are ignored); anything else, or no
    /// header, is `Unsupported`.
    pub fn from_content_type(header: Option<&str>) -> Result<Format, IngestError> {
        let media = header
            .and_then(|h| h.split(';').next())
            .map(|m| m.trim().to_ascii_lowercase());
        match media.as_deref() {
            Some("application/x-protobuf" | "application/protobuf") => Ok(Format::Protobuf),
            Some("application/json") => Ok(Format::Json),
            Some(other) => Err(IngestError::unsupported(format!(
                "unsupported content type {other:?}: OTLP/HTTP accepts application/x-protobuf or application/json"
            ))),
            None => Err(IngestError::unsupported(
                "missing content type: OTLP/HTTP accepts application/x-protobuf or application/json",
            )),
        }
    }
}

/// The `Content-Type` of a response body in `format`.
pub fn content_type(format: Format) -> &'static str {
    match format {
        Format::Protobuf => "application/x-protobuf",
        Format::Json => "application/json",
    }
}

/// How to decode one OTLP request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OtlpRequest {
    /// The body encoding.
    pub format: Format,
    /// Receive time, nanoseconds since the epoch: the timestamp of records
    /// that carry none.
    pub now_ns: i64,
    /// Longest message (log body, span name), in bytes; longer ones are cut
    /// at a character boundary.
    pub max_log_bytes: usize,
    /// Most heap the decoded events (and a JSON body's parsed form) may take.
    pub max_decoded_bytes: usize,
}

/// The events of one request and what was skipped.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct DecodedEvents {
    /// The events, in request order.
    pub events: Vec<Event>,
    /// Sum of the events' [`Event::heap_size`].
    pub heap_bytes: u64,
    /// Records skipped as invalid (the partial-success count).
    pub rejected: u64,
    /// The first rejection's reason; empty when nothing was rejected.
    pub error_message: String,
}

/// Decodes an `ExportLogsServiceRequest` body into one event per log record.
pub fn decode_logs(body: &[u8], request: &OtlpRequest) -> Result<DecodedEvents, IngestError> {
    logs::decode(body, request)
}

/// Decodes an `ExportTraceServiceRequest` body into one event per span.
pub fn decode_traces(body: &[u8], request: &OtlpRequest) -> Result<DecodedEvents, IngestError> {
    traces::decode(body, request)
}

/// An OTLP signal, for [`export_response`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// `/v1/logs`.
    Logs,
    /// `/v1/metrics`.
    Metrics,
    /// `/v1/traces`.
    Traces,
}

/// `Export{Logs,Metrics,Trace}ServiceResponse`: all three have the same
/// shape on the wire.
#[derive(Clone, PartialEq, Message)]
struct ExportResponse {
    #[prost(message, optional, tag = "1")]
    partial_success: Option<PartialSuccess>,
}

/// `Export*PartialSuccess { int64 rejected_* = 1; string error_message = 2 }`.
#[derive(Clone, PartialEq, Message)]
struct PartialSuccess {
    #[prost(int64, tag = "1")]
    rejected: i64,
    #[prost(string, tag = "2")]
    error_message: String,
}

/// The success body: an empty message (zero bytes of protobuf, `{}` in JSON)
/// when nothing was rejected and there is no message, else `partial_success`
/// with `rejected_log_records` / `rejected_data_points` / `rejected_spans`
/// and `error_message` (JSON: `{"partialSuccess":{"rejectedLogRecords":"3",
/// "errorMessage":"…"}}`, the int64 as a string as proto3 JSON writes it).
pub fn export_response(
    signal: Signal,
    format: Format,
    rejected: u64,
    error_message: &str,
) -> Vec<u8> {
    let rejected = i64::try_from(rejected).unwrap_or(i64::MAX);
    let partial = (rejected != 0 || !error_message.is_empty()).then(|| PartialSuccess {
        rejected,
        error_message: error_message.to_string(),
    });
    match format {
        Format::Protobuf => ExportResponse {
            partial_success: partial,
        }
        .encode_to_vec(),
        Format::Json => {
            let Some(partial) = partial else {
                return b"{}".to_vec();
            };
            let key = match signal {
                Signal::Logs => "rejectedLogRecords",
                Signal::Metrics => "rejectedDataPoints",
                Signal::Traces => "rejectedSpans",
            };
            let mut inner = serde_json::Map::new();
            inner.insert(key.into(), partial.rejected.to_string().into());
            inner.insert("errorMessage".into(), partial.error_message.into());
            serde_json::json!({ "partialSuccess": inner })
                .to_string()
                .into_bytes()
        }
    }
}

/// A `google.rpc.Status` error body (`{"code":3,"message":"…"}` in JSON).
pub fn status_body(format: Format, code: i32, message: &str) -> Vec<u8> {
    match format {
        Format::Protobuf => common::RpcStatus {
            code,
            message: message.to_string(),
            details: Vec::new(),
        }
        .encode_to_vec(),
        Format::Json => serde_json::json!({ "code": code, "message": message })
            .to_string()
            .into_bytes(),
    }
}

/// One flattened attribute.
pub(crate) type Flat = (String, AttrValue);

/// The resource and scope in effect for the records being converted; an
/// `Err` (attribute limits) rejects every record under it.
#[derive(Debug)]
pub(crate) struct Context {
    pub(crate) resource: Result<ResourceFields, String>,
    pub(crate) scope: Result<Vec<Flat>, String>,
}

impl Context {
    fn new() -> Context {
        Context {
            resource: Ok(ResourceFields::default()),
            scope: Ok(Vec::new()),
        }
    }

    pub(crate) fn set_resource(&mut self, resource: Option<&Resource>) {
        self.resource = ResourceFields::from_resource(resource);
    }

    pub(crate) fn set_scope(&mut self, scope: Option<&InstrumentationScope>) {
        self.scope = common::scope_attributes(scope);
    }

    /// The resource fields and scope attributes, or why records are rejected.
    pub(crate) fn fields(&self) -> Result<(&ResourceFields, &[Flat]), String> {
        let resource = self.resource.as_ref().map_err(Clone::clone)?;
        let scope = self.scope.as_ref().map_err(Clone::clone)?;
        Ok((resource, scope))
    }
}

/// The service of a record: the resource's, else the record's own
/// `service.name` attribute.
pub(crate) fn service_of(resource: &ResourceFields, attributes: &[KeyValue]) -> Option<String> {
    resource.service.clone().or_else(|| {
        attributes
            .iter()
            .find(|kv| kv.key == "service.name")
            .and_then(|kv| common::scalar_text(kv.value.as_ref()))
    })
}

/// The message names of one signal, for error messages.
#[derive(Debug)]
pub(crate) struct Names {
    pub(crate) request: &'static str,
    pub(crate) resource: &'static str,
    pub(crate) scope: &'static str,
    pub(crate) record: &'static str,
    /// The record message, for the estimate made before decoding it.
    pub(crate) shape: wire::Shape,
}

/// The lengths of a record's bounded repeated fields, as sent (duplicate
/// keys included): more than [`MAX_ATTRIBUTES`] attributes,
/// [`traces::MAX_SPAN_EVENTS`] events or [`traces::MAX_SPAN_LINKS`] links
/// refuse the record. Protobuf records are counted on the wire before they
/// are decoded, JSON ones after parsing; both give the same answer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Counts {
    pub(crate) attributes: usize,
    pub(crate) events: usize,
    pub(crate) links: usize,
}

impl Counts {
    /// Why a record with these counts is refused, if it is.
    pub(crate) fn check(&self) -> Result<(), String> {
        let over = |what: &str, max: usize, record: &str| {
            Err(format!("more than {max} {what} in one {record}"))
        };
        if self.attributes > MAX_ATTRIBUTES {
            return over("attributes", MAX_ATTRIBUTES, "record");
        }
        if self.events > traces::MAX_SPAN_EVENTS {
            return over("events", traces::MAX_SPAN_EVENTS, "span");
        }
        if self.links > traces::MAX_SPAN_LINKS {
            return over("links", traces::MAX_SPAN_LINKS, "span");
        }
        Ok(())
    }
}

/// Converts one record; `Err` is a rejection reason.
pub(crate) type Convert<R> = fn(R, &Context, &OtlpRequest) -> Result<Event, String>;

/// Accumulates events under the memory budget, and rejections.
#[derive(Debug)]
pub(crate) struct Collector<'a> {
    request: &'a OtlpRequest,
    context: Context,
    out: DecodedEvents,
}

impl<'a> Collector<'a> {
    pub(crate) fn new(request: &'a OtlpRequest) -> Collector<'a> {
        Collector {
            request,
            context: Context::new(),
            out: DecodedEvents::default(),
        }
    }

    pub(crate) fn request(&self) -> &'a OtlpRequest {
        self.request
    }

    pub(crate) fn context(&mut self) -> &mut Context {
        &mut self.context
    }

    /// Converts one record and keeps the event, or counts the rejection.
    pub(crate) fn record<R>(&mut self, record: R, convert: Convert<R>) -> Result<(), IngestError> {
        match convert(record, &self.context, self.request) {
            Ok(event) => {
                let size = event.heap_size() as u64;
                self.out.heap_bytes = self.out.heap_bytes.saturating_add(size);
                if self.out.heap_bytes > self.request.max_decoded_bytes as u64 {
                    return Err(self.too_large());
                }
                self.out.events.push(event);
            }
            Err(reason) => self.reject(reason),
        }
        Ok(())
    }

    /// Counts a refused record.
    pub(crate) fn reject(&mut self, reason: String) {
        self.out.rejected += 1;
        if self.out.error_message.is_empty() {
            self.out.error_message = reason;
        }
    }

    /// Checks that a message of about `bytes` decoded bytes, about to be
    /// decoded and dropped again, fits beside the events kept so far.
    pub(crate) fn reserve(&self, bytes: usize) -> Result<(), IngestError> {
        let peak = self.out.heap_bytes.saturating_add(bytes as u64);
        if peak > self.request.max_decoded_bytes as u64 {
            return Err(self.too_large());
        }
        Ok(())
    }

    fn too_large(&self) -> IngestError {
        IngestError::too_large(format!(
            "OTLP request decodes to more than {} bytes",
            self.request.max_decoded_bytes
        ))
    }

    pub(crate) fn finish(self) -> DecodedEvents {
        self.out
    }
}

/// The answer to a failed OTLP/JSON parse of message `name`: too large when
/// `budget` ran out, else invalid.
pub(crate) fn json_error(
    budget: &common::JsonBudget,
    max_decoded_bytes: usize,
    name: &str,
    error: &serde_json::Error,
) -> IngestError {
    if budget.exceeded() {
        IngestError::too_large(format!(
            "OTLP/JSON {name} decodes to more than {max_decoded_bytes} bytes"
        ))
    } else {
        IngestError::bad(format!("invalid OTLP/JSON {name}: {error}"))
    }
}
