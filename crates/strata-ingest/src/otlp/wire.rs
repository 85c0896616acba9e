//! A streaming walk over an OTLP export request in protobuf.
//!
//! Every OTLP export request has the same outline:
//!
//! ```text
//! Export*ServiceRequest { repeated Resource* resource_* = 1 }
//! Resource*             { Resource resource = 1; repeated Scope* scope_* = 2; … }
//! Scope*                { InstrumentationScope scope = 1; repeated Record records = 2; … }
//! ```
//!
//! The walk reads those three levels field by field and hands each record's
//! bytes to prost one at a time, so the decoded form of the whole body never
//! exists at once. A message field that occurs more than once is merged, as
//! protobuf requires (for `resource` and `scope` a first pass over the level
//! merges them before any record below is converted). Unknown fields are
//! skipped; a known field with the wrong wire type, a truncated field or a
//! group is an error, as it would be for prost.

use prost::Message;

use super::common::{InstrumentationScope, Resource};
use super::{Collector, Convert, Names};
use crate::IngestError;

/// One field's payload.
enum Payload<'a> {
    /// Wire types 0, 1 and 5 (not needed beyond skipping).
    Scalar,
    /// Wire type 2.
    Bytes(&'a [u8]),
}

/// Iterates the fields of one encoded message.
struct Fields<'a> {
    buf: &'a [u8],
}

impl<'a> Fields<'a> {
    fn new(buf: &'a [u8]) -> Fields<'a> {
        Fields { buf }
    }

    fn varint(&mut self) -> Result<u64, String> {
        let mut value = 0u64;
        for (i, &byte) in self.buf.iter().enumerate().take(10) {
            value |= u64::from(byte & 0x7f) << (7 * i);
            if byte & 0x80 == 0 {
                self.buf = &self.buf[i + 1..];
                return Ok(value);
            }
        }
        Err("invalid varint".into())
    }

    fn take(&mut self, n: u64) -> Result<&'a [u8], String> {
        let n = usize::try_from(n).map_err(|_| "buffer underflow".to_string())?;
        if n > self.buf.len() {
            return Err("buffer underflow".into());
        }
        let (head, tail) = self.buf.split_at(n);
        self.buf = tail;
        Ok(head)
    }

    fn field(&mut self) -> Result<(u32, Payload<'a>), String> {
        let key = self.varint()?;
        let tag = u32::try_from(key >> 3).map_err(|_| format!("invalid key value: {key}"))?;
        if tag == 0 {
            return Err(format!("invalid tag value: {tag}"));
        }
        let payload = match key & 7 {
            0 => self.varint().map(|_| Payload::Scalar)?,
            1 => self.take(8).map(|_| Payload::Scalar)?,
            2 => {
                let len = self.varint()?;
                Payload::Bytes(self.take(len)?)
            }
            5 => self.take(4).map(|_| Payload::Scalar)?,
            wire => return Err(format!("unsupported wire type {wire} (field {tag})")),
        };
        Ok((tag, payload))
    }
}

impl<'a> Iterator for Fields<'a> {
    type Item = Result<(u32, Payload<'a>), String>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.buf.is_empty() {
            return None;
        }
        let item = self.field();
        if item.is_err() {
            self.buf = &[];
        }
        Some(item)
    }
}

/// Merges every occurrence of field 1 (a message `M`) of the message in
/// `buf`, checking that fields 1 and 2 are length-delimited; `None` if field 1
/// is absent.
fn merge_first<M: Message + Default>(
    buf: &[u8],
    message: &str,
    inner: &str,
    error: &dyn Fn(String) -> IngestError,
) -> Result<Option<M>, IngestError> {
    let mut merged: Option<M> = None;
    for field in Fields::new(buf) {
        match field.map_err(|e| error(format!("{message}: {e}")))? {
            (1, Payload::Bytes(bytes)) => merged
                .get_or_insert_with(M::default)
                .merge(bytes)
                .map_err(|e| error(format!("{message}: {inner}: {e}")))?,
            (tag @ (1 | 2), Payload::Scalar) => {
                return Err(error(format!(
                    "{message}: invalid wire type for field {tag}"
                )))
            }
            _ => {}
        }
    }
    Ok(merged)
}

/// The payloads of field 2 of a message already checked by [`merge_first`].
fn second_fields(buf: &[u8]) -> impl Iterator<Item = &[u8]> {
    Fields::new(buf).filter_map(|field| match field {
        Ok((2, Payload::Bytes(bytes))) => Some(bytes),
        _ => None,
    })
}

/// Walks a protobuf export request, converting each record of type `R`.
pub(crate) fn walk<R: Message + Default>(
    body: &[u8],
    names: &Names,
    out: &mut Collector<'_>,
    convert: Convert<R>,
) -> Result<(), IngestError> {
    let error = |detail: String| {
        IngestError::bad(format!("invalid OTLP protobuf {}: {detail}", names.request))
    };
    for field in Fields::new(body) {
        match field.map_err(error)? {
            (1, Payload::Bytes(group)) => {
                let resource: Option<Resource> =
                    merge_first(group, names.resource, "Resource", &error)?;
                out.context().set_resource(resource.as_ref());
                for scope_group in second_fields(group) {
                    scope_level(scope_group, names, out, convert, &error)?;
                }
            }
            (1, Payload::Scalar) => {
                return Err(error(format!(
                    "invalid wire type for field 1 ({})",
                    names.resource
                )))
            }
            _ => {}
        }
    }
    Ok(())
}

fn scope_level<R: Message + Default>(
    group: &[u8],
    names: &Names,
    out: &mut Collector<'_>,
    convert: Convert<R>,
    error: &dyn Fn(String) -> IngestError,
) -> Result<(), IngestError> {
    let scope: Option<InstrumentationScope> =
        merge_first(group, names.scope, "InstrumentationScope", error)?;
    out.context().set_scope(scope.as_ref());
    for bytes in second_fields(group) {
        let record = R::decode(bytes)
            .map_err(|e| error(format!("{}: {}: {e}", names.scope, names.record)))?;
        out.record(&record, convert)?;
    }
    Ok(())
}
