//! `strata metrics query` (`GET /api/v1/query`, the Datadog metrics query
//! API) and `strata metrics list` (`GET /api/v1/metrics`, the active metric
//! names): a table of series with their last, min, max and average, a
//! terminal sparkline per series, or the server's JSON as is.

use std::io::{Read, Write};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context};
use serde_json::Value;

use super::http::Client;
use super::table::{measure_text, Table};
use super::Connect;

const QUERY_PATH: &str = "/api/v1/query";
const LIST_PATH: &str = "/api/v1/metrics";
/// A query over a day of many series may take a while before the first byte.
const READ_TIMEOUT: Duration = Duration::from_secs(300);
/// The eight block heights, lowest first.
const BLOCKS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
/// Default sparkline width in characters.
const SPARKLINE_WIDTH: u16 = 60;

/// `strata metrics …`: the Datadog metrics read API of a running server.
#[derive(Debug, clap::Subcommand)]
pub(crate) enum MetricsCommand {
    /// Run a metrics query and print one row per series (or a sparkline).
    Query(MetricsQueryArgs),
    /// List the metric names that received points since --from.
    List(MetricsListArgs),
}

/// Run a Datadog metrics query (`GET /api/v1/query`) and print the series.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  strata metrics query 'avg:system.cpu.user{*}'
  strata metrics query 'avg:system.cpu.user{env:prod} by {service}' --from now-1d
  strata metrics query 'sum:http.requests{status_code:500}.as_count()' --sparkline
  strata metrics query 'max:system.load.1{*} by {host}' --json | jq '.series[].scope'

The table has one row per series: its scope (the group, e.g.
service:checkout-api, or * when not grouped), the number of non-null points,
and the last, min, max and average of those points (rounded to 3 decimals).
With --sparkline each series is a line of ▁▂▃▄▅▆▇█ blocks scaled to its own
min and max (blank where there is no data), about 60 characters wide, each
block the average of the points it covers. --json prints the server's answer
as is (series[].pointlist holds [milliseconds, value|null] pairs).
Times: now, now-30s, now-15m, now-1h, now-1d, now-2w, or unix seconds.")]
pub(crate) struct MetricsQueryArgs {
    #[command(flatten)]
    connect: Connect,
    /// Datadog metrics query, e.g. 'avg:system.cpu.user{env:prod} by {host}'.
    query: String,
    /// Start of the time range: now, now-15m, now-1h, now-1d, now-2w, or unix
    /// seconds.
    #[arg(long, default_value = "now-1h", value_name = "TIME")]
    from: String,
    /// End of the time range (same forms as --from).
    #[arg(long, default_value = "now", value_name = "TIME")]
    to: String,
    /// Print the server's JSON answer as is instead of a table.
    #[arg(long, conflicts_with = "sparkline")]
    json: bool,
    /// Print a sparkline per series instead of a table.
    #[arg(long)]
    sparkline: bool,
    /// Width of the sparklines, in characters.
    #[arg(long, value_name = "CHARS", default_value_t = SPARKLINE_WIDTH, requires = "sparkline",
          value_parser = clap::value_parser!(u16).range(1..=1000))]
    width: u16,
}

/// List the active metric names (`GET /api/v1/metrics`).
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  strata metrics list
  strata metrics list --from now-15m | grep '^system\\.'

One metric name per line, sorted; --json prints the server's answer as is.")]
pub(crate) struct MetricsListArgs {
    #[command(flatten)]
    connect: Connect,
    /// Only metrics with a point since then: now-15m, now-1h, now-1d, or unix
    /// seconds.
    #[arg(long, default_value = "now-1d", value_name = "TIME")]
    from: String,
    /// Print the server's JSON answer as is.
    #[arg(long)]
    json: bool,
}

pub(super) fn run(command: MetricsCommand) -> anyhow::Result<()> {
    match command {
        MetricsCommand::Query(args) => query(args),
        MetricsCommand::List(args) => list(args),
    }
}

fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// Parses `now`, `now-15m`, `now+1h` (units s, m, h, d, w) or unix seconds
/// into unix seconds. A 13-digit number is taken as milliseconds (what
/// `strata query` takes), since no one means the year 5138.
fn parse_time(text: &str, now_s: i64) -> Result<i64, String> {
    const MS_THRESHOLD: i64 = 100_000_000_000;
    let text = text.trim();
    let expected = "expected now, now-15m, now-1h, now-1d (units s, m, h, d, w) or unix seconds";
    if let Ok(number) = text.parse::<i64>() {
        if number < 0 {
            return Err(format!("{text:?}: a time cannot be negative"));
        }
        return Ok(if number >= MS_THRESHOLD {
            number / 1000
        } else {
            number
        });
    }
    if let Ok(number) = text.parse::<f64>() {
        if number.is_finite() && number >= 0.0 && number < MS_THRESHOLD as f64 {
            return Ok(number as i64);
        }
        return Err(format!("{text:?}: {expected}"));
    }
    let Some(rest) = text.strip_prefix("now") else {
        return Err(format!("{text:?}: {expected}"));
    };
    if rest.is_empty() {
        return Ok(now_s);
    }
    let (sign, offset) = match (rest.strip_prefix('-'), rest.strip_prefix('+')) {
        (Some(offset), _) => (-1, offset),
        (None, Some(offset)) => (1, offset),
        (None, None) => return Err(format!("{text:?}: {expected}")),
    };
    let Some(unit) = offset.chars().last() else {
        return Err(format!("{text:?}: {expected}"));
    };
    let seconds_per_unit = match unit {
        's' => 1,
        'm' => 60,
        'h' => 3_600,
        'd' => 86_400,
        'w' => 7 * 86_400,
        _ => return Err(format!("{text:?}: unknown unit {unit:?}; {expected}")),
    };
    let amount = offset
        .strip_suffix(unit)
        .and_then(|n| n.parse::<i64>().ok())
        .filter(|n| *n >= 0)
        .ok_or_else(|| format!("{text:?}: {expected}"))?;
    let seconds = amount
        .checked_mul(seconds_per_unit)
        .ok_or_else(|| format!("{text:?}: too far"))?;
    Ok(now_s.saturating_add(sign * seconds))
}

/// `--from`/`--to` to unix seconds, with the flag named in the error.
fn time_flag(flag: &str, text: &str, now_s: i64) -> anyhow::Result<i64> {
    parse_time(text, now_s).map_err(|e| anyhow::anyhow!("--{flag} {e}"))
}

/// GETs `path?params` and returns the body text (the error of a non-2xx
/// answer is the server's `errors`, made readable by [`Client`]).
fn get_text(client: &Client, path: &str, params: &[(&str, &str)]) -> anyhow::Result<String> {
    let mut reader = client.get_stream(path, params)?;
    let mut body = String::new();
    reader
        .read_to_string(&mut body)
        .with_context(|| format!("reading the answer of {path}"))?;
    Ok(body)
}

/// A 200 answer that still reports an error (`{"status":"error",
/// "error":"…"}`, as Datadog's v1 query API does).
fn answer_error(response: &Value) -> Option<String> {
    if let Some(error) = response.get("error").and_then(Value::as_str) {
        if !error.is_empty() {
            return Some(error.to_string());
        }
    }
    if let Some(errors) = response.get("errors").and_then(Value::as_array) {
        let messages: Vec<String> = errors
            .iter()
            .map(|e| e.as_str().map_or_else(|| e.to_string(), str::to_string))
            .collect();
        if !messages.is_empty() {
            return Some(messages.join("; "));
        }
    }
    (response.get("status").and_then(Value::as_str) == Some("error"))
        .then(|| "the server answered status \"error\"".to_string())
}

fn query(args: MetricsQueryArgs) -> anyhow::Result<()> {
    let now = now_secs();
    let from = time_flag("from", &args.from, now)?;
    let to = time_flag("to", &args.to, now)?;
    if to < from {
        bail!("--to ({}) is before --from ({})", args.to, args.from);
    }
    let client = Client::new(&args.connect, READ_TIMEOUT)?;
    let (from_text, to_text) = (from.to_string(), to.to_string());
    let params = [
        ("from", from_text.as_str()),
        ("to", to_text.as_str()),
        ("query", args.query.as_str()),
    ];
    let body = get_text(&client, QUERY_PATH, &params)?;
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let response: Value = serde_json::from_str(&body)
        .with_context(|| format!("the query answer is not JSON: {}", body.trim()))?;
    if let Some(error) = answer_error(&response) {
        bail!("the query failed: {error}");
    }
    if args.json {
        writeln!(out, "{}", body.trim_end())?;
        out.flush()?;
        return Ok(());
    }
    let series = parse_series(&response)?;
    if series.is_empty() {
        eprintln!(
            "no series match {:?} between {} and {}",
            args.query, args.from, args.to
        );
        return Ok(());
    }
    let text = if args.sparkline {
        sparkline_lines(&series, usize::from(args.width))
    } else {
        series_table(&series).render(None)
    };
    out.write_all(text.as_bytes())?;
    out.flush()?;
    let interval = response
        .pointer("/series/0/interval")
        .and_then(Value::as_i64)
        .map_or(String::new(), |s| format!(", {s} s per point"));
    // "series" is its own plural.
    eprintln!("({} series{interval})", series.len());
    Ok(())
}

fn list(args: MetricsListArgs) -> anyhow::Result<()> {
    let from = time_flag("from", &args.from, now_secs())?;
    let client = Client::new(&args.connect, READ_TIMEOUT)?;
    let from_text = from.to_string();
    let body = get_text(&client, LIST_PATH, &[("from", from_text.as_str())])?;
    let response: Value = serde_json::from_str(&body)
        .with_context(|| format!("the metrics list is not JSON: {}", body.trim()))?;
    if let Some(error) = answer_error(&response) {
        bail!("listing metrics failed: {error}");
    }
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    if args.json {
        writeln!(out, "{}", body.trim_end())?;
        out.flush()?;
        return Ok(());
    }
    let Some(names) = response.get("metrics").and_then(Value::as_array) else {
        bail!("the metrics list has no \"metrics\" array: {response}");
    };
    let mut names: Vec<&str> = names.iter().filter_map(Value::as_str).collect();
    names.sort_unstable();
    if names.is_empty() {
        eprintln!("no metric received a point since {}", args.from);
        return Ok(());
    }
    for name in &names {
        writeln!(out, "{name}")?;
    }
    out.flush()?;
    let plural = if names.len() == 1 { "" } else { "s" };
    eprintln!("({} metric{plural})", names.len());
    Ok(())
}

/// One series of a query answer.
#[derive(Debug, Clone, PartialEq)]
struct Series {
    /// `display_name`, else `metric`, else `expression`.
    name: String,
    /// `scope`, e.g. `service:web,env:prod` or `*`.
    scope: String,
    /// The values in time order; `None` for a null point.
    values: Vec<Option<f64>>,
}

impl Series {
    fn present(&self) -> impl Iterator<Item = f64> + '_ {
        self.values.iter().flatten().copied()
    }
}

/// `series[]` of a `/api/v1/query` answer.
fn parse_series(response: &Value) -> anyhow::Result<Vec<Series>> {
    let Some(items) = response.get("series").and_then(Value::as_array) else {
        bail!("the query answer has no \"series\" array: {response}");
    };
    let mut series = Vec::with_capacity(items.len());
    for item in items {
        let text = |key: &str| item.get(key).and_then(Value::as_str).unwrap_or("");
        let name = ["display_name", "metric", "expression"]
            .iter()
            .map(|key| text(key))
            .find(|v| !v.is_empty())
            .unwrap_or("")
            .to_string();
        let mut points: Vec<(f64, Option<f64>)> = Vec::new();
        let pointlist = item.get("pointlist").and_then(Value::as_array);
        for point in pointlist.into_iter().flatten() {
            let Some(pair) = point.as_array() else {
                continue;
            };
            let Some(ts) = pair.first().and_then(Value::as_f64) else {
                continue;
            };
            points.push((ts, pair.get(1).and_then(Value::as_f64)));
        }
        points.sort_by(|a, b| a.0.total_cmp(&b.0));
        series.push(Series {
            name,
            scope: match text("scope") {
                "" => "*".to_string(),
                scope => scope.to_string(),
            },
            values: points.into_iter().map(|(_, v)| v).collect(),
        });
    }
    Ok(series)
}

/// min, max, average and last of the non-null values.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Stats {
    count: usize,
    last: f64,
    min: f64,
    max: f64,
    avg: f64,
}

fn stats(series: &Series) -> Option<Stats> {
    let mut s = Stats {
        count: 0,
        last: f64::NAN,
        min: f64::INFINITY,
        max: f64::NEG_INFINITY,
        avg: 0.0,
    };
    let mut sum = 0.0;
    for v in series.present() {
        s.count += 1;
        s.last = v;
        s.min = s.min.min(v);
        s.max = s.max.max(v);
        sum += v;
    }
    if s.count == 0 {
        return None;
    }
    s.avg = sum / s.count as f64;
    Some(s)
}

fn number(v: f64) -> String {
    serde_json::Number::from_f64(v)
        .map_or_else(|| v.to_string(), |n| measure_text(&Value::Number(n)))
}

/// The table: a metric column only when the series are of several metrics.
fn series_table(series: &[Series]) -> Table {
    let several = series.iter().any(|s| s.name != series[0].name);
    let mut headers = Vec::new();
    if several {
        headers.push("metric");
    }
    headers.extend(["scope", "points", "last", "min", "max", "avg"]);
    let first_number = if several { 2 } else { 1 };
    let mut table = Table::new(headers);
    for column in first_number..first_number + 5 {
        table.align_right(column);
    }
    for s in series {
        let mut row = Vec::new();
        if several {
            row.push(s.name.clone());
        }
        row.push(s.scope.clone());
        match stats(s) {
            Some(st) => {
                row.push(st.count.to_string());
                row.extend([st.last, st.min, st.max, st.avg].map(number));
            }
            None => {
                row.push("0".to_string());
                row.extend(["-", "-", "-", "-"].map(str::to_string));
            }
        }
        table.push(row);
    }
    table
}

/// `values` as at most `width` blocks: each block is the average of the
/// non-null values it covers (blank when it covers none), scaled between
/// the lowest and highest block. A flat series is a row of middle blocks.
fn sparkline(values: &[Option<f64>], width: usize) -> String {
    if values.is_empty() || width == 0 {
        return String::new();
    }
    let columns = values.len().min(width);
    let mut cells: Vec<Option<f64>> = Vec::with_capacity(columns);
    for column in 0..columns {
        let start = column * values.len() / columns;
        let end = ((column + 1) * values.len() / columns).max(start + 1);
        let covered = values.get(start..end).unwrap_or(&[]);
        let present: Vec<f64> = covered.iter().flatten().copied().collect();
        cells.push(if present.is_empty() {
            None
        } else {
            Some(present.iter().sum::<f64>() / present.len() as f64)
        });
    }
    let present = cells.iter().flatten();
    let lo = present.clone().copied().fold(f64::INFINITY, f64::min);
    let hi = present.copied().fold(f64::NEG_INFINITY, f64::max);
    let top = BLOCKS.len() - 1;
    cells
        .iter()
        .map(|cell| match cell {
            None => ' ',
            Some(_) if hi <= lo => BLOCKS[top / 2],
            Some(v) => {
                let level = ((v - lo) / (hi - lo) * top as f64).round() as usize;
                BLOCKS[level.min(top)]
            }
        })
        .collect()
}

/// One line per series: scope, sparkline, then its range and last value.
fn sparkline_lines(series: &[Series], width: usize) -> String {
    let several = series.iter().any(|s| s.name != series[0].name);
    let label = |s: &Series| {
        if several {
            format!("{} {}", s.name, s.scope)
        } else {
            s.scope.clone()
        }
    };
    let label_width = series
        .iter()
        .map(|s| label(s).chars().count())
        .max()
        .unwrap_or(0)
        .min(40);
    let lines: Vec<String> = series.iter().map(|s| sparkline(&s.values, width)).collect();
    let line_width = lines.iter().map(|l| l.chars().count()).max().unwrap_or(0);
    let mut out = String::new();
    for (s, line) in series.iter().zip(&lines) {
        let name = super::table::truncate(&super::table::one_line(&label(s)), label_width);
        let padding = label_width - name.chars().count();
        let line_padding = line_width - line.chars().count();
        let range = match stats(s) {
            Some(st) => format!(
                "{}..{}  last {}",
                number(st.min),
                number(st.max),
                number(st.last)
            ),
            None => "no data".to_string(),
        };
        out.push_str(&format!(
            "{name}{}  {line}{}  {range}\n",
            " ".repeat(padding),
            " ".repeat(line_padding)
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const NOW: i64 = 1_700_000_000;

    #[test]
    fn relative_and_absolute_times_parse() {
        assert_eq!(parse_time("now", NOW), Ok(NOW));
        assert_eq!(parse_time(" now ", NOW), Ok(NOW));
        assert_eq!(parse_time("now-30s", NOW), Ok(NOW - 30));
        assert_eq!(parse_time("now-15m", NOW), Ok(NOW - 900));
        assert_eq!(parse_time("now-1h", NOW), Ok(NOW - 3_600));
        assert_eq!(parse_time("now-1d", NOW), Ok(NOW - 86_400));
        assert_eq!(parse_time("now-2w", NOW), Ok(NOW - 14 * 86_400));
        assert_eq!(parse_time("now+5m", NOW), Ok(NOW + 300));
        assert_eq!(parse_time("1699990000", NOW), Ok(1_699_990_000));
        assert_eq!(parse_time("1699990000.7", NOW), Ok(1_699_990_000));
        // Milliseconds, as `strata query` takes them.
        assert_eq!(parse_time("1699990000123", NOW), Ok(1_699_990_000));
    }

    #[test]
    fn bad_times_are_explained() {
        for bad in [
            "",
            "yesterday",
            "now-",
            "now-1y",
            "now-m",
            "now--1h",
            "now-1.5h",
            "-5",
            "now*2",
            "nowish",
        ] {
            let err = parse_time(bad, NOW).unwrap_err();
            assert!(
                err.contains("now-15m") || err.contains("negative"),
                "{bad}: {err}"
            );
        }
        let err = time_flag("from", "soon", NOW).unwrap_err().to_string();
        assert!(err.starts_with("--from \"soon\""), "{err}");
    }

    #[test]
    fn sparkline_scales_between_min_and_max() {
        let ramp: Vec<Option<f64>> = (0..8).map(|v| Some(f64::from(v))).collect();
        assert_eq!(sparkline(&ramp, 60), "▁▂▃▄▅▆▇█");
        let down: Vec<Option<f64>> = (0..8).rev().map(|v| Some(f64::from(v) * 10.0)).collect();
        assert_eq!(sparkline(&down, 60), "█▇▆▅▄▃▂▁");
        // Nulls are blanks; a flat series sits in the middle.
        assert_eq!(sparkline(&[Some(1.0), None, Some(3.0)], 60), "▁ █");
        assert_eq!(sparkline(&[Some(5.0); 4], 60), "▄▄▄▄");
        assert_eq!(sparkline(&[None, None], 60), "  ");
        assert_eq!(sparkline(&[], 60), "");
        assert_eq!(sparkline(&[Some(-2.0), Some(2.0)], 60), "▁█");
    }

    #[test]
    fn sparkline_downsamples_to_the_width() {
        // 360 points (an hour at 10 s) into 60 blocks of 6 points each.
        let values: Vec<Option<f64>> = (0..360).map(|i| Some(f64::from(i / 6))).collect();
        let line = sparkline(&values, 60);
        assert_eq!(line.chars().count(), 60);
        assert!(line.starts_with('▁') && line.ends_with('█'), "{line}");
        // A block is blank only when all of its points are null.
        let mut gappy: Vec<Option<f64>> = vec![Some(1.0); 120];
        for v in gappy.iter_mut().take(4) {
            *v = None;
        }
        gappy[5] = None;
        let line = sparkline(&gappy, 30);
        assert_eq!(line.chars().count(), 30);
        assert!(line.starts_with(' '), "{line:?}");
        assert_eq!(line.chars().filter(|c| *c == ' ').count(), 1, "{line:?}");
        // Fewer points than the width: one block per point.
        assert_eq!(sparkline(&[Some(1.0), Some(2.0)], 60).chars().count(), 2);
        assert_eq!(sparkline(&values, 7).chars().count(), 7);
    }

    fn answer() -> Value {
        json!({
            "status": "ok", "res_type": "time_series", "query": "avg:cpu{*} by {host}",
            "series": [
                {"metric": "cpu", "display_name": "cpu", "scope": "host:a", "tag_set": ["host:a"],
                 "interval": 20, "pointlist": [[1000, 1.0], [2000, null], [3000, 4.5]]},
                {"metric": "cpu", "display_name": "cpu", "scope": "host:bb", "tag_set": ["host:bb"],
                 "interval": 20, "pointlist": [[1000, null]]}
            ]
        })
    }

    #[test]
    fn table_has_one_row_per_series() {
        let series = parse_series(&answer()).unwrap();
        assert_eq!(series[0].values, [Some(1.0), None, Some(4.5)]);
        assert_eq!(
            series_table(&series).render(None),
            "scope    points  last  min  max   avg\n\
             host:a        2   4.5    1  4.5  2.75\n\
             host:bb       0     -    -    -     -\n"
        );
        let lines = sparkline_lines(&series, 60);
        assert_eq!(
            lines,
            "host:a   ▁ █  1..4.5  last 4.5\nhost:bb       no data\n"
        );
    }

    #[test]
    fn several_metrics_get_a_metric_column() {
        let response = json!({"series": [
            {"metric": "a", "scope": "*", "pointlist": [[2, 2.0], [1, 1.0]]},
            {"expression": "a / b", "pointlist": []}
        ]});
        let series = parse_series(&response).unwrap();
        assert_eq!(series[0].values, [Some(1.0), Some(2.0)], "sorted by time");
        assert_eq!(series[1].scope, "*");
        let text = series_table(&series).render(None);
        assert!(text.starts_with("metric  scope  points"), "{text}");
        assert!(text.contains("a / b"), "{text}");
        assert!(parse_series(&json!({"status": "ok"})).is_err());
    }

    #[test]
    fn error_answers_are_recognised() {
        assert_eq!(answer_error(&answer()), None);
        assert_eq!(answer_error(&json!({"errors": []})), None);
        assert_eq!(
            answer_error(&json!({"errors": ["bad query: unexpected '}'"]})),
            Some("bad query: unexpected '}'".to_string())
        );
        assert_eq!(
            answer_error(&json!({"status": "error", "error": "no such metric"})),
            Some("no such metric".to_string())
        );
        assert!(answer_error(&json!({"status": "error"})).is_some());
    }
}
