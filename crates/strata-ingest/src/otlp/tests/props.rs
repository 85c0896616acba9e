//! Never-panic properties over mutated and arbitrary bodies (what the fuzz
//! targets `otlp_logs` and `otlp_traces` check, in miniature).

use proptest::prelude::*;

use super::traces_request_for_props as traces_body;
use super::*;

/// Decodes `body` as both signals in both formats; whatever is accepted
/// respects the limits and round-trips through the WAL batch codec.
fn check(body: &[u8]) {
    for format in [Format::Protobuf, Format::Json] {
        let req = OtlpRequest {
            format,
            now_ns: NOW,
            max_log_bytes: 64,
            max_decoded_bytes: 1 << 20,
        };
        for decode in [decode_logs, decode_traces] {
            let Ok(decoded) = decode(body, &req) else {
                continue;
            };
            assert!(decoded.heap_bytes <= req.max_decoded_bytes as u64);
            assert!(decoded.events.iter().all(|e| e.message.len() <= 64));
            assert_eq!(decoded.rejected == 0, decoded.error_message.is_empty());
            let encoded = strata_types::batch::encode("t", &decoded.events);
            let round = strata_types::batch::decode(&encoded).unwrap();
            assert_eq!(round.events.len(), decoded.events.len());
        }
    }
}

fn seeds() -> Vec<Vec<u8>> {
    vec![
        logs_request(vec![full_record(), LogRecord::default()]).encode_to_vec(),
        traces_body().encode_to_vec(),
        FULL_RECORD_JSON.as_bytes().to_vec(),
    ]
}

proptest! {
    #[test]
    fn mutated_bodies_never_panic(
        seed in 0usize..3,
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..6),
        cut in any::<prop::sample::Index>(),
    ) {
        let mut body = seeds().swap_remove(seed);
        for (at, byte) in flips {
            let i = at.index(body.len());
            body[i] = byte;
        }
        check(&body);
        let end = cut.index(body.len() + 1);
        check(&body[..end]);
    }

    #[test]
    fn arbitrary_bodies_never_panic(body in proptest::collection::vec(any::<u8>(), 0..200)) {
        check(&body);
    }
}
