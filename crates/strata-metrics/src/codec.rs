//! The binary encoding of a [`MetricBatch`] stored as the payload of one WAL
//! record (the log batches of `strata_types::batch` share the WAL; the first
//! byte tells them apart: logs start with their version byte 1, metrics with
//! [`METRICS_TAG`]).
//!
//! Everything is little-endian; `varint` is unsigned LEB128, `zvarint` a
//! zig-zag signed LEB128.
//!
//! ```text
//! batch   := tag:u8 (=0x4d 'M') version:u8 (=1) tenant:str
//!            nseries:varint series*nseries nsketch:varint sketches*nsketch
//! series  := key type:u8 interval_s:varint unit:str
//!            npoints:varint (ts_delta_s:zvarint value:f64)*npoints
//! sketches:= key npoints:varint
//!            (ts_delta_s:zvarint count:varint min:f64 max:f64 sum:f64
//!             nbins:varint (key_delta:zvarint n:varint)*nbins)*npoints
//! key     := metric:str host:str ntags:varint tag:str*ntags
//! str     := len:varint utf8-bytes*len
//! ```
//!
//! Timestamps are deltas from the previous point of the same series (the
//! first from 0); bin keys are deltas from the previous bin's key (the
//! first from 0). Decoding never panics and checks what the model promises:
//! valid names, sorted unique tags, sorted unique bins with counts > 0.

use strata_types::batch::DecodeError;
use strata_types::wire::{put_str, put_varint, Reader};

use crate::model::is_valid_metric_name;
use crate::sketch::{Bin, Sketch};
use crate::{MetricBatch, MetricType, Point, SeriesKey, SeriesPoints, SketchPoints};

/// First byte of every metrics WAL payload.
pub const METRICS_TAG: u8 = 0x4d;
/// Second byte: the codec version.
pub const METRICS_VERSION: u8 = 1;

/// Why a payload could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodecError {
    /// The input ended inside a value.
    #[error("metrics batch truncated at byte {0}")]
    Truncated(usize),
    /// Not a metrics payload, or an unknown version.
    #[error("not a metrics batch (tag {tag:#x}, version {version})")]
    NotMetrics {
        /// First byte.
        tag: u8,
        /// Second byte.
        version: u8,
    },
    /// A value breaks the model's rules.
    #[error("invalid {what} at byte {offset}")]
    Invalid {
        /// What was being read.
        what: &'static str,
        /// Where.
        offset: usize,
    },
    /// Bytes were left over.
    #[error("{0} trailing bytes after the last series")]
    Trailing(usize),
}

/// Whether a WAL payload is a metrics batch (as opposed to a log batch).
pub fn is_metrics_payload(payload: &[u8]) -> bool {
    payload.first() == Some(&METRICS_TAG)
}

/// Encodes one tenant's batch.
pub fn encode(tenant: &str, batch: &MetricBatch) -> Vec<u8> {
    let mut out = Vec::with_capacity(64 + batch.point_count() * 10);
    out.push(METRICS_TAG);
    out.push(METRICS_VERSION);
    put_str(&mut out, tenant);
    put_varint(&mut out, batch.series.len() as u64);
    for s in &batch.series {
        put_key(&mut out, &s.key);
        out.push(s.kind.code());
        put_varint(&mut out, u64::from(s.interval_s));
        put_str(&mut out, &s.unit);
        put_varint(&mut out, s.points.len() as u64);
        let mut prev = 0i64;
        for p in &s.points {
            put_zvarint(&mut out, p.ts_s.wrapping_sub(prev));
            prev = p.ts_s;
            out.extend_from_slice(&p.value.to_bits().to_le_bytes());
        }
    }
    put_varint(&mut out, batch.sketches.len() as u64);
    for s in &batch.sketches {
        put_key(&mut out, &s.key);
        put_varint(&mut out, s.points.len() as u64);
        let mut prev = 0i64;
        for (ts, sketch) in &s.points {
            put_zvarint(&mut out, ts.wrapping_sub(prev));
            prev = *ts;
            put_sketch(&mut out, sketch);
        }
    }
    out
}

/// Encodes a sketch alone (the store's `sketch` column uses this too).
pub fn put_sketch(out: &mut Vec<u8>, sketch: &Sketch) {
    put_varint(out, sketch.count);
    for v in [sketch.min, sketch.max, sketch.sum] {
        out.extend_from_slice(&v.to_bits().to_le_bytes());
    }
    put_varint(out, sketch.bins.len() as u64);
    let mut prev = 0i64;
    for bin in &sketch.bins {
        put_zvarint(out, i64::from(bin.key) - prev);
        prev = i64::from(bin.key);
        put_varint(out, u64::from(bin.n));
    }
}

/// Decodes a sketch written by [`put_sketch`], requiring that it fills `bytes`.
pub fn decode_sketch(bytes: &[u8]) -> Result<Sketch, CodecError> {
    let mut r = Reader::new(bytes);
    let sketch = r.sketch()?;
    if r.pos() != bytes.len() {
        return Err(CodecError::Trailing(bytes.len() - r.pos()));
    }
    Ok(sketch)
}

/// Decodes a payload written by [`encode`]: the tenant and the batch.
pub fn decode(bytes: &[u8]) -> Result<(String, MetricBatch), CodecError> {
    let mut r = Reader::new(bytes);
    let tag = r.u8()?;
    let version = r.u8()?;
    if tag != METRICS_TAG || version != METRICS_VERSION {
        return Err(CodecError::NotMetrics { tag, version });
    }
    let tenant = r.string()?;
    let nseries = r.count(12)?;
    let mut batch = MetricBatch {
        series: Vec::with_capacity(nseries),
        sketches: Vec::new(),
    };
    for _ in 0..nseries {
        let key = r.key()?;
        let at = r.pos();
        let kind = MetricType::from_code(r.u8()?).ok_or(CodecError::Invalid {
            what: "metric type",
            offset: at,
        })?;
        let interval_s = u32::try_from(r.varint()?).map_err(|_| CodecError::Invalid {
            what: "interval",
            offset: at,
        })?;
        let unit = r.string()?;
        let npoints = r.count(9)?;
        let mut points = Vec::with_capacity(npoints);
        let mut prev = 0i64;
        for _ in 0..npoints {
            let ts_s = prev.wrapping_add(r.zvarint()?);
            prev = ts_s;
            let value = f64::from_bits(u64::from_le_bytes(r.array8()?));
            points.push(Point { ts_s, value });
        }
        batch.series.push(SeriesPoints {
            key,
            kind,
            interval_s,
            unit,
            points,
        });
    }
    let nsketch = r.count(4)?;
    batch.sketches.reserve(nsketch);
    for _ in 0..nsketch {
        let key = r.key()?;
        let npoints = r.count(27)?;
        let mut points = Vec::with_capacity(npoints);
        let mut prev = 0i64;
        for _ in 0..npoints {
            let ts = prev.wrapping_add(r.zvarint()?);
            prev = ts;
            points.push((ts, r.sketch()?));
        }
        batch.sketches.push(SketchPoints { key, points });
    }
    if r.pos() != bytes.len() {
        return Err(CodecError::Trailing(bytes.len() - r.pos()));
    }
    Ok((tenant, batch))
}

fn put_key(out: &mut Vec<u8>, key: &SeriesKey) {
    put_str(out, &key.metric);
    put_str(out, &key.host);
    put_varint(out, key.tags.len() as u64);
    for tag in &key.tags {
        put_str(out, tag);
    }
}

fn put_zvarint(out: &mut Vec<u8>, value: i64) {
    put_varint(out, ((value << 1) ^ (value >> 63)) as u64);
}

impl From<DecodeError> for CodecError {
    fn from(error: DecodeError) -> CodecError {
        match error {
            DecodeError::Truncated(at) => CodecError::Truncated(at),
            DecodeError::Utf8(offset) => CodecError::Invalid {
                what: "utf-8",
                offset,
            },
            DecodeError::Invalid { what, offset, .. } => CodecError::Invalid { what, offset },
            DecodeError::Trailing(n) => CodecError::Trailing(n),
            DecodeError::UnknownVersion(_) => CodecError::Invalid {
                what: "version",
                offset: 0,
            },
        }
    }
}

/// The metric codec's reads on top of the shared [`Reader`].
trait MetricReads {
    fn f64(&mut self) -> Result<f64, CodecError>;
    fn zvarint(&mut self) -> Result<i64, CodecError>;
    fn count(&mut self, min_bytes: usize) -> Result<usize, CodecError>;
    fn key(&mut self) -> Result<SeriesKey, CodecError>;
    fn sketch(&mut self) -> Result<Sketch, CodecError>;
}

impl MetricReads for Reader<'_> {
    fn f64(&mut self) -> Result<f64, CodecError> {
        Ok(f64::from_bits(u64::from_le_bytes(self.array8()?)))
    }

    fn zvarint(&mut self) -> Result<i64, CodecError> {
        let v = self.varint()?;
        Ok(((v >> 1) as i64) ^ -((v & 1) as i64))
    }

    /// A count of items each at least `min_bytes` long: never trusted for
    /// allocation beyond what the remaining input could hold.
    fn count(&mut self, min_bytes: usize) -> Result<usize, CodecError> {
        let at = self.pos();
        let n = self.varint()?;
        let left = self.remaining();
        match usize::try_from(n) {
            Ok(n) if n <= left / min_bytes.max(1) => Ok(n),
            _ => Err(CodecError::Truncated(at)),
        }
    }

    fn key(&mut self) -> Result<SeriesKey, CodecError> {
        let at = self.pos();
        let metric = self.string()?;
        if !is_valid_metric_name(&metric) {
            return Err(CodecError::Invalid {
                what: "metric name",
                offset: at,
            });
        }
        let host = self.string()?;
        let ntags = self.count(1)?;
        let mut tags = Vec::with_capacity(ntags);
        for _ in 0..ntags {
            let at = self.pos();
            let tag = self.string()?;
            if tag.is_empty() || tags.last().is_some_and(|prev: &String| *prev >= tag) {
                return Err(CodecError::Invalid {
                    what: "tag order",
                    offset: at,
                });
            }
            tags.push(tag);
        }
        Ok(SeriesKey { metric, host, tags })
    }

    fn sketch(&mut self) -> Result<Sketch, CodecError> {
        let count = self.varint()?;
        let min = self.f64()?;
        let max = self.f64()?;
        let sum = self.f64()?;
        let nbins = self.count(2)?;
        let mut bins = Vec::with_capacity(nbins);
        let mut prev = 0i64;
        for _ in 0..nbins {
            let at = self.pos();
            let key = prev.wrapping_add(self.zvarint()?);
            let n = self.varint()?;
            let bad = |what| CodecError::Invalid { what, offset: at };
            let key32 = i32::try_from(key).map_err(|_| bad("bin key"))?;
            let n32 = u32::try_from(n).map_err(|_| bad("bin count"))?;
            if n32 == 0 || (!bins.is_empty() && key <= prev) {
                return Err(bad("bin order"));
            }
            prev = key;
            bins.push(Bin { key: key32, n: n32 });
        }
        Ok(Sketch {
            count,
            min,
            max,
            sum,
            bins,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> MetricBatch {
        let key = SeriesKey::new("a.b", "h1", vec!["env:prod".into()]).unwrap();
        MetricBatch {
            series: vec![SeriesPoints {
                key: key.clone(),
                kind: MetricType::Count,
                interval_s: 10,
                unit: "byte".into(),
                points: vec![
                    Point {
                        ts_s: 1_700_000_000,
                        value: 1.5,
                    },
                    Point {
                        ts_s: 1_699_999_990,
                        value: -2.0,
                    },
                ],
            }],
            sketches: vec![SketchPoints {
                key,
                points: vec![(
                    1_700_000_010,
                    Sketch {
                        count: 3,
                        min: -1.0,
                        max: 9.0,
                        sum: 10.0,
                        bins: vec![
                            Bin { key: -5, n: 1 },
                            Bin { key: 0, n: 1 },
                            Bin { key: 7, n: 1 },
                        ],
                    },
                )],
            }],
        }
    }

    #[test]
    fn round_trips() {
        let batch = sample();
        let bytes = encode("acme", &batch);
        assert!(is_metrics_payload(&bytes));
        assert_eq!(decode(&bytes).unwrap(), ("acme".to_string(), batch));
    }

    #[test]
    fn every_truncation_is_an_error() {
        let bytes = encode("acme", &sample());
        for len in 0..bytes.len() {
            assert!(decode(&bytes[..len]).is_err(), "prefix {len}");
        }
        let mut long = bytes.clone();
        long.push(0);
        assert_eq!(decode(&long), Err(CodecError::Trailing(1)));
    }

    /// The example of `docs/metrics-format.md` §1, byte for byte.
    #[test]
    fn documented_example_bytes() {
        let key = SeriesKey::new("a.b", "h1", vec!["env:prod".into()]).unwrap();
        let batch = MetricBatch {
            series: vec![SeriesPoints {
                key,
                kind: MetricType::Gauge,
                interval_s: 0,
                unit: String::new(),
                points: vec![Point {
                    ts_s: 1_700_000_000,
                    value: 1.5,
                }],
            }],
            sketches: Vec::new(),
        };
        let hex: String = encode("acme", &batch)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let expected = concat!(
            "4d01",
            "0461636d65",
            "01",
            "03612e62",
            "026831",
            "0108656e763a70726f64",
            "030000",
            "01",
            "80c49fd50c",
            "000000000000f83f",
            "00"
        );
        assert_eq!(hex, expected);
    }

    #[test]
    fn log_batches_are_not_metrics() {
        let logs = strata_types::batch::encode("acme", &[]);
        assert!(!is_metrics_payload(&logs));
        assert!(matches!(decode(&logs), Err(CodecError::NotMetrics { .. })));
    }
}
