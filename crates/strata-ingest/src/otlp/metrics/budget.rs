//! A bound on the memory a request decodes to, checked before decoding.
//!
//! An empty `NumberDataPoint` is two bytes of protobuf (or `{},` in JSON)
//! but about a hundred bytes of struct, so a body could decode to fifty
//! times its size before any point limit applies. Protobuf bodies are first
//! walked without allocating ([`protobuf_estimate`]): every element of a
//! repeated message field is charged its `size_of` (singular messages and
//! strings live inline in their parent), every string or bytes field its
//! length (plus a `String` in a repeated string field), every packed varint
//! list eight bytes per byte. Fields the structs do not have (exemplars, unknown fields) are
//! free, as prost skips them. OTLP/JSON bodies are charged as they are
//! parsed, through [`JsonBudget`](crate::otlp::common::JsonBudget).

use std::mem::size_of;

use super::proto::{
    Buckets, ExponentialHistogram, ExponentialHistogramDataPoint, Gauge, Histogram,
    HistogramDataPoint, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, Summary,
    SummaryDataPoint, ValueAtQuantile,
};
use crate::otlp::common::{
    AnyValue, ArrayValue, EntityRef, InstrumentationScope, KeyValue, KeyValueList, Resource,
};

/// Decoded bytes allowed per body byte. Realistic requests estimate at two
/// to three times their protobuf size, five when every point carries many
/// one-letter attributes (see the tests); empty messages reach thirty.
pub(super) const BYTES_PER_BODY_BYTE: usize = 8;

/// Decoded bytes always allowed, however small the body.
pub(super) const MIN_BUDGET: usize = 1 << 20;

/// prost's recursion limit; deeper bodies fail to decode anyway.
const MAX_DEPTH: u32 = 100;

/// What a body of `len` bytes may decode to.
pub(super) fn budget(len: usize) -> usize {
    len.saturating_mul(BYTES_PER_BODY_BYTE).max(MIN_BUDGET)
}

/// A message type of the metrics tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    Request,
    ResourceMetrics,
    Resource,
    EntityRef,
    ScopeMetrics,
    Scope,
    Metric,
    NumberData,
    HistogramData,
    ExponentialData,
    SummaryData,
    NumberPoint,
    HistogramPoint,
    ExponentialPoint,
    Buckets,
    SummaryPoint,
    Quantile,
    KeyValue,
    AnyValue,
    ArrayValue,
    KvList,
}

/// How a field of a shape is decoded.
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
    /// A packed list of fixed-width numbers (as long as its bytes).
    Packed,
    /// A repeated varint: packed, up to eight bytes per wire byte.
    Varints,
    /// Not in the structs: skipped by prost.
    Skipped,
}

fn size(shape: Shape) -> usize {
    match shape {
        Shape::Request => 0,
        Shape::ResourceMetrics => size_of::<ResourceMetrics>(),
        Shape::Resource => size_of::<Resource>(),
        Shape::EntityRef => size_of::<EntityRef>(),
        Shape::ScopeMetrics => size_of::<ScopeMetrics>(),
        Shape::Scope => size_of::<InstrumentationScope>(),
        Shape::Metric => size_of::<Metric>(),
        Shape::NumberData => size_of::<Gauge>(),
        Shape::HistogramData => size_of::<Histogram>(),
        Shape::ExponentialData => size_of::<ExponentialHistogram>(),
        Shape::SummaryData => size_of::<Summary>(),
        Shape::NumberPoint => size_of::<NumberDataPoint>(),
        Shape::HistogramPoint => size_of::<HistogramDataPoint>(),
        Shape::ExponentialPoint => size_of::<ExponentialHistogramDataPoint>(),
        Shape::Buckets => size_of::<Buckets>(),
        Shape::SummaryPoint => size_of::<SummaryDataPoint>(),
        Shape::Quantile => size_of::<ValueAtQuantile>(),
        Shape::KeyValue => size_of::<KeyValue>(),
        Shape::AnyValue => size_of::<AnyValue>(),
        Shape::ArrayValue => size_of::<ArrayValue>(),
        Shape::KvList => size_of::<KeyValueList>(),
    }
}

/// The length-delimited fields of each shape.
fn field(shape: Shape, number: u64) -> Field {
    use Shape as S;
    let (element, message) = (Field::Element, Field::Message);
    match (shape, number) {
        (S::Request, 1) => element(S::ResourceMetrics),
        (S::ResourceMetrics, 1) => message(S::Resource),
        (S::ResourceMetrics, 2) => element(S::ScopeMetrics),
        (S::Resource, 1) => element(S::KeyValue),
        (S::Resource, 3) => element(S::EntityRef),
        (S::ScopeMetrics, 1) => message(S::Scope),
        (S::ScopeMetrics, 2) => element(S::Metric),
        (S::Scope, 3) => element(S::KeyValue),
        (S::Metric, 5 | 7) => message(S::NumberData),
        (S::Metric, 9) => message(S::HistogramData),
        (S::Metric, 10) => message(S::ExponentialData),
        (S::Metric, 11) => message(S::SummaryData),
        (S::Metric, 12) => element(S::KeyValue),
        (S::NumberData, 1) => element(S::NumberPoint),
        (S::HistogramData, 1) => element(S::HistogramPoint),
        (S::ExponentialData, 1) => element(S::ExponentialPoint),
        (S::SummaryData, 1) => element(S::SummaryPoint),
        (S::NumberPoint, 7)
        | (S::HistogramPoint, 9)
        | (S::ExponentialPoint, 1)
        | (S::SummaryPoint, 7) => element(S::KeyValue),
        (S::ExponentialPoint, 8 | 9) => message(S::Buckets),
        (S::SummaryPoint, 6) => element(S::Quantile),
        (S::KeyValue, 2) => message(S::AnyValue),
        (S::AnyValue, 5) => message(S::ArrayValue),
        (S::AnyValue, 6) => message(S::KvList),
        (S::ArrayValue, 1) => element(S::AnyValue),
        (S::KvList, 1) => element(S::KeyValue),
        (S::HistogramPoint, 6 | 7) => Field::Packed,
        (S::Buckets, 2) => Field::Varints,
        (S::EntityRef, 3 | 4) => Field::Strings,
        (S::ResourceMetrics | S::ScopeMetrics, 3)
        | (S::EntityRef, 1 | 2)
        | (S::Scope, 1 | 2)
        | (S::Metric, 1..=3)
        | (S::KeyValue, 1)
        | (S::AnyValue, 1 | 7) => Field::Text,
        _ => Field::Skipped,
    }
}

/// Whether a scalar occurrence of the field adds an element to a list
/// (unpacked repeated numbers).
fn repeated_scalar(shape: Shape, number: u64) -> bool {
    matches!(
        (shape, number),
        (Shape::HistogramPoint, 6 | 7) | (Shape::Buckets, 2)
    )
}

/// An upper bound on the bytes prost allocates decoding `body` as an
/// `ExportMetricsServiceRequest` (Vec growth aside). Malformed input stops
/// the walk: prost refuses it anyway.
pub(super) fn protobuf_estimate(body: &[u8]) -> usize {
    walk(body, Shape::Request, 0)
}

fn walk(mut buf: &[u8], shape: Shape, depth: u32) -> usize {
    let mut total = 0usize;
    while !buf.is_empty() {
        let Some(key) = varint(&mut buf) else { break };
        let number = key >> 3;
        let skip = match key & 7 {
            0 => {
                if varint(&mut buf).is_none() {
                    break;
                }
                0
            }
            1 => 8,
            5 => 4,
            2 => {
                let Some(len) = varint(&mut buf).and_then(|l| usize::try_from(l).ok()) else {
                    break;
                };
                let Some((payload, rest)) = buf.split_at_checked(len) else {
                    break;
                };
                buf = rest;
                total = total.saturating_add(charge(shape, number, payload, depth));
                continue;
            }
            // Group markers: prost skips groups; their fields count here.
            3 | 4 => 0,
            _ => break,
        };
        let Some(rest) = buf.get(skip..) else { break };
        buf = rest;
        if repeated_scalar(shape, number) {
            total = total.saturating_add(8);
        }
    }
    total
}

fn charge(shape: Shape, number: u64, payload: &[u8], depth: u32) -> usize {
    let len = payload.len();
    let nested = |child| {
        if depth < MAX_DEPTH {
            walk(payload, child, depth + 1)
        } else {
            0
        }
    };
    match field(shape, number) {
        Field::Element(child) => size(child).saturating_add(nested(child)),
        Field::Message(child) => nested(child),
        Field::Text | Field::Packed => len,
        Field::Strings => size_of::<String>().saturating_add(len),
        Field::Varints => len.saturating_mul(8),
        Field::Skipped => 0,
    }
}

fn varint(buf: &mut &[u8]) -> Option<u64> {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let (&byte, rest) = buf.split_first()?;
        *buf = rest;
        value |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Some(value);
        }
    }
    None
}
