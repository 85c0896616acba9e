//! Request bodies generated, serialized and compressed before the clock starts.

use std::fmt;
use std::io::Write as _;

use bytes::Bytes;
use flate2::write::{GzEncoder, ZlibEncoder};
use flate2::Compression;
use rand::rngs::StdRng;
use rand::SeedableRng;

use crate::gen::mix64;
use crate::render::LogsFormat;
use crate::{BodyEncoding, LoadgenError};

/// `raw` compressed with `encoding` (gzip and deflate at `gzip_level`, zstd
/// at `zstd_level`).
pub(crate) fn encode(
    raw: &[u8],
    encoding: BodyEncoding,
    gzip_level: u32,
    zstd_level: i32,
) -> std::io::Result<Vec<u8>> {
    match encoding {
        BodyEncoding::Identity => Ok(raw.to_vec()),
        BodyEncoding::Zstd => zstd::bulk::compress(raw, zstd_level),
        BodyEncoding::Gzip => {
            let mut enc = GzEncoder::new(
                Vec::with_capacity(raw.len() / 4 + 64),
                Compression::new(gzip_level),
            );
            enc.write_all(raw)?;
            enc.finish()
        }
        BodyEncoding::Deflate => {
            let mut enc = ZlibEncoder::new(
                Vec::with_capacity(raw.len() / 4 + 64),
                Compression::new(gzip_level),
            );
            enc.write_all(raw)?;
            enc.finish()
        }
    }
}

/// One ready-to-send request body.
#[derive(Clone)]
pub struct Payload {
    body: Bytes,
    raw_len: usize,
    events: usize,
}

impl fmt::Debug for Payload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Payload")
            .field("events", &self.events)
            .field("raw_len", &self.raw_len)
            .field("wire_len", &self.body.len())
            .finish()
    }
}

impl Payload {
    /// A body built elsewhere (metric payloads): `raw_len` is its size
    /// before compression, `items` the events or points it carries.
    pub(crate) fn from_parts(body: Bytes, raw_len: usize, items: usize) -> Self {
        Self {
            body,
            raw_len,
            events: items,
        }
    }

    fn build(raw: Vec<u8>, events: usize, format: &LogsFormat) -> Result<Self, LoadgenError> {
        let raw_len = raw.len();
        let body = match format.wire_encoding() {
            BodyEncoding::Identity => Bytes::from(raw),
            encoding => Bytes::from(
                encode(&raw, encoding, format.gzip_level, format.zstd_level)
                    .map_err(LoadgenError::Compress)?,
            ),
        };
        Ok(Self {
            body,
            raw_len,
            events,
        })
    }

    /// The bytes sent on the wire (compressed unless built without it).
    pub fn body(&self) -> &Bytes {
        &self.body
    }

    /// Length of the uncompressed body (the JSON array for Datadog logs).
    pub fn raw_len(&self) -> usize {
        self.raw_len
    }

    /// Length of [`Payload::body`].
    pub fn wire_len(&self) -> usize {
        self.body.len()
    }

    /// Number of log events in the body (metric points for metrics).
    pub fn events(&self) -> usize {
        self.events
    }
}

/// The RNG seed of batch `index` for run seed `seed`.
///
/// Each batch has its own RNG stream so batches can be built in parallel and
/// still be byte-identical for a given seed.
pub fn batch_seed(seed: u64, index: u64) -> u64 {
    mix64(seed ^ mix64(index))
}

/// The distinct request bodies a run cycles through.
#[derive(Debug, Clone)]
pub struct PayloadSet {
    payloads: Vec<Payload>,
    remainder: Option<Payload>,
    gzip_level: Option<u32>,
}

impl PayloadSet {
    /// Builds `count` Datadog JSON batches of `batch_size` events, using
    /// all cores: [`PayloadSet::build_logs`] with [`LogsFormat::datadog`].
    /// `gzip_level` is 0..=9, or `None` for identity bodies.
    pub fn build(
        seed: u64,
        count: usize,
        batch_size: usize,
        now_ms: i64,
        gzip_level: Option<u32>,
        remainder: usize,
    ) -> Result<Self, LoadgenError> {
        let format = LogsFormat::datadog(gzip_level);
        Self::build_logs(&format, seed, count, batch_size, now_ms, remainder)
    }

    /// Builds `count` batches of `batch_size` events rendered as `format`
    /// says, using all cores. Batch `i` holds the same events whatever the
    /// format.
    ///
    /// With `remainder > 0`, also builds a short final batch of that many
    /// events (the first events of batch 0), used to hit `--events` exactly.
    pub fn build_logs(
        format: &LogsFormat,
        seed: u64,
        count: usize,
        batch_size: usize,
        now_ms: i64,
        remainder: usize,
    ) -> Result<Self, LoadgenError> {
        let make = |index: usize, events: usize| {
            let mut rng = StdRng::seed_from_u64(batch_seed(seed, index as u64));
            let raw = format.render(&mut rng, events, now_ms);
            Payload::build(raw, events, format)
        };
        let threads = std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .clamp(1, count.max(1));
        let mut slots: Vec<Option<Result<Payload, LoadgenError>>> =
            (0..count).map(|_| None).collect();
        std::thread::scope(|scope| {
            let handles: Vec<_> = (0..threads)
                .map(|t| {
                    let make = &make;
                    scope.spawn(move || {
                        (t..count)
                            .step_by(threads)
                            .map(|i| (i, make(i, batch_size)))
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            for h in handles {
                // Generation does not panic; if it somehow did, the slots
                // stay empty and are reported below.
                if let Ok(done) = h.join() {
                    for (i, p) in done {
                        slots[i] = Some(p);
                    }
                }
            }
        });
        let mut payloads = Vec::with_capacity(count);
        for slot in slots {
            match slot {
                Some(p) => payloads.push(p?),
                None => {
                    return Err(LoadgenError::Task(
                        "payload generation thread panicked".into(),
                    ))
                }
            }
        }
        let remainder = if remainder > 0 {
            Some(make(0, remainder)?)
        } else {
            None
        };
        Ok(Self {
            payloads,
            remainder,
            gzip_level: (format.wire_encoding() == BodyEncoding::Gzip).then_some(format.gzip_level),
        })
    }

    /// A set of bodies built elsewhere (metric payloads), without a
    /// remainder.
    pub(crate) fn from_payloads(payloads: Vec<Payload>) -> Self {
        Self {
            payloads,
            remainder: None,
            gzip_level: None,
        }
    }

    /// The full-size batches.
    pub fn payloads(&self) -> &[Payload] {
        &self.payloads
    }

    /// The short batch used to finish an `--events` run exactly, if any.
    pub fn remainder(&self) -> Option<&Payload> {
        self.remainder.as_ref()
    }

    /// gzip level of the bodies, `None` when they are not gzip.
    pub fn gzip_level(&self) -> Option<u32> {
        self.gzip_level
    }

    /// Total events across the full-size batches.
    pub fn events(&self) -> u64 {
        self.payloads.iter().map(|p| p.events as u64).sum()
    }

    /// Total uncompressed body bytes across the full-size batches.
    pub fn raw_bytes(&self) -> u64 {
        self.payloads.iter().map(|p| p.raw_len as u64).sum()
    }

    /// Total on-the-wire bytes across the full-size batches.
    pub fn wire_bytes(&self) -> u64 {
        self.payloads.iter().map(|p| p.body.len() as u64).sum()
    }

    /// Mean uncompressed body bytes per event (for Datadog JSON, array
    /// punctuation included, so this is also the NDJSON-equivalent size).
    pub fn avg_event_bytes(&self) -> f64 {
        self.raw_bytes() as f64 / self.events().max(1) as f64
    }

    /// Raw bytes divided by wire bytes (1.0 without gzip).
    pub fn compression_ratio(&self) -> f64 {
        self.raw_bytes() as f64 / self.wire_bytes().max(1) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::read::GzDecoder;
    use std::io::Read as _;

    const NOW: i64 = 1_700_000_000_000;

    #[test]
    fn payload_sets_are_deterministic_by_seed() {
        let a = PayloadSet::build(7, 5, 200, NOW, Some(6), 0).unwrap();
        let b = PayloadSet::build(7, 5, 200, NOW, Some(6), 0).unwrap();
        let c = PayloadSet::build(8, 5, 200, NOW, Some(6), 0).unwrap();
        assert_eq!(a.payloads().len(), 5);
        for (x, y) in a.payloads().iter().zip(b.payloads()) {
            assert_eq!(x.body(), y.body());
        }
        for (x, y) in a.payloads().iter().zip(c.payloads()) {
            assert_ne!(x.body(), y.body());
        }
        // Batches within a set differ from each other.
        assert_ne!(a.payloads()[0].body(), a.payloads()[1].body());
    }

    #[test]
    fn gzip_bodies_decode_to_the_raw_json() {
        let set = PayloadSet::build(1, 2, 300, NOW, Some(6), 120).unwrap();
        let plain = PayloadSet::build(1, 2, 300, NOW, None, 120).unwrap();
        for (gz, raw) in set.payloads().iter().zip(plain.payloads()) {
            let mut out = Vec::new();
            GzDecoder::new(&gz.body()[..])
                .read_to_end(&mut out)
                .unwrap();
            assert_eq!(&out[..], &raw.body()[..]);
            assert_eq!(out.len(), gz.raw_len());
            assert_eq!(raw.wire_len(), raw.raw_len());
            let events: Vec<serde_json::Value> = serde_json::from_slice(&out).unwrap();
            assert_eq!(events.len(), 300);
        }
        assert!(set.compression_ratio() > 3.0, "{}", set.compression_ratio());
        assert_eq!(plain.compression_ratio(), 1.0);
        assert_eq!(set.events(), 600);

        // The remainder batch is a prefix of batch 0.
        let rem = plain.remainder().unwrap();
        assert_eq!(rem.events(), 120);
        let rem_events: Vec<serde_json::Value> = serde_json::from_slice(rem.body()).unwrap();
        let first: Vec<serde_json::Value> =
            serde_json::from_slice(plain.payloads()[0].body()).unwrap();
        assert_eq!(&rem_events[..], &first[..120]);
    }
}
