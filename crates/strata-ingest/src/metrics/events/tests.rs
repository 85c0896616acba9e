use serde_json::json;

use super::*;
use crate::ErrorKind;

const NOW: i64 = 1_700_000_000;
const NS: i64 = 1_000_000_000;

fn attr<'a>(event: &'a Event, name: &str) -> Option<&'a AttrValue> {
    event
        .attributes
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v)
}

#[test]
fn check_runs_as_the_agent_sends_them() {
    let body = format!(
        r#"[{{"check":"datadog.agent.up","host_name":"h1","timestamp":{NOW},"status":0,"message":"","tags":["env:prod"]}},
           {{"check":"mysql.can_connect","host_name":"db1","timestamp":{t},"status":2,"message":"timed out","tags":["port:3306","host:other"]}},
           {{"check":"disk.ok","host_name":"","status":1,"tags":null}},
           {{"check":"ntp.in_sync","host_name":"h1","timestamp":0,"status":3,"message":"no server"}}]"#,
        t = NOW - 5,
    );
    let events = decode_check_runs(body.as_bytes(), NOW + 1).unwrap();
    assert_eq!(events.len(), 4);

    let up = &events[0];
    assert_eq!(up.message, "datadog.agent.up");
    assert_eq!(up.status, Status::Ok);
    assert_eq!(up.host.as_deref(), Some("h1"));
    assert_eq!(up.source.as_deref(), Some("service_check"));
    assert_eq!(up.tags, vec!["env:prod"]);
    assert_eq!(up.timestamp_ns, NOW * NS);
    assert_eq!(
        attr(up, "check"),
        Some(&AttrValue::Str("datadog.agent.up".into()))
    );
    assert_eq!(attr(up, "status_code"), Some(&AttrValue::Int(0)));

    let mysql = &events[1];
    assert_eq!(mysql.message, "mysql.can_connect: timed out");
    assert_eq!(mysql.status, Status::Critical);
    assert_eq!(
        mysql.host.as_deref(),
        Some("db1"),
        "a host: tag is not the host"
    );
    assert_eq!(mysql.tags, vec!["port:3306", "host:other"]);
    assert_eq!(mysql.timestamp_ns, (NOW - 5) * NS);

    let disk = &events[2];
    assert_eq!(disk.status, Status::Warn);
    assert_eq!(disk.host, None);
    assert!(disk.tags.is_empty());
    assert_eq!(
        disk.timestamp_ns,
        (NOW + 1) * NS,
        "missing timestamp is now"
    );

    let ntp = &events[3];
    assert_eq!(ntp.status, Status::Info, "UNKNOWN reads as info");
    assert_eq!(attr(ntp, "status_code"), Some(&AttrValue::Int(3)));
    assert_eq!(ntp.timestamp_ns, (NOW + 1) * NS, "timestamp 0 is now");
}

#[test]
fn a_single_check_run_object_is_accepted() {
    let body =
        br#"{"check":"app.ok","host_name":"h","status":1,"timestamp":1700000000.9,"tags":[]}"#;
    let events = decode_check_runs(body, NOW).unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].timestamp_ns, NOW * NS);
    assert_eq!(decode_check_runs(b"[]", NOW).unwrap(), vec![]);
}

#[test]
fn check_run_errors_name_the_item_and_field() {
    let cases = [
        (
            r#"[{"check":"a","status":0},{"check":"b","status":4}]"#,
            "check_runs[1].status: 4 is not",
        ),
        (
            r#"[{"check":"a","status":"ok"}]"#,
            "check_runs[0].status: expected an integer, got a string",
        ),
        (
            r#"[{"check":"a","status":1.5}]"#,
            "check_runs[0].status: expected an integer, got a number",
        ),
        (r#"[{"status":0}]"#, "check_runs[0].check: missing"),
        (
            r#"[{"check":"","status":0}]"#,
            "check_runs[0].check: missing",
        ),
        (r#"[{"check":"a"}]"#, "check_runs[0].status: missing"),
        (
            r#"[{"check":"a","status":0,"tags":["x",1]}]"#,
            "check_runs[0].tags[1]: expected a string, got a number",
        ),
        (
            r#"[{"check":"a","status":0,"tags":"x"}]"#,
            "check_runs[0].tags: expected an array of strings",
        ),
        (
            r#"[{"check":"a","status":0,"host_name":5}]"#,
            "check_runs[0].host_name: expected a string",
        ),
        (
            r#"[{"check":"a","status":0,"timestamp":"now"}]"#,
            "check_runs[0].timestamp: expected seconds",
        ),
        (
            r#"[{"check":"a","status":0,"timestamp":99999999999999}]"#,
            "check_runs[0].timestamp: timestamp 99999999999999 is out of range",
        ),
        (
            r#"[{"check":"a","status":0,"timestamp":1e300}]"#,
            "check_runs[0].timestamp: timestamp 1e300 is out of range",
        ),
        (r#"[1]"#, "check_runs[0]: expected an object, got a number"),
        (r#""x""#, "the body must be a JSON array"),
        (r#"[{"check":"a","status":0}"#, "invalid JSON body"),
        ("", "empty request body"),
    ];
    for (body, expected) in cases {
        let error = decode_check_runs(body.as_bytes(), NOW).unwrap_err();
        assert_eq!(error.kind, ErrorKind::BadRequest);
        assert!(
            error.detail.starts_with(expected),
            "{body}\n  gave {:?}\n  want {expected:?}",
            error.detail
        );
    }
}

#[test]
fn too_many_check_runs_is_413() {
    let item = r#"{"check":"a","status":0},"#;
    let body = format!(
        "[{}{}]",
        item.repeat(MAX_CHECK_RUNS),
        r#"{"check":"a","status":0}"#
    );
    let error = decode_check_runs(body.as_bytes(), NOW).unwrap_err();
    assert_eq!(error.kind, ErrorKind::TooLarge);
}

#[test]
fn event_as_the_python_client_sends_it() {
    // Request body of the cassette test_post_an_event_returns_ok_response.yaml.
    let body = br#"{"tags":["test:TestPostaneventreturnsOKresponse1641430251"],"text":"A text message.","title":"Test-Post_an_event_returns_OK_response-1641430251"}"#;
    let event = decode_events_v1(body, NOW).unwrap();
    assert_eq!(
        event.message,
        "Test-Post_an_event_returns_OK_response-1641430251\nA text message."
    );
    assert_eq!(event.source.as_deref(), Some("event"));
    assert_eq!(event.status, Status::Info);
    assert_eq!(event.timestamp_ns, NOW * NS);
    assert_eq!(
        event.tags,
        vec!["test:TestPostaneventreturnsOKresponse1641430251"]
    );
    assert_eq!(
        attr(&event, "text"),
        Some(&AttrValue::Str("A text message.".into()))
    );

    // The reply has the shape of the recorded Datadog response.
    let reply = event_response_json(&event, 6_327_818_702_635_911_562);
    assert_eq!(
        reply,
        json!({
            "status": "ok",
            "event": {
                "id": 6_327_818_702_635_911_562_u64,
                "id_str": "6327818702635911562",
                "title": "Test-Post_an_event_returns_OK_response-1641430251",
                "text": "A text message.",
                "date_happened": NOW,
                "handle": null,
                "priority": null,
                "related_event_id": null,
                "tags": ["test:TestPostaneventreturnsOKresponse1641430251"],
                "url": "/event/event?id=6327818702635911562"
            }
        })
    );
}

#[test]
fn event_with_every_field() {
    let body = json!({
        "title": "Deploy",
        "text": "x".repeat(5000),
        "date_happened": NOW - 60,
        "priority": "low",
        "host": "h1",
        "tags": ["env:prod", "host:tag"],
        "alert_type": "error",
        "aggregation_key": "k".repeat(150),
        "source_type_name": "jenkins",
        "device_name": "sda",
        "related_event_id": 42,
        "unknown": {"nested": true}
    });
    let event = decode_events_v1(body.to_string().as_bytes(), NOW).unwrap();
    assert_eq!(event.status, Status::Error);
    assert_eq!(event.host.as_deref(), Some("h1"));
    assert_eq!(event.timestamp_ns, (NOW - 60) * NS);
    let names: Vec<&str> = event.attributes.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        names,
        [
            "title",
            "text",
            "priority",
            "alert_type",
            "aggregation_key",
            "source_type_name",
            "device_name",
            "related_event_id"
        ]
    );
    let Some(AttrValue::Str(text)) = attr(&event, "text") else {
        panic!("text")
    };
    assert_eq!(text.chars().count(), MAX_EVENT_TEXT_CHARS);
    let Some(AttrValue::Str(key)) = attr(&event, "aggregation_key") else {
        panic!("key")
    };
    assert_eq!(key.len(), MAX_AGGREGATION_KEY_CHARS);
    let reply = event_response_json(&event, 7);
    assert_eq!(reply["event"]["priority"], "low");
    assert_eq!(reply["event"]["related_event_id"], 42);
    assert_eq!(reply["event"]["date_happened"], NOW - 60);
    assert_eq!(reply["event"]["tags"], json!(["env:prod", "host:tag"]));
}

#[test]
fn event_alert_types_map_to_statuses() {
    for (alert_type, status) in [
        ("error", Status::Error),
        ("WARNING", Status::Warn),
        ("info", Status::Info),
        ("success", Status::Ok),
        ("user_update", Status::Info),
        ("recommendation", Status::Info),
        ("snapshot", Status::Info),
        ("made-up", Status::Info),
    ] {
        let body = json!({"title": "t", "alert_type": alert_type}).to_string();
        let event = decode_events_v1(body.as_bytes(), NOW).unwrap();
        assert_eq!(event.status, status, "{alert_type}");
        assert_eq!(event.message, "t", "no text: the message is the title");
    }
}

#[test]
fn event_text_is_cut_at_a_character_boundary() {
    let body = json!({"title": "t", "text": "é".repeat(4001)}).to_string();
    let event = decode_events_v1(body.as_bytes(), NOW).unwrap();
    assert_eq!(event.message.chars().count(), 2 + MAX_EVENT_TEXT_CHARS);
}

#[test]
fn event_errors_name_the_field() {
    let cases = [
        (r#"{"text":"no title"}"#, "event.title: missing"),
        (
            r#"{"title":5}"#,
            "event.title: expected a string, got a number",
        ),
        (
            r#"{"title":"t","text":["a"]}"#,
            "event.text: expected a string, got an array",
        ),
        (
            r#"{"title":"t","date_happened":"yesterday"}"#,
            "event.date_happened: expected seconds",
        ),
        (
            r#"{"title":"t","related_event_id":"42"}"#,
            "event.related_event_id: expected an integer",
        ),
        (
            r#"{"title":"t","tags":[null]}"#,
            "event.tags[0]: expected a string, got null",
        ),
        (
            r#"{"title":"t","priority":{}}"#,
            "event.priority: expected a string, got an object",
        ),
        (
            r#"[{"title":"t"}]"#,
            "event: expected an object, got an array",
        ),
        (r#"{"title":"t""#, "invalid JSON body"),
        (" ", "empty request body"),
    ];
    for (body, expected) in cases {
        let error = decode_events_v1(body.as_bytes(), NOW).unwrap_err();
        assert_eq!(error.kind, ErrorKind::BadRequest);
        assert!(
            error.detail.starts_with(expected),
            "{body}\n  gave {:?}\n  want {expected:?}",
            error.detail
        );
    }
}
