use super::*;
use rand::rngs::StdRng;
use rand::SeedableRng;

const NOW: i64 = 1_700_000_000_000;

fn format(protocol: LogsProtocol) -> LogsFormat {
    LogsFormat {
        protocol,
        framing: SyslogFraming::Octet,
        ..LogsFormat::datadog(None)
    }
}

fn batch(n: usize) -> Vec<Record> {
    records(&generate_batch(&mut StdRng::seed_from_u64(9), n, NOW))
}

fn render(protocol: LogsProtocol, framing: SyslogFraming, n: usize) -> Vec<u8> {
    let f = LogsFormat {
        framing,
        ..format(protocol)
    };
    f.render(&mut StdRng::seed_from_u64(9), n, NOW)
}

/// Splits an octet-counted stream into its messages, checking that every
/// count is right and that nothing is left over.
fn octet_frames(mut body: &[u8]) -> Vec<String> {
    let mut out = Vec::new();
    while !body.is_empty() {
        let space = body.iter().position(|b| *b == b' ').expect("a length");
        let len: usize = std::str::from_utf8(&body[..space])
            .unwrap()
            .parse()
            .unwrap();
        assert!(body[0] != b'0', "no leading zero");
        let message = &body[space + 1..space + 1 + len];
        out.push(String::from_utf8(message.to_vec()).unwrap());
        body = &body[space + 1 + len..];
    }
    out
}

#[test]
fn records_keep_every_field_of_the_datadog_events() {
    let values = generate_batch(&mut StdRng::seed_from_u64(9), 2_000, NOW);
    let recs = records(&values);
    assert_eq!(recs.len(), 2_000);
    let (mut with_http, mut with_trace) = (0, 0);
    for (r, v) in recs.iter().zip(&values) {
        assert_eq!(r.message, v["message"].as_str().unwrap());
        assert_eq!(r.host, v["hostname"].as_str().unwrap());
        assert_eq!(r.service, v["service"].as_str().unwrap());
        assert_eq!(r.status, v["status"].as_str().unwrap());
        assert_eq!(r.ts_ms, v["timestamp"].as_i64().unwrap());
        let keys: Vec<&str> = r.attrs.iter().map(|(k, _)| k.as_str()).collect();
        for key in ["ddsource", "env", "region", "version"] {
            assert!(keys.contains(&key), "{key} in {keys:?}");
        }
        assert!(keys.windows(2).all(|w| w[0] <= w[1]), "sorted: {keys:?}");
        if let Some(code) = v["http"]["status_code"].as_i64() {
            with_http += 1;
            assert!(r
                .attrs
                .contains(&("http.status_code".into(), AttrValue::Int(code))));
        }
        if let Some(id) = v["dd"]["trace_id"].as_str() {
            with_trace += 1;
            assert_eq!(r.trace_id, Some(id.parse().unwrap()));
            assert!(r.span_id.is_some());
        }
        assert!(!keys.iter().any(|k| k.starts_with("dd.")), "{keys:?}");
    }
    assert!(
        with_http > 100 && with_trace > 100,
        "{with_http} {with_trace}"
    );
}

#[test]
fn datadog_rendering_is_the_json_array() {
    let body = render(LogsProtocol::Datadog, SyslogFraming::Octet, 300);
    let json = generate_batch_json(&mut StdRng::seed_from_u64(9), 300, NOW);
    assert_eq!(body, json.into_bytes());
}

#[test]
fn bulk_bodies_are_action_and_document_pairs() {
    let body = render(LogsProtocol::Bulk, SyslogFraming::Octet, 500);
    let expected = batch(500);
    let text = String::from_utf8(body).unwrap();
    assert!(text.ends_with('\n'));
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 1_000);
    for (pair, r) in lines.chunks(2).zip(&expected) {
        let action: Value = serde_json::from_str(pair[0]).unwrap();
        assert_eq!(action, serde_json::json!({"create": {"_index": "loadgen"}}));
        let doc: Value = serde_json::from_str(pair[1]).unwrap();
        assert!(pair[1].starts_with("{\"@timestamp\":\""), "{}", pair[1]);
        assert_eq!(doc["@timestamp"], iso_time(r.ts_ms));
        assert_eq!(doc["message"], r.message.as_str());
        assert_eq!(doc["log.level"], r.status.as_str());
        assert_eq!(doc["host.name"], r.host.as_str());
        assert_eq!(doc["service.name"], r.service.as_str());
        assert!(
            doc["env"].is_string() && doc["ddsource"].is_string(),
            "{doc}"
        );
        if let Some(id) = r.trace_id {
            assert_eq!(doc["dd.trace_id"], id.to_string());
        }
        for (key, value) in &r.attrs {
            match value {
                AttrValue::Str(s) => assert_eq!(doc[key], s.as_str()),
                AttrValue::Int(i) => assert_eq!(doc[key], *i),
            }
        }
    }
}

#[test]
fn otlp_json_bodies_follow_the_otlp_json_mapping() {
    let body = render(LogsProtocol::OtlpJson, SyslogFraming::Octet, 1_000);
    let expected = batch(1_000);
    let request: Value = serde_json::from_slice(&body).unwrap();
    let mut seen = Vec::new();
    let resources = request["resourceLogs"].as_array().unwrap();
    assert!(resources.len() > 20, "grouped by service and host");
    for rl in resources {
        let attrs = rl["resource"]["attributes"].as_array().unwrap();
        assert_eq!(attrs[0]["key"], "service.name");
        assert_eq!(attrs[1]["key"], "host.name");
        let service = attrs[0]["value"]["stringValue"].as_str().unwrap();
        let host = attrs[1]["value"]["stringValue"].as_str().unwrap();
        let scope = &rl["scopeLogs"][0];
        assert_eq!(scope["scope"]["name"], otlp::SCOPE_NAME);
        for lr in scope["logRecords"].as_array().unwrap() {
            let nanos: u64 = lr["timeUnixNano"].as_str().unwrap().parse().unwrap();
            assert_eq!(lr["observedTimeUnixNano"], lr["timeUnixNano"]);
            assert!(lr["severityNumber"].is_i64(), "{lr}");
            assert!(lr["severityText"].is_string(), "{lr}");
            for kv in lr["attributes"].as_array().unwrap() {
                let v = &kv["value"];
                let int_ok = v["intValue"]
                    .as_str()
                    .is_some_and(|s| s.parse::<i64>().is_ok());
                assert!(v["stringValue"].is_string() || int_ok, "{kv}");
            }
            if let Some(id) = lr["traceId"].as_str() {
                assert_eq!(id.len(), 32);
                assert_eq!(lr["spanId"].as_str().unwrap().len(), 16);
            }
            let body = lr["body"]["stringValue"].as_str().unwrap().to_owned();
            seen.push((service.to_owned(), host.to_owned(), nanos, body, lr.clone()));
        }
    }
    assert_eq!(seen.len(), 1_000);
    // Every event is there once, with its own fields.
    for r in &expected {
        let found = seen
            .iter()
            .find(|s| s.3 == r.message && s.2 == r.ts_ms as u64 * 1_000_000)
            .unwrap();
        assert_eq!(
            (found.0.as_str(), found.1.as_str()),
            (&*r.service, &*r.host)
        );
        let (number, _) = severity_number(&r.status);
        assert_eq!(found.4["severityNumber"], number);
        if let Some(id) = r.trace_id {
            let hex = found.4["traceId"].as_str().unwrap();
            assert_eq!(u128::from_str_radix(hex, 16).unwrap(), u128::from(id));
        }
    }
}

#[test]
fn syslog_octet_frames_have_the_right_counts() {
    let body = render(LogsProtocol::Syslog, SyslogFraming::Octet, 800);
    let expected = batch(800);
    let frames = octet_frames(&body);
    assert_eq!(frames.len(), 800);
    let mut multi_line = 0;
    for (m, r) in frames.iter().zip(&expected) {
        assert_eq!(m, &syslog_message(r));
        let pri = u16::from(SYSLOG_FACILITY) * 8 + u16::from(syslog_severity(&r.status));
        let head = format!("<{pri}>1 {} {} {} ", iso_time(r.ts_ms), r.host, r.service);
        assert!(m.starts_with(&head), "{m}");
        assert!(m.contains(&format!(" - [{SYSLOG_SD_ID} ")), "{m}");
        assert!(m.ends_with(&format!("] {}", r.message)), "{m}");
        multi_line += usize::from(m.contains('\n'));
    }
    assert!(multi_line > 0, "stack traces keep their lines");
}

#[test]
fn syslog_newline_frames_are_one_message_per_line() {
    let body = render(LogsProtocol::Syslog, SyslogFraming::Newline, 800);
    let text = String::from_utf8(body).unwrap();
    assert!(text.ends_with('\n') && !text.contains('\r'));
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 800);
    for (line, r) in lines.iter().zip(batch(800)) {
        assert_eq!(*line, syslog_message(&r).replace('\n', " "));
        assert!(line.starts_with('<') && line.contains(">1 "), "{line}");
    }
}

#[test]
fn syslog_structured_data_is_escaped() {
    let r = Record {
        ts_ms: NOW,
        message: "boom\nat x".into(),
        status: "critical".into(),
        host: "web 1".into(),
        service: String::new(),
        trace_id: Some(7),
        span_id: None,
        attrs: vec![
            ("a\"b]=c d".into(), AttrValue::Str(r#"q"u]o\te"#.into())),
            ("n".into(), AttrValue::Int(-3)),
        ],
    };
    let m = syslog_message(&r);
    assert!(
        m.starts_with("<10>1 2023-11-14T22:13:20.000Z web1 - "),
        "{m}"
    );
    assert!(
        m.ends_with(
            &(r#"[attrs@32473 abcd="q\"u\]o\\te" n="-3" dd.trace_id="7"] boom"#.to_owned()
                + "\nat x")
        ),
        "{m}"
    );
    let pid: u32 = m.split(' ').nth(4).unwrap().parse().unwrap();
    assert!((1000..65_000).contains(&pid));
}

#[test]
fn severities_map_statuses() {
    assert_eq!(syslog_severity("debug"), 7);
    assert_eq!(syslog_severity("info"), 6);
    assert_eq!(syslog_severity("warn"), 4);
    assert_eq!(syslog_severity("error"), 3);
    assert_eq!(syslog_severity("critical"), 2);
    assert_eq!(severity_number("info"), (9, "INFO"));
    assert_eq!(severity_number("warn"), (13, "WARN"));
    assert_eq!(severity_number("error"), (17, "ERROR"));
    assert_eq!(severity_number("critical"), (21, "CRITICAL"));
    assert_eq!(severity_number("debug"), (5, "DEBUG"));
}

#[test]
fn every_protocol_renders_deterministically() {
    for protocol in [
        LogsProtocol::Datadog,
        LogsProtocol::Otlp,
        LogsProtocol::OtlpJson,
        LogsProtocol::Bulk,
        LogsProtocol::Syslog,
    ] {
        let a = render(protocol, SyslogFraming::Octet, 200);
        assert_eq!(
            a,
            render(protocol, SyslogFraming::Octet, 200),
            "{protocol:?}"
        );
        let other = format(protocol).render(&mut StdRng::seed_from_u64(10), 200, NOW);
        assert_ne!(a, other, "{protocol:?}");
    }
}

#[test]
fn otlp_protobuf_bodies_decode_with_prost_and_match_the_json() {
    use prost::Message as _;
    use strata_ingest::otlp::common::any_value::Value as Any;
    use strata_ingest::otlp::common::KeyValue;
    use strata_ingest::otlp::logs::ExportLogsServiceRequest;

    let body = render(LogsProtocol::Otlp, SyslogFraming::Octet, 1_000);
    let request = ExportLogsServiceRequest::decode(&body[..]).unwrap();
    let expected = batch(1_000);
    assert_eq!(request, otlp_request(&expected));
    let mut count = 0;
    for rl in &request.resource_logs {
        let resource = rl.resource.as_ref().unwrap();
        let keys: Vec<&str> = resource
            .attributes
            .iter()
            .map(|kv| kv.key.as_str())
            .collect();
        assert_eq!(keys[..2], ["service.name", "host.name"]);
        assert!(keys[2..]
            .iter()
            .all(|k| ["deployment.environment", "service.version"].contains(k)));
        for lr in &rl.scope_logs[0].log_records {
            count += 1;
            assert!(lr.time_unix_nano > 1_600_000_000_000_000_000);
            assert!(matches!(lr.severity_number, 5 | 9 | 13 | 17 | 21), "{lr:?}");
            let Some(Any::StringValue(message)) = lr.body.as_ref().and_then(|b| b.value.clone())
            else {
                panic!("{lr:?}");
            };
            let r = expected
                .iter()
                .find(|r| r.message == message && r.ts_ms as u64 * 1_000_000 == lr.time_unix_nano)
                .unwrap();
            // env and version are resource attributes.
            let on_record = r
                .attrs
                .iter()
                .filter(|(k, _)| k != "env" && k != "version")
                .count();
            assert_eq!(lr.attributes.len(), on_record);
            let env = r.attrs.iter().find(|(k, _)| k == "env");
            if let Some((_, AttrValue::Str(env))) = env {
                assert!(resource
                    .attributes
                    .contains(&KeyValue::string("deployment.environment", env.as_str())));
            }
            assert_eq!(lr.trace_id.len(), if r.trace_id.is_some() { 16 } else { 0 });
            assert_eq!(lr.span_id.len(), if r.span_id.is_some() { 8 } else { 0 });
        }
    }
    assert_eq!(count, 1_000);

    // The OTLP/JSON rendering, read with the intake's own serde mapping, is
    // the same request.
    let json = render(LogsProtocol::OtlpJson, SyslogFraming::Octet, 1_000);
    let from_json: ExportLogsServiceRequest = serde_json::from_slice(&json).unwrap();
    assert_eq!(from_json, request);
}
