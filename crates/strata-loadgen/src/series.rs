//! The metric series a `--metrics` run sends, and their values over time.
//!
//! A real Agent host reports about a hundred series: CPU, load, memory,
//! disks and I/O by device, network by interface, request counts by endpoint
//! and status, latencies, runtime and container metrics. [`SeriesCatalog`]
//! draws `N` series host by host from such a per-host list ([`HOST_SERIES`]),
//! so `N = 10,000` is about 100 hosts, each with the tags an Agent attaches
//! (`env`, `service`, `version`, `region`, `availability-zone`) plus the
//! series' own dimensions (`device`, `endpoint`, `status_code`, ...).
//! DogStatsD traffic uses [`SeriesCatalog::statsd`] instead: application
//! metrics (counters, gauges, histograms, distributions) by pod.
//!
//! Values are a pure function of (series, timestamp): a per-series baseline,
//! a daily cycle and noise, so the same point always has the same value,
//! whichever payload carries it. Counts are integers, percentages stay in
//! 0..=100.

use std::f64::consts::TAU;

use crate::gen::mix64;

/// How a series' points are read (the `MetricPayload` type, or the
/// DogStatsD type for [`SeriesCatalog::statsd`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricKind {
    /// A value at a point in time (protobuf type 3, DogStatsD `g`).
    Gauge,
    /// Events over the interval (protobuf type 1, DogStatsD `c`).
    Count,
    /// Events per second over the interval (protobuf type 2).
    Rate,
    /// DogStatsD `h`: one sample per line, aggregated by the server.
    Histogram,
    /// DogStatsD `d`: one sample per line, kept as a sketch.
    Distribution,
}

impl MetricKind {
    /// The `MetricPayload.MetricType` number (histograms and distributions,
    /// which only exist on DogStatsD, read as gauges).
    pub fn protobuf_type(self) -> i32 {
        match self {
            MetricKind::Count => 1,
            MetricKind::Rate => 2,
            MetricKind::Gauge | MetricKind::Histogram | MetricKind::Distribution => 3,
        }
    }

    /// The DogStatsD type symbol (rates are sent as gauges).
    pub fn statsd_symbol(self) -> &'static str {
        match self {
            MetricKind::Count => "c",
            MetricKind::Gauge | MetricKind::Rate => "g",
            MetricKind::Histogram => "h",
            MetricKind::Distribution => "d",
        }
    }
}

/// The shape of a series' values.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Profile {
    /// A percentage between `lo` and `hi` (baseline), clamped to 0..=100.
    Percent { lo: f64, hi: f64 },
    /// A non-negative level around a baseline in `lo..hi`.
    Level { lo: f64, hi: f64 },
    /// An integer count per interval around a baseline in `lo..hi`.
    Count { lo: f64, hi: f64 },
    /// A constant (e.g. `datadog.agent.running`).
    Constant(f64),
}

/// One entry of a per-host (or per-pod) series list.
#[derive(Debug, Clone, Copy)]
struct Template {
    metric: &'static str,
    kind: MetricKind,
    unit: &'static str,
    /// Tag dimensions, expanded as a cartesian product.
    dims: &'static [(&'static str, &'static [&'static str])],
    profile: Profile,
}

const IO_DEVICES: &[&str] = &["nvme0n1", "nvme1n1"];
const DISKS: &[&str] = &["/dev/nvme0n1p1", "/dev/nvme1n1"];
const INTERFACES: &[&str] = &["eth0", "eth1"];
const ENDPOINTS: &[&str] = &[
    "GET /api/v1/users",
    "POST /api/v1/orders",
    "GET /api/v1/products",
    "GET /health",
    "POST /api/v1/login",
    "GET /api/v1/cart",
];
const STATUS_CODES: &[&str] = &["200", "404", "500"];
const CONTAINERS: &[&str] = &["app", "sidecar-proxy", "log-shipper"];

const fn t(
    metric: &'static str,
    kind: MetricKind,
    unit: &'static str,
    dims: &'static [(&'static str, &'static [&'static str])],
    profile: Profile,
) -> Template {
    Template {
        metric,
        kind,
        unit,
        dims,
        profile,
    }
}

/// Short name for the template tables.
use MetricKind as K;

const fn pct(lo: f64, hi: f64) -> Profile {
    Profile::Percent { lo, hi }
}
const fn lvl(lo: f64, hi: f64) -> Profile {
    Profile::Level { lo, hi }
}
const fn cnt(lo: f64, hi: f64) -> Profile {
    Profile::Count { lo, hi }
}

/// What one Agent host reports (101 series once the dimensions are
/// expanded), modelled on the Agent's system check, the `http` and `trace`
/// metrics of an instrumented service, and the container check.
pub const HOST_SERIES: usize = 101;

const HOST_TEMPLATES: &[Template] = &[
    t("system.cpu.user", K::Gauge, "percent", &[], pct(5.0, 60.0)),
    t(
        "system.cpu.system",
        K::Gauge,
        "percent",
        &[],
        pct(2.0, 15.0),
    ),
    t("system.cpu.idle", K::Gauge, "percent", &[], pct(20.0, 90.0)),
    t("system.cpu.iowait", K::Gauge, "percent", &[], pct(0.0, 5.0)),
    t("system.cpu.stolen", K::Gauge, "percent", &[], pct(0.0, 1.0)),
    t("system.load.1", K::Gauge, "", &[], lvl(0.2, 4.0)),
    t("system.load.5", K::Gauge, "", &[], lvl(0.2, 3.5)),
    t("system.load.15", K::Gauge, "", &[], lvl(0.2, 3.0)),
    t(
        "system.mem.used",
        K::Gauge,
        "mebibyte",
        &[],
        lvl(2_000.0, 28_000.0),
    ),
    t(
        "system.mem.free",
        K::Gauge,
        "mebibyte",
        &[],
        lvl(500.0, 8_000.0),
    ),
    t(
        "system.mem.usable",
        K::Gauge,
        "mebibyte",
        &[],
        lvl(1_000.0, 12_000.0),
    ),
    t(
        "system.mem.pct_usable",
        K::Gauge,
        "fraction",
        &[],
        lvl(0.1, 0.8),
    ),
    t(
        "system.swap.used",
        K::Gauge,
        "mebibyte",
        &[],
        lvl(0.0, 50.0),
    ),
    t(
        "system.disk.in_use",
        K::Gauge,
        "fraction",
        &[("device", DISKS)],
        lvl(0.1, 0.9),
    ),
    t(
        "system.disk.used",
        K::Gauge,
        "kibibyte",
        &[("device", DISKS)],
        lvl(1e7, 4e8),
    ),
    t(
        "system.disk.free",
        K::Gauge,
        "kibibyte",
        &[("device", DISKS)],
        lvl(1e7, 4e8),
    ),
    t(
        "system.io.r_s",
        K::Gauge,
        "request",
        &[("device", IO_DEVICES)],
        lvl(0.0, 200.0),
    ),
    t(
        "system.io.w_s",
        K::Gauge,
        "request",
        &[("device", IO_DEVICES)],
        lvl(1.0, 400.0),
    ),
    t(
        "system.io.util",
        K::Gauge,
        "percent",
        &[("device", IO_DEVICES)],
        pct(0.5, 40.0),
    ),
    t(
        "system.net.bytes_rcvd",
        K::Rate,
        "byte",
        &[("device", INTERFACES)],
        lvl(1e4, 5e7),
    ),
    t(
        "system.net.bytes_sent",
        K::Rate,
        "byte",
        &[("device", INTERFACES)],
        lvl(1e4, 5e7),
    ),
    t(
        "system.net.packets_in.count",
        K::Rate,
        "packet",
        &[("device", INTERFACES)],
        lvl(10.0, 4e4),
    ),
    t(
        "system.net.packets_out.count",
        K::Rate,
        "packet",
        &[("device", INTERFACES)],
        lvl(10.0, 4e4),
    ),
    t("system.uptime", K::Gauge, "second", &[], lvl(1e5, 3e6)),
    t(
        "system.processes.count",
        K::Gauge,
        "process",
        &[],
        lvl(150.0, 600.0),
    ),
    t("ntp.offset", K::Gauge, "second", &[], lvl(0.0, 0.01)),
    t(
        "datadog.agent.running",
        K::Gauge,
        "",
        &[],
        Profile::Constant(1.0),
    ),
    t(
        "http.requests",
        K::Count,
        "request",
        &[("endpoint", ENDPOINTS), ("status_code", STATUS_CODES)],
        cnt(0.0, 2_000.0),
    ),
    t(
        "http.request.duration.avg",
        K::Gauge,
        "millisecond",
        &[("endpoint", ENDPOINTS)],
        lvl(2.0, 120.0),
    ),
    t(
        "http.request.duration.max",
        K::Gauge,
        "millisecond",
        &[("endpoint", ENDPOINTS)],
        lvl(20.0, 2_000.0),
    ),
    t(
        "http.request.duration.95percentile",
        K::Gauge,
        "millisecond",
        &[("endpoint", ENDPOINTS)],
        lvl(10.0, 600.0),
    ),
    t(
        "runtime.go.num_goroutine",
        K::Gauge,
        "",
        &[],
        lvl(20.0, 5_000.0),
    ),
    t(
        "runtime.go.mem_stats.heap_alloc",
        K::Gauge,
        "byte",
        &[],
        lvl(1e7, 2e9),
    ),
    t(
        "runtime.go.gc_stats.pause_quantiles.95percentile",
        K::Gauge,
        "nanosecond",
        &[],
        lvl(1e4, 5e6),
    ),
    t(
        "container.cpu.usage",
        K::Gauge,
        "nanocore",
        &[("container_name", CONTAINERS)],
        lvl(1e6, 2e9),
    ),
    t(
        "container.memory.usage",
        K::Gauge,
        "byte",
        &[("container_name", CONTAINERS)],
        lvl(2e7, 4e9),
    ),
    t(
        "docker.containers.running",
        K::Gauge,
        "",
        &[],
        lvl(3.0, 40.0),
    ),
    t(
        "trace.http.request.hits",
        K::Count,
        "hit",
        &[("resource_name", ENDPOINTS)],
        cnt(0.0, 2_500.0),
    ),
    t(
        "trace.http.request.errors",
        K::Count,
        "error",
        &[("resource_name", ENDPOINTS)],
        cnt(0.0, 40.0),
    ),
    t(
        "trace.http.request.duration",
        K::Gauge,
        "second",
        &[("resource_name", ENDPOINTS)],
        lvl(0.001, 0.5),
    ),
];

const QUEUES: &[&str] = &["orders", "emails", "payments", "webhooks"];
const ROUTES: &[&str] = &["/", "/search", "/checkout", "/product/:id", "/cart"];
const RESULTS: &[&str] = &["ok", "error"];
const CACHES: &[&str] = &["sessions", "catalog"];

/// Application metrics one pod sends over DogStatsD (38 contexts).
const POD_TEMPLATES: &[Template] = &[
    t(
        "app.page.views",
        K::Count,
        "",
        &[("route", ROUTES)],
        cnt(1.0, 5.0),
    ),
    t(
        "app.request.latency",
        K::Histogram,
        "millisecond",
        &[("route", ROUTES)],
        lvl(2.0, 300.0),
    ),
    t(
        "app.request.size",
        K::Distribution,
        "byte",
        &[("route", ROUTES)],
        lvl(200.0, 20_000.0),
    ),
    t(
        "app.jobs.processed",
        K::Count,
        "",
        &[("queue", QUEUES), ("result", RESULTS)],
        cnt(1.0, 3.0),
    ),
    t(
        "app.queue.depth",
        K::Gauge,
        "",
        &[("queue", QUEUES)],
        lvl(0.0, 5_000.0),
    ),
    t(
        "app.job.duration",
        K::Distribution,
        "millisecond",
        &[("queue", QUEUES)],
        lvl(5.0, 4_000.0),
    ),
    t(
        "app.cache.hits",
        K::Count,
        "",
        &[("cache", CACHES)],
        cnt(1.0, 10.0),
    ),
    t(
        "app.cache.misses",
        K::Count,
        "",
        &[("cache", CACHES)],
        cnt(1.0, 3.0),
    ),
    t(
        "app.db.pool.in_use",
        K::Gauge,
        "connection",
        &[],
        lvl(1.0, 50.0),
    ),
    t(
        "app.gc.pause",
        K::Histogram,
        "millisecond",
        &[],
        lvl(0.1, 40.0),
    ),
    t("app.threads", K::Gauge, "thread", &[], lvl(10.0, 400.0)),
];

const SERVICES: &[(&str, &str)] = &[
    ("web-frontend", "3.14.2"),
    ("checkout-api", "2.8.0"),
    ("payments", "1.22.7"),
    ("auth", "5.0.1"),
    ("search", "0.19.3"),
    ("catalog", "4.2.0"),
    ("cart", "1.9.12"),
    ("inventory", "2.3.4"),
    ("notifications", "0.7.0"),
    ("recommendations", "3.0.0-rc2"),
    ("shipping", "1.1.5"),
    ("user-profile", "2.12.1"),
];
const REGIONS: &[&str] = &["us-east-1", "us-west-2", "eu-west-1"];

/// One series: its name, type, host and tags, and how its values move.
#[derive(Debug, Clone, PartialEq)]
pub struct SeriesSpec {
    /// Metric name, e.g. `system.cpu.user`.
    pub metric: &'static str,
    /// How points are read.
    pub kind: MetricKind,
    /// Datadog unit name (`percent`, `byte`, ...), or empty.
    pub unit: &'static str,
    /// The host resource (for statsd: the pod name, sent as a tag).
    pub host: String,
    /// `key:value` tags, the host's first, then the series' dimensions.
    pub tags: Vec<String>,
    profile: Profile,
    /// Baseline value, drawn once per series.
    base: f64,
    /// Phase of the daily cycle, radians.
    phase: f64,
    /// Per-series hash that seeds the noise.
    salt: u64,
}

impl SeriesSpec {
    /// The value at `ts_s`: the baseline, ±30% over a day, ±10% of noise.
    /// A pure function of the series and the timestamp.
    pub fn value_at(&self, ts_s: i64) -> f64 {
        let day = (TAU * ts_s.rem_euclid(86_400) as f64 / 86_400.0 + self.phase).sin();
        let noise = unit_float(mix64(self.salt ^ ts_s as u64)) - 0.5;
        let shaped = self.base * (1.0 + 0.3 * day) * (1.0 + 0.2 * noise);
        match self.profile {
            Profile::Percent { .. } => (shaped * 100.0).round().clamp(0.0, 10_000.0) / 100.0,
            Profile::Level { .. } => shaped.max(0.0),
            Profile::Count { .. } => shaped.max(0.0).round(),
            Profile::Constant(v) => v,
        }
    }
}

/// `[0, 1)` from a hash.
fn unit_float(h: u64) -> f64 {
    (h >> 11) as f64 / (1u64 << 53) as f64
}

/// The `N` series of a run, in a fixed order (host-major).
#[derive(Debug, Clone)]
pub struct SeriesCatalog {
    series: Vec<SeriesSpec>,
}

impl SeriesCatalog {
    /// `count` Agent-like series for `/api/v2/series`, about
    /// [`HOST_SERIES`] per host. Deterministic by `seed`.
    pub fn agent(count: usize, seed: u64) -> SeriesCatalog {
        SeriesCatalog::build(count, seed, HOST_TEMPLATES, false)
    }

    /// `count` DogStatsD contexts: application metrics by pod (the pod goes
    /// in a `pod_name` tag; DogStatsD lines carry no host).
    pub fn statsd(count: usize, seed: u64) -> SeriesCatalog {
        SeriesCatalog::build(count, seed, POD_TEMPLATES, true)
    }

    fn build(count: usize, seed: u64, templates: &[Template], pods: bool) -> SeriesCatalog {
        let mut series = Vec::with_capacity(count);
        let mut unit = 0usize;
        while series.len() < count {
            let unit_tags = unit_tags(unit, seed, pods);
            for (template, dims) in templates
                .iter()
                .flat_map(|t| expand(t).map(move |d| (t, d)))
            {
                if series.len() == count {
                    break;
                }
                let mut tags = unit_tags.tags.clone();
                tags.extend(dims);
                let salt = mix64(seed ^ mix64(series.len() as u64 + 1));
                series.push(SeriesSpec {
                    metric: template.metric,
                    kind: template.kind,
                    unit: template.unit,
                    host: unit_tags.host.clone(),
                    tags,
                    profile: template.profile,
                    base: baseline(template.profile, unit_float(salt)),
                    phase: TAU * unit_float(mix64(salt)),
                    salt,
                });
            }
            unit += 1;
        }
        SeriesCatalog { series }
    }

    /// The series, in order.
    pub fn series(&self) -> &[SeriesSpec] {
        &self.series
    }

    /// Number of series.
    pub fn len(&self) -> usize {
        self.series.len()
    }

    /// Whether there is no series.
    pub fn is_empty(&self) -> bool {
        self.series.is_empty()
    }
}

/// Series per host (or pod) once dimensions are expanded.
#[cfg(test)]
fn expanded(templates: &[Template]) -> usize {
    templates.iter().map(|t| expand(t).count()).sum()
}

/// The dimension tags of each series of a template (one empty list when it
/// has no dimension).
fn expand(template: &Template) -> impl Iterator<Item = Vec<String>> {
    let mut combos: Vec<Vec<String>> = vec![Vec::new()];
    for (key, values) in template.dims {
        let mut next = Vec::with_capacity(combos.len() * values.len());
        for combo in &combos {
            for value in *values {
                let mut tags = combo.clone();
                tags.push(format!("{key}:{value}"));
                next.push(tags);
            }
        }
        combos = next;
    }
    combos.into_iter()
}

/// A host's (or pod's) name and common tags.
struct UnitTags {
    host: String,
    tags: Vec<String>,
}

fn unit_tags(unit: usize, seed: u64, pods: bool) -> UnitTags {
    let h = mix64(seed.rotate_left(17) ^ mix64(unit as u64));
    let (service, version) = SERVICES[unit % SERVICES.len()];
    let env = match h % 20 {
        0 => "dev",
        1..=3 => "staging",
        _ => "prod",
    };
    let region = REGIONS[(h >> 8) as usize % REGIONS.len()];
    let zone = ["a", "b", "c"][(h >> 16) as usize % 3];
    let ordinal = unit / SERVICES.len();
    let host = if pods {
        format!(
            "{service}-{:08x}-{:05x}",
            (h >> 24) as u32,
            (h >> 4) as u32 & 0xfffff
        )
    } else {
        format!("{service}-{env}-{ordinal:04}")
    };
    let mut tags = vec![
        format!("env:{env}"),
        format!("service:{service}"),
        format!("version:{version}"),
        format!("region:{region}"),
        format!("availability-zone:{region}{zone}"),
    ];
    if pods {
        tags.push(format!("pod_name:{host}"));
    }
    UnitTags { host, tags }
}

fn baseline(profile: Profile, u: f64) -> f64 {
    match profile {
        Profile::Percent { lo, hi } | Profile::Level { lo, hi } | Profile::Count { lo, hi } => {
            lo + (hi - lo) * u
        }
        Profile::Constant(v) => v,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn host_series_constant_matches_the_templates() {
        assert_eq!(expanded(HOST_TEMPLATES), HOST_SERIES);
        assert_eq!(expanded(POD_TEMPLATES), 38);
    }

    #[test]
    fn catalog_has_distinct_series_host_by_host() {
        let catalog = SeriesCatalog::agent(10_000, 42);
        assert_eq!(catalog.len(), 10_000);
        let mut keys = HashSet::new();
        let mut hosts = HashSet::new();
        for s in catalog.series() {
            let mut tags = s.tags.clone();
            tags.sort();
            assert!(keys.insert((s.metric, s.host.clone(), tags)), "{s:?}");
            hosts.insert(s.host.clone());
            assert!(s.tags.iter().any(|t| t.starts_with("env:")), "{s:?}");
            assert!(s.tags.iter().any(|t| t.starts_with("service:")), "{s:?}");
        }
        assert_eq!(hosts.len(), 10_000usize.div_ceil(HOST_SERIES));
        assert_eq!(catalog.series()[0].metric, "system.cpu.user");
        // Deterministic by seed.
        assert_eq!(
            catalog.series()[..50],
            SeriesCatalog::agent(50, 42).series()[..]
        );
    }

    #[test]
    fn values_are_deterministic_and_in_range() {
        let catalog = SeriesCatalog::agent(2 * HOST_SERIES, 7);
        for s in catalog.series() {
            for ts in (1_700_000_000..1_700_086_400).step_by(3_600) {
                let v = s.value_at(ts);
                assert_eq!(v, s.value_at(ts));
                assert!(v.is_finite() && v >= 0.0, "{} {v}", s.metric);
                match s.profile {
                    Profile::Percent { .. } => assert!(v <= 100.0, "{v}"),
                    Profile::Count { .. } => assert_eq!(v, v.round()),
                    Profile::Constant(c) => assert_eq!(v, c),
                    Profile::Level { .. } => {}
                }
            }
        }
        // Values move over time.
        let cpu = &catalog.series()[0];
        assert_ne!(cpu.value_at(1_700_000_000), cpu.value_at(1_700_000_010));
    }

    #[test]
    fn statsd_contexts_carry_pod_tags() {
        let catalog = SeriesCatalog::statsd(100, 1);
        assert_eq!(catalog.len(), 100);
        let kinds: HashSet<&str> = catalog
            .series()
            .iter()
            .map(|s| s.kind.statsd_symbol())
            .collect();
        assert_eq!(kinds, HashSet::from(["c", "g", "h", "d"]));
        assert!(catalog.series()[0]
            .tags
            .iter()
            .any(|t| t.starts_with("pod_name:")));
    }
}
