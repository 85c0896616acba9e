//! OTLP/JSON logs and traces converted while they are parsed.
//!
//! The request is read with serde's visitor API level by level (resources,
//! scopes, records) and each record is converted to an event as soon as its
//! resource and scope are known, then dropped: the parsed request is never
//! held whole. Parsing it whole into the prost structs first and converting
//! after kept every record twice (the struct and the event) and grew a
//! vector of a couple of hundred bytes per record by copying.
//!
//! JSON does not order an object's keys, so a record may come before the
//! `resource` or `scope` it belongs to; such records are parsed into their
//! structs and held, charged to the [`JsonBudget`], until the enclosing
//! object ends. Unknown keys are skipped; `schemaUrl` must still be a
//! string or `null`, as in the derived structs.

use std::fmt;

use serde::de::{self, DeserializeOwned, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess};
use serde::de::{Deserializer, Visitor};

use super::common::{InstrumentationScope, JsonBudget, Resource};
use super::json::charge_or_fail;
use super::{json_error, Collector, Convert, Names};
use crate::IngestError;

/// The JSON keys of a signal's three levels, each as lowerCamelCase and as
/// the proto field name.
#[derive(Debug)]
pub(crate) struct JsonKeys {
    pub(crate) resources: [&'static str; 2],
    pub(crate) scopes: [&'static str; 2],
    pub(crate) records: [&'static str; 2],
}

/// Records of one scope held until the scope (or resource) is known.
type Held<R> = Vec<(Option<InstrumentationScope>, Vec<R>)>;

/// Parses an OTLP/JSON export request, converting each record of type `R`.
pub(crate) fn walk<R: DeserializeOwned>(
    body: &[u8],
    names: &Names,
    keys: &JsonKeys,
    out: &mut Collector<'_>,
    convert: Convert<R>,
) -> Result<(), IngestError> {
    let budget = JsonBudget::start(out.request().max_decoded_bytes);
    let max_decoded_bytes = out.request().max_decoded_bytes;
    let mut state = State {
        out,
        convert,
        keys,
        failure: None,
    };
    let mut de = serde_json::Deserializer::from_slice(body);
    let parsed = Request(&mut state)
        .deserialize(&mut de)
        .and_then(|()| de.end());
    match (parsed, state.failure.take()) {
        (Ok(()), _) => Ok(()),
        (Err(_), Some(failure)) => Err(failure),
        (Err(e), None) => Err(json_error(&budget, max_decoded_bytes, names.request, &e)),
    }
}

struct State<'s, 'o, R> {
    out: &'s mut Collector<'o>,
    convert: Convert<R>,
    keys: &'s JsonKeys,
    /// Why the walk stopped, when the collector (not the JSON) stopped it.
    failure: Option<IngestError>,
}

impl<R> State<'_, '_, R> {
    fn record<E: de::Error>(&mut self, record: R) -> Result<(), E> {
        self.out.record(record, self.convert).map_err(|e| {
            let message = e.detail.clone();
            self.failure = Some(e);
            E::custom(message)
        })
    }

    fn release<E: de::Error>(&mut self, held: Held<R>) -> Result<(), E> {
        for (scope, records) in held {
            self.out.context().set_scope(scope.as_ref());
            for record in records {
                self.record(record)?;
            }
        }
        Ok(())
    }
}

/// Reads a map key as its position in a list of names (`None`: another key).
struct KeyIn<'k>(&'k [&'static str]);

impl<'de> DeserializeSeed<'de> for KeyIn<'_> {
    type Value = Option<usize>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Option<usize>, D::Error> {
        d.deserialize_identifier(self)
    }
}

impl<'de> Visitor<'de> for KeyIn<'_> {
    type Value = Option<usize>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a field name")
    }

    fn visit_str<E: de::Error>(self, key: &str) -> Result<Option<usize>, E> {
        Ok(self.0.iter().position(|name| *name == key))
    }
}

/// The fields of one object read so far: a field given twice (under either
/// of its names) is an error, as it is for the derived structs.
#[derive(Default)]
struct Seen(u8);

impl Seen {
    fn first<E: de::Error>(&mut self, field: u8, name: &'static str) -> Result<(), E> {
        if self.has(field) {
            return Err(E::duplicate_field(name));
        }
        self.0 |= 1 << field;
        Ok(())
    }

    fn has(&self, field: u8) -> bool {
        self.0 & (1 << field) != 0
    }
}

/// The visitor methods of a JSON array that may be `null` (no elements).
macro_rules! null_or_array {
    () => {
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("an array")
        }

        fn visit_none<E: de::Error>(self) -> Result<(), E> {
            Ok(())
        }

        fn visit_unit<E: de::Error>(self) -> Result<(), E> {
            Ok(())
        }

        fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
            d.deserialize_seq(self)
        }
    };
}

/// The export request: `{"resourceLogs": [...]}`.
struct Request<'a, 's, 'o, R>(&'a mut State<'s, 'o, R>);

impl<'de, R: DeserializeOwned> DeserializeSeed<'de> for Request<'_, '_, '_, R> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de, R: DeserializeOwned> Visitor<'de> for Request<'_, '_, '_, R> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an export request object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let keys = self.0.keys.resources;
        let mut seen = Seen::default();
        while let Some(key) = map.next_key_seed(KeyIn(&keys))? {
            match key {
                Some(_) => {
                    seen.first(0, keys[0])?;
                    map.next_value_seed(Resources(&mut *self.0))?;
                }
                None => drop(map.next_value::<IgnoredAny>()?),
            }
        }
        Ok(())
    }
}

/// The array of resource groups.
struct Resources<'a, 's, 'o, R>(&'a mut State<'s, 'o, R>);

impl<'de, R: DeserializeOwned> DeserializeSeed<'de> for Resources<'_, '_, '_, R> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_option(self)
    }
}

impl<'de, R: DeserializeOwned> Visitor<'de> for Resources<'_, '_, '_, R> {
    type Value = ();

    null_or_array!();

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq
            .next_element_seed(ResourceGroup(&mut *self.0))?
            .is_some()
        {}
        Ok(())
    }
}

/// One resource group: `{"resource": {...}, "scopeLogs": [...]}`.
struct ResourceGroup<'a, 's, 'o, R>(&'a mut State<'s, 'o, R>);

impl<'de, R: DeserializeOwned> DeserializeSeed<'de> for ResourceGroup<'_, '_, '_, R> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de, R: DeserializeOwned> Visitor<'de> for ResourceGroup<'_, '_, '_, R> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a resource group object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let state = self.0;
        let [camel, proto] = state.keys.scopes;
        let keys = ["resource", camel, proto, "schemaUrl", "schema_url"];
        let mut seen = Seen::default();
        let mut held: Held<R> = Vec::new();
        while let Some(key) = map.next_key_seed(KeyIn(&keys))? {
            match key {
                Some(0) => {
                    seen.first(0, keys[0])?;
                    let resource: Option<Resource> = map.next_value()?;
                    state.out.context().set_resource(resource.as_ref());
                }
                Some(1 | 2) => {
                    seen.first(1, keys[1])?;
                    let held = (!seen.has(0)).then_some(&mut held);
                    map.next_value_seed(Scopes { state, held })?;
                }
                Some(_) => {
                    seen.first(2, keys[3])?;
                    drop(map.next_value::<Option<String>>()?);
                }
                None => drop(map.next_value::<IgnoredAny>()?),
            }
        }
        let resource_seen = seen.has(0);
        if !held.is_empty() {
            if !resource_seen {
                state.out.context().set_resource(None);
            }
            state.release(held)?;
        }
        Ok(())
    }
}

/// The array of scope groups of one resource; `held` when the resource is
/// not known yet.
struct Scopes<'a, 's, 'o, R> {
    state: &'a mut State<'s, 'o, R>,
    held: Option<&'a mut Held<R>>,
}

impl<'de, R: DeserializeOwned> DeserializeSeed<'de> for Scopes<'_, '_, '_, R> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_option(self)
    }
}

impl<'de, R: DeserializeOwned> Visitor<'de> for Scopes<'_, '_, '_, R> {
    type Value = ();

    null_or_array!();

    fn visit_seq<A: SeqAccess<'de>>(mut self, mut seq: A) -> Result<(), A::Error> {
        loop {
            let group = ScopeGroup {
                state: &mut *self.state,
                held: self.held.as_deref_mut(),
            };
            if seq.next_element_seed(group)?.is_none() {
                return Ok(());
            }
        }
    }
}

/// One scope group: `{"scope": {...}, "logRecords": [...]}`.
struct ScopeGroup<'a, 's, 'o, R> {
    state: &'a mut State<'s, 'o, R>,
    held: Option<&'a mut Held<R>>,
}

impl<'de, R: DeserializeOwned> DeserializeSeed<'de> for ScopeGroup<'_, '_, '_, R> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de, R: DeserializeOwned> Visitor<'de> for ScopeGroup<'_, '_, '_, R> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a scope group object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let state = self.state;
        let streaming = self.held.is_none();
        let [camel, proto] = state.keys.records;
        let keys = ["scope", camel, proto, "schemaUrl", "schema_url"];
        let mut scope: Option<Option<InstrumentationScope>> = None;
        let mut records: Vec<R> = Vec::new();
        let mut seen = Seen::default();
        while let Some(key) = map.next_key_seed(KeyIn(&keys))? {
            match key {
                Some(0) => {
                    seen.first(0, keys[0])?;
                    let value: Option<InstrumentationScope> = map.next_value()?;
                    if streaming {
                        state.out.context().set_scope(value.as_ref());
                    }
                    scope = Some(value);
                }
                Some(1 | 2) => {
                    seen.first(1, keys[1])?;
                    let held = (!streaming || scope.is_none()).then_some(&mut records);
                    map.next_value_seed(Records {
                        state: &mut *state,
                        held,
                    })?;
                }
                Some(_) => {
                    seen.first(2, keys[3])?;
                    drop(map.next_value::<Option<String>>()?);
                }
                None => drop(map.next_value::<IgnoredAny>()?),
            }
        }
        let scope = scope.flatten();
        match self.held {
            Some(_) if records.is_empty() => {}
            Some(held) => {
                charge_or_fail(size_of::<(Option<InstrumentationScope>, Vec<R>)>())?;
                held.push((scope, records));
            }
            None if records.is_empty() => {}
            None => state.release(vec![(scope, records)])?,
        }
        Ok(())
    }
}

/// The array of records of one scope, converted at once unless `held`.
struct Records<'a, 's, 'o, R> {
    state: &'a mut State<'s, 'o, R>,
    held: Option<&'a mut Vec<R>>,
}

impl<'de, R: DeserializeOwned> DeserializeSeed<'de> for Records<'_, '_, '_, R> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_option(self)
    }
}

impl<'de, R: DeserializeOwned> Visitor<'de> for Records<'_, '_, '_, R> {
    type Value = ();

    null_or_array!();

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        match self.held {
            None => {
                while let Some(record) = seq.next_element::<R>()? {
                    self.state.record(record)?;
                }
            }
            Some(held) => loop {
                charge_or_fail(size_of::<R>())?;
                match seq.next_element::<R>()? {
                    Some(record) => held.push(record),
                    None => break,
                }
            },
        }
        Ok(())
    }
}
