use proptest::prelude::*;

use super::*;

fn metric(line: &str) -> Metric {
    match parse_line(line.as_bytes()) {
        Ok(Message::Metric(m)) => m,
        other => panic!("{line:?} gave {other:?}"),
    }
}

fn event(line: &str) -> Event {
    match parse_line(line.as_bytes()) {
        Ok(Message::Event(e)) => e,
        other => panic!("{line:?} gave {other:?}"),
    }
}

fn check(line: &str) -> ServiceCheck {
    match parse_line(line.as_bytes()) {
        Ok(Message::ServiceCheck(c)) => c,
        other => panic!("{line:?} gave {other:?}"),
    }
}

fn err(line: &[u8]) -> ParseError {
    match parse_line(line) {
        Err(e) => e,
        Ok(m) => panic!("{:?} parsed as {m:?}", String::from_utf8_lossy(line)),
    }
}

#[test]
fn datagrams_split_on_newlines() {
    // datadogpy with buffering on (reference §2 DogStatsD).
    let parsed = parse_datagram(b"buf.c:1|c\nbuf.c:2|c\nbuf.c:3|c\n");
    let values: Vec<f64> = parsed
        .iter()
        .map(|r| match r {
            Ok(Message::Metric(m)) => m.values[0],
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(values, [1.0, 2.0, 3.0]);
    // Empty lines and CRLF; a bad line does not stop the others.
    let parsed = parse_datagram(b"\n\na:1|g\r\n\nbad\nb:2|g");
    assert_eq!(parsed.len(), 3);
    assert!(parsed[0].is_ok() && parsed[2].is_ok());
    assert_eq!(parsed[1], Err(ParseError::MissingType));
    assert!(parse_datagram(b"").is_empty());
    assert!(parse_datagram(b"\n").is_empty());
}

#[test]
fn metric_with_every_field() {
    let m = metric(
        "page.views:1|c|@0.5|#env:prod,role:web|c:ci-abc|e:it-false,cn-x|card:high|T1700000000",
    );
    assert_eq!(m.name, "page.views");
    assert_eq!(m.values, [1.0]);
    assert_eq!(m.kind, MetricKind::Count);
    assert_eq!(m.sample_rate, 0.5);
    assert_eq!(m.tags, ["env:prod", "role:web"]);
    assert_eq!(m.timestamp_s, Some(1_700_000_000));
    assert_eq!(m.origin.container_id.as_deref(), Some("ci-abc"));
    assert_eq!(m.origin.external_data.as_deref(), Some("it-false,cn-x"));
    assert_eq!(m.origin.cardinality.as_deref(), Some("high"));
    assert_eq!(m.set_value, None);
}

#[test]
fn datadogpy_telemetry_line() {
    let m = metric(
        "datadog.dogstatsd.client.metrics:3|c|#client:py,client_version:0.53.0,client_transport:udp",
    );
    assert_eq!(m.values, [3.0]);
    assert_eq!(
        m.tags,
        ["client:py", "client_version:0.53.0", "client_transport:udp"]
    );
    assert_eq!(m.sample_rate, 1.0);
}

#[test]
fn every_type_symbol() {
    for (sym, kind) in [
        ("c", MetricKind::Count),
        ("g", MetricKind::Gauge),
        ("ms", MetricKind::Timer),
        ("h", MetricKind::Histogram),
        ("s", MetricKind::Set),
        ("d", MetricKind::Distribution),
    ] {
        let m = metric(&format!("x:5|{sym}"));
        assert_eq!(m.kind, kind);
        assert_eq!(kind.symbol(), sym);
    }
}

#[test]
fn packed_values_and_sets() {
    assert_eq!(metric("h:1:2:3|h").values, [1.0, 2.0, 3.0]);
    assert_eq!(metric("d:1.5:-2e3:.5|d|#a").values, [1.5, -2000.0, 0.5]);
    // Empty items are skipped like the Agent ('21::22').
    assert_eq!(metric("h:21::22:|h").values, [21.0, 22.0]);
    // Sets keep the raw value: never unpacked.
    let s = metric("users:alice:1|s|#x");
    assert_eq!(s.set_value.as_deref(), Some("alice:1"));
    assert!(s.values.is_empty());
}

#[test]
fn sample_rates_and_unknown_fields() {
    assert_eq!(metric("a:1|c|@0.1").sample_rate, 0.1);
    // Outside (0, 1]: read as unsampled.
    assert_eq!(metric("a:1|c|@0").sample_rate, 1.0);
    assert_eq!(metric("a:1|c|@2").sample_rate, 1.0);
    assert_eq!(metric("a:1|c|@-1").sample_rate, 1.0);
    // Unknown sections are ignored, and a trailing '|' too.
    let m = metric("a:1|c|x:whatever|zz|#t|");
    assert_eq!(m.tags, ["t"]);
    // Empty tags are dropped; the last '#' wins.
    assert_eq!(metric("a:1|c|#,a,,b,|#c").tags, ["c"]);
    assert_eq!(metric("a:1|c|#,a,,b,").tags, ["a", "b"]);
}

#[test]
fn malformed_metrics() {
    use ParseError::*;
    assert_eq!(err(b"foo"), MissingType);
    assert_eq!(err(b"foo:1"), MissingType);
    assert_eq!(err(b"foo|c"), MissingValue);
    assert_eq!(err(b":1|c"), EmptyName);
    assert_eq!(err(b"foo:|c"), MissingValue);
    assert_eq!(err(b"foo::|h"), MissingValue);
    assert_eq!(err(b"foo:1|x"), UnknownType("x".into()));
    assert_eq!(err(b"foo:1|"), UnknownType(String::new()));
    assert_eq!(err(b"foo:1|C"), UnknownType("C".into()));
    assert_eq!(err(b"foo:abc|c"), InvalidValue("abc".into()));
    assert_eq!(err(b"foo:1:x|h"), InvalidValue("x".into()));
    assert_eq!(err(b"foo:nan|g"), NonFiniteValue("nan".into()));
    assert_eq!(err(b"foo:1:inf|d"), NonFiniteValue("inf".into()));
    assert_eq!(err(b"foo:1e999|c"), NonFiniteValue("1e999".into()));
    assert_eq!(err(b"foo:1|c|@x"), InvalidSampleRate("x".into()));
    assert_eq!(err(b"foo:1|c|Tabc"), InvalidTimestamp("abc".into()));
    assert_eq!(err(b"foo:1|c|T0"), InvalidTimestamp("0".into()));
    assert_eq!(err(b"foo:1|c|T-5"), InvalidTimestamp("-5".into()));
    assert_eq!(err(b"foo:\xff|c"), NotUtf8);
    // Excerpts are bounded.
    let long = format!("foo:{}|c", "z".repeat(1000));
    match err(long.as_bytes()) {
        InvalidValue(s) => assert_eq!(s.len(), 64),
        other => panic!("{other:?}"),
    }
}

#[test]
fn datadogpy_event() {
    // Captured from datadogpy 0.53 (reference §2): the text carries a
    // literal backslash-n, counted as two bytes.
    let e = event(
        "_e{21,17}:An exception occurred|Cannot parse\\nCSV|h:h|k:k|p:low|s:my_apps|t:warning|#err:1,env:test",
    );
    assert_eq!(e.title, "An exception occurred");
    assert_eq!(e.text, "Cannot parse\nCSV");
    assert_eq!(e.hostname.as_deref(), Some("h"));
    assert_eq!(e.aggregation_key.as_deref(), Some("k"));
    assert_eq!(e.priority, EventPriority::Low);
    assert_eq!(e.source_type.as_deref(), Some("my_apps"));
    assert_eq!(e.alert_type, AlertType::Warning);
    assert_eq!(e.tags, ["err:1", "env:test"]);
    assert_eq!(e.timestamp_s, None);
}

#[test]
fn event_defaults_and_fields() {
    let e = event("_e{5,4}:title|text");
    assert_eq!((e.title.as_str(), e.text.as_str()), ("title", "text"));
    assert_eq!(e.priority, EventPriority::Normal);
    assert_eq!(e.alert_type, AlertType::Info);
    let e = event("_e{1,0}:t||d:1700000000|t:error|c:ci-1|card:low");
    assert_eq!(e.text, "");
    assert_eq!(e.timestamp_s, Some(1_700_000_000));
    assert_eq!(e.alert_type, AlertType::Error);
    assert_eq!(e.origin.container_id.as_deref(), Some("ci-1"));
    assert_eq!(e.origin.cardinality.as_deref(), Some("low"));
    // Malformed optional fields are ignored (Agent: logged, event kept).
    let e = event("_e{1,1}:t|x|d:soon|p:urgent|t:fatal");
    assert_eq!(e.timestamp_s, None);
    assert_eq!(e.priority, EventPriority::Normal);
    assert_eq!(e.alert_type, AlertType::Info);
    // '|' inside the title or text is fine: lengths decide.
    let e = event("_e{3,3}:a|b|c|d|#t");
    assert_eq!((e.title.as_str(), e.text.as_str()), ("a|b", "c|d"));
    assert_eq!(e.tags, ["t"]);
}

#[test]
fn event_lengths_in_bytes_or_code_points() {
    // "héllo" is 5 code points, 6 bytes; "wörd" 4 and 5.
    let by_bytes = event("_e{6,5}:héllo|wörd|#a");
    let by_chars = event("_e{5,4}:héllo|wörd|#a");
    assert_eq!(by_bytes, by_chars);
    assert_eq!(by_bytes.title, "héllo");
    assert_eq!(by_bytes.text, "wörd");
    assert_eq!(by_bytes.tags, ["a"]);
    // Code points at the end of the line.
    assert_eq!(event("_e{2,2}:日本|語x").text, "語x");
    // Too short a text length with nothing to disambiguate: the Agent's
    // byte slicing (the rest is an ignored field).
    let e = event("_e{5,2}:title|text");
    assert_eq!(e.text, "te");
}

#[test]
fn malformed_events() {
    use ParseError::*;
    assert!(matches!(err(b"_e{a,b}:x|y"), InvalidEventHeader(_)));
    assert!(matches!(err(b"_e{1,1}x|y"), InvalidEventHeader(_)));
    assert!(matches!(err(b"_e{1}:x|y"), InvalidEventHeader(_)));
    assert!(matches!(err(b"_e{1,1:x|y"), InvalidEventHeader(_)));
    assert!(matches!(err(b"_e{-1,1}:x|y"), InvalidEventHeader(_)));
    assert_eq!(err(b"_e{0,1}:|x"), EmptyEventTitle);
    assert_eq!(err(b"_e{10,10}:short|x"), EventLengthMismatch);
    assert_eq!(event("_e{2,1}:\u{e9}|x").title, "\u{e9}");
    assert_eq!(
        err(format!("_e{{{},1}}:x|y", usize::MAX).as_bytes()),
        EventLengthMismatch
    );
    // Slicing inside a multi-byte character in every interpretation.
    assert_eq!(err("_e{1,3}:é|ab".as_bytes()), EventLengthMismatch);
}

#[test]
fn datadogpy_service_check() {
    // Captured from datadogpy 0.53 (reference §2).
    let c = check("_sc|redis.ok|2|d:1700000000|h:h|#env:dev,env:test|m:timed out m\\: 10s");
    assert_eq!(c.name, "redis.ok");
    assert_eq!(c.status, ServiceCheckStatus::Critical);
    assert_eq!(c.status.code(), 2);
    assert_eq!(c.timestamp_s, Some(1_700_000_000));
    assert_eq!(c.hostname.as_deref(), Some("h"));
    assert_eq!(c.tags, ["env:dev", "env:test"]);
    assert_eq!(c.message.as_deref(), Some("timed out m: 10s"));
}

#[test]
fn service_check_message_quirks() {
    // datadogpy appends |c: and |card: after m:.
    let c = check("_sc|x|0|#a:b|m:disk\\nfull|c:ci-123|card:low");
    assert_eq!(c.message.as_deref(), Some("disk\nfull"));
    assert_eq!(c.origin.container_id.as_deref(), Some("ci-123"));
    assert_eq!(c.origin.cardinality.as_deref(), Some("low"));
    assert_eq!(c.tags, ["a:b"]);
    // A '|' inside the message is kept.
    let c = check("_sc|x|1|m:a|b");
    assert_eq!(c.message.as_deref(), Some("a|b"));
    assert_eq!(c.status, ServiceCheckStatus::Warning);
    // Minimal and unknown status codes.
    let c = check("_sc|x|3");
    assert_eq!(c.status, ServiceCheckStatus::Unknown);
    assert_eq!(c.message, None);
    assert_eq!(check("_sc|x|0|").status, ServiceCheckStatus::Ok);
    // Bad timestamps are ignored, as in the Agent.
    assert_eq!(check("_sc|x|0|d:never").timestamp_s, None);
}

#[test]
fn malformed_service_checks() {
    use ParseError::*;
    assert!(matches!(err(b"_sc"), InvalidServiceCheck(_)));
    assert!(matches!(err(b"_sc|"), InvalidServiceCheck(_)));
    assert!(matches!(err(b"_sc|name"), InvalidServiceCheck(_)));
    assert!(matches!(err(b"_sc||0"), InvalidServiceCheck(_)));
    assert_eq!(err(b"_sc|x|5"), InvalidServiceCheckStatus("5".into()));
    assert_eq!(err(b"_sc|x|"), InvalidServiceCheckStatus(String::new()));
    assert_eq!(err(b"_sc|x|OK|m:y"), InvalidServiceCheckStatus("OK".into()));
}

#[test]
fn error_kinds_are_distinct_and_labelled() {
    let labels: std::collections::BTreeSet<&str> =
        ParseErrorKind::ALL.iter().map(|k| k.as_str()).collect();
    assert_eq!(labels.len(), ParseErrorKind::ALL.len());
    assert_eq!(err(b"foo").kind(), ParseErrorKind::MissingType);
    assert_eq!(
        err(b"_sc|x|9").kind(),
        ParseErrorKind::InvalidServiceCheckStatus
    );
    assert_eq!(
        ParseError::NonFiniteValue("nan".into()).to_string(),
        "non-finite metric value \"nan\""
    );
}

fn kind_strategy() -> impl Strategy<Value = MetricKind> {
    prop::sample::select(vec![
        MetricKind::Count,
        MetricKind::Gauge,
        MetricKind::Timer,
        MetricKind::Histogram,
        MetricKind::Distribution,
    ])
}

proptest! {
    #[test]
    fn never_panics_on_bytes(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        let _ = parse_datagram(&bytes);
    }

    #[test]
    fn never_panics_on_near_misses(
        s in "(_e\\{|_sc\\||[a-z]{1,3}:)[0-9a-zé|:,#@T{}._\\\\nmsdghc-]{0,60}"
    ) {
        for r in parse_datagram(s.as_bytes()).into_iter().flatten() {
            if let Message::Metric(m) = r {
                prop_assert!(m.values.iter().all(|v| v.is_finite()));
                prop_assert!(m.sample_rate > 0.0 && m.sample_rate <= 1.0);
            }
        }
    }

    #[test]
    fn formatted_metrics_round_trip(
        name in "[a-z][a-z0-9_.]{0,20}",
        values in prop::collection::vec(-1e12f64..1e12, 1..5),
        kind in kind_strategy(),
        rate in prop::option::of(0.001f64..=1.0),
        tags in prop::collection::vec("[a-z]{1,5}(:[a-z0-9]{1,5})?", 0..4),
        ts in prop::option::of(1i64..4_000_000_000),
    ) {
        let mut line = format!("{name}:");
        line.push_str(&values.iter().map(|v| v.to_string()).collect::<Vec<_>>().join(":"));
        line.push('|');
        line.push_str(kind.symbol());
        if let Some(r) = rate {
            line.push_str(&format!("|@{r}"));
        }
        if !tags.is_empty() {
            line.push_str(&format!("|#{}", tags.join(",")));
        }
        if let Some(t) = ts {
            line.push_str(&format!("|T{t}"));
        }
        let m = metric(&line);
        prop_assert_eq!(m.name, name);
        prop_assert_eq!(m.values, values);
        prop_assert_eq!(m.kind, kind);
        prop_assert_eq!(m.sample_rate, rate.unwrap_or(1.0));
        prop_assert_eq!(m.tags, tags);
        prop_assert_eq!(m.timestamp_s, ts);
    }

    #[test]
    fn formatted_events_round_trip(title in "[^|\n]{1,12}", text in "[^\n]{0,20}") {
        // datadogpy: lengths of the escaped UTF-8 strings.
        let line = format!("_e{{{},{}}}:{title}|{text}|#t", title.len(), text.len());
        let e = event(&line);
        prop_assert_eq!(e.title, title.replace("\\n", "\n"));
        prop_assert_eq!(e.text, text.replace("\\n", "\n"));
    }
}
