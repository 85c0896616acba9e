//! Table tests of the syslog parser with real lines: the RFC 5424 §6.5 and
//! RFC 3164 §5.4 examples, `logger` and rsyslog output, and malformed input.

use serde_json::{json, Value};
use strata_types::Status;

use super::*;

/// 2024-05-01T12:00:00Z
const RECEIVED: i64 = 1_714_564_800_000_000_000;

struct Case {
    line: &'static [u8],
    received: i64,
    host: Option<&'static str>,
    service: Option<&'static str>,
    status: Status,
    /// RFC 3339, or `None` for the receive time.
    time: Option<&'static str>,
    message: &'static str,
    /// `syslog_format:…` value, or `None` for a parse error.
    format: Option<&'static str>,
    /// Attributes that must be present with these values.
    attributes: Value,
}

fn case(line: &'static [u8]) -> Case {
    Case {
        line,
        received: RECEIVED,
        host: None,
        service: None,
        status: Status::Notice,
        time: None,
        message: "",
        format: Some("rfc3164"),
        attributes: json!({}),
    }
}

fn ns(rfc3339: &str) -> i64 {
    DateTime::parse_from_rfc3339(rfc3339)
        .unwrap()
        .timestamp_nanos_opt()
        .unwrap()
}

fn check(c: &Case) {
    let what = String::from_utf8_lossy(c.line);
    let event = parse(c.line, c.received, DEFAULT_MAX_LINE_BYTES);
    assert_eq!(event.host.as_deref(), c.host, "host of {what}");
    assert_eq!(event.service.as_deref(), c.service, "service of {what}");
    assert_eq!(event.status, c.status, "status of {what}");
    assert_eq!(event.message, c.message, "message of {what}");
    assert_eq!(event.source.as_deref(), Some("syslog"));
    let want_time = c.time.map_or(c.received, ns);
    assert_eq!(event.timestamp_ns, want_time, "time of {what}");
    match c.format {
        Some(format) => {
            assert_eq!(
                event.tags,
                vec![format!("syslog_format:{format}")],
                "{what}"
            );
        }
        None => assert_eq!(event.tags, vec![PARSE_ERROR_TAG.to_string()], "{what}"),
    }
    let attributes: serde_json::Map<String, Value> = event
        .attributes
        .iter()
        .map(|(k, v)| (k.clone(), v.to_json()))
        .collect();
    let Value::Object(want) = &c.attributes else {
        panic!("attributes are an object")
    };
    for (key, value) in want {
        assert_eq!(
            attributes.get(key),
            Some(value),
            "{key} of {what}: {attributes:?}"
        );
    }
}

/// RFC 5424 §6.5, examples 1 to 4.
#[test]
fn rfc5424_rfc_examples() {
    let cases = [
        Case {
            host: Some("mymachine.example.com"),
            service: Some("su"),
            status: Status::Critical,
            time: Some("2003-10-11T22:14:15.003Z"),
            message: "'su root' failed for lonvick on /dev/pts/8",
            format: Some("rfc5424"),
            attributes: json!({"syslog.facility": 4, "syslog.facility_name": "auth",
                "syslog.severity": 2, "syslog.msgid": "ID47"}),
            ..case(b"<34>1 2003-10-11T22:14:15.003Z mymachine.example.com su - ID47 - \xEF\xBB\xBF'su root' failed for lonvick on /dev/pts/8")
        },
        Case {
            host: Some("192.0.2.1"),
            service: Some("myproc"),
            time: Some("2003-08-24T12:14:15.000003Z"),
            message: "%% It's time to make the do-nuts.",
            format: Some("rfc5424"),
            attributes: json!({"syslog.facility": 20, "syslog.facility_name": "local4",
                "syslog.procid": "8710"}),
            ..case(b"<165>1 2003-08-24T05:14:15.000003-07:00 192.0.2.1 myproc 8710 - - %% It's time to make the do-nuts.")
        },
        Case {
            host: Some("mymachine.example.com"),
            service: Some("evntslog"),
            time: Some("2003-10-11T22:14:15.003Z"),
            message: "An application event log entry...",
            format: Some("rfc5424"),
            attributes: json!({"exampleSDID@32473.iut": "3",
                "exampleSDID@32473.eventSource": "Application",
                "exampleSDID@32473.eventID": "1011", "syslog.msgid": "ID47"}),
            ..case(b"<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 [exampleSDID@32473 iut=\"3\" eventSource=\"Application\" eventID=\"1011\"] \xEF\xBB\xBFAn application event log entry...")
        },
        Case {
            host: Some("mymachine.example.com"),
            service: Some("evntslog"),
            time: Some("2003-10-11T22:14:15.003Z"),
            format: Some("rfc5424"),
            attributes: json!({"exampleSDID@32473.iut": "3",
                "examplePriority@32473.class": "high"}),
            ..case(b"<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 [exampleSDID@32473 iut=\"3\" eventSource=\"Application\" eventID=\"1011\"][examplePriority@32473 class=\"high\"]")
        },
    ];
    for c in &cases {
        check(c);
    }
}

/// Escapes, repeated names, NILVALUEs, `logger` and rsyslog output.
#[test]
fn rfc5424_escapes_and_clients() {
    let cases = [
        // Escapes in SD values; any other backslash is kept.
        Case {
            host: Some("h"),
            service: Some("app"),
            message: "msg",
            format: Some("rfc5424"),
            attributes: json!({"x@1.a": "q\"uote", "x@1.b": "br]acket",
                "x@1.c": "back\\slash", "x@1.d": "other\\n"}),
            ..case(br#"<13>1 - h app - - [x@1 a="q\"uote" b="br\]acket" c="back\\slash" d="other\n"] msg"#)
        },
        // A repeated PARAM-NAME keeps every value.
        Case {
            host: Some("h"),
            service: Some("app"),
            message: "m",
            format: Some("rfc5424"),
            attributes: json!({"origin.ip": ["10.0.0.1", "10.0.0.2"]}),
            ..case(br#"<13>1 - h app - - [origin ip="10.0.0.1" ip="10.0.0.2"] m"#)
        },
        // Every field NILVALUE.
        Case {
            format: Some("rfc5424"),
            attributes: json!({"syslog.facility": 1, "syslog.facility_name": "user"}),
            ..case(b"<13>1 - - - - - -")
        },
        // `logger --rfc5424 --sd-id zoo@123 --sd-param tiger=\"hungry\"`.
        Case {
            host: Some("myhost"),
            service: Some("alice"),
            time: Some("2024-05-01T11:59:58.123456Z"),
            message: "hello world",
            format: Some("rfc5424"),
            attributes: json!({"timeQuality.tzKnown": "1", "timeQuality.isSynced": "0",
                "zoo@123.tiger": "hungry"}),
            ..case(br#"<13>1 2024-05-01T11:59:58.123456+00:00 myhost alice - - [timeQuality tzKnown="1" isSynced="0"][zoo@123 tiger="hungry"] hello world"#)
        },
        // rsyslog RSYSLOG_SyslogProtocol23Format (its template ends in LF).
        Case {
            host: Some("web1"),
            service: Some("nginx"),
            status: Status::Info,
            time: Some("2024-05-01T09:59:59.5Z"),
            message: "GET / 200",
            format: Some("rfc5424"),
            attributes: json!({"meta@1.k": "v", "syslog.procid": "4242",
                "syslog.msgid": "access"}),
            ..case(b"<14>1 2024-05-01T11:59:59.5+02:00 web1 nginx 4242 access [meta@1 k=\"v\"] GET / 200\n")
        },
        // An invalid timestamp: receive time, the text kept.
        Case {
            host: Some("host"),
            service: Some("app"),
            message: "msg",
            format: Some("rfc5424"),
            attributes: json!({"syslog.timestamp": "yesterday"}),
            ..case(b"<13>1 yesterday host app - - - msg")
        },
        Case {
            host: Some("h"),
            service: Some("a"),
            message: "caf\u{FFFD}",
            format: Some("rfc5424"),
            ..case(b"<13>1 - h a - - - caf\xE9")
        },
    ];
    for c in &cases {
        check(c);
    }
}

/// RFC 3164 §5.4 examples and `logger --rfc3164`.
#[test]
fn rfc3164_rfc_examples_and_logger() {
    let cases = [
        // Received in May 2024: October is last year's.
        Case {
            host: Some("mymachine"),
            service: Some("su"),
            status: Status::Critical,
            time: Some("2023-10-11T22:14:15Z"),
            message: "'su root' failed for lonvick on /dev/pts/8",
            attributes: json!({"syslog.facility": 4, "syslog.facility_name": "auth"}),
            ..case(b"<34>Oct 11 22:14:15 mymachine su: 'su root' failed for lonvick on /dev/pts/8")
        },
        Case {
            host: Some("10.0.0.99"),
            time: Some("2024-02-05T17:32:18Z"),
            message: "Use the BFG!",
            ..case(b"<13>Feb  5 17:32:18 10.0.0.99 Use the BFG!")
        },
        Case {
            host: Some("CST"),
            time: Some("2023-08-24T05:34:00Z"),
            message: "1987 mymachine myproc[10]: %% It's time to make the do-nuts.",
            attributes: json!({"syslog.facility_name": "local4"}),
            ..case(b"<165>Aug 24 05:34:00 CST 1987 mymachine myproc[10]: %% It's time to make the do-nuts.")
        },
        // No valid timestamp: everything after PRI is the message.
        Case {
            status: Status::Emergency,
            message: "1990 Oct 22 10:52:01 TZ-6 scapegoat.dmz.example.org 10.1.2.3 sched[0]: That's All Folks!",
            attributes: json!({"syslog.facility_name": "kern"}),
            ..case(b"<0>1990 Oct 22 10:52:01 TZ-6 scapegoat.dmz.example.org 10.1.2.3 sched[0]: That's All Folks!")
        },
        // `logger --rfc3164`.
        Case {
            host: Some("myhost"),
            service: Some("alice"),
            time: Some("2024-05-01T11:59:58Z"),
            message: "hello world",
            ..case(b"<13>May  1 11:59:58 myhost alice: hello world")
        },
    ];
    for c in &cases {
        check(c);
    }
}

/// No hostname, RFC 3339 time, year rollover, explicit year, fractions, no timestamp.
#[test]
fn rfc3164_variants() {
    let cases = [
        // A local socket line (no hostname).
        Case {
            service: Some("systemd"),
            status: Status::Info,
            time: Some("2024-05-01T11:59:58Z"),
            message: "Started foo.",
            attributes: json!({"syslog.procid": "1", "syslog.facility_name": "daemon"}),
            ..case(b"<30>May  1 11:59:58 systemd[1]: Started foo.")
        },
        // rsyslog RSYSLOG_ForwardFormat: RFC 3339 time.
        Case {
            host: Some("web1"),
            service: Some("sshd"),
            status: Status::Info,
            time: Some("2024-05-01T09:59:58.123456Z"),
            message: "Accepted publickey for bob",
            attributes: json!({"syslog.procid": "811", "syslog.facility": 10,
                "syslog.facility_name": "authpriv"}),
            ..case(
                b"<86>2024-05-01T11:59:58.123456+02:00 web1 sshd[811]: Accepted publickey for bob",
            )
        },
        // December received on 1 January is last year's ...
        Case {
            received: ns("2024-01-01T00:00:05Z"),
            host: Some("h"),
            service: Some("app"),
            time: Some("2023-12-31T23:59:59Z"),
            message: "x",
            ..case(b"<13>Dec 31 23:59:59 h app: x")
        },
        // ... and 1 January received on 31 December next year's.
        Case {
            received: ns("2023-12-31T23:59:58Z"),
            host: Some("h"),
            service: Some("app"),
            time: Some("2024-01-01T00:00:01Z"),
            message: "x",
            ..case(b"<13>Jan  1 00:00:01 h app: x")
        },
        Case {
            host: Some("h"),
            service: Some("app"),
            time: Some("2022-10-11T22:14:15Z"),
            message: "x",
            ..case(b"<13>Oct 11 2022 22:14:15 h app: x")
        },
        Case {
            host: Some("h"),
            service: Some("app"),
            time: Some("2024-05-01T11:59:58.25Z"),
            message: "x",
            ..case(b"<13>May  1 11:59:58.250 h app: x\r\n")
        },
        Case {
            service: Some("app"),
            message: "hello",
            attributes: json!({"syslog.procid": "12"}),
            ..case(b"<13>app[12]: hello")
        },
        Case {
            message: "just text",
            ..case(b"<13>just text")
        },
    ];
    for c in &cases {
        check(c);
    }
}

#[test]
fn malformed_lines_are_kept_with_the_reason() {
    let cases: [(&[u8], Status, &str); 9] = [
        (b"hello world", Status::Info, "no_pri"),
        (b"", Status::Info, "empty"),
        (b"<192>1 - - - - - - x", Status::Info, "bad_pri"),
        (b"<abc>x", Status::Info, "bad_pri"),
        (b"<1234>x", Status::Info, "bad_pri"),
        (b"<>x", Status::Info, "bad_pri"),
        (
            b"<34>1 2003-10-11T22:14:15.003Z mymachine",
            Status::Critical,
            "truncated_header",
        ),
        (
            b"<11>1 - h a - - [unterminated k=\"v] msg",
            Status::Error,
            "bad_structured_data",
        ),
        (
            b"<11>1 - h a - - msg without sd",
            Status::Error,
            "bad_structured_data",
        ),
    ];
    for (line, status, reason) in cases {
        let event = parse(line, RECEIVED, DEFAULT_MAX_LINE_BYTES);
        let what = String::from_utf8_lossy(line);
        assert_eq!(event.message, what, "raw line kept");
        assert_eq!(event.status, status, "{what}");
        assert_eq!(event.timestamp_ns, RECEIVED);
        assert!(is_parse_error(&event), "{what}");
        assert!(
            event.attributes.contains(&(
                "syslog.parse_error".to_string(),
                AttrValue::Str(reason.into())
            )),
            "{what}: {:?}",
            event.attributes
        );
    }
    assert!(!is_parse_error(&parse(b"<13>x", RECEIVED, 100)));
}

#[test]
fn long_lines_are_cut_and_flagged() {
    let truncated = ("syslog.truncated".to_string(), AttrValue::Bool(true));
    let event = parse(b"<13>1 - h a - - - 0123456789", RECEIVED, 22);
    assert_eq!(event.message, "0123");
    assert!(event.attributes.contains(&truncated));
    // A multi-byte character is not split.
    let event = parse("<13>x: ééé".as_bytes(), RECEIVED, 10);
    assert_eq!(event.message, "é");
    let event = parse(b"<13>short", RECEIVED, 100);
    assert!(!event.attributes.contains(&truncated));
    let frame = Frame {
        bytes: b"<13>cut by the framer".to_vec(),
        truncated: true,
        framing: Framing::LineFeed,
    };
    let event = parse_frame(&frame, RECEIVED, 100);
    assert_eq!(
        event.attributes.iter().filter(|a| **a == truncated).count(),
        1
    );
}

proptest::proptest! {
    #[test]
    fn never_panics(line in proptest::collection::vec(proptest::num::u8::ANY, 0..300),
                    received in proptest::num::i64::ANY, max in 0usize..400) {
        let _ = parse(&line, received, max);
    }

    #[test]
    fn never_panics_after_a_pri(rest in "[ -~\\[\\]\"\\\\]{0,120}", pri in 0u8..192) {
        let line = format!("<{pri}>{rest}");
        let event = parse(line.as_bytes(), RECEIVED, 1000);
        let five = format!("<{pri}>1 ");
        proptest::prop_assert!(!is_parse_error(&event) || line.starts_with(&five));
        let line = format!("<{pri}>1 {rest}");
        let _ = parse(line.as_bytes(), RECEIVED, 1000);
    }
}
