//! Tests for the search syntax parser.

use proptest::prelude::*;

use super::*;
use crate::ast::{CompareOp, Field, Pattern, PatternPart, Predicate, Query};

fn p(input: &str) -> Query {
    parse(input).unwrap_or_else(|e| panic!("{input:?}: {e}"))
}

fn err(input: &str) -> ParseError {
    match parse(input) {
        Ok(q) => panic!("{input:?} parsed as {q:?}"),
        Err(e) => e,
    }
}

fn m(field: Field, predicate: Predicate) -> Query {
    Query::Match { field, predicate }
}

fn term(field: Field, value: &str) -> Query {
    m(field, Predicate::Term(value.to_string()))
}

fn text(value: &str) -> Query {
    term(Field::Default, value)
}

fn attr(path: &str) -> Field {
    Field::Attribute(path.to_string())
}

fn tag(key: &str) -> Field {
    Field::Tag(key.to_string())
}

fn not(q: Query) -> Query {
    Query::Not(Box::new(q))
}

fn lit(s: &str) -> PatternPart {
    PatternPart::Literal(s.to_string())
}

fn wild(field: Field, parts: Vec<PatternPart>) -> Query {
    m(field, Predicate::Wildcard(Pattern(parts)))
}

fn range(lower: Option<(&str, bool)>, upper: Option<(&str, bool)>) -> Predicate {
    Predicate::Range {
        lower: lower.map(|(v, i)| (v.to_string(), i)),
        upper: upper.map(|(v, i)| (v.to_string(), i)),
    }
}

#[test]
fn empty_and_star_match_everything() {
    for input in [
        "", "   ", "\t\n", "*", " * ", "**", "* *", "* AND *", "a OR *",
    ] {
        assert_eq!(p(input), Query::MatchAll, "{input:?}");
    }
    assert_eq!(p("-*"), not(Query::MatchAll));
    assert_eq!(p("* hello"), text("hello"));
}

#[test]
fn free_text_terms_and_phrases() {
    assert_eq!(p("hello"), text("hello"));
    assert_eq!(p("échec"), text("échec"));
    assert_eq!(
        p("ÉCHEC 日本語"),
        Query::And(vec![text("ÉCHEC"), text("日本語")])
    );
    assert_eq!(
        p("\"hello dolly\""),
        m(Field::Default, Predicate::Phrase("hello dolly".into()))
    );
    assert_eq!(
        p("\"*test*\""),
        m(Field::Default, Predicate::Phrase("*test*".into()))
    );
    assert_eq!(
        p(r#""say \"hi\" \\ now""#),
        m(
            Field::Default,
            Predicate::Phrase(r#"say "hi" \ now"#.into())
        )
    );
    assert_eq!(
        p("“curly quotes”"),
        m(Field::Default, Predicate::Phrase("curly quotes".into()))
    );
    assert_eq!(
        p("\"a\"b"),
        Query::And(vec![
            m(Field::Default, Predicate::Phrase("a".into())),
            text("b")
        ])
    );
    assert_eq!(
        p("\"\""),
        m(Field::Default, Predicate::Phrase(String::new()))
    );
    // special characters inside words are plain text
    assert_eq!(p("foo-bar"), text("foo-bar"));
    assert_eq!(p("[ERROR]"), text("[ERROR]"));
    assert_eq!(p("a=b!c^d~e&&f||g"), text("a=b!c^d~e&&f||g"));
    assert_eq!(p("x>1"), text("x>1"));
    assert_eq!(p("@user"), text("@user"));
}

#[test]
fn boolean_operators_and_precedence() {
    let (a, b, c, d) = (text("a"), text("b"), text("c"), text("d"));
    let and = |v: Vec<&Query>| Query::And(v.into_iter().cloned().collect());
    let or = |v: Vec<&Query>| Query::Or(v.into_iter().cloned().collect());
    assert_eq!(p("a b"), and(vec![&a, &b]));
    assert_eq!(p("a AND b"), and(vec![&a, &b]));
    assert_eq!(p("a OR b"), or(vec![&a, &b]));
    assert_eq!(p("a OR b c"), Query::Or(vec![a.clone(), and(vec![&b, &c])]));
    assert_eq!(p("a b OR c"), Query::Or(vec![and(vec![&a, &b]), c.clone()]));
    assert_eq!(
        p("a AND b OR c AND d"),
        Query::Or(vec![and(vec![&a, &b]), and(vec![&c, &d])])
    );
    assert_eq!(p("a OR b OR c"), or(vec![&a, &b, &c]));
    assert_eq!(p("a b c"), and(vec![&a, &b, &c]));
    assert_eq!(p("(a b) c"), and(vec![&a, &b, &c]));
    assert_eq!(p("(a OR b) OR (c)"), or(vec![&a, &b, &c]));
    assert_eq!(p("((a))"), a.clone());
    assert_eq!(
        p("(a OR b) c"),
        Query::And(vec![or(vec![&a, &b]), c.clone()])
    );
    assert_eq!(p("NOT a b"), Query::And(vec![not(a.clone()), b.clone()]));
    assert_eq!(p("NOT a OR b"), Query::Or(vec![not(a.clone()), b.clone()]));
    assert_eq!(p("NOT (a OR b)"), not(or(vec![&a, &b])));
    assert_eq!(p("NOT(a OR b)"), not(or(vec![&a, &b])));
    assert_eq!(p("a NOT b"), Query::And(vec![a.clone(), not(b.clone())]));
    assert_eq!(
        p("a AND NOT b"),
        Query::And(vec![a.clone(), not(b.clone())])
    );
    // lower case operators are words
    assert_eq!(p("a and b"), and(vec![&a, &text("and"), &b]));
    assert_eq!(p("a or b"), and(vec![&a, &text("or"), &b]));
    assert_eq!(p("a not b"), and(vec![&a, &text("not"), &b]));
    // operators must be whole unescaped words
    assert_eq!(
        p("ORANGE NOTE ANDROID"),
        and(vec![&text("ORANGE"), &text("NOTE"), &text("ANDROID")])
    );
    assert_eq!(p("NOT-FOUND"), text("NOT-FOUND"));
    assert_eq!(p(r"\AND"), text("AND"));
    assert_eq!(
        p("a OR\"b\""),
        Query::Or(vec![
            a.clone(),
            m(Field::Default, Predicate::Phrase("b".into()))
        ])
    );
    assert_eq!(p("AND:x"), term(tag("AND"), "x"));
}

#[test]
fn prefix_modifiers() {
    assert_eq!(p("-a"), not(text("a")));
    assert_eq!(p("+a"), text("a"));
    assert_eq!(p("+a -b"), Query::And(vec![text("a"), not(text("b"))]));
    assert_eq!(p("--a"), not(not(text("a"))));
    assert_eq!(p("-(a OR b)"), not(Query::Or(vec![text("a"), text("b")])));
    assert_eq!(
        p("-\"a b\""),
        not(m(Field::Default, Predicate::Phrase("a b".into())))
    );
    assert_eq!(p("-@a:*"), not(m(attr("a"), Predicate::Exists)));
    assert_eq!(p("-env:prod"), not(term(tag("env"), "prod")));
    // a lone sign is a word; a sign inside a word is text
    assert_eq!(
        p("a - b"),
        Query::And(vec![text("a"), text("-"), text("b")])
    );
    assert_eq!(p("a +"), Query::And(vec![text("a"), text("+")]));
    assert_eq!(p("-"), text("-"));
    assert_eq!(p("a-b+c"), text("a-b+c"));
}

#[test]
fn reserved_fields_tags_and_attributes() {
    assert_eq!(p("service:web"), term(Field::Service, "web"));
    assert_eq!(p("host:i-123"), term(Field::Host, "i-123"));
    assert_eq!(p("status:error"), term(Field::Status, "error"));
    assert_eq!(p("source:nginx"), term(Field::Source, "nginx"));
    assert_eq!(p("trace_id:abc123"), term(Field::TraceId, "abc123"));
    assert_eq!(p("message:hello"), term(Field::Message, "hello"));
    assert_eq!(p("tags:mytag"), term(Field::Tags, "mytag"));
    assert_eq!(p("env:prod"), term(tag("env"), "prod"));
    assert_eq!(p("Service:web"), term(tag("Service"), "web"));
    assert_eq!(p("timestamp:1"), term(tag("timestamp"), "1"));
    assert_eq!(
        p("@http.status_code:200"),
        term(attr("http.status_code"), "200")
    );
    assert_eq!(
        p("@http.url_details.path:\"/api/v1/test\""),
        m(
            attr("http.url_details.path"),
            Predicate::Phrase("/api/v1/test".into())
        )
    );
    assert_eq!(
        p("@my_attribute:\"hello:world\""),
        m(
            attr("my_attribute"),
            Predicate::Phrase("hello:world".into())
        )
    );
    assert_eq!(
        p("message:\"a b\""),
        m(Field::Message, Predicate::Phrase("a b".into()))
    );
    // later colons belong to the value
    assert_eq!(p("@ip:2001:db8::1"), term(attr("ip"), "2001:db8::1"));
    assert_eq!(p("http://x.org/a"), term(tag("http"), "//x.org/a"));
    assert_eq!(p("@a::"), term(attr("a"), ":"));
    // unicode names and values
    assert_eq!(p("@usuário.nome:José"), term(attr("usuário.nome"), "José"));
    // a '#' inside a value is literal
    assert_eq!(p("@a:#x"), term(attr("a"), "#x"));
    assert_eq!(p(r"\#hashtag"), text("#hashtag"));
}

#[test]
fn field_groups_distribute() {
    assert_eq!(
        p("env:(prod OR test)"),
        Query::Or(vec![term(tag("env"), "prod"), term(tag("env"), "test")])
    );
    assert_eq!(
        p("@a:(1 OR 2)"),
        Query::Or(vec![term(attr("a"), "1"), term(attr("a"), "2")])
    );
    assert_eq!(
        p("service:(web -api)"),
        Query::And(vec![
            term(Field::Service, "web"),
            not(term(Field::Service, "api"))
        ])
    );
    assert_eq!(
        p("@n:(-1 OR 1)"),
        Query::Or(vec![term(attr("n"), "-1"), term(attr("n"), "1")])
    );
    assert_eq!(
        p("@a:((x OR y) z)"),
        Query::And(vec![
            Query::Or(vec![term(attr("a"), "x"), term(attr("a"), "y")]),
            term(attr("a"), "z")
        ])
    );
    assert_eq!(
        p("@a:(\"x y\" OR >5 OR [1 TO 2] OR w*)"),
        Query::Or(vec![
            m(attr("a"), Predicate::Phrase("x y".into())),
            m(
                attr("a"),
                Predicate::Compare {
                    op: CompareOp::Gt,
                    value: "5".into()
                }
            ),
            m(attr("a"), range(Some(("1", true)), Some(("2", true)))),
            wild(attr("a"), vec![lit("w"), PatternPart::Star]),
        ])
    );
    // inside a field group colons are part of the value
    assert_eq!(
        p("@ip:(::1 OR 10.0.0.1)"),
        Query::Or(vec![term(attr("ip"), "::1"), term(attr("ip"), "10.0.0.1")])
    );
    assert_eq!(
        p("(env:prod AND -version:beta)"),
        Query::And(vec![
            term(tag("env"), "prod"),
            not(term(tag("version"), "beta"))
        ])
    );
}

#[test]
fn wildcards_and_exists() {
    let star = || PatternPart::Star;
    assert_eq!(p("web*"), wild(Field::Default, vec![lit("web"), star()]));
    assert_eq!(p("*web"), wild(Field::Default, vec![star(), lit("web")]));
    assert_eq!(
        p("*NETWORK*"),
        wild(Field::Default, vec![star(), lit("NETWORK"), star()])
    );
    assert_eq!(
        p("service:*mongo"),
        wild(Field::Service, vec![star(), lit("mongo")])
    );
    assert_eq!(
        p("@my_attribute:hello?world"),
        wild(
            attr("my_attribute"),
            vec![lit("hello"), PatternPart::Question, lit("world")]
        )
    );
    assert_eq!(
        p("a**b"),
        wild(Field::Default, vec![lit("a"), star(), lit("b")])
    );
    assert_eq!(
        p("??"),
        wild(
            Field::Default,
            vec![PatternPart::Question, PatternPart::Question]
        )
    );
    assert_eq!(p("@a:*"), m(attr("a"), Predicate::Exists));
    assert_eq!(p("@a:**"), m(attr("a"), Predicate::Exists));
    assert_eq!(p("service:*"), m(Field::Service, Predicate::Exists));
    assert_eq!(p("message:*"), m(Field::Message, Predicate::Exists));
    assert_eq!(
        p("*:hello*"),
        wild(Field::AnyAttribute, vec![lit("hello"), star()])
    );
    assert_eq!(p("*:hello"), term(Field::AnyAttribute, "hello"));
    assert_eq!(p("*:*"), m(Field::AnyAttribute, Predicate::Exists));
    // escaped wildcards are literal
    assert_eq!(p(r"\*"), text("*"));
    assert_eq!(
        p(r"foo\*bar*"),
        wild(Field::Default, vec![lit("foo*bar"), star()])
    );
    assert_eq!(
        p(r"@a:\?x?"),
        wild(attr("a"), vec![lit("?x"), PatternPart::Question])
    );
}

#[test]
fn comparisons_and_ranges() {
    let cmp = |op, v: &str| Predicate::Compare {
        op,
        value: v.to_string(),
    };
    assert_eq!(p("@d:>100"), m(attr("d"), cmp(CompareOp::Gt, "100")));
    assert_eq!(p("@d:>=1.5"), m(attr("d"), cmp(CompareOp::Ge, "1.5")));
    assert_eq!(p("@d:<-3"), m(attr("d"), cmp(CompareOp::Lt, "-3")));
    assert_eq!(p("@d:<=abc"), m(attr("d"), cmp(CompareOp::Le, "abc")));
    assert_eq!(p("@d:>\"a b\""), m(attr("d"), cmp(CompareOp::Gt, "a b")));
    assert_eq!(p("@d:>1*"), m(attr("d"), cmp(CompareOp::Gt, "1*")));
    // Issue 6: durations with a unit compare as nanoseconds (span durations).
    assert_eq!(
        p("@duration:>1s"),
        m(attr("duration"), cmp(CompareOp::Gt, "1000000000"))
    );
    assert_eq!(
        p("@duration:<=1.5ms"),
        m(attr("duration"), cmp(CompareOp::Le, "1500000"))
    );
    assert_eq!(
        p("@duration:[100us TO 2m]"),
        m(
            attr("duration"),
            range(Some(("100000", true)), Some(("120000000000", true)))
        )
    );
    assert_eq!(p("@d:>\"1s\""), m(attr("d"), cmp(CompareOp::Gt, "1s")));
    assert_eq!(p("@d:>1sec"), m(attr("d"), cmp(CompareOp::Gt, "1sec")));
    assert_eq!(
        p("@http.status_code:[400 TO 499]"),
        m(
            attr("http.status_code"),
            range(Some(("400", true)), Some(("499", true)))
        )
    );
    assert_eq!(
        p("@a:{a TO b}"),
        m(attr("a"), range(Some(("a", false)), Some(("b", false))))
    );
    assert_eq!(
        p("@a:[1 TO 5}"),
        m(attr("a"), range(Some(("1", true)), Some(("5", false))))
    );
    assert_eq!(
        p("@a:{1 TO 5]"),
        m(attr("a"), range(Some(("1", false)), Some(("5", true))))
    );
    assert_eq!(
        p("@a:[* TO 5]"),
        m(attr("a"), range(None, Some(("5", true))))
    );
    assert_eq!(
        p("@a:[5 TO *]"),
        m(attr("a"), range(Some(("5", true)), None))
    );
    assert_eq!(p("@a:[* TO *]"), m(attr("a"), range(None, None)));
    assert_eq!(
        p("@a:[ 1  TO  2 ]"),
        m(attr("a"), range(Some(("1", true)), Some(("2", true))))
    );
    assert_eq!(
        p("@t:[\"2020-01-01 00:00\" TO 2021-01-01T00:00:00]"),
        m(
            attr("t"),
            range(
                Some(("2020-01-01 00:00", true)),
                Some(("2021-01-01T00:00:00", true))
            )
        )
    );
    assert_eq!(
        p(r"@a:[\* TO b]"),
        m(attr("a"), range(Some(("*", true)), Some(("b", true))))
    );
    assert_eq!(
        p("@d:>100 @e:<2"),
        Query::And(vec![
            m(attr("d"), cmp(CompareOp::Gt, "100")),
            m(attr("e"), cmp(CompareOp::Lt, "2"))
        ])
    );
}

#[test]
fn cidr_blocks() {
    let block = |a: &str, prefix: u8| CidrBlock {
        addr: a.parse().unwrap(),
        prefix,
    };
    assert_eq!(
        p("CIDR(@network.client.ip,13.0.0.0/8)"),
        Query::Cidr {
            field: attr("network.client.ip"),
            blocks: vec![block("13.0.0.0", 8)]
        }
    );
    assert_eq!(
        p("CIDR(@ip, 10.0.0.0/8, 2001:db8::/32 , 1.2.3.4)"),
        Query::Cidr {
            field: attr("ip"),
            blocks: vec![
                block("10.0.0.0", 8),
                block("2001:db8::", 32),
                block("1.2.3.4", 32)
            ]
        }
    );
    assert_eq!(
        p("CIDR(host, 10.1.2.3/8, ::1)"),
        Query::Cidr {
            field: Field::Host,
            blocks: vec![block("10.0.0.0", 8), block("::1", 128)]
        }
    );
    assert_eq!(
        p("NOT(CIDR(@ip,0.0.0.0/0))"),
        not(Query::Cidr {
            field: attr("ip"),
            blocks: vec![block("0.0.0.0", 0)]
        })
    );
    assert_eq!(
        p("-CIDR(@ip,::/0) a"),
        Query::And(vec![
            not(Query::Cidr {
                field: attr("ip"),
                blocks: vec![block("::", 0)]
            }),
            text("a")
        ])
    );
    // lower-case cidr is an ordinary word followed by a group
    assert_eq!(p("cidr(a)"), Query::And(vec![text("cidr"), text("a")]));
    for (bad, position) in [
        ("CIDR(@ip, 10.0.0.0/33)", 10),
        ("CIDR(@ip, 10.0.0/8)", 10),
        ("CIDR(@ip, 2001:db8::/129)", 10),
        ("CIDR(@ip, 10.0.0.0/)", 10),
        ("CIDR(@ip, 10.0.0.0/+8)", 10),
        ("CIDR(@ip, 10.0.0.0/8/8)", 10),
        ("CIDR(@ip, banana)", 10),
    ] {
        let e = err(bad);
        assert_eq!(e.position, position, "{bad}: {e}");
        assert!(e.expected.contains("CIDR block"), "{bad}: {e}");
    }
    assert_eq!(err("CIDR(@ip)").position, 8);
    assert_eq!(err("CIDR(@ip,)").position, 9);
    assert_eq!(err("CIDR(@ip, 10.0.0.0/8").position, 20);
    assert_eq!(err("CIDR()").position, 5);
    assert_eq!(err("CIDR(@, 1.2.3.4)").position, 6);
}

#[test]
fn escapes_in_terms_and_values() {
    let specials = [
        "+", "-", "=", "&&", "||", ">", "<", "!", "(", ")", "{", "}", "[", "]", "^", "\"", "“",
        "”", "~", "*", "?", ":", "\\", "#", " ",
    ];
    for special in specials {
        let escaped: String = special.chars().map(|c| format!("\\{c}")).collect();
        assert_eq!(
            p(&format!("a{escaped}b")),
            text(&format!("a{special}b")),
            "{special}"
        );
        assert_eq!(
            p(&format!("{escaped}b")),
            text(&format!("{special}b")),
            "{special}"
        );
        assert_eq!(
            p(&format!("@a:x{escaped}y")),
            term(attr("a"), &format!("x{special}y")),
            "{special}"
        );
    }
    assert_eq!(p(r"@a:hello\ world"), term(attr("a"), "hello world"));
    assert_eq!(p(r"hello\ world"), text("hello world"));
    assert_eq!(p(r"@a\.b:c"), term(attr("a.b"), "c"));
    assert_eq!(p(r"a\:b"), text("a:b"));
    assert_eq!(p(r"\n"), text("n"));
    let e = err("abc\\");
    assert_eq!((e.position, e.found.as_str()), (4, "end of query"));
    assert_eq!(err("\"abc\\").position, 5);
}

#[test]
fn calculated_fields_are_rejected() {
    let e = err("#request_duration:>1");
    assert_eq!(e.position, 0);
    assert!(e.expected.contains("calculated fields"), "{e}");
    assert_eq!(e.found, "'#request_duration'");
    assert_eq!(err("a -#x").position, 3);
}

#[test]
fn errors_have_positions() {
    let cases: &[(&str, usize, &str)] = &[
        ("a)", 1, "')'"),
        ("(a", 2, "end of query"),
        ("(a b", 4, "end of query"),
        ("()", 1, "')'"),
        ("a AND", 5, "end of query"),
        ("a OR", 4, "end of query"),
        ("OR a", 0, "'OR'"),
        ("a OR OR b", 5, "'OR'"),
        ("a AND AND", 6, "'AND'"),
        ("NOT", 3, "end of query"),
        ("a -)", 3, "')'"),
        (":foo", 0, "':'"),
        ("foo:", 4, "end of query"),
        ("foo: bar", 4, "' '"),
        ("foo:)", 4, "')'"),
        ("@:x", 1, "':'"),
        ("\"abc", 4, "end of query"),
        ("a \"b c", 6, "end of query"),
        ("@a:[1 TO 2", 10, "end of query"),
        ("@a:[1 to 2]", 6, "'t'"),
        ("@a:[1 TO]", 8, "']'"),
        ("@a:[1]", 5, "']'"),
        ("@a:>", 4, "end of query"),
        ("@a:> 1", 4, "' '"),
        ("@a:>*", 4, "'*'"),
        ("@a:(1 OR 2", 10, "end of query"),
        ("env:()", 5, "')'"),
        ("é)", 1, "')'"),
        ("日本 (語", 5, "end of query"),
    ];
    for &(input, position, found) in cases {
        let e = err(input);
        assert_eq!(
            (e.position, e.found.as_str()),
            (position, found),
            "{input:?}: {e}"
        );
    }
    assert_eq!(
        err("a)").to_string(),
        "syntax error at position 1: expected end of query, found ')'"
    );
    assert_eq!(
        err("a AND").to_string(),
        "syntax error at position 5: expected a search term, found end of query"
    );
    assert!(err("(a").expected.contains("')'"));
}

#[test]
fn nesting_is_limited() {
    let ok = format!("{}a{}", "(".repeat(MAX_DEPTH), ")".repeat(MAX_DEPTH));
    assert_eq!(p(&ok), text("a"));
    let deep = format!(
        "{}a{}",
        "(".repeat(MAX_DEPTH + 1),
        ")".repeat(MAX_DEPTH + 1)
    );
    let e = err(&deep);
    assert_eq!(e.position, MAX_DEPTH);
    assert!(e.expected.contains("nested"), "{e}");
    assert!(parse(&"(".repeat(100_000)).is_err());
    assert!(parse(&"-".repeat(100_000)).is_err());
    assert!(parse(&"NOT ".repeat(100_000)).is_err());
    assert!(parse(&"@a:(".repeat(100_000)).is_err());
    assert_eq!(p(&format!("{}a", "-".repeat(MAX_DEPTH))), {
        let mut q = text("a");
        for _ in 0..MAX_DEPTH {
            q = not(q);
        }
        q
    });
    // sequential (not nested) groups are fine however many
    let wide = "(a) ".repeat(10_000);
    assert!(matches!(p(&wide), Query::And(v) if v.len() == 10_000));
}

/// Escapes every character that could be syntax, and the first one always.
fn escape_word(word: &str) -> String {
    let mut out = String::new();
    for (i, c) in word.chars().enumerate() {
        if i == 0 || c.is_whitespace() || "+-=&|><!(){}[]^\"“”~*?:\\#".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

fn query_fragment() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("AND".to_string()),
        Just("OR".to_string()),
        Just("NOT".to_string()),
        Just("TO".to_string()),
        Just("CIDR(".to_string()),
        Just("@a.b:".to_string()),
        Just("*:".to_string()),
        Just("#x".to_string()),
        "[a-c0-9 :@*?()\\[\\]{}\"“”\\\\<>=!+\\-./,é]{1,6}",
    ]
}

proptest! {
    #[test]
    fn arbitrary_strings_never_panic(input in ".{0,80}") {
        let _ = parse(&input);
    }

    #[test]
    fn query_like_strings_never_panic(parts in prop::collection::vec(query_fragment(), 0..16)) {
        let input = parts.join(" ");
        if let Err(e) = parse(&input) {
            prop_assert!(e.position <= input.chars().count());
        }
        let glued = parts.concat();
        if let Err(e) = parse(&glued) {
            prop_assert!(e.position <= glued.chars().count());
        }
    }

    #[test]
    fn escaped_words_are_literal_terms(word in ".{1,20}") {
        prop_assert_eq!(parse(&escape_word(&word)), Ok(text(&word)));
        let value = format!("@f:{}", escape_word(&word));
        prop_assert_eq!(parse(&value), Ok(term(attr("f"), &word)));
    }

    #[test]
    fn quoted_phrases_round_trip(phrase in ".{0,20}") {
        let quoted: String = phrase
            .chars()
            .flat_map(|c| if c == '"' || c == '\\' { vec!['\\', c] } else { vec![c] })
            .collect();
        prop_assert_eq!(
            parse(&format!("\"{quoted}\"")),
            Ok(m(Field::Default, Predicate::Phrase(phrase.clone())))
        );
    }
}
