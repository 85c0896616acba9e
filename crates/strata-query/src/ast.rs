//! The parsed form of a Datadog log search query, and the row view a query
//! is matched against.
//!
//! Semantics (what [`crate::Matcher`] implements; the reference evaluator in
//! the tests implements the same rules independently):
//!
//! - [`Field::Default`] and [`Field::Message`] look at the event's `message`:
//!   case-insensitive (both sides lower-cased with `str::to_lowercase`),
//!   **word-bounded**: a term, phrase or wildcard pattern matches when it
//!   occurs in the lower-cased message without cutting a word: at the start
//!   and at the end of the occurrence, the characters on the two sides are
//!   not both word characters (a word character is `char::is_alphanumeric`
//!   or `_`). So `foo` matches `foo-bar`, `-bar` matches `foo-bar`, `oo`
//!   does not match `foo`, and every maximal run of word characters of a
//!   term is a whole token of the message, which is what the segments'
//!   token bloom filters rely on. `*` matches any run of
//!   characters (also none, also across words), `?` exactly one character.
//!   A [`Predicate::Phrase`] is literal text (its `*` and `?` are plain).
//! - Every other field compares whole values, **case-sensitively** (except
//!   `status`, whose query value is normalised like an ingested status):
//!   `Term`/`Phrase` equal, `Wildcard` anchored at both ends.
//! - A value that parses as a number compares numerically with numeric
//!   attribute values (`@code:200` matches `Int(200)` and `Float(200.0)`);
//!   `Compare` and `Range` are numeric when both sides are numbers, otherwise
//!   lexical on the text form.
//! - [`Field::Tag`] (`env:prod`) matches a tag `env:prod` of the event's tag
//!   list; [`Field::Tags`] (`tags:foo`) matches a tag equal to `foo`.
//! - [`Field::Attribute`] (`@a.b`) looks at the attribute whose path is `a.b`,
//!   and into JSON arrays/objects stored under a prefix path (`@a` holding
//!   `[{"b":1}]`): a predicate matches when **any** value matches.
//! - [`Field::AnyAttribute`] (`*:term`) matches the message or any attribute
//!   value, like free text (case-insensitive, word-bounded).
//! - `Exists` matches when the field has a value (`-@a:*`: missing).

use std::net::IpAddr;

use strata_types::Status;

/// A parsed search query.
#[derive(Debug, Clone, PartialEq)]
pub enum Query {
    /// `*` or the empty query: every event.
    MatchAll,
    /// All of them (implicit AND, `AND`, `+x`).
    And(Vec<Query>),
    /// Any of them (`OR`).
    Or(Vec<Query>),
    /// Not it (`NOT x`, `-x`).
    Not(Box<Query>),
    /// One field tested with one predicate.
    Match {
        /// What is looked at.
        field: Field,
        /// How it is tested.
        predicate: Predicate,
    },
    /// `CIDR(@attr, block, ...)`: the field's value is an IP address inside one
    /// of the blocks.
    Cidr {
        /// What is looked at.
        field: Field,
        /// The blocks, already parsed.
        blocks: Vec<CidrBlock>,
    },
}

/// What a predicate looks at.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Field {
    /// Free text: the message.
    Default,
    /// `message:`.
    Message,
    /// `service:`.
    Service,
    /// `host:`.
    Host,
    /// `status:`.
    Status,
    /// `source:`.
    Source,
    /// `trace_id:`.
    TraceId,
    /// `tags:value`: a tag equal to the value.
    Tags,
    /// `key:value` with a key that is not reserved: the tag `key:value`.
    Tag(String),
    /// `@path`: an attribute (dotted path, without the `@`).
    Attribute(String),
    /// `*:`: the message and every attribute.
    AnyAttribute,
}

/// How a field is tested. Every string here has its escapes resolved.
#[derive(Debug, Clone, PartialEq)]
pub enum Predicate {
    /// An unquoted value without wildcards.
    Term(String),
    /// A quoted value (wildcards inside are literal).
    Phrase(String),
    /// An unquoted value with at least one unescaped `*` or `?`.
    Wildcard(Pattern),
    /// `>v`, `>=v`, `<v`, `<=v`.
    Compare {
        /// The operator.
        op: CompareOp,
        /// The right-hand side.
        value: String,
    },
    /// `[a TO b]`, `{a TO b}` (a `*` end is open).
    Range {
        /// Lower end and whether it is inclusive; `None` is open.
        lower: Option<(String, bool)>,
        /// Upper end and whether it is inclusive; `None` is open.
        upper: Option<(String, bool)>,
    },
    /// `field:*`: the field has a value.
    Exists,
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompareOp {
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `<`
    Lt,
    /// `<=`
    Le,
}

/// A wildcard pattern: literal runs, `*` and `?`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Pattern(pub Vec<PatternPart>);

/// One piece of a [`Pattern`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum PatternPart {
    /// Literal text (escapes resolved).
    Literal(String),
    /// `*`: any run of characters.
    Star,
    /// `?`: exactly one character.
    Question,
}

/// An IPv4 or IPv6 network.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CidrBlock {
    /// Network address.
    pub addr: IpAddr,
    /// Prefix length (0..=32 for v4, 0..=128 for v6).
    pub prefix: u8,
}

impl CidrBlock {
    /// Whether `ip` lies inside the block (an IPv4 address never lies in an
    /// IPv6 block and the other way round).
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let bits = u32::from(net) ^ u32::from(ip);
                self.prefix == 0 || bits >> (32 - u32::from(self.prefix.min(32))) == 0
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let bits = u128::from(net) ^ u128::from(ip);
                self.prefix == 0 || bits >> (128 - u32::from(self.prefix.min(128))) == 0
            }
            _ => false,
        }
    }
}

/// A borrowed attribute value, as an [`EventView`] hands it out.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum AttrRef<'a> {
    /// A string.
    Str(&'a str),
    /// An integer.
    Int(i64),
    /// A float.
    Float(f64),
    /// A boolean.
    Bool(bool),
    /// JSON text of an array, an empty object or `null`.
    Json(&'a str),
}

impl<'a> From<&'a strata_types::AttrValue> for AttrRef<'a> {
    fn from(value: &'a strata_types::AttrValue) -> AttrRef<'a> {
        use strata_types::AttrValue;
        match value {
            AttrValue::Str(s) => AttrRef::Str(s),
            AttrValue::Int(i) => AttrRef::Int(*i),
            AttrValue::Float(f) => AttrRef::Float(*f),
            AttrValue::Bool(b) => AttrRef::Bool(*b),
            AttrValue::Json(j) => AttrRef::Json(j),
        }
    }
}

/// Read access to one event, whatever holds it (an [`strata_types::Event`]
/// in a memtable, a row of a segment's record batch).
pub trait EventView {
    /// Event time, ns since the epoch.
    fn timestamp_ns(&self) -> i64;
    /// Status.
    fn status(&self) -> Status;
    /// Service, if any.
    fn service(&self) -> Option<&str>;
    /// Host, if any.
    fn host(&self) -> Option<&str>;
    /// Source, if any.
    fn source(&self) -> Option<&str>;
    /// Trace id, if any.
    fn trace_id(&self) -> Option<&str>;
    /// Message.
    fn message(&self) -> &str;
    /// Calls `f` with each tag until it returns `true`; returns whether it did.
    fn any_tag(&self, f: &mut dyn FnMut(&str) -> bool) -> bool;
    /// Calls `f` with each attribute (flattened path, value) until it returns
    /// `true`; returns whether it did. A path may occur more than once.
    fn any_attribute(&self, f: &mut dyn FnMut(&str, AttrRef<'_>) -> bool) -> bool;
    /// Calls `f` with each attribute whose path is `path` or a dotted prefix
    /// of it (`a` for `a.b.c`), until it returns `true`. Implementations
    /// with an index by path override this.
    fn any_attribute_at(&self, path: &str, f: &mut dyn FnMut(&str, AttrRef<'_>) -> bool) -> bool {
        self.any_attribute(&mut |key, value| {
            let related = key == path
                || (path.len() > key.len()
                    && path.starts_with(key)
                    && path.as_bytes()[key.len()] == b'.');
            related && f(key, value)
        })
    }
}

impl EventView for strata_types::Event {
    fn timestamp_ns(&self) -> i64 {
        self.timestamp_ns
    }
    fn status(&self) -> Status {
        self.status
    }
    fn service(&self) -> Option<&str> {
        self.service.as_deref()
    }
    fn host(&self) -> Option<&str> {
        self.host.as_deref()
    }
    fn source(&self) -> Option<&str> {
        self.source.as_deref()
    }
    fn trace_id(&self) -> Option<&str> {
        self.trace_id.as_deref()
    }
    fn message(&self) -> &str {
        &self.message
    }
    fn any_tag(&self, f: &mut dyn FnMut(&str) -> bool) -> bool {
        self.tags.iter().any(|t| f(t))
    }
    fn any_attribute(&self, f: &mut dyn FnMut(&str, AttrRef<'_>) -> bool) -> bool {
        self.attributes.iter().any(|(k, v)| f(k, AttrRef::from(v)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidr_contains() {
        let block = CidrBlock {
            addr: "10.0.0.0".parse().unwrap(),
            prefix: 8,
        };
        assert!(block.contains("10.1.2.3".parse().unwrap()));
        assert!(!block.contains("11.0.0.1".parse().unwrap()));
        assert!(!block.contains("::1".parse().unwrap()));
        let v6 = CidrBlock {
            addr: "2001:db8::".parse().unwrap(),
            prefix: 32,
        };
        assert!(v6.contains("2001:db8::1".parse().unwrap()));
        let all = CidrBlock {
            addr: "0.0.0.0".parse().unwrap(),
            prefix: 0,
        };
        assert!(all.contains("1.2.3.4".parse().unwrap()));
    }
}
