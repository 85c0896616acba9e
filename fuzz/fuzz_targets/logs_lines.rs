//! The text/plain and logplex decoder never panics and never emits more
//! lines than the limit.
#![no_main]

use libfuzzer_sys::fuzz_target;
use strata_ingest::{decode_logs, BodyFormat, LogsRequest};

fuzz_target!(|data: &[u8]| {
    let mut request = LogsRequest::json(0);
    request.format = BodyFormat::Lines;
    request.max_log_bytes = 64;
    if let Ok(events) = decode_logs(data, &request) {
        assert!(events.len() <= request.max_items);
        assert!(events.iter().all(|e| e.message.len() <= 64));
    }
});
