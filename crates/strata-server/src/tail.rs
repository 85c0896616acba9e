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
