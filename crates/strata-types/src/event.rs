//! The normalised event.

use serde::{Deserialize, Serialize};

/// Log status, normalised as Datadog's status remapper does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Syslog severity 0.
    Emergency,
    /// Syslog severity 1.
    Alert,
    /// Syslog severity 2.
    Critical,
    /// Syslog severity 3.
    Error,
    /// Syslog severity 4.
    Warn,
    /// Syslog severity 5.
    Notice,
    /// Syslog severity 6, and the default.
    Info,
    /// Syslog severity 7.
    Debug,
    /// Success.
    Ok,
}

impl Status {
    /// All statuses, in code order.
    pub const ALL: [Status; 9] = [
        Status::Emergency,
        Status::Alert,
        Status::Critical,
        Status::Error,
        Status::Warn,
        Status::Notice,
        Status::Info,
        Status::Debug,
        Status::Ok,
    ];

    /// The lowercase name used on the wire and in segments.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Emergency => "emergency",
            Status::Alert => "alert",
            Status::Critical => "critical",
            Status::Error => "error",
            Status::Warn => "warn",
            Status::Notice => "notice",
            Status::Info => "info",
            Status::Debug => "debug",
            Status::Ok => "ok",
        }
    }

    /// The one-byte code stored in WAL batches.
    pub fn code(self) -> u8 {
        self as u8
    }

    /// The status for a code written by [`Status::code`].
    pub fn from_code(code: u8) -> Option<Status> {
        Status::ALL.get(usize::from(code)).copied()
    }

    /// Parses an exact lowercase name written by [`Status::as_str`].
    pub fn from_name(name: &str) -> Option<Status> {
        Status::ALL.into_iter().find(|s| s.as_str() == name)
    }

    /// Normalises a free-form status as Datadog's status remapper does:
    /// integers 0–7 are syslog severities; strings match case-insensitively
    /// by prefix; anything else is `info`.
    pub fn normalize(raw: &str) -> Status {
        let trimmed = raw.trim();
        if let Ok(n) = trimmed.parse::<i64>() {
            return Status::from_severity(n);
        }
        let lower = trimmed.to_ascii_lowercase();
        let s = lower.as_str();
        if s.starts_with("emerg") || s.starts_with('f') {
            Status::Emergency
        } else if s.starts_with('a') {
            Status::Alert
        } else if s.starts_with('c') {
            Status::Critical
        } else if s.starts_with("err") {
            Status::Error
        } else if s.starts_with('w') {
            Status::Warn
        } else if s.starts_with('n') {
            Status::Notice
        } else if s.starts_with('i') {
            Status::Info
        } else if s.starts_with('d') || s.starts_with('t') || s.starts_with('v') {
            Status::Debug
        } else if s.starts_with('o') || s.starts_with('s') {
            Status::Ok
        } else {
            Status::Info
        }
    }

    /// Maps a syslog severity (0–7) to a status; out of range is `info`.
    pub fn from_severity(n: i64) -> Status {
        match n {
            0 => Status::Emergency,
            1 => Status::Alert,
            2 => Status::Critical,
            3 => Status::Error,
            4 => Status::Warn,
            5 => Status::Notice,
            7 => Status::Debug,
            _ => Status::Info,
        }
    }
}

/// A flattened attribute value. Objects are flattened to dotted paths before
/// they reach this type; arrays and `null` keep their JSON text in `Json`.
#[derive(Debug, Clone, PartialEq)]
pub enum AttrValue {
    /// A string.
    Str(String),
    /// An integer that fits in `i64`.
    Int(i64),
    /// Any other number.
    Float(f64),
    /// A boolean.
    Bool(bool),
    /// An array or `null`, as compact JSON text.
    Json(String),
}

impl AttrValue {
    /// Converts to a `serde_json::Value` for export and APIs.
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            AttrValue::Str(s) => serde_json::Value::String(s.clone()),
            AttrValue::Int(i) => serde_json::Value::from(*i),
            AttrValue::Float(f) => serde_json::Number::from_f64(*f)
                .map(serde_json::Value::Number)
                .unwrap_or(serde_json::Value::Null),
            AttrValue::Bool(b) => serde_json::Value::Bool(*b),
            AttrValue::Json(text) => serde_json::from_str(text)
                .unwrap_or_else(|_| serde_json::Value::String(text.clone())),
        }
    }

    /// An estimate of the heap bytes this value holds.
    pub fn heap_size(&self) -> usize {
        match self {
            AttrValue::Str(s) | AttrValue::Json(s) => s.len(),
            _ => 0,
        }
    }
}

/// Bytes charged per heap allocation by [`Event::heap_size`] (allocator
/// rounding and headers).
pub const ALLOC_OVERHEAD: usize = 16;

/// One normalised log event, as stored in the WAL, the memtable and segments.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// Event time, nanoseconds since the Unix epoch, UTC.
    pub timestamp_ns: i64,
    /// Normalised status.
    pub status: Status,
    /// Service, if known.
    pub service: Option<String>,
    /// Host, if known.
    pub host: Option<String>,
    /// Source (`ddsource`), if known.
    pub source: Option<String>,
    /// Trace id, if known.
    pub trace_id: Option<String>,
    /// The log message.
    pub message: String,
    /// Tags: `key:value` or bare values, in arrival order.
    pub tags: Vec<String>,
    /// Every other attribute, flattened to dotted paths, in arrival order.
    pub attributes: Vec<(String, AttrValue)>,
}

impl Event {
    /// An `info` event with no service, host, source, tags or attributes.
    pub fn new(timestamp_ns: i64, message: String) -> Event {
        Event {
            timestamp_ns,
            status: Status::Info,
            service: None,
            host: None,
            source: None,
            trace_id: None,
            message,
            tags: Vec::new(),
            attributes: Vec::new(),
        }
    }

    /// An estimate of the memory this event holds, for memory budgets. Each
    /// heap allocation is charged [`ALLOC_OVERHEAD`] on top of its bytes.
    pub fn heap_size(&self) -> usize {
        let string = |s: &str| {
            if s.is_empty() {
                0
            } else {
                s.len() + ALLOC_OVERHEAD
            }
        };
        let opt = |s: &Option<String>| s.as_deref().map_or(0, string);
        size_of::<Event>()
            + string(&self.message)
            + opt(&self.service)
            + opt(&self.host)
            + opt(&self.source)
            + opt(&self.trace_id)
            + self
                .tags
                .iter()
                .map(|t| string(t) + size_of::<String>())
                .sum::<usize>()
            + ALLOC_OVERHEAD
            + self
                .attributes
                .iter()
                .map(|(k, v)| {
                    string(k) + v.heap_size() + ALLOC_OVERHEAD + size_of::<(String, AttrValue)>()
                })
                .sum::<usize>()
    }

    /// The event as one JSON object, the shape `strata admin export` prints:
    /// `{"id","timestamp","status","service","host","source","trace_id",
    /// "message","tags","attributes"}`, with `attributes` nested back from
    /// their dotted paths (a path that would clash stays flat).
    pub fn to_json(&self, id: &str) -> serde_json::Value {
        let mut obj = serde_json::Map::new();
        obj.insert("id".into(), id.into());
        obj.insert(
            "timestamp".into(),
            format_rfc3339_nanos(self.timestamp_ns).into(),
        );
        obj.insert("status".into(), self.status.as_str().into());
        let mut put_opt = |key: &str, value: &Option<String>| {
            if let Some(v) = value {
                obj.insert(key.into(), v.clone().into());
            }
        };
        put_opt("service", &self.service);
        put_opt("host", &self.host);
        put_opt("source", &self.source);
        put_opt("trace_id", &self.trace_id);
        obj.insert("message".into(), self.message.clone().into());
        obj.insert("tags".into(), self.tags.clone().into());
        obj.insert("attributes".into(), nest_attributes(&self.attributes));
        serde_json::Value::Object(obj)
    }
}

/// Nests dotted attribute paths back into JSON objects. A path whose prefix is
/// already a non-object value is kept flat under its full dotted name.
pub fn nest_attributes(attributes: &[(String, AttrValue)]) -> serde_json::Value {
    let mut root = serde_json::Map::new();
    for (path, value) in attributes {
        if !insert_nested(&mut root, path, value.to_json()) {
            root.insert(path.clone(), value.to_json());
        }
    }
    serde_json::Value::Object(root)
}

fn insert_nested(
    root: &mut serde_json::Map<String, serde_json::Value>,
    path: &str,
    value: serde_json::Value,
) -> bool {
    let mut parts = path.split('.').peekable();
    let mut node = root;
    while let Some(part) = parts.next() {
        if parts.peek().is_none() {
            if node.contains_key(part) {
                return false;
            }
            node.insert(part.to_string(), value);
            return true;
        }
        let child = node
            .entry(part.to_string())
            .or_insert_with(|| serde_json::Value::Object(serde_json::Map::new()));
        match child {
            serde_json::Value::Object(map) => node = map,
            _ => return false,
        }
    }
    false
}

/// Formats nanoseconds since the epoch as RFC 3339 UTC with nanoseconds,
/// e.g. `2023-11-14T22:13:20.000000001Z`, without a date library.
pub fn format_rfc3339_nanos(timestamp_ns: i64) -> String {
    let secs = timestamp_ns.div_euclid(1_000_000_000);
    let nanos = timestamp_ns.rem_euclid(1_000_000_000);
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{nanos:09}Z",
        sod / 3600,
        (sod % 3600) / 60,
        sod % 60
    )
}

/// Howard Hinnant's days-to-civil algorithm (proleptic Gregorian).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_normalisation_follows_the_remapper() {
        let cases = [
            ("emerg", Status::Emergency),
            ("FATAL", Status::Emergency),
            ("alert", Status::Alert),
            ("crit", Status::Critical),
            ("ERROR", Status::Error),
            ("err", Status::Error),
            ("warning", Status::Warn),
            ("notice", Status::Notice),
            ("info", Status::Info),
            ("debug", Status::Debug),
            ("trace", Status::Debug),
            ("verbose", Status::Debug),
            ("OK", Status::Ok),
            ("Success", Status::Ok),
            ("3", Status::Error),
            ("0", Status::Emergency),
            ("7", Status::Debug),
            ("42", Status::Info),
            ("banana", Status::Info),
            ("", Status::Info),
        ];
        for (raw, want) in cases {
            assert_eq!(Status::normalize(raw), want, "{raw}");
        }
    }

    #[test]
    fn status_codes_round_trip() {
        for s in Status::ALL {
            assert_eq!(Status::from_code(s.code()), Some(s));
            assert_eq!(Status::from_name(s.as_str()), Some(s));
        }
        assert_eq!(Status::from_code(9), None);
    }

    #[test]
    fn rfc3339_formatting() {
        assert_eq!(format_rfc3339_nanos(0), "1970-01-01T00:00:00.000000000Z");
        assert_eq!(
            format_rfc3339_nanos(1_700_000_000_000_000_001),
            "2023-11-14T22:13:20.000000001Z"
        );
        assert_eq!(format_rfc3339_nanos(-1), "1969-12-31T23:59:59.999999999Z");
        assert_eq!(
            format_rfc3339_nanos(951_782_400_000_000_000),
            "2000-02-29T00:00:00.000000000Z"
        );
    }

    #[test]
    fn attributes_nest_and_clashes_stay_flat() {
        let attrs = vec![
            ("http.status_code".to_string(), AttrValue::Int(200)),
            ("http.method".to_string(), AttrValue::Str("GET".into())),
            ("a".to_string(), AttrValue::Int(1)),
            ("a.b".to_string(), AttrValue::Int(2)),
        ];
        let nested = nest_attributes(&attrs);
        assert_eq!(
            nested,
            serde_json::json!({"http":{"status_code":200,"method":"GET"},"a":1,"a.b":2})
        );
    }
}
