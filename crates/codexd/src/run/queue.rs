//! Which task runs next: recording a new task and queueing it, starting queued tasks while
//! run slots are free, and stop requests (a queued task is cancelled at once, a running
//! one is told through its monitor).
//!
//! A `queued` task is changed only here, under the scheduler lock.

use super::held::{RunEnv, needs_held_values};
use super::monitor::record_stop;
use super::{RunControl, Supervisor, storage};
use crate::registry::records::StopReason;
use crate::registry::taskdir::{self, TaskDir};
use codexd_api::{ApiError, ErrorKind, Task, TaskId, TaskState, Timestamp};
use tokio::sync::mpsc;

impl Supervisor {
    /// Stops accepting new tasks (used at shutdown).
    pub async fn stop_accepting(&self) {
        self.inner.sched.lock().await.accepting = false;
    }

    /// Numbers of running and queued tasks.
    pub async fn counts(&self) -> (u32, u32) {
        let sched = self.inner.sched.lock().await;
        (sched.running.len() as u32, sched.queue.len() as u32)
    }

    /// Fills in `queue_position` for queued tasks.
    pub async fn with_positions(&self, mut tasks: Vec<Task>) -> Vec<Task> {
        if !tasks.iter().any(|t| t.state == TaskState::Queued) {
            return tasks;
        }
        let sched = self.inner.sched.lock().await;
        for task in tasks.iter_mut().filter(|t| t.state == TaskState::Queued) {
            task.queue_position = sched
                .queue
                .iter()
                .position(|id| id == &task.id)
                .map(|p| p as u32 + 1);
        }
        tasks
    }

    /// Records a new task (request file, then registry) and queues it.
    ///
    /// The scheduler lock is not held while the task is recorded, so that concurrent starts
    /// share registry flushes. A task recorded while a shutdown begins is still queued: it
    /// is in the registry as `queued`, and the next daemon starts it.
    pub async fn submit(
        &self,
        request: taskdir::StoredRequest,
        env: RunEnv,
    ) -> Result<Task, ApiError> {
        // One start per idempotency key at a time; a repeat gets the first one's task.
        let _claim = match &request.request_id {
            Some(key) => Some(self.claim_key(key).await),
            None => None,
        };
        if let Some(key) = &request.request_id
            && let Some(existing) = self.inner.registry.by_request_id(key).map_err(storage)?
        {
            tracing::info!(task = %existing.id, request_id = %key, "a repeated start: returning the task its request_id started");
            return Ok(existing);
        }
        let dir = TaskDir::new(&self.inner.config.tasks_root(), &request.id);
        let task = request.new_task();
        if !self.inner.sched.lock().await.accepting {
            return Err(ApiError::new(
                ErrorKind::ShuttingDown,
                "codexd is shutting down and accepts no new tasks",
            ));
        }
        dir.create(&request)
            .map_err(|e| storage(format!("cannot record the task: {e}")))?;
        if needs_held_values(&task) || !env.remove.is_empty() {
            self.pending().hold(&task.id, &env);
        }
        self.commit(&task)
            .await
            .map_err(|e| storage(format!("cannot record the task: {e}")))?;
        {
            let mut sched = self.inner.sched.lock().await;
            sched.queue.push_back(task.id.clone());
            sched.envs.insert(task.id.clone(), env);
        }
        self.schedule().await;
        Ok(task)
    }

    /// Waits until no other start with idempotency key `key` is in progress, then claims
    /// the key until the returned claim is dropped.
    async fn claim_key(&self, key: &str) -> KeyClaim {
        loop {
            if self
                .inner
                .keys_in_flight
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(key.to_string())
            {
                return KeyClaim {
                    sup: self.clone(),
                    key: key.to_string(),
                };
            }
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    }

    /// A fresh, unused task id.
    pub fn new_task_id(&self) -> Result<TaskId, ApiError> {
        loop {
            let id = TaskId::from_bits(rand::random::<u64>());
            let taken = self.inner.registry.contains(&id).map_err(storage)?
                || TaskDir::new(&self.inner.config.tasks_root(), &id)
                    .path()
                    .exists();
            if !taken {
                return Ok(id);
            }
        }
    }

    /// Starts queued tasks while there are free run slots.
    // Boxed: schedule → launch → release → schedule is a cycle of futures.
    pub(super) fn schedule(&self) -> futures::future::BoxFuture<'_, ()> {
        Box::pin(self.schedule_now())
    }

    /// One scheduling pass, under the scheduler lock.
    async fn schedule_now(&self) {
        let mut sched = self.inner.sched.lock().await;
        while sched.accepting && (sched.running.len() as u32) < self.inner.config.max_running {
            let Some(id) = sched.queue.pop_front() else {
                break;
            };
            let env = sched.envs.remove(&id).unwrap_or_default();
            let (tx, rx) = mpsc::unbounded_channel();
            sched.running.insert(id.clone(), RunControl { stop: tx });
            let this = self.clone();
            tokio::spawn(async move { this.launch(id, env, rx).await });
        }
    }

    /// Requests a stop of a running task, or cancels a queued one at once. Returns false if
    /// the task was neither queued nor running.
    pub async fn request_stop(&self, id: &TaskId, reason: StopReason) -> Result<bool, ApiError> {
        let mut sched = self.inner.sched.lock().await;
        if let Some(run) = sched.running.get(id) {
            let _ = run.stop.send(reason);
            return Ok(true);
        }
        let Some(pos) = sched.queue.iter().position(|q| q == id) else {
            return Ok(false);
        };
        let mut task = match self.inner.registry.get(id).map_err(storage)? {
            Some(task) => task,
            None => return Ok(false),
        };
        let now = Timestamp::now();
        record_stop(
            &TaskDir::new(&self.inner.config.tasks_root(), id),
            StopReason::Cancelled,
            now,
        );
        task.error = Some("cancelled by request before it started".into());
        task.enter(TaskState::Cancelled, now);
        self.commit(&task).await.map_err(storage)?;
        sched.queue.remove(pos);
        sched.envs.remove(id);
        self.pending().release(id);
        Ok(true)
    }

    /// Frees a task's run slot and starts the next queued task.
    pub(super) async fn release(&self, id: &TaskId) {
        self.inner.sched.lock().await.running.remove(id);
        self.schedule().await;
    }
}

/// An idempotency key claimed by a start in progress.
struct KeyClaim {
    sup: Supervisor,
    key: String,
}

impl Drop for KeyClaim {
    fn drop(&mut self) {
        self.sup
            .inner
            .keys_in_flight
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&self.key);
    }
}
