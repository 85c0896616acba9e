//! Where a segment's bytes go: per-column sizes from the Parquet footer, for
//! `strata admin segments stats` and `strata bench compression`.

use bytes::Bytes;
use parquet::file::metadata::{ParquetMetaData, ParquetMetaDataReader};

use crate::{meta_keys, SegmentError};

/// Bytes of one leaf column, summed over every row group of a segment; or,
/// for the entry named [`ColumnSize::SKIP_INDEX`], the skip index in the
/// footer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnSize {
    /// The column's Parquet leaf path (`id`, `tags.list.item`,
    /// `@http.status_code`), or [`ColumnSize::SKIP_INDEX`].
    pub name: String,
    /// Bytes on disk: page headers, dictionary and data pages, compressed.
    /// For the skip index: the footer value (base64 text).
    pub compressed_bytes: u64,
    /// The same before compression. For the skip index: its binary
    /// encoding (before base64).
    pub uncompressed_bytes: u64,
    /// Encodings used by the column's pages (for example `PLAIN`,
    /// `RLE_DICTIONARY`, `DELTA_BINARY_PACKED`, and `RLE` for the levels), in
    /// Parquet's enum order, without duplicates; `base64` for the skip index.
    pub encodings: Vec<String>,
}

impl ColumnSize {
    /// Name of the entry for the footer's skip index (`strata.skip_index`),
    /// which is not a column: no column name starts with `(`.
    pub const SKIP_INDEX: &'static str = "(skip index)";
}

/// Per-column sizes of a segment, from its footer alone: one entry per
/// Parquet leaf column in schema order (summed over the row groups), then,
/// if the footer holds a skip index, one entry named
/// [`ColumnSize::SKIP_INDEX`].
///
/// The file's remaining bytes (the Thrift footer itself with the Arrow
/// schema, the page index and the 12 bytes of magic and length) are its
/// length minus the sum of these.
pub fn column_sizes(metadata: &ParquetMetaData) -> Vec<ColumnSize> {
    let schema = metadata.file_metadata().schema_descr();
    let mut sizes: Vec<ColumnSize> = (0..schema.num_columns())
        .map(|i| ColumnSize {
            name: schema.column(i).path().string(),
            compressed_bytes: 0,
            uncompressed_bytes: 0,
            encodings: Vec::new(),
        })
        .collect();
    let mut encodings: Vec<Vec<parquet::basic::Encoding>> = vec![Vec::new(); sizes.len()];
    for row_group in metadata.row_groups() {
        for (i, chunk) in row_group.columns().iter().enumerate().take(sizes.len()) {
            sizes[i].compressed_bytes += u64::try_from(chunk.compressed_size()).unwrap_or(0);
            sizes[i].uncompressed_bytes += u64::try_from(chunk.uncompressed_size()).unwrap_or(0);
            for encoding in chunk.encodings() {
                if !encodings[i].contains(encoding) {
                    encodings[i].push(*encoding);
                }
            }
        }
    }
    for (size, mut list) in sizes.iter_mut().zip(encodings) {
        list.sort();
        size.encodings = list.iter().map(|e| e.to_string()).collect();
    }
    let skip_index = metadata
        .file_metadata()
        .key_value_metadata()
        .and_then(|kvs| kvs.iter().find(|kv| kv.key == meta_keys::SKIP_INDEX))
        .and_then(|kv| kv.value.as_deref());
    if let Some(text) = skip_index {
        sizes.push(ColumnSize {
            name: ColumnSize::SKIP_INDEX.to_string(),
            compressed_bytes: text.len() as u64,
            uncompressed_bytes: base64_decoded_len(text),
            encodings: vec!["base64".to_string()],
        });
    }
    sizes
}

/// [`column_sizes`] of a whole segment file (only its footer is parsed).
pub fn read_column_sizes(bytes: &Bytes) -> Result<Vec<ColumnSize>, SegmentError> {
    let metadata = ParquetMetaDataReader::new().parse_and_finish(bytes)?;
    Ok(column_sizes(&metadata))
}

/// Length of the bytes a padded base64 text decodes to.
fn base64_decoded_len(text: &str) -> u64 {
    let padding = text.bytes().rev().take_while(|&b| b == b'=').count() as u64;
    (text.len() as u64 / 4 * 3).saturating_sub(padding)
}
