//! Tests for the matcher: semantics of every construct, plus differential
//! tests of the wildcard program against a brute-force matcher.

use proptest::prelude::*;
use strata_types::{AttrValue, Event, Status};

use super::*;
use crate::parse::parse;

fn event(message: &str) -> Event {
    Event::new(1_700_000_000_000_000_000, message.to_string())
}

fn with_attrs(message: &str, attrs: &[(&str, AttrValue)]) -> Event {
    let mut e = event(message);
    e.attributes = attrs
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect();
    e
}

fn s(v: &str) -> AttrValue {
    AttrValue::Str(v.to_string())
}

fn json(v: &str) -> AttrValue {
    AttrValue::Json(v.to_string())
}

fn matches(query: &str, e: &Event) -> bool {
    let q = parse(query).unwrap_or_else(|err| panic!("{query:?}: {err}"));
    Matcher::new(&q).matches(e)
}

#[track_caller]
fn yes(query: &str, e: &Event) {
    assert!(matches(query, e), "{query:?} should match {e:?}");
}

#[track_caller]
fn no(query: &str, e: &Event) {
    assert!(!matches(query, e), "{query:?} should not match {e:?}");
}

#[test]
fn free_text_is_word_bounded_and_case_insensitive() {
    let e = event("Hello World, the x.foo-bar_baz service said HELLO!");
    for q in [
        "hello",
        "HELLO",
        "world",
        "foo",
        "bar_baz",
        "foo-bar_baz",
        "x.foo",
        "said",
    ] {
        yes(q, &e);
    }
    for q in ["hell", "ello", "bar", "baz", "orld", "helloworld"] {
        no(q, &e);
    }
    yes("\"hello world\"", &e);
    yes("\"world, the\"", &e);
    no("\"hello  world\"", &e);
    no("\"lo wor\"", &e);
    // non-word edges: a match is bounded when it does not cut a word
    let e = event("GET /api/v1/test -> 200");
    yes("\"/api/v1\"", &e);
    yes("\"->\"", &e);
    yes(r"\-\>", &e);
    no("\"pi/v1\"", &e);
    // overlapping occurrences are tried
    yes("a-a", &event("xa-a-a"));
    yes("aba", &event("ababa aba"));
    no("aba", &event("ababa"));
    // empty phrase matches everything
    yes("\"\"", &event(""));
}

#[test]
fn unicode_words_and_case_folding() {
    let e = event("ÉCHEC de la connexion à Ωmega: ОШИБКА");
    for q in [
        "échec",
        "ÉCHEC",
        "Échec",
        "ωmega",
        "ΩMEGA",
        "ошибка",
        "à",
        "connexion",
    ] {
        yes(q, &e);
    }
    no("chec", &e);
    no("mega", &e);
    yes("éch*", &e);
    yes("?chec", &e);
    yes("*шибк*", &e);
    let e = event("échec");
    yes("ÉCHEC", &e);
    // CJK without spaces is one word
    no("日本", &event("日本語"));
    yes("日本語", &event("これは 日本語 です"));
}

#[test]
fn free_text_wildcards() {
    let e = event("webserver started on myweb host");
    yes("web*", &e);
    yes("*web", &e);
    yes("*erver", &e);
    yes("w?bserver", &e);
    yes("*NETWORK*", &event("xnetworky"));
    yes("web*host", &e);
    yes("started*my*", &e);
    no("*web*x", &e);
    no("eb*", &e);
    no("webs?", &e);
    yes("s?art*", &e);
    no("????", &event("abc"));
    yes("???", &event("abc"));
    yes("a*z", &event("a b c z"));
    yes("a*z", &event("a b c zz"));
    no("a*z", &event("a b c zy"));
    // escaped star is literal
    yes(r"a\*b", &event("x a*b y"));
    no(r"a\*b", &event("x ab y"));
    // phrases keep * and ? literal
    yes("\"*test*\"", &event("a *test* b"));
    no("\"*test*\"", &event("attest"));
    no("\"te?t\"", &event("test"));
}

#[test]
fn boolean_structure() {
    let e = event("alpha beta");
    yes("alpha beta", &e);
    no("alpha gamma", &e);
    yes("alpha OR gamma", &e);
    yes("gamma OR beta", &e);
    no("gamma OR delta", &e);
    yes("-gamma", &e);
    no("-alpha", &e);
    yes("NOT (gamma OR delta)", &e);
    yes("gamma OR alpha beta", &e);
    no("(gamma OR alpha) delta", &e);
    yes("*", &e);
    no("-*", &e);
    assert!(Matcher::new(&Query::MatchAll).matches_all());
    assert!(!Matcher::new(&parse("a").unwrap()).matches_all());
    let q = parse("a OR b").unwrap();
    assert_eq!(Matcher::new(&q).query(), &q);
    assert!(!Matcher::new(&Query::And(vec![])).matches_all());
    assert!(Matcher::new(&Query::And(vec![])).matches(&e));
    assert!(!Matcher::new(&Query::Or(vec![])).matches(&e));
}

#[test]
fn message_field_and_exists() {
    let e = event("Disk FULL on sda");
    yes("message:full", &e);
    yes("message:\"full on\"", &e);
    yes("message:dis*", &e);
    no("message:dis", &e);
    yes("message:*", &e);
    no("message:*", &event(""));
    yes("-message:*", &event(""));
    yes("message:>A", &e);
    no("message:>a", &e);
}

fn reserved() -> Event {
    let mut e = event("m");
    e.service = Some("web-store".into());
    e.host = Some("i-123".into());
    e.source = Some("nginx".into());
    e.trace_id = Some("abc123".into());
    e.status = Status::Error;
    e.tags = vec![
        "env:prod".into(),
        "mytag".into(),
        "version:1.2".into(),
        "team:a:b".into(),
    ];
    e
}

#[test]
fn reserved_fields_compare_whole_values() {
    let e = reserved();
    yes("service:web-store", &e);
    no("service:web", &e);
    no("service:Web-store", &e);
    yes("service:web*", &e);
    yes("service:*store", &e);
    no("service:*web", &e);
    yes("service:(api OR web-store)", &e);
    yes("host:i-123", &e);
    yes("source:nginx", &e);
    yes("trace_id:abc123", &e);
    no("trace_id:abc", &e);
    yes("service:*", &e);
    let bare = event("m");
    no("service:*", &bare);
    yes("-service:*", &bare);
    no("host:*", &bare);
    no("service:web-store", &bare);
    let mut empty = event("m");
    empty.service = Some(String::new());
    no("service:*", &empty);
    no("service:\"\"", &empty); // an empty reserved field has no value, for every test
}

#[test]
fn status_is_normalised() {
    let e = reserved();
    for q in [
        "status:error",
        "status:ERROR",
        "status:err",
        "status:3",
        "status:Error",
    ] {
        yes(q, &e);
    }
    for q in ["status:warn", "status:info", "status:critical"] {
        no(q, &e);
    }
    yes("status:e*", &e);
    yes("status:ERR*", &e);
    yes("status:*or", &e);
    no("status:w*", &e);
    yes("status:*", &e);
    let mut w = event("m");
    w.status = Status::Warn;
    yes("status:warning", &w);
    yes("status:WARN", &w);
    yes("status:info", &event("m"));
    yes("status:banana", &event("m"));
    yes("status:[a TO f]", &e);
    no("status:[f TO z]", &e);
}

#[test]
fn tags() {
    let e = reserved();
    yes("env:prod", &e);
    no("env:production", &e);
    no("env:Prod", &e);
    yes("env:pr*", &e);
    yes("env:*", &e);
    no("region:*", &e);
    yes("-region:*", &e);
    yes("tags:mytag", &e);
    yes("tags:env\\:prod", &e);
    yes("tags:\"env:prod\"", &e);
    no("tags:prod", &e);
    no("mytag:*", &e);
    yes("tags:my*", &e);
    yes("version:1.2", &e);
    no("version:1.20", &e);
    yes("version:>1.1", &e);
    yes("version:[1 TO 2]", &e);
    yes("team:a:b", &e);
    yes("tags:*", &e);
    no("tags:*", &event("m"));
    no("env:prod", &event("m"));
}

#[test]
fn attribute_types_and_numbers() {
    let e = with_attrs(
        "m",
        &[
            ("code", AttrValue::Int(200)),
            ("ratio", AttrValue::Float(200.0)),
            ("text200", s("200")),
            ("text200f", s("200.0")),
            ("ok", AttrValue::Bool(true)),
            ("name", s("Peter Pan")),
            ("big", AttrValue::Int(9_007_199_254_740_993)),
            ("empty", s("")),
        ],
    );
    yes("@code:200", &e);
    yes("@code:200.0", &e);
    yes("@code:+200", &e);
    no("@code:201", &e);
    no("@code:abc", &e);
    yes("@ratio:200", &e);
    yes("@text200:200", &e);
    no("@text200f:200", &e);
    yes("@text200f:200.0", &e);
    yes("@code:\"200\"", &e);
    yes("@ok:true", &e);
    no("@ok:TRUE", &e);
    no("@ok:1", &e);
    yes("@name:\"Peter Pan\"", &e);
    yes(r"@name:Peter\ Pan", &e);
    no("@name:peter\\ pan", &e);
    no("@name:Peter", &e);
    yes("@name:Pete*", &e);
    yes("@name:Peter?Pan", &e);
    yes("@code:2*", &e);
    yes("@ok:t*", &e);
    yes("@big:9007199254740993", &e);
    no("@big:9007199254740992", &e);
    yes("@empty:*", &e);
    yes("@empty:\"\"", &e);
    no("@missing:*", &e);
    yes("-@missing:*", &e);
    no("@missing:x", &e);
    no("@cod:200", &e);
    no("@code.x:200", &e);
    // nan/inf are not numbers
    let f = with_attrs("m", &[("x", s("nan")), ("y", AttrValue::Float(f64::NAN))]);
    yes("@x:nan", &f);
    no("@y:>0", &f);
    no("@y:<0", &f);
    yes("@x:>0", &f); // not a number: lexical "nan" > "0"
}

#[test]
fn comparisons_and_ranges() {
    let e = with_attrs(
        "m",
        &[
            ("d", AttrValue::Int(100)),
            ("f", AttrValue::Float(1.5)),
            ("s", s("42")),
            ("w", s("banana")),
            ("neg", AttrValue::Int(-5)),
        ],
    );
    yes("@d:>99", &e);
    no("@d:>100", &e);
    yes("@d:>=100", &e);
    yes("@d:<101", &e);
    no("@d:<100", &e);
    yes("@d:<=100", &e);
    yes("@d:>99.5", &e);
    yes("@f:>=1.5", &e);
    no("@f:>1.5", &e);
    yes("@f:<2", &e);
    yes("@s:>5", &e); // numeric, not lexical ("42" < "5" lexically)
    yes("@w:>apple", &e);
    no("@w:>cherry", &e);
    no("@d:>abc", &e); // lexical: "100" < "abc"
    yes("@d:<abc", &e);
    yes("@neg:<0", &e);
    yes("@neg:>=-5", &e);
    // inclusive / exclusive bounds
    yes("@d:[100 TO 200]", &e);
    no("@d:{100 TO 200]", &e);
    yes("@d:[0 TO 100]", &e);
    no("@d:[0 TO 100}", &e);
    yes("@d:{99 TO 101}", &e);
    yes("@d:[* TO 100]", &e);
    yes("@d:[100 TO *]", &e);
    no("@d:{100 TO *]", &e);
    yes("@d:[* TO *]", &e);
    no("@missing:[* TO *]", &e);
    yes("@d:[2 TO 3e2]", &e);
    yes("@w:[apple TO cherry]", &e);
    no("@w:[cherry TO date]", &e);
    yes("@s:[40 TO 50]", &e);
    yes("@f:[1.5 TO 1.5]", &e);
    no("@f:{1.5 TO 1.5}", &e);
    yes("@d:(>150 OR <120)", &e);
}

#[test]
fn arrays_and_nested_json() {
    let e = with_attrs(
        "m",
        &[
            ("users.names", json(r#"["Peter","Paul"]"#)),
            ("codes", json("[200,404,1.5]")),
            (
                "Event.EventData.Data",
                json(r#"[{"Name":"ObjectServer","Value":7},{"Name":"x","Tags":["a","b"]}]"#),
            ),
            ("nested", json(r#"[[1,2],[3,[4]]]"#)),
            ("dotted", json(r#"[{"a.b":"yes"}]"#)),
            ("flags", json("[true,false]")),
            ("none", json("null")),
            ("empty", json("[]")),
            ("nulls", json("[null]")),
            ("obj", json("{}")),
        ],
    );
    yes("@users.names:Peter", &e);
    yes("@users.names:Paul", &e);
    no("@users.names:Mary", &e);
    yes("@users.names:Pa*", &e);
    no("@users.names:peter", &e);
    yes("@codes:404", &e);
    yes("@codes:1.5", &e);
    yes("@codes:>400", &e);
    no("@codes:>500", &e);
    yes("@codes:[1 TO 2]", &e);
    yes("@Event.EventData.Data.Name:ObjectServer", &e);
    yes("@Event.EventData.Data.Name:x", &e);
    no("@Event.EventData.Data.Name:y", &e);
    yes("@Event.EventData.Data.Value:7", &e);
    yes("@Event.EventData.Data.Value:>6", &e);
    yes("@Event.EventData.Data.Tags:b", &e);
    yes("@Event.EventData.Data.Value:*", &e);
    no("@Event.EventData.Data.Other:*", &e);
    yes("@Event.EventData.Data:*", &e);
    yes("@Event.EventData:*", &e);
    no("@Event.EventData.Data:ObjectServer", &e);
    yes("@nested:4", &e);
    yes("@dotted.a.b:yes", &e);
    yes("@flags:false", &e);
    yes("@users.names:*", &e);
    for q in ["@none:*", "@empty:*", "@nulls:*", "@obj:*", "@none:null"] {
        no(q, &e);
    }
    yes("-@empty:*", &e);
    // a string attribute cannot be walked into
    let f = with_attrs(
        "m",
        &[("a", s("x")), ("http.status_code", AttrValue::Int(500))],
    );
    no("@a.b:*", &f);
    yes("@http:*", &f);
    no("@htt:*", &f);
    yes("@http.status_code:[500 TO 599]", &f);
}

#[test]
fn any_attribute_is_free_text_everywhere() {
    let e = with_attrs(
        "Request done",
        &[
            ("a", s("Say HELLO there")),
            ("code", AttrValue::Int(503)),
            ("list", json(r#"[{"deep":"Needle in json"}]"#)),
        ],
    );
    yes("*:request", &e);
    yes("*:hello", &e);
    yes("*:HEL*", &e);
    no("*:hell", &e);
    yes("*:503", &e);
    yes("*:needle", &e);
    yes("*:\"in json\"", &e);
    no("*:missing", &e);
    yes("*:>500", &e);
    yes("*:*", &e);
    no("*:*", &event(""));
    yes("*:*", &with_attrs("", &[("a", AttrValue::Int(1))]));
}

#[test]
fn cidr() {
    let e = with_attrs(
        "10.1.2.3",
        &[
            ("network.client.ip", s("13.4.5.6")),
            ("v6", s("2001:db8::42")),
            ("ips", json(r#"["192.168.1.1","10.9.9.9"]"#)),
            ("mapped", s("::ffff:10.0.0.1")),
            ("junk", s("not an ip")),
        ],
    );
    yes("CIDR(@network.client.ip,13.0.0.0/8)", &e);
    no("CIDR(@network.client.ip,14.0.0.0/8)", &e);
    yes("CIDR(@network.client.ip, 14.0.0.0/8, 13.4.0.0/16)", &e);
    yes("CIDR(@v6, 2001:db8::/32)", &e);
    no("CIDR(@v6, 2001:db9::/32)", &e);
    no("CIDR(@v6, 0.0.0.0/0)", &e);
    yes("CIDR(@ips, 10.0.0.0/8)", &e);
    no("CIDR(@ips, 172.16.0.0/12)", &e);
    yes("CIDR(@mapped, 10.0.0.0/8)", &e);
    yes("CIDR(@mapped, ::ffff:0:0/96)", &e);
    no("CIDR(@junk, 0.0.0.0/0)", &e);
    no("CIDR(@missing, 0.0.0.0/0)", &e);
    yes("NOT(CIDR(@missing, 0.0.0.0/0))", &e);
    yes("CIDR(message, 10.0.0.0/8)", &e);
    let mut h = event("m");
    h.host = Some("192.168.0.7".into());
    yes("CIDR(host, 192.168.0.0/24)", &h);
    no("CIDR(host, 192.168.1.0/24)", &h);
}

#[test]
fn works_through_dyn_event_view() {
    let e = with_attrs("hello", &[("a", AttrValue::Int(1))]);
    let dynamic: &dyn EventView = &e;
    let m = Matcher::new(&parse("hello @a:1").unwrap());
    assert!(m.matches(dynamic));
}

/// An index-backed view: only `any_attribute_at` knows the attributes.
struct Indexed(Event);

impl EventView for Indexed {
    fn timestamp_ns(&self) -> i64 {
        self.0.timestamp_ns
    }
    fn status(&self) -> Status {
        self.0.status
    }
    fn service(&self) -> Option<&str> {
        None
    }
    fn host(&self) -> Option<&str> {
        None
    }
    fn source(&self) -> Option<&str> {
        None
    }
    fn trace_id(&self) -> Option<&str> {
        None
    }
    fn message(&self) -> &str {
        &self.0.message
    }
    fn any_tag(&self, _f: &mut dyn FnMut(&str) -> bool) -> bool {
        false
    }
    fn any_attribute(&self, _f: &mut dyn FnMut(&str, AttrRef<'_>) -> bool) -> bool {
        false
    }
    fn any_attribute_at(&self, path: &str, f: &mut dyn FnMut(&str, AttrRef<'_>) -> bool) -> bool {
        self.0.any_attribute_at(path, f)
    }
}

#[test]
fn attribute_lookups_use_any_attribute_at() {
    let e = Indexed(with_attrs("m", &[("a", json(r#"[{"b":1}]"#))]));
    let m = Matcher::new(&parse("@a.b:1").unwrap());
    assert!(m.matches(&e));
}

/// Brute force: does `atoms` match all of `text`?
fn naive_full(atoms: &[Atom], text: &[char]) -> bool {
    match atoms.split_first() {
        None => text.is_empty(),
        Some((Atom::Star, rest)) => (0..=text.len()).any(|i| naive_full(rest, &text[i..])),
        Some((Atom::Any, rest)) => !text.is_empty() && naive_full(rest, &text[1..]),
        Some((Atom::Char(c), rest)) => text.first() == Some(c) && naive_full(rest, &text[1..]),
    }
}

fn naive_bounded(atoms: &[Atom], text: &[char]) -> bool {
    let n = text.len();
    let boundary = |i: usize| !(i > 0 && i < n && is_word(text[i - 1]) && is_word(text[i]));
    (0..=n).any(|s| boundary(s) && (s..=n).any(|e| boundary(e) && naive_full(atoms, &text[s..e])))
}

fn pattern_of(spec: &str) -> Pattern {
    Pattern(
        spec.chars()
            .map(|c| match c {
                '*' => PatternPart::Star,
                '?' => PatternPart::Question,
                c => PatternPart::Literal(c.to_string()),
            })
            .collect(),
    )
}

#[test]
fn long_patterns_use_the_slow_path() {
    let long = "ab".repeat(100);
    let glob = Glob::new(&pattern_of(&format!("{long}*x?")), false);
    assert!(glob.closures.is_empty());
    assert!(glob.run(&format!("{long}yyxz"), false));
    assert!(!glob.run(&format!("{long}yyx"), false));
    let lower = Glob::new(&pattern_of(&format!("{long}*")), true);
    assert!(lower.run(&format!("q {long}"), true));
    assert!(!lower.run(&format!("q{long}"), true));
    let short = Glob::new(&pattern_of(&"a".repeat(127)), false);
    assert_eq!(short.closures.len(), 128);
    assert!(short.run(&"a".repeat(127), false));
    assert!(!short.run(&"a".repeat(126), false));
    let edge = Glob::new(&pattern_of(&"a".repeat(128)), false);
    assert!(edge.closures.is_empty());
    assert!(edge.run(&"a".repeat(128), false));
    assert!(yes_free(&format!("{long}*"), &format!("x {long}yy z")));
}

fn yes_free(query: &str, message: &str) -> bool {
    matches(query, &event(message))
}

proptest! {
    #[test]
    fn glob_agrees_with_brute_force(spec in "[ab_ .*?-]{0,6}", text in "[ab_ .-]{0,10}") {
        let glob = Glob::new(&pattern_of(&spec), false);
        let chars: Vec<char> = text.chars().collect();
        prop_assert_eq!(glob.run(&text, false), naive_full(&glob.atoms, &chars), "anchored");
        prop_assert_eq!(glob.run(&text, true), naive_bounded(&glob.atoms, &chars), "bounded");
        prop_assert_eq!(glob.run_slow(&text, false), naive_full(&glob.atoms, &chars), "slow");
        prop_assert_eq!(glob.run_slow(&text, true), naive_bounded(&glob.atoms, &chars), "slow");
    }

    #[test]
    fn literal_search_agrees_with_brute_force(needle in "[ab_ .-]{0,4}", text in "[ab_ .-]{0,12}") {
        let atoms: Vec<Atom> = needle.chars().map(Atom::Char).collect();
        let chars: Vec<char> = text.chars().collect();
        prop_assert_eq!(find_bounded(&text, &needle), naive_bounded(&atoms, &chars));
    }

    #[test]
    fn matching_never_panics(
        query in prop::collection::vec(
            prop_oneof![
                Just("AND".to_string()), Just("OR".to_string()), Just("-".to_string()),
                Just("@a:".to_string()), Just("@j.k:".to_string()), Just("*:".to_string()),
                Just("status:".to_string()), Just("env:".to_string()), Just("tags:".to_string()),
                Just("[1 TO 5]".to_string()), Just(">3".to_string()),
                Just("CIDR(@a, 10.0.0.0/8)".to_string()),
                "[a-cé0-9 *?()\"\\-.:É]{1,5}",
            ],
            0..10,
        ),
        message in ".{0,30}",
    ) {
        let text = query.concat();
        if let Ok(q) = parse(&text) {
            let m = Matcher::new(&q);
            let mut e = with_attrs(
                &message,
                &[
                    ("a", s(&message)),
                    ("j", json(r#"[{"k":[1,"é",{"z":null}]},3]"#)),
                    ("n", AttrValue::Float(f64::NAN)),
                ],
            );
            e.tags = vec![format!("env:{message}"), message.clone()];
            let _ = m.matches(&e);
        }
    }
}
