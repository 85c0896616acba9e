//! Syslog over TCP framing (RFC 6587): octet-counted (`LEN SP MSG`) and
//! non-transparent (LF-terminated) frames, told apart per frame: a frame
//! that starts with 1 to 9 digits and a space is octet-counted, anything
//! else runs to the next LF (a trailing CR is removed).
//!
//! [`Framer`] is fed bytes as they arrive and hands out complete frames. Its
//! buffer never holds more than one frame of at most `max_frame_bytes`: a
//! longer frame is cut there, handed out with `truncated` set, and the rest
//! of it (up to its LF, or its octet count) is skipped. Empty lines and
//! zero-length frames are skipped.
//!
//! ```
//! use strata_ingest::syslog::{Framer, Framing};
//! let mut framer = Framer::new(1024);
//! let mut frames = Vec::new();
//! framer.push(b"11 <13>1 - - -<13>hello\n<13>wo", &mut frames);
//! framer.push(b"rld\r\n", &mut frames);
//! assert_eq!(frames.len(), 3);
//! assert_eq!(frames[0].bytes, b"<13>1 - - -");
//! assert_eq!(frames[0].framing, Framing::OctetCounted);
//! assert_eq!(frames[1].bytes, b"<13>hello");
//! assert_eq!(frames[2].bytes, b"<13>world");
//! ```

/// Most digits of an octet count (lengths up to 999,999,999). A frame
/// starting with more digits is an LF-terminated line.
const MAX_COUNT_DIGITS: usize = 9;

/// The framer's buffer is kept between frames up to this capacity.
const KEEP_BUFFER: usize = 4096;

/// How a frame was delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// `LEN SP MSG` (RFC 6587 §3.4.1).
    OctetCounted,
    /// Terminated by LF (RFC 6587 §3.4.2), or by the end of the stream.
    LineFeed,
}

/// One syslog message as framed on the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// The message bytes, without the octet count or the LF.
    pub bytes: Vec<u8>,
    /// The message was longer than the framer's limit and was cut (or the
    /// stream ended inside an octet-counted frame).
    pub truncated: bool,
    /// How it was delimited.
    pub framing: Framing,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// At a frame start; `buf` holds the digits seen so far.
    Start,
    /// Inside an octet-counted frame with `remaining` bytes to come.
    Counted { remaining: usize },
    /// Inside an LF-terminated line.
    Line,
    /// Skipping the rest of an octet-counted frame that was cut.
    SkipCounted { remaining: usize },
    /// Skipping the rest of a line that was cut, up to its LF.
    SkipLine,
}

/// An incremental RFC 6587 decoder with a bounded buffer (see the module
/// documentation).
#[derive(Debug, Clone)]
pub struct Framer {
    max: usize,
    buf: Vec<u8>,
    state: State,
}

impl Framer {
    /// A framer that cuts frames at `max_frame_bytes` (at least 1).
    pub fn new(max_frame_bytes: usize) -> Framer {
        Framer {
            max: max_frame_bytes.max(1),
            buf: Vec::new(),
            state: State::Start,
        }
    }

    /// Bytes held for an incomplete frame (at most `max_frame_bytes`, or 9
    /// digits of a count).
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// Whether the framer is between frames (nothing buffered or skipped).
    pub fn is_idle(&self) -> bool {
        self.state == State::Start && self.buf.is_empty()
    }

    /// Feeds `data`; every frame it completes is appended to `out`.
    pub fn push(&mut self, mut data: &[u8], out: &mut Vec<Frame>) {
        while let Some(&first) = data.first() {
            data = match self.state {
                State::Start => {
                    self.start(first);
                    if self.state == State::Line {
                        // `first` belongs to the line: not consumed here.
                        data
                    } else {
                        &data[1..]
                    }
                }
                State::Counted { remaining } => self.counted(data, remaining, out),
                State::Line => self.line(data, out),
                State::SkipCounted { remaining } => {
                    let skip = remaining.min(data.len());
                    self.state = match remaining - skip {
                        0 => State::Start,
                        remaining => State::SkipCounted { remaining },
                    };
                    &data[skip..]
                }
                State::SkipLine => match data.iter().position(|&b| b == b'\n') {
                    Some(i) => {
                        self.state = State::Start;
                        &data[i + 1..]
                    }
                    None => &[],
                },
            };
        }
    }

    /// The end of the stream: what is buffered, as a last frame (an
    /// unterminated line, or the part of an octet-counted frame that came,
    /// flagged `truncated`). The framer is ready for a new stream after it.
    pub fn finish(&mut self) -> Option<Frame> {
        let state = std::mem::replace(&mut self.state, State::Start);
        match state {
            State::Start | State::Line => self.take(false, Framing::LineFeed),
            State::Counted { .. } => self.take(true, Framing::OctetCounted),
            State::SkipCounted { .. } | State::SkipLine => {
                self.buf.clear();
                None
            }
        }
    }

    /// One byte at a frame start: a count digit, the space ending a count,
    /// or the first byte of a line (then the state becomes `Line`).
    fn start(&mut self, byte: u8) {
        if byte == b'\n' && self.buf.is_empty() {
            return;
        }
        if byte.is_ascii_digit() && self.buf.len() < MAX_COUNT_DIGITS {
            self.buf.push(byte);
            return;
        }
        if byte == b' ' && !self.buf.is_empty() {
            let count = self
                .buf
                .iter()
                .fold(0usize, |n, b| n * 10 + usize::from(b - b'0'));
            self.buf.clear();
            if count > 0 {
                self.state = State::Counted { remaining: count };
            }
            return;
        }
        self.state = State::Line;
    }

    fn counted<'a>(&mut self, data: &'a [u8], remaining: usize, out: &mut Vec<Frame>) -> &'a [u8] {
        let take = remaining.min(data.len());
        if self.buf.is_empty() && take == remaining && take <= self.max {
            // The whole frame is in `data`: copied out once.
            out.push(Frame {
                bytes: data[..take].to_vec(),
                truncated: false,
                framing: Framing::OctetCounted,
            });
            self.state = State::Start;
            return &data[take..];
        }
        if self.buf.is_empty() {
            // The frame's first part: room for all of it (up to the limit).
            self.buf.reserve(remaining.min(self.max));
        }
        let room = self.max - self.buf.len();
        if take > room {
            self.buf.extend_from_slice(&data[..room]);
            self.emit(true, Framing::OctetCounted, out);
            self.state = State::SkipCounted {
                remaining: remaining - room,
            };
            return &data[room..];
        }
        self.buf.extend_from_slice(&data[..take]);
        self.state = match remaining - take {
            0 => {
                self.emit(false, Framing::OctetCounted, out);
                State::Start
            }
            remaining => State::Counted { remaining },
        };
        &data[take..]
    }

    fn line<'a>(&mut self, data: &'a [u8], out: &mut Vec<Frame>) -> &'a [u8] {
        let end = data.iter().position(|&b| b == b'\n');
        let segment = &data[..end.unwrap_or(data.len())];
        // Count digits already buffered may exceed a tiny limit.
        let room = self.max.saturating_sub(self.buf.len());
        if segment.len() > room || self.buf.len() > self.max {
            let keep = room.min(segment.len());
            self.buf.extend_from_slice(&segment[..keep]);
            self.buf.truncate(self.max);
            self.emit(true, Framing::LineFeed, out);
            self.state = State::SkipLine;
            return &data[keep..];
        }
        self.buf.extend_from_slice(segment);
        match end {
            Some(i) => {
                self.emit(false, Framing::LineFeed, out);
                self.state = State::Start;
                &data[i + 1..]
            }
            None => &[],
        }
    }

    fn emit(&mut self, truncated: bool, framing: Framing, out: &mut Vec<Frame>) {
        if let Some(frame) = self.take(truncated, framing) {
            out.push(frame);
        }
    }

    /// The buffered bytes as a frame (none for an empty line).
    fn take(&mut self, mut truncated: bool, framing: Framing) -> Option<Frame> {
        // A small buffer is kept for the next frame (the frame is copied
        // out at its size); a large one goes with the frame.
        let mut bytes = if self.buf.capacity() > KEEP_BUFFER {
            std::mem::take(&mut self.buf)
        } else {
            let bytes = self.buf.to_vec();
            self.buf.clear();
            bytes
        };
        if bytes.len() > self.max {
            bytes.truncate(self.max);
            truncated = true;
        }
        if framing == Framing::LineFeed && !truncated && bytes.last() == Some(&b'\r') {
            bytes.pop();
        }
        if bytes.is_empty() && !truncated {
            return None;
        }
        Some(Frame {
            bytes,
            truncated,
            framing,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A frame as (text, truncated, framing).
    type Got = (String, bool, Framing);

    fn frames(max: usize, chunks: &[&[u8]]) -> Vec<Got> {
        let mut framer = Framer::new(max);
        let mut out = Vec::new();
        for chunk in chunks {
            framer.push(chunk, &mut out);
            assert!(framer.buffered() <= max.max(MAX_COUNT_DIGITS));
        }
        out.extend(framer.finish());
        out.into_iter()
            .map(|f| {
                (
                    String::from_utf8_lossy(&f.bytes).into_owned(),
                    f.truncated,
                    f.framing,
                )
            })
            .collect()
    }

    fn ok(text: &str, framing: Framing) -> Got {
        (text.to_string(), false, framing)
    }

    use Framing::{LineFeed as Lf, OctetCounted as Oc};

    #[test]
    fn table() {
        let cases: &[(&[u8], usize, Vec<Got>)] = &[
            (
                b"<13>a\n<13>b\n",
                100,
                vec![ok("<13>a", Lf), ok("<13>b", Lf)],
            ),
            (
                b"<13>a\r\n\n\n<13>b",
                100,
                vec![ok("<13>a", Lf), ok("<13>b", Lf)],
            ),
            (
                b"5 <13>a5 <13>b",
                100,
                vec![ok("<13>a", Oc), ok("<13>b", Oc)],
            ),
            (
                b"6 <13>a\n5 <13>b\n",
                100,
                vec![ok("<13>a\n", Oc), ok("<13>b", Oc)],
            ),
            // Mixed per frame.
            (
                b"5 <13>a<13>b\n3 <1>",
                100,
                vec![ok("<13>a", Oc), ok("<13>b", Lf), ok("<1>", Oc)],
            ),
            // Digits without a space: a line.
            (b"123abc\n", 100, vec![ok("123abc", Lf)]),
            (b"1234567890 x\n", 100, vec![ok("1234567890 x", Lf)]),
            (b"42\n", 100, vec![ok("42", Lf)]),
            // Zero length: nothing.
            (b"0 <13>a\n", 100, vec![ok("<13>a", Lf)]),
            // A count shorter than the message: the rest is the next line.
            (
                b"4 <13>hello\n<13>b\n",
                100,
                vec![ok("<13>", Oc), ok("hello", Lf), ok("<13>b", Lf)],
            ),
            // Oversize lines and frames are cut, flagged, and the rest skipped.
            (
                b"abcdefgh\nxy\n",
                4,
                vec![("abcd".into(), true, Lf), ok("xy", Lf)],
            ),
            (
                b"8 abcdefgh3 xyz",
                4,
                vec![("abcd".into(), true, Oc), ok("xyz", Oc)],
            ),
            (b"abcd\n", 4, vec![ok("abcd", Lf)]),
            (b"4 abcd", 4, vec![ok("abcd", Oc)]),
            // The stream ends inside a counted frame or a line.
            (b"10 abc", 100, vec![("abc".into(), true, Oc)]),
            (b"<13>tail", 100, vec![ok("<13>tail", Lf)]),
            (b"99", 100, vec![ok("99", Lf)]),
        ];
        for (input, max, want) in cases {
            let got = frames(*max, &[input]);
            assert_eq!(&got, want, "{:?}", String::from_utf8_lossy(input));
            // Byte by byte gives the same frames.
            let bytes: Vec<&[u8]> = input.chunks(1).collect();
            assert_eq!(
                &frames(*max, &bytes),
                want,
                "split {:?}",
                String::from_utf8_lossy(input)
            );
        }
    }

    #[test]
    fn a_huge_count_is_skipped_without_buffering() {
        let mut framer = Framer::new(16);
        let mut out = Vec::new();
        framer.push(b"999999999 ", &mut out);
        for _ in 0..1000 {
            framer.push(&[b'x'; 1000], &mut out);
            assert!(framer.buffered() <= 16);
        }
        assert_eq!(out.len(), 1);
        assert!(out[0].truncated);
        assert!(!framer.is_idle());
        assert_eq!(framer.finish(), None);
        assert!(framer.is_idle());
    }

    #[test]
    fn an_endless_line_is_cut_once() {
        let mut framer = Framer::new(8);
        let mut out = Vec::new();
        for _ in 0..100 {
            framer.push(b"no newline here ", &mut out);
        }
        framer.push(b"\n<13>ok\n", &mut out);
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].bytes, b"no newli");
        assert!(out[0].truncated);
        assert_eq!(out[1].bytes, b"<13>ok");
    }

    proptest::proptest! {
        #[test]
        fn chunking_does_not_change_frames(
            data in proptest::collection::vec(proptest::sample::select(
                vec![b'1', b'3', b' ', b'\n', b'\r', b'<', b'>', b'a', b'0']), 0..200),
            cuts in proptest::collection::vec(0usize..200, 0..10),
            max in 1usize..20,
        ) {
            let whole = frames(max, &[&data]);
            let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c.min(data.len())).collect();
            cuts.sort_unstable();
            let mut chunks: Vec<&[u8]> = Vec::new();
            let mut at = 0;
            for cut in cuts {
                chunks.push(&data[at..cut]);
                at = cut;
            }
            chunks.push(&data[at..]);
            proptest::prop_assert_eq!(whole, frames(max, &chunks));
        }
    }
}
