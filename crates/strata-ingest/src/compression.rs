//! Bounded decompression: a small body that inflates past the limit is an
//! error as soon as the limit is crossed, never a memory spike.

use std::io::Read;

use crate::IngestError;

/// A `Content-Encoding`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// No compression.
    Identity,
    /// gzip container.
    Gzip,
    /// zlib-wrapped deflate (RFC 1950), falling back to raw deflate (RFC 1951).
    Deflate,
    /// zstd frames (`zstd` and `zstd1`).
    Zstd,
}

impl Encoding {
    /// Parses a `Content-Encoding` header value (case-insensitive).
    pub fn parse(header: Option<&str>) -> Result<Encoding, IngestError> {
        let Some(raw) = header else {
            return Ok(Encoding::Identity);
        };
        match raw.trim().to_ascii_lowercase().as_str() {
            "" | "identity" => Ok(Encoding::Identity),
            "gzip" | "x-gzip" => Ok(Encoding::Gzip),
            "deflate" => Ok(Encoding::Deflate),
            "zstd" | "zstd1" => Ok(Encoding::Zstd),
            other => Err(IngestError::unsupported(format!(
                "unsupported Content-Encoding {other:?}: use identity, gzip, deflate or zstd"
            ))),
        }
    }
}

/// Decompresses `body`, failing with a 413-class error once the output would
/// exceed `limit` bytes.
pub fn decompress(body: &[u8], encoding: Encoding, limit: usize) -> Result<Vec<u8>, IngestError> {
    match encoding {
        Encoding::Identity => {
            if body.len() > limit {
                return Err(too_large(limit));
            }
            Ok(body.to_vec())
        }
        Encoding::Gzip => {
            // The gzip trailer's ISIZE (uncompressed size mod 2^32) sizes the
            // output once instead of doubling it (each doubling is a copy).
            let hint = body
                .len()
                .checked_sub(4)
                .and_then(|at| body.get(at..))
                .and_then(|tail| tail.try_into().ok())
                .map_or(0, |tail: [u8; 4]| u32::from_le_bytes(tail) as usize);
            read_bounded(flate2::read::MultiGzDecoder::new(body), limit, "gzip", hint)
        }
        Encoding::Deflate => {
            let hint = body.len().saturating_mul(4);
            match read_bounded(flate2::read::ZlibDecoder::new(body), limit, "deflate", hint) {
                Ok(out) => Ok(out),
                Err(e) if e.kind == crate::ErrorKind::TooLarge => Err(e),
                // Some senders use raw deflate despite the header's meaning.
                Err(_) => read_bounded(
                    flate2::read::DeflateDecoder::new(body),
                    limit,
                    "deflate",
                    hint,
                ),
            }
        }
        Encoding::Zstd => {
            let decoder = zstd::stream::read::Decoder::new(body)
                .map_err(|e| IngestError::bad(format!("invalid zstd body: {e}")))?;
            let hint = zstd::zstd_safe::get_frame_content_size(body)
                .ok()
                .flatten()
                .map_or(body.len().saturating_mul(4), |size| {
                    usize::try_from(size).unwrap_or(usize::MAX)
                });
            read_bounded(decoder, limit, "zstd", hint)
        }
    }
}

fn too_large(limit: usize) -> IngestError {
    IngestError::too_large(format!("request body exceeds {limit} bytes uncompressed"))
}

/// Reads at most `limit + 1` bytes; `hint` (a size the input claims) only
/// pre-sizes the output and is capped by the limit, so a lying header costs
/// nothing beyond the limit.
fn read_bounded(
    reader: impl Read,
    limit: usize,
    name: &str,
    hint: usize,
) -> Result<Vec<u8>, IngestError> {
    let mut out = Vec::with_capacity(hint.min(limit.saturating_add(1)));
    let cap = u64::try_from(limit).unwrap_or(u64::MAX).saturating_add(1);
    reader
        .take(cap)
        .read_to_end(&mut out)
        .map_err(|e| IngestError::bad(format!("invalid {name} body: {e}")))?;
    if out.len() > limit {
        return Err(too_large(limit));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;
    use crate::ErrorKind;

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(data).unwrap();
        enc.finish().unwrap()
    }

    #[test]
    fn every_encoding_round_trips() {
        let data = b"hello world ".repeat(100);
        assert_eq!(decompress(&data, Encoding::Identity, 10_000).unwrap(), data);
        assert_eq!(
            decompress(&gzip(&data), Encoding::Gzip, 10_000).unwrap(),
            data
        );
        let mut zlib = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
        zlib.write_all(&data).unwrap();
        assert_eq!(
            decompress(&zlib.finish().unwrap(), Encoding::Deflate, 10_000).unwrap(),
            data
        );
        let mut raw = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::fast());
        raw.write_all(&data).unwrap();
        assert_eq!(
            decompress(&raw.finish().unwrap(), Encoding::Deflate, 10_000).unwrap(),
            data
        );
        let z = zstd::encode_all(&data[..], 1).unwrap();
        assert_eq!(decompress(&z, Encoding::Zstd, 10_000).unwrap(), data);
    }

    #[test]
    fn bombs_stop_at_the_limit() {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        enc.write_all(&vec![b'a'; 10_000_000]).unwrap();
        let bomb = enc.finish().unwrap();
        assert!(bomb.len() < 50_000);
        let err = decompress(&bomb, Encoding::Gzip, 5_000_000).unwrap_err();
        assert_eq!(err.kind, ErrorKind::TooLarge);
        let zbomb = zstd::encode_all(&vec![0u8; 10_000_000][..], 3).unwrap();
        assert_eq!(
            decompress(&zbomb, Encoding::Zstd, 5_000_000)
                .unwrap_err()
                .kind,
            ErrorKind::TooLarge
        );
        assert_eq!(
            decompress(&[0; 11], Encoding::Identity, 10)
                .unwrap_err()
                .kind,
            ErrorKind::TooLarge
        );
    }

    #[test]
    fn garbage_is_a_bad_request() {
        for enc in [Encoding::Gzip, Encoding::Deflate, Encoding::Zstd] {
            let err = decompress(b"definitely not compressed", enc, 1000).unwrap_err();
            assert_eq!(err.kind, ErrorKind::BadRequest, "{enc:?}");
        }
        let mut truncated = gzip(b"hello world");
        truncated.truncate(truncated.len() - 4);
        assert_eq!(
            decompress(&truncated, Encoding::Gzip, 1000)
                .unwrap_err()
                .kind,
            ErrorKind::BadRequest
        );
    }

    #[test]
    fn encoding_header_parsing() {
        assert_eq!(Encoding::parse(None).unwrap(), Encoding::Identity);
        assert_eq!(Encoding::parse(Some("GZIP")).unwrap(), Encoding::Gzip);
        assert_eq!(Encoding::parse(Some("zstd1")).unwrap(), Encoding::Zstd);
        assert_eq!(
            Encoding::parse(Some("br")).unwrap_err().kind,
            ErrorKind::Unsupported
        );
    }
}
