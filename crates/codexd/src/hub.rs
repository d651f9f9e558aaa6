//! In-process fan-out of task updates to subscribers (`watch`, `wait`, `start`, `cancel`).
//!
//! A state update is published only after it was flushed to the registry. Fan-out is by
//! interest: each subscriber names the tasks it follows (or all tasks) and whether it wants
//! event lines or only state changes, and an update for task T is handed only to T's
//! subscribers and the all-tasks ones — a publish costs work proportional to T's interest,
//! never to every waiter of the daemon.
//!
//! Each subscriber has its own bounded queue. A subscriber that falls `capacity` updates
//! behind loses the updates that did not fit and gets [`Lagged`] on its next receive (before
//! anything published after the loss); it recovers by re-reading the task and its log from
//! its last offset, so nothing is lost, only coalesced. Subscribing is synchronous, so a
//! caller that subscribes before reading the task never misses the final state.

use codexd_api::{Task, TaskId};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::mpsc;

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

    /// Whether this is an event line (not a state change).
    fn is_event(&self) -> bool {
        matches!(self, Update::Event { .. })
    }
}

/// A subscriber fell behind: some updates were dropped; re-read what it follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lagged;

/// One subscriber as the hub holds it.
struct Entry {
    /// The subscription's id (to remove it when dropped).
    id: u64,
    /// Whether it wants event lines too, or only state changes.
    events: bool,
    /// Its queue.
    tx: mpsc::Sender<Arc<Update>>,
    /// Set when an update did not fit in its queue.
    lagged: Arc<AtomicBool>,
}

impl Entry {
    /// Hands `update` over if the subscriber wants it; a full queue marks it lagged.
    fn offer(&self, update: &Arc<Update>) {
        if update.is_event() && !self.events {
            return;
        }
        if let Err(mpsc::error::TrySendError::Full(_)) = self.tx.try_send(update.clone()) {
            self.lagged.store(true, Ordering::Release);
        }
    }
}

/// Who follows what.
#[derive(Default)]
struct Subscribers {
    /// Subscribers of one or more given tasks, by task.
    by_task: HashMap<TaskId, Vec<Entry>>,
    /// Subscribers of every task.
    all: Vec<Entry>,
}

/// The hub's shared part.
struct Inner {
    /// Queue length of each subscriber.
    capacity: usize,
    /// The next subscription id.
    next_id: AtomicU64,
    /// The subscribers.
    subscribers: Mutex<Subscribers>,
}

impl Inner {
    /// The subscriber table. A panic while it was held cannot leave it inconsistent (every
    /// change is one insert or remove), so a poisoned lock is taken as it is.
    fn lock(&self) -> MutexGuard<'_, Subscribers> {
        self.subscribers
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// The fan-out hub.
#[derive(Clone)]
pub struct Hub {
    inner: Arc<Inner>,
}

/// What a subscription follows.
enum Scope<'a> {
    /// These tasks.
    Tasks(&'a [TaskId]),
    /// Every task.
    All,
}

impl Hub {
    /// A hub whose subscribers may fall `capacity` updates behind before lagging.
    pub fn new(capacity: usize) -> Self {
        Hub {
            inner: Arc::new(Inner {
                capacity: capacity.max(1),
                next_id: AtomicU64::new(1),
                subscribers: Mutex::new(Subscribers::default()),
            }),
        }
    }

    /// Publishes an update to the subscribers of its task and to the all-tasks ones.
    pub fn publish(&self, update: Update) {
        let subscribers = self.inner.lock();
        let of_task = subscribers.by_task.get(update.task_id());
        // Nothing is kept when nobody listens (an unwatched run's lines are never copied).
        if of_task.is_none() && subscribers.all.is_empty() {
            return;
        }
        let update = Arc::new(update);
        for entry in of_task.into_iter().flatten().chain(&subscribers.all) {
            entry.offer(&update);
        }
    }

    /// A subscription to the updates of `tasks` published from now on: state changes, and
    /// event lines too when `events`.
    pub fn subscribe(&self, tasks: &[TaskId], events: bool) -> Subscription {
        self.add(Scope::Tasks(tasks), events)
    }

    /// A subscription to the updates of every task published from now on.
    pub fn subscribe_all(&self, events: bool) -> Subscription {
        self.add(Scope::All, events)
    }

    /// Registers a subscription for `scope`.
    fn add(&self, scope: Scope<'_>, events: bool) -> Subscription {
        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = mpsc::channel(self.inner.capacity);
        let lagged = Arc::new(AtomicBool::new(false));
        let entry = || Entry {
            id,
            events,
            tx: tx.clone(),
            lagged: lagged.clone(),
        };
        let mut subscribers = self.inner.lock();
        let tasks = match scope {
            Scope::Tasks(tasks) => {
                let mut unique: Vec<TaskId> = tasks.to_vec();
                unique.sort();
                unique.dedup();
                for task in &unique {
                    subscribers
                        .by_task
                        .entry(task.clone())
                        .or_default()
                        .push(entry());
                }
                Some(unique)
            }
            Scope::All => {
                subscribers.all.push(entry());
                None
            }
        };
        Subscription {
            hub: self.inner.clone(),
            id,
            tasks,
            rx,
            lagged,
        }
    }

    /// How many subscriptions follow `task` specifically (not counting all-tasks ones).
    pub fn subscribers_of(&self, task: &TaskId) -> usize {
        self.inner.lock().by_task.get(task).map_or(0, Vec::len)
    }
}

/// One subscription; unsubscribes when dropped.
pub struct Subscription {
    /// The hub it is registered with.
    hub: Arc<Inner>,
    /// Its id there.
    id: u64,
    /// The tasks it follows (`None`: all).
    tasks: Option<Vec<TaskId>>,
    /// Its queue.
    rx: mpsc::Receiver<Arc<Update>>,
    /// Set by the hub when an update did not fit.
    lagged: Arc<AtomicBool>,
}

impl Subscription {
    /// The next update, or [`Lagged`] when some were dropped since the last receive (the
    /// queue is emptied then: re-read, and go on receiving). Waits forever when nothing
    /// comes.
    pub async fn recv(&mut self) -> Result<Arc<Update>, Lagged> {
        if self.lagged.swap(false, Ordering::AcqRel) {
            while self.rx.try_recv().is_ok() {}
            return Err(Lagged);
        }
        match self.rx.recv().await {
            Some(update) => Ok(update),
            // The hub holds the sender for as long as this subscription lives.
            None => std::future::pending().await,
        }
    }
}

impl Drop for Subscription {
    /// Removes the subscription from the hub.
    fn drop(&mut self) {
        let id = self.id;
        let mut subscribers = self.hub.lock();
        match &self.tasks {
            Some(tasks) => {
                for task in tasks {
                    if let Some(entries) = subscribers.by_task.get_mut(task) {
                        entries.retain(|e| e.id != id);
                        if entries.is_empty() {
                            subscribers.by_task.remove(task);
                        }
                    }
                }
            }
            None => subscribers.all.retain(|e| e.id != id),
        }
    }
}

#[cfg(test)]
mod tests;
