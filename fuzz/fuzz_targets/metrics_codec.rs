//! The metrics WAL codec never panics on arbitrary payloads, and whatever it
//! accepts re-encodes to the same batch.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok((tenant, batch)) = strata_metrics::codec::decode(data) {
        let again = strata_metrics::codec::encode(&tenant, &batch);
        let (tenant2, batch2) = strata_metrics::codec::decode(&again).expect("re-encoding decodes");
        assert_eq!(tenant2, tenant);
        // NaN values compare unequal: compare the encodings instead.
        assert_eq!(strata_metrics::codec::encode(&tenant2, &batch2), again);
    }
    let _ = strata_metrics::codec::decode_sketch(data);
});
