//! Live tail: every committed WAL record's events are offered to the
//! subscribers of their tenant as they are applied to the memtable.
//!
//! One `tokio::sync::broadcast` ring of `query.tail_buffer_records` records
//! serves every subscriber: publishing never blocks and never waits for a
//! reader (ingest speed does not depend on tail readers). A reader that falls
//! more than the ring behind loses the oldest records and is told how many
//! (`event: dropped`). With no subscriber, publishing is one atomic load.

use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use futures::Stream;
use strata_index::MemChunk;
use strata_query::Matcher;
use tokio::sync::{broadcast, watch};

/// One committed record of one tenant.
#[derive(Debug)]
pub(crate) struct TailRecord {
    tenant: String,
    chunk: Arc<MemChunk>,
}

/// The node's tail fan-out.
#[derive(Debug, Clone)]
pub(crate) struct TailHub {
    sender: broadcast::Sender<Arc<TailRecord>>,
    subscribers: Arc<AtomicUsize>,
    max_subscribers: usize,
    closed: watch::Sender<bool>,
}

/// A subscriber slot; frees itself when the stream is dropped.
#[derive(Debug)]
struct Slot(Arc<AtomicUsize>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl TailHub {
    pub(crate) fn new(buffer_records: usize, max_subscribers: usize) -> TailHub {
        let (sender, _) = broadcast::channel(buffer_records.max(1));
        TailHub {
            sender,
            subscribers: Arc::new(AtomicUsize::new(0)),
            max_subscribers,
            closed: watch::Sender::new(false),
        }
    }

    /// Offers a committed record to the subscribers. Never blocks.
    pub(crate) fn publish(&self, tenant: String, chunk: Arc<MemChunk>) {
        if self.sender.receiver_count() == 0 {
            return;
        }
        let _ = self.sender.send(Arc::new(TailRecord { tenant, chunk }));
    }

    /// Ends every stream (at shutdown, so the HTTP drain does not wait on them).
    pub(crate) fn close(&self) {
        self.closed.send_replace(true);
    }

    /// Subscribers right now.
    pub(crate) fn subscribers(&self) -> usize {
        self.subscribers.load(Ordering::Relaxed)
    }

    /// A Server-Sent Events stream of `tenant`'s events matching `matcher`,
    /// or `None` when the node has its maximum of subscribers.
    pub(crate) fn subscribe(
        &self,
        tenant: String,
        matcher: Matcher,
    ) -> Option<Sse<impl Stream<Item = Result<SseEvent, Infallible>>>> {
        let taken = self.subscribers.fetch_add(1, Ordering::Relaxed);
        let slot = Slot(Arc::clone(&self.subscribers));
        if taken >= self.max_subscribers {
            return None;
        }
        let state = TailStream {
            receiver: self.sender.subscribe(),
            closed: self.closed.subscribe(),
            tenant,
            matcher,
            _slot: slot,
        };
        let stream = futures::stream::unfold(state, |mut state| async move {
            let events = state.next_events().await?;
            Some((futures::stream::iter(events), state))
        });
        let stream = futures::StreamExt::flatten(stream);
        Some(Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
    }
}

struct TailStream {
    receiver: broadcast::Receiver<Arc<TailRecord>>,
    closed: watch::Receiver<bool>,
    tenant: String,
    matcher: Matcher,
    _slot: Slot,
}

impl TailStream {
    /// The next batch of SSE events (possibly empty); `None` ends the stream.
    async fn next_events(&mut self) -> Option<Vec<Result<SseEvent, Infallible>>> {
        if *self.closed.borrow() {
            return None;
        }
        let received = tokio::select! {
            received = self.receiver.recv() => received,
            _ = self.closed.changed() => return None,
        };
        match received {
            Ok(record) => {
                if record.tenant != self.tenant {
                    return Some(Vec::new());
                }
                let events = record
                    .chunk
                    .rows
                    .iter()
                    .filter(|row| self.matcher.matches(&row.event))
                    .map(|row| {
                        let data = crate::query_api::log_json(&row.id, &row.event).to_string();
                        Ok(SseEvent::default().event("log").data(data))
                    })
                    .collect();
                Some(events)
            }
            Err(broadcast::error::RecvError::Lagged(records)) => {
                let data = serde_json::json!({"dropped": records, "unit": "records"}).to_string();
                Some(vec![Ok(SseEvent::default().event("dropped").data(data))])
            }
            Err(broadcast::error::RecvError::Closed) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::response::IntoResponse;
    use http_body_util::BodyExt;
    use strata_types::Event;

    async fn index(dir: &std::path::Path) -> strata_index::Index {
        let metastore = strata_metastore::SqliteMetastore::open(&dir.join("meta.sqlite"))
            .await
            .unwrap();
        strata_index::Index::new(
            strata_index::IndexConfig {
                flush_bytes: u64::MAX,
                max_age: Duration::from_secs(3600),
                pressure_bytes: u64::MAX,
                segment: strata_segment::SegmentOptions::default(),
            },
            Arc::new(metastore),
            strata_storage::SegmentStore::open(
                &strata_storage::Backend::Local {
                    root: dir.join("segments"),
                },
                None,
            )
            .unwrap(),
        )
    }

    fn chunk(index: &strata_index::Index, seq: u64, tenant: &str, message: &str) -> Arc<MemChunk> {
        let event = Event::new(1_700_000_000_000_000_000, message.to_string());
        index
            .apply(seq, tenant, vec![event])
            .expect("a non-empty record gives a chunk")
    }

    async fn next_text(body: &mut axum::body::Body) -> String {
        let frame = tokio::time::timeout(Duration::from_secs(5), body.frame())
            .await
            .expect("an SSE frame in time")
            .expect("the stream is open")
            .expect("a frame");
        String::from_utf8(frame.into_data().expect("data frame").to_vec()).unwrap()
    }

    /// Issue 3: a reader that falls behind is told it dropped events, and
    /// publishing never waits for it; other tenants' events never reach it.
    #[tokio::test]
    async fn a_slow_reader_is_told_it_dropped_events() {
        let dir = tempfile::tempdir().unwrap();
        let index = index(dir.path()).await;
        let hub = TailHub::new(2, 4);
        let query = strata_query::parse("*").unwrap();
        let sse = hub
            .subscribe("t".into(), Matcher::new(&query))
            .expect("a subscriber slot");
        let mut body = sse.into_response().into_body();
        // The reader reads nothing while five records are published into a
        // ring of two: publish returns at once every time.
        for seq in 1..=5 {
            hub.publish("t".into(), chunk(&index, seq, "t", &format!("event {seq}")));
        }
        let first = next_text(&mut body).await;
        assert!(first.contains("event: dropped"), "{first}");
        assert!(first.contains(r#""dropped":3"#), "{first}");
        let next = next_text(&mut body).await;
        assert!(
            next.contains("event: log") && next.contains("event 4"),
            "{next}"
        );
        hub.publish(
            "other".into(),
            chunk(&index, 6, "other", "secret of another tenant"),
        );
        hub.publish("t".into(), chunk(&index, 7, "t", "event 7"));
        let mut seen = String::new();
        while !seen.contains("event 7") {
            seen.push_str(&next_text(&mut body).await);
        }
        assert!(!seen.contains("secret"), "{seen}");
        assert_eq!(hub.subscribers(), 1);
        hub.close();
        drop(body);
    }
}
