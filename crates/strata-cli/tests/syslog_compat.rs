//! Issue 6: syslog listeners with real clients (installed by
//! `scripts/install-test-deps.sh`: `rsyslog`, `bsdutils` for `logger`).
//!
//! - a real `rsyslogd` (own config, pid file and work directory, no
//!   imuxsock) receives `logger` lines on `imtcp` and forwards them with
//!   `omfwd` over TCP: RFC 5424 (`RSYSLOG_SyslogProtocol23Format`)
//!   octet-counted in one test, `RSYSLOG_ForwardFormat` (RFC 3164 with an
//!   RFC 3339 time) LF-framed in another;
//! - `logger` straight to Strata over UDP, `--rfc5424` with structured data
//!   and `--rfc3164`;
//! - raw sockets: malformed lines, oversize and badly counted frames, an
//!   idle connection that blocks nothing and is closed, max connections,
//!   the listener's tenant, and `kill -9` after the server counted N
//!   stored messages (N found after the restart).
//!
//! Everything is read back with `POST /api/v2/logs/events/search` and
//! checked field by field.

mod common;

use std::collections::HashSet;
use std::io::{Read, Write};
use std::net::{TcpStream, UdpSocket};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;

use common::storage::{now_ms, search_all};
use common::{admin, free_port, free_udp_port, prometheus_sum, Keys, Server};

/// Every event of the tenant (the tests send nothing else).
fn events(server: &Server, keys: &Keys) -> Vec<Value> {
    search_all(server, keys, "*", "now-1d", "now+1d")
}

/// Polls until the tenant has at least `n` events; returns them.
fn wait_for(server: &Server, keys: &Keys, n: usize) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let found = events(server, keys);
        if found.len() >= n {
            return found;
        }
        assert!(
            Instant::now() < deadline,
            "only {} of {n} events arrived: {found:#?}",
            found.len()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The event whose message is `message`.
fn by_message<'a>(events: &'a [Value], message: &str) -> &'a Value {
    events
        .iter()
        .find(|e| e["attributes"]["message"] == message)
        .unwrap_or_else(|| panic!("no event {message:?} in {events:#?}"))
}

/// `attributes.attributes` of an event, as nested JSON.
fn attrs(event: &Value) -> &Value {
    &event["attributes"]["attributes"]
}

fn tags(event: &Value) -> Vec<String> {
    event["attributes"]["tags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap().to_string())
        .collect()
}

/// host, service, status of an event.
fn fields(event: &Value) -> (&str, &str, &str) {
    let a = &event["attributes"];
    (
        a["host"].as_str().unwrap_or(""),
        a["service"].as_str().unwrap_or(""),
        a["status"].as_str().unwrap_or(""),
    )
}

/// Checks the syslog attributes every parsed event has.
fn assert_syslog(event: &Value, format: &str, facility: i64, name: &str) {
    let a = attrs(event);
    assert_eq!(a["syslog"]["facility"], facility, "{event:#}");
    assert_eq!(a["syslog"]["facility_name"], name, "{event:#}");
    assert_eq!(event["attributes"]["source"], "syslog", "{event:#}");
    assert_eq!(a["network"]["client"]["ip"], "127.0.0.1", "{event:#}");
    let tags = tags(event);
    assert!(
        tags.contains(&format!("syslog_format:{format}")),
        "{tags:?}"
    );
    assert!(
        !tags.contains(&"parse_error:syslog".to_string()),
        "{tags:?}"
    );
    // Sent just now (rsyslog and logger stamp the message themselves).
    let time = event["attributes"]["timestamp"].as_str().unwrap();
    let ms = chrono_ms(time);
    assert!(
        (ms - now_ms()).abs() < 600_000,
        "event time {time} is not now"
    );
}

/// Milliseconds of an RFC 3339 UTC time `YYYY-MM-DDTHH:MM:SS.mmmZ`.
fn chrono_ms(text: &str) -> i64 {
    let n = |range: std::ops::Range<usize>| text[range].parse::<i64>().unwrap();
    let (y, m, d) = (n(0..4), n(5..7), n(8..10));
    // Days from civil (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = days * 86_400 + n(11..13) * 3600 + n(14..16) * 60 + n(17..19);
    secs * 1000 + text.get(20..23).map_or(0, |f| f.parse().unwrap_or(0))
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .unwrap()
        .trim()
        .to_string()
}

/// Runs `logger` (util-linux) with `TZ=UTC`; panics unless it succeeds.
fn logger(args: &[&str]) {
    let output = Command::new("logger")
        .args(args)
        .env("TZ", "UTC")
        .output()
        .expect("logger runs (scripts/install-test-deps.sh installs bsdutils)");
    assert!(
        output.status.success(),
        "logger {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A real `rsyslogd -n` with its own configuration, pid file and work
/// directory: `imtcp` on a free local port, everything forwarded to
/// Strata with `omfwd` over TCP.
struct Rsyslog {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Rsyslog {
    fn start(strata_port: u16, framing: &str, template: &str) -> Rsyslog {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let work = dir.path().join("work");
        std::fs::create_dir_all(&work).unwrap();
        let conf = format!(
            "global(workDirectory=\"{work}\")\n\
             module(load=\"imtcp\")\n\
             input(type=\"imtcp\" port=\"{port}\" address=\"127.0.0.1\")\n\
             action(type=\"omfwd\" target=\"127.0.0.1\" port=\"{strata_port}\" protocol=\"tcp\" \
             TCP_Framing=\"{framing}\" template=\"{template}\")\n",
            work = work.display()
        );
        let conf_path = dir.path().join("rsyslog.conf");
        std::fs::write(&conf_path, conf).unwrap();
        let log = std::fs::File::create(dir.path().join("rsyslogd.log")).unwrap();
        let child = Command::new("rsyslogd")
            .arg("-n")
            .arg("-f")
            .arg(&conf_path)
            .arg("-i")
            .arg(dir.path().join("rsyslogd.pid"))
            .stdout(Stdio::null())
            .stderr(Stdio::from(log))
            .spawn()
            .expect("rsyslogd runs (scripts/install-test-deps.sh installs rsyslog)");
        let rsyslog = Rsyslog {
            child,
            port,
            _dir: dir,
        };
        rsyslog.wait_listening();
        rsyslog
    }

    fn wait_listening(&self) {
        let deadline = Instant::now() + Duration::from_secs(15);
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < deadline, "rsyslogd did not listen");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// `logger` over TCP into rsyslog.
    fn log(&self, args: &[&str]) {
        let port = self.port.to_string();
        let mut all = vec!["-n", "127.0.0.1", "-P", &port, "-T"];
        all.extend_from_slice(args);
        logger(&all);
    }
}

impl Drop for Rsyslog {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_tcp(dir: &Path, extra: &[&str]) -> (Server, u16) {
    let port = free_port();
    let listen = format!("tcp://127.0.0.1:{port}");
    let mut args = vec!["--syslog-listen", listen.as_str()];
    args.extend_from_slice(extra);
    (Server::start(dir, &args), port)
}

/// RFC 5424 through rsyslog, octet-counted: host, app-name, procid, msgid,
/// SD parameters, severity and facility all arrive.
#[test]
fn rsyslog_forwards_rfc5424_octet_counted() {
    let dir = tempfile::tempdir().unwrap();
    let (server, port) = start_tcp(dir.path(), &[]);
    let keys = server.keys();
    let rsyslog = Rsyslog::start(port, "octet-counted", "RSYSLOG_SyslogProtocol23Format");
    rsyslog.log(&[
        "--rfc5424",
        "--sd-id",
        "zoo@32473",
        "--sd-param",
        "tiger=\"hungry\"",
        "--sd-param",
        "zebra=\"striped\"",
        "--msgid",
        "ID47",
        "--id=777",
        "-p",
        "local3.warning",
        "-t",
        "myapp",
        "hello via rsyslog 5424",
    ]);
    rsyslog.log(&["--rfc5424", "-p", "mail.err", "-t", "mailer", "second"]);
    let quoted = "with \"quotes\" and ] brackets";
    rsyslog.log(&["--rfc5424", "-p", "daemon.debug", "-t", "dbg", quoted]);
    let found = wait_for(&server, &keys, 3);
    let host = hostname();

    let first = by_message(&found, "hello via rsyslog 5424");
    assert_eq!(fields(first), (host.as_str(), "myapp", "warn"));
    assert_syslog(first, "rfc5424", 19, "local3");
    let a = attrs(first);
    assert_eq!(a["syslog"]["procid"], "777");
    assert_eq!(a["syslog"]["msgid"], "ID47");
    assert_eq!(a["syslog"]["severity"], 4);
    assert_eq!(a["zoo@32473"]["tiger"], "hungry", "{first:#}");
    assert_eq!(a["zoo@32473"]["zebra"], "striped", "{first:#}");
    assert_eq!(a["timeQuality"]["tzKnown"], "1", "{first:#}");

    let second = by_message(&found, "second");
    assert_eq!(fields(second), (host.as_str(), "mailer", "error"));
    assert_syslog(second, "rfc5424", 2, "mail");

    let third = by_message(&found, quoted);
    assert_eq!(fields(third), (host.as_str(), "dbg", "debug"));
    assert_syslog(third, "rfc5424", 3, "daemon");
    assert_eq!(
        prometheus_sum(&server, "strata_syslog_messages_total", "tcp"),
        3.0
    );
    assert_eq!(
        prometheus_sum(&server, "strata_ingest_events_total", "syslog"),
        3.0
    );
}

/// RFC 3164 as rsyslog's `RSYSLOG_ForwardFormat` sends it (RFC 3339 time,
/// `TAG[PID]:`), LF-framed.
#[test]
fn rsyslog_forwards_rfc3164_lf_framed() {
    let dir = tempfile::tempdir().unwrap();
    let (server, port) = start_tcp(dir.path(), &[]);
    let keys = server.keys();
    let rsyslog = Rsyslog::start(port, "traditional", "RSYSLOG_ForwardFormat");
    rsyslog.log(&[
        "--rfc3164",
        "--id=4242",
        "-p",
        "auth.crit",
        "-t",
        "sshd",
        "Accepted publickey for bob",
    ]);
    rsyslog.log(&[
        "--rfc3164",
        "-p",
        "local0.notice",
        "-t",
        "app",
        "plain notice",
    ]);
    let found = wait_for(&server, &keys, 2);
    let host = hostname();
    let sshd = by_message(&found, "Accepted publickey for bob");
    assert_eq!(fields(sshd), (host.as_str(), "sshd", "critical"));
    assert_syslog(sshd, "rfc3164", 4, "auth");
    assert_eq!(attrs(sshd)["syslog"]["procid"], "4242");
    let app = by_message(&found, "plain notice");
    assert_eq!(fields(app), (host.as_str(), "app", "notice"));
    assert_syslog(app, "rfc3164", 16, "local0");
}

/// `logger` straight to Strata over UDP, one message per datagram.
#[test]
fn logger_over_udp_rfc5424_and_rfc3164() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_udp_port();
    let listen = format!("udp://127.0.0.1:{port}");
    let server = Server::start(dir.path(), &["--syslog-listen", &listen]);
    let keys = server.keys();
    let port = port.to_string();
    let to = ["-n", "127.0.0.1", "-P", port.as_str(), "-d"];
    let args = [
        "--rfc5424",
        "--sd-id",
        "origin@32473",
        "--sd-param",
        "ip=\"10.1.2.3\"",
        "--msgid",
        "M1",
        "--id=31337",
        "-p",
        "local7.info",
        "-t",
        "udp5424",
        "five four two four over udp",
    ];
    logger(&[&to[..], &args[..]].concat());
    let args = [
        "--rfc3164",
        "--id=55",
        "-p",
        "mail.alert",
        "-t",
        "mailer",
        "three one six four",
    ];
    logger(&[&to[..], &args[..]].concat());
    let found = wait_for(&server, &keys, 2);
    let host = hostname();
    let udp5424 = by_message(&found, "five four two four over udp");
    assert_eq!(fields(udp5424), (host.as_str(), "udp5424", "info"));
    assert_syslog(udp5424, "rfc5424", 23, "local7");
    let a = attrs(udp5424);
    assert_eq!(a["origin@32473"]["ip"], "10.1.2.3");
    assert_eq!(a["syslog"]["procid"], "31337");
    assert_eq!(a["syslog"]["msgid"], "M1");
    let udp3164 = by_message(&found, "three one six four");
    assert_eq!(fields(udp3164), (host.as_str(), "mailer", "alert"));
    assert_syslog(udp3164, "rfc3164", 2, "mail");
    assert_eq!(attrs(udp3164)["syslog"]["procid"], "55");
    assert_eq!(
        prometheus_sum(&server, "strata_syslog_messages_total", "udp"),
        2.0
    );
}

/// Malformed lines are stored raw with the parse-error tag; oversize frames
/// are cut and flagged; a bad octet count resynchronises at the next LF; a
/// connection that sends nothing blocks no other.
#[test]
fn raw_tcp_framing_and_malformed_lines() {
    let dir = tempfile::tempdir().unwrap();
    let (server, port) = start_tcp(dir.path(), &["--set", "syslog.max_line_bytes=1000"]);
    let keys = server.keys();
    let _idle = TcpStream::connect(("127.0.0.1", port)).unwrap();

    let counted = |m: &str| format!("{} {m}", m.len());
    let big_counted = {
        let head = "<13>1 - h bigoc - - - ";
        let body = format!("{head}{}", "y".repeat(3000 - head.len()));
        counted(&body)
    };
    let stream = [
        "this is not syslog\n".to_string(),
        "<999>1 - h a - - - bad pri\n".to_string(),
        format!("<13>1 - h big - - - {}\n", "x".repeat(3000)),
        counted("<14>1 - h counted - - - octet counted ok"),
        "5 <13>hello world\n".to_string(),
        big_counted,
        "<14>1 - h after - - - still parsed\n".to_string(),
        "<14>1 - h crlf - - - windows line\r\n".to_string(),
    ]
    .concat();
    let mut client = TcpStream::connect(("127.0.0.1", port)).unwrap();
    // In small pieces, so frames straddle reads.
    for piece in stream.as_bytes().chunks(700) {
        client.write_all(piece).unwrap();
        client.flush().unwrap();
        std::thread::sleep(Duration::from_millis(5));
    }
    drop(client);
    let found = wait_for(&server, &keys, 9);
    assert_eq!(found.len(), 9, "{found:#?}");

    let parse_error = |message: &str, reason: &str, status: &str| {
        let event = by_message(&found, message);
        assert!(
            tags(event).contains(&"parse_error:syslog".to_string()),
            "{event:#}"
        );
        assert_eq!(attrs(event)["syslog"]["parse_error"], reason, "{event:#}");
        assert_eq!(event["attributes"]["status"], status, "{event:#}");
    };
    parse_error("this is not syslog", "no_pri", "info");
    parse_error("<999>1 - h a - - - bad pri", "bad_pri", "info");
    // `5 <13>hello world`: the count cuts "<13>h"; the rest is a line.
    parse_error("ello world", "no_pri", "info");
    by_message(&found, "h");

    for (service, fill, len) in [("big", 'x', 1000 - 20), ("bigoc", 'y', 1000 - 22)] {
        let event = found
            .iter()
            .find(|e| e["attributes"]["service"] == service)
            .unwrap_or_else(|| panic!("no {service} event"));
        assert_eq!(attrs(event)["syslog"]["truncated"], true, "{event:#}");
        let message = event["attributes"]["message"].as_str().unwrap();
        assert_eq!(message, fill.to_string().repeat(len), "{service}");
    }
    for (message, service) in [
        ("octet counted ok", "counted"),
        ("still parsed", "after"),
        ("windows line", "crlf"),
    ] {
        let event = by_message(&found, message);
        assert_eq!(fields(event), ("h", service, "info"));
        assert!(attrs(event)["syslog"]["truncated"].is_null(), "{event:#}");
    }
    let metric = |name: &str, label: &str| prometheus_sum(&server, name, label);
    assert_eq!(metric("strata_syslog_parse_errors_total", "no_pri"), 2.0);
    assert_eq!(metric("strata_syslog_parse_errors_total", "bad_pri"), 1.0);
    assert_eq!(metric("strata_syslog_truncated_total", "tcp"), 2.0);
    assert_eq!(metric("strata_syslog_messages_total", "tcp"), 9.0);
}

/// Reads until the server closes the connection; returns how long it took.
fn time_until_closed(stream: &mut TcpStream, limit: Duration) -> Duration {
    let started = Instant::now();
    stream.set_read_timeout(Some(limit)).unwrap();
    let mut buf = [0u8; 16];
    match stream.read(&mut buf) {
        Ok(0) => {}
        Ok(n) => panic!("the server sent {n} bytes"),
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
        Err(e) => panic!("not closed within {limit:?}: {e}"),
    }
    started.elapsed()
}

/// Over `syslog.max_connections` a connection is closed at once; idle
/// connections are closed after `syslog.idle_timeout_secs`, then new ones
/// are served.
#[test]
fn max_connections_and_idle_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let settings = [
        "--set",
        "syslog.max_connections=2",
        "--set",
        "syslog.idle_timeout_secs=1",
    ];
    let (server, port) = start_tcp(dir.path(), &settings);
    let keys = server.keys();
    let mut a = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let mut b = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let accepted = "result=\"accepted\"";
    let deadline = Instant::now() + Duration::from_secs(10);
    while prometheus_sum(&server, "strata_syslog_connections_total", accepted) < 2.0 {
        assert!(Instant::now() < deadline, "connections not accepted");
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut refused = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let took = time_until_closed(&mut refused, Duration::from_secs(5));
    assert!(took < Duration::from_millis(900), "refused after {took:?}");
    let refused_count = prometheus_sum(&server, "strata_syslog_connections_total", "refused");
    assert_eq!(refused_count, 1.0);

    for idle in [&mut a, &mut b] {
        let took = time_until_closed(idle, Duration::from_secs(10));
        assert!(took < Duration::from_secs(5), "idle for {took:?}");
    }
    let idle_closed = prometheus_sum(&server, "strata_syslog_connections_closed_total", "idle");
    assert_eq!(idle_closed, 2.0);
    let mut c = TcpStream::connect(("127.0.0.1", port)).unwrap();
    c.write_all(b"<13>1 - h later - - - served after the idle ones\n")
        .unwrap();
    drop(c);
    let found = wait_for(&server, &keys, 1);
    assert_eq!(
        fields(by_message(&found, "served after the idle ones")).1,
        "later"
    );
}

/// A listener writes into the tenant of its API key.
#[test]
fn listener_tenant_is_its_api_key() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]);
    let default = server.keys();
    let (status, stderr) = server.terminate();
    assert!(status.success(), "{stderr}");
    let d = dir.path().to_str().unwrap();
    let created = admin(&["tenant", "create", "--data-dir", d, "acme"]);
    assert!(created.status.success(), "{created:?}");
    let key = |kind: &str| {
        let out = admin(&[
            "key",
            "create",
            "--data-dir",
            d,
            "--tenant",
            "acme",
            "--kind",
            kind,
        ]);
        assert!(out.status.success(), "{out:?}");
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    };
    let acme = Keys {
        api_key: key("api"),
        app_key: key("app"),
    };
    let (tcp, udp) = (free_port(), free_udp_port());
    let default_listener =
        format!("syslog.listeners=[{{ listen = \"127.0.0.1:{tcp}\", protocol = \"tcp\" }}]");
    let acme_listen = format!("udp://127.0.0.1:{udp}");
    let server = Server::start(
        dir.path(),
        &[
            "--set",
            &default_listener,
            "--syslog-listen",
            &acme_listen,
            "--syslog-api-key",
            &acme.api_key,
        ],
    );
    let mut client = TcpStream::connect(("127.0.0.1", tcp)).unwrap();
    client
        .write_all(b"<13>1 - h d - - - for default\n")
        .unwrap();
    drop(client);
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket
        .send_to(b"<13>1 - h a - - - for acme", ("127.0.0.1", udp))
        .unwrap();
    let mine = wait_for(&server, &default, 1);
    let theirs = wait_for(&server, &acme, 1);
    let messages = |events: &[Value]| -> Vec<String> {
        events
            .iter()
            .map(|e| e["attributes"]["message"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(messages(&mine), ["for default"]);
    assert_eq!(messages(&theirs), ["for acme"]);
}

/// `kill -9` while clients send: every message the server counted as stored
/// before the kill is found after the restart, none twice.
#[test]
fn kill_9_keeps_every_counted_message() {
    let dir = tempfile::tempdir().unwrap();
    let (server, port) = start_tcp(dir.path(), &["--set", "syslog.batch_max_lines=50"]);
    let keys = server.keys();
    let stop = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(AtomicUsize::new(0));
    let senders: Vec<_> = (0..3)
        .map(|sender| {
            let (stop, sent) = (Arc::clone(&stop), Arc::clone(&sent));
            std::thread::spawn(move || {
                let Ok(mut client) = TcpStream::connect(("127.0.0.1", port)) else {
                    return;
                };
                for i in 0.. {
                    if stop.load(Ordering::Relaxed) {
                        return;
                    }
                    let message = format!("<14>1 - h crash - - - s{sender}-{i}");
                    let frame = match i % 2 {
                        0 => format!("{} {message}", message.len()),
                        _ => format!("{message}\n"),
                    };
                    if client.write_all(frame.as_bytes()).is_err() {
                        return;
                    }
                    sent.fetch_add(1, Ordering::Relaxed);
                    if i % 20 == 0 {
                        std::thread::sleep(Duration::from_millis(2));
                    }
                }
            })
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(30);
    let stored = loop {
        let n = prometheus_sum(&server, "strata_syslog_messages_total", "tcp");
        if n >= 2000.0 {
            break n as usize;
        }
        assert!(Instant::now() < deadline, "only {n} stored");
        std::thread::sleep(Duration::from_millis(20));
    };
    server.kill9();
    stop.store(true, Ordering::Relaxed);
    for sender in senders {
        sender.join().unwrap();
    }
    let server = Server::start(dir.path(), &[]);
    let found = events(&server, &keys);
    let unique: HashSet<&str> = found
        .iter()
        .map(|e| e["attributes"]["message"].as_str().unwrap())
        .collect();
    assert_eq!(unique.len(), found.len(), "duplicates after recovery");
    assert!(
        found.len() >= stored,
        "{stored} counted as stored, {} found",
        found.len()
    );
    assert!(found.len() <= sent.load(Ordering::Relaxed));
}

/// SIGTERM commits the batches still pending (here held back by a long
/// `batch_max_wait_ms`) before the server exits.
#[test]
fn sigterm_commits_pending_batches() {
    let dir = tempfile::tempdir().unwrap();
    let udp = free_udp_port();
    let udp_listen = format!("udp://127.0.0.1:{udp}");
    let settings = [
        "--set",
        "syslog.batch_max_wait_ms=10000",
        "--syslog-listen",
        udp_listen.as_str(),
    ];
    let (server, port) = start_tcp(dir.path(), &settings);
    let keys = server.keys();
    let mut client = TcpStream::connect(("127.0.0.1", port)).unwrap();
    for i in 0..10 {
        let line = format!("<14>1 - h pending - - - tcp {i}\n");
        client.write_all(line.as_bytes()).unwrap();
    }
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket
        .send_to(b"<14>1 - h pending - - - udp", ("127.0.0.1", udp))
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        prometheus_sum(&server, "strata_syslog_messages_total", ""),
        0.0,
        "nothing is committed before the batch is due"
    );
    let (status, stderr) = server.terminate();
    assert!(status.success(), "{stderr}");
    drop(client);
    let server = Server::start(dir.path(), &[]);
    let found = events(&server, &keys);
    assert_eq!(found.len(), 11, "{found:#?}");
    by_message(&found, "udp");
    by_message(&found, "tcp 9");
}

/// Over the tenant's quota a TCP connection is not read until the quota
/// allows its batch (nothing is lost); UDP batches are dropped and counted.
#[test]
fn quota_backpressures_tcp_and_drops_udp() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]);
    let keys = server.keys();
    let (status, stderr) = server.terminate();
    assert!(status.success(), "{stderr}");
    let d = dir.path().to_str().unwrap();
    let set = admin(&[
        "quota",
        "set",
        "--data-dir",
        d,
        "--tenant",
        "default",
        "--events-per-sec",
        "100",
    ]);
    assert!(set.status.success(), "{set:?}");
    let udp = free_udp_port();
    let udp_listen = format!("udp://127.0.0.1:{udp}");
    let settings = [
        "--set",
        "syslog.batch_max_lines=50",
        "--syslog-listen",
        udp_listen.as_str(),
    ];
    let (server, port) = start_tcp(dir.path(), &settings);
    let mut client = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let lines: String = (0..400)
        .map(|i| format!("<14>1 - h quota - - - tcp {i}\n"))
        .collect();
    client.write_all(lines.as_bytes()).unwrap();
    drop(client);
    let found = wait_for(&server, &keys, 400);
    assert_eq!(found.len(), 400);
    let paused = prometheus_sum(&server, "strata_syslog_backpressure_total", "quota");
    assert!(paused >= 1.0, "the connection was never paused");
    assert_eq!(
        prometheus_sum(&server, "strata_syslog_dropped_total", ""),
        0.0
    );

    // The bucket is in debt now: datagrams beyond it are dropped, counted.
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    for i in 0..300 {
        let datagram = format!("<14>1 - h quota - - - udp {i}");
        socket
            .send_to(datagram.as_bytes(), ("127.0.0.1", udp))
            .unwrap();
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let stored = prometheus_sum(&server, "strata_syslog_messages_total", "udp");
        let dropped = prometheus_sum(&server, "strata_syslog_dropped_total", "quota");
        if stored + dropped >= 300.0 {
            assert!(dropped > 0.0, "no UDP message was over the quota");
            assert_eq!(events(&server, &keys).len(), 400 + stored as usize);
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{stored} stored, {dropped} dropped"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}
