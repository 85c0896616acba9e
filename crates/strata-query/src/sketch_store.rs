//! The bucket store of [`DdSketch`](super::DdSketch) and the little-endian,
//! bounds-checked primitives of its encoding.

use super::SketchError;

/// Dense bucket counts for keys `offset .. offset + counts.len()`, at most
/// `bin_limit` of them, collapsing the lowest keys when full.
///
/// Whatever the order of adds, the kept window is
/// `[max(lowest key seen, highest key seen - bin_limit + 1), highest key seen]`
/// and each count sits in the bin of its key clamped to that window, which is
/// why merging stays exact after collapsing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct Store {
    /// Key of `counts[0]`; meaningless while `counts` is empty.
    pub(super) offset: i64,
    pub(super) counts: Vec<u64>,
    /// Sum of `counts` (saturating).
    pub(super) total: u64,
}

impl Store {
    fn top_key(&self) -> i64 {
        self.offset + self.counts.len() as i64 - 1
    }

    pub(super) fn add(&mut self, key: i64, n: u64, bin_limit: usize) {
        if n == 0 {
            return;
        }
        self.total = self.total.saturating_add(n);
        if self.counts.is_empty() {
            self.offset = key;
            self.counts.push(n);
            return;
        }
        let span = bin_limit as i64;
        let top = self.top_key();
        let index = if key < self.offset {
            // Grow downwards as far as the limit allows; lower keys fold into the lowest bin.
            let new_offset = key.max(top - span + 1);
            if new_offset < self.offset {
                let extra = (self.offset - new_offset) as usize;
                self.counts.splice(0..0, std::iter::repeat_n(0, extra));
                self.offset = new_offset;
            }
            0.max(key - self.offset) as usize
        } else if key > top {
            let new_offset = self.offset.max(key - span + 1);
            if new_offset > self.offset {
                self.collapse_below(new_offset);
            }
            let new_len = (key - self.offset + 1) as usize;
            self.counts.resize(new_len, 0);
            new_len - 1
        } else {
            (key - self.offset) as usize
        };
        if let Some(bin) = self.counts.get_mut(index) {
            *bin = bin.saturating_add(n);
        }
    }

    /// Folds every bin with a key below `new_offset` into the bin `new_offset`
    /// (which may lie above the current top).
    fn collapse_below(&mut self, new_offset: i64) {
        let cut = ((new_offset - self.offset) as usize).min(self.counts.len());
        let collapsed = self
            .counts
            .drain(..cut)
            .fold(0u64, |acc, c| acc.saturating_add(c));
        self.offset = new_offset;
        match self.counts.first_mut() {
            Some(first) => *first = first.saturating_add(collapsed),
            None => self.counts.push(collapsed),
        }
    }

    pub(super) fn merge(&mut self, other: &Store, bin_limit: usize) {
        // Highest keys first: the window reaches its final top at once, so
        // lower keys fold straight into place instead of being shifted around.
        for (index, &count) in other.counts.iter().enumerate().rev() {
            self.add(other.offset + index as i64, count, bin_limit);
        }
    }

    /// The key holding the value at 0-based `rank` in ascending key order.
    pub(super) fn key_at_rank(&self, rank: u64) -> Option<i64> {
        let mut seen = 0u64;
        for (index, &count) in self.counts.iter().enumerate() {
            seen = seen.saturating_add(count);
            if seen > rank {
                return Some(self.offset + index as i64);
            }
        }
        None
    }

    /// The key holding the value at 0-based `rank` in descending key order.
    pub(super) fn key_at_rank_descending(&self, rank: u64) -> Option<i64> {
        let mut seen = 0u64;
        for (index, &count) in self.counts.iter().enumerate().rev() {
            seen = seen.saturating_add(count);
            if seen > rank {
                return Some(self.offset + index as i64);
            }
        }
        None
    }

    pub(super) fn encode(&self, out: &mut Vec<u8>) {
        let offset = if self.counts.is_empty() {
            0
        } else {
            self.offset
        };
        write_varint(out, zigzag(offset));
        write_varint(out, self.counts.len() as u64);
        for &count in &self.counts {
            write_varint(out, count);
        }
    }

    pub(super) fn decode(
        reader: &mut Reader<'_>,
        bin_limit: usize,
        key_range: &std::ops::RangeInclusive<i64>,
    ) -> Result<Store, SketchError> {
        let offset = unzigzag(reader.varint()?);
        let len = reader.varint()?;
        // Each bin takes at least one byte: a huge length cannot allocate much.
        if len > bin_limit as u64 || len > reader.remaining() as u64 {
            return Err(SketchError::Corrupt(
                "bin count exceeds the limit or the input",
            ));
        }
        let len = len as usize;
        if len > 0 {
            let last = offset.checked_add(len as i64 - 1);
            let in_range =
                key_range.contains(&offset) && last.is_some_and(|k| key_range.contains(&k));
            if !in_range {
                return Err(SketchError::Corrupt("bucket key out of range"));
            }
        }
        let mut counts = Vec::with_capacity(len);
        let mut total = 0u64;
        for _ in 0..len {
            let count = reader.varint()?;
            total = total
                .checked_add(count)
                .ok_or(SketchError::Corrupt("count overflows u64"))?;
            counts.push(count);
        }
        Ok(Store {
            offset: if len == 0 { 0 } else { offset },
            counts,
            total,
        })
    }
}

pub(super) fn write_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

fn zigzag(value: i64) -> u64 {
    ((value << 1) ^ (value >> 63)) as u64
}

fn unzigzag(value: u64) -> i64 {
    ((value >> 1) as i64) ^ -((value & 1) as i64)
}

/// A bounds-checked cursor over the encoded bytes.
pub(super) struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub(super) fn new(bytes: &'a [u8]) -> Self {
        Self { bytes, pos: 0 }
    }

    /// True once every byte has been read.
    pub(super) fn is_exhausted(&self) -> bool {
        self.pos == self.bytes.len()
    }

    fn remaining(&self) -> usize {
        self.bytes.len() - self.pos
    }

    pub(super) fn take(&mut self, n: usize) -> Result<&'a [u8], SketchError> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&end| end <= self.bytes.len())
            .ok_or(SketchError::Corrupt("truncated"))?;
        let slice = self
            .bytes
            .get(self.pos..end)
            .ok_or(SketchError::Corrupt("truncated"))?;
        self.pos = end;
        Ok(slice)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], SketchError> {
        let slice = self.take(N)?;
        slice
            .try_into()
            .map_err(|_| SketchError::Corrupt("truncated"))
    }

    pub(super) fn u8(&mut self) -> Result<u8, SketchError> {
        Ok(self.array::<1>()?[0])
    }

    pub(super) fn u32(&mut self) -> Result<u32, SketchError> {
        Ok(u32::from_le_bytes(self.array()?))
    }

    pub(super) fn f64(&mut self) -> Result<f64, SketchError> {
        Ok(f64::from_le_bytes(self.array()?))
    }

    pub(super) fn varint(&mut self) -> Result<u64, SketchError> {
        let mut value = 0u64;
        for index in 0..10 {
            let byte = self.u8()?;
            let payload = u64::from(byte & 0x7f);
            // The tenth byte may only carry the top bit of a u64.
            if index == 9 && payload > 1 {
                return Err(SketchError::Corrupt("varint overflows u64"));
            }
            value |= payload << (7 * index);
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(SketchError::Corrupt("varint too long"))
    }
}
