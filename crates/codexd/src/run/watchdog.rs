//! The runner's own limits: the wall-clock timeout and the stall limit of a run, enforced
//! inside the per-run supervisor (`codexd run-task`), so they hold while no daemon is up.
//!
//! The runner is authoritative: it sees every line codex prints, notes progress
//! ([`Progress::observe`]), and when a limit passes it records the stop in `stop.json`
//! (reason `timed_out`, with a `detail` saying the run stalled, for how long, and codex's
//! last error), then sends SIGINT to the run's process group, waits the grace period and
//! SIGKILLs codex. The daemon's monitor only reads that record when it settles the run; its
//! own wall-clock deadline is a backstop set later than the runner's (see
//! [`BACKSTOP_SLACK`]).
//!
//! Progress is any event line except codex's top-level `error` events (its reconnect
//! notices and warnings). While a command or tool call is open (`item.started` without its
//! `item.completed`) the stall clock does not run: a long build is not a stall; the
//! wall-clock limit still applies.

use crate::registry::records::{STOP_FILE, StopReason, StopRecord};
use codexd_api::Timestamp;
use std::collections::HashSet;
use std::path::Path;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// How much later than the runner's deadline the daemon's monitor stops a run itself
/// (plus the grace period): the runner acts first, the daemon only when the runner could
/// not (a runner of an older build, a stopped process).
pub const BACKSTOP_SLACK: Duration = Duration::from_secs(10);

/// The limits a runner enforces, sent in its spec.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RunLimits {
    /// Milliseconds left of the wall-clock limit when the runner starts; `None`: none.
    pub timeout_ms: Option<u64>,
    /// The stall limit in milliseconds; `None`: none.
    pub stall_timeout_ms: Option<u64>,
    /// Milliseconds between SIGINT and SIGKILL.
    pub kill_grace_ms: u64,
}

/// What the stall clock knows of a run.
#[derive(Debug)]
struct State {
    /// When the last progress event arrived (or the run started).
    last_progress: Instant,
    /// Codex's last `error` event message.
    last_error: Option<String>,
    /// Ids of items started and not yet completed (commands, tool calls).
    open_items: HashSet<String>,
    /// Set once codex has exited.
    done: bool,
}

/// The progress of a run, shared by the thread copying codex's events and the watchdog.
#[derive(Debug)]
pub struct Progress {
    state: Mutex<State>,
    changed: Condvar,
}

impl Default for Progress {
    fn default() -> Self {
        Progress {
            state: Mutex::new(State {
                last_progress: Instant::now(),
                last_error: None,
                open_items: HashSet::new(),
                done: false,
            }),
            changed: Condvar::new(),
        }
    }
}

impl Progress {
    /// Notes one event line codex printed.
    pub fn observe(&self, line: &str) {
        let Ok(event) = serde_json::from_str::<serde_json::Value>(line) else {
            // Not an event, but codex printed something: progress.
            self.lock().last_progress = Instant::now();
            return;
        };
        let kind = event.get("type").and_then(|t| t.as_str()).unwrap_or("");
        let mut state = self.lock();
        if kind == "error" {
            let message = event.get("message").and_then(|m| m.as_str()).unwrap_or("");
            state.last_error = Some(message.to_string());
            return;
        }
        state.last_progress = Instant::now();
        let item = event.get("item");
        let id = item
            .and_then(|i| i.get("id"))
            .and_then(|i| i.as_str())
            .map(str::to_string);
        let long_running = item
            .and_then(|i| i.get("type"))
            .and_then(|t| t.as_str())
            .is_some_and(|t| matches!(t, "command_execution" | "mcp_tool_call" | "web_search"));
        match (kind, id) {
            ("item.started", Some(id)) if long_running => {
                state.open_items.insert(id);
            }
            ("item.completed", Some(id)) => {
                state.open_items.remove(&id);
            }
            ("turn.completed" | "turn.failed", _) => state.open_items.clear(),
            _ => {}
        }
        drop(state);
        self.changed.notify_all();
    }

    /// Notes that codex has exited: the watchdog ends.
    pub fn finish(&self) {
        self.lock().done = true;
        self.changed.notify_all();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Why a limit stopped the run.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Expiry {
    /// The wall-clock limit passed.
    WallClock,
    /// No progress for the stall limit; codex's last error.
    Stalled {
        after: Duration,
        last_error: Option<String>,
    },
}

/// The message a stalled run ends with (the task's `error`).
pub fn stalled_message(after: Duration, last_error: Option<&str>) -> String {
    let after = humantime::format_duration(Duration::from_secs(after.as_secs().max(1)));
    let codex = match last_error.filter(|e| !e.trim().is_empty()) {
        Some(error) => format!("codex's last error: {}", error.trim()),
        None => "codex reported no error".to_string(),
    };
    format!("timed out: stalled, no progress from codex for {after} ({codex})")
}

/// Starts the watchdog of a run whose codex is `codex_pid`, in the process group this
/// runner leads; returns `None` when no limit applies.
pub fn spawn(
    limits: RunLimits,
    progress: Arc<Progress>,
    codex_pid: u32,
    task_dir: &Path,
) -> Option<std::thread::JoinHandle<()>> {
    if limits.timeout_ms.is_none() && limits.stall_timeout_ms.is_none() {
        return None;
    }
    let dir = task_dir.to_path_buf();
    Some(std::thread::spawn(move || {
        watch(limits, &progress, codex_pid, &dir)
    }))
}

/// Waits until codex exits or a limit passes; then stops the run.
fn watch(limits: RunLimits, progress: &Progress, codex_pid: u32, dir: &Path) {
    let started = Instant::now();
    let wall = limits
        .timeout_ms
        .map(|ms| started + Duration::from_millis(ms));
    let stall = limits.stall_timeout_ms.map(Duration::from_millis);
    let mut state = progress.lock();
    let expiry = loop {
        if state.done {
            return;
        }
        let now = Instant::now();
        if wall.is_some_and(|w| now >= w) {
            break Expiry::WallClock;
        }
        let stall_at = stall
            .filter(|_| state.open_items.is_empty())
            .map(|s| state.last_progress + s);
        if let (Some(at), Some(after)) = (stall_at, stall)
            && now >= at
        {
            break Expiry::Stalled {
                after,
                last_error: state.last_error.clone(),
            };
        }
        let next = [wall, stall_at].into_iter().flatten().min();
        let wait = next.map_or(Duration::from_secs(3600), |n| n - now);
        state = progress
            .changed
            .wait_timeout(state, wait)
            .unwrap_or_else(|e| e.into_inner())
            .0;
    };
    drop(state);
    stop(&expiry, dir, codex_pid, limits.kill_grace_ms, progress);
}

/// Records the stop (unless one is recorded: a cancel came first), SIGINTs the run's
/// process group, and SIGKILLs codex after the grace period.
fn stop(expiry: &Expiry, dir: &Path, codex_pid: u32, grace_ms: u64, progress: &Progress) {
    let detail = match expiry {
        Expiry::WallClock => None,
        Expiry::Stalled { after, last_error } => {
            Some(stalled_message(*after, last_error.as_deref()))
        }
    };
    eprintln!(
        "codexd run-task: {}; stopping codex",
        detail.as_deref().unwrap_or("the wall-clock limit passed")
    );
    write_stop_once(&dir.join(STOP_FILE), detail);
    // SAFETY: signalling our own process group; this runner ignores SIGINT (a handler
    // that does nothing), codex and its children get it.
    unsafe {
        libc::kill(-libc::getpgrp(), libc::SIGINT);
    }
    let deadline = Instant::now() + Duration::from_millis(grace_ms);
    let mut state = progress.lock();
    while !state.done {
        let now = Instant::now();
        if now >= deadline {
            // SAFETY: codex is our child, not yet reaped (the main thread waits for it).
            unsafe {
                libc::kill(codex_pid as libc::pid_t, libc::SIGKILL);
            }
            return;
        }
        state = progress
            .changed
            .wait_timeout(state, deadline - now)
            .unwrap_or_else(|e| e.into_inner())
            .0;
    }
}

/// Writes `stop.json` as a timeout with `detail`, unless a stop is recorded already.
fn write_stop_once(path: &Path, detail: Option<String>) {
    if path.exists() {
        return;
    }
    let record = StopRecord {
        reason: StopReason::TimedOut,
        at: Timestamp::now(),
        detail,
    };
    let written = serde_json::to_vec(&record)
        .map_err(|e| e.to_string())
        .and_then(|bytes| crate::files::write_atomic(path, &bytes).map_err(|e| e.to_string()));
    if let Err(e) = written {
        eprintln!("codexd run-task: cannot record the stop: {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reconnect_notices_are_no_progress_but_events_are() {
        let progress = Progress::default();
        let before = progress.lock().last_progress;
        std::thread::sleep(Duration::from_millis(5));
        progress.observe(r#"{"type":"error","message":"Reconnecting... 1/5"}"#);
        assert_eq!(progress.lock().last_progress, before);
        assert_eq!(
            progress.lock().last_error.as_deref(),
            Some("Reconnecting... 1/5")
        );
        progress.observe(r#"{"type":"turn.started"}"#);
        assert!(progress.lock().last_progress > before);
    }

    #[test]
    fn an_open_command_pauses_the_stall_clock() {
        let progress = Progress::default();
        progress.observe(
            r#"{"type":"item.started","item":{"id":"item_1","type":"command_execution"}}"#,
        );
        assert_eq!(progress.lock().open_items.len(), 1);
        progress.observe(
            r#"{"type":"item.completed","item":{"id":"item_1","type":"command_execution"}}"#,
        );
        assert!(progress.lock().open_items.is_empty());
    }

    #[test]
    fn the_stalled_message_names_the_limit_and_codexs_error() {
        let m = stalled_message(Duration::from_millis(3000), Some("Reconnecting... 2/5"));
        assert!(m.contains("stalled"), "{m}");
        assert!(m.contains("3s"), "{m}");
        assert!(m.contains("Reconnecting... 2/5"), "{m}");
        assert!(stalled_message(Duration::from_secs(60), None).contains("no error"));
    }

    #[test]
    fn a_stall_is_recorded_once_and_never_over_a_cancel() {
        // The signalling half runs in the e2e tests (it signals the runner's own process
        // group, which here would be the test harness's).
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(STOP_FILE);
        write_stop_once(
            &path,
            Some(stalled_message(
                Duration::from_secs(3),
                Some("Reconnecting... 1/5"),
            )),
        );
        let record: StopRecord = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        assert_eq!(record.reason, StopReason::TimedOut);
        assert!(record.detail.unwrap().contains("Reconnecting... 1/5"));
        // A recorded stop (a cancel that came first) is never overwritten.
        write_stop_once(&path, None);
        let again: StopRecord = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        assert!(again.detail.is_some());
    }
}
