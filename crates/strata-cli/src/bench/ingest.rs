//! The data set (generated, serialized and gzipped before the clock starts),
//! the ingest through the real HTTP intake, the freshness probe that runs
//! alongside it, and the waits that follow it.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context};
use flate2::write::GzEncoder;
use flate2::Compression;
use rand::rngs::StdRng;
use rand::SeedableRng;
use serde::Serialize;
use serde_json::{json, Value};

use super::server::{agent, Api};

/// The service of the `@http.status_code:>=500 service:X` query: the second
/// most frequent service of the generator, an instrumented API with `http.*`.
pub(super) const SERVICE: &str = "checkout";
/// The phrase of the phrase count (nginx, envoy and application errors).
pub(super) const PHRASE: &str = "connection refused";
/// How many events carry the rare token.
pub(super) const NEEDLES: usize = 10;

/// One ready-to-send intake body.
#[derive(Debug)]
pub(super) struct Batch {
    body: Vec<u8>,
    events: usize,
    raw_len: usize,
}

/// Everything that is sent, and the query parameters chosen from it.
#[derive(Debug)]
pub(super) struct Dataset {
    /// The bodies, oldest events first.
    pub(super) batches: Vec<Batch>,
    /// Start of the query range (epoch ms, inclusive): every generated event
    /// is at or after it.
    pub(super) from_ms: i64,
    /// End of the query range (epoch ms, exclusive): every generated event is
    /// before it, every freshness probe after it.
    pub(super) to_ms: i64,
    /// The rare token, one alphanumeric word.
    pub(super) token: String,
    /// Events whose message carries the token.
    pub(super) needle_events: usize,
    /// The host of the newest-100-for-one-host query.
    pub(super) host: String,
}

impl Dataset {
    /// Events in all batches.
    pub(super) fn events(&self) -> u64 {
        self.batches.iter().map(|b| b.events as u64).sum()
    }

    /// Uncompressed JSON bytes in all batches.
    pub(super) fn raw_bytes(&self) -> u64 {
        self.batches.iter().map(|b| b.raw_len as u64).sum()
    }

    /// gzip bytes in all batches.
    pub(super) fn wire_bytes(&self) -> u64 {
        self.batches.iter().map(|b| b.body.len() as u64).sum()
    }
}

/// Milliseconds since the Unix epoch.
pub(super) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Generates `events` events in batches of `batch_size` with
/// `strata-loadgen`'s generator, batch `i` from its own seed, its timestamps
/// placed so that the batches cover the `span_ms` before `end_ms` evenly,
/// oldest first (batch `i` spreads its events at random over the `i`-th
/// `span_ms / batches` of the span). The rare token goes
/// at the start of the message of the first event of [`NEEDLES`] batches
/// spread over the range. Uses every core; progress on stderr.
pub(super) fn generate(
    events: u64,
    batch_size: usize,
    seed: u64,
    gzip_level: u32,
    span_ms: i64,
    end_ms: i64,
) -> anyhow::Result<Dataset> {
    let count = events.div_ceil(batch_size as u64) as usize;
    let size = |i: usize| {
        let before = (i * batch_size) as u64;
        (events - before).min(batch_size as u64) as usize
    };
    let batch_now = |i: usize| end_ms - span_ms + ((i as i64 + 1) * span_ms) / count as i64;
    let jitter_ms = (span_ms / count as i64).max(1);
    let batch_json = |i: usize| {
        let mut rng = StdRng::seed_from_u64(strata_loadgen::batch_seed(seed, i as u64));
        strata_loadgen::generate_batch_json_spread(&mut rng, size(i), batch_now(i), jitter_ms)
    };
    let token = needle_token(seed);
    let needles = NEEDLES.min(count);
    let needle_batches: Vec<usize> = (0..needles)
        .map(|k| (k * count + count / 2) / needles)
        .collect();

    let make = |i: usize| -> anyhow::Result<Batch> {
        let mut json = batch_json(i);
        if needle_batches.contains(&i) {
            const START: &str = "[{\"message\":\"";
            if !json.starts_with(START) {
                bail!(
                    "unexpected generator output: {}",
                    &json[..json.len().min(40)]
                );
            }
            json.insert_str(START.len(), &format!("{token} "));
        }
        let mut enc = GzEncoder::new(
            Vec::with_capacity(json.len() / 4 + 64),
            Compression::new(gzip_level),
        );
        enc.write_all(json.as_bytes())?;
        Ok(Batch {
            body: enc.finish()?,
            events: size(i),
            raw_len: json.len(),
        })
    };

    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, count.max(1));
    let done = AtomicUsize::new(0);
    let started = Instant::now();
    let mut slots: Vec<Option<anyhow::Result<Batch>>> = (0..count).map(|_| None).collect();
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let (make, done) = (&make, &done);
                scope.spawn(move || {
                    (t..count)
                        .step_by(threads)
                        .map(|i| {
                            let batch = make(i);
                            done.fetch_add(1, Ordering::Relaxed);
                            (i, batch)
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        let mut last = Instant::now();
        while !handles.iter().all(|h| h.is_finished()) {
            std::thread::sleep(Duration::from_millis(100));
            if last.elapsed() >= Duration::from_secs(2) {
                last = Instant::now();
                eprintln!(
                    "bench: generating {}/{count} batches ({:.0} s)",
                    done.load(Ordering::Relaxed),
                    started.elapsed().as_secs_f64()
                );
            }
        }
        for handle in handles {
            if let Ok(batches) = handle.join() {
                for (i, batch) in batches {
                    slots[i] = Some(batch);
                }
            }
        }
    });
    let mut batches = Vec::with_capacity(count);
    for slot in slots {
        batches.push(slot.context("a generator thread panicked")??);
    }

    Ok(Dataset {
        batches,
        from_ms: end_ms - span_ms,
        to_ms: end_ms + 1,
        token,
        needle_events: needles,
        host: query_host(&batch_json(0))?,
    })
}

/// The rare token of the data set generated with `seed`.
fn needle_token(seed: u64) -> String {
    format!(
        "needle{:016x}",
        strata_loadgen::batch_seed(seed, u64::MAX - 1)
    )
}

/// The host of the newest-100-for-one-host query: the most frequent one of
/// [`SERVICE`] in the first batch (ties: the smallest name), or of any
/// service if SERVICE is not there.
fn query_host(first_batch: &str) -> anyhow::Result<String> {
    let sample: Vec<Value> =
        serde_json::from_str(first_batch).context("parsing a generated batch")?;
    let mut hosts: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    for event in &sample {
        if let Some(host) = event["hostname"].as_str() {
            let entry = hosts.entry(host).or_default();
            entry.1 += 1;
            if event["service"] == SERVICE {
                entry.0 += 1;
            }
        }
    }
    hosts
        .iter()
        .max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(a.0)))
        .map(|(h, _)| h.to_string())
        .context("the first batch has no host")
}

/// The query parameters of data that is already stored (no batches): the
/// range and host of a previous run's `--json` (its `params`), or those that
/// [`generate`] gives for the same events, batch size, seed, span and end.
pub(super) fn stored(
    previous: Option<&Value>,
    events: u64,
    batch_size: usize,
    seed: u64,
    span_ms: i64,
    end_ms: i64,
) -> anyhow::Result<Dataset> {
    if let Some(report) = previous {
        let params = &report["params"];
        let int = |key: &str| {
            params[key]
                .as_i64()
                .with_context(|| format!("the JSON has no params.{key}"))
        };
        let text = |key: &str| {
            params[key]
                .as_str()
                .map(str::to_string)
                .with_context(|| format!("the JSON has no params.{key}"))
        };
        return Ok(Dataset {
            batches: Vec::new(),
            from_ms: int("from_ms")?,
            to_ms: int("to_ms")?,
            token: text("token")?,
            needle_events: params["needle_events"].as_u64().unwrap_or(0) as usize,
            host: text("host")?,
        });
    }
    let count = events.div_ceil(batch_size as u64) as usize;
    let first = (events.min(batch_size as u64)) as usize;
    let mut rng = StdRng::seed_from_u64(strata_loadgen::batch_seed(seed, 0));
    let json = strata_loadgen::generate_batch_json_spread(
        &mut rng,
        first,
        end_ms - span_ms + span_ms / count as i64,
        (span_ms / count as i64).max(1),
    );
    Ok(Dataset {
        batches: Vec::new(),
        from_ms: end_ms - span_ms,
        to_ms: end_ms + 1,
        token: needle_token(seed),
        needle_events: NEEDLES.min(count),
        host: query_host(&json)?,
    })
}

/// The ingest phase, as measured by the sender.
#[derive(Debug, Serialize)]
pub(super) struct IngestReport {
    /// Connections used.
    pub(super) connections: usize,
    /// Events acked (2xx).
    pub(super) events_acked: u64,
    /// Events given up on after repeated failures (not 503/429).
    pub(super) events_failed: u64,
    /// Requests that got a 503 or 429 and were retried after 100 ms.
    pub(super) retried_busy: u64,
    /// Requests retried after another error.
    pub(super) retried_other: u64,
    /// First request to last answer.
    pub(super) elapsed_secs: f64,
    /// `events_acked / elapsed_secs`.
    pub(super) events_per_sec: f64,
    /// Uncompressed JSON MB (1e6 B) acked per second.
    pub(super) raw_mb_per_sec: f64,
    /// Mean uncompressed JSON bytes per event.
    pub(super) avg_event_bytes: f64,
    /// Uncompressed / gzip bytes.
    pub(super) compression_ratio: f64,
    /// Median request ack latency (successful attempts).
    pub(super) ack_p50_ms: f64,
    /// 99th percentile request ack latency.
    pub(super) ack_p99_ms: f64,
    /// Time from the last ack until a count over the range returned every
    /// acked event.
    pub(super) all_visible_after_ms: f64,
}

/// The freshness probe: one event posted every interval while ingest runs
/// at full rate, then searched for until it is visible.
#[derive(Debug, Default, Serialize)]
pub(super) struct FreshnessReport {
    /// Probes whose post was acked.
    pub(super) probes: usize,
    /// Probes not found within 30 s of their ack.
    pub(super) not_visible: usize,
    /// Median ack → first search that returns it.
    pub(super) visible_p50_ms: Option<f64>,
    /// 99th percentile of the same.
    pub(super) visible_p99_ms: Option<f64>,
    /// Largest of the same.
    pub(super) visible_max_ms: Option<f64>,
    /// Median send → visible (the probe's own ack latency included).
    pub(super) sent_visible_p50_ms: Option<f64>,
    /// 99th percentile of the same.
    pub(super) sent_visible_p99_ms: Option<f64>,
    /// Median ack latency of the one-event probe posts.
    pub(super) probe_ack_p50_ms: Option<f64>,
    /// 99th percentile of the same.
    pub(super) probe_ack_p99_ms: Option<f64>,
    /// Probe posts refused (503/429) or failed; not counted in `probes`.
    pub(super) refused: usize,
    /// Every probe's ack → visible latency (ms), in order; `null` if never.
    pub(super) samples_ms: Vec<Option<f64>>,
}

/// Nearest-rank percentile of sorted values.
pub(super) fn percentile(sorted: &[f64], q: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((q / 100.0) * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

fn sorted(mut values: Vec<f64>) -> Vec<f64> {
    values.sort_by(f64::total_cmp);
    values
}

#[derive(Debug, Default)]
struct Counters {
    acked: AtomicU64,
    failed: AtomicU64,
    retried_busy: AtomicU64,
    retried_other: AtomicU64,
}

/// Sends every batch over `connections` keep-alive connections, oldest
/// first, retrying 503/429 after 100 ms (as Datadog clients do) and other
/// failures up to 5 times. With `probe_every`, runs the freshness probe
/// until the last batch is acked. Progress on stderr every second.
pub(super) fn ingest(
    api: &Api,
    data: &Dataset,
    connections: usize,
    probe_every: Option<Duration>,
) -> anyhow::Result<(IngestReport, FreshnessReport)> {
    let next = AtomicUsize::new(0);
    let counters = Counters::default();
    let latencies = Mutex::new(Vec::with_capacity(data.batches.len()));
    let running = AtomicBool::new(true);
    let started = Instant::now();
    let total = data.events();
    let (freshness, elapsed) = std::thread::scope(|scope| {
        let running = &running;
        let probe = probe_every.map(|every| scope.spawn(move || probe(api, every, running)));
        let senders: Vec<_> = (0..connections.max(1))
            .map(|_| scope.spawn(|| send_loop(api, data, &next, &counters, &latencies)))
            .collect();
        let mut last = (Instant::now(), 0u64);
        while !senders.iter().all(|h| h.is_finished()) {
            std::thread::sleep(Duration::from_millis(50));
            if last.0.elapsed() >= Duration::from_secs(1) {
                let acked = counters.acked.load(Ordering::Relaxed);
                let rate = (acked - last.1) as f64 / last.0.elapsed().as_secs_f64();
                last = (Instant::now(), acked);
                eprintln!(
                    "bench: ingest {acked}/{total} events acked, {rate:.0} events/s, {} busy retries",
                    counters.retried_busy.load(Ordering::Relaxed)
                );
            }
        }
        for sender in senders {
            let _ = sender.join();
        }
        let elapsed = started.elapsed().as_secs_f64().max(1e-9);
        running.store(false, Ordering::Relaxed);
        let freshness = probe.and_then(|p| p.join().ok()).unwrap_or_default();
        (freshness, elapsed)
    });
    let acked = counters.acked.load(Ordering::Relaxed);
    let latencies = sorted(latencies.into_inner().unwrap_or_default());
    let report = IngestReport {
        connections,
        events_acked: acked,
        events_failed: counters.failed.load(Ordering::Relaxed),
        retried_busy: counters.retried_busy.load(Ordering::Relaxed),
        retried_other: counters.retried_other.load(Ordering::Relaxed),
        elapsed_secs: elapsed,
        events_per_sec: acked as f64 / elapsed,
        raw_mb_per_sec: data.raw_bytes() as f64 * (acked as f64 / total.max(1) as f64)
            / elapsed
            / 1e6,
        avg_event_bytes: data.raw_bytes() as f64 / total.max(1) as f64,
        compression_ratio: data.raw_bytes() as f64 / data.wire_bytes().max(1) as f64,
        ack_p50_ms: percentile(&latencies, 50.0).unwrap_or(0.0),
        ack_p99_ms: percentile(&latencies, 99.0).unwrap_or(0.0),
        all_visible_after_ms: 0.0,
    };
    Ok((report, freshness))
}

fn send_loop(
    api: &Api,
    data: &Dataset,
    next: &AtomicUsize,
    counters: &Counters,
    latencies: &Mutex<Vec<f64>>,
) {
    let agent = agent(Duration::from_secs(60));
    let mut mine = Vec::new();
    loop {
        let i = next.fetch_add(1, Ordering::Relaxed);
        let Some(batch) = data.batches.get(i) else {
            break;
        };
        let mut failures = 0;
        loop {
            let start = Instant::now();
            match api.intake(&agent, &batch.body, true) {
                Ok(status) if (200..300).contains(&status) => {
                    mine.push(start.elapsed().as_secs_f64() * 1e3);
                    counters
                        .acked
                        .fetch_add(batch.events as u64, Ordering::Relaxed);
                    break;
                }
                Ok(503 | 429) => {
                    counters.retried_busy.fetch_add(1, Ordering::Relaxed);
                    std::thread::sleep(Duration::from_millis(100));
                }
                other => {
                    failures += 1;
                    if failures == 1 {
                        eprintln!("bench: intake request failed ({other:?}); retrying");
                    }
                    if failures > 5 {
                        counters
                            .failed
                            .fetch_add(batch.events as u64, Ordering::Relaxed);
                        break;
                    }
                    counters.retried_other.fetch_add(1, Ordering::Relaxed);
                    std::thread::sleep(Duration::from_millis(200 * failures));
                }
            }
        }
    }
    if let Ok(mut all) = latencies.lock() {
        all.extend(mine);
    }
}

/// Posts one event with a unique token every `every` while `running`, and
/// after each ack searches for the token every 10 ms until it is found (or
/// 30 s pass).
fn probe(api: &Api, every: Duration, running: &AtomicBool) -> FreshnessReport {
    let agent = agent(Duration::from_secs(30));
    let run = format!("{:08x}", now_ms() as u32);
    let mut samples = Vec::new();
    let mut from_send = Vec::new();
    let mut acks = Vec::new();
    let mut refused = 0;
    let mut n = 0u64;
    while running.load(Ordering::Relaxed) {
        let round = Instant::now();
        n += 1;
        let token = format!("strataprobe{run}n{n}");
        let ts = now_ms();
        let body = json!([{
            "message": format!("{token} freshness probe"),
            "service": "strata-bench-probe",
            "hostname": "strata-bench",
            "ddsource": "strata-bench",
            "status": "info",
            "timestamp": ts,
        }])
        .to_string();
        let sent = Instant::now();
        match api.intake(&agent, body.as_bytes(), false) {
            Ok(status) if (200..300).contains(&status) => {}
            _ => {
                // Busy or failing: try again next round.
                refused += 1;
                std::thread::sleep(every.saturating_sub(round.elapsed()));
                continue;
            }
        }
        let acked = Instant::now();
        acks.push((acked - sent).as_secs_f64() * 1e3);
        let search = json!({
            "filter": {"query": token, "from": (ts - 60_000).to_string(), "to": (ts + 60_000).to_string()},
            "sort": "-timestamp",
            "page": {"limit": 1},
        });
        let mut visible = None;
        while acked.elapsed() < Duration::from_secs(30) {
            let found = api
                .read(&agent, "/api/v2/logs/events/search", &search)
                .ok()
                .and_then(|a| a.body["data"].as_array().map(|d| !d.is_empty()))
                .unwrap_or(false);
            if found {
                visible = Some(acked.elapsed().as_secs_f64() * 1e3);
                from_send.push(sent.elapsed().as_secs_f64() * 1e3);
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        samples.push(visible);
        std::thread::sleep(every.saturating_sub(round.elapsed()));
    }
    let seen = sorted(samples.iter().flatten().copied().collect());
    let from_send = sorted(from_send);
    let acks = sorted(acks);
    FreshnessReport {
        probes: samples.len(),
        not_visible: samples.iter().filter(|s| s.is_none()).count(),
        visible_p50_ms: percentile(&seen, 50.0),
        visible_p99_ms: percentile(&seen, 99.0),
        visible_max_ms: seen.last().copied(),
        sent_visible_p50_ms: percentile(&from_send, 50.0),
        sent_visible_p99_ms: percentile(&from_send, 99.0),
        probe_ack_p50_ms: percentile(&acks, 50.0),
        probe_ack_p99_ms: percentile(&acks, 99.0),
        refused,
        samples_ms: samples,
    }
}

/// Counts the events in the data set's range until the count reaches
/// `expected` (or `timeout` passes); returns the wait in ms.
pub(super) fn wait_visible(
    api: &Api,
    data: &Dataset,
    expected: u64,
    timeout: Duration,
) -> anyhow::Result<f64> {
    let agent = agent(Duration::from_secs(300));
    let body = json!({
        "compute": [{"aggregation": "count"}],
        "filter": {"query": "*", "from": data.from_ms.to_string(), "to": data.to_ms.to_string()},
    });
    let start = Instant::now();
    let mut last_report = Instant::now();
    loop {
        let answer = api.read(&agent, "/api/v2/logs/analytics/aggregate", &body)?;
        let count = count_of(&answer.body);
        if count >= expected {
            return Ok(start.elapsed().as_secs_f64() * 1e3);
        }
        if start.elapsed() >= timeout {
            bail!(
                "only {count} of {expected} acked events visible after {:.0} s",
                timeout.as_secs_f64()
            );
        }
        if last_report.elapsed() >= Duration::from_secs(5) {
            last_report = Instant::now();
            eprintln!("bench: {count}/{expected} events visible");
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// The `c0` of the first bucket of an aggregate answer, 0 without buckets.
fn count_of(body: &Value) -> u64 {
    body["data"]["buckets"]
        .get(0)
        .and_then(|b| b["computes"]["c0"].as_f64())
        .map_or(0, |c| c as u64)
}

/// Waits until the server's memtables are empty (`strata_memtable_events`
/// is 0), so the suite runs on flushed segments; returns the wait in ms, or
/// `None` when the metric is missing or it did not happen within `timeout`.
pub(super) fn settle(api: &Api, timeout: Duration) -> Option<f64> {
    let agent = agent(Duration::from_secs(10));
    let start = Instant::now();
    let mut last_report = Instant::now();
    loop {
        let events = api.metric(&agent, "strata_memtable_events")?;
        if events <= 0.0 {
            return Some(start.elapsed().as_secs_f64() * 1e3);
        }
        if start.elapsed() >= timeout {
            return None;
        }
        if last_report.elapsed() >= Duration::from_secs(10) {
            last_report = Instant::now();
            eprintln!("bench: waiting for the memtables to flush ({events} events left)");
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}
