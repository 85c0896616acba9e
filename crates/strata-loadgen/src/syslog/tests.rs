use super::*;
use std::convert::Infallible;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::io::AsyncReadExt;
use tokio::net::TcpListener;

use crate::{BodyEncoding, Protocol, SyslogFraming};

/// A syslog listener and its `/metrics`.
#[derive(Debug, Default)]
struct Server {
    /// Messages parsed.
    messages: AtomicU64,
    /// Subtracted from the stored count `/metrics` reports.
    lose: u64,
    bad: Mutex<Vec<String>>,
}

/// Splits a connection's bytes into messages as `framing` says.
fn messages(bytes: &[u8], framing: SyslogFraming) -> Result<Vec<&[u8]>, String> {
    let mut out = Vec::new();
    match framing {
        SyslogFraming::Newline => {
            if !bytes.is_empty() && !bytes.ends_with(b"\n") {
                return Err("unterminated line".into());
            }
            out.extend(bytes.split(|b| *b == b'\n').filter(|l| !l.is_empty()));
        }
        SyslogFraming::Octet => {
            let mut rest = bytes;
            while !rest.is_empty() {
                let space = rest.iter().position(|b| *b == b' ').ok_or("no length")?;
                let len: usize = std::str::from_utf8(&rest[..space])
                    .ok()
                    .and_then(|s| s.parse().ok())
                    .ok_or("bad length")?;
                let end = space + 1 + len;
                if end > rest.len() {
                    return Err(format!("frame of {len} overruns the stream"));
                }
                out.push(&rest[space + 1..end]);
                rest = &rest[end..];
            }
        }
    }
    Ok(out)
}

/// Starts the syslog listener and the HTTP `/metrics`; returns the syslog
/// address and the HTTP base URL.
async fn serve(server: Arc<Server>, framing: SyslogFraming) -> (String, String) {
    let syslog = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let syslog_addr = syslog.local_addr().unwrap().to_string();
    let s = Arc::clone(&server);
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = syslog.accept().await {
            let s = Arc::clone(&s);
            tokio::spawn(async move {
                let mut bytes = Vec::new();
                let _ = stream.read_to_end(&mut bytes).await;
                match messages(&bytes, framing) {
                    Ok(all) => {
                        for m in &all {
                            if !m.starts_with(b"<") || !m.windows(3).any(|w| w == b">1 ") {
                                s.bad
                                    .lock()
                                    .unwrap()
                                    .push(String::from_utf8_lossy(m).into());
                            }
                        }
                        s.messages.fetch_add(all.len() as u64, Ordering::SeqCst);
                    }
                    Err(e) => s.bad.lock().unwrap().push(e),
                }
            });
        }
    });
    let http = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let http_url = format!("http://{}", http.local_addr().unwrap());
    tokio::spawn(async move {
        while let Ok((stream, _)) = http.accept().await {
            let server = Arc::clone(&server);
            tokio::spawn(async move {
                let svc = service_fn(move |_req: Request<Incoming>| {
                    let stored = server
                        .messages
                        .load(Ordering::SeqCst)
                        .saturating_sub(server.lose);
                    let mut text = String::from(
                        "# TYPE strata_ingest_events_total counter\n\
                         strata_ingest_events_total{source=\"datadog_logs\"} 999\n",
                    );
                    if stored > 0 {
                        text.push_str(&format!(
                            "strata_ingest_events_total{{source=\"syslog\"}} {stored}\n"
                        ));
                    }
                    async move { Ok::<_, Infallible>(Response::new(Full::new(Bytes::from(text)))) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    (syslog_addr, http_url)
}

fn args(syslog_target: String, target: String, framing: SyslogFraming) -> LoadgenArgs {
    LoadgenArgs {
        target,
        protocol: Some(Protocol::Logs(LogsProtocol::Syslog)),
        syslog_target,
        syslog_framing: framing,
        connections: 3,
        payloads: 4,
        batch_size: Some(500),
        ..LoadgenArgs::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn octet_counted_events_are_sent_and_stored() {
    let server = Arc::new(Server::default());
    let (syslog, http) = serve(Arc::clone(&server), SyslogFraming::Octet).await;
    let s = run_syslog(&LoadgenArgs {
        events: Some(5_250),
        ..args(syslog, http, SyslogFraming::Octet)
    })
    .await
    .unwrap();
    let bad = server.bad.lock().unwrap().clone();
    assert!(bad.is_empty(), "{bad:?}");
    assert_eq!(server.messages.load(Ordering::SeqCst), 5_250);
    assert_eq!((s.events_sent, s.events_failed), (5_250, 0), "{s:?}");
    assert_eq!(s.events_acked, Some(5_250), "{s:?}");
    assert_eq!(s.events_lost, Some(0), "{s:?}");
    assert!(s.errors_by_kind.is_empty(), "{s:?}");
    let stored_secs = s.stored_elapsed_secs.unwrap();
    assert!(stored_secs >= s.elapsed_secs && stored_secs < 10.0, "{s:?}");
    assert!(
        s.events_per_sec.unwrap() > 0.0 && s.sent_per_sec > 0.0,
        "{s:?}"
    );
    assert!(s.avg_event_bytes > 150.0, "{s:?}");
    assert_eq!(
        (s.protocol.as_str(), s.framing.as_str()),
        ("syslog", "octet")
    );
    assert!(s.human().contains("5250 events (0 lost"), "{}", s.human());
    let back: SyslogSummary = serde_json::from_str(&s.to_json_line()).unwrap();
    assert_eq!(back.events_acked, s.events_acked);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn newline_framed_run_reports_the_loss() {
    let server = Arc::new(Server {
        lose: 120,
        ..Server::default()
    });
    let (syslog, http) = serve(Arc::clone(&server), SyslogFraming::Newline).await;
    // 20k events/s in writes of 500 for 0.5 s: about 10k events.
    let s = run_syslog(&LoadgenArgs {
        duration: Some(0.5),
        rate: Some(20_000.0),
        ..args(syslog, http, SyslogFraming::Newline)
    })
    .await
    .unwrap();
    let bad = server.bad.lock().unwrap().clone();
    assert!(bad.is_empty(), "{bad:?}");
    assert!((5_000..=12_000).contains(&s.events_sent), "{s:?}");
    assert_eq!(s.events_sent % 500, 0, "{s:?}");
    assert_eq!(server.messages.load(Ordering::SeqCst), s.events_sent);
    assert_eq!(s.events_acked, Some(s.events_sent - 120), "{s:?}");
    assert_eq!(s.events_lost, Some(120), "{s:?}");
    assert_eq!(s.framing, "newline");
}

#[tokio::test]
async fn unreadable_metrics_leave_the_stored_count_out() {
    let server = Arc::new(Server::default());
    let (syslog, _) = serve(Arc::clone(&server), SyslogFraming::Octet).await;
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead = format!("http://{}", free.local_addr().unwrap());
    drop(free);
    let s = run_syslog(&LoadgenArgs {
        events: Some(1_000),
        ..args(syslog, dead, SyslogFraming::Octet)
    })
    .await
    .unwrap();
    assert_eq!(s.events_sent, 1_000);
    assert_eq!(
        (s.events_acked, s.events_lost, s.events_per_sec),
        (None, None, None)
    );
    assert!(s.human().contains("not measured"), "{}", s.human());
}

#[tokio::test]
async fn run_syslog_rejects_bad_arguments() {
    let base = args(
        "127.0.0.1:9".into(),
        "http://127.0.0.1:9".into(),
        SyslogFraming::Octet,
    );
    for bad in [
        LoadgenArgs {
            encoding: Some(BodyEncoding::Gzip),
            ..base.clone()
        },
        LoadgenArgs {
            syslog_target: "nowhere".into(),
            ..base.clone()
        },
        LoadgenArgs {
            connections: 0,
            ..base.clone()
        },
        LoadgenArgs {
            rate: Some(0.0),
            ..base.clone()
        },
        LoadgenArgs {
            protocol: Some(Protocol::Logs(LogsProtocol::Bulk)),
            ..base.clone()
        },
    ] {
        let err = run_syslog(&bad).await.unwrap_err();
        assert!(matches!(err, LoadgenError::InvalidArgs { .. }), "{err}");
    }
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let closed = free.local_addr().unwrap().to_string();
    drop(free);
    let err = run_syslog(&LoadgenArgs {
        syslog_target: closed,
        payloads: 1,
        batch_size: Some(10),
        ..base
    })
    .await
    .unwrap_err();
    assert!(matches!(err, LoadgenError::Connect { .. }), "{err}");
}
