//! Tests for the OTLP logs and traces decoders and the shared helpers.

use prost::Message;
use strata_types::{AttrValue, Event, Status};

use super::common::{
    any_value, AnyValue, ArrayValue, InstrumentationScope, KeyValue, KeyValueList, Resource,
    RpcStatus,
};
use super::logs::{
    severity_status, ExportLogsServiceRequest, ExportLogsServiceResponse, LogRecord, ResourceLogs,
    ScopeLogs,
};
use super::traces::{
    ExportTraceServiceRequest, ExportTraceServiceResponse, ResourceSpans, ScopeSpans, Span,
    SpanEvent, SpanLink, SpanStatus,
};
use super::*;
use crate::ErrorKind;

mod props;
mod review;
mod traces;

const NOW: i64 = 1_700_000_000_000_000_000;
const TRACE_ID: [u8; 16] = [
    0x5b, 0x8e, 0xff, 0xf7, 0x98, 0x03, 0x81, 0x03, 0xd2, 0x69, 0xb6, 0x33, 0x81, 0x3f, 0xc6, 0x0c,
];
const SPAN_ID: [u8; 8] = [0xee, 0xe1, 0x9b, 0x7e, 0xc3, 0xc1, 0xb1, 0x74];

fn request(format: Format) -> OtlpRequest {
    OtlpRequest {
        format,
        now_ns: NOW,
        max_log_bytes: 1 << 20,
        max_decoded_bytes: 64 << 20,
    }
}

fn str_attr(s: &str) -> AttrValue {
    AttrValue::Str(s.into())
}

fn attrs(event: &Event) -> Vec<(&str, &AttrValue)> {
    event
        .attributes
        .iter()
        .map(|(k, v)| (k.as_str(), v))
        .collect()
}

fn kvlist(values: Vec<KeyValue>) -> AnyValue {
    AnyValue {
        value: Some(any_value::Value::KvlistValue(KeyValueList { values })),
    }
}

fn resource() -> Resource {
    Resource {
        attributes: vec![
            KeyValue::string("service.name", "checkout"),
            KeyValue::string("host.name", "web-1"),
            KeyValue::string("deployment.environment", "prod"),
            KeyValue::new("k8s.pod.uid", AnyValue::int(7)),
        ],
        ..Resource::default()
    }
}

fn scope() -> InstrumentationScope {
    InstrumentationScope {
        name: "my.library".into(),
        version: "1.0.0".into(),
        attributes: vec![KeyValue::string("my.scope.attribute", "scoped")],
        dropped_attributes_count: 0,
    }
}

fn logs_request(records: Vec<LogRecord>) -> ExportLogsServiceRequest {
    ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            resource: Some(resource()),
            scope_logs: vec![ScopeLogs {
                scope: Some(scope()),
                log_records: records,
                schema_url: String::new(),
            }],
            schema_url: String::new(),
        }],
    }
}

fn record(body: AnyValue) -> LogRecord {
    LogRecord {
        body: Some(body),
        ..LogRecord::default()
    }
}

fn decode_logs_pb(req: &ExportLogsServiceRequest) -> DecodedEvents {
    decode_logs(&req.encode_to_vec(), &request(Format::Protobuf)).unwrap()
}

fn full_record() -> LogRecord {
    LogRecord {
        time_unix_nano: 1_544_712_660_300_000_000,
        observed_time_unix_nano: 1_544_712_660_400_000_000,
        severity_number: 17,
        severity_text: "Error".into(),
        body: Some(AnyValue::string("payment failed")),
        attributes: vec![
            KeyValue::string("string.attribute", "some string"),
            KeyValue::new(
                "boolean.attribute",
                AnyValue {
                    value: Some(any_value::Value::BoolValue(true)),
                },
            ),
            KeyValue::new("int.attribute", AnyValue::int(10)),
            KeyValue::new(
                "double.attribute",
                AnyValue {
                    value: Some(any_value::Value::DoubleValue(637.704)),
                },
            ),
            KeyValue::new(
                "array.attribute",
                AnyValue {
                    value: Some(any_value::Value::ArrayValue(ArrayValue {
                        values: vec![AnyValue::string("many"), AnyValue::int(2)],
                    })),
                },
            ),
            KeyValue::new(
                "map.attribute",
                kvlist(vec![
                    KeyValue::string("some.map.key", "some value"),
                    KeyValue::new("nested", kvlist(vec![KeyValue::new("n", AnyValue::int(1))])),
                ]),
            ),
            KeyValue::string("my.scope.attribute", "record wins"),
        ],
        trace_id: TRACE_ID.to_vec(),
        span_id: SPAN_ID.to_vec(),
        ..LogRecord::default()
    }
}

const FULL_RECORD_JSON: &str = r#"{"resourceLogs":[{
  "resource":{"attributes":[
    {"key":"service.name","value":{"stringValue":"checkout"}},
    {"key":"host.name","value":{"stringValue":"web-1"}},
    {"key":"deployment.environment","value":{"stringValue":"prod"}},
    {"key":"k8s.pod.uid","value":{"intValue":"7"}}]},
  "scopeLogs":[{
    "scope":{"name":"my.library","version":"1.0.0",
      "attributes":[{"key":"my.scope.attribute","value":{"stringValue":"scoped"}}]},
    "logRecords":[{
      "timeUnixNano":"1544712660300000000",
      "observedTimeUnixNano":1544712660400000000,
      "severityNumber":"SEVERITY_NUMBER_ERROR",
      "severityText":"Error",
      "traceId":"5B8EFFF798038103D269B633813FC60C",
      "spanId":"eee19b7ec3c1b174",
      "body":{"stringValue":"payment failed"},
      "unknownField":{"ignored":[1,2,3]},
      "attributes":[
        {"key":"string.attribute","value":{"stringValue":"some string"}},
        {"key":"boolean.attribute","value":{"boolValue":true}},
        {"key":"int.attribute","value":{"intValue":10}},
        {"key":"double.attribute","value":{"doubleValue":637.704}},
        {"key":"array.attribute","value":{"arrayValue":{"values":[{"stringValue":"many"},{"intValue":"2"}]}}},
        {"key":"map.attribute","value":{"kvlistValue":{"values":[
          {"key":"some.map.key","value":{"stringValue":"some value"}},
          {"key":"nested","value":{"kvlistValue":{"values":[{"key":"n","value":{"intValue":1}}]}}}]}}},
        {"key":"my.scope.attribute","value":{"stringValue":"record wins"}}]
    }]
  }]
}]}"#;

fn assert_full_record(event: &Event) {
    assert_eq!(event.timestamp_ns, 1_544_712_660_300_000_000);
    assert_eq!(event.status, Status::Error);
    assert_eq!(event.message, "payment failed");
    assert_eq!(event.service.as_deref(), Some("checkout"));
    assert_eq!(event.host.as_deref(), Some("web-1"));
    assert_eq!(event.source, None);
    assert_eq!(event.tags, vec!["env:prod".to_string()]);
    assert_eq!(
        event.trace_id.as_deref(),
        Some("5b8efff798038103d269b633813fc60c")
    );
    assert_eq!(
        attrs(event),
        vec![
            ("span_id", &str_attr("eee19b7ec3c1b174")),
            ("string.attribute", &str_attr("some string")),
            ("boolean.attribute", &AttrValue::Bool(true)),
            ("int.attribute", &AttrValue::Int(10)),
            ("double.attribute", &AttrValue::Float(637.704)),
            ("array.attribute", &AttrValue::Json(r#"["many",2]"#.into())),
            ("map.attribute.some.map.key", &str_attr("some value")),
            ("map.attribute.nested.n", &AttrValue::Int(1)),
            ("my.scope.attribute", &str_attr("record wins")),
            ("k8s.pod.uid", &AttrValue::Int(7)),
            ("otel.scope.name", &str_attr("my.library")),
            ("otel.scope.version", &str_attr("1.0.0")),
            ("otel.severity_text", &str_attr("Error")),
        ]
    );
}

#[test]
fn protobuf_log_record_maps_every_field() {
    let decoded = decode_logs_pb(&logs_request(vec![full_record()]));
    assert_eq!(decoded.rejected, 0);
    assert_eq!(decoded.error_message, "");
    assert_eq!(decoded.events.len(), 1);
    assert_full_record(&decoded.events[0]);
    let heap: usize = decoded.events.iter().map(Event::heap_size).sum();
    assert_eq!(decoded.heap_bytes, heap as u64);
}

#[test]
fn json_log_record_gives_the_same_events_as_protobuf() {
    let json = decode_logs(FULL_RECORD_JSON.as_bytes(), &request(Format::Json)).unwrap();
    let pb = decode_logs_pb(&logs_request(vec![full_record()]));
    assert_full_record(&json.events[0]);
    assert_eq!(json, pb);
}

#[test]
fn snake_case_keys_nulls_and_enum_numbers_are_accepted() {
    let body = br#"{"resource_logs":[{"resource":null,"scope_logs":[{"scope":null,
        "log_records":[{"time_unix_nano":5,"severity_number":13,"severity_text":null,
        "body":{"string_value":"x"},"attributes":null,"trace_id":"","span_id":null}]}]}]}"#;
    let decoded = decode_logs(body, &request(Format::Json)).unwrap();
    let event = &decoded.events[0];
    assert_eq!((event.timestamp_ns, event.status), (5, Status::Warn));
    assert_eq!(event.message, "x");
    assert_eq!(event.trace_id, None);
    assert!(event.attributes.is_empty());
}

/// The JSON walk converts records as they are parsed; records that come
/// before their `resource` or `scope` key are held until it is known, so
/// every key order gives the same events.
#[test]
fn json_keys_in_any_order_give_the_same_events() {
    let resource = r#""resource":{"attributes":[{"key":"service.name","value":{"stringValue":"svc"}},
        {"key":"host.name","value":{"stringValue":"h1"}},{"key":"r","value":{"intValue":"1"}}]}"#;
    let scope = r#""scope":{"name":"lib","version":"2","attributes":[{"key":"s","value":{"boolValue":true}}]}"#;
    let records = r#""logRecords":[{"timeUnixNano":"5","body":{"stringValue":"one"},
        "attributes":[{"key":"a","value":{"stringValue":"x"}}]},
        {"timeUnixNano":"6","severityText":"warn","body":{"stringValue":"two"}}]"#;
    let other = r#"{"scope":{"name":"other"},"logRecords":[{"timeUnixNano":"7"}]}"#;
    let body = |group: String| format!(r#"{{"resourceLogs":[{group},{{"scopeLogs":[{other}]}}]}}"#);
    let decode = |text: String| decode_logs(text.as_bytes(), &request(Format::Json)).unwrap();
    let canonical = decode(body(format!(
        r#"{{{resource},"scopeLogs":[{{{scope},{records}}},{other}]}}"#
    )));
    assert_eq!(canonical.events.len(), 4);
    assert_eq!(canonical.events[0].service.as_deref(), Some("svc"));
    assert_eq!(
        canonical.events[2].service.as_deref(),
        Some("svc"),
        "the second scope"
    );
    assert_eq!(
        canonical.events[3].service, None,
        "a resource group without resource"
    );
    assert_eq!(canonical.events[2].attributes.len(), 2);
    for group in [
        format!(r#"{{"scopeLogs":[{{{scope},{records}}},{other}],{resource}}}"#),
        format!(r#"{{{resource},"scopeLogs":[{{{records},{scope}}},{other}]}}"#),
        format!(r#"{{"scopeLogs":[{{{records},{scope}}},{other}],"schemaUrl":null,{resource}}}"#),
    ] {
        assert_eq!(decode(body(group.clone())), canonical, "{group}");
    }
}

/// Review of the JSON walk: a field given twice is a 400 as it was for the
/// derived structs (else a second `resource` would apply to records parsed
/// under the first); scope groups held before their resource are charged
/// to the budget; a cut body does not keep its whole allocation.
#[test]
fn json_walk_refuses_duplicates_and_bounds_held_groups() {
    let json = request(Format::Json);
    for body in [
        r#"{"resourceLogs":[],"resource_logs":[]}"#,
        r#"{"resourceLogs":[{"resource":{},"resource":{}}]}"#,
        r#"{"resourceLogs":[{"scopeLogs":[],"scope_logs":[]}]}"#,
        r#"{"resourceLogs":[{"schemaUrl":"a","schemaUrl":"b"}]}"#,
        r#"{"resourceLogs":[{"scopeLogs":[{"scope":{},"scope":{}}]}]}"#,
        r#"{"resourceLogs":[{"scopeLogs":[{"logRecords":[],"log_records":[]}]}]}"#,
    ] {
        let err = decode_logs(body.as_bytes(), &json).unwrap_err();
        assert_eq!(err.kind, ErrorKind::BadRequest, "{body}");
        assert!(
            err.detail.contains("duplicate field"),
            "{body}: {}",
            err.detail
        );
    }

    // Scope groups before their resource are held: charged, so many of
    // them (with records) run out of budget; empty ones are not kept.
    let groups = r#"{"logRecords":[{}]},"#.repeat(20_000);
    let body = format!(r#"{{"resourceLogs":[{{"scopeLogs":[{groups}{{}}],"resource":{{}}}}]}}"#);
    let mut small = request(Format::Json);
    small.max_decoded_bytes = 100_000;
    let err = decode_logs(body.as_bytes(), &small).unwrap_err();
    assert_eq!(err.kind, ErrorKind::TooLarge);
    let empty = format!(
        r#"{{"resourceLogs":[{{"scopeLogs":[{}{{}}]}}]}}"#,
        "{},".repeat(100_000)
    );
    assert!(decode_logs(empty.as_bytes(), &small)
        .unwrap()
        .events
        .is_empty());

    let mut cut = request(Format::Protobuf);
    cut.max_log_bytes = 10;
    let body = logs_request(vec![record(AnyValue::string("x".repeat(100_000)))]).encode_to_vec();
    let event = &decode_logs(&body, &cut).unwrap().events[0];
    assert_eq!(event.message.len(), 10);
    assert!(event.message.capacity() < 100, "the cut body was copied");
}

#[test]
fn spec_example_logs_json_decodes() {
    // The shape of opentelemetry-proto's examples/logs.json.
    let body = br#"{"resourceLogs":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"svc"}}]},
      "scopeLogs":[{"scope":{"name":"lib","version":"2.0.0","attributes":[]},
      "logRecords":[{"timeUnixNano":1544712660300000000,"observedTimeUnixNano":1544712660300000000,
        "severityText":"Information","traceId":"5B8EFFF798038103D269B633813FC60C","spanId":"EEE19B7EC3C1B174",
        "body":{"stringValue":"Example log record"},
        "attributes":[{"key":"map.attribute","value":{"kvlistValue":{"values":[
          {"key":"some.map.key","value":{"stringValue":"some value"}}]}}}]}]}]}]}"#;
    let decoded = decode_logs(body, &request(Format::Json)).unwrap();
    let event = &decoded.events[0];
    assert_eq!(event.status, Status::Info);
    assert_eq!(event.service.as_deref(), Some("svc"));
    assert_eq!(event.message, "Example log record");
    assert_eq!(event.attributes[1].0, "map.attribute.some.map.key");
}

#[test]
fn severity_table() {
    let cases = [
        (1, Status::Debug),
        (5, Status::Debug),
        (8, Status::Debug),
        (9, Status::Info),
        (12, Status::Info),
        (13, Status::Warn),
        (16, Status::Warn),
        (17, Status::Error),
        (20, Status::Error),
        (21, Status::Emergency),
        (24, Status::Emergency),
    ];
    for (number, status) in cases {
        assert_eq!(severity_status(number, "ignored"), status, "{number}");
    }
    assert_eq!(severity_status(21, ""), Status::normalize("fatal"));
    assert_eq!(severity_status(0, "WARNING"), Status::Warn);
    assert_eq!(severity_status(0, "fatal"), Status::Emergency);
    assert_eq!(severity_status(0, "crit"), Status::Critical);
    assert_eq!(severity_status(0, ""), Status::Info);
    assert_eq!(severity_status(99, "  "), Status::Info);
    let by_name = br#"{"resourceLogs":[{"scopeLogs":[{"logRecords":[
        {"severityNumber":"SEVERITY_NUMBER_TRACE3"},{"severityNumber":"SEVERITY_NUMBER_FATAL4"},
        {"severityNumber":"SEVERITY_NUMBER_UNSPECIFIED","severityText":"warn"}]}]}]}"#;
    let decoded = decode_logs(by_name, &request(Format::Json)).unwrap();
    let statuses: Vec<_> = decoded.events.iter().map(|e| e.status).collect();
    assert_eq!(statuses, [Status::Debug, Status::Emergency, Status::Warn]);
    let bad_name =
        br#"{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"severityNumber":"LOUD"}]}]}]}"#;
    let err = decode_logs(bad_name, &request(Format::Json)).unwrap_err();
    assert_eq!(err.kind, ErrorKind::BadRequest);
}

#[test]
fn timestamp_falls_back_to_observed_time_then_now() {
    let records = vec![
        LogRecord {
            time_unix_nano: 10,
            observed_time_unix_nano: 20,
            ..LogRecord::default()
        },
        LogRecord {
            observed_time_unix_nano: 20,
            ..LogRecord::default()
        },
        LogRecord::default(),
        LogRecord {
            time_unix_nano: u64::MAX,
            ..LogRecord::default()
        },
    ];
    let decoded = decode_logs_pb(&logs_request(records));
    let times: Vec<_> = decoded.events.iter().map(|e| e.timestamp_ns).collect();
    assert_eq!(times, [10, 20, NOW, i64::MAX]);
}

#[test]
fn body_kinds_become_message_text() {
    let value = |v| AnyValue { value: Some(v) };
    let records = vec![
        record(AnyValue::string("plain")),
        record(AnyValue::int(-42)),
        record(value(any_value::Value::BoolValue(false))),
        record(value(any_value::Value::DoubleValue(1.5))),
        record(kvlist(vec![KeyValue::string("a", "b")])),
        record(value(any_value::Value::ArrayValue(ArrayValue {
            values: vec![AnyValue::int(1), AnyValue::default()],
        }))),
        record(value(any_value::Value::BytesValue(vec![0, 1, 2]))),
        record(AnyValue::default()),
        LogRecord::default(),
    ];
    let decoded = decode_logs_pb(&logs_request(records));
    let messages: Vec<_> = decoded.events.iter().map(|e| e.message.as_str()).collect();
    assert_eq!(
        messages,
        [
            "plain",
            "-42",
            "false",
            "1.5",
            r#"{"a":"b"}"#,
            "[1,null]",
            "AAEC",
            "",
            ""
        ]
    );
}

#[test]
fn message_is_truncated_at_a_char_boundary() {
    let mut req = request(Format::Protobuf);
    req.max_log_bytes = 4;
    let body = logs_request(vec![record(AnyValue::string("abcé"))]).encode_to_vec();
    let decoded = decode_logs(&body, &req).unwrap();
    assert_eq!(decoded.events[0].message, "abc");
}

#[test]
fn kvlist_flattening_and_first_key_wins() {
    let mut rec = record(AnyValue::string("m"));
    rec.attributes = vec![
        KeyValue::new(
            "http",
            kvlist(vec![
                KeyValue::new("status_code", AnyValue::int(500)),
                KeyValue::new("empty", kvlist(vec![])),
                KeyValue {
                    key: "none".into(),
                    value: None,
                },
            ]),
        ),
        KeyValue::new("http.status_code", AnyValue::int(200)),
        KeyValue::string("span_id", "user-supplied"),
        KeyValue::string("k8s.pod.uid", "record"),
    ];
    let decoded = decode_logs_pb(&logs_request(vec![rec]));
    let event = &decoded.events[0];
    assert_eq!(
        attrs(event)[..5],
        [
            ("http.status_code", &AttrValue::Int(500)),
            ("http.empty", &AttrValue::Json("{}".into())),
            ("http.none", &AttrValue::Json("null".into())),
            ("span_id", &str_attr("user-supplied")),
            ("k8s.pod.uid", &str_attr("record")),
        ]
    );
    assert_eq!(
        event
            .attributes
            .iter()
            .filter(|(k, _)| k == "k8s.pod.uid")
            .count(),
        1
    );
}

#[test]
fn resource_mapping_prefers_new_env_key_and_record_service_fallback() {
    let mut req = logs_request(vec![LogRecord {
        attributes: vec![KeyValue::string("service.name", "from-record")],
        ..LogRecord::default()
    }]);
    req.resource_logs[0].resource = Some(Resource {
        attributes: vec![
            KeyValue::string("deployment.environment", "old"),
            KeyValue::string("service.version", "1.4.2"),
            KeyValue::string("deployment.environment.name", "staging"),
            KeyValue::new("host.name", kvlist(vec![KeyValue::string("x", "y")])),
        ],
        ..Resource::default()
    });
    let decoded = decode_logs_pb(&req);
    let event = &decoded.events[0];
    assert_eq!(event.service.as_deref(), Some("from-record"));
    assert_eq!(event.host, None);
    // Datadog's unified service tags: env, then version.
    assert_eq!(event.tags, ["env:staging", "version:1.4.2"]);
    assert!(!event.attributes.iter().any(|(k, _)| k == "service.version"));
    // A mapped key whose value is not a scalar stays an attribute.
    assert!(event.attributes.iter().any(|(k, _)| k == "host.name.x"));
    assert!(!event
        .attributes
        .iter()
        .any(|(k, _)| k.starts_with("deployment")));
}

#[test]
fn zero_or_short_trace_ids_are_absent_on_logs() {
    let records = vec![
        LogRecord {
            trace_id: vec![0; 16],
            span_id: vec![0; 8],
            ..LogRecord::default()
        },
        LogRecord {
            trace_id: vec![1; 3],
            span_id: vec![1; 3],
            ..LogRecord::default()
        },
    ];
    let decoded = decode_logs_pb(&logs_request(records));
    assert_eq!(decoded.rejected, 0);
    for event in &decoded.events {
        assert_eq!(event.trace_id, None);
        assert!(!event.attributes.iter().any(|(k, _)| k == "span_id"));
    }
}

#[test]
fn too_many_attributes_reject_the_record_not_the_request() {
    let many: Vec<KeyValue> = (0..1001)
        .map(|i| KeyValue::new(format!("k{i}"), AnyValue::int(i)))
        .collect();
    let mut big = record(AnyValue::string("big"));
    big.attributes = many;
    let decoded = decode_logs_pb(&logs_request(vec![big, record(AnyValue::string("ok"))]));
    assert_eq!(decoded.rejected, 1);
    assert!(
        decoded.error_message.contains("more than 1000 attributes"),
        "{}",
        decoded.error_message
    );
    assert_eq!(decoded.events.len(), 1);
    assert_eq!(decoded.events[0].message, "ok");
}

#[test]
fn protobuf_merges_repeated_resource_fields_in_any_order() {
    // scope_logs before resource, and the resource split in two occurrences.
    let scope_logs = ScopeLogs {
        scope: None,
        log_records: vec![LogRecord::default()],
        schema_url: String::new(),
    };
    let part = |kv: KeyValue| Resource {
        attributes: vec![kv],
        ..Resource::default()
    };
    let mut group = Vec::new();
    prost::encoding::message::encode(2, &scope_logs, &mut group);
    prost::encoding::message::encode(1, &part(KeyValue::string("service.name", "a")), &mut group);
    prost::encoding::message::encode(1, &part(KeyValue::string("host.name", "h")), &mut group);
    let mut body = Vec::new();
    prost::encoding::bytes::encode(1, &group, &mut body);
    let decoded = decode_logs(&body, &request(Format::Protobuf)).unwrap();
    let event = &decoded.events[0];
    assert_eq!(
        (event.service.as_deref(), event.host.as_deref()),
        (Some("a"), Some("h"))
    );
    // prost reads the same bytes the same way.
    let whole = ExportLogsServiceRequest::decode(body.as_slice()).unwrap();
    assert_eq!(
        whole.resource_logs[0]
            .resource
            .as_ref()
            .unwrap()
            .attributes
            .len(),
        2
    );
}

#[test]
fn malformed_protobuf_is_bad_request() {
    let body = logs_request(vec![full_record()]).encode_to_vec();
    for cut in [1, body.len() / 2, body.len() - 1] {
        let err = decode_logs(&body[..cut], &request(Format::Protobuf)).unwrap_err();
        assert_eq!(err.kind, ErrorKind::BadRequest, "cut {cut}");
        assert!(
            err.detail
                .starts_with("invalid OTLP protobuf ExportLogsServiceRequest"),
            "{}",
            err.detail
        );
    }
    // Field 1 as a varint: wrong wire type.
    let err = decode_logs(&[0x08, 0x01], &request(Format::Protobuf)).unwrap_err();
    assert_eq!(err.kind, ErrorKind::BadRequest);
    // A group (wire type 3) is refused, not skipped.
    assert!(decode_logs(&[0x1b], &request(Format::Protobuf)).is_err());
    // Unknown fields are skipped; an empty body is an empty request.
    let ok = decode_logs(&[0x10, 0x05, 0x1d, 1, 2, 3, 4], &request(Format::Protobuf)).unwrap();
    assert!(ok.events.is_empty());
    assert!(decode_logs(b"", &request(Format::Protobuf))
        .unwrap()
        .events
        .is_empty());
}

#[test]
fn deep_nesting_is_an_error_not_a_crash() {
    let mut value = AnyValue::int(1);
    for _ in 0..200 {
        value = kvlist(vec![KeyValue::new("k", value)]);
    }
    let body = logs_request(vec![record(value)]).encode_to_vec();
    let err = decode_logs(&body, &request(Format::Protobuf)).unwrap_err();
    assert_eq!(err.kind, ErrorKind::BadRequest);
    let mut json = String::new();
    for _ in 0..200 {
        json.push_str(r#"{"kvlistValue":{"values":[{"key":"k","value":"#);
    }
    let body = format!(r#"{{"resourceLogs":[{{"scopeLogs":[{{"logRecords":[{{"body":{json}"#);
    let err = decode_logs(body.as_bytes(), &request(Format::Json)).unwrap_err();
    assert_eq!(err.kind, ErrorKind::BadRequest);
}

#[test]
fn garbage_json_is_bad_request() {
    for body in [
        &b"not json"[..],
        b"",
        b"\"text\"",
        b"{\"resourceLogs\":{}}",
        b"{\"resourceLogs\":[{\"scopeLogs\":[{\"logRecords\":[{\"traceId\":\"xyz!\"}]}]}]}",
    ] {
        let err = decode_logs(body, &request(Format::Json)).unwrap_err();
        assert_eq!(err.kind, ErrorKind::BadRequest, "{body:?}");
        assert!(
            err.detail
                .starts_with("invalid OTLP/JSON ExportLogsServiceRequest"),
            "{}",
            err.detail
        );
    }
    assert!(decode_logs(b"{}", &request(Format::Json))
        .unwrap()
        .events
        .is_empty());
}

#[test]
fn json_scalars_accept_strings_numbers_and_special_doubles() {
    let body = br#"{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"attributes":[
        {"key":"big","value":{"intValue":"-9223372036854775808"}},
        {"key":"exp","value":{"intValue":1e3}},
        {"key":"nan","value":{"doubleValue":"NaN"}},
        {"key":"inf","value":{"doubleValue":"-Infinity"}},
        {"key":"int_as_double","value":{"doubleValue":3}},
        {"key":"bytes","value":{"bytesValue":"AAEC"}},
        {"key":"bytes_url","value":{"bytesValue":"-_8"}}]}]}]}]}"#;
    let decoded = decode_logs(body, &request(Format::Json)).unwrap();
    let a = &decoded.events[0].attributes;
    assert_eq!(a[0].1, AttrValue::Int(i64::MIN));
    assert_eq!(a[1].1, AttrValue::Int(1000));
    assert!(matches!(a[2].1, AttrValue::Float(f) if f.is_nan()));
    assert_eq!(a[3].1, AttrValue::Float(f64::NEG_INFINITY));
    assert_eq!(a[4].1, AttrValue::Float(3.0));
    assert_eq!(a[5].1, str_attr("AAEC"));
    assert_eq!(a[6].1, str_attr("+/8="));
    for bad in [
        r#"{"intValue":"12x"}"#,
        r#"{"intValue":1.5}"#,
        r#"{"doubleValue":"lots"}"#,
        r#"{"bytesValue":"!!"}"#,
    ] {
        let body = format!(
            r#"{{"resourceLogs":[{{"scopeLogs":[{{"logRecords":[{{"body":{bad}}}]}}]}}]}}"#
        );
        let err = decode_logs(body.as_bytes(), &request(Format::Json)).unwrap_err();
        assert_eq!(err.kind, ErrorKind::BadRequest, "{bad}");
    }
}

/// issue 6 review: ids are hex only (docs/ingest-otlp.md); base64 is malformed.
#[test]
fn non_hex_json_ids_are_malformed() {
    let with = |trace: &str, span: &str| {
        let body = format!(
            r#"{{"resourceLogs":[{{"scopeLogs":[{{"logRecords":[{{"traceId":"{trace}","spanId":"{span}"}}]}}]}}]}}"#
        );
        decode_logs(body.as_bytes(), &request(Format::Json))
    };
    for (trace, span) in [
        ("W47/95gDgQPSabYzgT/GDA==", ""),
        ("", "7uGbfsPBsXQ="),
        ("5b8efff798038103d269b633813fc60", ""),
    ] {
        let err = with(trace, span).unwrap_err();
        assert_eq!(err.kind, ErrorKind::BadRequest, "{trace:?} {span:?}");
        assert!(err.detail.contains("invalid hex id"), "{}", err.detail);
    }
    let decoded = with("5B8EFFF798038103d269b633813fc60c", "EEE19B7EC3C1B174").unwrap();
    let event = &decoded.events[0];
    assert_eq!(
        event.trace_id.as_deref(),
        Some("5b8efff798038103d269b633813fc60c")
    );
    assert_eq!(
        event.attributes[0],
        ("span_id".into(), str_attr("eee19b7ec3c1b174"))
    );
    let empty = with("", "").unwrap();
    assert_eq!(empty.events[0].trace_id, None);
    assert!(empty.events[0].attributes.is_empty());
}

#[test]
fn decoded_size_limit_is_too_large() {
    let records = vec![record(AnyValue::string("x".repeat(1000))); 20];
    let body = logs_request(records).encode_to_vec();
    let mut req = request(Format::Protobuf);
    req.max_decoded_bytes = 10_000;
    let err = decode_logs(&body, &req).unwrap_err();
    assert_eq!(err.kind, ErrorKind::TooLarge);
    // Many empty JSON records: the parsed form itself is over budget.
    let json = format!(
        r#"{{"resourceLogs":[{{"scopeLogs":[{{"logRecords":[{}{{}}]}}]}}]}}"#,
        "{},".repeat(5000)
    );
    req.format = Format::Json;
    let err = decode_logs(json.as_bytes(), &req).unwrap_err();
    assert_eq!(err.kind, ErrorKind::TooLarge);
    req.max_decoded_bytes = 64 << 20;
    assert_eq!(
        decode_logs(json.as_bytes(), &req).unwrap().events.len(),
        5001
    );
}

#[test]
fn content_types() {
    let ok = |h| Format::from_content_type(Some(h)).unwrap();
    assert_eq!(ok("application/x-protobuf"), Format::Protobuf);
    assert_eq!(ok("application/protobuf"), Format::Protobuf);
    assert_eq!(ok("Application/JSON; charset=utf-8"), Format::Json);
    for bad in [Some("text/plain"), Some("application/jsonl"), None] {
        let err = Format::from_content_type(bad).unwrap_err();
        assert_eq!(err.kind, ErrorKind::Unsupported);
        assert!(err.detail.contains("application/x-protobuf"));
        assert!(err.detail.contains("application/json"));
    }
    assert_eq!(content_type(Format::Protobuf), "application/x-protobuf");
    assert_eq!(content_type(Format::Json), "application/json");
}

#[test]
fn export_response_bodies_decode_back() {
    assert!(export_response(Signal::Logs, Format::Protobuf, 0, "").is_empty());
    assert_eq!(export_response(Signal::Traces, Format::Json, 0, ""), b"{}");
    let pb = export_response(Signal::Logs, Format::Protobuf, 3, "bad ids");
    let logs = ExportLogsServiceResponse::decode(pb.as_slice()).unwrap();
    let partial = logs.partial_success.unwrap();
    assert_eq!(
        (partial.rejected_log_records, partial.error_message.as_str()),
        (3, "bad ids")
    );
    let pb = export_response(Signal::Traces, Format::Protobuf, 2, "x");
    let traces = ExportTraceServiceResponse::decode(pb.as_slice()).unwrap();
    assert_eq!(traces.partial_success.unwrap().rejected_spans, 2);

    let json = export_response(Signal::Logs, Format::Json, 3, "bad \"ids\"");
    let value: serde_json::Value = serde_json::from_slice(&json).unwrap();
    assert_eq!(
        value,
        serde_json::json!({"partialSuccess":{"rejectedLogRecords":"3","errorMessage":"bad \"ids\""}})
    );
    let typed: ExportLogsServiceResponse = serde_json::from_slice(&json).unwrap();
    assert_eq!(typed.partial_success.unwrap().rejected_log_records, 3);
    let json = export_response(Signal::Traces, Format::Json, 1, "");
    let typed: ExportTraceServiceResponse = serde_json::from_slice(&json).unwrap();
    assert_eq!(typed.partial_success.unwrap().rejected_spans, 1);
    let json = export_response(Signal::Metrics, Format::Json, 4, "m");
    let value: serde_json::Value = serde_json::from_slice(&json).unwrap();
    assert_eq!(value["partialSuccess"]["rejectedDataPoints"], "4");
}

#[test]
fn status_bodies_decode_back() {
    let pb = status_body(Format::Protobuf, 3, "invalid body");
    let status = RpcStatus::decode(pb.as_slice()).unwrap();
    assert_eq!((status.code, status.message.as_str()), (3, "invalid body"));
    assert!(status.details.is_empty());
    let json = status_body(Format::Json, 8, "slow down");
    let value: serde_json::Value = serde_json::from_slice(&json).unwrap();
    assert_eq!(value, serde_json::json!({"code":8,"message":"slow down"}));
}

/// A traces request with a little of everything, for the property tests.
fn traces_request_for_props() -> ExportTraceServiceRequest {
    let span = Span {
        trace_id: TRACE_ID.to_vec(),
        span_id: SPAN_ID.to_vec(),
        parent_span_id: vec![1; 8],
        name: "span".into(),
        attributes: vec![KeyValue::string("http.method", "GET")],
        events: vec![SpanEvent::default()],
        links: vec![SpanLink::default()],
        status: Some(SpanStatus {
            message: "m".into(),
            code: 2,
        }),
        ..Span::default()
    };
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(resource()),
            scope_spans: vec![ScopeSpans {
                scope: Some(scope()),
                spans: vec![span],
                schema_url: String::new(),
            }],
            schema_url: String::new(),
        }],
    }
}
