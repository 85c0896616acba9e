//! The Elasticsearch `_bulk` and single-document decoders never panic; every
//! stored item points at its event, the reply is UTF-8 in the bulk shape,
//! and the events round-trip through the WAL batch codec.
#![no_main]

use libfuzzer_sys::fuzz_target;
use strata_ingest::es::{
    bulk_response, decode_bulk, decode_document, BulkRequest, DecodedBulk, OpType, Outcome,
};

fn check(decoded: &DecodedBulk, request: &BulkRequest) {
    assert!(decoded.items.len() <= request.max_items);
    let mut next = 0;
    for item in &decoded.items {
        if let Outcome::Stored(position) = item.outcome {
            assert_eq!(position, next, "stored items are the events, in order");
            next += 1;
        }
    }
    assert_eq!(next as usize, decoded.events.len());
    let reply = bulk_response(&decoded.items, Some(1), 0);
    assert!(reply.starts_with(b"{\"took\":0,") && reply.ends_with(b"]}"));
    assert!(std::str::from_utf8(&reply).is_ok());
    let encoded = strata_types::batch::encode("fuzz", &decoded.events);
    let back = strata_types::batch::decode(&encoded).expect("own encoding decodes");
    assert_eq!(back.events.len(), decoded.events.len());
}

fuzz_target!(|data: &[u8]| {
    let request = BulkRequest {
        default_index: data
            .first()
            .filter(|b| **b & 1 == 1)
            .map(|_| "logs".to_string()),
        now_ns: 1_700_000_000_000_000_000,
        max_log_bytes: 1_000,
        max_items: 1_000,
        max_decoded_bytes: 40_000_000,
    };
    if let Ok(decoded) = decode_bulk(data, &request) {
        check(&decoded, &request);
    }
    if let Ok(decoded) = decode_document(data, &request, OpType::Create, Some("id")) {
        assert_eq!(decoded.items.len(), 1);
        check(&decoded, &request);
    }
});
