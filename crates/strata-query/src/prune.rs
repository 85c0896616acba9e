//! Segment pruning: whether a segment may hold an event matching a query,
//! decided from its [`SkipIndex`] alone, without reading its data.
//!
//! [`may_match`] is **conservative**: it returns `false` only when no event
//! of the segment can match (under the semantics of the `ast` module doc,
//! as [`crate::Matcher`] implements them), and `true` whenever it is unsure.
//! A `false` lets the engine skip the segment; a `true` costs nothing but
//! the read.
//!
//! What each field can prune on:
//!
//! | field | pruned by |
//! |-------|-----------|
//! | message (`Default`, `Message`) | `Term`/`Phrase`: every word run of the lower-cased text must be in the token filter; `Wildcard`: the same for the runs of its literal text that are bounded on both sides by a non-word character or the pattern's ends (not by `*`/`?`) |
//! | `service`, `host`, `source`, `tags`, `key:` tags | the exact value set when known (every predicate and `CIDR` evaluated on each value), else presence |
//! | `status` | the status set (terms normalised like the matcher) |
//! | `trace_id` | `Term`/`Phrase`: the trace id filter; others: presence |
//! | `@path` | absent path (and no JSON under a dotted prefix) prunes everything but `Not`; the string set, the numeric range (only when the query value is a number the matcher would compare numerically) and whether booleans occur |
//! | `*:` | nothing |
//!
//! A negation is pruned only when the negated query surely matches **every**
//! row ([`must_match`]): `-service:*` when no row lacks a service,
//! `-status:info` when every row is `info`, and so on.

use std::cmp::Ordering;
use std::collections::BTreeSet;
use std::net::IpAddr;
use std::ops::Bound;

use strata_segment::skip_index::{
    is_word_char, tokens, AttributeSummary, KeywordField, ValueSummary,
};
use strata_segment::SkipIndex;
use strata_types::Status;

use crate::ast::{CidrBlock, CompareOp, Field, Pattern, PatternPart, Predicate, Query};
use crate::matcher::{cmp_num, parse_num, Num};

/// Whether some event of the segment summarised by `index` may match
/// `query`. `false` means surely none does.
pub fn may_match(query: &Query, index: &SkipIndex) -> bool {
    match query {
        Query::MatchAll => true,
        Query::And(items) => items.iter().all(|q| may_match(q, index)),
        Query::Or(items) => items.iter().any(|q| may_match(q, index)),
        Query::Not(inner) => !must_match(inner, index),
        Query::Match { field, predicate } => field_may_match(field, Test::Pred(predicate), index),
        Query::Cidr { field, blocks } => field_may_match(field, Test::Cidr(blocks), index),
    }
}

/// Whether every event of the segment surely matches `query`. `false` when
/// unsure. Only used to prune negations, so it covers just the cases the
/// index can prove: presence of the reserved fields and single-valued
/// `service`/`host`/`source`/`status`.
pub fn must_match(query: &Query, index: &SkipIndex) -> bool {
    match query {
        Query::MatchAll => true,
        Query::And(items) => items.iter().all(|q| must_match(q, index)),
        Query::Or(items) => items.iter().any(|q| must_match(q, index)),
        Query::Not(inner) => !may_match(inner, index),
        Query::Match { field, predicate } => field_must_match(field, predicate, index),
        Query::Cidr { .. } => false,
    }
}

/// A leaf test: a predicate or a `CIDR(...)` block list.
#[derive(Debug, Clone, Copy)]
enum Test<'a> {
    Pred(&'a Predicate),
    Cidr(&'a [CidrBlock]),
}

fn keyword(field: &Field) -> Option<KeywordField> {
    match field {
        Field::Service => Some(KeywordField::Service),
        Field::Host => Some(KeywordField::Host),
        Field::Source => Some(KeywordField::Source),
        _ => None,
    }
}

fn field_must_match(field: &Field, predicate: &Predicate, index: &SkipIndex) -> bool {
    match (field, predicate) {
        (Field::Status, Predicate::Exists) => true,
        (Field::Status, Predicate::Term(v) | Predicate::Phrase(v)) => {
            let status = Status::normalize(v);
            index.statuses().all(|s| s == status)
        }
        (Field::Service | Field::Host | Field::Source, Predicate::Exists) => {
            keyword(field).is_some_and(|k| !index.field(k).ever_missing())
        }
        (
            Field::Service | Field::Host | Field::Source,
            Predicate::Term(v) | Predicate::Phrase(v),
        ) => keyword(field).is_some_and(|k| {
            let summary = index.field(k);
            !summary.ever_missing()
                && summary
                    .values()
                    .is_some_and(|set| set.len() == 1 && set.contains(v.as_str()))
        }),
        (Field::Tags, Predicate::Exists) => !index.field(KeywordField::Tags).ever_missing(),
        (Field::TraceId, Predicate::Exists) => !index.trace_id().ever_missing(),
        _ => false,
    }
}

fn field_may_match(field: &Field, test: Test<'_>, index: &SkipIndex) -> bool {
    match field {
        Field::Default | Field::Message => match test {
            Test::Pred(predicate) => message_may_match(predicate, index),
            Test::Cidr(_) => true,
        },
        Field::AnyAttribute => true,
        Field::Status => status_may_match(test, index),
        Field::TraceId => trace_id_may_match(test, index),
        Field::Service | Field::Host | Field::Source => keyword(field).is_some_and(|k| {
            // Empty values are never in the set (they count as missing).
            values_may_match(index.field(k), test, |value| {
                (!value.is_empty()).then_some(value)
            })
        }),
        Field::Tags => values_may_match(index.field(KeywordField::Tags), test, Some),
        Field::Tag(key) => values_may_match(index.field(KeywordField::Tags), test, |tag| {
            tag.strip_prefix(key.as_str())?.strip_prefix(':')
        }),
        Field::Attribute(path) => attribute_may_match(path, test, index),
    }
}

/// Message terms, phrases and wildcards: every word run that the matcher
/// must find as a whole token.
fn message_may_match(predicate: &Predicate, index: &SkipIndex) -> bool {
    match predicate {
        Predicate::Term(text) | Predicate::Phrase(text) => {
            let lower = text.to_lowercase();
            let all_present = tokens(&lower).all(|token| index.may_contain_token(token));
            all_present
        }
        Predicate::Wildcard(pattern) => bounded_literal_tokens(pattern)
            .iter()
            .all(|token| index.may_contain_token(token)),
        Predicate::Exists | Predicate::Compare { .. } | Predicate::Range { .. } => true,
    }
}

/// The word runs of a free-text wildcard's literal text that must be whole
/// tokens of a matching message: runs bounded on each side by a non-word
/// character of the literal text or by the pattern's start or end. A run
/// next to `*` or `?` may be part of a longer token, so it does not count.
/// Literals are lower-cased one by one, as the matcher does.
fn bounded_literal_tokens(pattern: &Pattern) -> Vec<String> {
    // The literal texts between wildcards (adjacent literals joined).
    let mut groups = vec![String::new()];
    for part in &pattern.0 {
        match part {
            PatternPart::Literal(literal) => {
                if let Some(group) = groups.last_mut() {
                    group.push_str(&literal.to_lowercase());
                }
            }
            PatternPart::Star | PatternPart::Question => groups.push(String::new()),
        }
    }
    let last = groups.len() - 1;
    let mut out = Vec::new();
    for (i, text) in groups.iter().enumerate() {
        let wildcard_before = i > 0;
        let wildcard_after = i < last;
        for (start, end) in word_runs(text) {
            // A run not at the group's edge is next to a non-word character.
            let left = start > 0 || !wildcard_before;
            let right = end < text.len() || !wildcard_after;
            if left && right {
                out.extend(text.get(start..end).map(str::to_string));
            }
        }
    }
    out
}

/// Byte ranges of the maximal runs of word characters of `text`.
fn word_runs(text: &str) -> Vec<(usize, usize)> {
    let mut runs = Vec::new();
    let mut start = None;
    for (at, c) in text.char_indices() {
        match (is_word_char(c), start) {
            (true, None) => start = Some(at),
            (false, Some(s)) => {
                runs.push((s, at));
                start = None;
            }
            _ => {}
        }
    }
    if let Some(s) = start {
        runs.push((s, text.len()));
    }
    runs
}

fn status_may_match(test: Test<'_>, index: &SkipIndex) -> bool {
    match test {
        Test::Pred(Predicate::Term(v) | Predicate::Phrase(v)) => {
            index.may_contain_status(Status::normalize(v))
        }
        // Wildcards on status are lower-cased and matched against the name;
        // comparisons use the name's text.
        _ => index
            .statuses()
            .any(|s| text_may_match(s.as_str(), test, true)),
    }
}

fn trace_id_may_match(test: Test<'_>, index: &SkipIndex) -> bool {
    match test {
        Test::Pred(Predicate::Term(v) | Predicate::Phrase(v)) => index.may_contain_trace_id(v),
        _ => index.trace_id().ever_present(),
    }
}

/// A keyword field: `leaf` maps each stored value to what the predicate
/// sees (`None`: nothing, e.g. a tag with another key).
fn values_may_match<'v>(
    summary: &'v ValueSummary,
    test: Test<'_>,
    leaf: impl Fn(&'v str) -> Option<&'v str>,
) -> bool {
    if !summary.ever_present() {
        return false;
    }
    match summary.values() {
        None => true,
        Some(set) => set
            .iter()
            .filter_map(|value| leaf(value))
            .any(|value| text_may_match(value, test, false)),
    }
}

fn attribute_may_match(path: &str, test: Test<'_>, index: &SkipIndex) -> bool {
    let Some(attributes) = index.attributes() else {
        return true;
    };
    // JSON stored under a dotted prefix (`@a` holding `[{"b":1}]` for
    // `@a.b`) can hold anything.
    let json_prefix = path
        .match_indices('.')
        .filter_map(|(at, _)| path.get(..at))
        .any(|prefix| {
            attributes
                .get(prefix)
                .is_some_and(AttributeSummary::has_json)
        });
    if json_prefix {
        return true;
    }
    let summary = attributes.get(path);
    if let Test::Pred(Predicate::Exists) = test {
        // `@a:*` also holds when only deeper paths (`a.b`) exist.
        let deeper = format!("{path}.");
        return summary.is_some()
            || attributes
                .range::<str, _>((Bound::Included(deeper.as_str()), Bound::Unbounded))
                .next()
                .is_some_and(|(key, _)| key.starts_with(&deeper));
    }
    let Some(summary) = summary else {
        return false;
    };
    if summary.has_json() {
        return true;
    }
    (summary.has_strings() && strings_may_match(summary.string_values(), test))
        || ((summary.has_ints() || summary.has_floats())
            && numbers_may_match(summary.numeric_range(), test))
        || (summary.has_bools()
            && ["true", "false"]
                .iter()
                .any(|text| bool_may_match(text, test)))
}

fn strings_may_match(set: Option<&BTreeSet<String>>, test: Test<'_>) -> bool {
    match set {
        None => true,
        Some(set) => set.iter().any(|s| text_may_match(s, test, false)),
    }
}

/// A boolean value, seen as the text `true`/`false`: equal, glob and
/// lexical comparisons on the text; never an IP address.
fn bool_may_match(text: &str, test: Test<'_>) -> bool {
    match test {
        Test::Cidr(_) => false,
        Test::Pred(_) => text_may_match(text, test, false),
    }
}

/// Integer and float values within `range` (`None`: unknown, e.g. NaN).
fn numbers_may_match(range: Option<(f64, f64)>, test: Test<'_>) -> bool {
    let Some((lo, hi)) = range else {
        return true;
    };
    let Test::Pred(predicate) = test else {
        // Only strings parse as IP addresses.
        return false;
    };
    match predicate {
        Predicate::Exists | Predicate::Wildcard(_) => true,
        // A query value that is not a number never equals a number.
        Predicate::Term(v) | Predicate::Phrase(v) => match parse_num(v) {
            None => false,
            Some(q) => exact(q).is_none_or(|q| lo <= q && q <= hi),
        },
        Predicate::Compare { op, value } => match parse_num(value).and_then(exact) {
            // Not a number: compared as text; or not exactly comparable.
            None => true,
            Some(q) => match op {
                CompareOp::Gt => hi > q,
                CompareOp::Ge => hi >= q,
                CompareOp::Lt => lo < q,
                CompareOp::Le => lo <= q,
            },
        },
        Predicate::Range { lower, upper } => {
            let above = lower.as_ref().is_none_or(|(value, inclusive)| {
                parse_num(value).and_then(exact).is_none_or(|q| {
                    if *inclusive {
                        hi >= q
                    } else {
                        hi > q
                    }
                })
            });
            let below = upper.as_ref().is_none_or(|(value, inclusive)| {
                parse_num(value).and_then(exact).is_none_or(|q| {
                    if *inclusive {
                        lo <= q
                    } else {
                        lo < q
                    }
                })
            });
            above && below
        }
    }
}

/// A string value (or a status name, or a bool's text) against a test, as
/// the matcher tests a string leaf. `lower_glob` lower-cases the wildcard's
/// literals first (status).
fn text_may_match(value: &str, test: Test<'_>, lower_glob: bool) -> bool {
    let predicate = match test {
        Test::Cidr(blocks) => {
            return value.trim().parse::<IpAddr>().is_ok_and(|ip| {
                let canonical = ip.to_canonical();
                blocks
                    .iter()
                    .any(|b| b.contains(ip) || b.contains(canonical))
            });
        }
        Test::Pred(predicate) => predicate,
    };
    match predicate {
        Predicate::Exists => true,
        Predicate::Term(v) | Predicate::Phrase(v) => value == v,
        Predicate::Wildcard(pattern) => glob_matches(pattern, value, lower_glob),
        Predicate::Compare { op, value: rhs } => {
            let ord = compare_text(value, rhs);
            match op {
                CompareOp::Gt => ord == Ordering::Greater,
                CompareOp::Ge => ord != Ordering::Less,
                CompareOp::Lt => ord == Ordering::Less,
                CompareOp::Le => ord != Ordering::Greater,
            }
        }
        Predicate::Range { lower, upper } => {
            let above = lower.as_ref().is_none_or(|(rhs, inclusive)| {
                let ord = compare_text(value, rhs);
                ord == Ordering::Greater || (*inclusive && ord == Ordering::Equal)
            });
            let below = upper.as_ref().is_none_or(|(rhs, inclusive)| {
                let ord = compare_text(value, rhs);
                ord == Ordering::Less || (*inclusive && ord == Ordering::Equal)
            });
            above && below
        }
    }
}

/// How the matcher compares a string with a query value: numerically when
/// both parse as numbers, else by text. An incomparable pair (never the
/// case for finite numbers) is treated as equal, which keeps `>=`/`<=`
/// and inclusive ranges conservative.
fn compare_text(value: &str, rhs: &str) -> Ordering {
    match (parse_num(value), parse_num(rhs)) {
        (Some(a), Some(b)) => cmp_num(a, b).unwrap_or(Ordering::Equal),
        _ => value.cmp(rhs),
    }
}

/// The query number as an `f64` the bounds can be compared with, or `None`
/// when that would be unsound: an integer beyond 2^53 is compared exactly
/// with integer values by the matcher, and its `f64` is rounded.
fn exact(n: Num) -> Option<f64> {
    const EXACT: i64 = 1 << 53;
    match n {
        Num::Int(i) if (-EXACT..=EXACT).contains(&i) => Some(i as f64),
        Num::Int(_) => None,
        Num::Float(f) => Some(f),
    }
}

/// Whether `pattern` matches the whole of `text` (`*`: any run, `?`: one
/// character), literals lower-cased first when `lower`.
fn glob_matches(pattern: &Pattern, text: &str, lower: bool) -> bool {
    #[derive(Clone, Copy, PartialEq)]
    enum Atom {
        Char(char),
        Any,
        Star,
    }
    let mut atoms = Vec::new();
    for part in &pattern.0 {
        match part {
            PatternPart::Literal(literal) if lower => {
                atoms.extend(literal.to_lowercase().chars().map(Atom::Char));
            }
            PatternPart::Literal(literal) => atoms.extend(literal.chars().map(Atom::Char)),
            PatternPart::Question => atoms.push(Atom::Any),
            PatternPart::Star => atoms.push(Atom::Star),
        }
    }
    let chars: Vec<char> = text.chars().collect();
    // Greedy with backtracking to the last star: linear in practice.
    let (mut t, mut p) = (0usize, 0usize);
    let mut last_star: Option<(usize, usize)> = None;
    while t < chars.len() {
        match (atoms.get(p), chars.get(t)) {
            (Some(Atom::Star), _) => {
                last_star = Some((p, t));
                p += 1;
            }
            (Some(Atom::Any), _) => {
                p += 1;
                t += 1;
            }
            (Some(Atom::Char(a)), Some(c)) if a == c => {
                p += 1;
                t += 1;
            }
            _ => match last_star {
                Some((star_p, star_t)) => {
                    p = star_p + 1;
                    t = star_t + 1;
                    last_star = Some((star_p, star_t + 1));
                }
                None => return false,
            },
        }
    }
    atoms
        .get(p..)
        .is_some_and(|rest| rest.iter().all(|a| *a == Atom::Star))
}

#[cfg(test)]
mod tests {
    //! Each rule on hand-made segments, then a property test against the
    //! real [`Matcher`]: whenever an event of a random segment matches a
    //! random query, `may_match` must say so.
    //!
    //! They make this file longer than 800 lines: they were written inline
    //! because the change that added pruning could touch only this file;
    //! moving them to `prune/tests.rs` is a mechanical follow-up.

    use proptest::prelude::*;
    use strata_types::{AttrValue, Event};

    use super::*;
    use crate::Matcher;

    fn event(message: &str) -> Event {
        Event::new(0, message.to_string())
    }

    fn index(events: &[Event]) -> SkipIndex {
        SkipIndex::build(events)
    }

    fn term(field: Field, text: &str) -> Query {
        Query::Match {
            field,
            predicate: Predicate::Term(text.to_string()),
        }
    }

    fn exists(field: Field) -> Query {
        Query::Match {
            field,
            predicate: Predicate::Exists,
        }
    }

    fn wildcard(field: Field, parts: &[&str]) -> Query {
        let parts = parts
            .iter()
            .map(|p| match *p {
                "*" => PatternPart::Star,
                "?" => PatternPart::Question,
                text => PatternPart::Literal(text.to_string()),
            })
            .collect();
        Query::Match {
            field,
            predicate: Predicate::Wildcard(Pattern(parts)),
        }
    }

    fn compare(field: Field, op: CompareOp, value: &str) -> Query {
        Query::Match {
            field,
            predicate: Predicate::Compare {
                op,
                value: value.to_string(),
            },
        }
    }

    fn range(field: Field, lower: Option<(&str, bool)>, upper: Option<(&str, bool)>) -> Query {
        Query::Match {
            field,
            predicate: Predicate::Range {
                lower: lower.map(|(v, i)| (v.to_string(), i)),
                upper: upper.map(|(v, i)| (v.to_string(), i)),
            },
        }
    }

    fn attr(path: &str) -> Field {
        Field::Attribute(path.to_string())
    }

    fn cidr(field: Field, block: &str) -> Query {
        let (addr, prefix) = block.split_once('/').unwrap();
        Query::Cidr {
            field,
            blocks: vec![CidrBlock {
                addr: addr.parse().unwrap(),
                prefix: prefix.parse().unwrap(),
            }],
        }
    }

    fn not(q: Query) -> Query {
        Query::Not(Box::new(q))
    }

    #[test]
    fn message_terms_need_every_word_run() {
        let idx = index(&[event("Connection refused by upstream-DB at 10.0.0.7")]);
        assert!(may_match(&term(Field::Default, "refused"), &idx));
        assert!(may_match(&term(Field::Default, "REFUSED"), &idx));
        assert!(may_match(&term(Field::Message, "upstream-db"), &idx));
        assert!(may_match(&term(Field::Default, "10.0.0.7"), &idx));
        assert!(!may_match(&term(Field::Default, "refuse"), &idx));
        assert!(!may_match(&term(Field::Default, "upstream-cache"), &idx));
        let phrase = Query::Match {
            field: Field::Default,
            predicate: Predicate::Phrase("connection timeout".to_string()),
        };
        assert!(!may_match(&phrase, &idx));
        // No word run: nothing to look up.
        assert!(may_match(&term(Field::Default, "->"), &idx));
        assert!(may_match(&term(Field::Default, ""), &idx));
        // Non-word-bounded comparisons and existence are not pruned.
        assert!(may_match(&exists(Field::Message), &idx));
        assert!(may_match(
            &compare(Field::Message, CompareOp::Gt, "zzz"),
            &idx
        ));
        assert!(may_match(&cidr(Field::Default, "192.168.0.0/16"), &idx));
    }

    #[test]
    fn message_wildcards_use_only_bounded_runs() {
        let idx = index(&[event("Connection refused by upstream")]);
        // `conn*`: the run touches the star.
        assert!(may_match(&wildcard(Field::Default, &["zzz", "*"]), &idx));
        assert!(may_match(&wildcard(Field::Default, &["*", "zzz"]), &idx));
        assert!(may_match(&wildcard(Field::Default, &["?", "zzz"]), &idx));
        // `zzz *`: the run is bounded by the start and the space.
        assert!(!may_match(&wildcard(Field::Default, &["zzz ", "*"]), &idx));
        assert!(!may_match(&wildcard(Field::Default, &["*", " zzz"]), &idx));
        assert!(!may_match(
            &wildcard(Field::Default, &["*", "x zzz y", "*"]),
            &idx
        ));
        assert!(may_match(
            &wildcard(Field::Default, &["*", "x refused y", "*"]),
            &idx
        ));
        // Adjacent literals form one text; literals are lower-cased.
        assert!(may_match(&wildcard(Field::Default, &["REF", "USED"]), &idx));
        assert!(!may_match(&wildcard(Field::Default, &["ref", "use"]), &idx));
        assert_eq!(
            bounded_literal_tokens(&Pattern(vec![
                PatternPart::Literal("a.B".to_string()),
                PatternPart::Star,
                PatternPart::Literal("c d-".to_string()),
                PatternPart::Question,
                PatternPart::Literal("-E".to_string()),
            ])),
            ["a", "d", "e"]
        );
    }

    #[test]
    fn keyword_value_sets() {
        let mut a = event("x");
        a.service = Some("web".to_string());
        a.host = Some(String::new());
        a.source = Some("10.1.2.3".to_string());
        let b = event("y");
        let idx = index(&[a, b]);
        assert!(may_match(&term(Field::Service, "web"), &idx));
        assert!(!may_match(&term(Field::Service, "Web"), &idx));
        assert!(!may_match(&term(Field::Service, ""), &idx));
        assert!(may_match(&wildcard(Field::Service, &["w", "*"]), &idx));
        assert!(!may_match(&wildcard(Field::Service, &["x", "*"]), &idx));
        assert!(may_match(
            &compare(Field::Service, CompareOp::Gt, "a"),
            &idx
        ));
        assert!(!may_match(
            &compare(Field::Service, CompareOp::Gt, "x"),
            &idx
        ));
        assert!(may_match(&exists(Field::Service), &idx));
        // An empty host is no host.
        assert!(!may_match(&exists(Field::Host), &idx));
        assert!(!may_match(&term(Field::Host, ""), &idx));
        assert!(!may_match(&wildcard(Field::Host, &["*"]), &idx));
        assert!(may_match(&cidr(Field::Source, "10.0.0.0/8"), &idx));
        assert!(!may_match(&cidr(Field::Source, "192.168.0.0/16"), &idx));
        assert!(!may_match(&cidr(Field::Service, "0.0.0.0/0"), &idx));
    }

    #[test]
    fn unknown_value_set_prunes_only_on_presence() {
        let events: Vec<Event> = (0..300)
            .map(|i| {
                let mut e = event("x");
                e.service = Some(format!("svc-{i}"));
                e
            })
            .collect();
        let idx = index(&events);
        assert!(idx.field(KeywordField::Service).values().is_none());
        assert!(may_match(&term(Field::Service, "anything"), &idx));
        assert!(!may_match(&exists(Field::Host), &idx));
        assert!(!may_match(&term(Field::Host, "h"), &idx));
    }

    #[test]
    fn status_is_normalised() {
        let mut a = event("x");
        a.status = Status::Error;
        let idx = index(&[a]);
        assert!(may_match(&term(Field::Status, "error"), &idx));
        assert!(may_match(&term(Field::Status, "ERR"), &idx));
        assert!(may_match(&term(Field::Status, "3"), &idx));
        assert!(!may_match(&term(Field::Status, "info"), &idx));
        assert!(!may_match(&term(Field::Status, "unknown-word"), &idx));
        assert!(may_match(&wildcard(Field::Status, &["ERR", "*"]), &idx));
        assert!(!may_match(&wildcard(Field::Status, &["warn", "*"]), &idx));
        assert!(may_match(&exists(Field::Status), &idx));
        assert!(may_match(&compare(Field::Status, CompareOp::Ge, "e"), &idx));
        assert!(!may_match(
            &compare(Field::Status, CompareOp::Gt, "f"),
            &idx
        ));
    }

    #[test]
    fn tags_and_tag_keys() {
        let mut a = event("x");
        a.tags = vec!["env:prod".to_string(), "bare".to_string()];
        let idx = index(&[a, event("no tags")]);
        assert!(may_match(&term(Field::Tags, "bare"), &idx));
        assert!(may_match(&term(Field::Tags, "env:prod"), &idx));
        assert!(!may_match(&term(Field::Tags, "env"), &idx));
        assert!(may_match(
            &term(Field::Tag("env".to_string()), "prod"),
            &idx
        ));
        assert!(!may_match(
            &term(Field::Tag("env".to_string()), "dev"),
            &idx
        ));
        assert!(may_match(&exists(Field::Tag("env".to_string())), &idx));
        assert!(!may_match(&exists(Field::Tag("bare".to_string())), &idx));
        assert!(!may_match(&exists(Field::Tag("team".to_string())), &idx));
        assert!(may_match(
            &wildcard(Field::Tag("env".to_string()), &["p", "*"]),
            &idx
        ));
        assert!(!may_match(
            &wildcard(Field::Tag("env".to_string()), &["d", "*"]),
            &idx
        ));
        assert!(may_match(&exists(Field::Tags), &idx));
        assert!(!may_match(&exists(Field::Tags), &index(&[event("x")])));
    }

    #[test]
    fn trace_ids_use_their_filter() {
        let mut a = event("x");
        a.trace_id = Some("4bf92f3577b34da6".to_string());
        let idx = index(&[a, event("y")]);
        assert!(may_match(&term(Field::TraceId, "4bf92f3577b34da6"), &idx));
        assert!(!may_match(&term(Field::TraceId, "00000000deadbeef"), &idx));
        assert!(may_match(&exists(Field::TraceId), &idx));
        let none = index(&[event("x")]);
        assert!(!may_match(&exists(Field::TraceId), &none));
        assert!(!may_match(&wildcard(Field::TraceId, &["4", "*"]), &none));
    }

    fn with_attrs(attrs: &[(&str, AttrValue)]) -> Event {
        let mut e = event("x");
        e.attributes = attrs
            .iter()
            .map(|(p, v)| (p.to_string(), v.clone()))
            .collect();
        e
    }

    #[test]
    fn absent_attribute_prunes_everything_but_negation() {
        let idx = index(&[with_attrs(&[("http.code", AttrValue::Int(200))])]);
        let missing = attr("http.method");
        for q in [
            term(missing.clone(), "GET"),
            wildcard(missing.clone(), &["*"]),
            exists(missing.clone()),
            compare(missing.clone(), CompareOp::Gt, "1"),
            range(missing.clone(), Some(("a", true)), None),
            cidr(missing.clone(), "0.0.0.0/0"),
        ] {
            assert!(!may_match(&q, &idx), "{q:?}");
        }
        assert!(may_match(&not(exists(missing)), &idx));
        // `@http:*` holds through the deeper path.
        assert!(may_match(&exists(attr("http")), &idx));
        assert!(!may_match(&exists(attr("htt")), &idx));
        assert!(!may_match(&term(attr("http"), "x"), &idx));
    }

    #[test]
    fn json_under_a_prefix_is_unknown() {
        let idx = index(&[with_attrs(&[(
            "items",
            AttrValue::Json(r#"[{"id":7}]"#.to_string()),
        )])]);
        assert!(may_match(&term(attr("items.id"), "7"), &idx));
        assert!(may_match(&term(attr("items"), "7"), &idx));
        assert!(!may_match(&term(attr("other.id"), "7"), &idx));
    }

    #[test]
    fn numeric_attributes_use_the_range() {
        let idx = index(&[
            with_attrs(&[("code", AttrValue::Int(200))]),
            with_attrs(&[("code", AttrValue::Float(404.5))]),
        ]);
        let code = attr("code");
        assert!(may_match(&term(code.clone(), "200"), &idx));
        assert!(may_match(&term(code.clone(), "300"), &idx));
        assert!(may_match(&term(code.clone(), "2e2"), &idx));
        assert!(!may_match(&term(code.clone(), "500"), &idx));
        assert!(!may_match(&term(code.clone(), "199.9"), &idx));
        // Not a number: never equal to a number.
        assert!(!may_match(&term(code.clone(), "abc"), &idx));
        assert!(!may_match(&term(code.clone(), "inf"), &idx));
        assert!(may_match(
            &compare(code.clone(), CompareOp::Gt, "404"),
            &idx
        ));
        assert!(!may_match(
            &compare(code.clone(), CompareOp::Gt, "404.5"),
            &idx
        ));
        assert!(may_match(
            &compare(code.clone(), CompareOp::Ge, "404.5"),
            &idx
        ));
        assert!(!may_match(
            &compare(code.clone(), CompareOp::Lt, "200"),
            &idx
        ));
        assert!(may_match(
            &compare(code.clone(), CompareOp::Le, "200"),
            &idx
        ));
        // Lexical when the query value is not a number.
        assert!(may_match(
            &compare(code.clone(), CompareOp::Gt, "abc"),
            &idx
        ));
        assert!(!may_match(
            &range(code.clone(), Some(("500", true)), None),
            &idx
        ));
        assert!(!may_match(
            &range(code.clone(), Some(("404.5", false)), Some(("999", true))),
            &idx
        ));
        assert!(may_match(
            &range(code.clone(), Some(("300", true)), Some(("400", true))),
            &idx
        ));
        assert!(!may_match(&cidr(code.clone(), "0.0.0.0/0"), &idx));
        assert!(may_match(&wildcard(code, &["2", "*"]), &idx));
    }

    #[test]
    fn huge_integers_and_nan_are_not_pruned_unsoundly() {
        let big = (1i64 << 60) + 1;
        let idx = index(&[with_attrs(&[("n", AttrValue::Int(big))])]);
        assert!(may_match(&term(attr("n"), &big.to_string()), &idx));
        assert!(may_match(
            &compare(attr("n"), CompareOp::Gt, &(big - 1).to_string()),
            &idx
        ));
        assert!(!may_match(&term(attr("n"), "5"), &idx));
        let idx = index(&[with_attrs(&[("f", AttrValue::Float(f64::NAN))])]);
        assert!(may_match(&compare(attr("f"), CompareOp::Gt, "1"), &idx));
    }

    #[test]
    fn string_and_bool_attributes() {
        let idx = index(&[with_attrs(&[
            ("method", AttrValue::Str("GET".to_string())),
            ("ip", AttrValue::Str("10.0.0.1".to_string())),
            ("ok", AttrValue::Bool(true)),
            ("mixed", AttrValue::Str("200".to_string())),
            ("mixed", AttrValue::Int(7)),
        ])]);
        assert!(may_match(&term(attr("method"), "GET"), &idx));
        assert!(!may_match(&term(attr("method"), "get"), &idx));
        assert!(!may_match(&term(attr("method"), "POST"), &idx));
        assert!(may_match(&wildcard(attr("method"), &["G", "?", "T"]), &idx));
        assert!(may_match(&cidr(attr("ip"), "10.0.0.0/8"), &idx));
        assert!(!may_match(&cidr(attr("ip"), "11.0.0.0/8"), &idx));
        assert!(may_match(&term(attr("ok"), "true"), &idx));
        assert!(may_match(&term(attr("ok"), "false"), &idx));
        assert!(!may_match(&term(attr("ok"), "yes"), &idx));
        // "200" as a string matches only the text; 7 only numerically.
        assert!(may_match(&term(attr("mixed"), "200"), &idx));
        assert!(may_match(&term(attr("mixed"), "7"), &idx));
        assert!(!may_match(&term(attr("mixed"), "200.0"), &idx));
        // Comparisons treat numeric strings as numbers.
        assert!(may_match(
            &compare(attr("mixed"), CompareOp::Gt, "150"),
            &idx
        ));
        assert!(!may_match(
            &compare(attr("mixed"), CompareOp::Gt, "250"),
            &idx
        ));
    }

    #[test]
    fn unknown_attributes_prune_nothing() {
        let mut e = event("x");
        e.attributes = (0..=strata_segment::skip_index::MAX_ATTRIBUTE_PATHS)
            .map(|i| (format!("p{i}"), AttrValue::Int(1)))
            .collect();
        let idx = index(&[e]);
        assert!(idx.attributes().is_none());
        assert!(may_match(&term(attr("nope"), "1"), &idx));
        assert!(may_match(&exists(attr("nope")), &idx));
    }

    #[test]
    fn boolean_structure() {
        let mut a = event("disk full");
        a.service = Some("db".to_string());
        let idx = index(&[a]);
        let yes = term(Field::Default, "disk");
        let no = term(Field::Default, "network");
        assert!(may_match(&Query::MatchAll, &idx));
        assert!(may_match(&Query::And(vec![yes.clone(), yes.clone()]), &idx));
        assert!(!may_match(&Query::And(vec![yes.clone(), no.clone()]), &idx));
        assert!(may_match(&Query::Or(vec![no.clone(), yes.clone()]), &idx));
        assert!(!may_match(&Query::Or(vec![no.clone(), no.clone()]), &idx));
        assert!(!may_match(&Query::Or(Vec::new()), &idx));
        assert!(may_match(&Query::And(Vec::new()), &idx));
        // Negations: pruned only when the inner query holds for every row.
        assert!(may_match(&not(no), &idx));
        assert!(may_match(&not(yes), &idx));
        assert!(!may_match(&not(exists(Field::Service)), &idx));
        assert!(!may_match(&not(term(Field::Service, "db")), &idx));
        assert!(!may_match(&not(term(Field::Status, "info")), &idx));
        assert!(may_match(&not(term(Field::Status, "error")), &idx));
        assert!(!may_match(&not(Query::MatchAll), &idx));
        assert!(may_match(&not(not(exists(Field::Service))), &idx));
        assert!(!may_match(&not(not(exists(Field::Host))), &idx));
        let mut b = event("y");
        b.service = Some(String::new());
        let idx = index(&[event("x"), b]);
        assert!(may_match(&not(exists(Field::Service)), &idx));
    }

    // --- property test against the matcher ---

    const WORDS: &[&str] = &[
        "error",
        "Error",
        "timeout",
        "conn-refused",
        "GET",
        "/api/v1",
        "x_y",
        "ÉCHEC",
        "échec",
        "42",
        "4.5",
        "ΟΔΟΣ",
        "",
    ];
    const SEPARATORS: &[&str] = &[" ", "-", ".", "/", ": ", ""];
    const VALUES: &[&str] = &[
        "web", "api", "", "Web", "200", "1e3", "10.0.0.1", "prod", "env:prod", "true", "GET", "-5",
        "abc", "échec",
    ];
    const PATHS: &[&str] = &["a", "a.b", "code", "n", "s", "flag", "missing", "a.c"];
    const TAGS: &[&str] = &["env:prod", "env:dev", "team:a", "bare", ""];

    fn pick(items: &'static [&'static str]) -> impl Strategy<Value = &'static str> {
        proptest::sample::select(items)
    }

    fn arb_message() -> impl Strategy<Value = String> {
        proptest::collection::vec((pick(WORDS), pick(SEPARATORS)), 0..5)
            .prop_map(|parts| parts.iter().map(|(w, s)| format!("{w}{s}")).collect())
    }

    fn arb_attr_value() -> impl Strategy<Value = AttrValue> {
        prop_oneof![
            pick(VALUES).prop_map(|s| AttrValue::Str(s.to_string())),
            (-5i64..500).prop_map(AttrValue::Int),
            prop_oneof![Just(-1.5), Just(200.0), Just(4.5), Just(f64::NAN)]
                .prop_map(AttrValue::Float),
            any::<bool>().prop_map(AttrValue::Bool),
            prop_oneof![
                Just("[1,2]"),
                Just(r#"[{"b":1}]"#),
                Just(r#"{"b":"x"}"#),
                Just("null")
            ]
            .prop_map(|j| AttrValue::Json(j.to_string())),
        ]
    }

    fn arb_event() -> impl Strategy<Value = Event> {
        (
            arb_message(),
            proptest::option::of(pick(VALUES)),
            proptest::option::of(pick(VALUES)),
            proptest::sample::select(&Status::ALL[..]),
            proptest::option::of(pick(&["abc", "def", ""])),
            proptest::collection::vec(pick(TAGS), 0..3),
            proptest::collection::vec((pick(PATHS), arb_attr_value()), 0..4),
        )
            .prop_map(|(message, service, host, status, trace, tags, attrs)| {
                let mut e = Event::new(0, message);
                e.service = service.map(str::to_string);
                e.host = host.map(str::to_string);
                e.status = status;
                e.trace_id = trace.map(str::to_string);
                e.tags = tags.into_iter().map(str::to_string).collect();
                e.attributes = attrs.into_iter().map(|(p, v)| (p.to_string(), v)).collect();
                e
            })
    }

    fn arb_field() -> impl Strategy<Value = Field> {
        prop_oneof![
            Just(Field::Default),
            Just(Field::Message),
            Just(Field::Service),
            Just(Field::Host),
            Just(Field::Status),
            Just(Field::TraceId),
            Just(Field::Tags),
            pick(&["env", "team", "bare"]).prop_map(|k| Field::Tag(k.to_string())),
            pick(PATHS).prop_map(|p| Field::Attribute(p.to_string())),
            Just(Field::AnyAttribute),
        ]
    }

    fn arb_text() -> impl Strategy<Value = String> {
        prop_oneof![
            pick(VALUES).prop_map(str::to_string),
            pick(WORDS).prop_map(str::to_string),
            (pick(WORDS), pick(SEPARATORS), pick(WORDS)).prop_map(|(a, s, b)| format!("{a}{s}{b}")),
            pick(&["info", "ERR", "3", "warn", "1.5", "499", "200.0", "x"])
                .prop_map(str::to_string),
        ]
    }

    fn arb_predicate() -> impl Strategy<Value = Predicate> {
        let part = prop_oneof![
            arb_text().prop_map(PatternPart::Literal),
            Just(PatternPart::Star),
            Just(PatternPart::Question),
        ];
        let op = prop_oneof![
            Just(CompareOp::Gt),
            Just(CompareOp::Ge),
            Just(CompareOp::Lt),
            Just(CompareOp::Le),
        ];
        prop_oneof![
            arb_text().prop_map(Predicate::Term),
            arb_text().prop_map(Predicate::Phrase),
            proptest::collection::vec(part, 1..4).prop_map(|p| Predicate::Wildcard(Pattern(p))),
            (op, arb_text()).prop_map(|(op, value)| Predicate::Compare { op, value }),
            (
                proptest::option::of((arb_text(), any::<bool>())),
                proptest::option::of((arb_text(), any::<bool>()))
            )
                .prop_map(|(lower, upper)| Predicate::Range { lower, upper }),
            Just(Predicate::Exists),
        ]
    }

    fn arb_query() -> impl Strategy<Value = Query> {
        let leaf = prop_oneof![
            6 => (arb_field(), arb_predicate())
                .prop_map(|(field, predicate)| Query::Match { field, predicate }),
            1 => (arb_field(), pick(&["10.0.0.0/8", "0.0.0.0/0", "192.168.1.0/24", "::/0"]))
                .prop_map(|(field, block)| cidr(field, block)),
            1 => Just(Query::MatchAll),
        ];
        leaf.prop_recursive(2, 8, 3, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..3).prop_map(Query::And),
                proptest::collection::vec(inner.clone(), 0..3).prop_map(Query::Or),
                inner.prop_map(|q| Query::Not(Box::new(q))),
            ]
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2_000))]

        #[test]
        fn never_prunes_a_segment_with_a_match(
            events in proptest::collection::vec(arb_event(), 1..4),
            query in arb_query(),
        ) {
            let built = SkipIndex::build(&events);
            // Also through the on-disk encoding.
            let decoded = SkipIndex::decode(&built.encode()).unwrap().unwrap();
            let matcher = Matcher::new(&query);
            if events.iter().any(|e| matcher.matches(e)) {
                prop_assert!(may_match(&query, &built), "{query:?} over {events:?}");
                prop_assert!(may_match(&query, &decoded));
            }
            if events.iter().all(|e| matcher.matches(e)) {
                // must_match is only ever claimed when true.
            } else {
                prop_assert!(!must_match(&query, &built), "{query:?} over {events:?}");
            }
        }
    }
}
