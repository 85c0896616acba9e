//! The binary batch codec: how one ingest request's normalised events are
//! stored as the payload of one WAL record.
//!
//! Everything is little-endian; `varint` is unsigned LEB128 (at most 10 bytes).
//!
//! ```text
//! batch   := version:u8 (=1) tenant:str count:varint event*count
//! event   := timestamp_ns:i64 status:u8 present:u8
//!            [service:str] [host:str] [source:str] [trace_id:str]   (bits 0..3 of present)
//!            message:str
//!            ntags:varint tag:str*ntags
//!            nattrs:varint (key:str value)*nattrs
//! value   := 0 str | 1 i64 | 2 f64 (IEEE-754 bits) | 3 u8 (0/1) | 4 str (JSON text)
//! str     := len:varint utf8-bytes*len
//! ```
//!
//! Decoding never panics: truncated input, unknown tags, over-long varints and
//! invalid UTF-8 are all [`DecodeError`]s.

use crate::wire::{put_str, put_varint, Reader};
use crate::{AttrValue, Event, Status, TenantId};

/// Version byte written first in every batch.
pub const BATCH_VERSION: u8 = 1;

/// A decoded batch: one tenant, its events in arrival order.
#[derive(Debug, Clone, PartialEq)]
pub struct Batch {
    /// The tenant every event belongs to.
    pub tenant: TenantId,
    /// The events.
    pub events: Vec<Event>,
}

/// Why a batch could not be decoded.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DecodeError {
    /// The input ended inside a value.
    #[error("batch truncated at byte {0}")]
    Truncated(usize),
    /// The first byte is not a known version.
    #[error("unknown batch version {0}")]
    UnknownVersion(u8),
    /// A value tag or status code is unknown.
    #[error("invalid {what} {value} at byte {offset}")]
    Invalid {
        /// What was being read.
        what: &'static str,
        /// The byte read.
        value: u8,
        /// Where.
        offset: usize,
    },
    /// A string is not UTF-8.
    #[error("invalid utf-8 at byte {0}")]
    Utf8(usize),
    /// Bytes were left over after the last event.
    #[error("{0} trailing bytes after the last event")]
    Trailing(usize),
}

/// Whether a WAL payload is a log batch. The WAL also carries metric
/// batches (`strata_metrics::codec`, first byte `0x4d`); readers of log
/// batches skip those.
pub fn is_log_batch(payload: &[u8]) -> bool {
    payload.first() == Some(&BATCH_VERSION)
}

/// Encodes one tenant's events.
pub fn encode(tenant: &str, events: &[Event]) -> Vec<u8> {
    let estimate: usize = events.iter().map(|e| e.heap_size()).sum::<usize>() / 2 + 64;
    let mut out = Vec::with_capacity(estimate);
    out.push(BATCH_VERSION);
    put_str(&mut out, tenant);
    put_varint(&mut out, events.len() as u64);
    for event in events {
        encode_event(&mut out, event);
    }
    out
}

fn encode_event(out: &mut Vec<u8>, event: &Event) {
    out.extend_from_slice(&event.timestamp_ns.to_le_bytes());
    out.push(event.status.code());
    let optionals = [&event.service, &event.host, &event.source, &event.trace_id];
    let mut present = 0u8;
    for (bit, value) in optionals.iter().enumerate() {
        if value.is_some() {
            present |= 1 << bit;
        }
    }
    out.push(present);
    for value in optionals.into_iter().flatten() {
        put_str(out, value);
    }
    put_str(out, &event.message);
    put_varint(out, event.tags.len() as u64);
    for tag in &event.tags {
        put_str(out, tag);
    }
    put_varint(out, event.attributes.len() as u64);
    for (key, value) in &event.attributes {
        put_str(out, key);
        match value {
            AttrValue::Str(s) => {
                out.push(0);
                put_str(out, s);
            }
            AttrValue::Int(i) => {
                out.push(1);
                out.extend_from_slice(&i.to_le_bytes());
            }
            AttrValue::Float(f) => {
                out.push(2);
                out.extend_from_slice(&f.to_bits().to_le_bytes());
            }
            AttrValue::Bool(b) => {
                out.push(3);
                out.push(u8::from(*b));
            }
            AttrValue::Json(s) => {
                out.push(4);
                put_str(out, s);
            }
        }
    }
}

/// Decodes a batch written by [`encode`].
pub fn decode(bytes: &[u8]) -> Result<Batch, DecodeError> {
    let mut reader = Reader::new(bytes);
    let version = reader.u8()?;
    if version != BATCH_VERSION {
        return Err(DecodeError::UnknownVersion(version));
    }
    let tenant = reader.string()?;
    let count = reader.varint()?;
    // Each event takes at least 13 bytes: never trust `count` for allocation.
    let capacity = usize::try_from(count)
        .unwrap_or(usize::MAX)
        .min(bytes.len() / 13);
    let mut events = Vec::with_capacity(capacity);
    for _ in 0..count {
        events.push(reader.event()?);
    }
    if reader.pos() != bytes.len() {
        return Err(DecodeError::Trailing(bytes.len() - reader.pos()));
    }
    Ok(Batch { tenant, events })
}

impl Reader<'_> {
    fn event(&mut self) -> Result<Event, DecodeError> {
        let timestamp_ns = i64::from_le_bytes(self.array8()?);
        let offset = self.pos();
        let code = self.u8()?;
        let status = Status::from_code(code).ok_or(DecodeError::Invalid {
            what: "status",
            value: code,
            offset,
        })?;
        let present = self.u8()?;
        let optional = |bit: u8, reader: &mut Self| -> Result<Option<String>, DecodeError> {
            if present & (1 << bit) != 0 {
                reader.string().map(Some)
            } else {
                Ok(None)
            }
        };
        let service = optional(0, self)?;
        let host = optional(1, self)?;
        let source = optional(2, self)?;
        let trace_id = optional(3, self)?;
        let message = self.string()?;
        let ntags = self.varint()?;
        let mut tags = Vec::new();
        for _ in 0..ntags {
            tags.push(self.string()?);
        }
        let nattrs = self.varint()?;
        let mut attributes = Vec::new();
        for _ in 0..nattrs {
            let key = self.string()?;
            let offset = self.pos();
            let value = match self.u8()? {
                0 => AttrValue::Str(self.string()?),
                1 => AttrValue::Int(i64::from_le_bytes(self.array8()?)),
                2 => AttrValue::Float(f64::from_bits(u64::from_le_bytes(self.array8()?))),
                3 => AttrValue::Bool(self.u8()? != 0),
                4 => AttrValue::Json(self.string()?),
                other => {
                    return Err(DecodeError::Invalid {
                        what: "value tag",
                        value: other,
                        offset,
                    })
                }
            };
            attributes.push((key, value));
        }
        Ok(Event {
            timestamp_ns,
            status,
            service,
            host,
            source,
            trace_id,
            message,
            tags,
            attributes,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<Event> {
        let mut full = Event::new(-5, "héllo wörld".into());
        full.status = Status::Critical;
        full.service = Some("api".into());
        full.host = Some("h1".into());
        full.source = Some("nginx".into());
        full.trace_id = Some("123".into());
        full.tags = vec!["env:prod".into(), "bare".into()];
        full.attributes = vec![
            ("s".into(), AttrValue::Str("x".into())),
            ("i".into(), AttrValue::Int(i64::MIN)),
            ("f".into(), AttrValue::Float(1.5)),
            ("b".into(), AttrValue::Bool(true)),
            ("j".into(), AttrValue::Json("[1,2]".into())),
        ];
        let mut sparse = Event::new(i64::MAX, String::new());
        sparse.host = Some("only-host".into());
        vec![full, sparse]
    }

    #[test]
    fn round_trip() {
        let events = sample();
        let bytes = encode("t1", &events);
        assert_eq!(
            decode(&bytes),
            Ok(Batch {
                tenant: "t1".into(),
                events
            })
        );
    }

    #[test]
    fn every_truncation_is_an_error() {
        let bytes = encode("t1", &sample());
        for len in 0..bytes.len() {
            assert!(
                decode(&bytes[..len]).is_err(),
                "prefix of {len} bytes decoded"
            );
        }
    }

    #[test]
    fn trailing_bytes_and_bad_version_are_errors() {
        let mut bytes = encode("t1", &sample());
        bytes.push(0);
        assert_eq!(decode(&bytes), Err(DecodeError::Trailing(1)));
        bytes[0] = 9;
        assert_eq!(decode(&bytes), Err(DecodeError::UnknownVersion(9)));
    }

    #[test]
    fn huge_counts_do_not_allocate() {
        let mut bytes = vec![BATCH_VERSION, 0];
        bytes.extend_from_slice(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f]);
        assert!(matches!(decode(&bytes), Err(DecodeError::Truncated(_))));
    }
}
