//! Streaming JSON decoding straight into flattened attributes.
//!
//! A logs body is parsed with serde's visitor API into, per item, a list of
//! `(dotted.path, AttrValue)` pairs: no `serde_json::Value` tree is built for
//! objects (the old path built one per event and then flattened it; that
//! tree was a quarter of the ingest CPU, mostly malloc/free). Each item is
//! flattened into one reused scratch vector and normalised at once, and the
//! item limit stops the parse at item `max + 1`. Arrays and
//! empty objects keep their JSON text (`AttrValue::Json`); nesting depth is
//! bounded by serde_json's recursion limit (128).

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use strata_types::{AttrValue, Event};

use crate::logs::{normalize, BodyFormat, LogsRequest};
use crate::IngestError;

/// Most attributes (flattened leaves) in one log.
pub(crate) const MAX_ATTRIBUTES: usize = 1000;

/// Longest dotted attribute path. Every leaf carries its whole path, so a long
/// key over many leaves would otherwise multiply memory.
pub(crate) const MAX_PATH_BYTES: usize = 512;

/// Datadog fields that must be strings; an object there would flatten away
/// silently, so it is an error.
const STRING_FIELDS: [&str; 4] = ["ddtags", "ddsource", "hostname", "service"];

/// Decoding state shared by the visitors: the request, a scratch vector
/// reused for every item's attributes, the events so far, and the first
/// rejection (a rejected item aborts the parse; the rejection, not serde's
/// abort message, is what the client sees).
pub(crate) struct Decoder<'a> {
    pub(crate) request: &'a LogsRequest,
    pub(crate) request_tags: &'a [String],
    pub(crate) scratch: Vec<(String, AttrValue)>,
    pub(crate) events: Vec<Event>,
    /// Sum of the decoded events' `heap_size`.
    pub(crate) decoded_bytes: usize,
    pub(crate) rejection: Option<IngestError>,
}

impl Decoder<'_> {
    fn reject<E: de::Error>(&mut self, error: IngestError) -> E {
        let message = error.detail.clone();
        self.rejection = Some(error);
        E::custom(message)
    }

    /// Flattens one item's object into `scratch` and normalises it.
    fn item<'de, A: MapAccess<'de>>(
        &mut self,
        map: A,
        index: Option<usize>,
    ) -> Result<(), A::Error> {
        self.scratch.clear();
        flatten_map(map, &mut String::new(), &mut self.scratch, &STRING_FIELDS)?;
        self.finish_item(index)
    }

    /// Normalises the attributes in `scratch` into one event.
    fn finish_item<E: de::Error>(&mut self, index: Option<usize>) -> Result<(), E> {
        match normalize(&mut self.scratch, self.request, self.request_tags) {
            Ok(event) => {
                self.decoded_bytes += event.heap_size();
                if self.decoded_bytes > self.request.max_decoded_bytes {
                    let limit = self.request.max_decoded_bytes;
                    return Err(self.reject(IngestError::too_large(format!(
                        "the request decodes to more than {limit} bytes of events"
                    ))));
                }
                self.events.push(event);
                Ok(())
            }
            Err(error) => {
                let error = match index {
                    Some(i) => IngestError {
                        kind: error.kind,
                        detail: format!("item {i}: {}", error.detail),
                    },
                    None => error,
                };
                Err(self.reject(error))
            }
        }
    }
}

/// Parses and normalises a JSON body; all or nothing.
pub(crate) fn decode_json(bytes: &[u8], decoder: &mut Decoder<'_>) -> Result<(), IngestError> {
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let parsed = deserializer
        .deserialize_any(BodyVisitor {
            decoder: &mut *decoder,
        })
        .and_then(|()| deserializer.end());
    if let Some(rejection) = decoder.rejection.take() {
        return Err(rejection);
    }
    parsed.map_err(|e| IngestError::bad(format!("invalid JSON: {e}")))
}

/// Parses one JSON object (a whole document, e.g. an Elasticsearch bulk
/// source line) into flattened `(path, value)` pairs appended to `out`, with
/// the same rules and limits as a logs item but no Datadog string-field
/// check. Anything else (invalid JSON, not an object, trailing data, over a
/// limit) is an error message for the client.
pub(crate) fn flatten_object(
    bytes: &[u8],
    out: &mut Vec<(String, AttrValue)>,
) -> Result<(), serde_json::Error> {
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    deserializer
        .deserialize_any(ObjectVisitor { out })
        .and_then(|()| deserializer.end())
}

/// The top-level visitor of [`flatten_object`]: only an object is accepted.
struct ObjectVisitor<'a> {
    out: &'a mut Vec<(String, AttrValue)>,
}

impl<'de> Visitor<'de> for ObjectVisitor<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<(), A::Error> {
        flatten_map(map, &mut String::new(), self.out, &[]).map(drop)
    }
}

struct BodyVisitor<'a, 'b> {
    decoder: &'a mut Decoder<'b>,
}

impl<'de> Visitor<'de> for BodyVisitor<'_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON array of objects or a JSON object")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let decoder = self.decoder;
        if decoder.request.format != BodyFormat::Json {
            return Err(
                decoder.reject(IngestError::bad("body is an array, expected a JSON object"))
            );
        }
        let max = decoder.request.max_items;
        let mut index = 0;
        while let Some(()) = seq.next_element_seed(ItemSeed {
            decoder: &mut *decoder,
            index,
        })? {
            index += 1;
            if index > max {
                let error = IngestError::too_large(format!(
                    "more than {max} items in one request; the limit is {max}"
                ));
                return Err(decoder.reject(error));
            }
        }
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<(), A::Error> {
        self.decoder.item(map, None)
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        Err(self
            .decoder
            .reject(not_a_body("a boolean", self.decoder.request)))
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        Err(self
            .decoder
            .reject(not_a_body("a number", self.decoder.request)))
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        Err(self
            .decoder
            .reject(not_a_body("a number", self.decoder.request)))
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        Err(self
            .decoder
            .reject(not_a_body("a number", self.decoder.request)))
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
        Err(self
            .decoder
            .reject(not_a_body("a string", self.decoder.request)))
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Err(self
            .decoder
            .reject(not_a_body("null", self.decoder.request)))
    }
}

fn not_a_body(what: &str, request: &LogsRequest) -> IngestError {
    let expected = match request.format {
        BodyFormat::Json => "a JSON array of objects or an object",
        _ => "a JSON object",
    };
    IngestError::bad(format!("body is {what}, expected {expected}"))
}

struct ItemSeed<'a, 'b> {
    decoder: &'a mut Decoder<'b>,
    index: usize,
}

impl<'de> DeserializeSeed<'de> for ItemSeed<'_, '_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl ItemSeed<'_, '_> {
    fn not_an_object<E: de::Error>(self, what: &str) -> E {
        let detail = format!("item {} is {what}, expected a JSON object", self.index);
        self.decoder.reject(IngestError::bad(detail))
    }
}

impl<'de> Visitor<'de> for ItemSeed<'_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<(), A::Error> {
        self.decoder.item(map, Some(self.index))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, _: A) -> Result<(), A::Error> {
        Err(self.not_an_object("an array"))
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        Err(self.not_an_object("a boolean"))
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        Err(self.not_an_object("a number"))
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        Err(self.not_an_object("a number"))
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        Err(self.not_an_object("a number"))
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
        Err(self.not_an_object("a string"))
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Err(self.not_an_object("null"))
    }
}

/// Flattens one object into `out`; a top-level key in `string_fields` whose
/// value is an object is an error. `path` holds the object's own path on
/// entry and again on return: every key is appended to that one buffer and
/// a leaf takes a copy, so a nested path costs one allocation, not a
/// `format!` per level (that was a third of the bulk decode).
fn flatten_map<'de, A: MapAccess<'de>>(
    mut map: A,
    path: &mut String,
    out: &mut Vec<(String, AttrValue)>,
    string_fields: &[&str],
) -> Result<usize, A::Error> {
    let mut entries = 0;
    let prefix_len = path.len();
    while let Some(key) = map.next_key_seed(KeySeed)? {
        entries += 1;
        if prefix_len > 0 {
            path.push('.');
        }
        path.push_str(&key);
        if out.len() >= MAX_ATTRIBUTES {
            return Err(de::Error::custom(format!(
                "more than {MAX_ATTRIBUTES} attributes in one log"
            )));
        }
        if path.len() > MAX_PATH_BYTES {
            return Err(de::Error::custom(format!(
                "attribute path longer than {MAX_PATH_BYTES} bytes (starts with {:?})",
                path.chars().take(40).collect::<String>()
            )));
        }
        let top_level_string_field = prefix_len == 0 && string_fields.contains(&path.as_str());
        map.next_value_seed(ValueSeed {
            path: &mut *path,
            out: &mut *out,
            top_level_string_field,
        })?;
        path.truncate(prefix_len);
    }
    Ok(entries)
}

/// A map key, borrowed from the input when it has no escapes.
struct KeySeed;

impl<'de> DeserializeSeed<'de> for KeySeed {
    type Value = Cow<'de, str>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeySeed {
    type Value = Cow<'de, str>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string key")
    }

    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Cow::Borrowed(v))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v.to_owned()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v))
    }
}

/// Decodes one value at `path` into `out` (objects recurse).
struct ValueSeed<'a> {
    path: &'a mut String,
    out: &'a mut Vec<(String, AttrValue)>,
    top_level_string_field: bool,
}

impl<'de> DeserializeSeed<'de> for ValueSeed<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ValueSeed<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<(), E> {
        self.out.push((self.path.clone(), AttrValue::Bool(v)));
        Ok(())
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<(), E> {
        self.out.push((self.path.clone(), AttrValue::Int(v)));
        Ok(())
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<(), E> {
        let value = i64::try_from(v).map_or(AttrValue::Float(v as f64), AttrValue::Int);
        self.out.push((self.path.clone(), value));
        Ok(())
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<(), E> {
        self.out.push((self.path.clone(), AttrValue::Float(v)));
        Ok(())
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<(), E> {
        self.out
            .push((self.path.clone(), AttrValue::Str(v.to_owned())));
        Ok(())
    }
    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<(), E> {
        self.out
            .push((self.path.clone(), AttrValue::Str(v.to_owned())));
        Ok(())
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<(), E> {
        self.out.push((self.path.clone(), AttrValue::Str(v)));
        Ok(())
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        self.out
            .push((self.path.clone(), AttrValue::Json("null".to_owned())));
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        // Arrays are rare and kept whole: their JSON text.
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<serde_json::Value>()? {
            items.push(item);
        }
        let text = serde_json::Value::Array(items).to_string();
        self.out.push((self.path.clone(), AttrValue::Json(text)));
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<(), A::Error> {
        if self.top_level_string_field {
            return Err(de::Error::custom(format!(
                "{} must be a string, got an object",
                self.path
            )));
        }
        let entries = flatten_map(map, self.path, self.out, &[])?;
        if entries == 0 {
            self.out
                .push((self.path.clone(), AttrValue::Json("{}".to_owned())));
        }
        Ok(())
    }
}
