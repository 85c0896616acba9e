//! The Agent's protobuf series and sketch decoders never panic; what they
//! accept respects the limits, holds only finite values inside the window,
//! and round-trips through the metrics WAL codec.
#![no_main]

use libfuzzer_sys::fuzz_target;
use strata_ingest::{decode_series_v2_protobuf, decode_sketches_protobuf, MetricsLimits};

const NOW: i64 = 1_700_000_000;

fuzz_target!(|data: &[u8]| {
    let limits = MetricsLimits {
        max_points_per_request: 10_000,
        ..MetricsLimits::default()
    };
    for decode in [decode_series_v2_protobuf, decode_sketches_protobuf] {
        if let Ok(decoded) = decode(data, NOW, &limits) {
            let batch = &decoded.batch;
            assert!(batch.point_count() <= limits.max_points_per_request);
            for series in &batch.series {
                assert!(series.points.iter().all(|p| p.value.is_finite()));
            }
            for series in &batch.sketches {
                for (ts, sketch) in &series.points {
                    assert!((NOW - 3600..=NOW + 600).contains(ts));
                    assert!(sketch.count > 0 && sketch.min <= sketch.max);
                }
            }
            let encoded = strata_metrics::codec::encode("fuzz", batch);
            let (_, round) = strata_metrics::codec::decode(&encoded).expect("own encoding decodes");
            assert_eq!(round.point_count(), batch.point_count());
        }
    }
});
