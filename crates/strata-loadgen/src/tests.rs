use super::*;
use clap::{CommandFactory, Parser};
use rand::rngs::StdRng;
use rand::SeedableRng;
use std::collections::{HashMap, HashSet};

const NOW: i64 = 1_700_000_000_000;

#[derive(Parser, Debug)]
struct Cli {
    #[command(flatten)]
    args: LoadgenArgs,
}

#[test]
fn default_args_match_clap_defaults() {
    let mut parsed = Cli::try_parse_from(["loadgen"]).unwrap().args;
    parsed.api_key = None; // DD_API_KEY may be set in the environment
    assert_eq!(parsed, LoadgenArgs::default());

    let a = Cli::try_parse_from([
        "loadgen",
        "--target",
        "http://10.0.0.1:8080",
        "--api-key",
        "k",
        "--connections",
        "8",
        "--duration",
        "2.5",
        "--events",
        "5000",
        "--rate",
        "1e5",
        "--batch-size",
        "500",
        "--seed",
        "7",
        "--payloads",
        "3",
        "--json",
        "--no-gzip",
        "--gzip-level",
        "1",
    ])
    .unwrap()
    .args;
    assert_eq!(a.duration, Some(2.5));
    assert_eq!(a.rate, Some(100_000.0));
    assert_eq!(a.events, Some(5000));
    assert_eq!(a.api_key.as_deref(), Some("k"));
    assert!(a.json && a.no_gzip);
    assert!(Cli::try_parse_from(["loadgen", "--gzip-level", "10"]).is_err());
}

#[test]
fn metrics_flags_parse_and_need_metrics() {
    let parse = |args: &[&str]| {
        let mut all = vec!["loadgen"];
        all.extend_from_slice(args);
        Cli::try_parse_from(all).map(|cli| cli.args)
    };
    let a = parse(&["--metrics"]).unwrap();
    assert_eq!(a.protocol, None);
    assert_eq!(a.metrics_protocol(), MetricsProtocol::V2Protobuf);
    assert_eq!(a.effective_batch_size(), DEFAULT_METRIC_BATCH);
    assert_eq!(a.effective_encoding(), BodyEncoding::Zstd);
    assert_eq!((a.series, a.interval), (10_000, 10));
    let a = parse(&["--metrics", "--protocol", "v2-json"]).unwrap();
    assert_eq!(a.effective_encoding(), BodyEncoding::Deflate);
    let a = parse(&["--metrics", "--protocol", "v2-json", "--encoding", "gzip"]).unwrap();
    assert_eq!(a.effective_encoding(), BodyEncoding::Gzip);
    let a = parse(&["--metrics", "--no-gzip"]).unwrap();
    assert_eq!(a.effective_encoding(), BodyEncoding::Identity);
    let a = parse(&[
        "--metrics",
        "--protocol",
        "statsd",
        "--statsd-target",
        "127.0.0.1:8127",
        "--rate",
        "5e4",
        "--series",
        "100",
        "--packet-size",
        "8192",
    ])
    .unwrap();
    assert_eq!(a.metrics_protocol(), MetricsProtocol::Statsd);
    a.check_protocol().unwrap();
    assert_eq!(a.statsd_target, "127.0.0.1:8127");
    assert_eq!((a.series, a.packet_size, a.rate), (100, 8192, Some(5e4)));
    let a = parse(&[
        "--metrics",
        "--backfill-hours",
        "24",
        "--batch-size",
        "5000",
    ])
    .unwrap();
    assert_eq!(a.backfill_hours, Some(24.0));
    assert_eq!(a.effective_batch_size(), 5000);
    // Logs keep their own default batch.
    assert_eq!(
        parse(&[]).unwrap().effective_batch_size(),
        DEFAULT_LOG_BATCH
    );

    // Metrics-only flags need --metrics; --events is logs-only; a metrics
    // protocol parses without --metrics but the run refuses it.
    let a = parse(&["--protocol", "statsd"]).unwrap();
    assert!(
        matches!(
            a.check_protocol(),
            Err(LoadgenError::InvalidArgs {
                flag: "protocol",
                ..
            })
        ),
        "{a:?}"
    );
    assert!(parse(&["--series", "5"]).is_err());
    assert!(parse(&["--backfill-hours", "1"]).is_err());
    assert!(parse(&["--metrics", "--events", "5"]).is_err());
    assert!(parse(&["--metrics", "--encoding", "gzip", "--no-gzip"]).is_err());
    assert!(parse(&["--metrics", "--protocol", "v3"]).is_err());
}

#[test]
fn generate_batch_is_deterministic_by_seed() {
    let batch = |seed| generate_batch(&mut StdRng::seed_from_u64(seed), 500, NOW);
    let json = |seed| generate_batch_json(&mut StdRng::seed_from_u64(seed), 500, NOW);
    assert_eq!(batch(42), batch(42));
    assert_eq!(json(42), json(42));
    assert_ne!(json(42), json(43));
    assert_ne!(batch(42), batch(43));
    // The JSON body and the values describe the same events.
    let parsed: Vec<serde_json::Value> = serde_json::from_str(&json(42)).unwrap();
    assert_eq!(parsed, batch(42));
}

#[test]
fn generated_events_look_realistic() {
    let mut rng = StdRng::seed_from_u64(42);
    let n = 20_000;
    let body = generate_batch_json(&mut rng, n, NOW);
    let events: Vec<serde_json::Value> = serde_json::from_str(&body).unwrap();
    assert_eq!(events.len(), n);

    let avg = body.len() as f64 / n as f64;
    assert!((200.0..=450.0).contains(&avg), "average event size {avg}");

    let mut services = HashMap::<String, usize>::new();
    let mut hosts = HashSet::new();
    let mut statuses = HashMap::<String, usize>::new();
    let mut codes = HashMap::<u64, usize>::new();
    let mut messages = HashSet::new();
    let (mut with_http, mut with_trace, mut with_duration, mut with_error) = (0, 0, 0, 0);
    for e in &events {
        for key in [
            "message", "status", "service", "hostname", "ddsource", "ddtags",
        ] {
            assert!(e[key].as_str().is_some_and(|s| !s.is_empty()), "{key}: {e}");
        }
        let ts = e["timestamp"].as_i64().unwrap();
        assert!((NOW - 2_000..=NOW).contains(&ts), "{ts}");
        let tags = e["ddtags"].as_str().unwrap();
        assert!(tags.starts_with("env:"), "{tags}");
        assert!(
            tags.contains(",version:") && tags.contains(",region:"),
            "{tags}"
        );
        *services
            .entry(e["service"].as_str().unwrap().into())
            .or_default() += 1;
        hosts.insert(e["hostname"].as_str().unwrap().to_owned());
        *statuses
            .entry(e["status"].as_str().unwrap().into())
            .or_default() += 1;
        messages.insert(e["message"].as_str().unwrap().to_owned());
        if let Some(code) = e["http"]["status_code"].as_u64() {
            with_http += 1;
            *codes.entry(code).or_default() += 1;
            assert!(e["http"]["method"].is_string());
            assert!(e["http"]["url_details"]["path"]
                .as_str()
                .unwrap()
                .starts_with('/'));
        }
        if let Some(id) = e["dd"]["trace_id"].as_str() {
            with_trace += 1;
            id.parse::<u64>().unwrap();
            e["dd"]["span_id"].as_str().unwrap().parse::<u64>().unwrap();
        }
        if e["duration"].as_u64().is_some() {
            with_duration += 1;
        }
        if e["error"]["stack"].is_string() {
            with_error += 1;
            assert!(e["error"]["kind"].is_string());
        }
        if let Some(ip) = e["network"]["client"]["ip"].as_str() {
            assert_eq!(ip.split('.').count(), 4, "{ip}");
        }
    }

    // ~30 services, all of them used, skewed (the top one is far more
    // common than the bottom one).
    assert!(services.len() >= 28, "{} services", services.len());
    let max = *services.values().max().unwrap();
    let min = *services.values().min().unwrap();
    assert!(max > 10 * min, "service skew: max {max}, min {min}");
    assert!(hosts.len() >= 250, "{} hosts", hosts.len());

    let share = |s: &str| *statuses.get(s).unwrap_or(&0) as f64 / n as f64;
    assert!((0.75..0.85).contains(&share("info")), "{statuses:?}");
    assert!((0.07..0.13).contains(&share("warn")), "{statuses:?}");
    assert!((0.04..0.08).contains(&share("error")), "{statuses:?}");
    assert!((0.015..0.05).contains(&share("debug")), "{statuses:?}");
    assert!((0.001..0.015).contains(&share("critical")), "{statuses:?}");

    // http.status_code: mostly 200, some 3xx/4xx/5xx.
    let ok = *codes.get(&200).unwrap_or(&0) as f64 / with_http as f64;
    assert!(ok > 0.5, "{codes:?}");
    for class in [3, 4, 5] {
        assert!(codes.keys().any(|c| c / 100 == class), "{codes:?}");
    }
    assert!(with_http > n / 10, "{with_http}");
    assert!(with_trace > n / 10, "{with_trace}");
    assert!(with_duration > n / 5, "{with_duration}");
    assert!(with_error > 20, "{with_error}");
    // Variable parts make most lines unique.
    assert!(
        messages.len() > n / 2,
        "{} distinct messages",
        messages.len()
    );
}

#[test]
fn summary_prints_as_one_json_line() {
    let s = Summary {
        protocol: "bulk".into(),
        encoding: "gzip".into(),
        events_sent: 2000,
        events_acked: 900,
        events_rejected: 100,
        rejected_by_status: BTreeMap::from([("429".to_owned(), 100)]),
        requests_ok: 1,
        requests_failed: 1,
        errors_by_status: BTreeMap::from([("503".to_owned(), 1)]),
        elapsed_secs: 1.0,
        events_per_sec: 1000.0,
        mb_per_sec: 0.3,
        wire_mb_per_sec: 0.03,
        latency_ms_p50: 1.5,
        latency_ms_p99: 2.5,
        latency_ms_max: 3.0,
        avg_event_bytes: 300.0,
        compression_ratio: 10.0,
    };
    let line = s.to_json_line();
    assert!(!line.contains('\n'));
    let back: Summary = serde_json::from_str(&line).unwrap();
    assert_eq!(back, s);
    let human = s.human();
    assert!(human.contains("503: 1"), "{human}");
    assert!(human.contains("p99 2.50 ms"), "{human}");
    assert!(human.contains("(logs, bulk, gzip)"), "{human}");
    assert!(
        human.contains("100 events in 2xx answers (429: 100)"),
        "{human}"
    );
    // Lines written before the protocol fields existed still read.
    let mut old: serde_json::Value = serde_json::from_str(&line).unwrap();
    for key in [
        "protocol",
        "encoding",
        "events_rejected",
        "rejected_by_status",
    ] {
        old.as_object_mut().unwrap().remove(key);
    }
    let back: Summary = serde_json::from_value(old).unwrap();
    assert_eq!(back.protocol, "datadog");
    assert_eq!(back.events_rejected, 0);
}

#[test]
fn logs_protocol_flags_parse() {
    let parse = |args: &[&str]| {
        let mut all = vec!["loadgen"];
        all.extend_from_slice(args);
        Cli::try_parse_from(all).map(|cli| cli.args)
    };
    let a = parse(&[]).unwrap();
    assert_eq!(a.logs_protocol(), LogsProtocol::Datadog);
    assert_eq!(a.effective_encoding(), BodyEncoding::Gzip);
    for (name, protocol) in [
        ("datadog", LogsProtocol::Datadog),
        ("otlp", LogsProtocol::Otlp),
        ("otlp-json", LogsProtocol::OtlpJson),
        ("bulk", LogsProtocol::Bulk),
        ("syslog", LogsProtocol::Syslog),
    ] {
        let a = parse(&["--protocol", name]).unwrap();
        assert_eq!(a.protocol, Some(Protocol::Logs(protocol)));
        assert_eq!(a.logs_protocol(), protocol);
        assert_eq!(protocol.as_str(), name);
        a.check_protocol().unwrap();
        // A logs protocol with --metrics is refused when the run starts.
        let m = parse(&["--metrics", "--protocol", name]).unwrap();
        assert!(m.check_protocol().is_err(), "{name}");
    }
    let a = parse(&["--protocol", "otlp", "--no-gzip"]).unwrap();
    assert_eq!(a.effective_encoding(), BodyEncoding::Identity);
    let a = parse(&[
        "--protocol",
        "bulk",
        "--encoding",
        "zstd",
        "--zstd-level",
        "3",
    ])
    .unwrap();
    assert_eq!(
        (a.effective_encoding(), a.zstd_level),
        (BodyEncoding::Zstd, 3)
    );
    let a = parse(&[
        "--protocol",
        "syslog",
        "--syslog-target",
        "10.0.0.2:601",
        "--syslog-framing",
        "newline",
        "--events",
        "100",
    ])
    .unwrap();
    assert_eq!(a.syslog_target, "10.0.0.2:601");
    assert_eq!(a.syslog_framing, SyslogFraming::Newline);
    assert_eq!(parse(&[]).unwrap().syslog_framing, SyslogFraming::Octet);
    assert_eq!(parse(&[]).unwrap().syslog_target, DEFAULT_SYSLOG_TARGET);
    assert!(parse(&["--syslog-framing", "lf"]).is_err());
    assert!(parse(&["--protocol", "otlp-grpc"]).is_err());
    assert!(parse(&["--protocol", "bulk", "--encoding", "br"]).is_err());
}

#[test]
fn help_lists_every_protocol_with_examples() {
    let help = Cli::command().render_long_help().to_string();
    for needle in [
        "datadog",
        "otlp-json",
        "bulk",
        "syslog",
        "v2-protobuf",
        "statsd",
        "--syslog-target",
        "--syslog-framing",
        "strata loadgen --protocol otlp ",
        "strata loadgen --protocol bulk",
        "strata loadgen --protocol syslog",
        "URL/v1/logs",
    ] {
        assert!(help.contains(needle), "{needle} missing from:\n{help}");
    }
}
