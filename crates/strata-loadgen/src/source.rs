//! Where the bodies of an HTTP run come from: pre-built bodies cycled
//! round-robin, or a stream of bodies built by generator threads while the
//! run goes (with failed stream bodies sent again, see [`retryable`]).

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::payload::{Payload, PayloadSet};

/// Where the request bodies of a run come from.
#[derive(Debug)]
pub(crate) enum Source {
    /// Pre-built bodies sent round-robin. With `limit`, stops after that
    /// many items, the last request being the set's remainder.
    Cycle {
        /// The bodies.
        set: PayloadSet,
        /// `--events`.
        limit: Option<u64>,
    },
    /// Bodies built while the run goes, taken in order until the
    /// generators are done (see [`Stream`]).
    Stream(Stream),
}

/// Bodies from generator threads: thread `t` of `T` builds bodies `t`,
/// `t + T`, `t + 2T`, ... into its own bounded channel (a lane), and the
/// senders take one body per lane in turn, so the order is kept (up to a
/// body split in two) and the threads stay a few bodies ahead. A lane whose
/// thread is done is dropped from the rotation; the stream ends with the
/// last lane.
#[derive(Debug)]
pub(crate) struct Stream {
    lanes: tokio::sync::Mutex<Lanes>,
    /// Microseconds the senders found the next body not built yet.
    pub(crate) wait_us: AtomicU64,
}

#[derive(Debug)]
struct Lanes {
    receivers: Vec<mpsc::Receiver<Payload>>,
    /// The lane to read next (taken modulo the number of lanes).
    next: usize,
}

impl Stream {
    /// A stream over the lanes' receivers.
    pub(crate) fn new(receivers: Vec<mpsc::Receiver<Payload>>) -> Stream {
        Stream {
            lanes: tokio::sync::Mutex::new(Lanes { receivers, next: 0 }),
            wait_us: AtomicU64::new(0),
        }
    }

    pub(crate) async fn next(&self) -> Option<Payload> {
        let mut lanes = self.lanes.lock().await;
        loop {
            if lanes.receivers.is_empty() {
                return None;
            }
            let lane = lanes.next % lanes.receivers.len();
            let rx = lanes.receivers.get_mut(lane)?;
            let payload = match rx.try_recv() {
                Ok(p) => Some(p),
                Err(mpsc::error::TryRecvError::Disconnected) => None,
                Err(mpsc::error::TryRecvError::Empty) => {
                    let waited = Instant::now();
                    let p = rx.recv().await;
                    self.wait_us
                        .fetch_add(waited.elapsed().as_micros() as u64, Ordering::Relaxed);
                    p
                }
            };
            match payload {
                Some(p) => {
                    lanes.next = lane + 1;
                    return Some(p);
                }
                None => {
                    // This lane's thread is done; the following lane moves
                    // into its place.
                    lanes.receivers.remove(lane);
                    lanes.next = lane;
                }
            }
        }
    }
}

/// The next body of a [`Source::Cycle`]: round-robin through the set (by
/// `next`), or with `limit`, until `claimed` items reach it, the last body
/// being the set's remainder when the limit is not a whole number of
/// batches. `None` when the limit is reached or the set is empty.
pub(crate) fn claim_cycle(
    set: &PayloadSet,
    limit: Option<u64>,
    claimed: &AtomicU64,
    next: &AtomicUsize,
) -> Option<Payload> {
    let all = set.payloads();
    let full = all.first()?.events() as u64;
    if let Some(limit) = limit {
        let mut cur = claimed.load(Ordering::Relaxed);
        loop {
            if cur >= limit {
                return None;
            }
            let take = full.min(limit - cur);
            match claimed.compare_exchange_weak(
                cur,
                cur + take,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) if take < full => return set.remainder().cloned(),
                Ok(_) => break,
                Err(actual) => cur = actual,
            }
        }
    }
    let i = next.fetch_add(1, Ordering::Relaxed);
    all.get(i % all.len()).cloned()
}

/// Sends of one [`Source::Stream`] body before it is given up.
pub(crate) const MAX_ATTEMPTS: u32 = 10;

/// A body taken from the source.
#[derive(Debug)]
pub(crate) struct Claimed<'a> {
    pub(crate) payload: Payload,
    /// Failed sends before this one (stream bodies only).
    pub(crate) attempts: u32,
    /// For stream bodies: counts the body as in flight until dropped, so
    /// the run does not end while a failed body may still come back.
    pub(crate) in_flight: Option<InFlight<'a>>,
}

#[derive(Debug)]
pub(crate) struct InFlight<'a>(pub(crate) &'a AtomicU64);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Whether a failed stream body is sent again: on back-pressure (429),
/// server errors and transport errors, as the Agent's forwarder retries;
/// not on other 4xx, which would fail again.
pub(crate) fn retryable(status: Option<u16>) -> bool {
    match status {
        None => true,
        Some(code) => code == 429 || code >= 500,
    }
}
