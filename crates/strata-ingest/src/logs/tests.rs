use serde_json::json;

use super::*;
use crate::ErrorKind;

const NOW: i64 = 1_700_000_000_000_000_000;

fn decode(body: &str) -> Result<Vec<Event>, IngestError> {
    decode_logs(body.as_bytes(), &LogsRequest::json(NOW))
}

#[test]
fn python_client_payload() {
    let body = r#"[{"status":"info","ddsource":"nginx","ddtags":"env:prod,version:1","hostname":"h1","service":"svc","message":"hello"}]"#;
    let mut request = LogsRequest::json(NOW);
    request.ddtags = Some("team:a".into());
    let events = decode_logs(body.as_bytes(), &request).unwrap();
    assert_eq!(events.len(), 1);
    let e = &events[0];
    assert_eq!(e.message, "hello");
    assert_eq!(e.status, Status::Info);
    assert_eq!(e.source.as_deref(), Some("nginx"));
    assert_eq!(e.host.as_deref(), Some("h1"));
    assert_eq!(e.service.as_deref(), Some("svc"));
    assert_eq!(e.tags, vec!["env:prod", "version:1", "team:a"]);
    assert_eq!(e.timestamp_ns, NOW);
    assert!(e.attributes.is_empty());
}

#[test]
fn reserved_attributes_are_remapped_in_priority_order() {
    let body = json!({
        "msg": "from msg", "log": "stays",
        "level": "warning",
        "syslog": {"hostname": "sys-host", "appname": "sys-app"},
        "dd": {"trace_id": "abc", "service": "dd-svc"},
        "date": "2023-11-14T22:13:20Z",
        "http": {"status_code": 503, "method": "GET"},
        "duration": 1.5, "ok": true, "list": [1, 2], "nothing": null, "empty": {}
    })
    .to_string();
    let e = &decode(&body).unwrap()[0];
    assert_eq!(e.message, "from msg");
    assert_eq!(e.status, Status::Warn);
    assert_eq!(e.host.as_deref(), Some("sys-host"));
    assert_eq!(e.service.as_deref(), Some("sys-app"));
    assert_eq!(e.trace_id.as_deref(), Some("abc"));
    assert_eq!(e.timestamp_ns, 1_700_000_000_000_000_000);
    let attr = |k: &str| {
        e.attributes
            .iter()
            .find(|(p, _)| p == k)
            .map(|(_, v)| v.clone())
    };
    assert_eq!(attr("log"), Some(AttrValue::Str("stays".into())));
    assert_eq!(attr("dd.service"), Some(AttrValue::Str("dd-svc".into())));
    assert_eq!(attr("http.status_code"), Some(AttrValue::Int(503)));
    assert_eq!(attr("http.method"), Some(AttrValue::Str("GET".into())));
    assert_eq!(attr("duration"), Some(AttrValue::Float(1.5)));
    assert_eq!(attr("ok"), Some(AttrValue::Bool(true)));
    assert_eq!(attr("list"), Some(AttrValue::Json("[1,2]".into())));
    assert_eq!(attr("nothing"), Some(AttrValue::Json("null".into())));
    assert_eq!(attr("empty"), Some(AttrValue::Json("{}".into())));
    assert_eq!(attr("msg"), None);
    assert_eq!(attr("level"), None);
}

#[test]
fn status_numbers_and_timestamps() {
    let e = &decode(r#"{"message":"x","status":3,"timestamp":1700000000123}"#).unwrap()[0];
    assert_eq!(e.status, Status::Error);
    assert_eq!(e.timestamp_ns, 1_700_000_000_123_000_000);
    let e = &decode(r#"{"message":"x","timestamp":"not a date"}"#).unwrap()[0];
    assert_eq!(
        e.timestamp_ns, NOW,
        "unparseable timestamp falls back to receive time"
    );
    assert_eq!(
        e.attributes,
        vec![("timestamp".to_string(), AttrValue::Str("not a date".into()))]
    );
}

#[test]
fn single_object_and_simple() {
    assert_eq!(decode(r#"{"message":"one"}"#).unwrap().len(), 1);
    let mut request = LogsRequest::json(NOW);
    request.format = BodyFormat::JsonSimple;
    assert_eq!(
        decode_logs(br#"{"message":"one"}"#, &request)
            .unwrap()
            .len(),
        1
    );
    assert!(decode_logs(br#"[{"message":"one"}]"#, &request).is_err());
}

#[test]
fn text_lines_take_query_parameters() {
    let mut request = LogsRequest::json(NOW);
    request.format = BodyFormat::Lines;
    request.host = Some("h".into());
    request.service = Some("s".into());
    request.ddsource = Some("src".into());
    request.ddtags = Some("env:prod, user:x".into());
    let events = decode_logs(b"hello\r\n\nworld\n", &request).unwrap();
    assert_eq!(events.len(), 2);
    assert_eq!(events[0].message, "hello");
    assert_eq!(events[1].message, "world");
    assert_eq!(events[1].host.as_deref(), Some("h"));
    assert_eq!(events[1].source.as_deref(), Some("src"));
    assert_eq!(events[1].tags, vec!["env:prod", "user:x"]);
    assert_eq!(
        decode_logs(b"\xff\xfe", &request).unwrap_err().kind,
        ErrorKind::BadRequest
    );
}

#[test]
fn limits() {
    let many = format!("[{}]", vec![r#"{"message":"m"}"#; 1001].join(","));
    assert_eq!(decode(&many).unwrap_err().kind, ErrorKind::TooLarge);
    let exactly = format!("[{}]", vec![r#"{"message":"m"}"#; 1000].join(","));
    assert_eq!(decode(&exactly).unwrap().len(), 1000);
    let mut request = LogsRequest::json(NOW);
    request.max_log_bytes = 5;
    let e = &decode_logs("{\"message\":\"ééééé\"}".as_bytes(), &request).unwrap()[0];
    assert_eq!(e.message, "éé", "truncated at a character boundary");
}

#[test]
fn bad_bodies_name_the_problem() {
    let cases = [
        ("", "empty"),
        ("   ", "empty"),
        ("[{\"message\":", "invalid JSON"),
        ("[1,2]", "item 0 is a number"),
        ("\"just a string\"", "body is a string"),
        (
            r#"[{"message":"ok"},{"ddtags":5}]"#,
            "item 1: ddtags must be a string",
        ),
        (r#"{"hostname":[1]}"#, "hostname must be a string"),
        (r#"{"ddtags":["a",1]}"#, "ddtags items must be strings"),
    ];
    for (body, want) in cases {
        let err = decode(body).unwrap_err();
        assert_eq!(err.kind, ErrorKind::BadRequest, "{body}");
        assert!(
            err.detail.contains(want),
            "{body}: {} does not contain {want}",
            err.detail
        );
    }
    let deep = format!("{}{}", "[".repeat(200), "]".repeat(200));
    assert_eq!(decode(&deep).unwrap_err().kind, ErrorKind::BadRequest);
    let deep_object = format!("{}1{}", "{\"a\":".repeat(300), "}".repeat(300));
    assert!(decode(&deep_object)
        .unwrap_err()
        .detail
        .contains("recursion"));
    assert_eq!(
        decode_logs(b"[{\"message\":\"\xff\"}]", &LogsRequest::json(NOW))
            .unwrap_err()
            .kind,
        ErrorKind::BadRequest
    );
}

#[test]
fn content_types() {
    assert_eq!(
        BodyFormat::from_content_type(None).unwrap(),
        BodyFormat::Json
    );
    assert_eq!(
        BodyFormat::from_content_type(Some("application/json; charset=utf-8")).unwrap(),
        BodyFormat::Json
    );
    assert_eq!(
        BodyFormat::from_content_type(Some("application/json;simple")).unwrap(),
        BodyFormat::JsonSimple
    );
    assert_eq!(
        BodyFormat::from_content_type(Some("text/plain")).unwrap(),
        BodyFormat::Lines
    );
    assert_eq!(
        BodyFormat::from_content_type(Some("application/logplex-1")).unwrap(),
        BodyFormat::Lines
    );
    assert_eq!(
        BodyFormat::from_content_type(Some("application/xml"))
            .unwrap_err()
            .kind,
        ErrorKind::Unsupported
    );
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]
    #[test]
    fn arbitrary_bytes_never_panic(body in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..256)) {
        let _ = decode_logs(&body, &LogsRequest::json(NOW));
        let mut lines = LogsRequest::json(NOW);
        lines.format = BodyFormat::Lines;
        let _ = decode_logs(&body, &lines);
    }
}

#[test]
fn amplification_limits() {
    let mut request = LogsRequest::json(NOW);
    request.ddtags = Some(
        (0..101)
            .map(|i| format!("t{i}"))
            .collect::<Vec<_>>()
            .join(","),
    );
    let err = decode_logs(br#"{"message":"x"}"#, &request).unwrap_err();
    assert!(err.detail.contains("101 tags"), "{}", err.detail);
    request.ddtags = Some("x".repeat(5000));
    assert!(decode_logs(br#"{"message":"x"}"#, &request)
        .unwrap_err()
        .detail
        .contains("ddtags"));

    let long_key = format!(r#"{{"{}":{{"a":1}}}}"#, "k".repeat(600));
    assert!(decode(&long_key)
        .unwrap_err()
        .detail
        .contains("longer than 512"));
    let many = format!(
        "{{{}}}",
        (0..1001)
            .map(|i| format!(r#""a{i}":1"#))
            .collect::<Vec<_>>()
            .join(",")
    );
    assert!(decode(&many)
        .unwrap_err()
        .detail
        .contains("more than 1000 attributes"));

    let mut small_budget = LogsRequest::json(NOW);
    small_budget.max_decoded_bytes = 10_000;
    let body = format!("[{}]", vec![r#"{"message":"0123456789"}"#; 100].join(","));
    let err = decode_logs(body.as_bytes(), &small_budget).unwrap_err();
    assert_eq!(err.kind, ErrorKind::TooLarge);
}

#[test]
fn out_of_range_timestamps_use_receive_time() {
    for raw in ["-5", "1e300", "\"9999-01-01T00:00:00Z\""] {
        let e = &decode(&format!(r#"{{"message":"x","timestamp":{raw}}}"#)).unwrap()[0];
        assert_eq!(e.timestamp_ns, NOW, "{raw}");
        assert_eq!(e.attributes.len(), 1, "{raw} stays an attribute");
    }
}
