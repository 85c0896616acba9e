//! Tests for segment pruning by skip index.

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
        prop_oneof![Just(-1.5), Just(200.0), Just(4.5), Just(f64::NAN)].prop_map(AttrValue::Float),
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
        pick(&["info", "ERR", "3", "warn", "1.5", "499", "200.0", "x"]).prop_map(str::to_string),
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
