//! `strata aggregate`: `POST /api/v2/logs/analytics/aggregate`, its
//! `--compute` specs and the bucket table.

use std::fmt;
use std::io::Write;
use std::time::Duration;

use serde_json::{json, Value};

use super::http::Client;
use super::table::{measure_text, value_text, Table};
use super::{warn_about_meta, AggregateArgs};

const AGGREGATE_PATH: &str = "/api/v2/logs/analytics/aggregate";
const READ_TIMEOUT: Duration = Duration::from_secs(300);

/// The Datadog aggregation functions (`LogsAggregationFunction`).
const AGGREGATIONS: [&str; 12] = [
    "count",
    "cardinality",
    "sum",
    "min",
    "max",
    "avg",
    "median",
    "pc75",
    "pc90",
    "pc95",
    "pc98",
    "pc99",
];

/// One `--compute`: `count`, `pc99:@duration` or `pc99(@duration)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct ComputeSpec {
    aggregation: &'static str,
    metric: Option<String>,
}

impl ComputeSpec {
    fn count() -> ComputeSpec {
        ComputeSpec {
            aggregation: "count",
            metric: None,
        }
    }

    /// Parses a `--compute` value; the error is shown by clap as is.
    pub(super) fn parse(spec: &str) -> Result<ComputeSpec, String> {
        let spec = spec.trim();
        let (name, metric) =
            if let Some(inner) = spec.strip_suffix(')').and_then(|rest| rest.split_once('(')) {
                (inner.0, Some(inner.1))
            } else if let Some((name, metric)) = spec.split_once(':') {
                (name, Some(metric))
            } else {
                (spec, None)
            };
        let name = name.trim().to_ascii_lowercase();
        let Some(aggregation) = AGGREGATIONS.iter().find(|known| **known == name) else {
            return Err(format!(
                "unknown aggregation {name:?}; expected one of {}",
                AGGREGATIONS.join(", ")
            ));
        };
        let metric = match metric.map(str::trim) {
            Some("") => return Err(format!("{spec:?}: the metric after {name} is empty")),
            Some(metric) => Some(metric.to_string()),
            None => None,
        };
        if metric.is_none() && *aggregation != "count" {
            return Err(format!(
                "{name} needs a metric, e.g. {name}:@duration (only count works without one)"
            ));
        }
        Ok(ComputeSpec {
            aggregation,
            metric,
        })
    }

    /// The `compute[]` item of the request.
    fn to_json(&self, interval: Option<&str>) -> Value {
        let mut compute = json!({ "aggregation": self.aggregation });
        if let Some(metric) = &self.metric {
            compute["metric"] = json!(metric);
        }
        match interval {
            Some(interval) => {
                compute["type"] = json!("timeseries");
                compute["interval"] = json!(interval);
            }
            None => compute["type"] = json!("total"),
        }
        compute
    }
}

/// The column header: `count`, `pc99(@duration)`.
impl fmt::Display for ComputeSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.metric {
            Some(metric) => write!(f, "{}({metric})", self.aggregation),
            None => f.write_str(self.aggregation),
        }
    }
}

pub(super) fn run(args: AggregateArgs) -> anyhow::Result<()> {
    let client = Client::new(&args.connect, READ_TIMEOUT)?;
    let computes = effective_computes(&args);
    let body = aggregate_request(&args, &computes);
    let response = client.post_json(AGGREGATE_PATH, &body)?;
    warn_about_meta(&response);
    let Some(buckets) = response.pointer("/data/buckets").and_then(Value::as_array) else {
        anyhow::bail!("the aggregate answer has no data.buckets array: {response}");
    };
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    if args.json {
        for bucket in buckets {
            writeln!(out, "{bucket}")?;
        }
        out.flush()?;
        return Ok(());
    }
    if buckets.is_empty() {
        eprintln!(
            "no logs match {:?} between {} and {}",
            args.query, args.from, args.to
        );
        return Ok(());
    }
    let timeseries = args.interval.is_some() || has_series(buckets);
    let table = bucket_table(&args.group_by, &computes, timeseries, buckets);
    out.write_all(table.render(None).as_bytes())?;
    out.flush()?;
    Ok(())
}

fn effective_computes(args: &AggregateArgs) -> Vec<ComputeSpec> {
    if args.computes.is_empty() {
        return vec![ComputeSpec::count()];
    }
    args.computes.clone()
}

/// The Datadog aggregate body: every compute a total, or a timeseries with
/// `--interval`; every group the top `--limit` by count.
fn aggregate_request(args: &AggregateArgs, computes: &[ComputeSpec]) -> Value {
    let interval = args.interval.as_deref();
    let compute: Vec<Value> = computes.iter().map(|c| c.to_json(interval)).collect();
    let mut body = json!({
        "compute": compute,
        "filter": { "query": args.query, "from": args.from, "to": args.to },
    });
    if !args.group_by.is_empty() {
        let group_by: Vec<Value> = args
            .group_by
            .iter()
            .map(|facet| {
                json!({
                    "facet": facet,
                    "limit": args.limit,
                    "sort": { "aggregation": "count", "order": "desc" },
                })
            })
            .collect();
        body["group_by"] = json!(group_by);
    }
    body
}

/// Whether some compute came back as a `[{time, value}]` list.
fn has_series(buckets: &[Value]) -> bool {
    buckets.iter().any(|bucket| {
        bucket
            .get("computes")
            .and_then(Value::as_object)
            .is_some_and(|computes| computes.values().any(Value::is_array))
    })
}

/// The value of compute `index` (`c0`, `c1`, …) in a bucket.
fn compute_value(bucket: &Value, index: usize) -> &Value {
    bucket
        .get("computes")
        .and_then(|computes| computes.get(format!("c{index}")))
        .unwrap_or(&Value::Null)
}

/// One row per bucket (the `by` values, then the computes); for
/// timeseries one row per bucket and time step, with a `time` column.
fn bucket_table(
    group_by: &[String],
    computes: &[ComputeSpec],
    timeseries: bool,
    buckets: &[Value],
) -> Table {
    let mut headers: Vec<String> = group_by.to_vec();
    if timeseries {
        headers.push("time".to_string());
    }
    let first_compute = headers.len();
    headers.extend(computes.iter().map(ComputeSpec::to_string));
    let mut table = Table::new(headers);
    for column in first_compute..first_compute + computes.len() {
        table.align_right(column);
    }
    for bucket in buckets {
        let by: Vec<String> = group_by
            .iter()
            .map(|facet| {
                let value = bucket.get("by").and_then(|by| by.get(facet));
                value_text(value.unwrap_or(&Value::Null), "-")
            })
            .collect();
        if !timeseries {
            let mut row = by;
            row.extend((0..computes.len()).map(|i| measure_text(compute_value(bucket, i))));
            table.push(row);
            continue;
        }
        for (time, values) in series_rows(bucket, computes.len()) {
            let mut row = by.clone();
            row.push(time);
            row.extend(values);
            table.push(row);
        }
    }
    table
}

/// A bucket's timeseries computes joined on `time`, in the server's order:
/// `(time, [value of c0, value of c1, …])`. A compute that is a single
/// value lands on a `-` time row; a bucket without any point still gets
/// one row, so that it shows.
fn series_rows(bucket: &Value, count: usize) -> Vec<(String, Vec<String>)> {
    fn row_for(rows: &mut Vec<(String, Vec<String>)>, time: String, count: usize) -> usize {
        if let Some(index) = rows.iter().position(|(t, _)| *t == time) {
            return index;
        }
        rows.push((time, vec!["-".to_string(); count]));
        rows.len() - 1
    }
    let mut rows: Vec<(String, Vec<String>)> = Vec::new();
    for compute in 0..count {
        let value = compute_value(bucket, compute);
        let Some(points) = value.as_array() else {
            if !value.is_null() {
                let index = row_for(&mut rows, "-".to_string(), count);
                rows[index].1[compute] = measure_text(value);
            }
            continue;
        };
        for point in points {
            let time = value_text(point.get("time").unwrap_or(&Value::Null), "-");
            let index = row_for(&mut rows, time, count);
            rows[index].1[compute] = measure_text(point.get("value").unwrap_or(&Value::Null));
        }
    }
    if rows.is_empty() {
        rows.push(("-".to_string(), vec!["-".to_string(); count]));
    }
    rows
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        args: AggregateArgs,
    }

    fn parse_args(argv: &[&str]) -> AggregateArgs {
        let mut full = vec!["strata-aggregate"];
        full.extend_from_slice(argv);
        Cli::try_parse_from(full).unwrap().args
    }

    fn spec(text: &str) -> ComputeSpec {
        ComputeSpec::parse(text).unwrap()
    }

    #[test]
    fn compute_specs_parse() {
        assert_eq!(spec("count"), ComputeSpec::count());
        assert_eq!(
            spec("pc99:@duration"),
            ComputeSpec {
                aggregation: "pc99",
                metric: Some("@duration".into())
            }
        );
        assert_eq!(spec("pc99(@duration)"), spec("pc99:@duration"));
        assert_eq!(spec(" AVG : @http.latency "), spec("avg:@http.latency"));
        assert_eq!(
            spec("cardinality:service").to_string(),
            "cardinality(service)"
        );
        assert_eq!(spec("count:@x").to_string(), "count(@x)");
        // A metric may itself hold a colon.
        assert_eq!(spec("max:@a:b").metric.as_deref(), Some("@a:b"));
        assert_eq!(spec("count").to_string(), "count");
        assert_eq!(spec("pc99:@duration").to_string(), "pc99(@duration)");
    }

    #[test]
    fn bad_compute_specs_say_why() {
        let error = ComputeSpec::parse("p99:@duration").unwrap_err();
        assert!(error.contains("unknown aggregation \"p99\""), "{error}");
        assert!(error.contains("pc99"), "{error}");
        let error = ComputeSpec::parse("avg").unwrap_err();
        assert!(error.contains("avg:@duration"), "{error}");
        assert!(ComputeSpec::parse("avg:").is_err());
        assert!(ComputeSpec::parse("avg()").is_err());
        assert!(ComputeSpec::parse("").is_err());
    }

    #[test]
    fn request_has_computes_filter_and_groups() {
        let args = parse_args(&[
            "status:error",
            "--compute",
            "count",
            "--compute",
            "pc99:@duration",
            "--group-by",
            "service",
            "--group-by",
            "host",
            "--limit",
            "5",
        ]);
        let computes = effective_computes(&args);
        assert_eq!(
            aggregate_request(&args, &computes),
            json!({
                "compute": [
                    {"aggregation": "count", "type": "total"},
                    {"aggregation": "pc99", "metric": "@duration", "type": "total"}
                ],
                "filter": {"query": "status:error", "from": "now-15m", "to": "now"},
                "group_by": [
                    {"facet": "service", "limit": 5, "sort": {"aggregation": "count", "order": "desc"}},
                    {"facet": "host", "limit": 5, "sort": {"aggregation": "count", "order": "desc"}}
                ]
            })
        );
    }

    #[test]
    fn interval_makes_timeseries_and_count_is_the_default() {
        let args = parse_args(&["--interval", "5m"]);
        let computes = effective_computes(&args);
        let body = aggregate_request(&args, &computes);
        assert_eq!(
            body["compute"],
            json!([{"aggregation": "count", "type": "timeseries", "interval": "5m"}])
        );
        assert_eq!(body["filter"]["query"], "*");
        assert!(body.get("group_by").is_none());
        let error = Cli::try_parse_from(["x", "--compute", "avg"]).unwrap_err();
        assert!(error.to_string().contains("avg needs a metric"), "{error}");
    }

    #[test]
    fn total_buckets_print_one_row_each() {
        let buckets = json!([
            {"by": {"service": "web", "status": "error"}, "computes": {"c0": 12, "c1": 250.123456}},
            {"by": {"service": "checkout", "status": 500}, "computes": {"c0": 3, "c1": null}}
        ]);
        let computes = [spec("count"), spec("avg:@duration")];
        let group_by = ["service".to_string(), "status".to_string()];
        let table = bucket_table(&group_by, &computes, false, buckets.as_array().unwrap());
        assert_eq!(
            table.render(None),
            "service   status  count  avg(@duration)\n\
             web       error      12         250.123\n\
             checkout  500         3               -\n"
        );
    }

    #[test]
    fn timeseries_buckets_print_a_row_per_step() {
        let buckets = json!([
            {"by": {"service": "web"}, "computes": {
                "c0": [{"time": "2024-05-01T10:00:00.000Z", "value": 3},
                       {"time": "2024-05-01T10:05:00.000Z", "value": 4}],
                "c1": [{"time": "2024-05-01T10:05:00.000Z", "value": 1.5}]
            }},
            {"by": {"service": "db"}, "computes": {"c0": [], "c1": []}}
        ]);
        let buckets = buckets.as_array().unwrap();
        assert!(has_series(buckets));
        let computes = [spec("count"), spec("max:@duration")];
        let table = bucket_table(&["service".to_string()], &computes, true, buckets);
        assert_eq!(
            table.render(None),
            "service  time                      count  max(@duration)\n\
             web      2024-05-01T10:00:00.000Z      3               -\n\
             web      2024-05-01T10:05:00.000Z      4             1.5\n\
             db       -                             -               -\n"
        );
    }

    #[test]
    fn no_group_by_is_one_total_row() {
        let buckets = json!([{"by": {}, "computes": {"c0": 42}}]);
        let buckets = buckets.as_array().unwrap();
        assert!(!has_series(buckets));
        let table = bucket_table(&[], &[spec("count")], false, buckets);
        assert_eq!(table.render(None), "count\n   42\n");
    }
}
