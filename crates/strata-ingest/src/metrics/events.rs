//! `/api/v1/check_run` (service checks) and `/api/v1/events` bodies, stored
//! as [`Event`]s next to the logs so the log search syntax finds them
//! (`source:service_check`, `source:event`).
//!
//! Both bodies are small (the Agent sends one check-run array per flush),
//! so they are parsed into a `serde_json::Value` and read field by field;
//! every error names the item and the field. Unknown fields are ignored.

use std::fmt::Display;

use serde_json::{Map, Value};
use strata_types::{AttrValue, Event, Status};

use crate::IngestError;

/// Most check runs in one request; more is a 413. The Agent sends one
/// array per 15 s flush, typically tens to a few thousand items.
pub const MAX_CHECK_RUNS: usize = 100_000;

/// Event text is cut to this many characters, as Datadog documents
/// ("Limited to 4000 characters").
pub const MAX_EVENT_TEXT_CHARS: usize = 4000;

/// Event `aggregation_key` is cut to this many characters (Datadog: 100).
pub const MAX_AGGREGATION_KEY_CHARS: usize = 100;

/// Decodes a `POST /api/v1/check_run` body: a JSON array of service checks
/// (or one object) `{"check","host_name","status":0..3,"timestamp","message","tags"}`,
/// one [`Event`] each, all or nothing.
///
/// - `message` is `"<check>: <message>"`, or just the check name when the
///   message is empty; `source` is `service_check`; `host` is `host_name`.
/// - Status: 0 OK → [`Status::Ok`], 1 WARNING → [`Status::Warn`],
///   2 CRITICAL → [`Status::Critical`], 3 UNKNOWN → [`Status::Info`] (there
///   is no "unknown" status; `status_code` keeps the 3). Anything else is a 400.
/// - Attributes: `check` (the name) and `status_code` (0..=3).
/// - `timestamp` is seconds (integer or float); missing or 0 means `now_s`.
/// - `check` and `status` are required (the spec marks `host_name` and `tags`
///   required too, but the Agent may leave them empty, so they are optional).
pub fn decode_check_runs(body: &[u8], now_s: i64) -> Result<Vec<Event>, IngestError> {
    let items = match parse(body)? {
        Value::Array(items) => items,
        item @ Value::Object(_) => vec![item],
        other => {
            return Err(IngestError::bad(format!(
                "the body must be a JSON array of check runs, got {}",
                kind(&other)
            )))
        }
    };
    if items.len() > MAX_CHECK_RUNS {
        return Err(IngestError::too_large(format!(
            "{} check runs in one request; the limit is {MAX_CHECK_RUNS}",
            items.len()
        )));
    }
    items
        .into_iter()
        .enumerate()
        .map(|(index, item)| {
            let label = format!("check_runs[{index}]");
            check_run(Fields::new(&label, item)?, now_s)
        })
        .collect()
}

fn check_run(mut f: Fields<'_>, now_s: i64) -> Result<Event, IngestError> {
    let check = f
        .string("check")?
        .filter(|c| !c.is_empty())
        .ok_or_else(|| f.error("check", "missing"))?;
    let code = f
        .integer("status")?
        .ok_or_else(|| f.error("status", "missing"))?;
    let status = match code {
        0 => Status::Ok,
        1 => Status::Warn,
        2 => Status::Critical,
        3 => Status::Info,
        other => {
            return Err(f.error(
                "status",
                format!("{other} is not 0 (ok), 1 (warning), 2 (critical) or 3 (unknown)"),
            ))
        }
    };
    let host = f.string("host_name")?.filter(|h| !h.is_empty());
    let seconds = f.seconds("timestamp")?.filter(|&s| s != 0);
    let timestamp_ns = f.timestamp_ns("timestamp", seconds.unwrap_or(now_s))?;
    let message = f.string("message")?.unwrap_or_default();
    let tags = f.tags("tags")?;
    let message = if message.is_empty() {
        check.clone()
    } else {
        format!("{check}: {message}")
    };
    let mut event = Event::new(timestamp_ns, message);
    event.status = status;
    event.host = host;
    event.source = Some("service_check".to_string());
    event.tags = tags;
    event.attributes = vec![
        ("check".to_string(), AttrValue::Str(check)),
        ("status_code".to_string(), AttrValue::Int(code)),
    ];
    Ok(event)
}

/// Decodes a `POST /api/v1/events` body
/// `{"title","text","date_happened","priority","host","tags","alert_type","aggregation_key","source_type_name","device_name","related_event_id"}`
/// into one [`Event`].
///
/// - `message` is `"<title>\n<text>"` (just the title when the text is
///   empty); `source` is `event`, so `source:event` finds it.
/// - Status from `alert_type`: `error` → [`Status::Error`], `warning` →
///   [`Status::Warn`], `success` → [`Status::Ok`]; `info`, missing and the
///   other spec values (`user_update`, `recommendation`, `snapshot`) →
///   [`Status::Info`]. Unknown values are kept as the attribute and read as
///   info rather than refused (what Datadog does with them is unverified).
/// - Timestamp: `date_happened` in seconds, else `now_s`. Datadog limits it
///   to the last 7 days; Strata accepts any time, for backfills.
/// - `title` is required; `text` is cut to [`MAX_EVENT_TEXT_CHARS`] characters
///   and `aggregation_key` to [`MAX_AGGREGATION_KEY_CHARS`].
/// - Attributes, when sent: `title`, `text`, `priority`, `alert_type`,
///   `aggregation_key`, `source_type_name`, `device_name`, `related_event_id`.
pub fn decode_events_v1(body: &[u8], now_s: i64) -> Result<Event, IngestError> {
    let mut f = Fields::new("event", parse(body)?)?;
    let title = f
        .string("title")?
        .ok_or_else(|| f.error("title", "missing"))?;
    let text = truncate_chars(f.string("text")?.unwrap_or_default(), MAX_EVENT_TEXT_CHARS);
    let seconds = f.seconds("date_happened")?;
    let timestamp_ns = f.timestamp_ns("date_happened", seconds.unwrap_or(now_s))?;
    let host = f.string("host")?.filter(|h| !h.is_empty());
    let tags = f.tags("tags")?;
    let alert_type = f.string("alert_type")?;
    let status = match alert_type
        .as_deref()
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        Some("error") => Status::Error,
        Some("warning") => Status::Warn,
        Some("success") => Status::Ok,
        _ => Status::Info,
    };
    let message = if text.is_empty() {
        title.clone()
    } else {
        format!("{title}\n{text}")
    };
    let mut attributes = vec![
        ("title".to_string(), AttrValue::Str(title)),
        ("text".to_string(), AttrValue::Str(text)),
    ];
    let mut add = |name: &str, value: Option<AttrValue>| {
        if let Some(value) = value {
            attributes.push((name.to_string(), value));
        }
    };
    add("priority", f.string("priority")?.map(AttrValue::Str));
    add("alert_type", alert_type.map(AttrValue::Str));
    let aggregation_key = f
        .string("aggregation_key")?
        .map(|key| truncate_chars(key, MAX_AGGREGATION_KEY_CHARS));
    add("aggregation_key", aggregation_key.map(AttrValue::Str));
    add(
        "source_type_name",
        f.string("source_type_name")?.map(AttrValue::Str),
    );
    add("device_name", f.string("device_name")?.map(AttrValue::Str));
    add(
        "related_event_id",
        f.integer("related_event_id")?.map(AttrValue::Int),
    );
    let mut event = Event::new(timestamp_ns, message);
    event.status = status;
    event.host = host;
    event.source = Some("event".to_string());
    event.tags = tags;
    event.attributes = attributes;
    Ok(event)
}

/// The body of Datadog's 202 reply to `POST /api/v1/events`, for an event
/// from [`decode_events_v1`] stored under `id`:
/// `{"status":"ok","event":{"id","id_str","title","text","date_happened","handle":null,"priority","related_event_id","tags","url"}}`.
///
/// The shape is the recorded Datadog reply in the Python client's cassette
/// `test_post_an_event_returns_ok_response.yaml`. `priority` and
/// `related_event_id` are echoed (`null` when not sent); `id` is an exact
/// integer (Datadog's loses precision past 2^53, hence its `id_str`, which is
/// given too). `url` is relative (`/event/event?id=<id>`): the decoder does
/// not know the server's public address.
pub fn event_response_json(event: &Event, id: u64) -> Value {
    let attribute = |name: &str| {
        event
            .attributes
            .iter()
            .find(|(key, _)| key == name)
            .map_or(Value::Null, |(_, value)| value.to_json())
    };
    let title = match attribute("title") {
        Value::Null => Value::String(event.message.lines().next().unwrap_or("").to_string()),
        title => title,
    };
    let text = match attribute("text") {
        Value::Null => Value::String(String::new()),
        text => text,
    };
    serde_json::json!({
        "status": "ok",
        "event": {
            "id": id,
            "id_str": id.to_string(),
            "title": title,
            "text": text,
            "date_happened": event.timestamp_ns.div_euclid(1_000_000_000),
            "handle": null,
            "priority": attribute("priority"),
            "related_event_id": attribute("related_event_id"),
            "tags": event.tags,
            "url": format!("/event/event?id={id}"),
        }
    })
}

fn parse(body: &[u8]) -> Result<Value, IngestError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(IngestError::bad("empty request body"));
    }
    serde_json::from_slice(body).map_err(|e| IngestError::bad(format!("invalid JSON body: {e}")))
}

/// One JSON object's fields, taken out by name with errors that name them.
struct Fields<'a> {
    label: &'a str,
    map: Map<String, Value>,
}

impl<'a> Fields<'a> {
    fn new(label: &'a str, value: Value) -> Result<Fields<'a>, IngestError> {
        match value {
            Value::Object(map) => Ok(Fields { label, map }),
            other => Err(IngestError::bad(format!(
                "{label}: expected an object, got {}",
                kind(&other)
            ))),
        }
    }

    fn error(&self, field: &str, problem: impl Display) -> IngestError {
        IngestError::bad(format!("{}.{field}: {problem}", self.label))
    }

    fn wrong(&self, field: &str, expected: &str, got: &Value) -> IngestError {
        self.error(field, format!("expected {expected}, got {}", kind(got)))
    }

    /// A string field; `null` and missing are `None`.
    fn string(&mut self, field: &str) -> Result<Option<String>, IngestError> {
        match self.map.remove(field) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(other) => Err(self.wrong(field, "a string", &other)),
        }
    }

    /// An integer field.
    fn integer(&mut self, field: &str) -> Result<Option<i64>, IngestError> {
        match self.map.remove(field) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Number(n)) if n.is_i64() => Ok(n.as_i64()),
            Some(other) => Err(self.wrong(field, "an integer", &other)),
        }
    }

    /// Seconds since the epoch: an integer, or a float (truncated).
    fn seconds(&mut self, field: &str) -> Result<Option<i64>, IngestError> {
        match self.map.remove(field) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Number(n)) => match (n.as_i64(), n.as_f64()) {
                (Some(i), _) => Ok(Some(i)),
                (None, Some(f)) if f.is_finite() && (-9.2e18..=9.2e18).contains(&f) => {
                    Ok(Some(f.trunc() as i64))
                }
                (None, Some(f)) => {
                    Err(self.error(field, format!("timestamp {f:e} is out of range")))
                }
                (None, None) => Err(self.error(field, format!("timestamp {n} is out of range"))),
            },
            Some(other) => Err(self.wrong(field, "seconds since the epoch", &other)),
        }
    }

    fn timestamp_ns(&self, field: &str, seconds: i64) -> Result<i64, IngestError> {
        seconds
            .checked_mul(1_000_000_000)
            .ok_or_else(|| self.error(field, format!("timestamp {seconds} is out of range")))
    }

    /// A list of tag strings; `null` and missing are empty.
    fn tags(&mut self, field: &str) -> Result<Vec<String>, IngestError> {
        match self.map.remove(field) {
            None | Some(Value::Null) => Ok(Vec::new()),
            Some(Value::Array(items)) => items
                .into_iter()
                .enumerate()
                .map(|(i, item)| match item {
                    Value::String(tag) => Ok(tag),
                    other => Err(self.wrong(&format!("{field}[{i}]"), "a string", &other)),
                })
                .collect(),
            Some(other) => Err(self.wrong(field, "an array of strings", &other)),
        }
    }
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn truncate_chars(mut s: String, max_chars: usize) -> String {
    if let Some((cut, _)) = s.char_indices().nth(max_chars) {
        s.truncate(cut);
    }
    s
}

#[cfg(test)]
mod tests;
