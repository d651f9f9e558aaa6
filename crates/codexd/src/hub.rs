//! In-process fan-out of task updates to subscribers (`watch`, `wait`, `start`).
//!
//! A state update is published only after it was flushed to the registry. Subscribers that
//! fall behind get `Lagged` from the broadcast channel and recover by re-reading the task
//! and its log from their last offset, so nothing is lost, only coalesced.

use codexd_api::{Task, TaskId};
use std::sync::Arc;
use tokio::sync::broadcast;

/// One update. (Always behind an `Arc`, so the size of the variants does not matter.)
#[derive(Debug)]
#[allow(clippy::large_enum_variant)]
pub enum Update {
    /// A task's record changed (already durable).
    State(Task),
    /// A new event line was appended to a task's log.
    Event {
        /// The task.
        task: TaskId,
        /// Byte offset of the line.
        offset: u64,
        /// The line (no newline).
        line: Arc<str>,
    },
}

impl Update {
    /// The task this update is about.
    pub fn task_id(&self) -> &TaskId {
        match self {
            Update::State(task) => &task.id,
            Update::Event { task, .. } => task,
        }
    }
}

/// The broadcast hub.
#[derive(Clone)]
pub struct Hub {
    tx: broadcast::Sender<Arc<Update>>,
}

impl Hub {
    /// A hub whose subscribers may fall `capacity` updates behind before lagging.
    pub fn new(capacity: usize) -> Self {
        Hub {
            tx: broadcast::channel(capacity).0,
        }
    }

    /// Publishes an update to every current subscriber.
    pub fn publish(&self, update: Update) {
        // Nothing is kept when nobody listens (an unwatched run's lines are never copied).
        if self.tx.receiver_count() > 0 {
            let _ = self.tx.send(Arc::new(update));
        }
    }

    /// A new subscription, receiving updates published from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Update>> {
        self.tx.subscribe()
    }
}
