//! Series keys, points and batches.

use crate::sketch::Sketch;

/// Longest accepted metric name, in bytes (Datadog allows 200 characters).
pub const MAX_NAME_LEN: usize = 200;

/// Most tags one series may carry; more is a client error.
pub const MAX_TAGS_PER_SERIES: usize = 1000;

/// Why a series or point was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ModelError {
    /// The metric name is empty, too long, or not a valid name.
    #[error("invalid metric name {0:?}: 1 to 200 characters, starting with a letter")]
    InvalidName(String),
    /// Too many tags on one series.
    #[error("series {metric} has {count} tags (at most {MAX_TAGS_PER_SERIES})")]
    TooManyTags {
        /// The metric.
        metric: String,
        /// How many tags it had.
        count: usize,
    },
}

/// How a series' points are to be read, as Datadog types them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum MetricType {
    /// No type given: read as a gauge.
    Unspecified,
    /// A count over the point's interval (summed when rolled up).
    Count,
    /// A per-second rate over the point's interval.
    Rate,
    /// The last value seen.
    Gauge,
    /// A distribution: every point is a [`Sketch`].
    Distribution,
}

impl MetricType {
    /// All types, by code.
    pub const ALL: [MetricType; 5] = [
        MetricType::Unspecified,
        MetricType::Count,
        MetricType::Rate,
        MetricType::Gauge,
        MetricType::Distribution,
    ];

    /// The stable one-byte code (the v2 intake's integers, 4 for distributions).
    pub fn code(self) -> u8 {
        match self {
            MetricType::Unspecified => 0,
            MetricType::Count => 1,
            MetricType::Rate => 2,
            MetricType::Gauge => 3,
            MetricType::Distribution => 4,
        }
    }

    /// The type with this code.
    pub fn from_code(code: u8) -> Option<MetricType> {
        MetricType::ALL.get(usize::from(code)).copied()
    }

    /// The lower-case name used by the v1 API and `/api/v1/metrics`.
    pub fn as_str(self) -> &'static str {
        match self {
            MetricType::Unspecified => "gauge",
            MetricType::Count => "count",
            MetricType::Rate => "rate",
            MetricType::Gauge => "gauge",
            MetricType::Distribution => "distribution",
        }
    }

    /// Parses a v1 type name (`gauge`, `count`, `rate`, `distribution`, or empty).
    pub fn from_name(name: &str) -> Option<MetricType> {
        match name {
            "" => Some(MetricType::Unspecified),
            "gauge" => Some(MetricType::Gauge),
            "count" => Some(MetricType::Count),
            "rate" => Some(MetricType::Rate),
            "distribution" => Some(MetricType::Distribution),
            _ => None,
        }
    }
}

/// What identifies a series within a tenant: the metric name, the host (empty
/// when none) and the tags, sorted and de-duplicated.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SeriesKey {
    /// Metric name, e.g. `system.cpu.user`.
    pub metric: String,
    /// Host name; empty when the series has no host.
    pub host: String,
    /// Tags (`key:value` or bare), sorted, no duplicates.
    pub tags: Vec<String>,
}

impl SeriesKey {
    /// Builds a key, sorting and de-duplicating the tags and checking the name.
    pub fn new(
        metric: impl Into<String>,
        host: impl Into<String>,
        mut tags: Vec<String>,
    ) -> Result<SeriesKey, ModelError> {
        let metric = metric.into();
        if !is_valid_metric_name(&metric) {
            return Err(ModelError::InvalidName(metric));
        }
        if tags.len() > MAX_TAGS_PER_SERIES {
            return Err(ModelError::TooManyTags {
                metric,
                count: tags.len(),
            });
        }
        tags.retain(|t| !t.is_empty());
        tags.sort_unstable();
        tags.dedup();
        Ok(SeriesKey {
            metric,
            host: host.into(),
            tags,
        })
    }

    /// A stable 64-bit id of the key (FNV-1a over the fields, then a
    /// finaliser): the same key gives the same id in every process and
    /// version, so ids may be stored.
    pub fn id(&self) -> u64 {
        let mut h = Fnv::new();
        h.write(self.metric.as_bytes());
        h.write(&[0xff]);
        h.write(self.host.as_bytes());
        for tag in &self.tags {
            h.write(&[0xfe]);
            h.write(tag.as_bytes());
        }
        mix64(h.0)
    }

    /// The value of the first tag `key:value` with this key, if any. `host`
    /// answers the host field.
    pub fn tag_value(&self, key: &str) -> Option<&str> {
        if key == "host" && !self.host.is_empty() {
            return Some(&self.host);
        }
        self.tags
            .iter()
            .find_map(|t| t.strip_prefix(key).and_then(|rest| rest.strip_prefix(':')))
    }

    /// Heap bytes held by the key (for memory accounting).
    pub fn heap_size(&self) -> usize {
        self.metric.len() + self.host.len() + self.tags.iter().map(|t| t.len() + 24).sum::<usize>()
    }
}

/// Whether `name` is a metric name Datadog would accept: 1 to
/// [`MAX_NAME_LEN`] bytes, starting with an ASCII letter, then letters,
/// digits, `_` and `.`. (Datadog rewrites other characters to `_`; the
/// decoders do that before building a key.)
pub fn is_valid_metric_name(name: &str) -> bool {
    let bytes = name.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= MAX_NAME_LEN
        && bytes[0].is_ascii_alphabetic()
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || *b == b'_' || *b == b'.')
}

/// Rewrites a client's metric name the way Datadog does: characters other
/// than ASCII letters, digits, `_` and `.` become `_`, and leading
/// non-letters are dropped. The answer may still be invalid (empty).
pub fn normalize_metric_name(name: &str) -> String {
    let trimmed = name.trim_start_matches(|c: char| !c.is_ascii_alphabetic());
    trimmed
        .chars()
        .take(MAX_NAME_LEN)
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// One point: a timestamp in seconds since the epoch and a value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point {
    /// Seconds since the Unix epoch.
    pub ts_s: i64,
    /// The value (finite).
    pub value: f64,
}

/// Points of one series, with the metadata the client sent along.
#[derive(Debug, Clone, PartialEq)]
pub struct SeriesPoints {
    /// The series.
    pub key: SeriesKey,
    /// How to read the values.
    pub kind: MetricType,
    /// The interval in seconds a count or rate covers (0 when unknown).
    pub interval_s: u32,
    /// Unit name (`byte`, `second`, …), empty when none.
    pub unit: String,
    /// The points, in the client's order.
    pub points: Vec<Point>,
}

/// Sketch points of one distribution series.
#[derive(Debug, Clone, PartialEq)]
pub struct SketchPoints {
    /// The series.
    pub key: SeriesKey,
    /// `(seconds since the epoch, sketch)` pairs.
    pub points: Vec<(i64, Sketch)>,
}

/// What one intake request or one DogStatsD flush stores: one WAL record.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct MetricBatch {
    /// Gauge, count and rate series.
    pub series: Vec<SeriesPoints>,
    /// Distribution series.
    pub sketches: Vec<SketchPoints>,
}

impl MetricBatch {
    /// Number of points (a sketch counts as one point).
    pub fn point_count(&self) -> usize {
        self.series.iter().map(|s| s.points.len()).sum::<usize>()
            + self.sketches.iter().map(|s| s.points.len()).sum::<usize>()
    }

    /// Whether the batch holds no point.
    pub fn is_empty(&self) -> bool {
        self.point_count() == 0
    }
}

struct Fnv(u64);

impl Fnv {
    fn new() -> Fnv {
        Fnv(0xcbf2_9ce4_8422_2325)
    }

    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 ^= u64::from(*b);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
    }
}

/// The splitmix64 finaliser: spreads FNV's weak low bits.
fn mix64(mut x: u64) -> u64 {
    x ^= x >> 30;
    x = x.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x ^= x >> 27;
    x = x.wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_sort_and_dedupe_tags() {
        let a = SeriesKey::new("a.b", "h", vec!["z:1".into(), "a:2".into(), "z:1".into()]).unwrap();
        let b = SeriesKey::new("a.b", "h", vec!["a:2".into(), "z:1".into()]).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.id(), b.id());
        assert_eq!(a.tags, vec!["a:2", "z:1"]);
    }

    #[test]
    fn ids_are_stable_and_distinguish_fields() {
        let a = SeriesKey::new("a.b", "h", vec![]).unwrap();
        // Pinned: stored ids must never change.
        assert_eq!(a.id(), SeriesKey::new("a.b", "h", vec![]).unwrap().id());
        let b = SeriesKey::new("a.bh", "", vec![]).unwrap();
        let c = SeriesKey::new("a.b", "", vec!["h".into()]).unwrap();
        assert_ne!(a.id(), b.id());
        assert_ne!(a.id(), c.id());
        assert_ne!(b.id(), c.id());
    }

    #[test]
    fn names_are_checked_and_normalised() {
        assert!(is_valid_metric_name("system.cpu.user"));
        assert!(!is_valid_metric_name(""));
        assert!(!is_valid_metric_name("1abc"));
        assert!(!is_valid_metric_name("a b"));
        assert_eq!(normalize_metric_name("9my metric-x"), "my_metric_x");
        assert!(SeriesKey::new("bad name", "", vec![]).is_err());
    }

    #[test]
    fn tag_values() {
        let k = SeriesKey::new("m", "h1", vec!["env:prod".into(), "solo".into()]).unwrap();
        assert_eq!(k.tag_value("env"), Some("prod"));
        assert_eq!(k.tag_value("host"), Some("h1"));
        assert_eq!(k.tag_value("solo"), None);
        assert_eq!(k.tag_value("en"), None);
    }

    #[test]
    fn types_round_trip_codes() {
        for t in MetricType::ALL {
            assert_eq!(MetricType::from_code(t.code()), Some(t));
        }
        assert_eq!(MetricType::from_code(9), None);
    }
}
