//! The Datadog logs intake body decoder.
//!
//! Reserved attributes are remapped as Datadog's default preprocessing does
//! (`reference/datadog-api.md` §1): the first present source attribute of each
//! list wins and is removed from the attributes; the others stay attributes.

use strata_types::{AttrValue, Event, Status};

use crate::flatten::{decode_json, Decoder};
use crate::timestamp::parse_timestamp_ns;
use crate::IngestError;

/// A reserved attribute and where its value may come from, best first
/// (`reference/datadog-api.md` §1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    Message,
    Status,
    Host,
    Service,
    Source,
    TraceId,
    Timestamp,
    Tags,
}

const FIELDS: usize = 8;

/// The field a path remaps to and its priority (0 wins), in one `match`:
/// one pass over an event's attributes finds every reserved one.
fn reserved(path: &str) -> Option<(Field, u8)> {
    let found = match path {
        "message" => (Field::Message, 0),
        "msg" => (Field::Message, 1),
        "log" => (Field::Message, 2),
        "status" => (Field::Status, 0),
        "severity" => (Field::Status, 1),
        "level" => (Field::Status, 2),
        "syslog.severity" => (Field::Status, 3),
        "host" => (Field::Host, 0),
        "hostname" => (Field::Host, 1),
        "syslog.hostname" => (Field::Host, 2),
        "service" => (Field::Service, 0),
        "syslog.appname" => (Field::Service, 1),
        "dd.service" => (Field::Service, 2),
        "ddsource" => (Field::Source, 0),
        "dd.trace_id" => (Field::TraceId, 0),
        "contextMap.dd.trace_id" => (Field::TraceId, 1),
        "named_tags.dd.trace_id" => (Field::TraceId, 2),
        "trace_id" => (Field::TraceId, 3),
        "@timestamp" => (Field::Timestamp, 0),
        "timestamp" => (Field::Timestamp, 1),
        "_timestamp" => (Field::Timestamp, 2),
        "Timestamp" => (Field::Timestamp, 3),
        "eventTime" => (Field::Timestamp, 4),
        "date" => (Field::Timestamp, 5),
        "published_date" => (Field::Timestamp, 6),
        "syslog.timestamp" => (Field::Timestamp, 7),
        "ddtags" => (Field::Tags, 0),
        _ => return None,
    };
    Some(found)
}

/// Request-level tags are copied into every event of the request, so they
/// are bounded: at most this many tags and bytes in the `ddtags` parameter.
pub const MAX_REQUEST_TAGS: usize = 100;
/// See [`MAX_REQUEST_TAGS`].
pub const MAX_REQUEST_TAGS_BYTES: usize = 4096;

/// How the body is framed, from `Content-Type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyFormat {
    /// `application/json`: an array of objects or a single object.
    Json,
    /// `application/json;simple`: a single object.
    JsonSimple,
    /// `text/plain` or `application/logplex-1`: one log per line.
    Lines,
}

impl BodyFormat {
    /// Parses a `Content-Type` header; a missing header means JSON.
    pub fn from_content_type(header: Option<&str>) -> Result<BodyFormat, IngestError> {
        let Some(raw) = header else {
            return Ok(BodyFormat::Json);
        };
        let lower = raw.to_ascii_lowercase();
        let mut parts = lower.split(';').map(str::trim);
        let mime = parts.next().unwrap_or("");
        let simple = parts.any(|p| p == "simple");
        match mime {
            "application/json" | "text/json" | "" if simple => Ok(BodyFormat::JsonSimple),
            "application/json" | "text/json" | "" => Ok(BodyFormat::Json),
            "text/plain" | "application/logplex-1" => Ok(BodyFormat::Lines),
            other => Err(IngestError::unsupported(format!(
                "unsupported Content-Type {other:?}: use application/json, text/plain or application/logplex-1"
            ))),
        }
    }
}

/// Everything about a request that shapes its events besides the body.
#[derive(Debug, Clone)]
pub struct LogsRequest {
    /// Body framing.
    pub format: BodyFormat,
    /// `ddtags` query parameter, comma-separated.
    pub ddtags: Option<String>,
    /// `host` query parameter: default host.
    pub host: Option<String>,
    /// `service` query parameter: default service.
    pub service: Option<String>,
    /// `ddsource` query parameter: default source.
    pub ddsource: Option<String>,
    /// Receive time, used for events without a timestamp.
    pub now_ns: i64,
    /// Messages longer than this are truncated (at a character boundary).
    pub max_log_bytes: usize,
    /// More items than this is a 413.
    pub max_items: usize,
    /// Decoded events may hold at most this many bytes (`Event::heap_size`);
    /// more is a 413. Bounds what a small body can expand into.
    pub max_decoded_bytes: usize,
}

impl LogsRequest {
    /// A JSON request with Datadog's default limits and no query parameters.
    pub fn json(now_ns: i64) -> LogsRequest {
        LogsRequest {
            format: BodyFormat::Json,
            ddtags: None,
            host: None,
            service: None,
            ddsource: None,
            now_ns,
            max_log_bytes: 1_000_000,
            max_items: 1000,
            max_decoded_bytes: 40_000_000,
        }
    }
}

/// Decoded events and the memory they hold.
#[derive(Debug)]
pub struct Decoded {
    /// The events, in request order.
    pub events: Vec<Event>,
    /// Sum of their [`Event::heap_size`], measured once while decoding so the
    /// server's memory accounting need not walk the events again.
    pub heap_bytes: u64,
}

/// Decodes an uncompressed logs body into events. All or nothing: any error
/// rejects the whole request.
pub fn decode_logs(body: &[u8], request: &LogsRequest) -> Result<Vec<Event>, IngestError> {
    decode_logs_measured(body, request).map(|decoded| decoded.events)
}

/// [`decode_logs`], also returning the events' heap size.
pub fn decode_logs_measured(body: &[u8], request: &LogsRequest) -> Result<Decoded, IngestError> {
    let raw_tags = request.ddtags.as_deref().unwrap_or("");
    if raw_tags.len() > MAX_REQUEST_TAGS_BYTES {
        return Err(IngestError::bad(format!(
            "the ddtags query parameter is {} bytes; the limit is {MAX_REQUEST_TAGS_BYTES}",
            raw_tags.len()
        )));
    }
    let request_tags = split_tags(raw_tags);
    if request_tags.len() > MAX_REQUEST_TAGS {
        return Err(IngestError::bad(format!(
            "the ddtags query parameter has {} tags; the limit is {MAX_REQUEST_TAGS}",
            request_tags.len()
        )));
    }
    match request.format {
        BodyFormat::Lines => {
            let events = decode_lines(body, request, &request_tags)?;
            let heap_bytes = events.iter().map(|e| e.heap_size() as u64).sum();
            Ok(Decoded { events, heap_bytes })
        }
        BodyFormat::Json | BodyFormat::JsonSimple => {
            let first = body.iter().find(|b| !b.is_ascii_whitespace());
            if first.is_none() {
                return Err(IngestError::bad(
                    "empty request body: send a JSON array or object",
                ));
            }
            let mut decoder = Decoder {
                request,
                request_tags: &request_tags,
                scratch: Vec::with_capacity(32),
                events: Vec::new(),
                decoded_bytes: 0,
                rejection: None,
            };
            decode_json(body, &mut decoder)?;
            Ok(Decoded {
                events: decoder.events,
                heap_bytes: decoder.decoded_bytes as u64,
            })
        }
    }
}

fn decode_lines(
    body: &[u8],
    request: &LogsRequest,
    request_tags: &[String],
) -> Result<Vec<Event>, IngestError> {
    let text = std::str::from_utf8(body).map_err(|e| {
        IngestError::bad(format!(
            "body is not valid UTF-8 at byte {}",
            e.valid_up_to()
        ))
    })?;
    let mut events = Vec::new();
    for line in text.split('\n') {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.trim().is_empty() {
            continue;
        }
        if events.len() == request.max_items {
            return Err(IngestError::too_large(format!(
                "more than {} lines in one request",
                request.max_items
            )));
        }
        let mut event = Event::new(
            request.now_ns,
            truncate(line.to_string(), request.max_log_bytes),
        );
        event.host = request.host.clone();
        event.service = request.service.clone();
        event.source = request.ddsource.clone();
        event.tags = request_tags.to_vec();
        events.push(event);
    }
    Ok(events)
}

/// Turns one item's flattened attributes into an event: reserved attributes
/// are found in one pass and moved out; the rest, in document order, become
/// the event's attributes in an exactly sized vector. `flat` is left empty
/// (it is a scratch buffer reused for the next item).
pub(crate) fn normalize(
    flat: &mut Vec<(String, AttrValue)>,
    request: &LogsRequest,
    request_tags: &[String],
) -> Result<Event, IngestError> {
    let mut best: [Option<(u8, usize)>; FIELDS] = [None; FIELDS];
    for (position, (path, _)) in flat.iter().enumerate() {
        if let Some((field, priority)) = reserved(path) {
            let slot = &mut best[field as usize];
            if slot.is_none_or(|(p, _)| priority < p) {
                *slot = Some((priority, position));
            }
        }
    }
    // A timestamp that does not parse stays an attribute; receive time is used.
    let mut timestamp_ns = request.now_ns;
    if let Some((_, position)) = best[Field::Timestamp as usize] {
        match parse_timestamp_ns(&flat[position].1) {
            Some(ns) => timestamp_ns = ns,
            None => best[Field::Timestamp as usize] = None,
        }
    }
    let removed = best.iter().flatten().count();
    let mut values: [Option<AttrValue>; FIELDS] = Default::default();
    let mut attributes = Vec::with_capacity(flat.len() - removed);
    for (position, (path, value)) in flat.drain(..).enumerate() {
        match best
            .iter()
            .position(|slot| matches!(slot, Some((_, p)) if *p == position))
        {
            Some(field) => values[field] = Some(value),
            None => attributes.push((path, value)),
        }
    }
    let mut take = |field: Field| values[field as usize].take();

    let message = match take(Field::Message) {
        Some(AttrValue::Str(s)) => s,
        Some(value) if is_null(&value) => String::new(),
        Some(AttrValue::Json(text)) => text,
        Some(AttrValue::Int(i)) => i.to_string(),
        Some(AttrValue::Float(f)) => f.to_string(),
        Some(AttrValue::Bool(b)) => b.to_string(),
        None => String::new(),
    };
    let mut event = Event::new(timestamp_ns, truncate(message, request.max_log_bytes));
    event.status = match take(Field::Status) {
        Some(AttrValue::Str(s)) => Status::normalize(&s),
        Some(AttrValue::Int(n)) => Status::from_severity(n),
        _ => Status::Info,
    };
    event.host = as_string(take(Field::Host), "hostname")?.or_else(|| request.host.clone());
    event.service = as_string(take(Field::Service), "service")?.or_else(|| request.service.clone());
    event.source = as_string(take(Field::Source), "ddsource")?.or_else(|| request.ddsource.clone());
    event.trace_id = as_string(take(Field::TraceId), "trace_id")?;
    let mut tags = match take(Field::Tags) {
        Some(AttrValue::Str(s)) => split_tags(&s),
        Some(value) if is_null(&value) => Vec::new(),
        Some(AttrValue::Json(text)) if text.starts_with('[') => tags_from_json(&text)?,
        Some(other) => {
            return Err(IngestError::bad(format!(
                "ddtags must be a string, got {}",
                kind_name(&other)
            )))
        }
        None => Vec::new(),
    };
    for tag in request_tags {
        if !tags.contains(tag) {
            tags.push(tag.clone());
        }
    }
    event.tags = tags;
    event.attributes = attributes;
    Ok(event)
}

fn tags_from_json(text: &str) -> Result<Vec<String>, IngestError> {
    let items: Vec<serde_json::Value> = serde_json::from_str(text).unwrap_or_default();
    let mut tags = Vec::with_capacity(items.len());
    for item in items {
        match item {
            serde_json::Value::String(s) => tags.push(s),
            _ => return Err(IngestError::bad("ddtags items must be strings")),
        }
    }
    Ok(tags)
}

fn as_string(value: Option<AttrValue>, name: &str) -> Result<Option<String>, IngestError> {
    match value {
        Some(AttrValue::Str(s)) => Ok(Some(s)),
        Some(AttrValue::Int(n)) => Ok(Some(n.to_string())),
        Some(AttrValue::Float(n)) => Ok(Some(n.to_string())),
        Some(value) if is_null(&value) => Ok(None),
        None => Ok(None),
        Some(other) => Err(IngestError::bad(format!(
            "{name} must be a string, got {}",
            kind_name(&other)
        ))),
    }
}

fn kind_name(value: &AttrValue) -> &'static str {
    match value {
        AttrValue::Str(_) => "a string",
        AttrValue::Int(_) | AttrValue::Float(_) => "a number",
        AttrValue::Bool(_) => "a boolean",
        AttrValue::Json(text) if text == "null" => "null",
        AttrValue::Json(text) if text.starts_with('[') => "an array",
        AttrValue::Json(_) => "an object",
    }
}

fn is_null(value: &AttrValue) -> bool {
    matches!(value, AttrValue::Json(text) if text == "null")
}

fn split_tags(raw: &str) -> Vec<String> {
    raw.split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_string)
        .collect()
}

fn truncate(mut message: String, max: usize) -> String {
    if message.len() > max {
        let mut cut = max;
        while !message.is_char_boundary(cut) {
            cut -= 1;
        }
        message.truncate(cut);
    }
    message
}

#[cfg(test)]
mod tests;
