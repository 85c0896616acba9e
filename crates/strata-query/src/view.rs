//! [`EventView`] over the rows of a segment's record batch, so the matcher
//! reads Arrow arrays in place instead of materialising every event.

use std::cell::OnceCell;

use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int64Type, Int8Type, TimestampNanosecondType};
use arrow_array::{
    Array, BooleanArray, Float64Array, Int64Array, ListArray, PrimitiveArray, RecordBatch,
    StringArray,
};
use arrow_schema::DataType;
use strata_segment::columns;
use strata_types::{AttrValue, Status};

use crate::{AttrRef, EventView, QueryError};

/// The status column as written (`Dictionary(Int8, Utf8)`) or plain `Utf8`.
enum StatusColumn<'a> {
    Dict(arrow_array::TypedDictionaryArray<'a, Int8Type, StringArray>),
    Plain(&'a StringArray),
}

enum AttrColumn<'a> {
    Str(&'a StringArray),
    Int(&'a Int64Array),
    Float(&'a Float64Array),
    Bool(&'a BooleanArray),
}

impl AttrColumn<'_> {
    fn get(&self, i: usize) -> Option<AttrRef<'_>> {
        match self {
            AttrColumn::Str(a) => a.is_valid(i).then(|| AttrRef::Str(a.value(i))),
            AttrColumn::Int(a) => a.is_valid(i).then(|| AttrRef::Int(a.value(i))),
            AttrColumn::Float(a) => a.is_valid(i).then(|| AttrRef::Float(a.value(i))),
            AttrColumn::Bool(a) => a.is_valid(i).then(|| AttrRef::Bool(a.value(i))),
        }
    }
}

/// The arrays of one segment batch, resolved once.
///
/// Only `timestamp` is required: a scan that decodes a projection (see
/// `needs.rs`) leaves the other columns out, and they read as absent
/// (no service, empty message, no tags, info status).
pub(crate) struct BatchColumns<'a> {
    ids: Option<&'a StringArray>,
    timestamps: &'a PrimitiveArray<TimestampNanosecondType>,
    status: Option<StatusColumn<'a>>,
    services: Option<&'a StringArray>,
    hosts: Option<&'a StringArray>,
    sources: Option<&'a StringArray>,
    trace_ids: Option<&'a StringArray>,
    messages: Option<&'a StringArray>,
    tags: Option<(&'a ListArray, &'a StringArray)>,
    attrs: Vec<(&'a str, AttrColumn<'a>)>,
    overflow: Option<&'a StringArray>,
}

fn bad(what: String) -> QueryError {
    QueryError::Storage(format!("segment batch: {what}"))
}

/// A Utf8 column if the batch has it; an error if it has it with another type.
fn strings<'a>(batch: &'a RecordBatch, name: &str) -> Result<Option<&'a StringArray>, QueryError> {
    match batch.column_by_name(name) {
        None => Ok(None),
        Some(column) => column
            .as_string_opt::<i32>()
            .map(Some)
            .ok_or_else(|| bad(format!("column {name} is not Utf8"))),
    }
}

impl<'a> BatchColumns<'a> {
    /// Resolves the columns of a batch with the segment schema.
    pub(crate) fn new(batch: &'a RecordBatch) -> Result<BatchColumns<'a>, QueryError> {
        let timestamps = batch
            .column_by_name(columns::TIMESTAMP)
            .and_then(|c| c.as_primitive_opt::<TimestampNanosecondType>())
            .ok_or_else(|| bad("timestamp column".into()))?;
        let status = match batch.column_by_name(columns::STATUS) {
            None => None,
            Some(array) => Some(match array.data_type() {
                DataType::Utf8 => StatusColumn::Plain(
                    array
                        .as_string_opt::<i32>()
                        .ok_or_else(|| bad("status column type".into()))?,
                ),
                _ => StatusColumn::Dict(
                    array
                        .as_dictionary_opt::<Int8Type>()
                        .and_then(|d| d.downcast_dict::<StringArray>())
                        .ok_or_else(|| bad("status column type".into()))?,
                ),
            }),
        };
        let tags = match batch.column_by_name(columns::TAGS) {
            None => None,
            Some(array) => {
                let list = array
                    .as_list_opt::<i32>()
                    .ok_or_else(|| bad("tags column".into()))?;
                let values = list
                    .values()
                    .as_string_opt::<i32>()
                    .ok_or_else(|| bad("tags items".into()))?;
                Some((list, values))
            }
        };
        let mut attrs = Vec::new();
        for (field, array) in batch.schema_ref().fields().iter().zip(batch.columns()) {
            let Some(path) = field.name().strip_prefix(columns::ATTRIBUTE_PREFIX) else {
                continue;
            };
            let typed = match array.data_type() {
                DataType::Utf8 => array.as_string_opt::<i32>().map(AttrColumn::Str),
                DataType::Int64 => array.as_primitive_opt::<Int64Type>().map(AttrColumn::Int),
                DataType::Float64 => array
                    .as_primitive_opt::<Float64Type>()
                    .map(AttrColumn::Float),
                DataType::Boolean => array.as_boolean_opt().map(AttrColumn::Bool),
                _ => None,
            }
            .ok_or_else(|| bad(format!("attribute column {} type", field.name())))?;
            attrs.push((path, typed));
        }
        Ok(BatchColumns {
            ids: strings(batch, columns::ID)?,
            timestamps,
            status,
            services: strings(batch, columns::SERVICE)?,
            hosts: strings(batch, columns::HOST)?,
            sources: strings(batch, columns::SOURCE)?,
            trace_ids: strings(batch, columns::TRACE_ID)?,
            messages: strings(batch, columns::MESSAGE)?,
            tags,
            attrs,
            overflow: strings(batch, columns::OVERFLOW)?,
        })
    }

    /// Rows in the batch.
    pub(crate) fn len(&self) -> usize {
        self.timestamps.len()
    }

    /// Row `row` as an [`EventView`].
    pub(crate) fn row(&self, row: usize) -> RowView<'_, 'a> {
        RowView {
            columns: self,
            row,
            overflow: OnceCell::new(),
        }
    }

    /// Event time of row `row`.
    pub(crate) fn timestamp_ns(&self, row: usize) -> i64 {
        self.timestamps.value(row)
    }

    /// Event id of row `row` (empty when the id column was not decoded).
    pub(crate) fn id(&self, row: usize) -> &str {
        self.ids.map_or("", |ids| ids.value(row))
    }
}

/// One row of a [`BatchColumns`].
pub(crate) struct RowView<'c, 'a> {
    columns: &'c BatchColumns<'a>,
    row: usize,
    /// `_overflow`, decoded on first use.
    overflow: OnceCell<Vec<(String, AttrValue)>>,
}

impl RowView<'_, '_> {
    fn opt<'s>(&'s self, array: Option<&'s StringArray>) -> Option<&'s str> {
        array.and_then(|a| a.is_valid(self.row).then(|| a.value(self.row)))
    }

    fn has_overflow(&self) -> bool {
        self.columns.overflow.is_some_and(|o| o.is_valid(self.row))
    }

    fn overflow(&self) -> &[(String, AttrValue)] {
        self.overflow.get_or_init(|| {
            let Some(text) = self.columns.overflow.filter(|o| o.is_valid(self.row)) else {
                return Vec::new();
            };
            // A corrupt cell reads as "no overflow attributes": the reader
            // that exports or returns the row reports the corruption.
            strata_segment::decode_overflow(text.value(self.row)).unwrap_or_default()
        })
    }
}

impl EventView for RowView<'_, '_> {
    fn timestamp_ns(&self) -> i64 {
        self.columns.timestamps.value(self.row)
    }
    fn status(&self) -> Status {
        let name = match &self.columns.status {
            Some(StatusColumn::Dict(d)) => {
                use arrow_array::ArrayAccessor;
                d.value(self.row)
            }
            Some(StatusColumn::Plain(s)) => s.value(self.row),
            None => return Status::Info,
        };
        Status::from_name(name).unwrap_or(Status::Info)
    }
    fn service(&self) -> Option<&str> {
        self.opt(self.columns.services)
    }
    fn host(&self) -> Option<&str> {
        self.opt(self.columns.hosts)
    }
    fn source(&self) -> Option<&str> {
        self.opt(self.columns.sources)
    }
    fn trace_id(&self) -> Option<&str> {
        self.opt(self.columns.trace_ids)
    }
    fn message(&self) -> &str {
        self.columns.messages.map_or("", |m| m.value(self.row))
    }
    fn any_tag(&self, f: &mut dyn FnMut(&str) -> bool) -> bool {
        let Some((list, values)) = self.columns.tags else {
            return false;
        };
        let offsets = list.value_offsets();
        let (start, end) = (offsets[self.row] as usize, offsets[self.row + 1] as usize);
        (start..end).any(|i| f(values.value(i)))
    }
    fn any_attribute(&self, f: &mut dyn FnMut(&str, AttrRef<'_>) -> bool) -> bool {
        for (path, column) in &self.columns.attrs {
            if let Some(value) = column.get(self.row) {
                if f(path, value) {
                    return true;
                }
            }
        }
        if !self.has_overflow() {
            return false;
        }
        self.overflow().iter().any(|(k, v)| f(k, AttrRef::from(v)))
    }
    fn any_attribute_at(&self, path: &str, f: &mut dyn FnMut(&str, AttrRef<'_>) -> bool) -> bool {
        let related = |key: &str| {
            key == path
                || (path.len() > key.len()
                    && path.starts_with(key)
                    && path.as_bytes()[key.len()] == b'.')
        };
        for (key, column) in &self.columns.attrs {
            if related(key) {
                if let Some(value) = column.get(self.row) {
                    if f(key, value) {
                        return true;
                    }
                }
            }
        }
        if !self.has_overflow() {
            return false;
        }
        self.overflow()
            .iter()
            .any(|(k, v)| related(k) && f(k, AttrRef::from(v)))
    }
}
