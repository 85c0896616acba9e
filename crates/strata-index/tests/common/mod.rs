//! Shared setup for the index integration tests: an [`Index`] that never
//! flushes on its own, wired to a real WAL in `root/wal`.
#![allow(dead_code)]

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use strata_index::{Index, IndexConfig};
use strata_metastore::Metastore;
use strata_segment::SegmentOptions;
use strata_types::Event;
use strata_wal::{Wal, WalConfig, WalOptions};

/// The WAL item of these tests: tenant and events.
pub type Item = (String, Vec<Event>);

/// An index over `metastore` with segments in `root/segments`, and the WAL
/// (in `root/wal`) whose commits feed it. Flushes happen only when asked.
pub fn index_and_wal(root: &Path, metastore: Arc<dyn Metastore>) -> (Arc<Index>, Wal<Item>) {
    let index = Arc::new(Index::new(
        IndexConfig {
            flush_bytes: 1 << 30,
            max_age: Duration::from_secs(3600),
            pressure_bytes: 1 << 40,
            segment: SegmentOptions::default(),
        },
        metastore,
        strata_storage::SegmentStore::open(
            &strata_storage::Backend::Local {
                root: root.join("segments"),
            },
            None,
        )
        .unwrap(),
    ));
    let commit = Arc::clone(&index);
    let options = WalOptions::new(
        WalConfig::test_config(&root.join("wal")),
        move |seq, (t, e): Item| {
            commit.apply(seq, &t, e);
        },
    );
    let (wal, _) = Wal::open(options, |_, _| Ok(())).unwrap();
    (index, wal)
}
