//! The Datadog logs intake body decoder.
//!
//! Reserved attributes are remapped as Datadog's default preprocessing does
//! (`reference/datadog-api.md` §1): the first present source attribute of each
//! list wins and is removed from the attributes; the others stay attributes.

use strata_types::{AttrValue, Event, Status};

use crate::flatten::{parse_body, Body, Item};
use crate::timestamp::parse_attr_timestamp_ns;
use crate::IngestError;

const TIMESTAMP_KEYS: &[&str] = &[
    "@timestamp",
    "timestamp",
    "_timestamp",
    "Timestamp",
    "eventTime",
    "date",
    "published_date",
    "syslog.timestamp",
];
const HOST_KEYS: &[&str] = &["host", "hostname", "syslog.hostname"];
const MESSAGE_KEYS: &[&str] = &["message", "msg", "log"];
const SERVICE_KEYS: &[&str] = &["service", "syslog.appname", "dd.service"];
const STATUS_KEYS: &[&str] = &["status", "severity", "level", "syslog.severity"];
const TRACE_KEYS: &[&str] = &[
    "dd.trace_id",
    "contextMap.dd.trace_id",
    "named_tags.dd.trace_id",
    "trace_id",
];
const SOURCE_KEYS: &[&str] = &["ddsource"];
const TAG_KEYS: &[&str] = &["ddtags"];

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
        }
    }
}

/// Decodes an uncompressed logs body into events. All or nothing: any error
/// rejects the whole request.
pub fn decode_logs(body: &[u8], request: &LogsRequest) -> Result<Vec<Event>, IngestError> {
    let request_tags = split_tags(request.ddtags.as_deref().unwrap_or(""));
    match request.format {
        BodyFormat::Lines => decode_lines(body, request, &request_tags),
        BodyFormat::Json | BodyFormat::JsonSimple => {
            let first = body.iter().find(|b| !b.is_ascii_whitespace());
            if first.is_none() {
                return Err(IngestError::bad(
                    "empty request body: send a JSON array or object",
                ));
            }
            let body =
                parse_body(body).map_err(|e| IngestError::bad(format!("invalid JSON: {e}")))?;
            match body {
                Body::Array(items) if request.format == BodyFormat::Json => {
                    if items.len() > request.max_items {
                        return Err(IngestError::too_large(format!(
                            "{} items in one request; the limit is {}",
                            items.len(),
                            request.max_items
                        )));
                    }
                    let mut events = Vec::with_capacity(items.len());
                    for (index, item) in items.into_iter().enumerate() {
                        let flat = match item {
                            Item::Object(flat) => flat,
                            Item::Other(what) => {
                                return Err(IngestError::bad(format!(
                                    "item {index} is {what}, expected a JSON object"
                                )))
                            }
                        };
                        events.push(
                            normalize(flat, request, &request_tags)
                                .map_err(|e| at_item(index, e))?,
                        );
                    }
                    Ok(events)
                }
                Body::Object(flat) => Ok(vec![normalize(flat, request, &request_tags)?]),
                Body::Array(_) => Err(IngestError::bad("body is an array, expected a JSON object")),
                Body::Other(what) => Err(IngestError::bad(format!(
                    "body is {what}, expected {}",
                    if request.format == BodyFormat::Json {
                        "a JSON array of objects or an object"
                    } else {
                        "a JSON object"
                    }
                ))),
            }
        }
    }
}

fn at_item(index: usize, error: IngestError) -> IngestError {
    IngestError {
        kind: error.kind,
        detail: format!("item {index}: {}", error.detail),
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

fn normalize(
    mut flat: Vec<(String, AttrValue)>,
    request: &LogsRequest,
    request_tags: &[String],
) -> Result<Event, IngestError> {
    let message = match take(&mut flat, MESSAGE_KEYS) {
        Some(AttrValue::Str(s)) => s,
        Some(value) if is_null(&value) => String::new(),
        Some(AttrValue::Json(text)) => text,
        Some(AttrValue::Int(i)) => i.to_string(),
        Some(AttrValue::Float(f)) => f.to_string(),
        Some(AttrValue::Bool(b)) => b.to_string(),
        None => String::new(),
    };
    let mut event = Event::new(request.now_ns, truncate(message, request.max_log_bytes));
    if let Some(raw) = take(&mut flat, STATUS_KEYS) {
        event.status = match raw {
            AttrValue::Str(s) => Status::normalize(&s),
            AttrValue::Int(n) => Status::from_severity(n),
            _ => Status::Info,
        };
    }
    event.host = take_string(&mut flat, HOST_KEYS, "hostname")?.or_else(|| request.host.clone());
    event.service =
        take_string(&mut flat, SERVICE_KEYS, "service")?.or_else(|| request.service.clone());
    event.source =
        take_string(&mut flat, SOURCE_KEYS, "ddsource")?.or_else(|| request.ddsource.clone());
    event.trace_id = take_string(&mut flat, TRACE_KEYS, "trace_id")?;
    if let Some(position) = TIMESTAMP_KEYS
        .iter()
        .find_map(|k| flat.iter().position(|(p, _)| p == k))
    {
        if let Some(ns) = parse_attr_timestamp_ns(&flat[position].1) {
            event.timestamp_ns = ns;
            flat.remove(position);
        }
    }
    let mut tags = match take(&mut flat, TAG_KEYS) {
        Some(AttrValue::Str(s)) => split_tags(&s),
        Some(value) if is_null(&value) => Vec::new(),
        Some(AttrValue::Json(text)) if text.starts_with('[') => {
            let items: Vec<serde_json::Value> = serde_json::from_str(&text).unwrap_or_default();
            let mut tags = Vec::with_capacity(items.len());
            for item in items {
                match item {
                    serde_json::Value::String(s) => tags.push(s),
                    _ => return Err(IngestError::bad("ddtags items must be strings")),
                }
            }
            tags
        }
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
    event.attributes = flat;
    Ok(event)
}

fn take(flat: &mut Vec<(String, AttrValue)>, keys: &[&str]) -> Option<AttrValue> {
    for key in keys {
        if let Some(position) = flat.iter().position(|(p, _)| p == key) {
            return Some(flat.remove(position).1);
        }
    }
    None
}

fn take_string(
    flat: &mut Vec<(String, AttrValue)>,
    keys: &[&str],
    name: &str,
) -> Result<Option<String>, IngestError> {
    match take(flat, keys) {
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
