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
//!
//! Before a resource, scope or record is handed to prost, its decoded size is
//! estimated from its bytes ([`estimate`], which allocates nothing) and
//! checked against the request's budget, and a record's attributes, events
//! and links are counted: a record over those limits is refused without being
//! decoded. Otherwise two wire bytes (an empty `KeyValue`) become a
//! fifty-byte struct, and one record of ten million of them half a gigabyte.

use std::mem::size_of;

use prost::Message;

use super::common::{
    AnyValue, ArrayValue, EntityRef, InstrumentationScope, KeyValue, KeyValueList, Resource,
};
use super::logs::LogRecord;
use super::traces::{Span, SpanEvent, SpanLink, SpanStatus};
use super::{Collector, Convert, Counts, Names};
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
                out.reserve(firsts_estimate(group, Shape::Resource))?;
                {
                    let resource: Option<Resource> =
                        merge_first(group, names.resource, "Resource", &error)?;
                    out.context().set_resource(resource.as_ref());
                }
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
    out.reserve(firsts_estimate(group, Shape::Scope))?;
    {
        let scope: Option<InstrumentationScope> =
            merge_first(group, names.scope, "InstrumentationScope", error)?;
        out.context().set_scope(scope.as_ref());
    }
    for bytes in second_fields(group) {
        let estimate = estimate(bytes, names.shape);
        if estimate.complete {
            if let Err(reason) = estimate.counts.check() {
                out.reject(reason);
                continue;
            }
        }
        out.reserve(estimate.bytes)?;
        let record = R::decode(bytes)
            .map_err(|e| error(format!("{}: {}: {e}", names.scope, names.record)))?;
        out.record(record, convert)?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Decoded size estimate
// ---------------------------------------------------------------------------

/// prost's recursion limit; deeper messages fail to decode anyway.
const MAX_DEPTH: u32 = 100;

/// A message of the logs and traces trees.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Shape {
    LogRecord,
    Span,
    SpanEvent,
    SpanLink,
    SpanStatus,
    Resource,
    EntityRef,
    Scope,
    KeyValue,
    AnyValue,
    ArrayValue,
    KvList,
}

/// How a length-delimited field of a shape is decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    /// An element of a repeated message field: a new struct in a `Vec`.
    Element(Shape),
    /// A singular message, inline in its parent.
    Message(Shape),
    /// A singular string or bytes field: its heap bytes.
    Text,
    /// An element of a repeated string field: a `String` and its bytes.
    Strings,
    /// Not in the structs: skipped by prost.
    Skipped,
}

fn size(shape: Shape) -> usize {
    match shape {
        Shape::LogRecord => size_of::<LogRecord>(),
        Shape::Span => size_of::<Span>(),
        Shape::SpanEvent => size_of::<SpanEvent>(),
        Shape::SpanLink => size_of::<SpanLink>(),
        Shape::SpanStatus => size_of::<SpanStatus>(),
        Shape::Resource => size_of::<Resource>(),
        Shape::EntityRef => size_of::<EntityRef>(),
        Shape::Scope => size_of::<InstrumentationScope>(),
        Shape::KeyValue => size_of::<KeyValue>(),
        Shape::AnyValue => size_of::<AnyValue>(),
        Shape::ArrayValue => size_of::<ArrayValue>(),
        Shape::KvList => size_of::<KeyValueList>(),
    }
}

/// The length-delimited fields of each shape (see the field tables in
/// [`common`](super::common), [`logs`](super::logs) and
/// [`traces`](super::traces)).
fn field(shape: Shape, number: u64) -> Field {
    use Shape as S;
    let (element, message) = (Field::Element, Field::Message);
    match (shape, number) {
        (S::LogRecord, 5) => message(S::AnyValue),
        (S::LogRecord, 6) | (S::Span, 9) | (S::SpanEvent, 3) | (S::SpanLink, 4) => {
            element(S::KeyValue)
        }
        (S::Span, 11) => element(S::SpanEvent),
        (S::Span, 13) => element(S::SpanLink),
        (S::Span, 15) => message(S::SpanStatus),
        (S::Resource, 1) | (S::Scope, 3) | (S::KvList, 1) => element(S::KeyValue),
        (S::Resource, 3) => element(S::EntityRef),
        (S::KeyValue, 2) => message(S::AnyValue),
        (S::AnyValue, 5) => message(S::ArrayValue),
        (S::AnyValue, 6) => message(S::KvList),
        (S::ArrayValue, 1) => element(S::AnyValue),
        (S::EntityRef, 3 | 4) => Field::Strings,
        (S::LogRecord, 3 | 9 | 10 | 12)
        | (S::Span, 1..=5)
        | (S::SpanEvent, 2)
        | (S::SpanLink, 1..=3)
        | (S::SpanStatus, 2)
        | (S::EntityRef, 1 | 2)
        | (S::Scope, 1 | 2)
        | (S::KeyValue, 1)
        | (S::AnyValue, 1 | 7) => Field::Text,
        _ => Field::Skipped,
    }
}

/// What a message decodes to, found from its wire bytes without allocating.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Estimate {
    /// An upper bound on the bytes prost allocates decoding it (`Vec` growth
    /// aside): its own `size_of`, that of every element of a repeated message
    /// field below it, and the length of every string or bytes field (plus a
    /// `String` in a repeated string field). Fields the structs do not have
    /// are free, as prost skips them.
    pub(crate) bytes: usize,
    /// The message's own attributes, events and links (as sent).
    pub(crate) counts: Counts,
    /// Whether the whole message was read as well-formed protobuf; when not,
    /// prost decides (and refuses it).
    pub(crate) complete: bool,
}

/// Estimates what `buf`, a `shape` message, decodes to.
pub(crate) fn estimate(buf: &[u8], shape: Shape) -> Estimate {
    let mut out = Estimate {
        bytes: size(shape),
        counts: Counts::default(),
        complete: true,
    };
    walk_shape(buf, shape, 0, &mut out);
    out
}

/// The estimated decoded bytes of every occurrence of field 1 in `buf`.
fn firsts_estimate(buf: &[u8], shape: Shape) -> usize {
    Fields::new(buf)
        .filter_map(|field| match field {
            Ok((1, Payload::Bytes(bytes))) => Some(estimate(bytes, shape).bytes),
            _ => None,
        })
        .fold(0, usize::saturating_add)
}

fn walk_shape(buf: &[u8], shape: Shape, depth: u32, out: &mut Estimate) {
    let mut fields = Fields::new(buf);
    while !fields.buf.is_empty() {
        if step(&mut fields, shape, depth, out).is_err() {
            // prost stops at the same place, having allocated no more.
            out.complete = false;
            return;
        }
    }
}

/// Reads one field of a `shape` message and charges it.
fn step(
    fields: &mut Fields<'_>,
    shape: Shape,
    depth: u32,
    out: &mut Estimate,
) -> Result<(), String> {
    let key = fields.varint()?;
    let number = key >> 3;
    if number == 0 || number > u64::from(u32::MAX >> 3) {
        out.complete = false;
    }
    match key & 7 {
        0 => fields.varint().map(|_| ()),
        1 => fields.take(8).map(|_| ()),
        5 => fields.take(4).map(|_| ()),
        2 => {
            let len = fields.varint()?;
            let payload = fields.take(len)?;
            charge(shape, number, payload, depth, out);
            Ok(())
        }
        3 => skip_group(fields, number, depth),
        wire => Err(format!("unexpected wire type {wire}")),
    }
}

fn charge(shape: Shape, number: u64, payload: &[u8], depth: u32, out: &mut Estimate) {
    if depth == 0 {
        match (shape, number) {
            (Shape::LogRecord, 6) | (Shape::Span, 9) => out.counts.attributes += 1,
            (Shape::Span, 11) => out.counts.events += 1,
            (Shape::Span, 13) => out.counts.links += 1,
            _ => {}
        }
    }
    let mut nested = |child| {
        if depth < MAX_DEPTH {
            walk_shape(payload, child, depth + 1, out);
        } else {
            out.complete = false;
        }
    };
    let bytes = match field(shape, number) {
        Field::Element(child) => {
            nested(child);
            size(child)
        }
        Field::Message(child) => {
            nested(child);
            0
        }
        Field::Text => payload.len(),
        Field::Strings => size_of::<String>().saturating_add(payload.len()),
        Field::Skipped => 0,
    };
    out.bytes = out.bytes.saturating_add(bytes);
}

/// Skips a group up to its end marker, as prost skips an unknown group.
fn skip_group(fields: &mut Fields<'_>, number: u64, depth: u32) -> Result<(), String> {
    if depth >= MAX_DEPTH {
        return Err("recursion limit reached".into());
    }
    loop {
        let key = fields.varint()?;
        match key & 7 {
            0 => {
                fields.varint()?;
            }
            1 => {
                fields.take(8)?;
            }
            2 => {
                let len = fields.varint()?;
                fields.take(len)?;
            }
            3 => skip_group(fields, key >> 3, depth + 1)?,
            4 if key >> 3 == number => return Ok(()),
            5 => {
                fields.take(4)?;
            }
            _ => return Err("unexpected end group tag".into()),
        }
    }
}
