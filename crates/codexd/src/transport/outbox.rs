//! What goes back to the peer: a connection's outbox of messages, bounded in count and in
//! bytes, and the writer that drains it one line at a time.
//!
//! The byte budget is what keeps a peer that reads slowly (or not at all) from holding the
//! daemon's memory: producers wait for room, and a peer that leaves a message untaken for
//! the stall timeout ends the writer, and with it the connection.

use super::Limits;
use super::activity::Activity;
use interprocess::local_socket::tokio::Stream;
use serde_json::value::RawValue;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncWriteExt, WriteHalf};
use tokio::sync::{Semaphore, mpsc};

/// One message queued for the peer, with the share of the byte budget it holds until it
/// is written.
pub(super) struct Outgoing {
    pub(super) message: Box<RawValue>,
    _budget: tokio::sync::OwnedSemaphorePermit,
}

/// A connection's queue of outgoing messages, bounded in messages and in bytes (KiB
/// permits of one semaphore), so that a peer that reads slowly holds at most a few MiB of
/// the daemon's memory however large the messages are.
#[derive(Clone)]
pub(super) struct Outbox {
    queue: mpsc::Sender<Outgoing>,
    budget: Arc<Semaphore>,
    budget_kib: u32,
}

impl Outbox {
    /// An outbox within `limits` and the receiving end for the writer.
    pub(super) fn new(limits: &Limits) -> (Outbox, mpsc::Receiver<Outgoing>) {
        let (queue, rx) = mpsc::channel(limits.send_buffer);
        let budget_kib = u32::try_from(limits.send_buffer_bytes.div_ceil(1024))
            .unwrap_or(u32::MAX)
            .clamp(1, Semaphore::MAX_PERMITS as u32);
        let outbox = Outbox {
            queue,
            budget: Arc::new(Semaphore::new(budget_kib as usize)),
            budget_kib,
        };
        (outbox, rx)
    }

    /// Queues `message`, waiting for room; `Err` once the writer is gone.
    pub(super) async fn send(&self, message: Box<RawValue>) -> Result<(), ()> {
        let kib = u32::try_from(message.get().len().div_ceil(1024))
            .unwrap_or(u32::MAX)
            .clamp(1, self.budget_kib);
        let budget = self
            .budget
            .clone()
            .acquire_many_owned(kib)
            .await
            .map_err(|_| ())?;
        self.queue
            .send(Outgoing {
                message,
                _budget: budget,
            })
            .await
            .map_err(|_| ())
    }
}

/// Writes outgoing messages, one per line, until the connection ends or the peer stops
/// taking them for `stall`.
pub(super) async fn write_loop(
    mut send: WriteHalf<Stream>,
    mut rx: mpsc::Receiver<Outgoing>,
    activity: Arc<Activity>,
    stall: Duration,
) {
    while let Some(outgoing) = rx.recv().await {
        let msg = &outgoing.message;
        let mut bytes = Vec::with_capacity(msg.get().len() + 1);
        bytes.extend_from_slice(msg.get().as_bytes());
        bytes.push(b'\n');
        match tokio::time::timeout(stall, send.write_all(&bytes)).await {
            Ok(Ok(())) => activity.touch(),
            Ok(Err(_)) | Err(_) => return,
        }
        // Dropping `outgoing` gives its bytes back to the budget.
    }
}
