//! The on-disk format: file names, the file header and records.
//!
//! See the crate documentation or `docs/wal-format.md` for the byte layout.

/// The 8 bytes every WAL file starts with.
pub const MAGIC: [u8; 8] = *b"STRATAWL";
/// The format version written in, and accepted from, file headers.
pub const VERSION: u32 = 1;
/// Length of the file header: magic, version, reserved.
pub const FILE_HEADER_BYTES: usize = 16;
/// Length of a record's header: payload length, CRC32C, seq.
pub const RECORD_HEADER_BYTES: usize = 16;
/// The largest payload one record may carry (64 MiB). A record header that
/// claims more is corruption.
pub const MAX_PAYLOAD_BYTES: usize = 64 << 20;

/// The 16-byte header of a new WAL file.
pub(crate) fn file_header() -> [u8; FILE_HEADER_BYTES] {
    let mut header = [0u8; FILE_HEADER_BYTES];
    header[..8].copy_from_slice(&MAGIC);
    header[8..12].copy_from_slice(&VERSION.to_le_bytes());
    // bytes 12..16: reserved, zero
    header
}

/// Checks a file header; `Err` says what is wrong with it.
pub(crate) fn check_file_header(header: &[u8]) -> Result<(), String> {
    if header.len() < FILE_HEADER_BYTES {
        return Err(format!(
            "{} bytes is shorter than the file header",
            header.len()
        ));
    }
    if header[..8] != MAGIC {
        return Err(format!(
            "wrong magic {:?}",
            String::from_utf8_lossy(&header[..8])
        ));
    }
    let version = u32::from_le_bytes([header[8], header[9], header[10], header[11]]);
    if version != VERSION {
        return Err(format!(
            "unknown version {version} (this build reads version {VERSION})"
        ));
    }
    Ok(())
}

/// The name of the file whose first record has sequence number `first_seq`.
pub(crate) fn file_name(first_seq: u64) -> String {
    format!("wal-{first_seq:020}.log")
}

/// The first seq encoded in a WAL file name, or `None` if `name` is not one.
pub(crate) fn parse_file_name(name: &str) -> Option<u64> {
    let digits = name.strip_prefix("wal-")?.strip_suffix(".log")?;
    if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// The CRC32C stored in a record: over the 8 little-endian seq bytes, then the payload.
pub(crate) fn record_crc(seq: u64, payload: &[u8]) -> u32 {
    crc32c::crc32c_append(crc32c::crc32c(&seq.to_le_bytes()), payload)
}

/// The encoded length of a record carrying `payload_len` bytes.
pub(crate) fn record_len(payload_len: usize) -> usize {
    RECORD_HEADER_BYTES + payload_len
}

/// Appends one encoded record to `out`. The caller guarantees
/// `payload.len() <= MAX_PAYLOAD_BYTES`.
pub(crate) fn encode_record(out: &mut Vec<u8>, seq: u64, payload: &[u8]) {
    debug_assert!(payload.len() <= MAX_PAYLOAD_BYTES);
    let len = payload.len() as u32; // MAX_PAYLOAD_BYTES < u32::MAX
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&record_crc(seq, payload).to_le_bytes());
    out.extend_from_slice(&seq.to_le_bytes());
    out.extend_from_slice(payload);
}

/// One record decoded from a byte buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Record<'a> {
    pub(crate) seq: u64,
    pub(crate) payload: &'a [u8],
    /// Encoded length: header plus payload.
    pub(crate) len: usize,
}

fn read_u32(data: &[u8], at: usize) -> u32 {
    let mut bytes = [0u8; 4];
    bytes.copy_from_slice(&data[at..at + 4]);
    u32::from_le_bytes(bytes)
}

fn read_u64(data: &[u8], at: usize) -> u64 {
    let mut bytes = [0u8; 8];
    bytes.copy_from_slice(&data[at..at + 8]);
    u64::from_le_bytes(bytes)
}

/// Decodes the record starting at `offset`. `Err` says why the bytes there
/// are not a valid record (incomplete, over-long or failing its CRC); the
/// seq is not checked here.
pub(crate) fn decode_record(data: &[u8], offset: usize) -> Result<Record<'_>, String> {
    let left = data.len().saturating_sub(offset);
    if left < RECORD_HEADER_BYTES {
        return Err(format!(
            "incomplete record header: {left} of {RECORD_HEADER_BYTES} bytes"
        ));
    }
    let payload_len = read_u32(data, offset) as usize;
    if payload_len > MAX_PAYLOAD_BYTES {
        return Err(format!(
            "payload length {payload_len} exceeds the limit of {MAX_PAYLOAD_BYTES} bytes"
        ));
    }
    let len = record_len(payload_len);
    if left < len {
        return Err(format!(
            "incomplete record: needs {len} bytes, {left} left in the file"
        ));
    }
    let stored = read_u32(data, offset + 4);
    let seq = read_u64(data, offset + 8);
    let payload = &data[offset + RECORD_HEADER_BYTES..offset + len];
    let computed = record_crc(seq, payload);
    if stored != computed {
        return Err(format!(
            "crc mismatch: stored {stored:#010x}, computed {computed:#010x}"
        ));
    }
    Ok(Record { seq, payload, len })
}

/// Looks for a valid record starting anywhere in `data[from..]` whose seq is
/// one that could follow in this file: at least `min_seq` and at most
/// `min_seq` plus the number of records that could still fit. Checking the
/// seq first keeps the search linear on garbage.
pub(crate) fn find_valid_record(
    data: &[u8],
    from: usize,
    min_seq: u64,
) -> Option<(usize, Record<'_>)> {
    if data.len() < RECORD_HEADER_BYTES {
        return None;
    }
    let max_seq =
        min_seq.saturating_add((data.len().saturating_sub(from) / RECORD_HEADER_BYTES) as u64);
    (from..=data.len() - RECORD_HEADER_BYTES).find_map(|offset| {
        let seq = read_u64(data, offset + 8);
        if seq < min_seq || seq > max_seq {
            return None;
        }
        decode_record(data, offset)
            .ok()
            .map(|record| (offset, record))
    })
}

/// Counts the valid records in `data[from..]`, resynchronising after damage
/// (used to report how much a repair dropped).
pub(crate) fn count_valid_records(data: &[u8], from: usize, min_seq: u64) -> u64 {
    let mut count = 0;
    let mut offset = from;
    let mut min_seq = min_seq;
    while let Some((at, record)) = find_valid_record(data, offset, min_seq) {
        count += 1;
        offset = at + record.len;
        min_seq = record.seq.saturating_add(1);
    }
    count
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_round_trip() {
        assert_eq!(file_name(1), "wal-00000000000000000001.log");
        assert_eq!(parse_file_name(&file_name(1)), Some(1));
        assert_eq!(parse_file_name(&file_name(u64::MAX)), Some(u64::MAX));
        assert_eq!(parse_file_name("wal-1.log"), None);
        assert_eq!(parse_file_name("wal-0000000000000000000x.log"), None);
        assert_eq!(parse_file_name("wal-00000000000000000001.log.tmp"), None);
        assert_eq!(parse_file_name("wal-99999999999999999999.log"), None);
    }

    #[test]
    fn header_layout() {
        let header = file_header();
        assert_eq!(&header, b"STRATAWL\x01\x00\x00\x00\x00\x00\x00\x00");
        assert!(check_file_header(&header).is_ok());
        let mut bad = header;
        bad[8] = 2;
        assert!(check_file_header(&bad).unwrap_err().contains("version 2"));
        bad[0] = b'X';
        assert!(check_file_header(&bad).unwrap_err().contains("magic"));
    }

    #[test]
    fn record_layout() {
        let mut out = Vec::new();
        encode_record(&mut out, 7, b"abc");
        assert_eq!(out.len(), 19);
        assert_eq!(&out[0..4], &3u32.to_le_bytes());
        let mut crc_input = 7u64.to_le_bytes().to_vec();
        crc_input.extend_from_slice(b"abc");
        assert_eq!(&out[4..8], &crc32c::crc32c(&crc_input).to_le_bytes());
        assert_eq!(&out[8..16], &7u64.to_le_bytes());
        assert_eq!(&out[16..], b"abc");
        assert_eq!(
            decode_record(&out, 0),
            Ok(Record {
                seq: 7,
                payload: b"abc",
                len: 19
            })
        );
    }

    #[test]
    fn decode_rejects_damage() {
        let mut out = Vec::new();
        encode_record(&mut out, 1, b"hello");
        assert!(decode_record(&out[..10], 0)
            .unwrap_err()
            .contains("incomplete record header"));
        assert!(decode_record(&out[..20], 0)
            .unwrap_err()
            .contains("incomplete record"));
        let mut flipped = out.clone();
        flipped[18] ^= 1;
        assert!(decode_record(&flipped, 0)
            .unwrap_err()
            .contains("crc mismatch"));
        let mut long = out.clone();
        long[0..4].copy_from_slice(&(MAX_PAYLOAD_BYTES as u32 + 1).to_le_bytes());
        assert!(decode_record(&long, 0).unwrap_err().contains("exceeds"));
    }

    #[test]
    fn finds_records_after_garbage() {
        let mut data = vec![0xAB; 37];
        encode_record(&mut data, 5, b"x");
        encode_record(&mut data, 6, b"yy");
        let (offset, record) = find_valid_record(&data, 0, 5).unwrap();
        assert_eq!((offset, record.seq), (37, 5));
        assert!(find_valid_record(&data, 0, 7).is_none());
        assert_eq!(count_valid_records(&data, 0, 1), 2);
    }
}
