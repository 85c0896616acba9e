//! OTLP `common/v1` and `resource/v1` messages, `google.rpc.Status`, the
//! serde helpers every OTLP/JSON message uses, and the mapping of OTLP
//! attributes and resources onto [`Event`](strata_types::Event) fields.
//!
//! The messages are written by hand as prost structs (no `protoc`), with the
//! field numbers of `opentelemetry-proto` v1:
//!
//! ```text
//! AnyValue      { oneof value { string string_value = 1; bool bool_value = 2;
//!                 int64 int_value = 3; double double_value = 4;
//!                 ArrayValue array_value = 5; KeyValueList kvlist_value = 6;
//!                 bytes bytes_value = 7 } }
//! ArrayValue    { repeated AnyValue values = 1 }
//! KeyValueList  { repeated KeyValue values = 1 }
//! KeyValue      { string key = 1; AnyValue value = 2 }
//! InstrumentationScope { string name = 1; string version = 2;
//!                 repeated KeyValue attributes = 3;
//!                 uint32 dropped_attributes_count = 4 }
//! EntityRef     { string schema_url = 1; string type = 2;
//!                 repeated string id_keys = 3; repeated string description_keys = 4 }
//! Resource      { repeated KeyValue attributes = 1;
//!                 uint32 dropped_attributes_count = 2; repeated EntityRef entity_refs = 3 }
//! google.rpc.Status { int32 code = 1; string message = 2;
//!                 repeated google.protobuf.Any details = 3 }
//! google.protobuf.Any { string type_url = 1; bytes value = 2 }
//! ```
//!
//! The same structs derive `serde::Deserialize` for OTLP/JSON: lowerCamelCase
//! keys (the proto names are accepted as aliases), unknown keys ignored,
//! `null` read as the default, 64-bit integers as strings or numbers, ids as
//! hex, other bytes as base64, enums as integers or names, and oneofs
//! flattened into their parent object. The `de_*` helpers (from
//! [`json`](super::json), re-exported here) are meant for
//! `#[serde(deserialize_with = "…")]` on any OTLP message.

use std::collections::HashMap;
use std::hash::{BuildHasher, BuildHasherDefault, Hasher, RandomState};
use std::io::{self, Write};

use serde::ser::SerializeMap;
use serde::{Deserialize, Serialize, Serializer};
use strata_types::AttrValue;

use super::json::clip;
pub use super::json::{
    de_base64, de_enum, de_f64, de_hex_id, de_i32, de_i64, de_nullable, de_opt_base64, de_opt_f64,
    de_opt_i64, de_seq, de_u32, de_u64, decode_base64, encode_base64, JsonBudget, OtlpEnum,
};
use crate::flatten::{MAX_ATTRIBUTES, MAX_PATH_BYTES};

/// `AnyValue`: an attribute or body value. In JSON the oneof is flattened:
/// `{"stringValue":"x"}`, `{"intValue":"5"}`, `{"kvlistValue":{"values":[…]}}`.
#[derive(Clone, PartialEq, prost::Message, Deserialize)]
#[serde(from = "AnyValueJson")]
pub struct AnyValue {
    /// Fields 1–7 (oneof `value`); `None` is the empty value.
    #[prost(oneof = "any_value::Value", tags = "1, 2, 3, 4, 5, 6, 7")]
    pub value: Option<Value>,
}

/// The `AnyValue.value` oneof.
pub mod any_value {
    /// One of the kinds of [`AnyValue`](super::AnyValue).
    #[derive(Clone, PartialEq, prost::Oneof)]
    pub enum Value {
        /// Field 1.
        #[prost(string, tag = "1")]
        StringValue(String),
        /// Field 2.
        #[prost(bool, tag = "2")]
        BoolValue(bool),
        /// Field 3.
        #[prost(int64, tag = "3")]
        IntValue(i64),
        /// Field 4.
        #[prost(double, tag = "4")]
        DoubleValue(f64),
        /// Field 5.
        #[prost(message, tag = "5")]
        ArrayValue(super::ArrayValue),
        /// Field 6.
        #[prost(message, tag = "6")]
        KvlistValue(super::KeyValueList),
        /// Field 7 (base64 in JSON).
        #[prost(bytes = "vec", tag = "7")]
        BytesValue(Vec<u8>),
    }
}

use any_value::Value;

impl AnyValue {
    /// A string value.
    pub fn string(s: impl Into<String>) -> AnyValue {
        AnyValue {
            value: Some(Value::StringValue(s.into())),
        }
    }

    /// An integer value.
    pub fn int(i: i64) -> AnyValue {
        AnyValue {
            value: Some(Value::IntValue(i)),
        }
    }
}

/// The JSON shape of [`AnyValue`]: every oneof member as an optional key.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AnyValueJson {
    #[serde(default, alias = "string_value")]
    string_value: Option<String>,
    #[serde(default, alias = "bool_value")]
    bool_value: Option<bool>,
    #[serde(default, alias = "int_value", deserialize_with = "de_opt_i64")]
    int_value: Option<i64>,
    #[serde(default, alias = "double_value", deserialize_with = "de_opt_f64")]
    double_value: Option<f64>,
    #[serde(default, alias = "array_value")]
    array_value: Option<ArrayValue>,
    #[serde(default, alias = "kvlist_value")]
    kvlist_value: Option<KeyValueList>,
    #[serde(default, alias = "bytes_value", deserialize_with = "de_opt_base64")]
    bytes_value: Option<Vec<u8>>,
}

impl From<AnyValueJson> for AnyValue {
    fn from(json: AnyValueJson) -> AnyValue {
        let value = if let Some(s) = json.string_value {
            Some(Value::StringValue(s))
        } else if let Some(b) = json.bool_value {
            Some(Value::BoolValue(b))
        } else if let Some(i) = json.int_value {
            Some(Value::IntValue(i))
        } else if let Some(d) = json.double_value {
            Some(Value::DoubleValue(d))
        } else if let Some(a) = json.array_value {
            Some(Value::ArrayValue(a))
        } else if let Some(k) = json.kvlist_value {
            Some(Value::KvlistValue(k))
        } else {
            json.bytes_value.map(Value::BytesValue)
        };
        AnyValue { value }
    }
}

/// `ArrayValue`.
#[derive(Clone, PartialEq, prost::Message, Deserialize)]
#[serde(default)]
pub struct ArrayValue {
    /// Field 1.
    #[prost(message, repeated, tag = "1")]
    #[serde(deserialize_with = "de_seq")]
    pub values: Vec<AnyValue>,
}

/// `KeyValueList`.
#[derive(Clone, PartialEq, prost::Message, Deserialize)]
#[serde(default)]
pub struct KeyValueList {
    /// Field 1.
    #[prost(message, repeated, tag = "1")]
    #[serde(deserialize_with = "de_seq")]
    pub values: Vec<KeyValue>,
}

/// `KeyValue`: one attribute.
#[derive(Clone, PartialEq, prost::Message, Deserialize)]
#[serde(default)]
pub struct KeyValue {
    /// Field 1.
    #[prost(string, tag = "1")]
    #[serde(deserialize_with = "de_nullable")]
    pub key: String,
    /// Field 2.
    #[prost(message, optional, tag = "2")]
    pub value: Option<AnyValue>,
}

impl KeyValue {
    /// A key with a string value.
    pub fn string(key: impl Into<String>, value: impl Into<String>) -> KeyValue {
        KeyValue {
            key: key.into(),
            value: Some(AnyValue::string(value)),
        }
    }

    /// A key with any value.
    pub fn new(key: impl Into<String>, value: AnyValue) -> KeyValue {
        KeyValue {
            key: key.into(),
            value: Some(value),
        }
    }
}

/// `InstrumentationScope`: the library that produced the data.
#[derive(Clone, PartialEq, prost::Message, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct InstrumentationScope {
    /// Field 1.
    #[prost(string, tag = "1")]
    #[serde(deserialize_with = "de_nullable")]
    pub name: String,
    /// Field 2.
    #[prost(string, tag = "2")]
    #[serde(deserialize_with = "de_nullable")]
    pub version: String,
    /// Field 3.
    #[prost(message, repeated, tag = "3")]
    #[serde(deserialize_with = "de_seq")]
    pub attributes: Vec<KeyValue>,
    /// Field 4.
    #[prost(uint32, tag = "4")]
    #[serde(alias = "dropped_attributes_count", deserialize_with = "de_u32")]
    pub dropped_attributes_count: u32,
}

/// `EntityRef`: a reference from a resource to an entity.
#[derive(Clone, PartialEq, prost::Message, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct EntityRef {
    /// Field 1.
    #[prost(string, tag = "1")]
    #[serde(alias = "schema_url", deserialize_with = "de_nullable")]
    pub schema_url: String,
    /// Field 2.
    #[prost(string, tag = "2")]
    #[serde(deserialize_with = "de_nullable")]
    pub r#type: String,
    /// Field 3.
    #[prost(string, repeated, tag = "3")]
    #[serde(alias = "id_keys", deserialize_with = "de_seq")]
    pub id_keys: Vec<String>,
    /// Field 4.
    #[prost(string, repeated, tag = "4")]
    #[serde(alias = "description_keys", deserialize_with = "de_seq")]
    pub description_keys: Vec<String>,
}

/// `Resource`: the entity producing telemetry (`service.name`, `host.name`…).
#[derive(Clone, PartialEq, prost::Message, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Resource {
    /// Field 1.
    #[prost(message, repeated, tag = "1")]
    #[serde(deserialize_with = "de_seq")]
    pub attributes: Vec<KeyValue>,
    /// Field 2.
    #[prost(uint32, tag = "2")]
    #[serde(alias = "dropped_attributes_count", deserialize_with = "de_u32")]
    pub dropped_attributes_count: u32,
    /// Field 3.
    #[prost(message, repeated, tag = "3")]
    #[serde(alias = "entity_refs", deserialize_with = "de_seq")]
    pub entity_refs: Vec<EntityRef>,
}

/// `google.protobuf.Any`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ProtoAny {
    /// Field 1.
    #[prost(string, tag = "1")]
    pub type_url: String,
    /// Field 2.
    #[prost(bytes = "vec", tag = "2")]
    pub value: Vec<u8>,
}

/// `google.rpc.Status`: the body of an OTLP/HTTP error response.
#[derive(Clone, PartialEq, prost::Message)]
pub struct RpcStatus {
    /// Field 1: a `google.rpc.Code`.
    #[prost(int32, tag = "1")]
    pub code: i32,
    /// Field 2.
    #[prost(string, tag = "2")]
    pub message: String,
    /// Field 3.
    #[prost(message, repeated, tag = "3")]
    pub details: Vec<ProtoAny>,
}

// ---------------------------------------------------------------------------
// Mapping to events
// ---------------------------------------------------------------------------

/// Lowercase hex of `bytes`.
pub fn to_hex(bytes: &[u8]) -> String {
    hex::encode(bytes)
}

/// Lowercase hex of an id that is exactly `len` bytes and not all zero;
/// `None` otherwise (empty, wrong length, or the invalid all-zero id).
pub fn id_hex(bytes: &[u8], len: usize) -> Option<String> {
    (bytes.len() == len && bytes.iter().any(|&b| b != 0)).then(|| to_hex(bytes))
}

/// A `fixed64` nanosecond time as `i64` (saturating).
pub fn nanos_i64(ns: u64) -> i64 {
    i64::try_from(ns).unwrap_or(i64::MAX)
}

/// An [`AnyValue`] serialized as JSON straight from the proto struct (no
/// `serde_json::Value` tree): kvlists as objects (see [`KeyValuesJson`]),
/// bytes as base64, non-finite doubles as `"NaN"`/`"Infinity"`/`"-Infinity"`,
/// and the empty value as `null`.
#[derive(Debug, Clone, Copy)]
pub struct AnyJson<'a>(pub Option<&'a AnyValue>);

impl Serialize for AnyJson<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.0.and_then(|v| v.value.as_ref()) {
            None => s.serialize_unit(),
            Some(Value::StringValue(text)) => s.serialize_str(text),
            Some(Value::BoolValue(b)) => s.serialize_bool(*b),
            Some(Value::IntValue(i)) => s.serialize_i64(*i),
            Some(Value::DoubleValue(d)) if d.is_finite() => s.serialize_f64(*d),
            Some(Value::DoubleValue(d)) if d.is_nan() => s.serialize_str("NaN"),
            Some(Value::DoubleValue(d)) if *d > 0.0 => s.serialize_str("Infinity"),
            Some(Value::DoubleValue(_)) => s.serialize_str("-Infinity"),
            Some(Value::ArrayValue(a)) => s.collect_seq(a.values.iter().map(|v| AnyJson(Some(v)))),
            Some(Value::KvlistValue(list)) => KeyValuesJson(&list.values).serialize(s),
            Some(Value::BytesValue(b)) => s.serialize_str(&encode_base64(b)),
        }
    }
}

/// Key-values serialized as one JSON object: keys in byte order, the first
/// of equal keys wins.
#[derive(Debug, Clone, Copy)]
pub struct KeyValuesJson<'a>(pub &'a [KeyValue]);

impl Serialize for KeyValuesJson<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut sorted: Vec<&KeyValue> = self.0.iter().collect();
        // Stable: among equal keys the first stays first, and is kept.
        sorted.sort_by(|a, b| a.key.cmp(&b.key));
        sorted.dedup_by(|later, earlier| later.key == earlier.key);
        let mut map = s.serialize_map(Some(sorted.len()))?;
        for kv in sorted {
            map.serialize_entry(&kv.key, &AnyJson(kv.value.as_ref()))?;
        }
        map.end()
    }
}

/// `value` as compact JSON text.
pub fn json_text<T: Serialize + ?Sized>(value: &T) -> String {
    // Only non-string map keys or a failing writer can fail; neither occurs.
    serde_json::to_string(value).unwrap_or_else(|_| "null".into())
}

/// An [`AnyValue`] as compact JSON text (see [`AnyJson`]).
pub fn any_json(value: Option<&AnyValue>) -> String {
    json_text(&AnyJson(value))
}

/// A value as message text: strings as they are, bytes as base64, the empty
/// value as `""`, anything else as its compact JSON text.
pub fn any_text(value: Option<&AnyValue>) -> String {
    any_text_max(value, usize::MAX)
}

/// [`any_text`] cut to at most `max` bytes at a character boundary, without
/// building more of the text than is kept.
pub fn any_text_max(value: Option<&AnyValue>, max: usize) -> String {
    match value.and_then(|v| v.value.as_ref()) {
        None => String::new(),
        Some(Value::StringValue(s)) => prefix(s, max).to_string(),
        Some(Value::BytesValue(b)) => {
            // 3 bytes are 4 base64 characters: encode only what is kept.
            let keep = max.div_ceil(4).saturating_mul(3);
            let mut text = encode_base64(b.get(..keep).unwrap_or(b));
            text.truncate(max.min(text.len()));
            text
        }
        Some(_) => capped_json(&AnyJson(value), max),
    }
}

/// The longest prefix of `s` of at most `max` bytes that ends at a
/// character boundary.
pub fn prefix(s: &str, max: usize) -> &str {
    let mut end = max.min(s.len());
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// `value` as JSON text cut to at most `max` bytes at a character boundary;
/// serialization stops once `max` bytes are written.
fn capped_json<T: Serialize>(value: &T, max: usize) -> String {
    let mut out = Capped {
        buf: Vec::new(),
        max,
    };
    // An error means the text reached `max` bytes: it is cut there anyway.
    let _ = serde_json::to_writer(&mut out, value);
    String::from_utf8(out.buf).unwrap_or_else(|e| {
        // A prefix of valid UTF-8: only the last character can be cut.
        let valid = e.utf8_error().valid_up_to();
        let mut bytes = e.into_bytes();
        bytes.truncate(valid);
        String::from_utf8(bytes).unwrap_or_default()
    })
}

/// A writer that keeps the first `max` bytes and fails past them.
struct Capped {
    buf: Vec<u8>,
    max: usize,
}

impl Write for Capped {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let room = self.max.saturating_sub(self.buf.len());
        if data.len() > room {
            self.buf.extend_from_slice(&data[..room]);
            return Err(io::Error::other("over the message limit"));
        }
        self.buf.extend_from_slice(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A scalar value as a string (for `service.name` and the like): strings,
/// numbers and booleans; `None` for empty strings and anything else.
pub fn scalar_text(value: Option<&AnyValue>) -> Option<String> {
    match value.and_then(|v| v.value.as_ref())? {
        Value::StringValue(s) if !s.is_empty() => Some(s.clone()),
        Value::IntValue(i) => Some(i.to_string()),
        Value::DoubleValue(d) => Some(d.to_string()),
        Value::BoolValue(b) => Some(b.to_string()),
        _ => None,
    }
}

/// A leaf value as an [`AttrValue`]: strings, ints, doubles and bools as
/// themselves, arrays and kvlists as compact JSON text, bytes as base64, the
/// empty value as JSON `null`.
pub fn attr_value(value: Option<&AnyValue>) -> AttrValue {
    match value.and_then(|v| v.value.as_ref()) {
        None => AttrValue::Json("null".into()),
        Some(Value::StringValue(s)) => AttrValue::Str(s.clone()),
        Some(Value::BoolValue(b)) => AttrValue::Bool(*b),
        Some(Value::IntValue(i)) => AttrValue::Int(*i),
        Some(Value::DoubleValue(d)) => AttrValue::Float(*d),
        Some(Value::BytesValue(b)) => AttrValue::Str(encode_base64(b)),
        Some(Value::ArrayValue(_) | Value::KvlistValue(_)) => AttrValue::Json(any_json(value)),
    }
}

/// [`attr_value`] of an owned value: a string moves into the attribute.
pub fn into_attr_value(value: Option<AnyValue>) -> AttrValue {
    match value {
        Some(AnyValue {
            value: Some(Value::StringValue(s)),
        }) => AttrValue::Str(s),
        other => attr_value(other.as_ref()),
    }
}

/// [`any_text_max`] of an owned value: a string body that fits moves into
/// the message instead of being copied.
pub fn into_text_max(value: Option<AnyValue>, max: usize) -> String {
    match value {
        Some(AnyValue {
            value: Some(Value::StringValue(s)),
        }) if s.len() <= max => s,
        // A cut body is copied: truncating in place would keep the whole
        // allocation alive while `Event::heap_size` counts only the kept part.
        other => any_text_max(other.as_ref(), max),
    }
}

/// Flattens key-values into `(dotted.path, value)` leaves, depth first:
/// a non-empty kvlist under `k` becomes `k.sub` paths, an empty one `{}`.
/// Fails on a path longer than the logs decoder allows. Keys and string
/// values move into the leaves (a record's attributes are flattened once,
/// so copying them was a tenth of the OTLP/JSON decode).
pub fn flatten_key_values(
    prefix: &str,
    kvs: Vec<KeyValue>,
    sink: &mut dyn FnMut(String, AttrValue) -> Result<(), String>,
) -> Result<(), String> {
    for kv in kvs {
        let path = if prefix.is_empty() {
            kv.key
        } else {
            format!("{prefix}.{}", kv.key)
        };
        if path.len() > MAX_PATH_BYTES {
            return Err(format!(
                "attribute path longer than {MAX_PATH_BYTES} bytes (starts with {:?})",
                clip(&path, 40)
            ));
        }
        match kv.value {
            Some(AnyValue {
                value: Some(Value::KvlistValue(list)),
            }) if !list.values.is_empty() => {
                flatten_key_values(&path, list.values, sink)?;
            }
            value => sink(path, into_attr_value(value))?,
        }
    }
    Ok(())
}

/// One event's attributes, in order, where a key already present is not
/// added again (first wins), bounded by the logs decoder's attribute limit.
/// Short lists are searched in place; past [`AttrList::INDEX_FROM`] entries
/// a [`KeyIndex`] of key hashes is built (no key is copied into it).
#[derive(Debug, Default)]
pub struct AttrList {
    items: Vec<(String, AttrValue)>,
    index: Option<KeyIndex>,
}

/// The keys of an [`AttrList`] by hash: the position of the first item with
/// each hash. A hash hit whose item has another key (a collision) falls back
/// to comparing every key.
#[derive(Debug)]
struct KeyIndex {
    state: RandomState,
    first: HashMap<u64, usize, BuildHasherDefault<Prehashed>>,
}

impl KeyIndex {
    fn build(items: &[(String, AttrValue)]) -> KeyIndex {
        let mut index = KeyIndex {
            state: RandomState::new(),
            first: HashMap::default(),
        };
        for (at, (key, _)) in items.iter().enumerate() {
            let hash = index.hash(key);
            index.first.entry(hash).or_insert(at);
        }
        index
    }

    fn hash(&self, key: &str) -> u64 {
        self.state.hash_one(key)
    }

    fn contains(&self, items: &[(String, AttrValue)], key: &str, hash: u64) -> bool {
        match self.first.get(&hash) {
            None => false,
            Some(&at) => {
                items.get(at).is_some_and(|(k, _)| k == key) || items.iter().any(|(k, _)| k == key)
            }
        }
    }
}

/// A hasher for keys that are already hashes.
#[derive(Debug, Default)]
struct Prehashed(u64);

impl Hasher for Prehashed {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(byte);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

impl AttrList {
    /// The length from which lookups go through a hash index.
    pub const INDEX_FROM: usize = 16;

    /// An empty list.
    pub fn new() -> AttrList {
        AttrList::default()
    }

    /// Whether `key` is present.
    pub fn contains(&self, key: &str) -> bool {
        self.slot(key).is_none()
    }

    /// `None` when `key` is present, else `Some` of its hash when indexed.
    fn slot(&self, key: &str) -> Option<Option<u64>> {
        match &self.index {
            Some(index) => {
                let hash = index.hash(key);
                (!index.contains(&self.items, key, hash)).then_some(Some(hash))
            }
            None => (!self.items.iter().any(|(k, _)| k == key)).then_some(None),
        }
    }

    /// Appends an absent key (`hash` from [`AttrList::slot`]).
    fn add(&mut self, hash: Option<u64>, key: String, value: AttrValue) -> Result<(), String> {
        if self.items.len() >= MAX_ATTRIBUTES {
            return Err(format!(
                "more than {MAX_ATTRIBUTES} attributes in one record"
            ));
        }
        let at = self.items.len();
        self.items.push((key, value));
        match (&mut self.index, hash) {
            (Some(index), Some(hash)) => {
                index.first.entry(hash).or_insert(at);
            }
            _ if self.items.len() >= Self::INDEX_FROM => {
                self.index = Some(KeyIndex::build(&self.items));
            }
            _ => {}
        }
        Ok(())
    }

    /// Adds `key` unless present; fails past the attribute limit.
    pub fn push(&mut self, key: String, value: AttrValue) -> Result<(), String> {
        match self.slot(&key) {
            Some(hash) => self.add(hash, key, value),
            None => Ok(()),
        }
    }

    /// Adds flattened key-values (see [`flatten_key_values`]).
    pub fn push_key_values(&mut self, kvs: Vec<KeyValue>) -> Result<(), String> {
        flatten_key_values("", kvs, &mut |k, v| self.push(k, v))
    }

    /// Adds copies of already flattened attributes (only those kept are
    /// copied).
    pub fn extend_from(&mut self, items: &[(String, AttrValue)]) -> Result<(), String> {
        for (k, v) in items {
            if let Some(hash) = self.slot(k) {
                self.add(hash, k.clone(), v.clone())?;
            }
        }
        Ok(())
    }

    /// The attributes, in order.
    pub fn into_vec(self) -> Vec<(String, AttrValue)> {
        self.items
    }
}

/// What a [`Resource`] contributes to every event under it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ResourceFields {
    /// `service.name`.
    pub service: Option<String>,
    /// `host.name`.
    pub host: Option<String>,
    /// `env:<deployment.environment.name or deployment.environment>`, then
    /// `version:<service.version>`.
    pub tags: Vec<String>,
    /// Every other resource attribute, flattened (first key wins).
    pub attributes: Vec<(String, AttrValue)>,
}

impl ResourceFields {
    /// Maps a resource: `service.name` → service, `host.name` → host,
    /// `deployment.environment.name` (else `deployment.environment`) → tag
    /// `env:<v>`, `service.version` → tag `version:<v>` (Datadog's unified
    /// service tags); other attributes (and mapped keys whose value is not a
    /// non-empty scalar) stay attributes. Fails on the attribute limits.
    pub fn from_resource(resource: Option<&Resource>) -> Result<ResourceFields, String> {
        let mut fields = ResourceFields::default();
        let Some(resource) = resource else {
            return Ok(fields);
        };
        let (mut env, mut legacy_env, mut version) = (None, None, None);
        // Unmapped attributes, in order, flattened once at the end.
        let mut unmapped = Vec::new();
        for kv in &resource.attributes {
            let slot = match kv.key.as_str() {
                "service.name" => &mut fields.service,
                "host.name" => &mut fields.host,
                "deployment.environment.name" => &mut env,
                "deployment.environment" => &mut legacy_env,
                "service.version" => &mut version,
                _ => {
                    unmapped.push(kv.clone());
                    continue;
                }
            };
            match scalar_text(kv.value.as_ref()) {
                Some(text) if slot.is_none() => *slot = Some(text),
                Some(_) => {}
                None => unmapped.push(kv.clone()),
            }
        }
        let mut rest = AttrList::new();
        rest.push_key_values(unmapped)?;
        if let Some(env) = env.or(legacy_env) {
            fields.tags.push(format!("env:{env}"));
        }
        if let Some(version) = version {
            fields.tags.push(format!("version:{version}"));
        }
        fields.attributes = rest.into_vec();
        Ok(fields)
    }
}

/// What an [`InstrumentationScope`] contributes to every event under it:
/// its attributes (flattened), then `otel.scope.name` and
/// `otel.scope.version` when non-empty.
pub fn scope_attributes(
    scope: Option<&InstrumentationScope>,
) -> Result<Vec<(String, AttrValue)>, String> {
    let mut list = AttrList::new();
    if let Some(scope) = scope {
        list.push_key_values(scope.attributes.clone())?;
        if !scope.name.is_empty() {
            list.push("otel.scope.name".into(), AttrValue::Str(scope.name.clone()))?;
        }
        if !scope.version.is_empty() {
            list.push(
                "otel.scope.version".into(),
                AttrValue::Str(scope.version.clone()),
            )?;
        }
    }
    Ok(list.into_vec())
}
