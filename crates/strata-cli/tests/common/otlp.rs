//! Helpers for the OTLP tests (issue 6): running the real-client scripts,
//! a hand-written protobuf encoder for small OTLP requests and a decoder for
//! `google.rpc.Status` (independent of the server's own code), and lookups in
//! search hits.
// Included by several test crates, each using a part of it.
#![allow(dead_code, unused_imports)]

use serde_json::Value;

pub use crate::common::compat::{last_json, node, python};

/// The value at a dotted attribute path of a search hit's `attributes`
/// (`"cart.items"` → `attributes.cart.items`, nested as the search answer
/// nests dotted names); falls back to a flat key holding the whole path.
pub fn attr<'a>(hit: &'a Value, path: &str) -> &'a Value {
    let attributes = &hit["attributes"];
    let mut node = attributes;
    for part in path.split('.') {
        node = &node[part];
    }
    if node.is_null() {
        &attributes[path]
    } else {
        node
    }
}

/// Whether a hit's `tags` contain `tag`.
pub fn has_tag(hit: &Value, tag: &str) -> bool {
    hit["tags"]
        .as_array()
        .is_some_and(|tags| tags.iter().any(|t| t == tag))
}

/// Lower-case hex of 32 (trace) or 16 (span) characters.
pub fn is_hex_id(text: &str, len: usize) -> bool {
    text.len() == len && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

// ---- protobuf, by hand ----------------------------------------------------

fn varint(mut value: u64, out: &mut Vec<u8>) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

fn tag(field: u32, wire_type: u8, out: &mut Vec<u8>) {
    varint(u64::from(field) << 3 | u64::from(wire_type), out);
}

/// A length-delimited field (wire type 2): strings, bytes, sub-messages.
pub fn pb_bytes(field: u32, bytes: &[u8], out: &mut Vec<u8>) {
    tag(field, 2, out);
    varint(bytes.len() as u64, out);
    out.extend_from_slice(bytes);
}

/// A varint field (wire type 0).
pub fn pb_varint(field: u32, value: u64, out: &mut Vec<u8>) {
    tag(field, 0, out);
    varint(value, out);
}

/// A fixed64 field (wire type 1).
pub fn pb_fixed64(field: u32, value: u64, out: &mut Vec<u8>) {
    tag(field, 1, out);
    out.extend_from_slice(&value.to_le_bytes());
}

/// `KeyValue { key = 1; AnyValue value = 2 { string_value = 1 } }`.
pub fn pb_string_attribute(key: &str, value: &str) -> Vec<u8> {
    let mut any = Vec::new();
    pb_bytes(1, value.as_bytes(), &mut any);
    let mut kv = Vec::new();
    pb_bytes(1, key.as_bytes(), &mut kv);
    pb_bytes(2, &any, &mut kv);
    kv
}

/// One OTLP log record to encode with [`logs_request`].
#[derive(Debug, Clone)]
pub struct PbLog<'a> {
    pub time_unix_nano: u64,
    pub severity_number: u64,
    pub severity_text: &'a str,
    pub body: &'a str,
    pub attributes: &'a [(&'a str, &'a str)],
    pub trace_id: Option<[u8; 16]>,
    pub span_id: Option<[u8; 8]>,
}

/// An `ExportLogsServiceRequest` with one resource (`service.name`,
/// `host.name`) and one scope holding `logs`.
pub fn logs_request(service: &str, host: &str, logs: &[PbLog<'_>]) -> Vec<u8> {
    let mut resource = Vec::new();
    pb_bytes(
        1,
        &pb_string_attribute("service.name", service),
        &mut resource,
    );
    pb_bytes(1, &pb_string_attribute("host.name", host), &mut resource);
    let mut scope = Vec::new();
    pb_bytes(1, b"strata.tests", &mut scope);
    let mut scope_logs = Vec::new();
    pb_bytes(1, &scope, &mut scope_logs);
    for log in logs {
        let mut record = Vec::new();
        pb_fixed64(1, log.time_unix_nano, &mut record);
        pb_varint(2, log.severity_number, &mut record);
        pb_bytes(3, log.severity_text.as_bytes(), &mut record);
        let mut body = Vec::new();
        pb_bytes(1, log.body.as_bytes(), &mut body);
        pb_bytes(5, &body, &mut record);
        for (key, value) in log.attributes {
            pb_bytes(6, &pb_string_attribute(key, value), &mut record);
        }
        if let Some(trace_id) = log.trace_id {
            pb_bytes(9, &trace_id, &mut record);
        }
        if let Some(span_id) = log.span_id {
            pb_bytes(10, &span_id, &mut record);
        }
        pb_fixed64(11, log.time_unix_nano, &mut record);
        pb_bytes(2, &record, &mut scope_logs);
    }
    let mut resource_logs = Vec::new();
    pb_bytes(1, &resource, &mut resource_logs);
    pb_bytes(2, &scope_logs, &mut resource_logs);
    let mut request = Vec::new();
    pb_bytes(1, &resource_logs, &mut request);
    request
}

fn read_varint(bytes: &[u8], at: &mut usize) -> Result<u64, String> {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let byte = *bytes.get(*at).ok_or("truncated varint")?;
        *at += 1;
        value |= u64::from(byte & 0x7f) << shift;
        if byte < 0x80 {
            return Ok(value);
        }
    }
    Err("varint too long".into())
}

/// Decodes `google.rpc.Status { int32 code = 1; string message = 2;
/// repeated Any details = 3; }`, skipping unknown fields; `Err` names what
/// is wrong with the bytes.
pub fn decode_status(bytes: &[u8]) -> Result<(i32, String), String> {
    let (mut code, mut message) = (0i32, String::new());
    let mut at = 0;
    while at < bytes.len() {
        let key = read_varint(bytes, &mut at)?;
        let (field, wire_type) = (key >> 3, key & 7);
        match wire_type {
            0 => {
                let value = read_varint(bytes, &mut at)?;
                if field == 1 {
                    code = value as i32;
                }
            }
            1 => at += 8,
            5 => at += 4,
            2 => {
                let len = read_varint(bytes, &mut at)? as usize;
                let end = at.checked_add(len).filter(|&e| e <= bytes.len());
                let end = end.ok_or("truncated length-delimited field")?;
                if field == 2 {
                    message = String::from_utf8(bytes[at..end].to_vec())
                        .map_err(|e| format!("message is not UTF-8: {e}"))?;
                } else if field == 1 {
                    return Err("field 1 (code) is length-delimited".into());
                }
                at = end;
            }
            other => return Err(format!("unexpected wire type {other}")),
        }
    }
    if at != bytes.len() {
        return Err("truncated fixed-width field".into());
    }
    Ok((code, message))
}

/// Hex of bytes (lower case).
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Posts a body; returns the status, the response's content type and its
/// body as bytes (a protobuf body need not be UTF-8); status 0 on a
/// transport error.
pub fn post_raw(url: &str, headers: &[(&str, &str)], body: &[u8]) -> (u16, String, Vec<u8>) {
    let mut request = ureq::post(url).timeout(std::time::Duration::from_secs(30));
    for (k, v) in headers {
        request = request.set(k, v);
    }
    let response = match request.send_bytes(body) {
        Ok(response) => response,
        Err(ureq::Error::Status(_, response)) => response,
        Err(error) => return (0, String::new(), error.to_string().into_bytes()),
    };
    let status = response.status();
    let content_type = response.header("content-type").unwrap_or("").to_string();
    let mut bytes = Vec::new();
    let _ = std::io::Read::read_to_end(&mut response.into_reader(), &mut bytes);
    (status, content_type, bytes)
}

/// Every hit of `text` over the last hour (and the next), as the search
/// answer's `attributes` objects.
pub fn search(
    server: &crate::common::Server,
    keys: &crate::common::Keys,
    text: &str,
) -> Vec<Value> {
    crate::common::storage::search_all(server, keys, text, "now-1h", "now+1h")
        .into_iter()
        .map(|hit| hit["attributes"].clone())
        .collect()
}
