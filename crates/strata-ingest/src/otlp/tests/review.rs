//! Regression tests for the issue 6 review of the logs and traces decoders:
//! the decoded size of a protobuf record is estimated and bounded before it
//! is decoded, span events and links are bounded, JSON ids are hex only,
//! entity ref keys are charged to the JSON budget, and the hot-path rewrites
//! (attribute index, JSON text, message cut) give the same output as before.

use prost::encoding::{encode_key, encode_varint, WireType};

use super::*;
use crate::otlp::common::{any_json, any_text, any_text_max, AttrList, EntityRef};
use crate::otlp::wire::{estimate, Shape};

/// `payload` as length-delimited field `tag`.
fn field(tag: u32, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + 8);
    encode_key(tag, WireType::LengthDelimited, &mut out);
    encode_varint(payload.len() as u64, &mut out);
    out.extend_from_slice(payload);
    out
}

/// A logs request of one resource and one scope holding `records`, the
/// resource made of `resource` bytes.
fn logs_body(resource: &[u8], records: &[Vec<u8>]) -> Vec<u8> {
    let scope: Vec<u8> = records.iter().flat_map(|r| field(2, r)).collect();
    let mut group = field(1, resource);
    group.extend(field(2, &scope));
    field(1, &group)
}

/// `n` empty `KeyValue`s as field `tag`: two wire bytes each.
fn empty_key_values(tag: u32, n: usize) -> Vec<u8> {
    field(tag, &[]).repeat(n)
}

fn ok_record() -> Vec<u8> {
    record(AnyValue::string("ok")).encode_to_vec()
}

/// issue 6 review: 2M empty attributes (4 MB of wire, about 100 MB of
/// structs) are refused from the wire counts, never decoded, even under a
/// budget far below what they would decode to.
#[test]
fn record_with_millions_of_empty_attributes_is_refused_undecoded() {
    let huge = empty_key_values(6, 2_000_000);
    let body = logs_body(&[], &[huge, ok_record()]);
    let mut req = request(Format::Protobuf);
    req.max_decoded_bytes = 1 << 20;
    let decoded = decode_logs(&body, &req).unwrap();
    assert_eq!(decoded.rejected, 1);
    assert_eq!(
        decoded.error_message,
        "more than 1000 attributes in one record"
    );
    assert_eq!(decoded.events.len(), 1);
    assert_eq!(decoded.events[0].message, "ok");
}

/// issue 6 review: attributes are counted as sent, duplicates included, in
/// both encodings; 1000 is still accepted.
#[test]
fn attribute_count_is_the_same_in_protobuf_and_json() {
    for (n, rejected) in [(1000, 0), (1001, 1)] {
        let mut many = record(AnyValue::string("dup"));
        many.attributes = vec![KeyValue::string("k", "v"); n];
        let pb = decode_logs_pb(&logs_request(vec![many]));
        let kv = r#"{"key":"k","value":{"stringValue":"v"}}"#;
        let json = format!(
            r#"{{"resourceLogs":[{{"resource":{{"attributes":[
              {{"key":"service.name","value":{{"stringValue":"checkout"}}}},
              {{"key":"host.name","value":{{"stringValue":"web-1"}}}},
              {{"key":"deployment.environment","value":{{"stringValue":"prod"}}}},
              {{"key":"k8s.pod.uid","value":{{"intValue":7}}}}]}},
              "scopeLogs":[{{"scope":{{"name":"my.library","version":"1.0.0","attributes":[
              {{"key":"my.scope.attribute","value":{{"stringValue":"scoped"}}}}]}},
              "logRecords":[{{"body":{{"stringValue":"dup"}},"attributes":[{}]}}]}}]}}]}}"#,
            vec![kv; n].join(",")
        );
        let json = decode_logs(json.as_bytes(), &request(Format::Json)).unwrap();
        assert_eq!(pb, json, "{n}");
        assert_eq!(pb.rejected, rejected, "{n}");
    }
}

/// issue 6 review: one attribute holding a million empty kvlist entries is
/// under every count limit but decodes to ~60 MB: refused as too large
/// before prost allocates it, naming the limit.
#[test]
fn record_estimate_over_the_budget_is_too_large() {
    let list = field(6, &empty_key_values(1, 1_000_000));
    let mut key_value = field(1, b"k");
    key_value.extend(field(2, &list));
    let record = field(6, &key_value);
    let body = logs_body(&[], &[ok_record(), record.clone()]);
    let mut req = request(Format::Protobuf);
    req.max_decoded_bytes = 8 << 20;
    let err = decode_logs(&body, &req).unwrap_err();
    assert_eq!(err.kind, ErrorKind::TooLarge);
    assert!(
        err.detail.contains("more than 8388608 bytes"),
        "{}",
        err.detail
    );
    let estimated = estimate(&record, Shape::LogRecord);
    assert!(estimated.complete);
    assert_eq!(estimated.counts.attributes, 1);
    assert!(estimated.bytes >= 1_000_000 * size_of::<KeyValue>());
    // The same under a budget it fits.
    req.max_decoded_bytes = 256 << 20;
    assert_eq!(decode_logs(&body, &req).unwrap().events.len(), 2);
}

/// issue 6 review: resources and scopes are decoded whole too, so they are
/// estimated first.
#[test]
fn resource_and_scope_estimates_are_charged() {
    let mut req = request(Format::Protobuf);
    req.max_decoded_bytes = 8 << 20;
    let resource = empty_key_values(1, 1_000_000);
    let err = decode_logs(&logs_body(&resource, &[ok_record()]), &req).unwrap_err();
    assert_eq!(err.kind, ErrorKind::TooLarge);
    let scope = field(1, &empty_key_values(3, 1_000_000));
    let mut group = Vec::new();
    group.extend(field(2, &[scope, field(2, &ok_record())].concat()));
    let err = decode_logs(&field(1, &group), &req).unwrap_err();
    assert_eq!(err.kind, ErrorKind::TooLarge);
}

/// issue 6 review: the estimate bounds what prost builds for realistic
/// records, skips unknown groups as prost does, and marks malformed input.
#[test]
fn estimate_is_an_upper_bound_and_flags_malformed_input() {
    let bytes = full_record().encode_to_vec();
    let estimated = estimate(&bytes, Shape::LogRecord);
    assert!(estimated.complete);
    assert_eq!(estimated.counts.attributes, 7);
    let floor = size_of::<LogRecord>() + 7 * size_of::<KeyValue>();
    assert!(
        (floor..bytes.len() * 40).contains(&estimated.bytes),
        "{}",
        estimated.bytes
    );
    // An unknown group holding "attributes" is skipped, not counted.
    let mut grouped = Vec::new();
    encode_key(99, WireType::StartGroup, &mut grouped);
    grouped.extend(empty_key_values(6, 3));
    encode_key(99, WireType::EndGroup, &mut grouped);
    let estimated = estimate(&grouped, Shape::LogRecord);
    assert!(estimated.complete);
    assert_eq!(estimated.counts.attributes, 0);
    assert!(LogRecord::decode(grouped.as_slice())
        .unwrap()
        .attributes
        .is_empty());
    for bad in [
        &bytes[..bytes.len() - 1],
        &[0x1b][..],
        &[0x07],
        &[0x32, 0x05],
    ] {
        assert!(!estimate(bad, Shape::LogRecord).complete, "{bad:?}");
    }
}

fn span_with(events: usize, links: usize) -> Span {
    Span {
        trace_id: TRACE_ID.to_vec(),
        span_id: SPAN_ID.to_vec(),
        name: format!("{events}/{links}"),
        events: vec![SpanEvent::default(); events],
        links: vec![SpanLink::default(); links],
        ..Span::default()
    }
}

fn span_json(events: usize, links: usize) -> String {
    format!(
        r#"{{"traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174",
          "name":"{events}/{links}","events":[{}],"links":[{}]}}"#,
        vec![r#"{"timeUnixNano":"0"}"#; events].join(","),
        vec![r#"{"traceId":"","spanId":""}"#; links].join(",")
    )
}

/// issue 6 review: a span with more than 1000 events or links is refused
/// (partial success), before decoding in protobuf, after parsing in JSON.
#[test]
fn span_events_and_links_are_bounded() {
    let cases = [
        (1000, 1000, 0, ""),
        (1001, 0, 1, "events"),
        (0, 1001, 1, "links"),
    ];
    for (events, links, rejected, what) in cases {
        let spans = vec![span_with(events, links), span_with(1, 1)];
        let mut req = traces_request_for_props();
        req.resource_spans[0].scope_spans[0].spans = spans;
        let pb = decode_traces(&req.encode_to_vec(), &request(Format::Protobuf)).unwrap();
        assert_eq!(
            (pb.rejected, pb.events.len()),
            (rejected, 2 - rejected as usize)
        );
        if rejected == 1 {
            assert_eq!(
                pb.error_message,
                format!("more than 1000 {what} in one span")
            );
        }
        let json = format!(
            r#"{{"resourceSpans":[{{"scopeSpans":[{{"spans":[{},{}]}}]}}]}}"#,
            span_json(events, links),
            span_json(1, 1)
        );
        let json = decode_traces(json.as_bytes(), &request(Format::Json)).unwrap();
        assert_eq!(
            (json.rejected, json.error_message.as_str()),
            (pb.rejected, pb.error_message.as_str())
        );
    }
}

/// issue 6 review: `EntityRef.idKeys`/`descriptionKeys` go through the JSON
/// budget like every other repeated field.
#[test]
fn entity_ref_keys_are_charged_to_the_json_budget() {
    let keys = vec!["\"\""; 5000].join(",");
    let body = format!(
        r#"{{"resourceLogs":[{{"resource":{{"entityRefs":[{{"type":"t","idKeys":[{keys}],
          "description_keys":[{keys}]}}]}},"scopeLogs":[{{"logRecords":[{{}}]}}]}}]}}"#
    );
    let mut req = request(Format::Json);
    req.max_decoded_bytes = 50_000;
    let err = decode_logs(body.as_bytes(), &req).unwrap_err();
    assert_eq!(err.kind, ErrorKind::TooLarge);
    req.max_decoded_bytes = 1 << 20;
    assert_eq!(decode_logs(body.as_bytes(), &req).unwrap().events.len(), 1);
    let parsed: EntityRef =
        serde_json::from_str(r#"{"idKeys":null,"descriptionKeys":["a"]}"#).unwrap();
    assert!(parsed.id_keys.is_empty());
    assert_eq!(parsed.description_keys, vec!["a".to_string()]);
}

/// The `serde_json::Value` rendering the decoders used before the review:
/// the oracle for the direct serializers.
fn value_oracle(value: Option<&AnyValue>) -> serde_json::Value {
    use any_value::Value as V;
    use serde_json::Value as J;
    match value.and_then(|v| v.value.as_ref()) {
        None => J::Null,
        Some(V::StringValue(s)) => J::String(s.clone()),
        Some(V::BoolValue(b)) => J::Bool(*b),
        Some(V::IntValue(i)) => J::from(*i),
        Some(V::DoubleValue(d)) => match serde_json::Number::from_f64(*d) {
            Some(n) => J::Number(n),
            None if d.is_nan() => "NaN".into(),
            None if *d > 0.0 => "Infinity".into(),
            None => "-Infinity".into(),
        },
        Some(V::ArrayValue(a)) => {
            J::Array(a.values.iter().map(|v| value_oracle(Some(v))).collect())
        }
        Some(V::KvlistValue(list)) => kvs_oracle(&list.values),
        Some(V::BytesValue(b)) => J::String(common::encode_base64(b)),
    }
}

fn kvs_oracle(kvs: &[KeyValue]) -> serde_json::Value {
    let mut map = serde_json::Map::new();
    for kv in kvs {
        if !map.contains_key(&kv.key) {
            map.insert(kv.key.clone(), value_oracle(kv.value.as_ref()));
        }
    }
    serde_json::Value::Object(map)
}

fn double(d: f64) -> AnyValue {
    AnyValue {
        value: Some(any_value::Value::DoubleValue(d)),
    }
}

fn tricky_values() -> Vec<AnyValue> {
    let bytes = AnyValue {
        value: Some(any_value::Value::BytesValue((0..=255).collect())),
    };
    let array = AnyValue {
        value: Some(any_value::Value::ArrayValue(ArrayValue {
            values: vec![
                AnyValue::default(),
                double(f64::NAN),
                double(-0.0),
                double(1e300),
            ],
        })),
    };
    let map = kvlist(vec![
        KeyValue::string("z", "first z"),
        KeyValue::new("a", double(f64::INFINITY)),
        KeyValue::string("z", "second z"),
        KeyValue::new("", double(f64::NEG_INFINITY)),
        KeyValue::new("é\"\n\u{1}", array.clone()),
        KeyValue::new(
            "m",
            kvlist(vec![KeyValue::new("b", AnyValue::int(i64::MIN))]),
        ),
        KeyValue::string("B", "héllo wörld \u{2028} \\ /"),
    ]);
    vec![
        AnyValue::default(),
        AnyValue::string("plain"),
        AnyValue::string("ünïcödé ✓ 🎉"),
        AnyValue::int(-7),
        double(0.1),
        double(3.0),
        bytes,
        array,
        map,
    ]
}

/// issue 6 review: the direct JSON writer gives the old `Value` text byte
/// for byte (sorted keys, first of equal keys, special doubles, escapes),
/// for attribute values and span events and links.
#[test]
fn direct_json_matches_the_value_tree() {
    for value in tricky_values() {
        assert_eq!(
            any_json(Some(&value)),
            value_oracle(Some(&value)).to_string()
        );
    }
    let attributes: Vec<KeyValue> = tricky_values()
        .into_iter()
        .enumerate()
        .map(|(i, v)| KeyValue::new(format!("k{}", 9 - i), v))
        .chain([KeyValue::string("k1", "dup")])
        .collect();
    let mut span = span_with(0, 0);
    span.events = vec![
        SpanEvent {
            time_unix_nano: u64::MAX,
            name: "ev \"1\"".into(),
            attributes: attributes.clone(),
            dropped_attributes_count: 0,
        },
        SpanEvent::default(),
    ];
    span.links = vec![SpanLink {
        trace_id: vec![0xab; 16],
        span_id: vec![1, 2],
        attributes,
        ..SpanLink::default()
    }];
    let events: Vec<serde_json::Value> = span
        .events
        .iter()
        .map(|e| {
            serde_json::json!({
                "name": e.name,
                "time_unix_nano": e.time_unix_nano,
                "attributes": kvs_oracle(&e.attributes),
            })
        })
        .collect();
    let links: Vec<serde_json::Value> = span
        .links
        .iter()
        .map(|l| {
            serde_json::json!({
                "trace_id": common::to_hex(&l.trace_id),
                "span_id": common::to_hex(&l.span_id),
                "attributes": kvs_oracle(&l.attributes),
            })
        })
        .collect();
    let mut req = traces_request_for_props();
    req.resource_spans[0].scope_spans[0].spans = vec![span];
    let decoded = decode_traces(&req.encode_to_vec(), &request(Format::Protobuf)).unwrap();
    let attr = |key: &str| {
        decoded.events[0]
            .attributes
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
    };
    let events = serde_json::Value::Array(events).to_string();
    let links = serde_json::Value::Array(links).to_string();
    assert_eq!(attr("events"), Some(AttrValue::Json(events)));
    assert_eq!(attr("links"), Some(AttrValue::Json(links)));
}

/// issue 6 review: the message is cut before it is built, with the same
/// result as building it whole and cutting at a char boundary.
#[test]
fn message_cut_first_matches_cut_after() {
    for value in tricky_values() {
        let whole = any_text(Some(&value));
        for max in 0..whole.len() + 3 {
            let mut end = max.min(whole.len());
            while !whole.is_char_boundary(end) {
                end -= 1;
            }
            assert_eq!(
                any_text_max(Some(&value), max),
                whole[..end],
                "{max} {whole}"
            );
        }
    }
    let mut req = request(Format::Protobuf);
    req.max_log_bytes = 3;
    let long = AnyValue::string("é".repeat(1000));
    let decoded = decode_logs(&logs_request(vec![record(long)]).encode_to_vec(), &req).unwrap();
    assert_eq!(decoded.events[0].message, "é");
}

/// issue 6 review: the attribute index keeps first-wins order past the
/// point where it is built, for pushed and copied keys alike.
#[test]
fn attribute_index_keeps_first_wins() {
    let mut list = AttrList::new();
    for round in 0..3 {
        for i in 0..40 {
            list.push(format!("k{i}"), AttrValue::Int(round)).unwrap();
        }
    }
    let copied: Vec<(String, AttrValue)> = (30..50)
        .map(|i| (format!("k{i}"), AttrValue::Int(-1)))
        .collect();
    list.extend_from(&copied).unwrap();
    list.extend_from(&copied).unwrap();
    assert!(list.contains("k0") && list.contains("k49") && !list.contains("k50"));
    let items = list.into_vec();
    assert_eq!(items.len(), 50);
    for (i, (key, value)) in items.iter().enumerate() {
        assert_eq!(key, &format!("k{i}"));
        assert_eq!(value, &AttrValue::Int(if i < 40 { 0 } else { -1 }));
    }
    let mut full = AttrList::new();
    for i in 0..1000 {
        full.push(format!("{i}"), AttrValue::Int(i)).unwrap();
    }
    full.push("0".into(), AttrValue::Int(0)).unwrap();
    assert!(full.push("new".into(), AttrValue::Int(0)).is_err());
}
