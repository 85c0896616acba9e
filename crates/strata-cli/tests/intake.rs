//! The logs intake over HTTP against the real binary: every body shape and
//! encoding, and a bad-input table (issue 2): each bad request gets the right
//! status and a Datadog JSON error body, nothing of it is stored, and the
//! server keeps serving.

mod common;

/// (name, headers, body, expected status)
type GoodCase<'a> = (&'a str, Vec<(&'a str, String)>, Vec<u8>, u16);
/// (name, headers, body, expected status, expected text in the detail)
type BadCase<'a> = (&'a str, Vec<(&'a str, &'a str)>, Vec<u8>, u16, &'a str);

use std::io::Write;

use common::{export, post, Server};

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(data).unwrap();
    enc.finish().unwrap()
}

fn zlib(data: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(data).unwrap();
    enc.finish().unwrap()
}

fn raw_deflate(data: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(data).unwrap();
    enc.finish().unwrap()
}

#[test]
fn every_body_shape_and_encoding_is_stored() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]);
    let key = server.keys().api_key;
    let json = |m: &str| format!(r#"[{{"message":"{m}","ddtags":"env:prod"}}]"#).into_bytes();
    let v2 = server.url("/api/v2/logs?ddtags=team:a&service=qsvc&host=qhost&ddsource=qsrc");
    let cases: Vec<GoodCase> = vec![
        (
            "identity",
            vec![("Content-Type", "application/json".into())],
            json("identity"),
            202,
        ),
        (
            "gzip",
            vec![("Content-Encoding", "gzip".into())],
            gzip(&json("gzip")),
            202,
        ),
        (
            "deflate",
            vec![("Content-Encoding", "deflate".into())],
            zlib(&json("deflate")),
            202,
        ),
        (
            "raw-deflate",
            vec![("Content-Encoding", "deflate".into())],
            raw_deflate(&json("raw-deflate")),
            202,
        ),
        (
            "zstd",
            vec![("Content-Encoding", "zstd".into())],
            zstd::encode_all(&json("zstd")[..], 3).unwrap(),
            202,
        ),
        (
            "object",
            vec![("Content-Type", "application/json".into())],
            br#"{"message":"object"}"#.to_vec(),
            202,
        ),
        (
            "simple",
            vec![("Content-Type", "application/json;simple".into())],
            br#"{"message":"simple"}"#.to_vec(),
            202,
        ),
        (
            "text",
            vec![("Content-Type", "text/plain".into())],
            b"text-1\ntext-2\n".to_vec(),
            202,
        ),
        (
            "logplex",
            vec![("Content-Type", "application/logplex-1".into())],
            b"logplex-1".to_vec(),
            202,
        ),
    ];
    for (name, headers, body, want) in &cases {
        let mut all: Vec<(&str, &str)> = vec![("DD-API-KEY", key.as_str())];
        all.extend(headers.iter().map(|(k, v)| (*k, v.as_str())));
        let (status, text, _) = post(&v2, &all, body);
        assert_eq!(status, *want, "{name}: {text}");
        assert_eq!(text, "{}", "{name}");
    }
    // Legacy endpoints: key in a header or in the path; 200 {}.
    let (status, text, _) = post(
        &server.url("/v1/input"),
        &[("DD-API-KEY", &key)],
        br#"[{"message":"v1-header"}]"#,
    );
    assert_eq!((status, text.as_str()), (200, "{}"));
    let (status, _, _) = post(
        &server.url(&format!("/v1/input/{key}")),
        &[],
        br#"[{"message":"v1-path"}]"#,
    );
    assert_eq!(status, 200);
    let validate = ureq::get(&server.url("/api/v1/validate"))
        .set("DD-API-KEY", &key)
        .call()
        .unwrap();
    assert_eq!(validate.into_string().unwrap(), r#"{"valid":true}"#);

    let (status, stderr) = server.terminate();
    assert!(status.success(), "{stderr}");
    let lines = export(dir.path(), "default");
    let messages: Vec<&str> = lines
        .iter()
        .map(|l| l["message"].as_str().unwrap())
        .collect();
    for want in [
        "identity",
        "gzip",
        "deflate",
        "raw-deflate",
        "zstd",
        "object",
        "simple",
        "text-1",
        "text-2",
        "logplex-1",
        "v1-header",
        "v1-path",
    ] {
        assert_eq!(
            messages.iter().filter(|m| **m == want).count(),
            1,
            "{want} in {messages:?}"
        );
    }
    let text = lines.iter().find(|l| l["message"] == "text-1").unwrap();
    assert_eq!(text["service"], "qsvc");
    assert_eq!(text["host"], "qhost");
    assert_eq!(text["source"], "qsrc");
    assert_eq!(text["tags"], serde_json::json!(["team:a"]));
    let gz = lines.iter().find(|l| l["message"] == "gzip").unwrap();
    assert_eq!(gz["tags"], serde_json::json!(["env:prod", "team:a"]));
    assert_eq!(
        gz["service"], "qsvc",
        "query parameters are defaults for JSON items"
    );
}

#[test]
fn bad_input_gets_a_clear_error_and_stores_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &["--set", "limits.max_request_bytes=5000000"]);
    let key = server.keys().api_key;
    let url = server.url("/api/v2/logs");
    let big_message = format!(
        r#"[{{"message":"bad-oversize-log {}"}}]"#,
        "x".repeat(1_100_000)
    );
    let oversize_body = format!(
        r#"[{{"message":"bad-oversize-body","pad":"{}"}}]"#,
        "y".repeat(5_100_000)
    );
    let array_1001 = format!("[{}]", vec![r#"{"message":"bad-1001"}"#; 1001].join(","));
    let deep = format!(
        r#"[{{"message":"bad-deep","a":{}1{}}}]"#,
        "[".repeat(500),
        "]".repeat(500)
    );
    let bomb = gzip(&vec![b' '; 20_000_000]);
    let json = ("Content-Type", "application/json");
    #[rustfmt::skip]
    let cases: Vec<BadCase> = vec![
        ("malformed json", vec![json], br#"[{"message":"bad-malformed""#.to_vec(), 400, "invalid JSON"),
        ("wrong item type", vec![json], br#"["bad-string-item"]"#.to_vec(), 400, "item 0"),
        ("wrong field type", vec![json], br#"[{"message":"bad-ddtags","ddtags":{"a":1}}]"#.to_vec(), 400, "ddtags"),
        ("wrong body type", vec![json], b"42".to_vec(), 400, "body is a number"),
        ("empty body", vec![json], Vec::new(), 400, "empty"),
        ("invalid utf-8", vec![json], b"[{\"message\":\"bad-utf8 \xff\xfe\"}]".to_vec(), 400, "invalid JSON"),
        ("invalid utf-8 text", vec![("Content-Type", "text/plain")], b"bad-utf8-text \xff".to_vec(), 400, "UTF-8"),
        ("bad gzip", vec![json, ("Content-Encoding", "gzip")], b"bad-gzip not gzip".to_vec(), 400, "gzip"),
        ("bad zstd", vec![json, ("Content-Encoding", "zstd")], b"bad-zstd not zstd".to_vec(), 400, "zstd"),
        ("unknown encoding", vec![json, ("Content-Encoding", "br")], br#"[{"message":"bad-br"}]"#.to_vec(), 415, "Content-Encoding"),
        ("unknown content type", vec![("Content-Type", "application/xml")], b"<bad-xml/>".to_vec(), 415, "Content-Type"),
        ("oversize body", vec![json], oversize_body.into_bytes(), 413, "exceeds"),
        ("gzip bomb", vec![json, ("Content-Encoding", "gzip")], bomb, 413, "exceeds"),
        ("oversize array", vec![json], array_1001.into_bytes(), 413, "more than 1000 items"),
        ("deeply nested", vec![json], deep.into_bytes(), 400, "recursion"),
    ];
    for (name, mut headers, body, want, detail) in cases {
        headers.push(("DD-API-KEY", &key));
        let (status, text, _) = post(&url, &headers, &body);
        assert_eq!(status, want, "{name}: {text}");
        let parsed: serde_json::Value = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{name}: not JSON {text:?}: {e}"));
        let error = &parsed["errors"][0];
        assert_eq!(error["status"], want.to_string(), "{name}: {text}");
        assert!(
            error["detail"].as_str().unwrap().contains(detail),
            "{name}: {text} lacks {detail}"
        );
    }

    // Auth failures.
    let body = br#"[{"message":"bad-auth"}]"#;
    let (status, text, _) = post(&url, &[json], body);
    assert_eq!(status, 401, "{text}");
    assert!(text.contains("missing DD-API-KEY"));
    let (status, _, _) = post(
        &url,
        &[json, ("DD-API-KEY", "0123456789abcdef0123456789abcdef")],
        body,
    );
    assert_eq!(status, 403);
    let (status, _, _) = post(&server.url("/v1/input/notakey"), &[json], body);
    assert_eq!(status, 403);
    let app_key = server.keys().app_key;
    let (status, _, _) = post(&url, &[json, ("DD-API-KEY", &app_key)], body);
    assert_eq!(status, 403, "an application key cannot ingest");

    // A revoked key stops working while the server runs.
    let created = common::admin(&[
        "key",
        "create",
        "--data-dir",
        dir.path().to_str().unwrap(),
        "--tenant",
        "default",
        "--kind",
        "api",
    ]);
    assert!(created.status.success());
    let new_key = String::from_utf8(created.stdout)
        .unwrap()
        .trim()
        .to_string();
    wait_for_status(&url, &new_key, 202);
    let revoked = common::admin(&[
        "key",
        "revoke",
        "--data-dir",
        dir.path().to_str().unwrap(),
        &new_key[..8],
    ]);
    assert!(
        revoked.status.success(),
        "{}",
        String::from_utf8_lossy(&revoked.stderr)
    );
    wait_for_status(&url, &new_key, 403);

    // A log over the per-log limit is truncated, not rejected.
    let (status, _, _) = post(&url, &[json, ("DD-API-KEY", &key)], big_message.as_bytes());
    assert_eq!(status, 202);
    // The server keeps serving.
    let (status, _, _) = post(
        &url,
        &[json, ("DD-API-KEY", &key)],
        br#"[{"message":"good-after"}]"#,
    );
    assert_eq!(status, 202);

    let (status, stderr) = server.terminate();
    assert!(status.success(), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    let lines = export(dir.path(), "default");
    let messages: Vec<String> = lines
        .iter()
        .map(|l| l["message"].as_str().unwrap().to_string())
        .collect();
    let stored_bad: Vec<&String> = messages
        .iter()
        .filter(|m| m.starts_with("bad-") && !m.starts_with("bad-oversize-log"))
        .collect();
    assert!(
        stored_bad.is_empty(),
        "rejected requests were stored: {stored_bad:?}"
    );
    let truncated = messages
        .iter()
        .find(|m| m.starts_with("bad-oversize-log"))
        .expect("oversize log stored");
    assert_eq!(truncated.len(), 1_000_000);
    assert!(messages.iter().any(|m| m == "good-after"));
}

/// Posts with `key` until the status is `want` (key changes take up to ~1 s).
fn wait_for_status(url: &str, key: &str, want: u16) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let (status, _, _) = post(url, &[("DD-API-KEY", key)], br#"[{"message":"key-probe"}]"#);
        if status == want {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "status stayed {status}, wanted {want}"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

/// `Transfer-Encoding: chunked` bodies (what streaming senders use) are
/// accepted, over a raw socket so nothing sets a Content-Length.
#[test]
fn chunked_bodies_are_accepted() {
    use std::io::{Read, Write};
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]);
    let key = server.keys().api_key;
    let body = br#"[{"message":"chunked-1"},{"message":"chunked-2"}]"#;
    let (a, b) = body.split_at(10);
    let mut request = format!(
        "POST /api/v2/logs HTTP/1.1\r\nHost: 127.0.0.1\r\nDD-API-KEY: {key}\r\nContent-Type: application/json\r\n\
         Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    )
    .into_bytes();
    for chunk in [a, b] {
        request.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
        request.extend_from_slice(chunk);
        request.extend_from_slice(b"\r\n");
    }
    request.extend_from_slice(b"0\r\n\r\n");
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    stream.write_all(&request).unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    assert!(response.starts_with("HTTP/1.1 202"), "{response}");
    assert!(response.ends_with("{}"), "{response}");
    let (status, stderr) = server.terminate();
    assert!(status.success(), "{stderr}");
    let lines = export(dir.path(), "default");
    assert_eq!(
        lines
            .iter()
            .filter(|l| l["message"].as_str().unwrap().starts_with("chunked-"))
            .count(),
        2
    );
}
