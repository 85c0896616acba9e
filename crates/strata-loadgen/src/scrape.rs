//! Reading the server's own counters from `GET /metrics` (Prometheus text
//! format), to report what it stored, dropped or received: a 202 does not
//! say that points were dropped, and UDP says nothing at all.

use std::io;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::header::HOST;
use hyper::{Method, Request};

use crate::run::{connect, Target};

/// Fetches `<target>/metrics` and returns the body.
pub(crate) async fn fetch(target: &Target, timeout: Duration) -> io::Result<String> {
    let uri = target.uri("/metrics").map_err(io::Error::other)?;
    let fetch = async {
        let mut sender = connect(&target.addr, timeout).await?;
        let mut req = Request::new(Full::new(Bytes::new()));
        *req.method_mut() = Method::GET;
        *req.uri_mut() = uri;
        req.headers_mut().insert(HOST, target.host.clone());
        let resp = sender.send_request(req).await.map_err(io::Error::other)?;
        let status = resp.status();
        let body = resp
            .into_body()
            .collect()
            .await
            .map_err(io::Error::other)?
            .to_bytes();
        if !status.is_success() {
            return Err(io::Error::other(format!("GET /metrics answered {status}")));
        }
        Ok(String::from_utf8_lossy(&body).into_owned())
    };
    tokio::time::timeout(timeout, fetch)
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "GET /metrics timed out"))?
}

/// A parsed `/metrics` body: the samples of the families asked about.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Samples {
    /// `(name, labels as written between the braces, value)`.
    samples: Vec<(String, String, f64)>,
}

impl Samples {
    /// Parses the Prometheus text format, ignoring comments and anything
    /// that does not parse.
    pub(crate) fn parse(text: &str) -> Samples {
        let mut samples = Vec::new();
        for line in text.lines() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (series, value) = match line.rsplit_once(' ') {
                Some(parts) => parts,
                None => continue,
            };
            let Ok(value) = value.trim().parse::<f64>() else {
                continue;
            };
            let (name, labels) = match series.split_once('{') {
                Some((name, rest)) => (name, rest.trim_end_matches('}')),
                None => (series, ""),
            };
            samples.push((name.trim().to_owned(), labels.to_owned(), value));
        }
        Samples { samples }
    }

    /// The sum of family `name`'s samples whose labels contain every one of
    /// `labels` (`key="value"` as written), `None` when the family has no
    /// such sample.
    pub(crate) fn sum(&self, name: &str, labels: &[&str]) -> Option<f64> {
        let mut found = None;
        for (n, l, v) in &self.samples {
            if n != name {
                continue;
            }
            let matches = labels
                .iter()
                .all(|want| l.split(',').any(|have| have.trim() == *want));
            if matches {
                *found.get_or_insert(0.0) += v;
            }
        }
        found
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_sum_by_labels() {
        let text = "\
# HELP strata_statsd_packets_total DogStatsD datagrams received, by listener
# TYPE strata_statsd_packets_total counter
strata_statsd_packets_total{listener=\"127.0.0.1:8125\"} 10
strata_statsd_packets_total{listener=\"127.0.0.1:8127\"} 32
strata_metric_points_dropped_total{reason=\"too_old\"} 5
strata_metric_points_dropped_total{reason=\"too_new\"} 1
strata_uptime 3.5
garbage line
";
        let s = Samples::parse(text);
        assert_eq!(s.sum("strata_statsd_packets_total", &[]), Some(42.0));
        assert_eq!(
            s.sum(
                "strata_statsd_packets_total",
                &["listener=\"127.0.0.1:8127\""]
            ),
            Some(32.0)
        );
        assert_eq!(
            s.sum("strata_statsd_packets_total", &["listener=\"x\""]),
            None
        );
        assert_eq!(s.sum("strata_metric_points_dropped_total", &[]), Some(6.0));
        assert_eq!(s.sum("strata_uptime", &[]), Some(3.5));
        assert_eq!(s.sum("absent", &[]), None);
    }
}
