//! The JSON metrics, check-run and event decoders never panic; what they
//! accept respects the limits, holds only finite values inside the window,
//! and round-trips through the metrics WAL codec.
#![no_main]

use libfuzzer_sys::fuzz_target;
use strata_ingest::{
    decode_check_runs, decode_distribution_points, decode_events_v1, decode_series_v1,
    decode_series_v2_json, event_response_json, DecodedMetrics, MetricsLimits,
};

const NOW: i64 = 1_700_000_000;

fn check(decoded: DecodedMetrics, limits: &MetricsLimits) {
    let batch = &decoded.batch;
    assert!(batch.point_count() <= limits.max_points_per_request);
    assert!(batch.series.len() + batch.sketches.len() <= limits.max_series_per_request);
    for series in &batch.series {
        assert!(!series.points.is_empty());
        for p in &series.points {
            assert!(p.value.is_finite());
            assert!((NOW - 3600..=NOW + 600).contains(&p.ts_s));
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
    for decode in [decode_series_v2_json, decode_series_v1, decode_distribution_points] {
        if let Ok(decoded) = decode(data, NOW, &limits) {
            check(decoded, &limits);
        }
    }
    if let Ok(events) = decode_check_runs(data, NOW) {
        assert!(events.len() <= strata_ingest::MAX_CHECK_RUNS);
    }
    if let Ok(event) = decode_events_v1(data, NOW) {
        let reply = event_response_json(&event, u64::MAX);
        assert_eq!(reply["status"], "ok");
    }
});
