//! The binary encoding of a skip index, version 1 (`docs/segment-format.md`
//! §10.4). Little-endian fixed-width numbers, unsigned LEB128 counts and
//! lengths, strings as length + UTF-8 bytes.
//!
//! The decoder treats its input as untrusted: every count is checked against
//! the bytes left before anything is allocated, and nothing panics.

use std::collections::{BTreeMap, BTreeSet};

use super::bloom::{Block, Bloom, MAX_READ_BLOCKS};
use super::{kind, AttributeSummary, SkipIndex, ValueSummary};

/// The encoding version this crate writes and reads.
pub(super) const VERSION: u8 = 1;

/// [`ValueSummary`] flag bits.
const MISSING: u8 = 1;
const PRESENT: u8 = 2;
const HAS_SET: u8 = 4;

/// [`AttributeSummary`] flag bits beyond the kinds (bits 0 to 4).
const HAS_RANGE: u8 = 32;
const HAS_STRINGS: u8 = 64;

/// Status mask bits that name a status (codes 0 to 8).
const STATUS_BITS: u16 = 0x01ff;

pub(super) fn encode(index: &SkipIndex) -> Vec<u8> {
    let mut out = Vec::with_capacity(
        64 + index.message_tokens.blocks().len() * 32 + index.trace_ids.blocks().len() * 32,
    );
    out.push(VERSION);
    put_bloom(&mut out, &index.message_tokens);
    put_bloom(&mut out, &index.trace_ids);
    for summary in [
        &index.trace_id,
        &index.service,
        &index.host,
        &index.source,
        &index.tags,
    ] {
        put_summary(&mut out, summary);
    }
    out.extend_from_slice(&index.statuses.to_le_bytes());
    match &index.attributes {
        None => out.push(0),
        Some(paths) => {
            out.push(1);
            put_varint(&mut out, paths.len() as u64);
            for (path, summary) in paths {
                put_str(&mut out, path);
                put_attribute(&mut out, summary);
            }
        }
    }
    out
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    put_varint(out, s.len() as u64);
    out.extend_from_slice(s.as_bytes());
}

fn put_set(out: &mut Vec<u8>, set: &BTreeSet<String>) {
    put_varint(out, set.len() as u64);
    for value in set {
        put_str(out, value);
    }
}

fn put_bloom(out: &mut Vec<u8>, bloom: &Bloom) {
    put_varint(out, bloom.blocks().len() as u64);
    for block in bloom.blocks() {
        for word in block {
            out.extend_from_slice(&word.to_le_bytes());
        }
    }
}

fn put_summary(out: &mut Vec<u8>, summary: &ValueSummary) {
    let mut flags = 0;
    if summary.missing {
        flags |= MISSING;
    }
    if summary.present {
        flags |= PRESENT;
    }
    if summary.values.is_some() {
        flags |= HAS_SET;
    }
    out.push(flags);
    if let Some(set) = &summary.values {
        put_set(out, set);
    }
}

fn put_attribute(out: &mut Vec<u8>, summary: &AttributeSummary) {
    let strings = summary.strings.as_ref().filter(|_| summary.has_strings());
    let mut flags = summary.kinds;
    if summary.range.is_some() {
        flags |= HAS_RANGE;
    }
    if strings.is_some() {
        flags |= HAS_STRINGS;
    }
    out.push(flags);
    if let Some((lo, hi)) = summary.range {
        out.extend_from_slice(&lo.to_le_bytes());
        out.extend_from_slice(&hi.to_le_bytes());
    }
    if let Some(set) = strings {
        put_set(out, set);
    }
}

/// `Ok(None)` for a newer version; `Err` describes the corruption.
pub(super) fn decode(bytes: &[u8]) -> Result<Option<SkipIndex>, String> {
    let mut r = Reader { rest: bytes };
    let version = r.u8()?;
    if version == 0 {
        return Err("version 0".to_string());
    }
    if version > VERSION {
        return Ok(None);
    }
    let message_tokens = r.bloom()?;
    let trace_ids = r.bloom()?;
    let trace_id = r.summary()?;
    if trace_id.values.is_some() {
        return Err("trace_id summary has a value set".to_string());
    }
    let service = r.summary()?;
    let host = r.summary()?;
    let source = r.summary()?;
    let tags = r.summary()?;
    let statuses = u16::from_le_bytes(r.array()?);
    if statuses & !STATUS_BITS != 0 {
        return Err(format!("unknown status bits {statuses:#06x}"));
    }
    let attributes = match r.u8()? {
        0 => None,
        1 => Some(r.attributes()?),
        other => return Err(format!("attributes marker {other}")),
    };
    if !r.rest.is_empty() {
        return Err(format!("{} trailing bytes", r.rest.len()));
    }
    Ok(Some(SkipIndex {
        message_tokens,
        trace_ids,
        trace_id,
        service,
        host,
        source,
        tags,
        statuses,
        attributes,
    }))
}

struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        if n > self.rest.len() {
            return Err(format!(
                "truncated: {n} bytes wanted, {} left",
                self.rest.len()
            ));
        }
        let (head, tail) = self.rest.split_at(n);
        self.rest = tail;
        Ok(head)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], String> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    fn u8(&mut self) -> Result<u8, String> {
        Ok(self.array::<1>()?[0])
    }

    fn varint(&mut self) -> Result<u64, String> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = self.u8()?;
            let bits = u64::from(byte & 0x7f);
            if shift == 63 && bits > 1 {
                return Err("varint overflows u64".to_string());
            }
            value |= bits << shift;
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err("varint longer than 10 bytes".to_string())
    }

    /// A count of items that each take at least `min_item_bytes`, checked
    /// against the bytes left so that it cannot drive a huge allocation.
    fn count(&mut self, min_item_bytes: usize) -> Result<usize, String> {
        let n = self.varint()?;
        match usize::try_from(n) {
            Ok(n) if n.saturating_mul(min_item_bytes) <= self.rest.len() => Ok(n),
            _ => Err(format!(
                "count {n} exceeds the {} bytes left",
                self.rest.len()
            )),
        }
    }

    fn string(&mut self) -> Result<String, String> {
        let len = self.count(1)?;
        let bytes = self.take(len)?;
        String::from_utf8(bytes.to_vec()).map_err(|_| "string is not UTF-8".to_string())
    }

    /// A set of strings in strictly ascending byte order.
    fn set(&mut self) -> Result<BTreeSet<String>, String> {
        let n = self.count(1)?;
        let mut set = BTreeSet::new();
        for _ in 0..n {
            let value = self.string()?;
            if set.last().is_some_and(|last: &String| *last >= value) {
                return Err(format!("set not strictly ascending at {value:?}"));
            }
            set.insert(value);
        }
        Ok(set)
    }

    fn bloom(&mut self) -> Result<Bloom, String> {
        let n = self.count(32)?;
        if n > MAX_READ_BLOCKS {
            return Err(format!("bloom filter of {n} blocks"));
        }
        let mut blocks: Vec<Block> = Vec::with_capacity(n);
        for _ in 0..n {
            let mut block = [0u32; 8];
            for word in &mut block {
                *word = u32::from_le_bytes(self.array()?);
            }
            blocks.push(block);
        }
        Ok(Bloom::from_blocks(blocks))
    }

    fn summary(&mut self) -> Result<ValueSummary, String> {
        let flags = self.u8()?;
        if flags & !(MISSING | PRESENT | HAS_SET) != 0 {
            return Err(format!("unknown summary flags {flags:#04x}"));
        }
        let values = if flags & HAS_SET != 0 {
            Some(self.set()?)
        } else {
            None
        };
        let present = flags & PRESENT != 0;
        if values.as_ref().is_some_and(|set| set.is_empty() == present) {
            return Err("value set disagrees with the presence flag".to_string());
        }
        Ok(ValueSummary {
            missing: flags & MISSING != 0,
            present,
            values,
        })
    }

    fn attributes(&mut self) -> Result<BTreeMap<String, AttributeSummary>, String> {
        // Each path takes at least 2 bytes: its length and its flags.
        let n = self.count(2)?;
        let mut paths = BTreeMap::new();
        for _ in 0..n {
            let path = self.string()?;
            if paths
                .last_key_value()
                .is_some_and(|(last, _): (&String, _)| *last >= path)
            {
                return Err(format!("paths not strictly ascending at {path:?}"));
            }
            let summary = self
                .attribute()
                .map_err(|e| format!("path {path:?}: {e}"))?;
            paths.insert(path, summary);
        }
        Ok(paths)
    }

    fn attribute(&mut self) -> Result<AttributeSummary, String> {
        let flags = self.u8()?;
        let kinds = flags & kind::ALL;
        if flags & !(kind::ALL | HAS_RANGE | HAS_STRINGS) != 0 || kinds == 0 {
            return Err(format!("bad flags {flags:#04x}"));
        }
        let range = if flags & HAS_RANGE != 0 {
            if kinds & (kind::INT | kind::FLOAT) == 0 {
                return Err("numeric range without numbers".to_string());
            }
            let lo = f64::from_le_bytes(self.array()?);
            let hi = f64::from_le_bytes(self.array()?);
            if lo.is_nan() || hi.is_nan() || lo > hi {
                return Err(format!("bad numeric range {lo}..{hi}"));
            }
            Some((lo, hi))
        } else {
            None
        };
        let strings = if flags & HAS_STRINGS != 0 {
            if kinds & kind::STR == 0 {
                return Err("string set without strings".to_string());
            }
            let set = self.set()?;
            if set.is_empty() {
                return Err("empty string set".to_string());
            }
            Some(set)
        } else if kinds & kind::STR == 0 {
            Some(BTreeSet::new())
        } else {
            None
        };
        Ok(AttributeSummary {
            kinds,
            range,
            strings,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use strata_types::{AttrValue, Event, Status};

    fn sample() -> SkipIndex {
        let mut a = Event::new(0, "Disk FULL on /dev/sda1".to_string());
        a.service = Some("db".to_string());
        a.host = Some("h1".to_string());
        a.status = Status::Critical;
        a.tags = vec!["env:prod".to_string()];
        a.trace_id = Some("t-1".to_string());
        a.attributes = vec![
            ("usage".to_string(), AttrValue::Float(99.5)),
            ("usage".to_string(), AttrValue::Int(-3)),
            ("mount".to_string(), AttrValue::Str("/".to_string())),
            ("flag".to_string(), AttrValue::Bool(true)),
            ("list".to_string(), AttrValue::Json("[1]".to_string())),
            ("odd".to_string(), AttrValue::Float(f64::NAN)),
            ("odd".to_string(), AttrValue::Str("x".to_string())),
        ];
        let b = Event::new(0, "ok".to_string());
        SkipIndex::build([&a, &b])
    }

    #[test]
    fn round_trip() {
        let index = sample();
        let bytes = index.encode();
        let back = decode(&bytes).unwrap().unwrap();
        assert_eq!(back, index);
        assert_eq!(back.encode(), bytes);

        let unknown_attrs = SkipIndex {
            attributes: None,
            ..index
        };
        let back = decode(&unknown_attrs.encode()).unwrap().unwrap();
        assert_eq!(back, unknown_attrs);
    }

    #[test]
    fn newer_version_is_none() {
        let mut bytes = sample().encode();
        bytes[0] = VERSION + 1;
        assert_eq!(decode(&bytes), Ok(None));
    }

    #[test]
    fn corruption_is_an_error_not_a_panic() {
        let bytes = sample().encode();
        assert!(decode(&[]).is_err());
        assert!(decode(&[0]).is_err());
        for len in 1..bytes.len() {
            assert!(decode(&bytes[..len]).is_err(), "truncated to {len}");
        }
        let mut trailing = bytes.clone();
        trailing.push(0);
        assert!(decode(&trailing).is_err());
        // A huge block count must not allocate.
        let mut huge = vec![VERSION];
        put_varint(&mut huge, 1 << 40);
        assert!(decode(&huge).is_err());
        // A varint that overflows u64.
        assert!(
            decode(&[VERSION, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f]).is_err()
        );
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..200)) {
            let _ = decode(&bytes);
        }

        #[test]
        fn flipped_bytes_never_panic(at in 0usize..1000, xor in 1u8..=255) {
            let mut bytes = sample().encode();
            let i = at % bytes.len();
            bytes[i] ^= xor;
            let _ = decode(&bytes);
        }
    }
}
