//! The WAL batch decoder never panics on arbitrary payloads.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(batch) = strata_types::batch::decode(data) {
        let again = strata_types::batch::encode(&batch.tenant, &batch.events);
        assert_eq!(strata_types::batch::decode(&again).expect("re-encoding decodes"), batch);
    }
});
