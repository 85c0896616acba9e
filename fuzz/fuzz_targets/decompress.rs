//! Bounded decompression never panics and never returns more than the limit.
#![no_main]

use libfuzzer_sys::fuzz_target;
use strata_ingest::{decompress, Encoding};

fuzz_target!(|data: &[u8]| {
    for encoding in [Encoding::Identity, Encoding::Gzip, Encoding::Deflate, Encoding::Zstd] {
        if let Ok(out) = decompress(data, encoding, 1 << 20) {
            assert!(out.len() <= 1 << 20);
        }
    }
});
