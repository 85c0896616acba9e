//! The **skip index**: a small summary of a segment, stored in its footer
//! under [`meta_keys::SKIP_INDEX`], that lets a query planner skip segments
//! that cannot hold a match without reading their data.
//!
//! It holds:
//!
//! - a Bloom filter of the message **tokens** (the maximal runs of word
//!   characters of the message lower-cased with `str::to_lowercase`, see
//!   [`tokens`]), sized for about 1% false positives;
//! - a Bloom filter of the whole `trace_id` values;
//! - for `service`, `host`, `source` and `tags`, whether a row lacks the
//!   field, whether a row has it, and the exact set of values when it is
//!   small ([`ValueSummary`]);
//! - the set of statuses;
//! - per attribute path, the value types seen, the numeric range and the
//!   exact set of string values when small ([`AttributeSummary`]).
//!
//! Every answer is conservative: "may contain" can be a false positive,
//! never a false negative, and "unknown" (a `None`) means "cannot prune".
//! The byte layout is specified in `docs/segment-format.md` §10.
//!
//! Segments written before the key existed have no skip index:
//! [`read_skip_index`] returns `Ok(None)` for them, and so does it for a
//! skip index of a later version than this crate knows.

mod bloom;
mod build;
mod codec;

use std::collections::{BTreeMap, BTreeSet};

use base64::Engine;
use bytes::Bytes;
use parquet::file::metadata::{KeyValue, ParquetMetaDataReader};
use strata_types::{Event, Status};

use crate::{meta_keys, SegmentError};
use bloom::{hash_bytes, Bloom};
pub use bloom::{is_word_char, tokens};

/// Most distinct values of `service`, `host` or `source` kept as an exact
/// set; beyond it the set is unknown.
pub const MAX_KEYWORD_VALUES: usize = 256;
/// Most distinct whole tags kept as an exact set; beyond it the set is
/// unknown.
pub const MAX_TAG_VALUES: usize = 1024;
/// Longest value (bytes) kept in a `service`/`host`/`source`/`tags` set; a
/// longer value makes that field's set unknown.
pub const MAX_KEYWORD_VALUE_BYTES: usize = 256;
/// Most attribute paths summarised; a segment with more has no attribute
/// summaries at all ([`SkipIndex::attributes`] is `None`).
pub const MAX_ATTRIBUTE_PATHS: usize = 1024;
/// Longest attribute path (bytes) summarised; a longer path makes the
/// attribute summaries unknown, like too many paths.
pub const MAX_ATTRIBUTE_PATH_BYTES: usize = 256;
/// Most distinct string values kept per attribute path.
pub const MAX_ATTRIBUTE_STRINGS: usize = 64;
/// Longest string (bytes) kept in an attribute's set; a longer value makes
/// that path's set unknown.
pub const MAX_ATTRIBUTE_STRING_BYTES: usize = 128;
/// Budget for all attribute string sets together (bytes of the strings);
/// over it, the largest sets are dropped (made unknown) first.
pub const MAX_ATTRIBUTE_SET_BYTES: usize = 256 * 1024;

/// A segment's skip index (see the [module docs](self)).
#[derive(Debug, Clone, PartialEq)]
pub struct SkipIndex {
    message_tokens: Bloom,
    trace_ids: Bloom,
    trace_id: ValueSummary,
    service: ValueSummary,
    host: ValueSummary,
    source: ValueSummary,
    tags: ValueSummary,
    /// Bit `Status::code()` is set when a row has that status.
    statuses: u16,
    attributes: Option<BTreeMap<String, AttributeSummary>>,
}

/// A field summarised by a [`ValueSummary`] with an exact value set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeywordField {
    /// `service`.
    Service,
    /// `host`.
    Host,
    /// `source`.
    Source,
    /// `tags`: the values are whole tags (`env:prod`); "missing" means a row
    /// with no tag at all.
    Tags,
}

/// What a segment holds in one field.
///
/// For `service`, `host`, `source` and `trace_id` an empty string counts as
/// no value, as in the search semantics (`service:*` does not match
/// `service: ""`): such a row is "missing" and `""` is never in the set.
/// For `tags` every tag is a value, `""` included.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ValueSummary {
    missing: bool,
    present: bool,
    values: Option<BTreeSet<String>>,
}

impl ValueSummary {
    /// Whether some row lacks the field (`None` or `""`; for tags: no tag).
    pub fn ever_missing(&self) -> bool {
        self.missing
    }

    /// Whether some row has a value (non-empty; for tags: at least one tag).
    pub fn ever_present(&self) -> bool {
        self.present
    }

    /// The exact set of the field's values over all rows, or `None` when it
    /// was too large to keep (unknown).
    pub fn values(&self) -> Option<&BTreeSet<String>> {
        self.values.as_ref()
    }

    /// Whether some row may have exactly `value`: false only when the set
    /// is known and lacks it.
    pub fn may_contain(&self, value: &str) -> bool {
        match &self.values {
            Some(set) => set.contains(value),
            None => self.present,
        }
    }
}

/// Kinds of attribute values, as bits of [`AttributeSummary`].
mod kind {
    pub(crate) const STR: u8 = 1;
    pub(crate) const INT: u8 = 2;
    pub(crate) const FLOAT: u8 = 4;
    pub(crate) const BOOL: u8 = 8;
    pub(crate) const JSON: u8 = 16;
    pub(crate) const ALL: u8 = STR | INT | FLOAT | BOOL | JSON;
}

/// What a segment holds under one attribute path (counting every value of
/// the path, in its column or in `_overflow`, first occurrence or repeat).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct AttributeSummary {
    kinds: u8,
    range: Option<(f64, f64)>,
    strings: Option<BTreeSet<String>>,
}

impl AttributeSummary {
    /// Some value is a string.
    pub fn has_strings(&self) -> bool {
        self.kinds & kind::STR != 0
    }

    /// Some value is an integer.
    pub fn has_ints(&self) -> bool {
        self.kinds & kind::INT != 0
    }

    /// Some value is a float.
    pub fn has_floats(&self) -> bool {
        self.kinds & kind::FLOAT != 0
    }

    /// Some value is a boolean.
    pub fn has_bools(&self) -> bool {
        self.kinds & kind::BOOL != 0
    }

    /// Some value is JSON text (an array, an empty object or `null`).
    pub fn has_json(&self) -> bool {
        self.kinds & kind::JSON != 0
    }

    /// Every value is an integer or a float.
    pub fn only_numeric(&self) -> bool {
        self.kinds != 0 && self.kinds & !(kind::INT | kind::FLOAT) == 0
    }

    /// Bounds `(lo, hi)` of the integer and float values: every such value
    /// `v` (integers taken exactly, not rounded) has `lo <= v <= hi`. `None`
    /// when there is no numeric value or a float is NaN.
    pub fn numeric_range(&self) -> Option<(f64, f64)> {
        self.range
    }

    /// The exact set of the string values (empty when there are none), or
    /// `None` when it was too large to keep.
    pub fn string_values(&self) -> Option<&BTreeSet<String>> {
        self.strings.as_ref()
    }
}

impl SkipIndex {
    /// Summarises `events` (a segment's rows, in any order).
    pub fn build<'a, I>(events: I) -> SkipIndex
    where
        I: IntoIterator<Item = &'a Event>,
        I::IntoIter: Clone,
    {
        build::build(events.into_iter())
    }

    /// The binary encoding of `docs/segment-format.md` §10 (before base64).
    pub fn encode(&self) -> Vec<u8> {
        codec::encode(self)
    }

    /// Decodes [`SkipIndex::encode`]'s output. `Ok(None)` when the encoding's
    /// version is newer than this crate knows (such a segment just cannot be
    /// pruned); [`SegmentError::Metadata`] when the bytes are corrupt.
    pub fn decode(bytes: &[u8]) -> Result<Option<SkipIndex>, SegmentError> {
        codec::decode(bytes).map_err(|problem| SegmentError::Metadata {
            key: meta_keys::SKIP_INDEX,
            problem,
        })
    }

    /// The footer value written under [`meta_keys::SKIP_INDEX`]: base64
    /// (standard alphabet, padded) of [`SkipIndex::encode`].
    pub fn to_metadata_value(&self) -> String {
        base64::engine::general_purpose::STANDARD.encode(self.encode())
    }

    /// Finds and decodes the skip index in a Parquet footer's key-value
    /// metadata. `Ok(None)` when the key is absent (a segment written before
    /// skip indexes existed) or of a newer version; an error when its value
    /// is missing or corrupt.
    pub fn from_key_value_metadata(kvs: &[KeyValue]) -> Result<Option<SkipIndex>, SegmentError> {
        let Some(kv) = kvs.iter().find(|kv| kv.key == meta_keys::SKIP_INDEX) else {
            return Ok(None);
        };
        let corrupt = |problem: String| SegmentError::Metadata {
            key: meta_keys::SKIP_INDEX,
            problem,
        };
        let text = kv
            .value
            .as_deref()
            .ok_or_else(|| corrupt("no value".to_string()))?;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(text)
            .map_err(|e| corrupt(format!("not base64: {e}")))?;
        SkipIndex::decode(&bytes)
    }

    /// Whether some message may contain `token` as a whole token. `token`
    /// must be lower-cased and a single run of word characters (one item of
    /// [`tokens`]); anything else is looked up as given and so is simply
    /// reported missing.
    pub fn may_contain_token(&self, token: &str) -> bool {
        self.message_tokens
            .may_contain(hash_bytes(token.as_bytes()))
    }

    /// Whether some row's `trace_id` may equal `trace_id` (case-sensitive).
    pub fn may_contain_trace_id(&self, trace_id: &str) -> bool {
        self.trace_id.present && self.trace_ids.may_contain(hash_bytes(trace_id.as_bytes()))
    }

    /// The summary of a keyword field.
    pub fn field(&self, field: KeywordField) -> &ValueSummary {
        match field {
            KeywordField::Service => &self.service,
            KeywordField::Host => &self.host,
            KeywordField::Source => &self.source,
            KeywordField::Tags => &self.tags,
        }
    }

    /// The exact value set of a keyword field, `None` when unknown.
    pub fn value_set(&self, field: KeywordField) -> Option<&BTreeSet<String>> {
        self.field(field).values()
    }

    /// Presence of `trace_id` (its value set is never kept: use
    /// [`SkipIndex::may_contain_trace_id`]).
    pub fn trace_id(&self) -> &ValueSummary {
        &self.trace_id
    }

    /// Whether some row has `status`.
    pub fn may_contain_status(&self, status: Status) -> bool {
        self.statuses & (1 << status.code()) != 0
    }

    /// The statuses of the rows, in code order.
    pub fn statuses(&self) -> impl Iterator<Item = Status> + '_ {
        Status::ALL
            .into_iter()
            .filter(|s| self.may_contain_status(*s))
    }

    /// Every attribute path of the segment with its summary, or `None` when
    /// the segment had too many (or too long) paths to summarise: then
    /// nothing can be pruned on attributes. A path missing from a `Some` map
    /// occurs in no row.
    pub fn attributes(&self) -> Option<&BTreeMap<String, AttributeSummary>> {
        self.attributes.as_ref()
    }

    /// Size in bytes of the message token filter (0 when absent).
    pub fn message_filter_bytes(&self) -> usize {
        self.message_tokens.blocks().len() * 32
    }

    /// The message token filter's expected false positive rate for a token
    /// no message has (1.0 when there is no filter).
    pub fn message_filter_fpp(&self) -> f64 {
        self.message_tokens.estimated_fpp()
    }

    /// Size in bytes of the trace id filter (0 when absent).
    pub fn trace_id_filter_bytes(&self) -> usize {
        self.trace_ids.blocks().len() * 32
    }
}

/// Reads a segment's skip index from its footer (only the footer is parsed).
///
/// `Ok(None)` for a segment written before skip indexes existed, or with a
/// skip index of a newer version. [`SegmentError::Parquet`] when the bytes
/// are not Parquet, [`SegmentError::Metadata`] when the skip index is
/// corrupt. The segment version key is not checked here ([`crate::read_meta`]
/// does that).
pub fn read_skip_index(bytes: Bytes) -> Result<Option<SkipIndex>, SegmentError> {
    let metadata = ParquetMetaDataReader::new().parse_and_finish(&bytes)?;
    let kvs = metadata.file_metadata().key_value_metadata();
    SkipIndex::from_key_value_metadata(kvs.map_or(&[], |v| v.as_slice()))
}
