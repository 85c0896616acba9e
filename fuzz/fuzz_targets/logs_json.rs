//! The JSON logs body decoder never panics, and what it accepts round-trips
//! through the WAL batch codec.
#![no_main]

use libfuzzer_sys::fuzz_target;
use strata_ingest::{decode_logs, LogsRequest};

fuzz_target!(|data: &[u8]| {
    let request = LogsRequest::json(1_700_000_000_000_000_000);
    if let Ok(events) = decode_logs(data, &request) {
        assert!(events.len() <= request.max_items);
        let encoded = strata_types::batch::encode("fuzz", &events);
        let decoded = strata_types::batch::decode(&encoded).expect("own encoding decodes");
        assert_eq!(decoded.events.len(), events.len());
    }
});
