//! How a running task is watched: one monitor per run tails its event log (woken by
//! inotify when the runner writes, see [`super::tail`]; publishing new lines and recording
//! the thread id at once), applies cancel and timeout requests (SIGINT
//! to the process group, a grace period, then SIGKILL and the marker sweep), and settles
//! the task when the run's process ends.
//!
//! A `running` task is changed only by its monitor.

use super::settle::INGEST_CHUNK;
use super::{Supervisor, process};
use crate::hub::Update;
use crate::registry::records::{
    EVENTS_FILE, EXIT_FILE, ExitRecord, StopReason, unrecorded_exit_reason,
};
use crate::registry::taskdir::{self, TaskDir};
use crate::results::events::CodexEvent;
use crate::results::outcome::RunFacts;
use codexd_api::{Task, Timestamp};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::Instant;

/// How a run's process is watched.
pub(super) enum RunProcess {
    /// Spawned by this daemon: reaped with `wait`.
    Child(tokio::process::Child),
    /// Spawned by an earlier daemon: watched by pid and start time.
    Adopted { pid: u32, start: Option<u64> },
}

impl RunProcess {
    /// Waits until the run's process has ended; its exit status when it is our child.
    async fn exited(&mut self) -> Option<std::process::ExitStatus> {
        match self {
            RunProcess::Child(child) => child.wait().await.ok(),
            RunProcess::Adopted { pid, start } => {
                process::wait_for_exit(*pid, *start).await;
                None
            }
        }
    }
}

impl Supervisor {
    /// Watches a run until it ends: ingests its event log, applies stop requests and the
    /// timeout, then settles the task.
    pub(super) async fn monitor(
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
            // The runner enforces the limit itself; this is the backstop.
            Instant::now()
                + Duration::from_millis(ms).saturating_sub(elapsed)
                + config.kill_grace
                + super::watchdog::BACKSTOP_SLACK
        });
        // A stop decided by an earlier daemon (which died before the run ended) still holds:
        // signal again, then kill after the grace period.
        let mut stop: Option<StopReason> = dir.read_stop().ok().flatten().map(|s| s.reason);
        let mut kill_at: Option<Instant> = None;
        if stop.is_some() {
            let _ = process::signal_group(pid, libc::SIGINT);
            kill_at = Some(Instant::now() + config.kill_grace);
        }
        // Woken by inotify when the runner writes; the safety poll catches anything missed.
        let mut watch = super::tail::LogWatch::new(dir.path());
        let mut tick = tokio::time::interval(watch.poll_period(super::tail::SAFETY_POLL));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let runner_status = {
            let exited = proc.exited();
            tokio::pin!(exited);
            loop {
                tokio::select! {
                    status = &mut exited => break status,
                    _ = tick.tick() => {
                        self.ingest(&mut task, &dir, &mut facts, &mut offset, published_upto).await;
                    }
                    _ = watch.changed() => {
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
        };
        if stop.is_none() {
            // The runner's own limits (wall clock, stall) record their stop there.
            stop = dir.read_stop().ok().flatten().map(|s| s.reason);
        }
        let exit = dir.read_exit().unwrap_or_else(|e| {
            tracing::warn!(task = %task.id, "{e}");
            None
        });
        // A record its runner kept elsewhere has codex's status; else the runner's exit
        // code may say why there is none.
        let exit = exit
            .or_else(|| super::exit_fallback::recover(&config, &dir, &task.id))
            .or_else(|| unrecorded_exit(&task, &dir, runner_status));
        let ended_by_itself = stop.is_none() && exit.is_some();
        if !ended_by_itself {
            // A stopped run, or one whose supervisor died (killed, or crashed) without
            // recording codex's exit: nothing of it may outlive it, and it is settled only
            // once nothing of it is left.
            let killed = kill_leftovers(task.id.as_str(), pid).await;
            if killed > 0 {
                tracing::info!(task = %task.id, killed, "killed processes of the ended run");
            }
        }
        self.ingest(&mut task, &dir, &mut facts, &mut offset, published_upto)
            .await;
        if let Err(e) = self
            .finish(&mut task, &dir, &facts, exit.as_ref(), stop)
            .await
        {
            tracing::error!(task = %task.id, "cannot record the end of the run: {e}");
        }
        tracing::info!(task = %task.id, state = %task.state, "run ended");
        if ended_by_itself {
            // Off the completion path: the kernel keeps an emptied cgroup busy for a while
            // (often longer than the 20 ms retry step), and waiting for it here delayed
            // every completion notice by that much. Nothing reads the cgroup of an ended run.
            tokio::spawn(super::cgroup::remove_when_empty(task.id.to_string()));
        }
        self.release(&task.id).await;
    }

    /// Reads new complete lines of the event log, folds them into `facts`, publishes them,
    /// and records the thread id as soon as it is known.
    pub(super) async fn ingest(
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
            let mut reconnect_changed = false;
            for (line_offset, line) in lines.lines {
                let event = facts.observe(&line);
                if line_offset >= published_upto {
                    reconnect_changed |= note_reconnecting(task, event.as_ref());
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
            let new_thread = facts.thread_id.is_some() && task.thread_id != facts.thread_id;
            if new_thread {
                task.thread_id = facts.thread_id.clone();
            }
            if (new_thread || reconnect_changed)
                && let Err(e) = self.commit(task).await
            {
                tracing::error!(task = %task.id, "cannot record the run's progress: {e}");
            }
        }
    }
}

/// Folds one event into the task's `reconnecting` state: codex's reconnect notices count
/// up, any other event clears it. Returns whether it changed.
fn note_reconnecting(task: &mut Task, event: Option<&CodexEvent>) -> bool {
    match event {
        Some(CodexEvent::Error { message }) if codexd_api::task::is_reconnect_message(message) => {
            let since = task
                .reconnecting
                .as_ref()
                .map_or_else(Timestamp::now, |r| r.since);
            let count = task.reconnecting.as_ref().map_or(0, |r| r.count) + 1;
            task.reconnecting = Some(codexd_api::Reconnecting {
                message: message.clone(),
                count,
                since,
            });
            true
        }
        // Other errors (warnings) neither start nor end a reconnecting spell.
        Some(CodexEvent::Error { .. }) => false,
        Some(_) | None => task.reconnecting.take().is_some(),
    }
}

/// The exit record of a run whose runner said (by its exit code) that it could not write
/// `exit.json`: why, in place of codex's unknown status. Written to `exit.json` if that
/// works now (best effort), so a later rebuild settles the task the same way.
fn unrecorded_exit(
    task: &Task,
    dir: &TaskDir,
    runner_status: Option<std::process::ExitStatus>,
) -> Option<ExitRecord> {
    let why = unrecorded_exit_reason(runner_status?.code()?)?;
    let path = dir.file(EXIT_FILE);
    tracing::warn!(task = %task.id, "the run's exit status could not be written to {}: {why}", path.display());
    let record = ExitRecord {
        code: None,
        signal: None,
        spawn_error: None,
        not_recorded: Some(format!("cannot write {}: {why}", path.display())),
        finished_at: Timestamp::now(),
    };
    if let Err(e) = dir.write_exit(&record) {
        tracing::debug!(task = %task.id, "{e}");
    }
    Some(record)
}

/// SIGKILLs everything left of a run whose supervisor led group `pgid`: the group (if a
/// process of the task is still in it, so the id is not a reused one), the
/// run's cgroup (where runs have one: nothing escapes it), then whatever still carries the
/// task's marker. Returns how many processes were found in the cgroup or by the marker.
pub(super) async fn kill_leftovers(task_id: &str, pgid: u32) -> usize {
    if pgid > 1 && process::group_holds_task(pgid, task_id) {
        let _ = process::signal_group(pgid, libc::SIGKILL);
    }
    let in_cgroup = super::cgroup::kill_all(task_id).await;
    in_cgroup + process::sweep_marked_processes(task_id).await
}

/// Writes `stop.json` (so the reason survives a daemon restart); a failure is logged, and
/// the stop goes ahead.
pub(super) fn record_stop(dir: &TaskDir, reason: StopReason, at: Timestamp) {
    if let Err(e) = dir.write_stop(reason, at) {
        tracing::warn!("cannot record the stop: {e}");
    }
}

pub(super) async fn sleep_until_opt(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
