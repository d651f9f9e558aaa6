//! What an earlier daemon left behind: records restored from the task directories, runs
//! still alive re-adopted (pid and start time checked), runs that ended settled from their
//! files, queued tasks queued again with their held values, and a run that had started
//! without being recorded is adopted or settled, never started a second time.

use super::held::{RunEnv, needs_held_values};
use super::monitor::{RunProcess, kill_leftovers};
use super::settle::read_all_facts;
use super::{RunControl, Supervisor, process};
use crate::registry::RegistryError;
use crate::registry::records::{EVENTS_FILE, EXIT_FILE, RUN_FILE};
use crate::registry::taskdir::{self, TaskDir};
use codexd_api::{Task, TaskId, TaskState, Timestamp};
use tokio::sync::mpsc;

impl Supervisor {
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
    pub(super) async fn adopt_or_settle(&self, task: Task) -> Result<(), RegistryError> {
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
            let exit = dir
                .read_exit()
                .unwrap_or_else(|e| {
                    tracing::warn!(task = %task.id, "{e}");
                    None
                })
                .or_else(|| {
                    // Its runner could not write `exit.json` while no daemon watched.
                    super::exit_fallback::recover(&self.inner.config, &dir, &task.id)
                });
            let stop = dir.read_stop().ok().flatten().map(|s| s.reason);
            // Its supervisor is gone: whatever of the run is left (codex, its commands) can
            // be neither watched nor recorded, and the run settles only once it is gone.
            let killed = kill_leftovers(task.id.as_str(), task.pid.unwrap_or(0)).await;
            if killed > 0 {
                tracing::warn!(task = %task.id, killed, "killed what was left of a run whose supervisor is gone");
            }
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
    pub(super) async fn was_launched(
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
        // A `run.json` that cannot be read is still a sign of a start.
        let left_files = run.is_some()
            || dir.file(RUN_FILE).exists()
            || dir.file(EXIT_FILE).exists()
            || dir.file(EVENTS_FILE).exists();
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
        // Without a run record, a run that never started (codex missing) ended when its
        // exit record says.
        let started_at = run
            .as_ref()
            .map(|r| r.started_at)
            .or_else(|| dir.read_exit().ok().flatten().map(|e| e.finished_at))
            .unwrap_or_else(Timestamp::now);
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
}
