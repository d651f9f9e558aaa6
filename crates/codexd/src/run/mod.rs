//! The process supervisor: the run queue, starting runs, watching them, stopping them.
//!
//! Ownership rules that keep state changes race-free:
//! - a `queued` task is changed only under the scheduler lock (start, cancel, dequeue);
//! - a `running` task is changed only by its monitor (one tokio task per run), which also
//!   applies cancel and timeout requests sent to it;
//! - every change is saved (and flushed) to the registry before it is published.

//!
//! The supervisor answers one question per file:
//! - `queue`: which task runs next (submit, schedule, stop requests, run slots);
//! - `launch`: how a run is started (`codexd run-task` in its own session);
//! - `monitor`: how a running task is watched and stopped;
//! - `settle`: how an ended run becomes a terminal record with its result;
//! - `recovery`: what an earlier daemon left behind (adopt, settle, queue again);
//! - `prune`: removing old finished tasks.
//!
//! Beside it: [`runner`] is the per-run supervisor process itself, [`process`] process
//! identity and signals, [`held`] the values a queued task needs that never touch the disk,
//! [`rebuild`] a record rebuilt from a task directory, [`config_layer`] the per-run profile file
//! that carries `-c` overrides which may hold secrets, [`exit_fallback`] where an exit status goes
//! when `exit.json` cannot be written.

mod cgroup;
pub mod config_layer;
pub mod exit_fallback;
pub mod held;
mod launch;
mod monitor;
pub mod process;
mod prune;
mod queue;
pub mod rebuild;
mod recovery;
pub mod runner;
mod settle;
mod tail;
#[cfg(test)]
pub(crate) mod test_support;
#[cfg(test)]
mod tests;
pub mod watchdog;

pub use launch::codex_args;

use crate::config::Config;
use crate::hub::{Hub, Update};
use crate::registry::records::StopReason;
use crate::registry::{Registry, RegistryError};
use codexd_api::{ApiError, ErrorKind, Task, TaskId};
use held::{PendingStore, RunEnv};
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use tokio::sync::{Mutex, mpsc};

/// How a monitor is told to stop its run.
struct RunControl {
    stop: mpsc::UnboundedSender<StopReason>,
}

/// The scheduler's state, behind one lock.
#[derive(Default)]
struct Sched {
    queue: VecDeque<TaskId>,
    envs: HashMap<TaskId, RunEnv>,
    running: HashMap<TaskId, RunControl>,
    accepting: bool,
}

/// What every clone of the handle shares.
struct Inner {
    config: Arc<Config>,
    registry: Registry,
    hub: Hub,
    sched: Mutex<Sched>,
    /// Held values of queued tasks; opened by `recover`, once the socket's directory exists.
    pending: std::sync::OnceLock<PendingStore>,
    /// Idempotency keys of starts in progress (a repeat waits for the first to finish).
    keys_in_flight: std::sync::Mutex<std::collections::HashSet<String>>,
}

/// The supervisor handle (cheap to clone).
#[derive(Clone)]
pub struct Supervisor {
    inner: Arc<Inner>,
}

/// A storage failure as the API reports it.
pub(super) fn storage(err: impl std::fmt::Display) -> ApiError {
    ApiError::new(ErrorKind::Storage, err.to_string())
}

impl Supervisor {
    /// A supervisor over `registry`, publishing to `hub`. Call [`Supervisor::recover`] next.
    pub fn new(config: Arc<Config>, registry: Registry, hub: Hub) -> Self {
        Supervisor {
            inner: Arc::new(Inner {
                config,
                registry,
                hub,
                sched: Mutex::new(Sched {
                    accepting: true,
                    ..Default::default()
                }),
                pending: std::sync::OnceLock::new(),
                keys_in_flight: Default::default(),
            }),
        }
    }

    /// The registry.
    pub fn registry(&self) -> &Registry {
        &self.inner.registry
    }

    /// The hub.
    pub fn hub(&self) -> &Hub {
        &self.inner.hub
    }

    /// Where values of queued tasks that are never written to disk are held.
    pub(super) fn pending(&self) -> &PendingStore {
        self.inner.pending.get_or_init(|| {
            PendingStore::open(
                &self.inner.config.runtime_dir(),
                &self.inner.config.state_dir,
            )
        })
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// Saves and then publishes a task's new record.
    pub(super) async fn commit(&self, task: &Task) -> Result<(), RegistryError> {
        self.inner.registry.save(task).await?;
        self.inner.hub.publish(Update::State(task.clone()));
        Ok(())
    }
}
