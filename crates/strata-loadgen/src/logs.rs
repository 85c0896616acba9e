//! The logs run over HTTP ([`run_logs`]): Datadog JSON, OTLP (protobuf or
//! JSON) or Elasticsearch bulk bodies, built before the clock starts and
//! sent by [`drive`], and the reading of the answers that report rejected
//! items (bulk `"errors":true`, OTLP `partialSuccess`). Also the building of
//! log bodies that the syslog run ([`crate::syslog`]) shares.

use std::collections::BTreeMap;
use std::time::Duration;

use prost::Message as _;
use serde::Deserialize;
use strata_ingest::otlp::logs::ExportLogsServiceResponse;

use crate::payload::PayloadSet;
use crate::render::LogsFormat;
use crate::run::{
    drive, invalid, parse_target, unix_now_ms, AnswerCheck, Auth, HttpJob, SendOptions, Source,
    BULK_PATH, LOGS_PATH, OTLP_LOGS_PATH,
};
use crate::{
    BodyEncoding, LoadgenArgs, LoadgenError, LogsProtocol, Summary, DEFAULT_DURATION_SECS,
};

/// Where and how a logs protocol is sent over HTTP.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Intake {
    pub(crate) path: &'static str,
    pub(crate) content_type: &'static str,
    pub(crate) auth: Auth,
    pub(crate) check: Option<AnswerCheck>,
}

/// The HTTP intake of `protocol`; `None` for syslog.
pub(crate) fn intake(protocol: LogsProtocol) -> Option<Intake> {
    let (path, content_type, auth, check): (_, _, _, Option<AnswerCheck>) = match protocol {
        LogsProtocol::Datadog => (LOGS_PATH, "application/json", Auth::DdApiKey, None),
        LogsProtocol::Otlp => (
            OTLP_LOGS_PATH,
            "application/x-protobuf",
            Auth::DdApiKey,
            Some(otlp_protobuf_answer),
        ),
        LogsProtocol::OtlpJson => (
            OTLP_LOGS_PATH,
            "application/json",
            Auth::DdApiKey,
            Some(otlp_json_answer),
        ),
        LogsProtocol::Bulk => (
            BULK_PATH,
            "application/x-ndjson",
            Auth::EsApiKey,
            Some(bulk_answer),
        ),
        LogsProtocol::Syslog => return None,
    };
    Some(Intake {
        path,
        content_type,
        auth,
        check,
    })
}

/// The body format of a logs run: `--protocol`, `--encoding` (or
/// `--no-gzip`), the levels and the syslog framing.
pub(crate) fn logs_format(args: &LoadgenArgs) -> LogsFormat {
    LogsFormat {
        protocol: args.logs_protocol(),
        encoding: args.effective_encoding(),
        gzip_level: args.gzip_level,
        zstd_level: args.zstd_level,
        framing: args.syslog_framing,
    }
}

/// Checks `--batch-size`, `--payloads` and `--events`, then builds every
/// body of a logs run (off the async threads) and describes them on
/// stderr, ending with `destination`.
pub(crate) async fn pregenerate(
    args: &LoadgenArgs,
    format: LogsFormat,
    destination: &str,
) -> Result<PayloadSet, LoadgenError> {
    let batch_size = args.effective_batch_size();
    if batch_size == 0 {
        return Err(invalid("batch-size", "must be at least 1"));
    }
    if args.payloads == 0 {
        return Err(invalid("payloads", "must be at least 1"));
    }
    if args.events == Some(0) {
        return Err(invalid("events", "must be at least 1"));
    }
    let now_ms = unix_now_ms();
    let remainder = args.events.map_or(0, |n| (n % batch_size as u64) as usize);
    let (seed, count) = (args.seed, args.payloads);
    let payloads = tokio::task::spawn_blocking(move || {
        PayloadSet::build_logs(&format, seed, count, batch_size, now_ms, remainder)
    })
    .await
    .map_err(|e| LoadgenError::Task(e.to_string()))??;
    let encoding = format.wire_encoding();
    eprintln!(
        "loadgen: {} batches x {batch_size} events pre-generated as {}: {:.1} MB ({:.0} B/event), {}; {} connections -> {destination}",
        payloads.payloads().len(),
        format.protocol.as_str(),
        payloads.raw_bytes() as f64 / 1e6,
        payloads.avg_event_bytes(),
        match encoding {
            BodyEncoding::Identity => "sent uncompressed".to_owned(),
            _ => format!(
                "{:.2} MB {} (x{:.1})",
                payloads.wire_bytes() as f64 / 1e6,
                encoding.as_str(),
                payloads.compression_ratio()
            ),
        },
        args.connections,
    );
    Ok(payloads)
}

/// Runs the logs load test described by `args` over HTTP (`--protocol`
/// datadog, otlp, otlp-json or bulk) and returns its summary.
///
/// Pre-generates and compresses `--payloads` batches (seeded by `--seed`,
/// timestamped at the current time, the same events whatever the
/// protocol), checks that the target accepts TCP connections, then starts
/// the clock and sends from `--connections` keep-alive connections until
/// `--duration` elapses or `--events` have been sent, waiting for in-flight
/// requests. A progress line goes to stderr once per second. Ctrl-C stops
/// sending early and still returns the summary.
///
/// Failed requests do not make this fail; they are counted in the summary.
/// Errors are bad arguments (including `--protocol syslog`, which
/// [`crate::syslog::run_syslog`] runs), an unreachable target at start, or
/// a panicked task. Must be called within a Tokio runtime.
pub async fn run_logs(args: &LoadgenArgs) -> Result<Summary, LoadgenError> {
    args.check_protocol()?;
    let format = logs_format(args);
    let Some(intake) = intake(format.protocol) else {
        return Err(invalid(
            "protocol",
            "syslog is not sent over HTTP (use strata_loadgen::run)",
        ));
    };
    let target = parse_target(&args.target)?;
    let default_duration = match args.events {
        Some(_) => None,
        None => Some(Duration::from_secs_f64(DEFAULT_DURATION_SECS)),
    };
    let opts = SendOptions::from_args(args, default_duration)?;
    let destination = format!(
        "{}{}{}",
        args.target.trim_end_matches('/'),
        intake.path,
        if opts.api_key.is_none() {
            " (no API key)"
        } else {
            ""
        },
    );
    let payloads = pregenerate(args, format, &destination).await?;
    let avg_event_bytes = payloads.avg_event_bytes();
    let compression_ratio = payloads.compression_ratio();

    let encoding = format.wire_encoding();
    let job = HttpJob {
        target,
        path: intake.path,
        content_type: intake.content_type,
        content_encoding: encoding.header(),
        source: Source::Cycle {
            set: payloads,
            limit: args.events,
        },
        unit: "events",
        auth: intake.auth,
        check: intake.check,
    };
    let out = drive(job, opts).await?;
    let elapsed = out.elapsed_secs;
    Ok(Summary {
        protocol: format.protocol.as_str().to_owned(),
        encoding: encoding.as_str().to_owned(),
        events_sent: out.items_sent,
        events_acked: out.items_acked,
        events_rejected: out.items_rejected,
        rejected_by_status: out.rejected_by_status,
        requests_ok: out.requests_ok,
        requests_failed: out.requests_failed,
        errors_by_status: out.errors_by_status,
        elapsed_secs: elapsed,
        events_per_sec: out.items_acked as f64 / elapsed,
        mb_per_sec: out.raw_bytes_acked as f64 / elapsed / 1e6,
        wire_mb_per_sec: out.wire_bytes_acked as f64 / elapsed / 1e6,
        latency_ms_p50: out.latency_ms_p50,
        latency_ms_p99: out.latency_ms_p99,
        latency_ms_max: out.latency_ms_max,
        avg_event_bytes,
        compression_ratio,
    })
}

/// The part of a bulk answer read first: `{"errors":false,...}` needs no
/// more.
#[derive(Deserialize)]
struct BulkHead {
    errors: bool,
}

#[derive(Deserialize)]
struct BulkAnswer {
    #[serde(default)]
    items: Vec<BTreeMap<String, BulkItem>>,
}

#[derive(Deserialize)]
struct BulkItem {
    #[serde(default)]
    status: Option<u16>,
}

/// Reads a bulk answer: nothing rejected on `"errors":false`, else the
/// items whose `status` (under their action, `create`) is not 2xx, by
/// status.
pub(crate) fn bulk_answer(body: &[u8]) -> Result<Vec<(String, u64)>, String> {
    // A clean answer (`{"took":N,"errors":false,…`) is recognised from its
    // first bytes: the load generator shares the server's cores, so it does
    // not parse a 200 KB answer it does not need.
    let head = &body[..body.len().min(64)];
    if head.starts_with(b"{\"took\":") && head.windows(15).any(|w| w == b"\"errors\":false") {
        return Ok(Vec::new());
    }
    let head: BulkHead = serde_json::from_slice(body)
        .map_err(|e| format!("not a bulk answer ({e}): {}", String::from_utf8_lossy(body)))?;
    if !head.errors {
        return Ok(Vec::new());
    }
    let answer: BulkAnswer =
        serde_json::from_slice(body).map_err(|e| format!("unreadable bulk items: {e}"))?;
    let mut by_status = BTreeMap::<String, u64>::new();
    for item in answer.items.iter().flat_map(|i| i.values()) {
        match item.status {
            Some(s) if (200..300).contains(&s) => {}
            Some(s) => *by_status.entry(s.to_string()).or_insert(0) += 1,
            None => *by_status.entry("unknown".to_owned()).or_insert(0) += 1,
        }
    }
    if by_status.is_empty() {
        return Err(format!(
            "\"errors\":true without a failed item: {}",
            String::from_utf8_lossy(body)
        ));
    }
    Ok(by_status.into_iter().collect())
}

/// The key of records an OTLP `partialSuccess` rejects.
pub(crate) const OTLP_REJECTED: &str = "otlp";

fn otlp_rejected(n: i64) -> Vec<(String, u64)> {
    match u64::try_from(n) {
        Ok(n) if n > 0 => vec![(OTLP_REJECTED.to_owned(), n)],
        _ => Vec::new(),
    }
}

/// Reads an OTLP/JSON `ExportLogsServiceResponse`: the records its
/// `partialSuccess.rejectedLogRecords` (a string or a number) rejects. An
/// empty body is a full success.
pub(crate) fn otlp_json_answer(body: &[u8]) -> Result<Vec<(String, u64)>, String> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Vec::new());
    }
    let answer: serde_json::Value = serde_json::from_slice(body).map_err(|e| {
        format!(
            "not an OTLP/JSON answer ({e}): {}",
            String::from_utf8_lossy(body)
        )
    })?;
    let partial = &answer["partialSuccess"];
    let rejected = &partial["rejectedLogRecords"];
    let n = rejected
        .as_i64()
        .or_else(|| rejected.as_str().and_then(|s| s.parse().ok()))
        .unwrap_or(0);
    Ok(otlp_rejected(n))
}

/// Reads a protobuf `ExportLogsServiceResponse`: the records its
/// `partial_success.rejected_log_records` rejects. An empty body is a full
/// success.
pub(crate) fn otlp_protobuf_answer(body: &[u8]) -> Result<Vec<(String, u64)>, String> {
    let answer = ExportLogsServiceResponse::decode(body)
        .map_err(|e| format!("not an ExportLogsServiceResponse: {e}"))?;
    let n = answer.partial_success.map_or(0, |p| p.rejected_log_records);
    Ok(otlp_rejected(n))
}

#[cfg(test)]
mod tests;
