//! `strata loadgen --metrics` over HTTP: Agent-like `POST /api/v2/series`
//! traffic, as protobuf `MetricPayload` (what the Agent sends) or as the
//! API clients' JSON.
//!
//! # The point stream
//!
//! A run's points form one stream, step-major: point `k` is series
//! `k % N` at step `k / N` (see [`PointLayout`]), so a payload of 10,000
//! points over 10,000 series is one flush of every series, the way the
//! Agent sends them; with fewer series, a payload carries several points per
//! series. Payload `j` carries points `j·B .. (j+1)·B` (`B` = `--batch-size`).
//!
//! * By default `--payloads` bodies are built before the clock starts and
//!   sent round-robin, like the logs run. Their timestamps are the last
//!   30 minutes at `--interval` (wrapping around when the bodies hold more
//!   steps), so a default server (`metrics.max_past_secs = 3600`) accepts
//!   them for a run of up to half an hour. Cycling re-sends the same points:
//!   this measures ingest, it does not build a data set.
//! * With `--backfill-hours H` every point of the last H hours is sent once,
//!   oldest first, from bodies built while the run goes (86.4M points for
//!   10,000 series over 24 h would not fit in memory as bodies). A body
//!   answered 429 or 5xx (the server's memory back-pressure is a 503), or
//!   lost to a transport error, is sent again later, up to 10 times, so the
//!   data set ends up complete; the summary says how many points were acked
//!   out of how many, and how many were given up.
//!
//! # Bodies
//!
//! Like the Agent's serializer, a body stays within the intake's limits:
//! at most 512,000 bytes compressed and 5,242,880 uncompressed
//! (`serializer_max_series_payload_size`,
//! `serializer_max_series_uncompressed_payload_size`); a larger one is split
//! in two. The Agent compresses with zstd level 1 and sends
//! `Content-Encoding: zstd` (`serializer_compressor_kind: zstd`, the default
//! since Agent 7.5x); the Datadog API's default for JSON is `deflate`.

use std::collections::BTreeMap;
use std::ops::Range;
use std::time::Duration;

use bytes::Bytes;
use prost::Message as _;
use serde::{Deserialize, Serialize};
use strata_ingest::agent_payload::{MetricPayload, MetricPoint, MetricSeries, Resource};
use tokio::sync::mpsc;

use crate::payload::{Payload, PayloadSet};
use crate::run::{
    drive, invalid, parse_target, unix_now_ms, Auth, HttpJob, SendOptions, Source, Stream, Target,
    SERIES_PATH,
};
use crate::scrape::{self, Samples};
use crate::series::{MetricKind, SeriesCatalog};
use crate::{BodyEncoding, LoadgenArgs, LoadgenError, MetricsProtocol, DEFAULT_DURATION_SECS};

/// Largest body on the wire the intake takes (`/api/v2/series`).
pub const MAX_WIRE_BYTES: usize = 512_000;
/// Largest decompressed body the intake takes (`/api/v2/series`).
pub const MAX_RAW_BYTES: usize = 5_242_880;
/// How far back the default (cycling) run's timestamps go: half of the
/// default `metrics.max_past_secs`, so a run may last 30 minutes.
pub const RECENT_WINDOW_SECS: u64 = 1_800;
/// Bodies each generator thread builds ahead of the senders in a backfill.
const LANE_DEPTH: usize = 4;

/// Where each point of the stream goes: series `k % series`, at the
/// timestamp of step `k / series`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PointLayout {
    /// Number of series.
    pub series: u64,
    /// Timestamp of step 0, seconds.
    pub t0: i64,
    /// Seconds between steps.
    pub interval: i64,
    /// Steps before the timestamps start again from `t0` (the cycling run);
    /// `u64::MAX` for none.
    pub wrap_steps: u64,
}

impl PointLayout {
    /// The cycling run's layout: `total_points` points over the last
    /// [`RECENT_WINDOW_SECS`] before `now_s`, the newest step at `now_s`
    /// rounded down to the interval.
    pub fn recent(series: u64, interval: u64, total_points: u64, now_s: i64) -> PointLayout {
        let steps = total_points.div_ceil(series.max(1)).max(1);
        let window = (RECENT_WINDOW_SECS / interval.max(1)).max(1);
        let wrap = steps.min(window);
        PointLayout::ending_at(series, interval, wrap, now_s, wrap)
    }

    /// The backfill layout: `steps` steps, the last one at `now_s` rounded
    /// down to the interval, no wrapping.
    pub fn backfill(series: u64, interval: u64, steps: u64, now_s: i64) -> PointLayout {
        PointLayout::ending_at(series, interval, steps, now_s, u64::MAX)
    }

    fn ending_at(series: u64, interval: u64, steps: u64, now_s: i64, wrap: u64) -> PointLayout {
        let interval = interval.max(1) as i64;
        let newest = now_s - now_s.rem_euclid(interval);
        let span = (steps.max(1) - 1) as i64 * interval;
        PointLayout {
            series: series.max(1),
            t0: newest - span,
            interval,
            wrap_steps: wrap,
        }
    }

    /// `(series index, timestamp)` of point `k`.
    pub fn point(&self, k: u64) -> (usize, i64) {
        let step = (k / self.series) % self.wrap_steps;
        (
            (k % self.series) as usize,
            self.t0 + step as i64 * self.interval,
        )
    }
}

/// How bodies are encoded and compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BodyFormat {
    /// Protobuf or JSON (never `Statsd`).
    pub protocol: MetricsProtocol,
    /// `Content-Encoding`.
    pub encoding: BodyEncoding,
    /// Level of gzip and deflate (0-9).
    pub gzip_level: u32,
    /// Level of zstd.
    pub zstd_level: i32,
}

/// The points of `range`, grouped by series in order of first appearance:
/// `(series index, [(timestamp, value)])`.
fn group_points(
    catalog: &SeriesCatalog,
    layout: &PointLayout,
    range: Range<u64>,
) -> Vec<(usize, Vec<(i64, f64)>)> {
    let mut groups: Vec<(usize, Vec<(i64, f64)>)> = Vec::new();
    // slot[series] = index in `groups` + 1 (0: not seen yet).
    let mut slot = vec![0u32; catalog.len()];
    for k in range {
        let (index, ts) = layout.point(k);
        let Some(spec) = catalog.series().get(index) else {
            continue;
        };
        let value = spec.value_at(ts);
        let Some(seen) = slot.get_mut(index) else {
            continue;
        };
        if *seen == 0 {
            groups.push((index, Vec::new()));
            *seen = groups.len() as u32;
        }
        if let Some((_, points)) = groups.get_mut(*seen as usize - 1) {
            points.push((ts, value));
        }
    }
    groups
}

/// The `interval` field: the flush interval for counts and rates, 0 for
/// gauges (as the Agent sends them).
fn interval_field(kind: MetricKind, layout: &PointLayout) -> i64 {
    match kind {
        MetricKind::Count | MetricKind::Rate => layout.interval,
        _ => 0,
    }
}

/// The protobuf `MetricPayload` of points `range`.
pub fn protobuf_payload(
    catalog: &SeriesCatalog,
    layout: &PointLayout,
    range: Range<u64>,
) -> MetricPayload {
    let mut series = Vec::new();
    for (index, points) in group_points(catalog, layout, range) {
        let Some(spec) = catalog.series().get(index) else {
            continue;
        };
        series.push(MetricSeries {
            resources: vec![Resource {
                r#type: "host".to_owned(),
                name: spec.host.clone(),
            }],
            metric: spec.metric.to_owned(),
            tags: spec.tags.clone(),
            points: points
                .into_iter()
                .map(|(timestamp, value)| MetricPoint { value, timestamp })
                .collect(),
            r#type: spec.kind.protobuf_type(),
            unit: spec.unit.to_owned(),
            source_type_name: String::new(),
            interval: interval_field(spec.kind, layout),
            metadata: None,
        });
    }
    MetricPayload { series }
}

#[derive(Serialize)]
struct JsonBody<'a> {
    series: Vec<JsonSeries<'a>>,
}

#[derive(Serialize)]
struct JsonSeries<'a> {
    metric: &'a str,
    #[serde(rename = "type")]
    kind: i32,
    points: Vec<JsonPoint>,
    resources: [JsonResource<'a>; 1],
    tags: &'a [String],
    #[serde(skip_serializing_if = "str::is_empty")]
    unit: &'a str,
    #[serde(skip_serializing_if = "is_zero")]
    interval: i64,
}

fn is_zero(v: &i64) -> bool {
    *v == 0
}

#[derive(Serialize)]
struct JsonPoint {
    timestamp: i64,
    value: f64,
}

#[derive(Serialize)]
struct JsonResource<'a> {
    name: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
}

/// The JSON body (`{"series":[…]}`, the shape of the Datadog API clients)
/// of points `range`.
pub fn json_payload(catalog: &SeriesCatalog, layout: &PointLayout, range: Range<u64>) -> Vec<u8> {
    let groups = group_points(catalog, layout, range);
    let mut series = Vec::with_capacity(groups.len());
    for (index, points) in groups {
        let Some(spec) = catalog.series().get(index) else {
            continue;
        };
        series.push(JsonSeries {
            metric: spec.metric,
            kind: spec.kind.protobuf_type(),
            points: points
                .into_iter()
                .map(|(timestamp, value)| JsonPoint { timestamp, value })
                .collect(),
            resources: [JsonResource {
                name: &spec.host,
                kind: "host",
            }],
            tags: &spec.tags,
            unit: spec.unit,
            interval: interval_field(spec.kind, layout),
        });
    }
    // Serializing plain structs of strings and finite numbers cannot fail.
    serde_json::to_vec(&JsonBody { series }).unwrap_or_default()
}

/// Compresses `raw` as `format` says.
pub fn compress(raw: &[u8], format: &BodyFormat) -> std::io::Result<Vec<u8>> {
    crate::payload::encode(raw, format.encoding, format.gzip_level, format.zstd_level)
}

/// The bodies carrying points `range`: one, or more when a body would be
/// over [`MAX_WIRE_BYTES`] or [`MAX_RAW_BYTES`] (split in halves, as the
/// Agent's serializer starts a new payload when one is full).
pub fn build_bodies(
    catalog: &SeriesCatalog,
    layout: &PointLayout,
    range: Range<u64>,
    format: &BodyFormat,
) -> Result<Vec<Payload>, LoadgenError> {
    let mut out = Vec::new();
    let mut todo = vec![range];
    while let Some(range) = todo.pop() {
        let points = (range.end - range.start) as usize;
        let raw = match format.protocol {
            MetricsProtocol::V2Json => json_payload(catalog, layout, range.clone()),
            _ => protobuf_payload(catalog, layout, range.clone()).encode_to_vec(),
        };
        let body = compress(&raw, format).map_err(LoadgenError::Compress)?;
        if body.len() > MAX_WIRE_BYTES || raw.len() > MAX_RAW_BYTES {
            if points <= 1 {
                return Err(invalid("series", "one point does not fit in a payload"));
            }
            let middle = range.start + points as u64 / 2;
            // Popped last-in first-out: push the second half first.
            todo.push(middle..range.end);
            todo.push(range.start..middle);
            continue;
        }
        out.push(Payload::from_parts(Bytes::from(body), raw.len(), points));
    }
    Ok(out)
}

/// Builds the bodies of points `[j·batch, (j+1)·batch)` for `j` in
/// `0..count`, using all cores.
fn build_cycle(
    catalog: &SeriesCatalog,
    layout: &PointLayout,
    batch: u64,
    count: usize,
    format: &BodyFormat,
) -> Result<Vec<Payload>, LoadgenError> {
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, count.max(1));
    let mut slots: Vec<Option<Result<Vec<Payload>, LoadgenError>>> =
        (0..count).map(|_| None).collect();
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                scope.spawn(move || {
                    (t..count)
                        .step_by(threads)
                        .map(|j| {
                            let start = j as u64 * batch;
                            (
                                j,
                                build_bodies(catalog, layout, start..start + batch, format),
                            )
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        for h in handles {
            if let Ok(done) = h.join() {
                for (j, bodies) in done {
                    if let Some(slot) = slots.get_mut(j) {
                        *slot = Some(bodies);
                    }
                }
            }
        }
    });
    let mut payloads = Vec::with_capacity(count);
    for slot in slots {
        match slot {
            Some(bodies) => payloads.extend(bodies?),
            None => {
                return Err(LoadgenError::Task(
                    "payload generation thread panicked".into(),
                ))
            }
        }
    }
    Ok(payloads)
}

/// Starts `threads` generator threads for the points `0..total` in bodies
/// of `batch` points, and returns the stream the senders read.
fn spawn_generators(
    catalog: SeriesCatalog,
    layout: PointLayout,
    batch: u64,
    total: u64,
    format: BodyFormat,
    threads: usize,
) -> Stream {
    let catalog = std::sync::Arc::new(catalog);
    let bodies = total.div_ceil(batch);
    let mut receivers = Vec::with_capacity(threads);
    for t in 0..threads as u64 {
        let (tx, rx) = mpsc::channel(LANE_DEPTH);
        receivers.push(rx);
        let catalog = std::sync::Arc::clone(&catalog);
        std::thread::spawn(move || {
            let mut j = t;
            while j < bodies {
                let start = j * batch;
                let range = start..(start + batch).min(total);
                match build_bodies(&catalog, &layout, range, &format) {
                    Ok(payloads) => {
                        for p in payloads {
                            // The senders are gone (stopped or done): quit.
                            if tx.blocking_send(p).is_err() {
                                return;
                            }
                        }
                    }
                    Err(error) => {
                        eprintln!("loadgen: building a backfill payload failed: {error}");
                        return;
                    }
                }
                j += threads as u64;
            }
        });
    }
    Stream::new(receivers)
}

/// The outcome of a `--metrics` run over HTTP. Serializes to the `--json`
/// line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricsSummary {
    /// `v2-protobuf` or `v2-json`.
    pub protocol: String,
    /// `Content-Encoding` of the bodies (`identity` for none).
    pub encoding: String,
    /// Distinct series.
    pub series: usize,
    /// Seconds between two points of a series.
    pub interval_secs: u64,
    /// `--backfill-hours`, if given.
    pub backfill_hours: Option<f64>,
    /// Points in requests that were sent (acked or not).
    pub points_sent: u64,
    /// Points in requests answered with a 2xx (the server may still have
    /// dropped some: see `server_points_dropped`).
    pub points_acked: u64,
    /// Requests answered with a 2xx.
    pub requests_ok: u64,
    /// Requests that got a non-2xx answer or a transport error, plus failed
    /// connection attempts.
    pub requests_failed: u64,
    /// Failures by HTTP status or transport error; sums to `requests_failed`.
    pub errors_by_status: BTreeMap<String, u64>,
    /// Wall time from the first request to the last response.
    pub elapsed_secs: f64,
    /// `points_acked / elapsed_secs`.
    pub points_per_sec: f64,
    /// `requests_ok / elapsed_secs`.
    pub requests_per_sec: f64,
    /// Uncompressed body bytes acked per second, in MB (1e6 bytes).
    pub mb_per_sec: f64,
    /// Request-body bytes on the wire acked per second, in MB.
    pub wire_mb_per_sec: f64,
    /// Median ack latency of 2xx requests.
    pub latency_ms_p50: f64,
    /// 99th percentile ack latency of 2xx requests.
    pub latency_ms_p99: f64,
    /// Largest ack latency of 2xx requests.
    pub latency_ms_max: f64,
    /// Mean points per acked request.
    pub avg_points_per_request: f64,
    /// Mean uncompressed body bytes per acked point.
    pub avg_point_bytes: f64,
    /// Uncompressed / wire bytes of the acked bodies.
    pub compression_ratio: f64,
    /// Seconds the senders waited for bodies to be built (backfill only;
    /// when large, the client, not the server, was the limit).
    pub generator_wait_secs: f64,
    /// Points the backfill has to send (`series × steps`), `None` when
    /// cycling.
    pub backfill_points_total: Option<u64>,
    /// Backfill points of bodies that failed for good: a 4xx other than 429,
    /// or 10 failed sends (429, 5xx and transport errors are sent again, as
    /// the Agent's forwarder retries). Cycling runs resend nothing and
    /// count 0.
    pub points_given_up: u64,
    /// Points the server counted as stored during the run
    /// (`strata_metric_points_total{source="datadog_metrics"}` from
    /// `/metrics`, before and after); `None` when `/metrics` was not
    /// readable. Includes other clients' points, if any.
    pub server_points_stored: Option<u64>,
    /// Points the server dropped during the run, by reason (`too_old`,
    /// `too_new`, ...), from `strata_metric_points_dropped_total`.
    pub server_points_dropped: Option<BTreeMap<String, u64>>,
}

impl MetricsSummary {
    /// The summary as one line of JSON.
    pub fn to_json_line(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
    }

    /// A readable multi-line summary.
    pub fn human(&self) -> String {
        let mut s = String::new();
        let errors = if self.errors_by_status.is_empty() {
            "none".to_owned()
        } else {
            join_counts(&self.errors_by_status)
        };
        let window = match self.backfill_hours {
            Some(h) => format!("every point of the last {h} h, once"),
            None => format!("points of the last {} min, cycled", RECENT_WINDOW_SECS / 60),
        };
        s.push_str(&format!(
            "strata loadgen summary (metrics, {}, {})\n",
            self.protocol, self.encoding
        ));
        s.push_str(&format!("  elapsed        {:.2} s\n", self.elapsed_secs));
        s.push_str(&format!(
            "  series         {} at {} s resolution; {window}\n",
            self.series, self.interval_secs
        ));
        s.push_str(&format!(
            "  requests       {} ok, {} failed; {:.1} requests/s, {:.0} points/request\n",
            self.requests_ok,
            self.requests_failed,
            self.requests_per_sec,
            self.avg_points_per_request
        ));
        s.push_str(&format!("  errors         {errors}\n"));
        s.push_str(&format!(
            "  points         {} sent, {} acked\n",
            self.points_sent, self.points_acked
        ));
        s.push_str(&format!(
            "  throughput     {:.0} points/s, {:.2} MB/s uncompressed, {:.2} MB/s on the wire\n",
            self.points_per_sec, self.mb_per_sec, self.wire_mb_per_sec
        ));
        s.push_str(&format!(
            "  ack latency    p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms\n",
            self.latency_ms_p50, self.latency_ms_p99, self.latency_ms_max
        ));
        s.push_str(&format!(
            "  payloads       {:.0} B/point uncompressed, compression x{:.2}\n",
            self.avg_point_bytes, self.compression_ratio
        ));
        let server = match (&self.server_points_stored, &self.server_points_dropped) {
            (Some(stored), Some(dropped)) => {
                let total: u64 = dropped.values().sum();
                let nonzero: BTreeMap<String, u64> = dropped
                    .iter()
                    .filter(|(_, n)| **n > 0)
                    .map(|(k, n)| (k.clone(), *n))
                    .collect();
                let detail = if total == 0 {
                    String::new()
                } else {
                    format!(" ({})", join_counts(&nonzero))
                };
                format!("{stored} points stored, {total} dropped{detail} (from /metrics)")
            }
            _ => "not measured (/metrics not readable)".to_owned(),
        };
        s.push_str(&format!("  server         {server}\n"));
        if let Some(total) = self.backfill_points_total {
            s.push_str(&format!(
                "  backfill       {} of {total} points acked, {} given up; senders waited {:.2} s for bodies\n",
                self.points_acked, self.points_given_up, self.generator_wait_secs
            ));
        }
        s
    }
}

fn join_counts(counts: &BTreeMap<String, u64>) -> String {
    counts
        .iter()
        .map(|(k, v)| format!("{k}: {v}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The server's point counters at one moment.
#[derive(Debug, Clone, Default)]
struct PointCounters {
    stored: u64,
    dropped: BTreeMap<String, u64>,
}

const DROP_REASONS: [&str; 4] = ["too_old", "too_new", "non_finite", "no_value"];

async fn point_counters(target: &Target) -> Option<PointCounters> {
    let text = match scrape::fetch(target, Duration::from_secs(5)).await {
        Ok(text) => text,
        Err(error) => {
            eprintln!("loadgen: cannot read /metrics ({error}); server counts not measured");
            return None;
        }
    };
    let samples = Samples::parse(&text);
    let stored = samples
        .sum(
            "strata_metric_points_total",
            &["source=\"datadog_metrics\""],
        )
        .unwrap_or(0.0) as u64;
    let mut dropped = BTreeMap::new();
    for reason in DROP_REASONS {
        let label = format!("reason=\"{reason}\"");
        let n = samples
            .sum("strata_metric_points_dropped_total", &[&label])
            .unwrap_or(0.0) as u64;
        dropped.insert(reason.to_owned(), n);
    }
    Some(PointCounters { stored, dropped })
}

/// Number of generator threads of a backfill: half the cores, so that on
/// a machine shared with the server the generator does not take them all.
fn generator_threads() -> usize {
    std::thread::available_parallelism()
        .map_or(1, |n| n.get() / 2)
        .clamp(1, 4)
}

/// Runs `strata loadgen --metrics` over HTTP (`v2-protobuf` or `v2-json`)
/// and returns its summary.
///
/// Builds the series catalogue, then either pre-builds `--payloads` bodies
/// (the default) or starts generator threads (`--backfill-hours`), reads
/// the server's counters from `/metrics`, sends until `--duration` elapses
/// (default 10 s; a backfill runs until every point is sent unless
/// `--duration` is given), and reads the counters again. Failed requests
/// are counted, not errors. Must be called within a Tokio runtime.
pub async fn run_metrics(args: &LoadgenArgs) -> Result<MetricsSummary, LoadgenError> {
    args.check_protocol()?;
    let target = parse_target(&args.target)?;
    let batch = args.effective_batch_size() as u64;
    if batch == 0 {
        return Err(invalid("batch-size", "must be at least 1"));
    }
    if args.series == 0 {
        return Err(invalid("series", "must be at least 1"));
    }
    if args.interval == 0 {
        return Err(invalid("interval", "must be at least 1 second"));
    }
    if args.payloads == 0 {
        return Err(invalid("payloads", "must be at least 1"));
    }
    let steps = match args.backfill_hours {
        None => None,
        Some(h) if h.is_finite() && h > 0.0 && h <= 24.0 * 366.0 => {
            Some(((h * 3600.0) / args.interval as f64).ceil().max(1.0) as u64)
        }
        Some(_) => {
            return Err(invalid(
                "backfill-hours",
                "must be a positive number of hours",
            ))
        }
    };
    let default_duration = match steps {
        Some(_) => None,
        None => Some(Duration::from_secs_f64(DEFAULT_DURATION_SECS)),
    };
    let opts = SendOptions::from_args(args, default_duration)?;
    let format = BodyFormat {
        protocol: args.metrics_protocol(),
        encoding: args.effective_encoding(),
        gzip_level: args.gzip_level,
        zstd_level: args.zstd_level,
    };
    let now_s = unix_now_ms() / 1000;
    let (series, seed, payload_count) = (args.series, args.seed, args.payloads);
    let catalog = tokio::task::spawn_blocking(move || SeriesCatalog::agent(series, seed))
        .await
        .map_err(|e| LoadgenError::Task(e.to_string()))?;

    let backfill_points_total = steps.map(|steps| series as u64 * steps);
    let source = match steps {
        None => {
            let layout = PointLayout::recent(
                series as u64,
                args.interval,
                batch * payload_count as u64,
                now_s,
            );
            let bodies = tokio::task::spawn_blocking(move || {
                build_cycle(&catalog, &layout, batch, payload_count, &format)
            })
            .await
            .map_err(|e| LoadgenError::Task(e.to_string()))??;
            let set = PayloadSet::from_payloads(bodies);
            eprintln!(
                "loadgen: {} bodies x {} points pre-generated ({} series, {} s apart): {:.1} MB {}, {:.0} B/point, {:.2} MB {} (x{:.1}); {} connections -> {}{}",
                set.payloads().len(),
                set.events() / set.payloads().len().max(1) as u64,
                series,
                args.interval,
                set.raw_bytes() as f64 / 1e6,
                format.protocol.as_str(),
                set.avg_event_bytes(),
                set.wire_bytes() as f64 / 1e6,
                format.encoding.as_str(),
                set.compression_ratio(),
                args.connections,
                args.target,
                if opts.api_key.is_none() { " (no API key)" } else { "" },
            );
            Source::Cycle { set, limit: None }
        }
        Some(steps) => {
            let layout = PointLayout::backfill(series as u64, args.interval, steps, now_s);
            let total = series as u64 * steps;
            let threads = generator_threads();
            eprintln!(
                "loadgen: backfill of {total} points ({series} series x {steps} steps of {} s, oldest {}s ago), built by {threads} thread(s) while sending; {} connections -> {}{}",
                args.interval,
                now_s - layout.t0,
                args.connections,
                args.target,
                if opts.api_key.is_none() { " (no API key)" } else { "" },
            );
            Source::Stream(spawn_generators(
                catalog, layout, batch, total, format, threads,
            ))
        }
    };

    let before = point_counters(&target).await;
    let job = HttpJob {
        target: target.clone(),
        path: SERIES_PATH,
        content_type: match format.protocol {
            MetricsProtocol::V2Json => "application/json",
            _ => "application/x-protobuf",
        },
        content_encoding: format.encoding.header(),
        source,
        unit: "points",
        auth: Auth::DdApiKey,
        check: None,
    };
    let out = drive(job, opts).await?;
    let after = point_counters(&target).await;
    let (server_points_stored, server_points_dropped) = match (before, after) {
        (Some(b), Some(a)) => {
            let dropped: BTreeMap<String, u64> = a
                .dropped
                .iter()
                .map(|(k, v)| (k.clone(), v.saturating_sub(*b.dropped.get(k).unwrap_or(&0))))
                .collect();
            (Some(a.stored.saturating_sub(b.stored)), Some(dropped))
        }
        _ => (None, None),
    };
    if let Some(too_old) = server_points_dropped
        .as_ref()
        .and_then(|d| d.get("too_old"))
        .filter(|n| **n > 0)
    {
        eprintln!(
            "loadgen: the server dropped {too_old} points as too old; run it with --set metrics.max_past_secs= larger than the oldest point's age"
        );
    }

    let elapsed = out.elapsed_secs;
    let acked = out.items_acked;
    Ok(MetricsSummary {
        protocol: format.protocol.as_str().to_owned(),
        encoding: format.encoding.as_str().to_owned(),
        series,
        interval_secs: args.interval,
        backfill_hours: args.backfill_hours,
        points_sent: out.items_sent,
        points_acked: acked,
        requests_ok: out.requests_ok,
        requests_failed: out.requests_failed,
        errors_by_status: out.errors_by_status,
        elapsed_secs: elapsed,
        points_per_sec: acked as f64 / elapsed,
        requests_per_sec: out.requests_ok as f64 / elapsed,
        mb_per_sec: out.raw_bytes_acked as f64 / elapsed / 1e6,
        wire_mb_per_sec: out.wire_bytes_acked as f64 / elapsed / 1e6,
        latency_ms_p50: out.latency_ms_p50,
        latency_ms_p99: out.latency_ms_p99,
        latency_ms_max: out.latency_ms_max,
        avg_points_per_request: acked as f64 / out.requests_ok.max(1) as f64,
        avg_point_bytes: out.raw_bytes_acked as f64 / acked.max(1) as f64,
        compression_ratio: out.raw_bytes_acked as f64 / out.wire_bytes_acked.max(1) as f64,
        generator_wait_secs: out.generator_wait_secs,
        backfill_points_total,
        points_given_up: out.items_given_up,
        server_points_stored,
        server_points_dropped,
    })
}

#[cfg(test)]
mod tests;
