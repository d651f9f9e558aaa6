//! The process supervisor: the run queue, starting runs, watching them, stopping them.
//!
//! Ownership rules that keep state changes race-free:
//! - a `queued` task is changed only under the scheduler lock (start, cancel, dequeue);
//! - a `running` task is changed only by its monitor (one tokio task per run), which also
//!   applies cancel and timeout requests sent to it;
//! - every change is saved (and flushed) to the registry before it is published.

pub mod held;
pub mod process;
pub mod rebuild;
pub mod runner;

use crate::config::Config;
use crate::files::{self, FileError};
use crate::hub::{Hub, Update};
use crate::registry::records::{
    EVENTS_FILE, EXIT_FILE, ExitRecord, RESULT_FILE, STDERR_FILE, StopReason, TIMES_FILE,
};
use crate::registry::taskdir::{self, TaskDir};
use crate::registry::{Registry, RegistryError};
use crate::results::outcome::{RunFacts, settle};
use crate::results::{self, gitsnap};
use codexd_api::{ApiError, ErrorKind, Task, TaskId, TaskResult, TaskState, Timestamp};
use held::{PendingStore, RunEnv};
use std::collections::{HashMap, VecDeque};
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Mutex, mpsc};
use tokio::time::Instant;

/// Name prefix of a task directory being pruned.
const PRUNED_PREFIX: &str = ".pruned-";

/// How often a running task's event log is checked for new lines.
const TAIL_INTERVAL: Duration = Duration::from_millis(20);
/// Most bytes of log ingested per read.
const INGEST_CHUNK: u64 = 1024 * 1024;

struct RunControl {
    stop: mpsc::UnboundedSender<StopReason>,
}

#[derive(Default)]
struct Sched {
    queue: VecDeque<TaskId>,
    envs: HashMap<TaskId, RunEnv>,
    running: HashMap<TaskId, RunControl>,
    accepting: bool,
}

struct Inner {
    config: Arc<Config>,
    registry: Registry,
    hub: Hub,
    sched: Mutex<Sched>,
    /// Held values of queued tasks; opened by `recover`, once the socket's directory exists.
    pending: std::sync::OnceLock<PendingStore>,
}

/// The supervisor handle (cheap to clone).
#[derive(Clone)]
pub struct Supervisor {
    inner: Arc<Inner>,
}

/// How a run's process is watched.
enum RunProcess {
    /// Spawned by this daemon: reaped with `wait`.
    Child(tokio::process::Child),
    /// Spawned by an earlier daemon: watched by pid and start time.
    Adopted { pid: u32, start: Option<u64> },
}

impl RunProcess {
    async fn exited(&mut self) {
        match self {
            RunProcess::Child(child) => {
                let _ = child.wait().await;
            }
            RunProcess::Adopted { pid, start } => process::wait_for_exit(*pid, *start).await,
        }
    }
}

fn storage(err: impl std::fmt::Display) -> ApiError {
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
    fn pending(&self) -> &PendingStore {
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
    async fn commit(&self, task: &Task) -> Result<(), RegistryError> {
        self.inner.registry.save(task).await?;
        self.inner.hub.publish(Update::State(task.clone()));
        Ok(())
    }

    /// Settles what an earlier daemon left behind: runs still alive are adopted, runs that
    /// ended are settled from their files, and queued tasks are queued again, with the
    /// values held for them on a memory file system. A queued task that needed values that
    /// are gone (the store is on no tmpfs, or the machine rebooted) is marked interrupted.
    pub async fn recover(&self) -> Result<(), RegistryError> {
        let mut tasks = self
            .inner
            .registry
            .tasks_where(|t| !t.state.is_terminal())?;
        tasks.sort_by_key(|t| t.created_at);
        let queued: std::collections::HashSet<TaskId> = tasks
            .iter()
            .filter(|t| t.state == TaskState::Queued)
            .map(|t| t.id.clone())
            .collect();
        self.pending().sweep(|id| queued.contains(id));
        // Processes of queued tasks: runs an earlier daemon was starting when it died.
        let mut marked = if queued.is_empty() {
            Default::default()
        } else {
            process::processes_by_task()
        };
        for mut task in tasks {
            let mut held = match task.state {
                TaskState::Queued => self.pending().take(&task.id),
                _ => None,
            };
            if task.state == TaskState::Queued {
                let dir = TaskDir::new(&self.inner.config.tasks_root(), &task.id);
                let stray = marked.remove(task.id.as_str()).unwrap_or_default();
                if self.was_launched(&mut task, &dir, &stray).await? {
                    self.adopt_or_settle(task).await?;
                    continue;
                }
            }
            match task.state {
                TaskState::Running => self.adopt_or_settle(task).await?,
                TaskState::Queued if held.is_some() || !needs_held_values(&task) => {
                    // Either its held values survived, or nothing of the request was held
                    // only in memory and it can start as stored.
                    let env = held.take().unwrap_or_else(|| RunEnv {
                        prompt: task.prompt.clone(),
                        config: task.config.clone(),
                        ..Default::default()
                    });
                    tracing::info!(task = %task.id, "queued again after a restart");
                    let mut sched = self.inner.sched.lock().await;
                    sched.queue.push_back(task.id.clone());
                    sched.envs.insert(task.id.clone(), env);
                }
                TaskState::Queued => {
                    task.error = Some(
                        "codexd restarted before this task started; its environment values \
                         (and any secret in its prompt) are never written to disk and were not \
                         held on a memory file system (see --runtime-dir), so it was not \
                         started: start it again"
                            .into(),
                    );
                    task.enter(TaskState::Interrupted, Timestamp::now());
                    self.commit(&task).await?;
                }
                _ => {}
            }
        }
        self.schedule().await;
        Ok(())
    }

    /// A task recorded as running: re-adopted if its run's supervisor is still alive (same
    /// pid, same start time), else settled from the files its run left.
    async fn adopt_or_settle(&self, task: Task) -> Result<(), RegistryError> {
        let mut task = task;
        let alive = task
            .pid
            .is_some_and(|pid| process::is_same_process_alive(pid, task.pid_start_time));
        if let (true, Some(pid)) = (alive, task.pid) {
            tracing::info!(task = %task.id, pid, "re-adopting a run left by an earlier daemon");
            let proc = RunProcess::Adopted {
                pid,
                start: task.pid_start_time,
            };
            let (tx, rx) = mpsc::unbounded_channel();
            self.inner
                .sched
                .lock()
                .await
                .running
                .insert(task.id.clone(), RunControl { stop: tx });
            let this = self.clone();
            tokio::spawn(async move { this.monitor(task, proc, rx).await });
        } else {
            let dir = TaskDir::new(&self.inner.config.tasks_root(), &task.id);
            let facts = read_all_facts(&dir);
            let exit = dir.read_exit().unwrap_or_else(|e| {
                tracing::warn!(task = %task.id, "{e}");
                None
            });
            let stop = dir.read_stop().ok().flatten().map(|s| s.reason);
            self.finish(&mut task, &dir, &facts, exit.as_ref(), stop)
                .await?;
            tracing::info!(task = %task.id, state = %task.state, "settled a run that ended while codexd was not watching");
        }
        Ok(())
    }

    /// For a task recorded as queued: true if an earlier daemon had already started its run
    /// and died before recording that. The task is then recorded as running (with its
    /// supervisor's pid while that lives), so that it is adopted or settled and never
    /// started a second time. The signs of a start, in the order a run leaves them: its
    /// supervisor alive (a process carrying the task's marker that leads its own session),
    /// `events.jsonl` (opened by the supervisor before it starts codex), `run.json`,
    /// `exit.json`. `marked` are the live processes carrying the task's marker.
    async fn was_launched(
        &self,
        task: &mut Task,
        dir: &TaskDir,
        marked: &[u32],
    ) -> Result<bool, RegistryError> {
        let run = dir.read_run().unwrap_or_else(|e| {
            tracing::warn!(task = %task.id, "{e}");
            None
        });
        let supervisor = run
            .as_ref()
            .map(|run| run.runner_pid)
            .filter(|&pid| process::is_task_process(pid, task.id.as_str()))
            .or_else(|| {
                marked
                    .iter()
                    .copied()
                    .find(|&pid| process::session_id(pid) == Some(pid))
            });
        let left_files =
            run.is_some() || dir.file(EXIT_FILE).exists() || dir.file(EVENTS_FILE).exists();
        if supervisor.is_none() && !marked.is_empty() {
            // Processes of the task without their supervisor: nothing can read their
            // output or record their end any more.
            tracing::warn!(task = %task.id, processes = marked.len(), "killing processes of a run whose supervisor is gone");
            process::sweep_marked_processes(task.id.as_str()).await;
        }
        if supervisor.is_none() && !left_files {
            return Ok(false);
        }
        if let Some(pid) = supervisor {
            task.pid = Some(pid);
            task.pid_start_time = process::start_time(pid);
        }
        let started_at = run.as_ref().map_or_else(Timestamp::now, |r| r.started_at);
        tracing::info!(task = %task.id, pid = ?supervisor, "an earlier daemon started this run without recording it");
        task.enter(TaskState::Running, started_at);
        self.commit(task).await?;
        Ok(true)
    }

    /// Restores registry records from the task directories: every one when `all`, else only
    /// those the registry lacks (writes lost with a crash). Returns how many were restored.
    /// Run [`Supervisor::recover`] afterwards to adopt or settle the restored runs.
    pub async fn restore_from_files(&self, all: bool) -> Result<usize, RegistryError> {
        let mut restored = 0;
        for (id, dir) in taskdir::task_dirs(&self.inner.config.tasks_root()) {
            let path = dir.path().to_path_buf();
            if !all && self.inner.registry.contains(&id)? {
                continue;
            }
            match crate::run::rebuild::rebuild_record(&dir) {
                Ok(Some(task)) => {
                    self.inner.registry.save_unflushed(&task)?;
                    restored += 1;
                }
                Ok(None) => {
                    tracing::warn!(dir = %path.display(), "not a task directory (no request.json); skipped")
                }
                Err(e) => tracing::warn!("cannot restore task {id}: {e}"),
            }
        }
        self.inner.registry.flush().await?;
        Ok(restored)
    }

    /// Removes finished tasks that ended more than `older_than` ago: the directory is first
    /// renamed out of the way (so a crash cannot resurrect a half-removed task), then the
    /// record goes, then the files. Queued and running tasks are never touched.
    pub async fn prune(
        &self,
        older_than: Duration,
        dry_run: bool,
    ) -> Result<Vec<TaskId>, RegistryError> {
        let now = Timestamp::now();
        let mut old: Vec<Task> = self.inner.registry.tasks_where(|t| {
            t.state.is_terminal() && t.finished_at.is_some_and(|at| at.until(now) > older_than)
        })?;
        old.sort_by_key(|t| t.finished_at);
        if dry_run {
            return Ok(old.into_iter().map(|t| t.id).collect());
        }
        let root = self.inner.config.tasks_root();
        let mut pruned = Vec::with_capacity(old.len());
        for task in old {
            let dir = TaskDir::new(&root, &task.id).path().to_path_buf();
            let doomed = root.join(format!("{PRUNED_PREFIX}{}", task.id));
            if dir.exists()
                && let Err(e) = std::fs::rename(&dir, &doomed)
            {
                tracing::warn!(task = %task.id, "cannot prune {}: {e}", dir.display());
                continue;
            }
            self.inner.registry.remove(&task).await?;
            if let Err(e) = std::fs::remove_dir_all(&doomed)
                && e.kind() != std::io::ErrorKind::NotFound
            {
                tracing::warn!(task = %task.id, "cannot remove {}: {e}", doomed.display());
            }
            pruned.push(task.id);
        }
        if !pruned.is_empty() {
            tracing::info!(count = pruned.len(), "pruned finished tasks");
        }
        Ok(pruned)
    }

    /// Deletes directories left by a prune that was interrupted.
    pub fn clean_pruned_leftovers(&self) {
        let Ok(entries) = std::fs::read_dir(self.inner.config.tasks_root()) else {
            return;
        };
        for entry in entries.flatten() {
            if entry
                .file_name()
                .to_string_lossy()
                .starts_with(PRUNED_PREFIX)
            {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
    }

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
    fn schedule(&self) -> futures::future::BoxFuture<'_, ()> {
        Box::pin(self.schedule_now())
    }

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

    /// Starts the runner for a dequeued task and hands it to its monitor.
    async fn launch(&self, id: TaskId, env: RunEnv, stop_rx: mpsc::UnboundedReceiver<StopReason>) {
        let config = &self.inner.config;
        let mut task = match self.inner.registry.get(&id) {
            Ok(Some(task)) => task,
            other => {
                tracing::error!(task = %id, "queued task vanished from the registry: {other:?}");
                self.release(&id).await;
                return;
            }
        };
        let dir = TaskDir::new(&config.tasks_root(), &id);
        // The base of the result's diffstat: the work tree before codex touches it.
        if let Some(snapshot) = gitsnap::snapshot(&task.cwd, dir.path()).await {
            task.git_base_tree = Some(snapshot.tree);
        }
        let spawned = resolve_codex(&config.codex_bin, &env)
            .and_then(|codex| spawn_runner(config, &task, &dir, &codex, &env));
        // The unredacted prompt is no longer needed once codex has it.
        drop(env);
        match spawned {
            Ok(child) => {
                let pid = child.id().unwrap_or(0);
                task.pid = Some(pid);
                task.pid_start_time = process::start_time(pid);
                task.enter(TaskState::Running, Timestamp::now());
                if let Err(e) = self.commit(&task).await {
                    tracing::error!(task = %id, "cannot record the start of the run: {e}");
                }
                self.pending().release(&id);
                tracing::info!(task = %id, pid, "run started");
                self.monitor(task, RunProcess::Child(child), stop_rx).await;
            }
            Err(message) => {
                tracing::warn!(task = %id, "cannot start codex: {message}");
                task.enter(TaskState::Running, Timestamp::now());
                task.error = Some(message);
                task.enter(TaskState::Failed, Timestamp::now());
                if let Err(e) = self.commit(&task).await {
                    tracing::error!(task = %id, "cannot record the failure: {e}");
                }
                self.pending().release(&id);
                self.release(&id).await;
            }
        }
    }

    /// Frees a task's run slot and starts the next queued task.
    async fn release(&self, id: &TaskId) {
        self.inner.sched.lock().await.running.remove(id);
        self.schedule().await;
    }

    /// Watches a run until it ends: ingests its event log, applies stop requests and the
    /// timeout, then settles the task.
    async fn monitor(
        &self,
        mut task: Task,
        mut proc: RunProcess,
        mut stop_rx: mpsc::UnboundedReceiver<StopReason>,
    ) {
        let config = self.inner.config.clone();
        let dir = TaskDir::new(&config.tasks_root(), &task.id);
        let pid = task.pid.unwrap_or(0);
        let mut facts = RunFacts::default();
        let mut offset = 0u64;
        // Facts are rebuilt from the start of the log; only lines not yet published are
        // published (an adopted run was partly watched by the previous daemon).
        let published_upto = task.log_bytes;
        let deadline = task.timeout_ms.map(|ms| {
            let elapsed = task
                .started_at
                .map(|s| s.until(Timestamp::now()))
                .unwrap_or_default();
            Instant::now() + Duration::from_millis(ms).saturating_sub(elapsed)
        });
        // A stop decided by an earlier daemon (which died before the run ended) still holds:
        // signal again, then kill after the grace period.
        let mut stop: Option<StopReason> = dir.read_stop().ok().flatten().map(|s| s.reason);
        let mut kill_at: Option<Instant> = None;
        if stop.is_some() {
            let _ = process::signal_group(pid, libc::SIGINT);
            kill_at = Some(Instant::now() + config.kill_grace);
        }
        let mut tick = tokio::time::interval(TAIL_INTERVAL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        {
            let exited = proc.exited();
            tokio::pin!(exited);
            loop {
                tokio::select! {
                    _ = &mut exited => break,
                    _ = tick.tick() => {
                        self.ingest(&mut task, &dir, &mut facts, &mut offset, published_upto).await;
                    }
                    Some(reason) = stop_rx.recv(), if stop.is_none() => {
                        tracing::info!(task = %task.id, ?reason, "stopping run: SIGINT to its process group");
                        record_stop(&dir, reason, Timestamp::now());
                        stop = Some(reason);
                        let _ = process::signal_group(pid, libc::SIGINT);
                        kill_at = Some(Instant::now() + config.kill_grace);
                    }
                    _ = sleep_until_opt(deadline), if stop.is_none() && deadline.is_some() => {
                        tracing::info!(task = %task.id, "timeout: SIGINT to its process group");
                        record_stop(&dir, StopReason::TimedOut, Timestamp::now());
                        stop = Some(StopReason::TimedOut);
                        let _ = process::signal_group(pid, libc::SIGINT);
                        kill_at = Some(Instant::now() + config.kill_grace);
                    }
                    _ = sleep_until_opt(kill_at), if kill_at.is_some() => {
                        tracing::info!(task = %task.id, "grace period over: SIGKILL to its process group");
                        let _ = process::signal_group(pid, libc::SIGKILL);
                        kill_at = None;
                    }
                }
            }
        }
        if stop.is_some() {
            // Anything of the task still alive: its group, then anything that left the group
            // but carries the task's marker in its environment.
            let _ = process::signal_group(pid, libc::SIGKILL);
            let killed = process::sweep_marked_processes(task.id.as_str()).await;
            if killed > 0 {
                tracing::info!(task = %task.id, killed, "killed processes of the stopped run");
            }
        }
        self.ingest(&mut task, &dir, &mut facts, &mut offset, published_upto)
            .await;
        let exit = dir.read_exit().unwrap_or_else(|e| {
            tracing::warn!(task = %task.id, "{e}");
            None
        });
        if let Err(e) = self
            .finish(&mut task, &dir, &facts, exit.as_ref(), stop)
            .await
        {
            tracing::error!(task = %task.id, "cannot record the end of the run: {e}");
        }
        tracing::info!(task = %task.id, state = %task.state, "run ended");
        self.release(&task.id).await;
    }

    /// Reads new complete lines of the event log, folds them into `facts`, publishes them,
    /// and records the thread id as soon as it is known.
    async fn ingest(
        &self,
        task: &mut Task,
        dir: &TaskDir,
        facts: &mut RunFacts,
        offset: &mut u64,
        published_upto: u64,
    ) {
        loop {
            let lines = match taskdir::read_lines(&dir.file(EVENTS_FILE), *offset, INGEST_CHUNK) {
                Ok(lines) => lines,
                Err(e) => {
                    tracing::warn!(task = %task.id, "{e}");
                    return;
                }
            };
            if lines.lines.is_empty() {
                return;
            }
            for (line_offset, line) in lines.lines {
                facts.observe(&line);
                if line_offset >= published_upto {
                    self.inner.hub.publish(Update::Event {
                        task: task.id.clone(),
                        offset: line_offset,
                        line: line.into(),
                    });
                }
            }
            *offset = lines.next_offset;
            task.log_bytes = task.log_bytes.max(*offset);
            task.log_truncated |= facts.log_truncated;
            if facts.thread_id.is_some() && task.thread_id != facts.thread_id {
                task.thread_id = facts.thread_id.clone();
                if let Err(e) = self.commit(task).await {
                    tracing::error!(task = %task.id, "cannot record the thread id: {e}");
                }
            }
        }
    }

    /// Moves a task to its terminal state from the facts of its run.
    async fn finish(
        &self,
        task: &mut Task,
        dir: &TaskDir,
        facts: &RunFacts,
        exit: Option<&ExitRecord>,
        stop: Option<StopReason>,
    ) -> Result<(), RegistryError> {
        let tail = stderr_tail(&dir.file(STDERR_FILE));
        let settlement = settle(facts, exit, stop, task.timeout_ms, tail.as_deref());
        if facts.thread_id.is_some() {
            task.thread_id = facts.thread_id.clone();
        }
        task.final_message = facts.last_message.clone();
        task.exit_code = exit.and_then(|e| e.code);
        task.exit_signal = exit.and_then(|e| e.signal);
        task.error = settlement.error;
        task.log_bytes = dir.file_len(EVENTS_FILE);
        task.log_truncated |= facts.log_truncated;
        task.pid = None;
        // Without an exit status, the first settling time is recorded so that a record
        // rebuilt from the files later ends at the same moment.
        let ended_at = match exit {
            Some(exit) => exit.finished_at,
            None => dir.settled_at(Timestamp::now()),
        };
        task.enter(settlement.state, ended_at);
        // The result is stored before the terminal state is published, so whoever sees the
        // end can read the result at once. A result already on disk (a record rebuilt from
        // the task's files) is kept: the work tree may have moved on since.
        let stored: Option<TaskResult> = std::fs::read(dir.file(RESULT_FILE))
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok());
        let result = match stored {
            Some(result) => result,
            None => self.build_result(task, true).await,
        };
        match serde_json::to_vec_pretty(&result) {
            Ok(bytes) => {
                if let Err(e) = files::write_atomic(&dir.file(RESULT_FILE), &bytes) {
                    tracing::warn!(task = %task.id, "{e}");
                }
            }
            Err(e) => tracing::warn!(task = %task.id, "cannot serialise the result: {e}"),
        }
        self.commit(task).await
    }

    /// The full result recorded when a task ended (its `result.json`); `Ok(None)` if it has
    /// none (not ended, or ended before results were kept).
    pub fn stored_result(&self, id: &TaskId) -> Result<Option<TaskResult>, FileError> {
        TaskDir::new(&self.inner.config.tasks_root(), id).read_result()
    }

    /// Computes a task's full result from its event log; with `diffstat`, also snapshots
    /// the work tree and diffs it against the tree taken when the run started.
    pub async fn build_result(&self, task: &Task, diffstat: bool) -> TaskResult {
        let dir = TaskDir::new(&self.inner.config.tasks_root(), &task.id);
        let times = std::fs::read_to_string(dir.file(TIMES_FILE))
            .map(|text| results::parse_times(&text))
            .unwrap_or_default();
        let mut builder = results::ResultBuilder::new(&task.cwd);
        let mut offset = 0;
        while let Ok(lines) = taskdir::read_lines(&dir.file(EVENTS_FILE), offset, INGEST_CHUNK) {
            if lines.lines.is_empty() {
                break;
            }
            for (line_offset, line) in &lines.lines {
                builder.observe(line, times.get(line_offset).copied());
            }
            offset = lines.next_offset;
        }
        let previous = task
            .parent
            .as_ref()
            .and_then(|parent| self.stored_result(parent).ok().flatten())
            .and_then(|parent| parent.thread_usage);
        let stat = match (&task.git_base_tree, diffstat) {
            (Some(base), true) => match gitsnap::snapshot(&task.cwd, dir.path()).await {
                Some(end) => gitsnap::diffstat(&end.toplevel, base, &end.tree).await,
                None => None,
            },
            _ => None,
        };
        let mut result = builder.finish(task, previous, stat);
        result.log_truncated = task.log_truncated;
        result
    }
}

/// Writes `stop.json` (so the reason survives a daemon restart); a failure is logged, and
/// the stop goes ahead.
fn record_stop(dir: &TaskDir, reason: StopReason, at: Timestamp) {
    if let Err(e) = dir.write_stop(reason, at) {
        tracing::warn!("cannot record the stop: {e}");
    }
}

/// True if the stored prompt or config was changed by redaction (so the stored copy is not
/// what the client sent).
/// True when a task cannot start from its stored request alone: it sets or removes
/// environment variables, or its stored prompt or overrides had a secret redacted.
fn needs_held_values(task: &Task) -> bool {
    !task.env_keys.is_empty() || is_redacted(task)
}

fn is_redacted(task: &Task) -> bool {
    let marker = "[REDACTED:";
    task.prompt.contains(marker) || task.config.iter().any(|kv| kv.contains(marker))
}

async fn sleep_until_opt(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// All facts of a finished run, from its whole event log.
fn read_all_facts(dir: &TaskDir) -> RunFacts {
    let mut facts = RunFacts::default();
    let mut offset = 0;
    while let Ok(lines) = taskdir::read_lines(&dir.file(EVENTS_FILE), offset, INGEST_CHUNK) {
        if lines.lines.is_empty() {
            break;
        }
        for (_, line) in &lines.lines {
            facts.observe(line);
        }
        offset = lines.next_offset;
    }
    facts
}

/// The last message in a text file (its last paragraph, up to three lines, joined).
fn stderr_tail(path: &Path) -> Option<String> {
    use std::io::{Read, Seek, SeekFrom};
    let mut file = std::fs::File::open(path).ok()?;
    let len = file.metadata().ok()?.len();
    file.seek(SeekFrom::Start(len.saturating_sub(4096))).ok()?;
    let mut tail = Vec::new();
    file.read_to_end(&mut tail).ok()?;
    let text = String::from_utf8_lossy(&tail);
    // Codex's messages may span lines ("Error loading config.toml: ...\nin `key`"): take
    // the last paragraph, at most three lines of it, as one line.
    let mut lines: Vec<&str> = text
        .lines()
        .rev()
        .skip_while(|l| l.trim().is_empty())
        .take_while(|l| !l.trim().is_empty())
        .take(3)
        .map(str::trim)
        .collect();
    if lines.is_empty() {
        return None;
    }
    lines.reverse();
    Some(lines.join(" ").chars().take(500).collect())
}

/// Finds the codex binary: a configured path as is, else a name on the run's PATH (the
/// client's PATH when it sent one).
fn resolve_codex(codex_bin: &str, env: &RunEnv) -> Result<PathBuf, String> {
    use std::os::unix::fs::PermissionsExt;
    let executable = |p: &Path| {
        std::fs::metadata(p)
            .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
            .unwrap_or(false)
    };
    if codex_bin.contains('/') {
        let path = PathBuf::from(codex_bin);
        return if executable(&path) {
            Ok(path)
        } else {
            Err(format!(
                "codex binary {codex_bin} does not exist or is not executable (set --codex-bin or CODEXD_CODEX_BIN)"
            ))
        };
    }
    let search = env
        .set
        .get("PATH")
        .cloned()
        .or_else(|| std::env::var("PATH").ok())
        .unwrap_or_default();
    std::env::split_paths(&search)
        .map(|dir| dir.join(codex_bin))
        .find(|p| executable(p))
        .ok_or_else(|| {
            format!(
                "codex binary {codex_bin:?} not found on PATH; install it (npm install -g @openai/codex) or set --codex-bin / CODEXD_CODEX_BIN"
            )
        })
}

/// The `codex exec` arguments for a task.
///
/// Fresh: `exec --json --skip-git-repo-check -C CWD [-s S] [-m M] [-c KV]... -- PROMPT`.
/// Resume: `exec --skip-git-repo-check -C CWD [-s S] resume --json [-m M] [-c KV]... -- THREAD PROMPT`:
/// `exec resume` has no `-C`/`-s` of its own and defaults to a read-only sandbox, but the
/// options of `exec` placed before `resume` apply to it (checked with codex 0.169.0). `--`
/// keeps a prompt that starts with `-` from being read as a flag.
pub fn codex_args(task: &Task, env: &RunEnv) -> Vec<OsString> {
    let resume_thread = task.parent.as_ref().and(task.thread_id.as_ref());
    let mut args: Vec<OsString> = vec!["exec".into(), "--skip-git-repo-check".into()];
    args.push("-C".into());
    args.push(task.cwd.clone().into());
    if let Some(sandbox) = &task.sandbox {
        args.push("-s".into());
        args.push(sandbox.into());
    }
    if resume_thread.is_some() {
        args.push("resume".into());
    }
    args.push("--json".into());
    if let Some(model) = &task.model {
        args.push("-m".into());
        args.push(model.into());
    }
    for kv in &env.config {
        args.push("-c".into());
        args.push(kv.into());
    }
    args.push("--".into());
    if let Some(thread) = resume_thread {
        args.push(thread.into());
    }
    args.push(env.prompt.clone().into());
    args
}

/// Spawns `<runner_exe> run-task --task-dir DIR -- CODEX ARGS...` in a new session.
fn spawn_runner(
    config: &Config,
    task: &Task,
    dir: &TaskDir,
    codex: &Path,
    env: &RunEnv,
) -> Result<tokio::process::Child, String> {
    let mut cmd = tokio::process::Command::new(&config.runner_exe);
    cmd.arg("run-task").arg("--task-dir").arg(dir.path());
    cmd.arg("--max-log-bytes")
        .arg(config.max_log_bytes.to_string());
    for (name, regex) in &config.redact_patterns {
        cmd.arg("--redact").arg(format!("{name}={regex}"));
    }
    cmd.arg("--")
        .arg(codex)
        .args(codex_args(task, env))
        .current_dir(&task.cwd)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        // The daemon's log filter is not the run's.
        .env_remove("RUST_LOG");
    for key in &env.remove {
        cmd.env_remove(key);
    }
    cmd.envs(&env.set);
    cmd.env(process::TASK_MARKER_ENV, task.id.as_str());
    let umask = process::user_umask();
    // SAFETY: setsid and umask are async-signal-safe. setsid detaches the run into its own
    // session and process group, so it can be signalled as a whole and outlive the daemon;
    // the run gets the user's umask back (the daemon's own is owner-only).
    unsafe {
        cmd.pre_exec(move || {
            if libc::setsid() < 0 {
                return Err(std::io::Error::last_os_error());
            }
            if let Some(mask) = umask {
                libc::umask(mask);
            }
            Ok(())
        });
    }
    cmd.spawn().map_err(|e| {
        format!(
            "could not start the run supervisor {}: {e}",
            config.runner_exe.display()
        )
    })
}

/// Test helpers shared by this crate's unit tests.
#[cfg(test)]
pub(crate) mod test_support {
    use super::*;

    /// A supervisor over a fresh state directory that never starts a run itself.
    pub(crate) fn idle_supervisor(state: &Path) -> Supervisor {
        let config = Config {
            socket: state.join("codexd.sock"),
            state_dir: state.to_path_buf(),
            codex_bin: "/nonexistent/codex".into(),
            max_running: 0,
            default_timeout: None,
            kill_grace: Duration::from_millis(100),
            runner_exe: "/nonexistent/codexd".into(),
            redact_patterns: vec![],
            rebuild_registry: false,
            retention: None,
            prune_every: Duration::from_secs(3600),
            runtime_dir: Some(state.join("runtime")),
            max_log_bytes: 1 << 20,
            idle_timeout: Duration::from_secs(60),
        };
        // As the daemon's start-up leaves it.
        std::fs::create_dir_all(config.tasks_root()).unwrap();
        let registry = Registry::open(&config.registry_path()).unwrap();
        Supervisor::new(Arc::new(config), registry, Hub::new(16))
    }
}

#[cfg(test)]
mod tests {
    //! Recovery of runs that an earlier daemon started but died before recording.
    use super::*;
    use crate::files::write_atomic;
    use crate::registry::records::{RUN_FILE, RunRecord};
    use crate::registry::taskdir::StoredRequest;
    use test_support::idle_supervisor;

    /// Records `id` as queued, with its directory, as `submit` leaves it.
    async fn queued(sup: &Supervisor, id: &str) -> TaskDir {
        let request = StoredRequest::for_test(id, "/", Timestamp::now());
        let dir = TaskDir::new(&sup.config().tasks_root(), &request.id);
        std::fs::create_dir_all(sup.config().tasks_root()).unwrap();
        dir.create(&request).unwrap();
        sup.registry().save(&request.new_task()).await.unwrap();
        dir
    }

    /// A stand-in for a run's process: `sleep`, carrying the task's marker; leading its own
    /// session, as a run's supervisor does, when `leader`.
    fn marked_sleep(id: &str, leader: bool) -> std::process::Child {
        use std::os::unix::process::CommandExt;
        let mut cmd = std::process::Command::new("sleep");
        cmd.arg("30").env(process::TASK_MARKER_ENV, id);
        if leader {
            // SAFETY: setsid is async-signal-safe.
            unsafe {
                cmd.pre_exec(|| {
                    libc::setsid();
                    Ok(())
                });
            }
        }
        let child = cmd.spawn().unwrap();
        process::wait_for_marker(child.id(), id);
        child
    }

    fn state_of(sup: &Supervisor, id: &str) -> Task {
        sup.registry()
            .get(&TaskId::from_stored(id))
            .unwrap()
            .unwrap()
    }

    #[tokio::test]
    async fn a_queued_record_whose_run_had_started_is_adopted_not_started_again() {
        let state = tempfile::tempdir().unwrap();
        let sup = idle_supervisor(state.path());
        let (live, ended, starting, orphaned, waiting) =
            ("aaaa1111", "bbbb2222", "cccc3333", "eeee5555", "dddd4444");

        // A run alive with its run.json: the daemon died between spawn and commit.
        let live_dir = queued(&sup, live).await;
        let mut live_runner = marked_sleep(live, true);
        let run = RunRecord {
            runner_pid: live_runner.id(),
            codex_pid: live_runner.id(),
            started_at: Timestamp::now(),
        };
        write_atomic(&live_dir.file(RUN_FILE), &serde_json::to_vec(&run).unwrap()).unwrap();

        // A run that also ended while no daemon watched: exit.json says how.
        let ended_dir = queued(&sup, ended).await;
        let exit = ExitRecord {
            code: Some(3),
            signal: None,
            spawn_error: None,
            finished_at: Timestamp::now(),
        };
        write_atomic(
            &ended_dir.file(EXIT_FILE),
            &serde_json::to_vec(&exit).unwrap(),
        )
        .unwrap();

        // A supervisor caught before it wrote run.json (it leads its own session): adopted.
        queued(&sup, starting).await;
        let mut starting_runner = marked_sleep(starting, true);

        // Processes of a run whose supervisor is gone, and its log: killed, interrupted.
        let orphaned_dir = queued(&sup, orphaned).await;
        std::fs::write(orphaned_dir.file(EVENTS_FILE), "").unwrap();
        let mut orphan = marked_sleep(orphaned, false);

        // A plain queued task: queued again, untouched.
        queued(&sup, waiting).await;

        sup.recover().await.unwrap();

        let adopted = state_of(&sup, live);
        assert_eq!(adopted.state, TaskState::Running);
        assert_eq!(adopted.pid, Some(live_runner.id()));
        assert_eq!(state_of(&sup, ended).state, TaskState::Failed);
        assert_eq!(state_of(&sup, ended).exit_code, Some(3));

        let caught = state_of(&sup, starting);
        assert_eq!(caught.state, TaskState::Running);
        assert_eq!(caught.pid, Some(starting_runner.id()));

        let killed = orphan.wait().unwrap();
        assert!(!killed.success(), "the orphaned process was killed");
        assert_eq!(state_of(&sup, orphaned).state, TaskState::Interrupted);

        assert_eq!(state_of(&sup, waiting).state, TaskState::Queued);
        let queue: Vec<String> = sup
            .inner
            .sched
            .lock()
            .await
            .queue
            .iter()
            .map(|id| id.to_string())
            .collect();
        assert_eq!(queue, [waiting]);

        // The adopted runs end without an exit status: interrupted, exactly once.
        for (id, runner) in [(live, &mut live_runner), (starting, &mut starting_runner)] {
            runner.kill().unwrap();
            runner.wait().unwrap();
            let deadline = Instant::now() + Duration::from_secs(10);
            while state_of(&sup, id).state == TaskState::Running {
                assert!(Instant::now() < deadline, "the adopted run never settled");
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            assert_eq!(state_of(&sup, id).state, TaskState::Interrupted);
        }
    }
}
