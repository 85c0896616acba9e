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

use std::collections::HashSet;

use serde::Deserialize;
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
    #[serde(alias = "id_keys", deserialize_with = "de_nullable")]
    pub id_keys: Vec<String>,
    /// Field 4.
    #[prost(string, repeated, tag = "4")]
    #[serde(alias = "description_keys", deserialize_with = "de_nullable")]
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

/// An [`AnyValue`] as JSON: kvlists as objects (first key wins), bytes as
/// base64, non-finite doubles as `"NaN"`/`"Infinity"`/`"-Infinity"`, and the
/// empty value as `null`.
pub fn any_to_json(value: Option<&AnyValue>) -> serde_json::Value {
    use serde_json::Value as J;
    match value.and_then(|v| v.value.as_ref()) {
        None => J::Null,
        Some(Value::StringValue(s)) => J::String(s.clone()),
        Some(Value::BoolValue(b)) => J::Bool(*b),
        Some(Value::IntValue(i)) => J::from(*i),
        Some(Value::DoubleValue(d)) => double_json(*d),
        Some(Value::ArrayValue(a)) => {
            J::Array(a.values.iter().map(|v| any_to_json(Some(v))).collect())
        }
        Some(Value::KvlistValue(list)) => key_values_json(&list.values),
        Some(Value::BytesValue(b)) => J::String(encode_base64(b)),
    }
}

/// Key-values as one JSON object (first key wins).
pub fn key_values_json(kvs: &[KeyValue]) -> serde_json::Value {
    let mut map = serde_json::Map::new();
    for kv in kvs {
        if !map.contains_key(&kv.key) {
            map.insert(kv.key.clone(), any_to_json(kv.value.as_ref()));
        }
    }
    serde_json::Value::Object(map)
}

fn double_json(d: f64) -> serde_json::Value {
    match serde_json::Number::from_f64(d) {
        Some(n) => serde_json::Value::Number(n),
        None if d.is_nan() => "NaN".into(),
        None if d > 0.0 => "Infinity".into(),
        None => "-Infinity".into(),
    }
}

/// A value as message text: strings as they are, bytes as base64, the empty
/// value as `""`, anything else as its compact JSON text.
pub fn any_text(value: Option<&AnyValue>) -> String {
    match value.and_then(|v| v.value.as_ref()) {
        None => String::new(),
        Some(Value::StringValue(s)) => s.clone(),
        Some(Value::BytesValue(b)) => encode_base64(b),
        Some(_) => any_to_json(value).to_string(),
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
        Some(Value::ArrayValue(_) | Value::KvlistValue(_)) => {
            AttrValue::Json(any_to_json(value).to_string())
        }
    }
}

/// Flattens key-values into `(dotted.path, value)` leaves, depth first:
/// a non-empty kvlist under `k` becomes `k.sub` paths, an empty one `{}`.
/// Fails on a path longer than the logs decoder allows.
pub fn flatten_key_values(
    prefix: &str,
    kvs: &[KeyValue],
    sink: &mut dyn FnMut(String, AttrValue) -> Result<(), String>,
) -> Result<(), String> {
    for kv in kvs {
        let path = if prefix.is_empty() {
            kv.key.clone()
        } else {
            format!("{prefix}.{}", kv.key)
        };
        if path.len() > MAX_PATH_BYTES {
            return Err(format!(
                "attribute path longer than {MAX_PATH_BYTES} bytes (starts with {:?})",
                clip(&path, 40)
            ));
        }
        match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
            Some(Value::KvlistValue(list)) if !list.values.is_empty() => {
                flatten_key_values(&path, &list.values, sink)?;
            }
            _ => sink(path, attr_value(kv.value.as_ref()))?,
        }
    }
    Ok(())
}

/// One event's attributes, in order, where a key already present is not
/// added again (first wins), bounded by the logs decoder's attribute limit.
/// Short lists are searched in place; a key set is built past
/// [`AttrList::INDEX_FROM`] entries.
#[derive(Debug, Default)]
pub struct AttrList {
    items: Vec<(String, AttrValue)>,
    index: Option<HashSet<String>>,
}

impl AttrList {
    /// The length from which lookups go through a hash set.
    pub const INDEX_FROM: usize = 16;

    /// An empty list.
    pub fn new() -> AttrList {
        AttrList::default()
    }

    /// Whether `key` is present.
    pub fn contains(&self, key: &str) -> bool {
        match &self.index {
            Some(index) => index.contains(key),
            None => self.items.iter().any(|(k, _)| k == key),
        }
    }

    /// Adds `key` unless present; fails past the attribute limit.
    pub fn push(&mut self, key: String, value: AttrValue) -> Result<(), String> {
        if self.contains(&key) {
            return Ok(());
        }
        if self.items.len() >= MAX_ATTRIBUTES {
            return Err(format!(
                "more than {MAX_ATTRIBUTES} attributes in one record"
            ));
        }
        if let Some(index) = &mut self.index {
            index.insert(key.clone());
        } else if self.items.len() + 1 >= Self::INDEX_FROM {
            let mut index: HashSet<String> = self.items.iter().map(|(k, _)| k.clone()).collect();
            index.insert(key.clone());
            self.index = Some(index);
        }
        self.items.push((key, value));
        Ok(())
    }

    /// Adds flattened key-values (see [`flatten_key_values`]).
    pub fn push_key_values(&mut self, kvs: &[KeyValue]) -> Result<(), String> {
        flatten_key_values("", kvs, &mut |k, v| self.push(k, v))
    }

    /// Adds copies of already flattened attributes.
    pub fn extend_from(&mut self, items: &[(String, AttrValue)]) -> Result<(), String> {
        for (k, v) in items {
            if !self.contains(k) {
                self.push(k.clone(), v.clone())?;
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
    /// `env:<deployment.environment.name or deployment.environment>`.
    pub tags: Vec<String>,
    /// Every other resource attribute, flattened (first key wins).
    pub attributes: Vec<(String, AttrValue)>,
}

impl ResourceFields {
    /// Maps a resource: `service.name` → service, `host.name` → host,
    /// `deployment.environment.name` (else `deployment.environment`) → tag
    /// `env:<v>`; other attributes (and mapped keys whose value is not a
    /// non-empty scalar) stay attributes. Fails on the attribute limits.
    pub fn from_resource(resource: Option<&Resource>) -> Result<ResourceFields, String> {
        let mut fields = ResourceFields::default();
        let Some(resource) = resource else {
            return Ok(fields);
        };
        let (mut env, mut legacy_env) = (None, None);
        let mut rest = AttrList::new();
        for kv in &resource.attributes {
            let slot = match kv.key.as_str() {
                "service.name" => &mut fields.service,
                "host.name" => &mut fields.host,
                "deployment.environment.name" => &mut env,
                "deployment.environment" => &mut legacy_env,
                _ => {
                    rest.push_key_values(std::slice::from_ref(kv))?;
                    continue;
                }
            };
            match scalar_text(kv.value.as_ref()) {
                Some(text) if slot.is_none() => *slot = Some(text),
                Some(_) => {}
                None => rest.push_key_values(std::slice::from_ref(kv))?,
            }
        }
        if let Some(env) = env.or(legacy_env) {
            fields.tags.push(format!("env:{env}"));
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
        list.push_key_values(&scope.attributes)?;
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
