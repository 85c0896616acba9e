//! DogStatsD: the parser and the aggregator never panic on arbitrary
//! datagrams, and whatever the aggregator emits encodes and decodes through
//! the WAL codec.
#![no_main]

use libfuzzer_sys::fuzz_target;
use strata_metrics::statsd::{Aggregator, ListenerDefaults};

fuzz_target!(|data: &[u8]| {
    let _ = strata_metrics::statsd::parse_datagram(data);
    let mut aggregator = Aggregator::new(1000);
    let defaults = ListenerDefaults::default();
    let _ = aggregator.ingest(data, 1_700_000_000, &defaults);
    let batch = aggregator.flush_all();
    let bytes = strata_metrics::codec::encode("t", &batch);
    strata_metrics::codec::decode(&bytes).expect("aggregated batches encode and decode");
});
