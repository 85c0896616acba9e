use super::*;
use crate::scope::{Scope, ScopeExpr};

fn mq(agg: Option<SpaceAgg>, metric: &str, scope: &str) -> MetricQuery {
    MetricQuery {
        space_agg: agg,
        metric: metric.to_string(),
        scope: Scope::parse(scope).unwrap(),
        group_by: Vec::new(),
        rollup: None,
        modifier: None,
        fill: None,
    }
}

fn by(mut q: MetricQuery, keys: &[&str]) -> MetricQuery {
    q.group_by = keys.iter().map(|k| k.to_string()).collect();
    q
}

fn single(query: &str) -> Expr {
    let parsed = parse(query).unwrap_or_else(|e| panic!("{query}: {e}"));
    assert_eq!(parsed.expressions.len(), 1, "{query}");
    parsed.expressions.into_iter().next().unwrap().expr
}

fn single_metric(query: &str) -> MetricQuery {
    match single(query) {
        Expr::Metric(q) => q,
        other => panic!("{query}: not a metric query: {other:?}"),
    }
}

fn bin(op: BinaryOp, lhs: Expr, rhs: Expr) -> Expr {
    Expr::Binary {
        op,
        lhs: Box::new(lhs),
        rhs: Box::new(rhs),
    }
}

fn metric(q: MetricQuery) -> Expr {
    Expr::Metric(q)
}

/// Every example of the reference's §5 and of Datadog's advanced-filtering page.
#[test]
fn reference_examples() {
    use SpaceAgg::*;
    let mut q = by(
        mq(Some(Avg), "system.cpu.user", "env:prod,host:a"),
        &["service"],
    );
    q.rollup = Some(Rollup {
        agg: Some(RollupAgg::Avg),
        interval_s: Some(60),
    });
    let cases: Vec<(&str, MetricQuery)> = vec![
        ("avg:system.cpu.user{env:prod,host:a} by {service}.rollup(avg, 60)", q),
        (
            "avg:system.cpu.user{env:staging AND (availability-zone:us-east-1a OR availability-zone:us-east-1c)} by {availability-zone}",
            by(
                mq(
                    Some(Avg),
                    "system.cpu.user",
                    "env:staging AND (availability-zone:us-east-1a OR availability-zone:us-east-1c)",
                ),
                &["availability-zone"],
            ),
        ),
        (
            "avg:system.cpu.user{env:shop.ist AND availability-zone IN (us-east-1a, us-east-1b, us-east4-b)} by {availability-zone}",
            by(
                mq(
                    Some(Avg),
                    "system.cpu.user",
                    "env:shop.ist AND availability-zone IN (us-east-1a, us-east-1b, us-east4-b)",
                ),
                &["availability-zone"],
            ),
        ),
        (
            "avg:system.cpu.user{env:prod AND location NOT IN (atlanta,seattle)}",
            mq(Some(Avg), "system.cpu.user", "env:prod AND location NOT IN (atlanta,seattle)"),
        ),
        (
            "avg:system.disk.in_use{!device:/dev/loop*} by {device}",
            by(mq(Some(Avg), "system.disk.in_use", "!device:/dev/loop*"), &["device"]),
        ),
        (
            "sum:kubernetes.pods.running{service:*-canary} by {service}",
            by(mq(Some(Sum), "kubernetes.pods.running", "service:*-canary"), &["service"]),
        ),
        ("system.cpu.idle{*}", mq(None, "system.cpu.idle", "*")),
        ("avg:k.pods{pod_name:web-*}", mq(Some(Avg), "k.pods", "pod_name:web-*")),
        ("max:k.pods{cluster:*-trace}", mq(Some(Max), "k.pods", "cluster:*-trace")),
        ("p99:request.latency{*}", mq(Some(Percentile(99)), "request.latency", "*")),
        ("count:request.latency{*}", mq(Some(Count), "request.latency", "*")),
        ("min:a{production}", mq(Some(Min), "a", "production")),
    ];
    for (text, want) in cases {
        assert_eq!(single_metric(text), want, "{text}");
    }
}

#[test]
fn scope_structure_of_examples() {
    let q = single_metric("avg:system.cpu.user{env:prod AND location NOT IN (atlanta,seattle)}");
    assert_eq!(
        q.scope.expr(),
        &ScopeExpr::And(vec![
            ScopeExpr::tag("env:prod"),
            ScopeExpr::Not(Box::new(ScopeExpr::Or(vec![
                ScopeExpr::tag("location:atlanta"),
                ScopeExpr::tag("location:seattle"),
            ]))),
        ])
    );
    assert_eq!(
        q.scope.text(),
        "env:prod AND location NOT IN (atlanta,seattle)"
    );
    let q = single_metric("avg:system.disk.in_use{!device:/dev/loop*} by {device}");
    assert_eq!(
        q.scope.expr(),
        &ScopeExpr::Not(Box::new(ScopeExpr::tag("device:/dev/loop*")))
    );
}

#[test]
fn functions_and_clauses() {
    let q = single_metric("sum:reqs{*} by {host,env}.rollup(sum, 120).as_count().fill(zero, 60)");
    assert_eq!(q.group_by, vec!["host", "env"]);
    assert_eq!(
        q.rollup,
        Some(Rollup {
            agg: Some(RollupAgg::Sum),
            interval_s: Some(120)
        })
    );
    assert_eq!(q.modifier, Some(TypeModifier::AsCount));
    assert_eq!(
        q.fill,
        Some(Fill {
            method: FillMethod::Zero,
            limit_s: 60
        })
    );
    let q = single_metric("reqs{*}.as_rate().rollup(max).fill(linear) by {host}");
    assert_eq!(q.group_by, vec!["host"]);
    assert_eq!(q.modifier, Some(TypeModifier::AsRate));
    assert_eq!(
        q.rollup,
        Some(Rollup {
            agg: Some(RollupAgg::Max),
            interval_s: None
        })
    );
    assert_eq!(
        q.fill,
        Some(Fill {
            method: FillMethod::Linear,
            limit_s: Fill::DEFAULT_LIMIT_S
        })
    );
    let q = single_metric("p95:latency{*}.rollup(60)");
    assert_eq!(
        q.rollup,
        Some(Rollup {
            agg: None,
            interval_s: Some(60)
        })
    );
    let q = single_metric("avg:cpu{*}.weighted()");
    assert_eq!(q, mq(Some(SpaceAgg::Avg), "cpu", "*"));
    for method in ["null", "zero", "linear", "last"] {
        assert!(parse(&format!("a{{*}}.fill({method})")).is_ok());
    }
}

#[test]
fn arithmetic_precedence() {
    let a = || metric(mq(None, "a", "*"));
    let b = || metric(mq(None, "b", "*"));
    assert_eq!(
        single("a{*} / b{*} * 100"),
        bin(
            BinaryOp::Mul,
            bin(BinaryOp::Div, a(), b()),
            Expr::Number(100.0)
        )
    );
    assert_eq!(
        single("a{*} + b{*} * 2"),
        bin(
            BinaryOp::Add,
            a(),
            bin(BinaryOp::Mul, b(), Expr::Number(2.0))
        )
    );
    assert_eq!(
        single("(a{*} + b{*}) * 2"),
        bin(
            BinaryOp::Mul,
            bin(BinaryOp::Add, a(), b()),
            Expr::Number(2.0)
        )
    );
    assert_eq!(
        single("a{*} - b{*} - 1"),
        bin(
            BinaryOp::Sub,
            bin(BinaryOp::Sub, a(), b()),
            Expr::Number(1.0)
        )
    );
    assert_eq!(single("-a{*}"), Expr::Neg(Box::new(a())));
    assert_eq!(
        single("-1.5e2*a{*}"),
        bin(BinaryOp::Mul, Expr::Number(-150.0), a())
    );
}

#[test]
fn wrapper_functions() {
    let a = || Box::new(metric(mq(None, "a", "*")));
    let cases = [
        ("abs(a{*})", Function::Abs),
        ("log10(a{*})", Function::Log10),
        ("cumsum(a{*})", Function::Cumsum),
        ("diff(a{*})", Function::Diff),
        ("per_second(a{*})", Function::PerSecond),
        ("per_minute( a{*} )", Function::PerMinute),
        ("timeshift(a{*}, -3600)", Function::Timeshift(-3600)),
        ("timeshift(a{*},60)", Function::Timeshift(60)),
    ];
    for (text, function) in cases {
        assert_eq!(single(text), Expr::Call { function, arg: a() }, "{text}");
    }
}

#[test]
fn several_queries() {
    let parsed = parse("a{*}, sum:b{env:x} by {host} ,c{*}/2").unwrap();
    let texts: Vec<&str> = parsed.expressions.iter().map(|e| e.text.as_str()).collect();
    assert_eq!(texts, vec!["a{*}", "sum:b{env:x} by {host}", "c{*}/2"]);
}

#[test]
fn errors_name_their_position() {
    let cases: &[(&str, usize)] = &[
        ("", 0),
        ("avg:", 4),
        ("avg:cpu", 7),
        ("avg:cpu{", 8),
        ("avg:cpu{env:prod", 16),
        ("foo:cpu{*}", 0),
        ("p0:cpu{*}", 0),
        ("p100:cpu{*}", 0),
        ("avg:cpu{*} by", 13),
        ("avg:cpu{*} by {}", 15),
        ("avg:cpu{*}.rollup(median)", 18),
        ("avg:cpu{*}.rollup(avg, 0)", 23),
        ("avg:cpu{*}.rollup(avg, 60, 1)", 11),
        ("avg:cpu{*}.frobnicate()", 11),
        ("avg:cpu{*}.fill(cubic)", 16),
        ("avg:cpu{*}.as_count().as_rate()", 22),
        ("avg:cpu{*} by {a} by {b}", 18),
        ("avg:cpu{*}.as_count(1)", 11),
        ("avg:cpu{env:prod AND !host:a}", 21),
        ("avg:cpu{a,b OR c}", 12),
        ("avg:cpu{*} +", 12),
        ("avg:cpu{*} cpu{*}", 11),
        ("1 + 2", 0),
        ("a{*}, 3", 6),
        ("frob(a{*})", 0),
        ("timeshift(a{*})", 14),
        ("timeshift(a{*}, x)", 16),
        ("(a{*}", 5),
        ("a{*})", 4),
        ("1abc{*}", 1),
    ];
    for (text, pos) in cases {
        let err = parse(text).expect_err(text);
        assert_eq!(err.position(), *pos, "{text}: {err}");
        assert!(!err.to_string().is_empty());
    }
}

#[test]
fn error_messages_say_what_was_expected() {
    let err = parse("avg:cpu{*} by").unwrap_err();
    assert_eq!(
        err.to_string(),
        "expected '{' and tag keys after 'by' at byte 13, found end of query"
    );
    let err = parse("avg:cpu{env:prod AND !host:a}").unwrap_err();
    assert!(matches!(err, ParseError::MixedScopeSyntax { pos: 21 }));
}

#[test]
fn nesting_is_bounded() {
    let deep = format!("{}a{{*}}{}", "(".repeat(10_000), ")".repeat(10_000));
    assert!(matches!(parse(&deep), Err(ParseError::TooComplex { .. })));
    let long = vec!["a{*}"; 10_000].join("+");
    assert!(matches!(parse(&long), Err(ParseError::TooComplex { .. })));
    let negs = format!("{}a{{*}}", "-".repeat(10_000));
    assert!(matches!(parse(&negs), Err(ParseError::TooComplex { .. })));
    let nots = format!("a{{{}x}}", "!".repeat(10_000));
    assert!(matches!(parse(&nots), Err(ParseError::TooComplex { .. })));
    let parens = format!("a{{{}x{}}}", "(".repeat(10_000), ")".repeat(10_000));
    assert!(matches!(parse(&parens), Err(ParseError::TooComplex { .. })));
}

proptest::proptest! {
    #[test]
    fn never_panics_on_arbitrary_text(text in "\\PC{0,60}") {
        let _ = parse(&text);
    }

    #[test]
    fn never_panics_on_query_like_text(text in "[a-z0-9:{}()!,.* +/-]{0,60}") {
        if let Err(err) = parse(&text) {
            proptest::prop_assert!(err.position() <= text.len());
        }
    }
}
