//! The OTLP metrics decoder never panics on any body, protobuf or JSON, with
//! a fresh or a tiny (evicting) cumulative state; what it accepts respects
//! the limits, holds only finite values and well-formed sketches inside the
//! window, and round-trips through the metrics WAL codec.
#![no_main]

use libfuzzer_sys::fuzz_target;
use strata_ingest::otlp::metrics::{decode_metrics, CumulativeState, OtlpMetrics};
use strata_ingest::otlp::{export_response, Format, Signal};
use strata_ingest::MetricsLimits;

const NOW: i64 = 1_700_000_000;

fn check(got: &OtlpMetrics, limits: &MetricsLimits) {
    let batch = &got.decoded.batch;
    assert!(batch.point_count() <= limits.max_points_per_request);
    assert!(batch.series.len() + batch.sketches.len() <= limits.max_series_per_request);
    assert_eq!(got.rejected == 0, got.error_message.is_empty());
    for series in &batch.series {
        assert!(!series.points.is_empty());
        for p in &series.points {
            assert!(p.value.is_finite());
            assert!((NOW - 3600..=NOW + 600).contains(&p.ts_s));
        }
    }
    for series in &batch.sketches {
        for (ts, sketch) in &series.points {
            assert!((NOW - 3600..=NOW + 600).contains(ts));
            assert!(sketch.count > 0 && sketch.min <= sketch.max);
            assert!(sketch.sum.is_finite() && sketch.bins.len() <= 4096);
        }
    }
    let encoded = strata_metrics::codec::encode("fuzz", batch);
    let (_, round) = strata_metrics::codec::decode(&encoded).expect("own encoding decodes");
    assert_eq!(round.point_count(), batch.point_count());
}

fuzz_target!(|data: &[u8]| {
    let limits = MetricsLimits {
        max_points_per_request: 10_000,
        ..MetricsLimits::default()
    };
    for format in [Format::Protobuf, Format::Json] {
        for state in [CumulativeState::new(1000), CumulativeState::new(2)] {
            // Twice with the same state: the second pass meets the first's
            // baselines (and retries).
            for _ in 0..2 {
                let Ok(got) = decode_metrics(data, format, "fuzz", NOW, &limits, &state) else {
                    continue;
                };
                check(&got, &limits);
                assert!(state.len() <= state.max_entries());
                let _ = export_response(Signal::Metrics, format, got.rejected, &got.error_message);
            }
        }
    }
});
