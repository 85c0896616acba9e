//! Tests of the bulk decoder (issue 6).

use super::*;

const NOW: i64 = 1_700_000_000_000_000_000;
const AV: &str = "action_request_validation_exception";
const IA: &str = "illegal_argument_exception";
const DP: &str = "document_parsing_exception";
const IN: &str = "invalid_index_name_exception";

fn request(index: Option<&str>) -> BulkRequest {
    BulkRequest {
        default_index: index.map(str::to_string),
        now_ns: NOW,
        max_log_bytes: 16,
        max_items: 5,
        max_decoded_bytes: 100_000,
    }
}

/// Decodes a body written with `'` for `"` (to keep the tables short).
fn decode(body: &str) -> Result<DecodedBulk, BulkError> {
    let body = body.replace('\'', "\"");
    decode_bulk(body.as_bytes(), &request(Some("path-idx")))
}

fn attr<'a>(event: &'a Event, path: &str) -> Option<&'a AttrValue> {
    let found = event.attributes.iter().find(|(p, _)| p == path);
    found.map(|(_, v)| v)
}

fn text(s: &str) -> AttrValue {
    AttrValue::Str(s.to_string())
}

/// (body, per-item outcome: `Ok(())` stored or `Err(error type)`).
#[test]
fn items_table() {
    let table: &[(&str, &[Result<(), &str>])] = &[
        ("{'index':{}}\n{'message':'a'}\n", &[Ok(())]),
        ("{'create':{'_index':'x'}}\r\n{}\r\n", &[Ok(())]),
        // No final newline; blank lines between actions.
        (
            "\n{'index':{}}\n{'a':1}\n\n \n{'index':{}}\n{'a':2}",
            &[Ok(()), Ok(())],
        ),
        (
            "{'index':{}}\n{'a':1\n{'index':{}}\n{'a':2}\n",
            &[Err(DP), Ok(())],
        ),
        ("{'index':{}}\n[1,2]\n", &[Err(DP)]),
        ("{'index':{}}\n'text'\n", &[Err(DP)]),
        ("{'index':{}}\n{'a':1} {'b':2}\n", &[Err(DP)]),
        ("{'index':{}}\n{'a':'\\ud800'}\n", &[Err(DP)]),
        (
            "{'delete':{'_id':'1'}}\n{'update':{}}\n{'doc':{}}\n",
            &[Err(IA), Err(IA)],
        ),
        ("{'index':{'_index':'Upper'}}\n{}\n", &[Err(IN)]),
        ("{'index':{'_index':'_x'}}\n{}\n", &[Err(IN)]),
        ("{'index':{'_index':'a b'}}\n{}\n", &[Err(IN)]),
        ("{'index':{'_id':''}}\n{}\n", &[Err(AV)]),
        ("{'index':{'_id':7,'routing':'r'}}\n{}\n", &[Ok(())]),
    ];
    for (body, want) in table {
        let decoded = decode(body).unwrap_or_else(|e| panic!("{body:?}: {e}"));
        let got: Vec<Result<(), &str>> = decoded
            .items
            .iter()
            .map(|item| match &item.outcome {
                Outcome::Stored(_) => Ok(()),
                Outcome::Failed { error, status } => {
                    assert_eq!(*status, 400);
                    Err(error.error_type)
                }
            })
            .collect();
        assert_eq!(&got, want, "{body:?}");
        let stored = want.iter().filter(|w| w.is_ok()).count();
        assert_eq!(decoded.events.len(), stored, "{body:?}");
    }
}

/// Bodies refused whole: (body, error type); 400 unless `TOO_LARGE`.
#[test]
fn request_errors_table() {
    let six = "{'delete':{}}\n".repeat(6);
    let table: &[(&str, &str)] = &[
        ("", AV),
        ("\n \n", AV),
        ("{'index':{}}\n", AV),
        ("{'index':{}}", AV),
        ("{'index':{}}\n\n{}\n", AV),
        ("{'update':{}}\n", AV),
        ("{'upsert':{}}\n{}\n", IA),
        ("{'index':{},'create':{}}\n{}\n", IA),
        ("{}\n", IA),
        ("[]\n", IA),
        ("{'index':1}\n{}\n", IA),
        ("{'index':{'_index':1}}\n{}\n", IA),
        ("{'index':{'_id':[]}}\n{}\n", IA),
        ("{'index':\n{}\n", "parse_exception"),
        ("not json\n", "parse_exception"),
        (&six, TOO_LARGE),
    ];
    for (body, error_type) in table {
        let error = decode(body).expect_err(body);
        assert_eq!(error.error.error_type, *error_type, "{body:?}: {error}");
        let too_large = *error_type == TOO_LARGE;
        assert_eq!(error.kind == ErrorKind::TooLarge, too_large, "{body:?}");
    }
    let mut small = request(Some("i"));
    small.max_decoded_bytes = 500;
    let body = "{\"index\":{}}\n{\"a\":\"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"}\n".repeat(3);
    let error = decode_bulk(body.as_bytes(), &small).unwrap_err();
    assert_eq!(error.kind, ErrorKind::TooLarge);
}

#[test]
fn ecs_mapping_nested_and_dotted() {
    let body = concat!(
        "{'index':{'_index':'app-logs','_id':'abc'}}\n",
        "{'@timestamp':'2023-11-14T22:13:20.123Z','message':'hello world, this is long',",
        "'log':{'level':'WARNING','logger':'main'},'host':{'name':'web-1','ip':'10.0.0.1'},",
        "'service.name':'api','trace':{'id':'t-1'},'event.dataset':'app.log',",
        "'http':{'response':{'status_code':503}},'tags':['a','b'],'_id':'inner'}\n",
        "{'create':{}}\n",
        "{'log.level':'error','host':'h2','@timestamp':1700000000123,'level':'debug'}\n",
        "{'index':{}}\n",
        "{'@timestamp':'yesterday','host':{'hostname':'h3'},'log':{'level':3},'message':{'a':1}}",
    );
    let decoded = decode(body).unwrap();
    assert_eq!(decoded.events.len(), 3);
    let e = &decoded.events[0];
    assert_eq!(e.timestamp_ns, 1_700_000_000_123_000_000);
    assert_eq!(e.message, "hello world, thi", "truncated to 16 bytes");
    assert_eq!(e.status, Status::Warn);
    assert_eq!(e.host.as_deref(), Some("web-1"));
    assert_eq!(e.service.as_deref(), Some("api"));
    assert_eq!(e.trace_id.as_deref(), Some("t-1"));
    assert_eq!(e.source.as_deref(), Some("app.log"));
    assert_eq!(e.tags, vec!["index:app-logs".to_string()]);
    assert_eq!(attr(e, "log.logger"), Some(&text("main")));
    assert_eq!(attr(e, "host.ip"), Some(&text("10.0.0.1")));
    let status_code = attr(e, "http.response.status_code");
    assert_eq!(status_code, Some(&AttrValue::Int(503)));
    let tags = AttrValue::Json(r#"["a","b"]"#.into());
    assert_eq!(attr(e, "tags"), Some(&tags));
    assert_eq!(attr(e, "_id"), Some(&text("abc")));
    assert_eq!(e.attributes.iter().filter(|(p, _)| p == "_id").count(), 1);
    assert!(attr(e, "log.level").is_none() && attr(e, "message").is_none());

    let e = &decoded.events[1];
    assert_eq!(e.status, Status::Error, "log.level beats level");
    assert_eq!(attr(e, "level"), Some(&text("debug")));
    assert_eq!(e.host.as_deref(), Some("h2"));
    assert_eq!(e.timestamp_ns, 1_700_000_000_123_000_000);
    assert_eq!(e.tags, vec!["index:path-idx".to_string()]);

    let e = &decoded.events[2];
    assert_eq!(e.timestamp_ns, NOW, "unparsable @timestamp: now");
    assert_eq!(attr(e, "@timestamp"), Some(&text("yesterday")));
    assert_eq!(e.host.as_deref(), Some("h3"));
    assert_eq!(e.status, Status::Error, "severity 3");
    assert_eq!(e.message, "");
    assert_eq!(attr(e, "message.a"), Some(&AttrValue::Int(1)));
}

#[test]
fn missing_index_fails_the_item_only() {
    let body = "{\"index\":{}}\n{}\n{\"index\":{\"_index\":\"x\"}}\n{}\n";
    let decoded = decode_bulk(body.as_bytes(), &request(None)).unwrap();
    assert!(matches!(decoded.items[0].outcome, Outcome::Failed { .. }));
    assert_eq!(decoded.items[1].outcome, Outcome::Stored(0));
    assert_eq!(decoded.events[0].tags, vec!["index:x".to_string()]);
}

#[test]
fn replies() {
    let body = "{'index':{'_id':'mine'}}\n{}\n{'create':{}}\n{}\n{'index':{}}\n{x\n{'delete':{}}\n";
    let decoded = decode(body).unwrap();
    let reply = bulk_response(&decoded.items, Some(7), 3);
    let reply: Value = serde_json::from_slice(&reply).unwrap();
    assert_eq!(
        (&reply["took"], &reply["errors"]),
        (&json!(3), &json!(true))
    );
    let items = reply["items"].as_array().unwrap();
    assert_eq!(items.len(), 4);
    let first = &items[0]["index"];
    assert_eq!(
        (&first["_id"], &first["status"]),
        (&json!("mine"), &json!(201))
    );
    assert_eq!(first["result"], "created");
    assert_eq!(first["_index"], "path-idx");
    assert_eq!(items[1]["create"]["_id"], event_id(7, 1));
    assert_eq!(items[1]["create"]["_shards"]["successful"], 1);
    assert_eq!(items[2]["index"]["status"], 400);
    assert_eq!(items[2]["index"]["error"]["type"], DP);
    assert_eq!(items[3]["delete"]["status"], 400);
    let single = item_json(&decoded.items[1], Some(7), false);
    assert!(single.get("status").is_none());
    let ok = decode("{'index':{}}\n{}\n").unwrap();
    let reply: Value = serde_json::from_slice(&bulk_response(&ok.items, Some(1), 0)).unwrap();
    assert_eq!(reply["errors"], false);
    let reason = "no".to_string();
    let body = error_json(
        401,
        &EsError {
            error_type: "security_exception",
            reason,
        },
    );
    assert_eq!(body["status"], 401);
    assert_eq!(body["error"]["root_cause"][0]["type"], "security_exception");
    assert_eq!(body["error"]["reason"], "no");
}

#[test]
fn single_documents() {
    let request = request(Some("docs"));
    let one = decode_document(b"{\"message\":\"m\"}", &request, OpType::Index, None).unwrap();
    assert_eq!(one.items[0].outcome, Outcome::Stored(0));
    assert_eq!(one.events[0].tags, vec!["index:docs".to_string()]);
    let pretty = b"{\n  \"message\": \"m\"\n}\n";
    let id = decode_document(pretty, &request, OpType::Create, Some("k")).unwrap();
    assert_eq!(attr(&id.events[0], "_id"), Some(&text("k")));
    let bad = decode_document(b"{nope", &request, OpType::Index, None).unwrap();
    assert!(bad.events.is_empty());
    let failed = matches!(bad.items[0].outcome, Outcome::Failed { status: 400, .. });
    assert!(failed, "{bad:?}");
    let empty = decode_document(b" ", &request, OpType::Index, None).unwrap_err();
    assert_eq!(empty.error.error_type, "parse_exception");
}

/// Line fragments that recombine into plausible and broken bodies.
const FRAGMENTS: [&str; 12] = [
    "{\"index\":{}}",
    "{\"create\":{\"_index\":\"a\",\"_id\":\"1\"}}",
    "{\"delete\":{}}",
    "{\"update\":{}}",
    "{\"message\":\"m\",\"log\":{\"level\":\"warn\"},\"@timestamp\":1}",
    "{\"host\":{\"name\":[1]},\"log.level\":{},\"a.b\":null}",
    "{\"x\":",
    "",
    "[]",
    "{\"index\":{\"_index\":\"B\"}}",
    "\u{e9}\u{0}",
    "{\"index\":{\"_id\":\"\"}}",
];

proptest::proptest! {
    #[test]
    fn recombined_bodies_keep_the_invariants(
        picks in proptest::collection::vec(0..FRAGMENTS.len(), 0..12),
        noise in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..8),
    ) {
        let mut body: Vec<u8> = picks
            .iter()
            .flat_map(|&i| format!("{}\n", FRAGMENTS[i]).into_bytes())
            .collect();
        body.extend_from_slice(&noise);
        if let Ok(decoded) = decode_bulk(&body, &request(Some("p"))) {
            let stored = decoded
                .items
                .iter()
                .filter(|i| matches!(i.outcome, Outcome::Stored(_)))
                .count();
            proptest::prop_assert_eq!(stored, decoded.events.len());
            proptest::prop_assert!(decoded.items.len() <= 5);
            let reply = bulk_response(&decoded.items, Some(3), 1);
            proptest::prop_assert!(serde_json::from_slice::<Value>(&reply).is_ok());
        }
    }
}

#[test]
fn arbitrary_bytes_do_not_panic() {
    let deep = format!(
        "{{\"index\":{{}}}}\n{{\"a\":{}{}}}\n",
        "[".repeat(200),
        "]".repeat(200)
    );
    let samples: [&[u8]; 6] = [
        b"\xff\xfe\n\x00",
        b"{\"index\":{}}\n\xff\n",
        b"{\"index\":{\"_index\":\"\xc3\x28\"}}\n{}\n",
        b"\r\n\r\n",
        deep.as_bytes(),
        b"{\"index\":{}}\n{\"@timestamp\":-1e400}\n",
    ];
    for body in samples {
        let _ = decode_bulk(body, &request(Some("i")));
    }
}
