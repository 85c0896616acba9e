//! The values of `--protocol`, `--encoding` and `--syslog-framing`.
//!
//! `--protocol` takes one value for both kinds of run: a logs protocol
//! ([`LogsProtocol`], the default run) or, with `--metrics`, a metrics one
//! ([`MetricsProtocol`]). [`Protocol`] is that union; a value of the wrong
//! kind is refused when the run starts ([`crate::LoadgenArgs::check_protocol`]).

use clap::builder::PossibleValue;
use clap::ValueEnum;
use serde::{Deserialize, Serialize};

/// How logs are sent (`--protocol`, without `--metrics`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LogsProtocol {
    /// Datadog JSON logs: a JSON array to /api/v2/logs, DD-API-KEY (the
    /// default).
    Datadog,
    /// OTLP/HTTP protobuf: an ExportLogsServiceRequest to /v1/logs,
    /// DD-API-KEY.
    Otlp,
    /// OTLP/HTTP JSON: the same request as JSON to /v1/logs, DD-API-KEY.
    OtlpJson,
    /// Elasticsearch bulk: NDJSON create actions to /_bulk, "Authorization:
    /// ApiKey KEY"; items the answer reports as errors are not acked.
    Bulk,
    /// RFC 5424 syslog over TCP to --syslog-target; nothing is acked, the
    /// events stored are read from URL/metrics.
    Syslog,
}

impl LogsProtocol {
    /// The name used on the command line (`datadog`, `otlp-json`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            LogsProtocol::Datadog => "datadog",
            LogsProtocol::Otlp => "otlp",
            LogsProtocol::OtlpJson => "otlp-json",
            LogsProtocol::Bulk => "bulk",
            LogsProtocol::Syslog => "syslog",
        }
    }
}

/// How `--metrics` traffic is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum MetricsProtocol {
    /// With --metrics: the Agent's protobuf MetricPayload to
    /// /api/v2/series, zstd (the default with --metrics).
    V2Protobuf,
    /// With --metrics: the API clients' JSON to /api/v2/series, deflate.
    V2Json,
    /// With --metrics: DogStatsD lines over UDP to --statsd-target.
    Statsd,
}

impl MetricsProtocol {
    /// The name used on the command line (`v2-protobuf`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            MetricsProtocol::V2Protobuf => "v2-protobuf",
            MetricsProtocol::V2Json => "v2-json",
            MetricsProtocol::Statsd => "statsd",
        }
    }
}

/// A value of `--protocol`: a logs protocol, or a metrics one (which needs
/// `--metrics`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Protocol {
    /// A logs run.
    Logs(LogsProtocol),
    /// A `--metrics` run.
    Metrics(MetricsProtocol),
}

impl Protocol {
    /// The name used on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Logs(p) => p.as_str(),
            Protocol::Metrics(p) => p.as_str(),
        }
    }
}

impl ValueEnum for Protocol {
    fn value_variants<'a>() -> &'a [Self] {
        &[
            Protocol::Logs(LogsProtocol::Datadog),
            Protocol::Logs(LogsProtocol::Otlp),
            Protocol::Logs(LogsProtocol::OtlpJson),
            Protocol::Logs(LogsProtocol::Bulk),
            Protocol::Logs(LogsProtocol::Syslog),
            Protocol::Metrics(MetricsProtocol::V2Protobuf),
            Protocol::Metrics(MetricsProtocol::V2Json),
            Protocol::Metrics(MetricsProtocol::Statsd),
        ]
    }

    fn to_possible_value(&self) -> Option<PossibleValue> {
        // The help of each value is the doc comment of its variant.
        match self {
            Protocol::Logs(p) => p.to_possible_value(),
            Protocol::Metrics(p) => p.to_possible_value(),
        }
    }
}

/// A request body's `Content-Encoding`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BodyEncoding {
    /// zstd at `--zstd-level` (the Agent's default `serializer_compressor_kind`).
    Zstd,
    /// gzip at `--gzip-level` (the default for logs, as OpenTelemetry
    /// exporters and Beats send).
    Gzip,
    /// zlib-wrapped deflate at `--gzip-level` (the Datadog API's default).
    Deflate,
    /// Uncompressed.
    Identity,
}

impl BodyEncoding {
    /// The `Content-Encoding` value, `None` for identity.
    pub fn header(self) -> Option<&'static str> {
        match self {
            BodyEncoding::Zstd => Some("zstd"),
            BodyEncoding::Gzip => Some("gzip"),
            BodyEncoding::Deflate => Some("deflate"),
            BodyEncoding::Identity => None,
        }
    }

    /// The name used on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            BodyEncoding::Zstd => "zstd",
            BodyEncoding::Gzip => "gzip",
            BodyEncoding::Deflate => "deflate",
            BodyEncoding::Identity => "identity",
        }
    }
}

/// How syslog messages are delimited on the TCP stream (RFC 6587).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SyslogFraming {
    /// Octet counting: `LEN SP MESSAGE`, multi-line messages kept whole.
    Octet,
    /// One message per line (non-transparent framing); line breaks inside a
    /// message are sent as spaces.
    Newline,
}

impl SyslogFraming {
    /// The name used on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            SyslogFraming::Octet => "octet",
            SyslogFraming::Newline => "newline",
        }
    }
}
