//! `strata-types` is Strata's shared vocabulary: the normalised [`Event`], its
//! [`Status`], flattened attribute values ([`AttrValue`]), tenant ids and the
//! binary [`batch`] codec that the WAL stores.
//!
//! It is not a place for I/O, async code or protocol decoding: it has no tokio,
//! no file access and no HTTP. Decoders live in `strata-ingest`, storage in
//! `strata-wal` and `strata-segment`.
//!
//! ```
//! use strata_types::{batch, AttrValue, Event, Status};
//! let mut event = Event::new(1_700_000_000_000_000_000, "hello".to_string());
//! event.status = Status::Error;
//! event.attributes.push(("http.status_code".to_string(), AttrValue::Int(500)));
//! let bytes = batch::encode("default", &[event.clone()]);
//! let decoded = batch::decode(&bytes).unwrap();
//! assert_eq!(decoded.tenant, "default");
//! assert_eq!(decoded.events, vec![event]);
//! ```
#![warn(missing_docs)]

pub mod batch;
mod event;
pub mod wire;

pub use event::{format_rfc3339_nanos, nest_attributes, AttrValue, Event, Status};

/// A tenant's id. Tenant ids are short ASCII names (`[a-z0-9_-]{1,64}`).
pub type TenantId = String;

/// Returns whether `name` is a valid tenant id: 1 to 64 characters of
/// `a-z`, `0-9`, `_` or `-`. Tenant ids become path components, so nothing
/// else is allowed.
pub fn is_valid_tenant_id(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

/// Nanoseconds in one hour: segments never span two hour buckets.
pub const HOUR_NS: i64 = 3_600 * 1_000_000_000;

/// The start (ns) of the hour bucket that holds `timestamp_ns`. Saturates at
/// the ends of the `i64` range instead of overflowing.
pub fn hour_bucket(timestamp_ns: i64) -> i64 {
    timestamp_ns.div_euclid(HOUR_NS).saturating_mul(HOUR_NS)
}

/// The stable id of the `index`-th event of the WAL record with sequence
/// number `seq`: 24 lowercase hex digits. Replaying the WAL gives every event
/// the same id again, so ids identify events across crashes.
pub fn event_id(seq: u64, index: u32) -> String {
    format!("{seq:016x}{index:08x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenant_ids() {
        assert!(is_valid_tenant_id("default"));
        assert!(is_valid_tenant_id("acme-prod_2"));
        assert!(!is_valid_tenant_id(""));
        assert!(!is_valid_tenant_id("../etc"));
        assert!(!is_valid_tenant_id("Upper"));
        assert!(!is_valid_tenant_id(&"a".repeat(65)));
    }

    #[test]
    fn hour_buckets() {
        assert_eq!(hour_bucket(0), 0);
        assert_eq!(hour_bucket(HOUR_NS - 1), 0);
        assert_eq!(hour_bucket(HOUR_NS), HOUR_NS);
        assert_eq!(hour_bucket(-1), -HOUR_NS);
        assert_eq!(hour_bucket(i64::MIN), i64::MIN);
        assert_eq!(
            hour_bucket(i64::MAX),
            i64::MAX.div_euclid(HOUR_NS) * HOUR_NS
        );
    }

    #[test]
    fn event_ids_sort_by_seq_then_index() {
        assert_eq!(event_id(1, 2), "000000000000000100000002");
        assert!(event_id(1, 9) < event_id(2, 0));
    }
}
