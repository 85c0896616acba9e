//! The same generated log events in the shape of each logs protocol.
//!
//! [`LogsFormat::render`] draws a batch with [`generate_batch`] (the events
//! of [`generate_batch_json`] for the same RNG state) and writes it as the
//! request body, or the stream bytes, of `--protocol`:
//!
//! * `datadog`: the JSON array of [`generate_batch_json`], unchanged.
//! * `otlp`, `otlp-json`: an `ExportLogsServiceRequest` (module `otlp`).
//! * `bulk`: Elasticsearch `_bulk` NDJSON ([`bulk_body`]).
//! * `syslog`: RFC 5424 messages, framed ([`syslog_body`]).
//!
//! Every protocol but datadog goes through [`Record`]: the event's message,
//! status, host, service, timestamp and trace ids where the protocol has a
//! place for them, and everything else as flat attributes with dotted keys
//! (`http.status_code`, `network.client.ip`, `ddsource`, and the `ddtags`
//! `env`, `version` and `region`), so every protocol carries the same data.

use std::fmt::Write as _;

use rand::Rng;
use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::Value;

use crate::gen::{generate_batch, generate_batch_json, iso_time};
use crate::{BodyEncoding, LogsProtocol, SyslogFraming};

mod otlp;

pub use otlp::{otlp_json_body, otlp_protobuf_body, otlp_request, severity_number};

/// How log bodies are built: the protocol's shape and the compression.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogsFormat {
    /// The shape of the bodies.
    pub protocol: LogsProtocol,
    /// `Content-Encoding` (ignored for syslog, which is sent as is).
    pub encoding: BodyEncoding,
    /// Level of gzip and deflate.
    pub gzip_level: u32,
    /// Level of zstd.
    pub zstd_level: i32,
    /// Message delimiting of syslog streams.
    pub framing: SyslogFraming,
}

impl LogsFormat {
    /// Datadog JSON, gzip at `level` or uncompressed.
    pub fn datadog(gzip_level: Option<u32>) -> LogsFormat {
        LogsFormat {
            protocol: LogsProtocol::Datadog,
            encoding: match gzip_level {
                Some(_) => BodyEncoding::Gzip,
                None => BodyEncoding::Identity,
            },
            gzip_level: gzip_level.unwrap_or(crate::DEFAULT_GZIP_LEVEL),
            zstd_level: crate::DEFAULT_ZSTD_LEVEL,
            framing: SyslogFraming::Octet,
        }
    }

    /// The encoding actually applied: identity for syslog.
    pub fn wire_encoding(&self) -> BodyEncoding {
        match self.protocol {
            LogsProtocol::Syslog => BodyEncoding::Identity,
            _ => self.encoding,
        }
    }

    /// `events` generated events (see [`generate_batch`]) as one
    /// uncompressed body of the protocol. Deterministic: the same RNG state
    /// and `now_ms` give the same bytes, and the same events whatever the
    /// protocol.
    pub fn render<R: Rng + ?Sized>(&self, rng: &mut R, events: usize, now_ms: i64) -> Vec<u8> {
        if self.protocol == LogsProtocol::Datadog {
            return generate_batch_json(rng, events, now_ms).into_bytes();
        }
        let records = records(&generate_batch(rng, events, now_ms));
        match self.protocol {
            LogsProtocol::Datadog => Vec::new(),
            LogsProtocol::Otlp => otlp_protobuf_body(&records),
            LogsProtocol::OtlpJson => otlp_json_body(&records),
            LogsProtocol::Bulk => bulk_body(&records),
            LogsProtocol::Syslog => syslog_body(&records, self.framing),
        }
    }
}

/// An attribute value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttrValue {
    /// A string.
    Str(String),
    /// An integer (`http.status_code`, `duration`).
    Int(i64),
}

/// One generated event, flattened for the protocols other than datadog.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// Milliseconds since the Unix epoch.
    pub ts_ms: i64,
    /// The log line.
    pub message: String,
    /// `debug`, `info`, `warn`, `error` or `critical`.
    pub status: String,
    /// The emitting host.
    pub host: String,
    /// The emitting service.
    pub service: String,
    /// `dd.trace_id`, if the event has one.
    pub trace_id: Option<u64>,
    /// `dd.span_id`, if the event has one.
    pub span_id: Option<u64>,
    /// Everything else, with dotted keys, sorted by key.
    pub attrs: Vec<(String, AttrValue)>,
}

/// Flattens events in the Datadog shape of [`generate_batch`].
pub fn records(events: &[Value]) -> Vec<Record> {
    events.iter().map(record).collect()
}

fn record(event: &Value) -> Record {
    let text = |key: &str| event[key].as_str().unwrap_or_default().to_owned();
    let id = |key: &str| event["dd"][key].as_str().and_then(|s| s.parse().ok());
    let mut attrs = Vec::new();
    if let Some(object) = event.as_object() {
        for (key, value) in object {
            match key.as_str() {
                "message" | "status" | "timestamp" | "hostname" | "service" | "dd" => {}
                "ddtags" => {
                    for tag in value.as_str().unwrap_or_default().split(',') {
                        if let Some((k, v)) = tag.split_once(':') {
                            attrs.push((k.to_owned(), AttrValue::Str(v.to_owned())));
                        }
                    }
                }
                _ => flatten(key, value, &mut attrs),
            }
        }
    }
    attrs.sort_by(|a, b| a.0.cmp(&b.0));
    Record {
        ts_ms: event["timestamp"].as_i64().unwrap_or_default(),
        message: text("message"),
        status: text("status"),
        host: text("hostname"),
        service: text("service"),
        trace_id: id("trace_id"),
        span_id: id("span_id"),
        attrs,
    }
}

fn flatten(prefix: &str, value: &Value, out: &mut Vec<(String, AttrValue)>) {
    match value {
        Value::Object(object) => {
            for (key, value) in object {
                flatten(&format!("{prefix}.{key}"), value, out);
            }
        }
        Value::Null => {}
        Value::String(s) => out.push((prefix.to_owned(), AttrValue::Str(s.clone()))),
        Value::Number(n) => match n.as_i64() {
            Some(i) => out.push((prefix.to_owned(), AttrValue::Int(i))),
            None => out.push((prefix.to_owned(), AttrValue::Str(n.to_string()))),
        },
        other => out.push((prefix.to_owned(), AttrValue::Str(other.to_string()))),
    }
}

/// The `_index` of the bulk `create` actions.
pub const BULK_INDEX: &str = "loadgen";

/// A bulk body: for each record a `{"create":{"_index":"loadgen"}}` line
/// and the document, `{"@timestamp":..,"message":..,"log.level":..,
/// "host.name":..,"service.name":.., attributes..}`, each `\n`-terminated.
pub fn bulk_body(records: &[Record]) -> Vec<u8> {
    let action = format!("{{\"create\":{{\"_index\":\"{BULK_INDEX}\"}}}}\n");
    let mut out = Vec::with_capacity(records.len() * 420);
    for record in records {
        out.extend_from_slice(action.as_bytes());
        // Serializing strings and integers into a Vec cannot fail.
        let _ = serde_json::to_writer(&mut out, &BulkDoc(record));
        out.push(b'\n');
    }
    out
}

/// A record as a bulk document, keys in a fixed order.
struct BulkDoc<'a>(&'a Record);

impl Serialize for BulkDoc<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let r = self.0;
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("@timestamp", &iso_time(r.ts_ms))?;
        map.serialize_entry("message", &r.message)?;
        map.serialize_entry("log.level", &r.status)?;
        map.serialize_entry("host.name", &r.host)?;
        map.serialize_entry("service.name", &r.service)?;
        for (key, value) in &r.attrs {
            match value {
                AttrValue::Str(s) => map.serialize_entry(key, s)?,
                AttrValue::Int(i) => map.serialize_entry(key, i)?,
            }
        }
        if let Some(id) = r.trace_id {
            map.serialize_entry("dd.trace_id", &id.to_string())?;
        }
        if let Some(id) = r.span_id {
            map.serialize_entry("dd.span_id", &id.to_string())?;
        }
        map.end()
    }
}

/// Facility of the syslog messages: 1, user-level (syslog(3)'s default).
pub const SYSLOG_FACILITY: u8 = 1;
/// The SD-ID of the attributes element: `attrs@32473` (32473 is the
/// private enterprise number RFC 5612 reserves for examples).
pub const SYSLOG_SD_ID: &str = "attrs@32473";

/// The syslog severity (0-7) of a status.
pub fn syslog_severity(status: &str) -> u8 {
    match status {
        "emergency" => 0,
        "alert" => 1,
        "critical" => 2,
        "error" => 3,
        "warn" | "warning" => 4,
        "notice" => 5,
        "debug" | "trace" => 7,
        _ => 6,
    }
}

/// One RFC 5424 message, unframed:
/// `<PRI>1 TIMESTAMP HOST APP PROCID - [attrs@32473 key="value" ...] MSG`.
/// PROCID is a number derived from host and service; the attributes, and
/// the trace ids as `dd.trace_id` and `dd.span_id`, are the SD-PARAMs.
pub fn syslog_message(r: &Record) -> String {
    let mut m = String::with_capacity(r.message.len() + 64 * (r.attrs.len() + 2));
    let pri = u16::from(SYSLOG_FACILITY) * 8 + u16::from(syslog_severity(&r.status));
    let _ = write!(
        m,
        "<{pri}>1 {} {} {} {} - [{SYSLOG_SD_ID}",
        iso_time(r.ts_ms),
        header_field(&r.host, 255),
        header_field(&r.service, 48),
        procid(&r.host, &r.service),
    );
    for (key, value) in &r.attrs {
        match value {
            AttrValue::Str(s) => sd_param(&mut m, key, s),
            AttrValue::Int(i) => sd_param(&mut m, key, &i.to_string()),
        }
    }
    if let Some(id) = r.trace_id {
        sd_param(&mut m, "dd.trace_id", &id.to_string());
    }
    if let Some(id) = r.span_id {
        sd_param(&mut m, "dd.span_id", &id.to_string());
    }
    m.push_str("] ");
    m.push_str(&r.message);
    m
}

/// Messages framed for a TCP stream: `LEN SP MSG` (octet counting, LEN the
/// message's length in bytes), or `MSG LF` with the message's line breaks
/// turned into spaces (newline framing).
pub fn syslog_body(records: &[Record], framing: SyslogFraming) -> Vec<u8> {
    let mut out = Vec::with_capacity(records.len() * 480);
    for record in records {
        let message = syslog_message(record);
        match framing {
            SyslogFraming::Octet => {
                out.extend_from_slice(message.len().to_string().as_bytes());
                out.push(b' ');
                out.extend_from_slice(message.as_bytes());
            }
            SyslogFraming::Newline => {
                out.extend(
                    message
                        .bytes()
                        .map(|b| if b == b'\n' || b == b'\r' { b' ' } else { b }),
                );
                out.push(b'\n');
            }
        }
    }
    out
}

/// A header field: printable US-ASCII without spaces, at most `max` bytes,
/// `-` when empty.
fn header_field(value: &str, max: usize) -> String {
    let clean: String = value
        .chars()
        .filter(|c| c.is_ascii_graphic())
        .take(max)
        .collect();
    if clean.is_empty() {
        "-".to_owned()
    } else {
        clean
    }
}

/// A stable process id per host and service (FNV-1a), like a long-lived
/// daemon's.
fn procid(host: &str, service: &str) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for b in host.bytes().chain([b'/']).chain(service.bytes()) {
        h = (h ^ u32::from(b)).wrapping_mul(0x0100_0193);
    }
    1000 + h % 64_000
}

/// Appends ` name="value"`: the name cut to an SD-NAME (at most 32
/// printable characters, none of `= ]"`), the value escaped (`"`, `\` and
/// `]` get a backslash).
fn sd_param(m: &mut String, name: &str, value: &str) {
    m.push(' ');
    m.extend(
        name.chars()
            .filter(|c| c.is_ascii_graphic() && !matches!(c, '=' | ']' | '"'))
            .take(32),
    );
    m.push_str("=\"");
    for c in value.chars() {
        if matches!(c, '"' | '\\' | ']') {
            m.push('\\');
        }
        m.push(c);
    }
    m.push('"');
}

#[cfg(test)]
mod tests;
