//! Syslog: the parser never panics on arbitrary lines and what it returns
//! goes through the WAL codec; the TCP framer, fed arbitrary bytes, never
//! buffers more than its limit, never hands out a frame over it, and gives
//! the same frames however the bytes are split into reads.
//!
//! The first byte chooses the line limit (1..=256) and the read size.
#![no_main]

use libfuzzer_sys::fuzz_target;
use strata_ingest::syslog::{parse, parse_frame, Frame, Framer};

/// Feeds `data` in `chunk`-byte reads; checks the buffer bound on the way.
fn frames(data: &[u8], max: usize, chunk: usize) -> Vec<Frame> {
    let mut framer = Framer::new(max);
    let mut out = Vec::new();
    for piece in data.chunks(chunk) {
        framer.push(piece, &mut out);
        assert!(
            framer.buffered() <= max.max(9),
            "framer buffer over its bound"
        );
    }
    out.extend(framer.finish());
    out
}

fuzz_target!(|data: &[u8]| {
    let Some((&knob, rest)) = data.split_first() else {
        return;
    };
    let max = usize::from(knob) + 1;
    let event = parse(rest, 1_700_000_000_000_000_000, max);
    let bytes = strata_types::batch::encode("t", &[event]);
    strata_types::batch::decode(&bytes).expect("parsed events encode and decode");

    let whole = frames(rest, max, rest.len().max(1));
    let split = frames(rest, max, usize::from(knob % 7) + 1);
    assert_eq!(whole, split, "framing depends on how reads are split");
    for frame in &whole {
        assert!(frame.bytes.len() <= max, "a frame over the limit");
        let _ = parse_frame(frame, 0, max);
    }
});
