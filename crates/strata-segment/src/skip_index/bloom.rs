//! The token hash, the message tokenizer and the split-block Bloom filter of
//! the skip index (`docs/segment-format.md` §10).
//!
//! Everything here is on disk: the hash, the block layout and the bit
//! selection must never change for skip index version 1.

/// Multiplier of the word mix: 2^64 divided by the golden ratio, odd.
const MIX_K: u64 = 0x9E37_79B9_7F4A_7C15;

/// Salts of the bit selection, one per 32-bit word of a block (the same as
/// Parquet's split-block Bloom filter).
const SALT: [u32; 8] = [
    0x47b6_137b,
    0x4497_4d91,
    0x8824_ad5b,
    0xa2b7_289d,
    0x7054_95c7,
    0x2df1_424b,
    0x9efc_4947,
    0x5c6b_fb31,
];

/// A filter block: 256 bits as eight 32-bit words.
pub(crate) type Block = [u32; 8];

/// Largest filter the writer builds: 960 KiB (30,720 blocks of 32 bytes).
/// 30,720 = 2^11 * 3 * 5 has 48 divisors, so a filter can shrink in steps
/// of at most 1.5x (2x only from the very top) rather than only by halves.
pub(crate) const MAX_WRITE_BLOCKS: usize = 30_720;

/// Largest filter a reader accepts (32 MiB), so that a corrupt count cannot
/// make it allocate without bound.
pub(crate) const MAX_READ_BLOCKS: usize = 1 << 20;

/// False positive rate the writer sizes filters for.
pub(crate) const TARGET_FPP: f64 = 0.01;

/// Distinct values per block a rebuilt filter is sized for (§10.3): 23
/// (11.1 bits per value) gives an expected 0.77% false positives, leaving
/// room for the error of the estimated count below 1%.
const REBUILD_VALUES_PER_BLOCK: f64 = 23.0;

/// Bits per value the writer starts from before shrinking (§10.3): about
/// four times what 1% needs, so that the final size is picked among the
/// fine steps of the divisors rather than the top ones (a halving).
const START_BITS_PER_VALUE: usize = 64;

fn mix(h: u64, word: u64) -> u64 {
    (h.rotate_left(23) ^ word).wrapping_mul(MIX_K)
}

/// MurmurHash3's 64-bit finalizer.
fn fmix64(mut h: u64) -> u64 {
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^= h >> 33;
    h
}

const ONES: u64 = 0x0101_0101_0101_0101;

/// The skip index hash of `bytes` (§10.2): the bytes as little-endian 64-bit
/// words (the last one zero-padded, always present, empty for a multiple of
/// 8 bytes), folded with `h = rotl(h, 23) ^ word; h *= K` from `h = 0`, then
/// `fmix64(h ^ len)`.
pub(crate) fn hash_bytes(bytes: &[u8]) -> u64 {
    let mut h = 0u64;
    let mut chunks = bytes.chunks_exact(8);
    for chunk in &mut chunks {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        h = mix(h, u64::from_le_bytes(word));
    }
    let rest = chunks.remainder();
    let mut last = [0u8; 8];
    if let Some(dst) = last.get_mut(..rest.len()) {
        dst.copy_from_slice(rest);
    }
    fmix64(mix(h, u64::from_le_bytes(last)) ^ bytes.len() as u64)
}

/// Whether `c` is a word character of the search semantics.
pub fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// The tokens of already lower-cased text: its maximal runs of word
/// characters ([`is_word_char`]), in order, repeats included.
pub fn tokens(lowercased: &str) -> impl Iterator<Item = &str> {
    lowercased
        .split(|c: char| !is_word_char(c))
        .filter(|t| !t.is_empty())
}

/// Calls `f` with the hash of every token of `message` lower-cased with
/// `str::to_lowercase` (repeats included). ASCII messages are lower-cased
/// word by word while hashing, without allocating; others are lower-cased
/// into a new string first (`str::to_lowercase` is context-sensitive for
/// `Σ`, so it must see the whole message).
pub(crate) fn for_each_token_hash(message: &str, mut f: impl FnMut(u64)) {
    if message.is_ascii() {
        for_each_ascii_token_hash(message.as_bytes(), &mut f);
        return;
    }
    let lower = message.to_lowercase();
    for token in tokens(&lower) {
        f(hash_bytes(token.as_bytes()));
    }
}

/// The ASCII path of [`for_each_token_hash`]. Per 64-byte chunk it builds a
/// bit mask of the word characters (branch-free), derives the token starts
/// and ends from it, and visits only those: a per-byte loop would mispredict
/// a branch at every token edge.
fn for_each_ascii_token_hash(bytes: &[u8], f: &mut impl FnMut(u64)) {
    let mut carry = 0u64; // 1 when the previous chunk ended inside a token
    let mut start = 0usize;
    for (c, chunk) in bytes.chunks(64).enumerate() {
        let base = c * 64;
        let mask = word_mask(chunk);
        let valid = if chunk.len() == 64 {
            u64::MAX
        } else {
            (1u64 << chunk.len()) - 1
        };
        let before = (mask << 1) | carry;
        let starts = mask & !before;
        let ends = !mask & before & valid;
        let mut edges = starts | ends;
        while edges != 0 {
            let i = edges.trailing_zeros() as usize;
            edges &= edges - 1;
            if starts & (1 << i) != 0 {
                start = base + i;
            } else if let Some(token) = bytes.get(start..base + i) {
                f(hash_ascii_lowercased(token, bytes, start));
            }
        }
        carry = (mask >> (chunk.len() - 1)) & 1;
    }
    if carry != 0 {
        if let Some(token) = bytes.get(start..) {
            f(hash_ascii_lowercased(token, bytes, start));
        }
    }
}

/// For every byte: 1 if it is an ASCII word character, else 0.
static ASCII_WORD: [u8; 256] = {
    let mut table = [0u8; 256];
    let mut b = 0;
    while b < 128 {
        let byte = b as u8;
        if byte.is_ascii_alphanumeric() || byte == b'_' {
            table[b] = 1;
        }
        b += 1;
    }
    table
};

/// Bit `i` set when `chunk[i]` (at most 64 bytes) is an ASCII word
/// character; branch-free (a table lookup was measured 3x faster than the
/// compiler's code for range compares).
#[inline]
fn word_mask(chunk: &[u8]) -> u64 {
    let mut mask = 0u64;
    for (i, &b) in chunk.iter().enumerate() {
        mask |= u64::from(ASCII_WORD[usize::from(b)]) << i;
    }
    mask
}

/// [`hash_bytes`] of `token` (ASCII word characters) lower-cased, computed
/// 8 bytes at a time. `token` starts at `start` in `message`; when 8 bytes
/// from there are available they are loaded at once and masked.
#[inline]
fn hash_ascii_lowercased(token: &[u8], message: &[u8], start: usize) -> u64 {
    let mut h = 0u64;
    let mut chunks = token.chunks_exact(8);
    for chunk in &mut chunks {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        h = mix(h, ascii_lower_word(u64::from_le_bytes(word)));
    }
    let rest = chunks.remainder().len();
    let last = if rest == 0 {
        0
    } else {
        let at = start + token.len() - rest;
        let mut word = [0u8; 8];
        match message.get(at..at + 8) {
            Some(eight) => word.copy_from_slice(eight),
            None => {
                if let Some(dst) = word.get_mut(..rest) {
                    dst.copy_from_slice(chunks.remainder());
                }
            }
        }
        u64::from_le_bytes(word) & (u64::MAX >> (64 - 8 * rest))
    };
    fmix64(mix(h, ascii_lower_word(last)) ^ token.len() as u64)
}

/// Lower-cases the ASCII letters of 8 packed ASCII bytes (every byte below
/// 0x80): bytes in `A..=Z` get bit 5 set.
#[inline]
fn ascii_lower_word(w: u64) -> u64 {
    let at_least_a = w + ONES * u64::from(0x80 - b'A');
    let above_z = w + ONES * u64::from(0x80 - b'Z' - 1);
    let upper = (at_least_a ^ above_z) & (ONES * 0x80);
    w | (upper >> 2)
}

/// A split-block Bloom filter over 64-bit hashes (§10.3): Parquet's SBBF
/// layout (block `((hash >> 32) * n) >> 32`, one bit per 32-bit word chosen
/// with Parquet's salts) over this module's hash. `0` blocks means "no
/// filter": everything may be contained.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Bloom {
    blocks: Vec<Block>,
}

#[inline]
fn block_masks(hash: u64) -> Block {
    let x = hash as u32;
    let mut masks = [0u32; 8];
    for (mask, salt) in masks.iter_mut().zip(SALT) {
        *mask = 1u32 << (x.wrapping_mul(salt) >> 27);
    }
    masks
}

impl Bloom {
    /// A filter of `blocks` blocks (at most [`MAX_READ_BLOCKS`], 0 for "no
    /// filter").
    pub(crate) fn from_blocks(blocks: Vec<Block>) -> Bloom {
        debug_assert!(blocks.len() <= MAX_READ_BLOCKS);
        Bloom { blocks }
    }

    /// An empty filter for at most `values` distinct values, before
    /// [`Bloom::shrink`]: [`START_BITS_PER_VALUE`] bits per value rounded up
    /// to `15 * 2^k` blocks (15 to [`MAX_WRITE_BLOCKS`]), a size whose
    /// divisors are dense: `2^i`, `3 * 2^i`, `5 * 2^i`, `15 * 2^i`.
    pub(crate) fn with_capacity(values: usize) -> Bloom {
        let wanted = values.saturating_mul(START_BITS_PER_VALUE).div_ceil(256);
        let mut blocks = 15;
        while blocks < wanted && blocks < MAX_WRITE_BLOCKS {
            blocks *= 2;
        }
        Bloom {
            blocks: vec![[0; 8]; blocks],
        }
    }

    /// An empty filter of exactly `blocks` blocks (at least 1).
    pub(crate) fn with_blocks(blocks: usize) -> Bloom {
        Bloom {
            blocks: vec![[0; 8]; blocks.max(1)],
        }
    }

    pub(crate) fn blocks(&self) -> &[Block] {
        &self.blocks
    }

    /// Estimated number of distinct values inserted (linear counting per
    /// block: each value sets one bit in each of its block's eight words, so
    /// a block holding `c` values has an expected word fill of
    /// `1 - (31/32)^c`). Accurate while blocks are far from full, as they
    /// are before [`Bloom::shrink`]; a saturated block counts as 128 values.
    pub(crate) fn estimated_values(&self) -> f64 {
        let per_value = (31.0f64 / 32.0).ln();
        self.blocks
            .iter()
            .map(|block| {
                let set: u32 = block.iter().map(|w| w.count_ones()).sum();
                let fill = (f64::from(set) / 256.0).min(255.0 / 256.0);
                ((1.0 - fill).ln() / per_value).min(128.0)
            })
            .sum()
    }

    /// The block count to rebuild this (already shrunk) filter with, for
    /// about `values` distinct values: `values / 23`, when that is at most
    /// three quarters of the current count (shrinking can only divide the
    /// block count, so a large filter may stay far below 1%, at up to twice
    /// the bytes 1% needs); else `None`.
    pub(crate) fn rebuild_blocks(&self, values: f64) -> Option<usize> {
        let wanted = (values / REBUILD_VALUES_PER_BLOCK).ceil().max(1.0) as usize;
        (wanted * 4 <= self.blocks.len() * 3).then_some(wanted)
    }

    /// `floor((hash >> 32) * n / 2^32)`: the high half of the hash scaled
    /// to `0..n` without a division (Lemire's range reduction, as Parquet).
    fn block_index(&self, hash: u64) -> usize {
        // n <= MAX_READ_BLOCKS = 2^20, so the product fits in 52 bits.
        (((hash >> 32) * self.blocks.len() as u64) >> 32) as usize
    }

    #[inline]
    pub(crate) fn insert(&mut self, hash: u64) {
        if self.blocks.is_empty() {
            return;
        }
        let i = self.block_index(hash);
        let masks = block_masks(hash);
        if let Some(block) = self.blocks.get_mut(i) {
            for (word, mask) in block.iter_mut().zip(masks) {
                *word |= mask;
            }
        }
    }

    pub(crate) fn may_contain(&self, hash: u64) -> bool {
        if self.blocks.is_empty() {
            return true;
        }
        let masks = block_masks(hash);
        let Some(block) = self.blocks.get(self.block_index(hash)) else {
            return true;
        };
        block.iter().zip(masks).all(|(word, mask)| word & mask != 0)
    }

    /// The probability that a hash never inserted is reported as contained:
    /// the mean over blocks of the product of the eight words' fill ratios.
    pub(crate) fn estimated_fpp(&self) -> f64 {
        fpp_of(self.blocks.iter().copied())
    }

    /// Shrinks the filter to the fewest blocks `m` (a divisor of its block
    /// count `n`) whose estimated false positive rate stays at or below 1%.
    /// Shrinking ORs each run of `n/m` adjacent blocks into one: with
    /// `k = n/m`, a hash in old block `j = floor(x*n/2^32)` belongs in new
    /// block `floor(x*m/2^32) = floor(j/k)`, so nothing inserted is lost.
    /// The rate is close to monotonic in `m`, so a binary search over the
    /// divisors finds the size in a few passes; only sizes whose rate was
    /// computed are chosen.
    pub(crate) fn shrink(&mut self) {
        let n = self.blocks.len();
        let sizes = divisors(n);
        let (mut lo, mut hi) = (0, sizes.len().saturating_sub(1));
        while lo < hi {
            let mid = (lo + hi) / 2;
            let m = sizes.get(mid).copied().unwrap_or(n);
            if fpp_of(self.folded(m)) <= TARGET_FPP {
                hi = mid;
            } else {
                lo = mid + 1;
            }
        }
        let m = sizes.get(hi).copied().unwrap_or(n);
        if m < n {
            self.blocks = self.folded(m).collect();
        }
    }

    /// The blocks of this filter folded to `m` blocks, `m` dividing the
    /// block count.
    fn folded(&self, m: usize) -> impl ExactSizeIterator<Item = Block> + '_ {
        let k = self.blocks.len() / m.max(1);
        self.blocks
            .chunks_exact(k.max(1))
            .map(|run| run.iter().fold([0u32; 8], |acc, b| or_blocks(&acc, b)))
    }
}

/// The divisors of `n`, ascending.
fn divisors(n: usize) -> Vec<usize> {
    let mut low = Vec::new();
    let mut high = Vec::new();
    let mut d = 1;
    while d * d <= n {
        if n / d * d == n {
            low.push(d);
            if d * d != n {
                high.push(n / d);
            }
        }
        d += 1;
    }
    low.extend(high.into_iter().rev());
    low
}

fn or_blocks(a: &Block, b: &Block) -> Block {
    let mut out = *a;
    for (o, w) in out.iter_mut().zip(b) {
        *o |= w;
    }
    out
}

fn fpp_of(blocks: impl ExactSizeIterator<Item = Block>) -> f64 {
    let n = blocks.len();
    if n == 0 {
        return 1.0;
    }
    let mut sum = 0.0;
    for block in blocks {
        let mut p = 1.0;
        for word in block {
            p *= f64::from(word.count_ones()) / 32.0;
        }
        sum += p;
    }
    sum / n as f64
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// An independent, byte-at-a-time implementation of §10.2.
    fn bytewise_reference(bytes: &[u8]) -> u64 {
        let (mut h, mut word, mut shift) = (0u64, 0u64, 0);
        for &b in bytes {
            word |= u64::from(b) << shift;
            shift += 8;
            if shift == 64 {
                h = (h.rotate_left(23) ^ word).wrapping_mul(MIX_K);
                (word, shift) = (0, 0);
            }
        }
        h = (h.rotate_left(23) ^ word).wrapping_mul(MIX_K);
        fmix64(h ^ bytes.len() as u64)
    }

    #[test]
    fn hash_is_pinned() {
        // These values are on disk: changing them breaks every segment.
        assert_eq!(hash_bytes(b""), 0);
        assert_eq!(hash_bytes(b"error"), 0xb0a0_20eb_25f6_029f);
        assert_eq!(hash_bytes(b"connection_refused"), 0x592d_e74b_8252_6c26);
        assert_ne!(hash_bytes(b"a"), hash_bytes(b"a\0"));
    }

    #[test]
    fn bit_layout_is_pinned() {
        // hash("error") = 0xb0a020eb25f6029f: block (0xb0a020eb * 4) >> 32 = 2,
        // bits ((0x25f6029f * SALT[i]) mod 2^32) >> 27 of word i
        // (computed independently from the spec in docs/segment-format.md).
        let mut bloom = Bloom::from_blocks(vec![[0; 8]; 4]);
        bloom.insert(hash_bytes(b"error"));
        let bits = [14, 8, 18, 6, 3, 30, 12, 22];
        let mut want = [0u32; 8];
        for (w, b) in want.iter_mut().zip(bits) {
            *w = 1 << b;
        }
        assert_eq!(bloom.blocks(), [[0; 8], [0; 8], want, [0; 8]]);
    }

    #[test]
    fn tokenizer_lowercases_and_splits() {
        let mut got = Vec::new();
        for_each_token_hash("GET /api/v1/Users?id=42 took 3ms", |h| got.push(h));
        let want: Vec<u64> = ["get", "api", "v1", "users", "id", "42", "took", "3ms"]
            .iter()
            .map(|t| hash_bytes(t.as_bytes()))
            .collect();
        assert_eq!(got, want);

        // Tokens across the 64-byte chunks of the ASCII path, and at the end.
        let long = format!(
            "{} {}.{}",
            "Ab".repeat(40),
            "x".repeat(63),
            "Z9_".repeat(50)
        );
        let mut got = Vec::new();
        for_each_token_hash(&long, |h| got.push(h));
        let lower = long.to_lowercase();
        let want: Vec<u64> = tokens(&lower).map(|t| hash_bytes(t.as_bytes())).collect();
        assert_eq!(want.len(), 3);
        assert_eq!(got, want);

        let mut got = Vec::new();
        for_each_token_hash("Ünïcode ΟΔΟΣ snake_Case--x", |h| got.push(h));
        let want: Vec<u64> = ["ünïcode", "οδος", "snake_case", "x"]
            .iter()
            .map(|t| hash_bytes(t.as_bytes()))
            .collect();
        assert_eq!(got, want);
    }

    #[test]
    fn empty_filter_contains_nothing_and_no_filter_everything() {
        let bloom = Bloom::with_capacity(10);
        assert!(!bloom.may_contain(hash_bytes(b"x")));
        assert!(Bloom::from_blocks(Vec::new()).may_contain(1));
    }

    #[test]
    fn estimates_the_values_and_rebuilds_smaller() {
        // 400,000 values: shrinking by a divisor of the cap (30,720 blocks)
        // cannot reach 1% (15,360 blocks would be 1.4%), so it stays at the
        // cap, twice what 1% needs.
        let hashes: Vec<u64> = (0..400_000u64)
            .map(|i| hash_bytes(&i.to_le_bytes()))
            .collect();
        let mut bloom = Bloom::with_capacity(1_000_000);
        for &h in &hashes {
            bloom.insert(h);
            bloom.insert(h);
        }
        let estimate = bloom.estimated_values();
        assert!((390_000.0..410_000.0).contains(&estimate), "{estimate}");
        bloom.shrink();
        assert_eq!(bloom.blocks().len(), MAX_WRITE_BLOCKS);
        let blocks = bloom.rebuild_blocks(estimate).expect("smaller");
        let mut rebuilt = Bloom::with_blocks(blocks);
        for &h in &hashes {
            rebuilt.insert(h);
        }
        assert!(rebuilt.blocks().len() * 4 <= bloom.blocks().len() * 3);
        let fpp = rebuilt.estimated_fpp();
        assert!((0.005..=TARGET_FPP).contains(&fpp), "{fpp}");
        assert!(hashes.iter().all(|&h| rebuilt.may_contain(h)));
        assert_eq!(rebuilt.rebuild_blocks(estimate), None);
    }

    #[test]
    fn shrinks_to_about_one_percent() {
        assert_eq!(divisors(MAX_WRITE_BLOCKS).len(), 48);
        assert_eq!(divisors(12), [1, 2, 3, 4, 6, 12]);
        assert_eq!(Bloom::with_capacity(0).blocks().len(), 15);
        assert_eq!(Bloom::with_capacity(100).blocks().len(), 30);
        assert_eq!(Bloom::with_capacity(1_000).blocks().len(), 480);
        let mut bloom = Bloom::with_capacity(1 << 20);
        assert_eq!(bloom.blocks().len(), MAX_WRITE_BLOCKS);
        for i in 0..10_000u64 {
            bloom.insert(hash_bytes(&i.to_le_bytes()));
        }
        bloom.shrink();
        let fpp = bloom.estimated_fpp();
        assert!(fpp <= TARGET_FPP, "{fpp}");
        // 10,000 values at <= 1% need about 100 kbit (a split-block filter
        // needs a little more than a classic one); the divisor steps add at
        // most a third.
        let bits = bloom.blocks().len() * 256;
        assert!((96_000..=160_000).contains(&bits), "{bits}");
        let false_positives = (1_000_000..1_100_000u64)
            .filter(|i| bloom.may_contain(hash_bytes(&i.to_le_bytes())))
            .count();
        assert!(false_positives < 1_500, "{false_positives} of 100,000");
        for i in 0..10_000u64 {
            assert!(bloom.may_contain(hash_bytes(&i.to_le_bytes())));
        }
    }

    proptest! {
        #[test]
        fn hash_matches_bytewise_reference(bytes in proptest::collection::vec(any::<u8>(), 0..40)) {
            prop_assert_eq!(hash_bytes(&bytes), bytewise_reference(&bytes));
        }

        #[test]
        fn ascii_fast_path_matches_general_path(
            message in prop_oneof!["[ -~\\t\\n]{0,200}", "[a-zA-Z0-9_ .]{0,300}"],
        ) {
            let mut fast = Vec::new();
            for_each_token_hash(&message, |h| fast.push(h));
            let lower = message.to_lowercase();
            let slow: Vec<u64> = tokens(&lower).map(|t| hash_bytes(t.as_bytes())).collect();
            prop_assert_eq!(fast, slow);
        }

        #[test]
        fn no_false_negatives(
            values in proptest::collection::vec(any::<u64>(), 0..2_000),
            capacity in 0usize..100_000,
        ) {
            let mut bloom = Bloom::with_capacity(capacity);
            for &v in &values {
                bloom.insert(v);
            }
            bloom.shrink();
            for &v in &values {
                prop_assert!(bloom.may_contain(v));
            }
        }
    }
}
