//! Span decoding tests.

use super::*;

fn traces_request(spans: Vec<Span>) -> ExportTraceServiceRequest {
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(resource()),
            scope_spans: vec![ScopeSpans {
                scope: Some(scope()),
                spans,
                schema_url: String::new(),
            }],
            schema_url: String::new(),
        }],
    }
}

fn decode_pb(req: &ExportTraceServiceRequest) -> DecodedEvents {
    decode_traces(&req.encode_to_vec(), &request(Format::Protobuf)).unwrap()
}

fn span(name: &str) -> Span {
    Span {
        trace_id: TRACE_ID.to_vec(),
        span_id: SPAN_ID.to_vec(),
        name: name.into(),
        start_time_unix_nano: 1_544_712_660_000_000_000,
        end_time_unix_nano: 1_544_712_661_000_000_000,
        ..Span::default()
    }
}

fn full_span() -> Span {
    Span {
        parent_span_id: vec![0xee, 0xe1, 0x9b, 0x7e, 0xc3, 0xc1, 0xb1, 0x73],
        kind: 2,
        attributes: vec![
            KeyValue::string("http.request.method", "GET"),
            KeyValue::string("http.route", "/users/:id"),
            KeyValue::new("http.response.status_code", AnyValue::int(500)),
            KeyValue::string("duration", "user value loses"),
        ],
        events: vec![SpanEvent {
            time_unix_nano: 1_544_712_660_500_000_000,
            name: "exception".into(),
            attributes: vec![KeyValue::string("exception.type", "E")],
            dropped_attributes_count: 0,
        }],
        links: vec![SpanLink {
            trace_id: vec![0xab; 16],
            span_id: vec![0xcd; 8],
            attributes: vec![KeyValue::new("n", AnyValue::int(1))],
            ..SpanLink::default()
        }],
        status: Some(SpanStatus {
            message: "boom".into(),
            code: 2,
        }),
        ..span("GET /users/:id")
    }
}

const FULL_SPAN_JSON: &str = r#"{"resourceSpans":[{
  "resource":{"attributes":[
    {"key":"service.name","value":{"stringValue":"checkout"}},
    {"key":"host.name","value":{"stringValue":"web-1"}},
    {"key":"deployment.environment","value":{"stringValue":"prod"}},
    {"key":"k8s.pod.uid","value":{"intValue":7}}]},
  "scopeSpans":[{
    "scope":{"name":"my.library","version":"1.0.0",
      "attributes":[{"key":"my.scope.attribute","value":{"stringValue":"scoped"}}]},
    "spans":[{
      "traceId":"5B8EFFF798038103D269B633813FC60C",
      "spanId":"EEE19B7EC3C1B174",
      "parentSpanId":"eee19b7ec3c1b173",
      "name":"GET /users/:id",
      "startTimeUnixNano":"1544712660000000000",
      "endTimeUnixNano":"1544712661000000000",
      "kind":"SPAN_KIND_SERVER",
      "attributes":[
        {"key":"http.request.method","value":{"stringValue":"GET"}},
        {"key":"http.route","value":{"stringValue":"/users/:id"}},
        {"key":"http.response.status_code","value":{"intValue":"500"}},
        {"key":"duration","value":{"stringValue":"user value loses"}}],
      "events":[{"timeUnixNano":"1544712660500000000","name":"exception",
        "attributes":[{"key":"exception.type","value":{"stringValue":"E"}}]}],
      "links":[{"traceId":"abababababababababababababababab","spanId":"cdcdcdcdcdcdcdcd",
        "attributes":[{"key":"n","value":{"intValue":"1"}}]}],
      "status":{"message":"boom","code":2}
    }]
  }]
}]}"#;

fn assert_full_span(event: &Event) {
    assert_eq!(event.timestamp_ns, 1_544_712_660_000_000_000);
    assert_eq!(event.message, "GET /users/:id");
    assert_eq!(event.status, Status::Error);
    assert_eq!(event.service.as_deref(), Some("checkout"));
    assert_eq!(event.host.as_deref(), Some("web-1"));
    assert_eq!(event.source.as_deref(), Some("span"));
    assert_eq!(event.tags, vec!["env:prod".to_string()]);
    assert_eq!(
        event.trace_id.as_deref(),
        Some("5b8efff798038103d269b633813fc60c")
    );
    let events = r#"[{"attributes":{"exception.type":"E"},"name":"exception","time_unix_nano":1544712660500000000}]"#;
    let links = r#"[{"attributes":{"n":1},"span_id":"cdcdcdcdcdcdcdcd","trace_id":"abababababababababababababababab"}]"#;
    assert_eq!(
        attrs(event),
        vec![
            ("span_id", &str_attr("eee19b7ec3c1b174")),
            ("parent_id", &str_attr("eee19b7ec3c1b173")),
            ("resource", &str_attr("GET /users/:id")),
            ("duration", &AttrValue::Int(1_000_000_000)),
            ("span.kind", &str_attr("server")),
            ("otel.status_code", &str_attr("Error")),
            ("otel.status_message", &str_attr("boom")),
            ("http.request.method", &str_attr("GET")),
            ("http.route", &str_attr("/users/:id")),
            ("http.response.status_code", &AttrValue::Int(500)),
            ("k8s.pod.uid", &AttrValue::Int(7)),
            ("my.scope.attribute", &str_attr("scoped")),
            ("otel.scope.name", &str_attr("my.library")),
            ("otel.scope.version", &str_attr("1.0.0")),
            ("events", &AttrValue::Json(events.into())),
            ("links", &AttrValue::Json(links.into())),
        ]
    );
}

#[test]
fn protobuf_span_maps_every_field() {
    let decoded = decode_pb(&traces_request(vec![full_span()]));
    assert_eq!((decoded.rejected, decoded.error_message.as_str()), (0, ""));
    assert_full_span(&decoded.events[0]);
}

#[test]
fn json_span_gives_the_same_events_as_protobuf() {
    let json = decode_traces(FULL_SPAN_JSON.as_bytes(), &request(Format::Json)).unwrap();
    assert_full_span(&json.events[0]);
    assert_eq!(json, decode_pb(&traces_request(vec![full_span()])));
}

#[test]
fn spec_example_trace_json_decodes() {
    // The shape of opentelemetry-proto's examples/trace.json.
    let body = br#"{"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"svc"}}]},
      "scopeSpans":[{"scope":{"name":"lib","version":"1.0.0","attributes":[]},
      "spans":[{"traceId":"5B8EFFF798038103D269B633813FC60C","spanId":"EEE19B7EC3C1B174",
        "parentSpanId":"EEE19B7EC3C1B173","name":"server span","startTimeUnixNano":1544712660000000000,
        "endTimeUnixNano":1544712661000000000,"kind":2,
        "attributes":[{"key":"my.span.attr","value":{"stringValue":"some value"}}]}]}]}]}"#;
    let decoded = decode_traces(body, &request(Format::Json)).unwrap();
    let event = &decoded.events[0];
    assert_eq!(event.status, Status::Ok);
    assert_eq!(event.service.as_deref(), Some("svc"));
    assert_eq!(attrs(event)[2], ("resource", &str_attr("server span")));
    assert_eq!(attrs(event)[4], ("span.kind", &str_attr("server")));
    assert_eq!(attrs(event)[5], ("otel.status_code", &str_attr("Unset")));
    assert_eq!(attrs(event)[6], ("my.span.attr", &str_attr("some value")));
}

#[test]
fn root_spans_have_no_parent_and_defaults_are_labelled() {
    let mut zero_parent = span("b");
    zero_parent.parent_span_id = vec![0; 8];
    zero_parent.kind = 42;
    zero_parent.status = Some(SpanStatus {
        message: String::new(),
        code: 1,
    });
    zero_parent.end_time_unix_nano = 0;
    let decoded = decode_pb(&traces_request(vec![span("a"), zero_parent]));
    let first = attrs(&decoded.events[0]);
    assert_eq!(first[1], ("resource", &str_attr("a")));
    assert_eq!(first[2], ("duration", &AttrValue::Int(1_000_000_000)));
    assert_eq!(first[3], ("span.kind", &str_attr("unspecified")));
    let second = attrs(&decoded.events[1]);
    assert_eq!(second[2], ("duration", &AttrValue::Int(0)));
    assert_eq!(second[3], ("span.kind", &str_attr("unspecified")));
    assert_eq!(second[4], ("otel.status_code", &str_attr("Ok")));
    assert_eq!(decoded.events[1].status, Status::Ok);
    assert_eq!(second.len(), 9); // 5 span fields, no status message, 4 resource and scope
}

#[test]
fn resource_names() {
    let with = |kvs: &[(&str, &str)]| {
        let mut s = span("name");
        s.attributes = kvs.iter().map(|(k, v)| KeyValue::string(*k, *v)).collect();
        super::super::traces::resource_name(&s)
    };
    assert_eq!(
        with(&[("http.method", "POST"), ("http.route", "/a")]),
        "POST /a"
    );
    assert_eq!(with(&[("http.method", "POST")]), "name");
    assert_eq!(
        with(&[("rpc.service", "Greeter"), ("rpc.method", "Hi")]),
        "Greeter/Hi"
    );
    assert_eq!(with(&[("db.statement", "SELECT 1")]), "SELECT 1");
    assert_eq!(with(&[("db.query.text", "SELECT 2")]), "SELECT 2");
    assert_eq!(with(&[]), "name");
}

#[test]
fn invalid_ids_reject_spans_with_a_message() {
    let mut short_trace = span("short");
    short_trace.trace_id = vec![1; 5];
    let mut zero_span = span("zero");
    zero_span.span_id = vec![0; 8];
    let mut bad_parent = span("parent");
    bad_parent.parent_span_id = vec![1; 4];
    let mut empty = span("empty");
    empty.trace_id.clear();
    let req = traces_request(vec![
        short_trace,
        span("good"),
        zero_span,
        bad_parent,
        empty,
    ]);
    let decoded = decode_pb(&req);
    assert_eq!(decoded.rejected, 4);
    assert_eq!(decoded.events.len(), 1);
    assert_eq!(decoded.events[0].message, "good");
    assert!(
        decoded.error_message.contains("invalid trace_id"),
        "{}",
        decoded.error_message
    );
    assert!(
        decoded.error_message.contains("\"short\""),
        "{}",
        decoded.error_message
    );
    assert!(
        decoded.error_message.contains("5 bytes"),
        "{}",
        decoded.error_message
    );
    let json = br#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"","spanId":"0102030405060708"}]}]}]}"#;
    let decoded = decode_traces(json, &request(Format::Json)).unwrap();
    assert_eq!((decoded.rejected, decoded.events.len()), (1, 0));
    let body = export_response(
        Signal::Traces,
        Format::Json,
        decoded.rejected,
        &decoded.error_message,
    );
    let typed: ExportTraceServiceResponse = serde_json::from_slice(&body).unwrap();
    assert_eq!(typed.partial_success.unwrap().rejected_spans, 1);
}

#[test]
fn malformed_trace_bodies_are_bad_requests() {
    let body = traces_request(vec![full_span()]).encode_to_vec();
    let err = decode_traces(&body[..body.len() - 3], &request(Format::Protobuf)).unwrap_err();
    assert_eq!(err.kind, ErrorKind::BadRequest);
    assert!(
        err.detail
            .starts_with("invalid OTLP protobuf ExportTraceServiceRequest"),
        "{}",
        err.detail
    );
    let err = decode_traces(b"{\"resourceSpans\":[", &request(Format::Json)).unwrap_err();
    assert_eq!(err.kind, ErrorKind::BadRequest);
    assert!(
        err.detail
            .starts_with("invalid OTLP/JSON ExportTraceServiceRequest"),
        "{}",
        err.detail
    );
    let err = decode_traces(
        br#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"kind":"SIDEWAYS"}]}]}]}"#,
        &request(Format::Json),
    )
    .unwrap_err();
    assert_eq!(err.kind, ErrorKind::BadRequest);
}

#[test]
fn span_decoded_size_limit_is_too_large() {
    let spans = vec![full_span(); 50];
    let mut req = request(Format::Protobuf);
    req.max_decoded_bytes = 5_000;
    let body = traces_request(spans).encode_to_vec();
    assert_eq!(
        decode_traces(&body, &req).unwrap_err().kind,
        ErrorKind::TooLarge
    );
}
