//! `strata bench compression`: how small segments are, column by column.
//!
//! 1. Builds the data sets, before any clock starts:
//!    - `--events` distinct `strata loadgen` events (each 1000-event batch from
//!      its own seed, as `strata bench query` does), their timestamps spread
//!      over one hour bucket (`--span-secs` of it); the raw size is their NDJSON (one JSON object
//!      and a newline per event). Each batch is decoded by the intake's
//!      Datadog JSON decoder (`strata_ingest::decode_logs`) and its events get
//!      the ids the memtable gives them (`event_id(seq, index)`, one `seq`
//!      per batch, as one request is one WAL record);
//!    - the files given on the command line, ingested as `text/plain` lines
//!      (`strata_ingest`'s line decoder, 1000 lines per request, `service`
//!      and `ddsource` = the lower-cased name of the file's directory, as
//!      `scripts/bench-loghub.sh` sends them); the raw size is the files'.
//! 2. Writes each data set's rows, in arrival order, as segments the way a
//!    memtable flush does (`--flush-rows` per segment, `SegmentOptions`
//!    defaults) and the way compaction does (one hour bucket cut into
//!    `--compaction-rows` segments, [`SegmentOptions::compaction`]), one
//!    segment at a time, timing the wall clock and the process's CPU time.
//! 3. Prints raw bytes, segment bytes, the ratio, bytes per row per column
//!    (`strata_segment::read_column_sizes`) and the write throughput (MB of raw
//!    input per second, and per CPU-second); `--json` writes it all as JSON.
//!    `--verify` reads every segment back and checks every event.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use anyhow::{bail, Context};
use bytes::Bytes;
use rand::rngs::StdRng;
use rand::SeedableRng;
use serde::Serialize;
use strata_ingest::{decode_logs, BodyFormat, LogsRequest};
use strata_segment::{
    read_column_sizes, read_segment, write_segment, ColumnSize, SegmentOptions, SegmentRow,
};
use strata_types::event_id;

/// Start of the hour bucket every generated event is in: 2026-01-01T00:00Z.
/// Fixed, so that the same seed gives the same bytes.
const HOUR_START_MS: i64 = 1_767_225_600_000;
const HOUR_MS: i64 = 3_600_000;
/// Events per generated batch and lines per text/plain request.
const BATCH: usize = 1000;

/// Options of `strata bench compression`.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  strata bench compression --events 1000000
  strata bench compression --events 0 ../shared/data/loghub/*/*_2k.log \\
      ../shared/data/access_logs/apache_combined_10k.log
  strata bench compression --events 200000 --compaction-zstd-level 9 --json /tmp/c.json")]
pub(crate) struct BenchCompressionArgs {
    /// Distinct loadgen events to generate (0: none).
    #[arg(long, default_value_t = 1_000_000)]
    events: u64,
    /// Generator seed: the same seed gives the same events.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Seconds of event time the generated events cover, from the start of
    /// the hour bucket: 3600 is one event every 3.6 ms per million events;
    /// fewer seconds mean denser timestamps (a busier tenant).
    #[arg(long, default_value_t = 3600, value_parser = clap::value_parser!(u64).range(1..=3600))]
    span_secs: u64,
    /// Text files ingested as text/plain lines, all together as one data set.
    #[arg(value_name = "FILE")]
    files: Vec<PathBuf>,
    /// Rows per flush segment (the default flush of 128 MiB memtables on 2
    /// cores writes segments of about 77,000 loadgen events).
    #[arg(long, default_value_t = 77_000, value_parser = clap::value_parser!(u64).range(1..))]
    flush_rows: u64,
    /// zstd level of flush segments [default: SegmentOptions::default()].
    #[arg(long)]
    flush_zstd_level: Option<i32>,
    /// Rows per compaction segment (`compaction.target_segment_rows`).
    #[arg(long, default_value_t = 300_000, value_parser = clap::value_parser!(u64).range(1..))]
    compaction_rows: u64,
    /// zstd level of compaction segments [default: SegmentOptions::compaction()].
    #[arg(long)]
    compaction_zstd_level: Option<i32>,
    /// Rows per row group of compaction segments [default:
    /// SegmentOptions::compaction()].
    #[arg(long)]
    compaction_row_group_rows: Option<usize>,
    /// Skip the flush-shaped segments.
    #[arg(long)]
    no_flush: bool,
    /// Read every segment back and check that it restores every event.
    #[arg(long)]
    verify: bool,
    /// Write the results as JSON to this file.
    #[arg(long, value_name = "PATH")]
    json: Option<PathBuf>,
}

/// Rows of one data set, in arrival order, and the raw bytes they came from.
struct Dataset {
    name: &'static str,
    raw_bytes: u64,
    rows: Vec<SegmentRow>,
}

/// How one way of writing segments did on one data set.
#[derive(Debug, Serialize)]
struct ModeReport {
    mode: String,
    zstd_level: i32,
    row_group_rows: usize,
    rows_per_segment: u64,
    segments: usize,
    segment_bytes: u64,
    ratio: f64,
    bytes_per_row: f64,
    write_secs: f64,
    cpu_secs: Option<f64>,
    /// MB (1e6 B) of raw input per second of wall time.
    mb_per_sec: f64,
    /// MB of raw input per CPU-second (all threads of the process).
    mb_per_cpu_sec: Option<f64>,
    /// Per column, summed over the segments; then the skip index, then
    /// `(footer and page index)`: the rest of the files.
    columns: Vec<ColumnReport>,
    /// What the skip indexes hold, summed over the segments.
    skip_index: SkipReport,
}

/// The skip indexes' two Bloom filters (binary bytes, before base64).
#[derive(Debug, Default, Serialize)]
struct SkipReport {
    token_filter_bytes: u64,
    /// Largest estimated false positive rate of a segment's token filter.
    token_filter_max_fpp: f64,
    trace_id_filter_bytes: u64,
}

#[derive(Debug, Serialize)]
struct ColumnReport {
    name: String,
    compressed_bytes: u64,
    uncompressed_bytes: u64,
    bytes_per_row: f64,
    encodings: Vec<String>,
}

#[derive(Debug, Serialize)]
struct DatasetReport {
    dataset: &'static str,
    rows: usize,
    raw_bytes: u64,
    raw_bytes_per_row: f64,
    modes: Vec<ModeReport>,
}

/// Runs `strata bench compression`.
pub(crate) fn run(args: BenchCompressionArgs) -> anyhow::Result<()> {
    if args.events == 0 && args.files.is_empty() {
        bail!("nothing to measure: give --events N and/or text files");
    }
    let mut datasets = Vec::new();
    if args.events > 0 {
        eprintln!("bench: generating {} loadgen events", args.events);
        datasets.push(generate(
            args.events,
            args.seed,
            args.span_secs as i64 * 1000,
        )?);
    }
    if !args.files.is_empty() {
        datasets.push(read_files(&args.files)?);
    }
    let mut reports = Vec::new();
    for dataset in &datasets {
        let mut modes = Vec::new();
        if !args.no_flush {
            let mut options = SegmentOptions::default();
            options.zstd_level = args.flush_zstd_level.unwrap_or(options.zstd_level);
            modes.push(measure(
                dataset,
                "flush",
                &options,
                args.flush_rows,
                args.verify,
            )?);
        }
        let mut options = SegmentOptions::compaction();
        options.zstd_level = args.compaction_zstd_level.unwrap_or(options.zstd_level);
        options.row_group_rows = args
            .compaction_row_group_rows
            .unwrap_or(options.row_group_rows);
        modes.push(measure(
            dataset,
            "compaction",
            &options,
            args.compaction_rows,
            args.verify,
        )?);
        let report = DatasetReport {
            dataset: dataset.name,
            rows: dataset.rows.len(),
            raw_bytes: dataset.raw_bytes,
            raw_bytes_per_row: dataset.raw_bytes as f64 / dataset.rows.len().max(1) as f64,
            modes,
        };
        print!("{}", human(&report));
        reports.push(report);
    }
    if let Some(path) = &args.json {
        let json = serde_json::json!({ "benchmark": "compression", "datasets": reports });
        std::fs::write(path, serde_json::to_string_pretty(&json)? + "\n")
            .with_context(|| format!("writing {}", path.display()))?;
        eprintln!("bench: results written to {}", path.display());
    }
    Ok(())
}

/// `events` distinct loadgen events spread over one hour bucket, decoded as
/// the intake decodes them, on every core.
fn generate(events: u64, seed: u64, span_ms: i64) -> anyhow::Result<Dataset> {
    let count = events.div_ceil(BATCH as u64) as usize;
    let size = |i: usize| (events - (i * BATCH) as u64).min(BATCH as u64) as usize;
    // Batch i spreads its events over the i-th 1/count of the span, which
    // ends before the next hour bucket.
    let span = span_ms.min(HOUR_MS) - 1;
    let batch_now = |i: usize| HOUR_START_MS + ((i as i64 + 1) * span) / count as i64;
    let jitter_ms = (span / count as i64).max(1);
    let make = |i: usize| -> anyhow::Result<(u64, Vec<SegmentRow>)> {
        let mut rng = StdRng::seed_from_u64(strata_loadgen::batch_seed(seed, i as u64));
        let json =
            strata_loadgen::generate_batch_json_spread(&mut rng, size(i), batch_now(i), jitter_ms);
        // As NDJSON: "[a,b]" is two bytes longer than "a\nb\n" minus one.
        let raw = json.len() as u64 - 1;
        let request = LogsRequest::json(batch_now(i) * 1_000_000);
        let decoded = decode_logs(json.as_bytes(), &request)
            .map_err(|e| anyhow::anyhow!("decoding generated batch {i}: {e}"))?;
        Ok((raw, with_ids(i as u64 + 1, decoded)))
    };
    let batches = parallel(count, make)?;
    let mut dataset = Dataset {
        name: "loadgen",
        raw_bytes: 0,
        rows: Vec::with_capacity(events as usize),
    };
    for (raw, rows) in batches {
        dataset.raw_bytes += raw;
        dataset.rows.extend(rows);
    }
    Ok(dataset)
}

/// The rows of one intake request, ids as the memtable assigns them.
fn with_ids(seq: u64, events: Vec<strata_types::Event>) -> Vec<SegmentRow> {
    events
        .into_iter()
        .enumerate()
        .map(|(index, event)| SegmentRow {
            id: event_id(seq, index as u32),
            event,
        })
        .collect()
}

/// `make(0..count)` on every core, results in index order.
fn parallel<T: Send>(
    count: usize,
    make: impl Fn(usize) -> anyhow::Result<T> + Sync,
) -> anyhow::Result<Vec<T>> {
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, count.max(1));
    let next = AtomicUsize::new(0);
    let mut slots: Vec<Option<anyhow::Result<T>>> = (0..count).map(|_| None).collect();
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                let (make, next) = (&make, &next);
                scope.spawn(move || {
                    let mut done = Vec::new();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        if i >= count {
                            return done;
                        }
                        done.push((i, make(i)));
                    }
                })
            })
            .collect();
        for handle in handles {
            if let Ok(done) = handle.join() {
                for (i, result) in done {
                    slots[i] = Some(result);
                }
            }
        }
    });
    slots
        .into_iter()
        .map(|slot| slot.context("a worker thread panicked")?)
        .collect()
}

/// The files' lines as the text/plain intake decodes them, 1000 lines per
/// request, all received within the same hour.
fn read_files(files: &[PathBuf]) -> anyhow::Result<Dataset> {
    let mut dataset = Dataset {
        name: "files",
        raw_bytes: 0,
        rows: Vec::new(),
    };
    let mut seq = 0u64;
    for path in files {
        let text = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        dataset.raw_bytes += text.len() as u64;
        let system = system_name(path);
        let mut request = LogsRequest::json(0);
        request.format = BodyFormat::Lines;
        request.service = Some(system.clone());
        request.ddsource = Some(system);
        for chunk in lines_in_chunks(&text, BATCH) {
            seq += 1;
            // One request every 10 ms, as a sender of 1000-line bodies would.
            request.now_ns = (HOUR_START_MS + seq as i64 * 10) * 1_000_000;
            let events = decode_logs(chunk, &request)
                .map_err(|e| anyhow::anyhow!("decoding {}: {e}", path.display()))?;
            dataset.rows.extend(with_ids(seq, events));
        }
    }
    if dataset.rows.is_empty() {
        bail!("the files hold no line");
    }
    Ok(dataset)
}

/// The lower-cased name of the file's directory (`loghub/HDFS/HDFS_2k.log`
/// → `hdfs`), else of the file without its extension.
fn system_name(path: &Path) -> String {
    path.parent()
        .and_then(Path::file_name)
        .or_else(|| path.file_stem())
        .map_or_else(
            || "text".to_string(),
            |n| n.to_string_lossy().to_lowercase(),
        )
}

/// `text` cut after every `lines`-th newline.
fn lines_in_chunks(text: &[u8], lines: usize) -> Vec<&[u8]> {
    let mut chunks = Vec::new();
    let (mut start, mut seen) = (0, 0);
    for (i, &b) in text.iter().enumerate() {
        if b == b'\n' {
            seen += 1;
            if seen == lines {
                chunks.push(&text[start..=i]);
                (start, seen) = (i + 1, 0);
            }
        }
    }
    if start < text.len() {
        chunks.push(&text[start..]);
    }
    chunks
}

/// Writes `dataset` as segments of `rows_per_segment` rows with `options`,
/// one at a time, and sums their column sizes.
fn measure(
    dataset: &Dataset,
    mode: &str,
    options: &SegmentOptions,
    rows_per_segment: u64,
    verify: bool,
) -> anyhow::Result<ModeReport> {
    eprintln!(
        "bench: {} {mode}: zstd {}, {} rows per row group, {rows_per_segment} rows per segment",
        dataset.name, options.zstd_level, options.row_group_rows
    );
    let chunks: Vec<&[SegmentRow]> = dataset.rows.chunks(rows_per_segment as usize).collect();
    let mut files = Vec::with_capacity(chunks.len());
    let (mut write_secs, mut cpu_secs) = (0.0, Some(0.0));
    for chunk in &chunks {
        // Ownership as compaction has it; the clone is outside the clock.
        let rows = chunk.to_vec();
        let mut file = Vec::new();
        let cpu_before = process_cpu_secs();
        let started = Instant::now();
        write_segment(rows, options, &mut file).context("writing a segment")?;
        write_secs += started.elapsed().as_secs_f64();
        cpu_secs = match (cpu_secs, cpu_before, process_cpu_secs()) {
            (Some(total), Some(a), Some(b)) => Some(total + (b - a)),
            _ => None,
        };
        files.push(Bytes::from(file));
    }
    if verify {
        for (chunk, file) in chunks.iter().zip(&files) {
            check_round_trip(chunk, file.clone())?;
        }
        eprintln!(
            "bench: {} {mode}: every event read back intact",
            dataset.name
        );
    }
    let rows = dataset.rows.len();
    let segment_bytes: u64 = files.iter().map(|f| f.len() as u64).sum();
    let raw_mb = dataset.raw_bytes as f64 / 1e6;
    Ok(ModeReport {
        mode: mode.to_string(),
        zstd_level: options.zstd_level,
        row_group_rows: options.row_group_rows,
        rows_per_segment,
        segments: files.len(),
        segment_bytes,
        ratio: dataset.raw_bytes as f64 / segment_bytes as f64,
        bytes_per_row: segment_bytes as f64 / rows as f64,
        write_secs,
        cpu_secs,
        mb_per_sec: raw_mb / write_secs,
        mb_per_cpu_sec: cpu_secs.filter(|&c| c > 0.0).map(|c| raw_mb / c),
        columns: sum_columns(&files, rows)?,
        skip_index: skip_report(&files)?,
    })
}

fn skip_report(files: &[Bytes]) -> anyhow::Result<SkipReport> {
    let mut report = SkipReport::default();
    for file in files {
        let Some(skip) = strata_segment::read_skip_index(file.clone())? else {
            continue;
        };
        report.token_filter_bytes += skip.message_filter_bytes() as u64;
        report.token_filter_max_fpp = report.token_filter_max_fpp.max(skip.message_filter_fpp());
        report.trace_id_filter_bytes += skip.trace_id_filter_bytes() as u64;
    }
    Ok(report)
}

/// Column sizes summed over `files` by name, largest first, then the skip
/// index and the rest of the files.
fn sum_columns(files: &[Bytes], rows: usize) -> anyhow::Result<Vec<ColumnReport>> {
    let mut by_name: BTreeMap<String, ColumnReport> = BTreeMap::new();
    let mut rest = 0u64;
    for file in files {
        let mut counted = 0u64;
        for size in read_column_sizes(file).context("reading a segment footer")? {
            counted += size.compressed_bytes;
            let entry = by_name.entry(size.name.clone()).or_insert(ColumnReport {
                name: size.name,
                compressed_bytes: 0,
                uncompressed_bytes: 0,
                bytes_per_row: 0.0,
                encodings: Vec::new(),
            });
            entry.compressed_bytes += size.compressed_bytes;
            entry.uncompressed_bytes += size.uncompressed_bytes;
            for encoding in size.encodings {
                if !entry.encodings.contains(&encoding) {
                    entry.encodings.push(encoding);
                }
            }
        }
        rest += (file.len() as u64).saturating_sub(counted);
    }
    let skip = by_name.remove(ColumnSize::SKIP_INDEX);
    let mut columns: Vec<ColumnReport> = by_name.into_values().collect();
    columns.sort_by_key(|c| std::cmp::Reverse(c.compressed_bytes));
    columns.extend(skip);
    columns.push(ColumnReport {
        name: "(footer and page index)".to_string(),
        compressed_bytes: rest,
        uncompressed_bytes: rest,
        bytes_per_row: 0.0,
        encodings: Vec::new(),
    });
    for column in &mut columns {
        column.bytes_per_row = column.compressed_bytes as f64 / rows as f64;
    }
    Ok(columns)
}

/// Reads `file` back and checks it holds exactly `rows` (in any order,
/// attributes sorted by path as the reader returns them).
fn check_round_trip(rows: &[SegmentRow], file: Bytes) -> anyhow::Result<()> {
    let mut back = read_segment(file).context("reading a segment back")?;
    let mut expected: Vec<SegmentRow> = rows.to_vec();
    for row in &mut expected {
        row.event.attributes.sort_by(|a, b| a.0.cmp(&b.0));
    }
    expected.sort_by(|a, b| a.id.cmp(&b.id));
    back.sort_by(|a, b| a.id.cmp(&b.id));
    if back.len() != expected.len() {
        bail!("wrote {} rows, read {}", expected.len(), back.len());
    }
    for (want, got) in expected.iter().zip(&back) {
        if want != got {
            bail!(
                "event {} did not round-trip:\n wrote {want:?}\n read  {got:?}",
                want.id
            );
        }
    }
    Ok(())
}

/// User + system CPU time of this process (all threads), from
/// `/proc/self/stat` (Linux; `None` elsewhere). Clock ticks are 1/100 s.
fn process_cpu_secs() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the parenthesised command name: state is field 3, utime 14.
    let after = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = after.split(' ').collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / 100.0)
}

fn human(report: &DatasetReport) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "\n{}: {} rows, raw {} B ({:.1} B/row)",
        report.dataset, report.rows, report.raw_bytes, report.raw_bytes_per_row
    );
    for mode in &report.modes {
        let cpu = mode
            .mb_per_cpu_sec
            .map_or_else(|| "-".to_string(), |v| format!("{v:.1}"));
        let _ = writeln!(
            out,
            "  {:<10} zstd {:>2}, {} segments of <= {} rows: {} B, {:.2}x, {:.2} B/row; \
             write {:.2} s = {:.1} MB/s raw ({cpu} MB per CPU-s)",
            mode.mode,
            mode.zstd_level,
            mode.segments,
            mode.rows_per_segment,
            mode.segment_bytes,
            mode.ratio,
            mode.bytes_per_row,
            mode.write_secs,
            mode.mb_per_sec,
        );
        for column in &mode.columns {
            if column.bytes_per_row < 0.005 {
                continue;
            }
            let _ = writeln!(
                out,
                "    {:<28} {:>8.3} B/row  {:>12} B  (x{:.1})  {}",
                column.name,
                column.bytes_per_row,
                column.compressed_bytes,
                column.uncompressed_bytes as f64 / column.compressed_bytes.max(1) as f64,
                column.encodings.join(",")
            );
        }
        let skip = &mode.skip_index;
        let _ = writeln!(
            out,
            "    skip index filters: tokens {} B (fpp <= {:.2}%), trace ids {} B",
            skip.token_filter_bytes,
            skip.token_filter_max_fpp * 100.0,
            skip.trace_id_filter_bytes
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_cut_after_newlines() {
        let text = b"a\nb\nc\nd";
        let chunks = lines_in_chunks(text, 2);
        assert_eq!(chunks, vec![&b"a\nb\n"[..], &b"c\nd"[..]]);
        assert_eq!(lines_in_chunks(b"a\nb\n", 2), vec![&b"a\nb\n"[..]]);
        assert!(lines_in_chunks(b"", 2).is_empty());
    }

    #[test]
    fn systems_are_named_by_directory() {
        assert_eq!(
            system_name(Path::new("data/loghub/HDFS/HDFS_2k.log")),
            "hdfs"
        );
        assert_eq!(system_name(Path::new("x.log")), "x");
    }

    #[test]
    fn a_small_run_measures_both_data_sets() {
        let dataset = generate(2500, 7, HOUR_MS).unwrap();
        assert_eq!(dataset.rows.len(), 2500);
        let bucket = strata_types::hour_bucket(dataset.rows[0].event.timestamp_ns);
        assert!(dataset
            .rows
            .iter()
            .all(|r| strata_types::hour_bucket(r.event.timestamp_ns) == bucket));
        let report = measure(
            &dataset,
            "compaction",
            &SegmentOptions::compaction(),
            1000,
            true,
        )
        .unwrap();
        assert_eq!(report.segments, 3);
        assert!(report.ratio > 3.0, "{}", report.ratio);
        let total: u64 = report.columns.iter().map(|c| c.compressed_bytes).sum();
        assert_eq!(total, report.segment_bytes);
    }
}
