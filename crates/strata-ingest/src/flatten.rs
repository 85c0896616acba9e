//! Streaming JSON decoding straight into flattened attributes.
//!
//! A logs body is parsed with serde's visitor API into, per item, a list of
//! `(dotted.path, AttrValue)` pairs: no `serde_json::Value` tree is built for
//! objects (the old path built one per event and then flattened it; that
//! tree was a quarter of the ingest CPU, mostly malloc/free). Arrays and
//! empty objects keep their JSON text (`AttrValue::Json`); nesting depth is
//! bounded by serde_json's recursion limit (128).

use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use strata_types::AttrValue;

/// One decoded item: its flattened attributes in document order, or, when
/// the item was not an object, the name of what it was.
pub(crate) enum Item {
    Object(Vec<(String, AttrValue)>),
    Other(&'static str),
}

/// A decoded body.
pub(crate) enum Body {
    Array(Vec<Item>),
    Object(Vec<(String, AttrValue)>),
    Other(&'static str),
}

/// Datadog fields that must be strings; an object there would flatten away
/// silently, so it is an error.
const STRING_FIELDS: [&str; 4] = ["ddtags", "ddsource", "hostname", "service"];

pub(crate) fn parse_body(bytes: &[u8]) -> Result<Body, serde_json::Error> {
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let body = deserializer.deserialize_any(BodyVisitor)?;
    deserializer.end()?;
    Ok(body)
}

struct BodyVisitor;

impl<'de> Visitor<'de> for BodyVisitor {
    type Value = Body;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON array of objects or a JSON object")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Body, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(16).min(1024));
        while let Some(item) = seq.next_element_seed(ItemSeed)? {
            items.push(item);
        }
        Ok(Body::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Body, A::Error> {
        let mut out = Vec::with_capacity(16);
        flatten_map(map, "", &mut out)?;
        Ok(Body::Object(out))
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Body, E> {
        Ok(Body::Other("a boolean"))
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Body, E> {
        Ok(Body::Other("a number"))
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Body, E> {
        Ok(Body::Other("a number"))
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Body, E> {
        Ok(Body::Other("a number"))
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<Body, E> {
        Ok(Body::Other("a string"))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Body, E> {
        Ok(Body::Other("null"))
    }
}

struct ItemSeed;

impl<'de> DeserializeSeed<'de> for ItemSeed {
    type Value = Item;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Item, D::Error> {
        deserializer.deserialize_any(ItemVisitor)
    }
}

struct ItemVisitor;

impl<'de> Visitor<'de> for ItemVisitor {
    type Value = Item;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Item, A::Error> {
        let mut out = Vec::with_capacity(16);
        flatten_map(map, "", &mut out)?;
        Ok(Item::Object(out))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Item, A::Error> {
        while seq.next_element::<de::IgnoredAny>()?.is_some() {}
        Ok(Item::Other("an array"))
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Item, E> {
        Ok(Item::Other("a boolean"))
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Item, E> {
        Ok(Item::Other("a number"))
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Item, E> {
        Ok(Item::Other("a number"))
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Item, E> {
        Ok(Item::Other("a number"))
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<Item, E> {
        Ok(Item::Other("a string"))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Item, E> {
        Ok(Item::Other("null"))
    }
}

fn flatten_map<'de, A: MapAccess<'de>>(
    mut map: A,
    prefix: &str,
    out: &mut Vec<(String, AttrValue)>,
) -> Result<usize, A::Error> {
    let mut entries = 0;
    while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
        entries += 1;
        let path = if prefix.is_empty() {
            key.into_owned()
        } else {
            format!("{prefix}.{key}")
        };
        let top_level_string_field = prefix.is_empty() && STRING_FIELDS.contains(&path.as_str());
        map.next_value_seed(ValueSeed {
            path,
            out,
            top_level_string_field,
        })?;
    }
    Ok(entries)
}

/// Decodes one value at `path` into `out` (objects recurse).
struct ValueSeed<'a> {
    path: String,
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
        self.out.push((self.path, AttrValue::Bool(v)));
        Ok(())
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<(), E> {
        self.out.push((self.path, AttrValue::Int(v)));
        Ok(())
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<(), E> {
        let value = i64::try_from(v).map_or(AttrValue::Float(v as f64), AttrValue::Int);
        self.out.push((self.path, value));
        Ok(())
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<(), E> {
        self.out.push((self.path, AttrValue::Float(v)));
        Ok(())
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<(), E> {
        self.out.push((self.path, AttrValue::Str(v.to_owned())));
        Ok(())
    }
    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<(), E> {
        self.out.push((self.path, AttrValue::Str(v.to_owned())));
        Ok(())
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<(), E> {
        self.out.push((self.path, AttrValue::Str(v)));
        Ok(())
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        self.out
            .push((self.path, AttrValue::Json("null".to_owned())));
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        // Arrays are rare and kept whole: their JSON text.
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<serde_json::Value>()? {
            items.push(item);
        }
        let text = serde_json::Value::Array(items).to_string();
        self.out.push((self.path, AttrValue::Json(text)));
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<(), A::Error> {
        if self.top_level_string_field {
            return Err(de::Error::custom(format!(
                "{} must be a string, got an object",
                self.path
            )));
        }
        let entries = flatten_map(map, &self.path, self.out)?;
        if entries == 0 {
            self.out.push((self.path, AttrValue::Json("{}".to_owned())));
        }
        Ok(())
    }
}
