//! The OTLP traces decoder never panics on any body, protobuf or JSON; what it
//! accepts respects the message and memory limits and round-trips through
//! the WAL batch codec.
#![no_main]

use libfuzzer_sys::fuzz_target;
use strata_ingest::otlp::{decode_traces, export_response, Format, OtlpRequest, Signal};

fuzz_target!(|data: &[u8]| {
    for format in [Format::Protobuf, Format::Json] {
        let request = OtlpRequest {
            format,
            now_ns: 1_700_000_000_000_000_000,
            max_log_bytes: 256,
            max_decoded_bytes: 1 << 20,
        };
        let Ok(decoded) = decode_traces(data, &request) else {
            continue;
        };
        assert!(decoded.heap_bytes <= request.max_decoded_bytes as u64);
        let heap: usize = decoded.events.iter().map(|e| e.heap_size()).sum();
        assert_eq!(heap as u64, decoded.heap_bytes);
        for event in &decoded.events {
            assert!(event.message.len() <= request.max_log_bytes);
        }
        assert_eq!(decoded.rejected == 0, decoded.error_message.is_empty());
        let signal = Signal::Traces;
        let _ = export_response(signal, format, decoded.rejected, &decoded.error_message);
        let encoded = strata_types::batch::encode("fuzz", &decoded.events);
        let round = strata_types::batch::decode(&encoded).expect("own encoding decodes");
        assert_eq!(round.events.len(), decoded.events.len());
    }
});
