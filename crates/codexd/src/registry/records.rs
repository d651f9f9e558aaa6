//! The files of a task directory and the records the daemon and the runner write in them.
//!
//! The lowest layer of the daemon's own types: the registry's task directories, the
//! per-run runner, start-up recovery and the outcome of a run all read or write these, so
//! they live here, importing nothing of the crate, and every side imports them.

use codexd_api::Timestamp;
use serde::{Deserialize, Serialize};

/// The request (file names inside a task directory follow).
pub const REQUEST_FILE: &str = "request.json";
/// The event log.
pub const EVENTS_FILE: &str = "events.jsonl";
/// Codex's stderr.
pub const STDERR_FILE: &str = "stderr.log";
/// The exit status.
pub const EXIT_FILE: &str = "exit.json";
/// When each event line was written (`offset<TAB>unix_ms` per line).
pub const TIMES_FILE: &str = "events.times";
/// The task's full result, written when it ends.
pub const RESULT_FILE: &str = "result.json";
/// Written by the daemon when it decides to stop a run (cancel, timeout).
pub const STOP_FILE: &str = "stop.json";
/// Written by the runner once codex is started.
pub const RUN_FILE: &str = "run.json";
/// When the daemon found a run gone without an exit status (so that a record rebuilt later
/// gets the same end time).
pub const ENDED_FILE: &str = "ended.json";
/// When the task's result was first read after it ended (so that a rebuilt record still
/// knows it was read).
pub const READ_FILE: &str = "read.json";
/// A worktree task's worktree as it is now (applied, discarded): written by `apply` and
/// `discard`, so that a rebuilt record keeps what `request.json` alone does not.
pub const WORKTREE_FILE: &str = "worktree.json";

/// Type of the event line the runner writes into `events.jsonl` where it starts dropping
/// output (the log reached its size limit).
pub const TRUNCATED_EVENT: &str = "codexd.log_truncated";

/// Why the daemon stopped a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    /// A client cancelled it.
    Cancelled,
    /// Its wall-clock limit expired.
    TimedOut,
}

/// A started run, as recorded by the runner (with the request, enough to rebuild the
/// record of a running task).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunRecord {
    /// The runner's pid (the run's process group and session id).
    pub runner_pid: u32,
    /// Codex's pid.
    pub codex_pid: u32,
    /// When codex was started.
    pub started_at: Timestamp,
}

/// Why and when the daemon stopped a run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StopRecord {
    /// Cancelled or timed out.
    pub reason: StopReason,
    /// When the daemon decided it.
    pub at: Timestamp,
    /// The task's error when it is not the plain reason's (a stalled run: for how long,
    /// codex's last error). Written by the runner ([`crate::run::watchdog`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// When the daemon settled a run that left no exit status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EndedRecord {
    /// The time the run was settled.
    pub at: Timestamp,
}

/// When a task's result was first read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReadRecord {
    /// The time of the first `result` call after the task ended.
    pub at: Timestamp,
}

/// How the codex process ended, as recorded by the runner.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExitRecord {
    /// Exit code, if codex exited.
    pub code: Option<i32>,
    /// Signal, if codex was killed by one.
    pub signal: Option<i32>,
    /// Set when codex could not be started at all.
    pub spawn_error: Option<String>,
    /// Set (by the daemon, never the runner) when the runner could not write this record:
    /// why. Codex's own exit status is then unknown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_recorded: Option<String>,
    /// When the runner saw the end.
    pub finished_at: Timestamp,
}

/// First exit code of a runner that could not write `exit.json`: it exits with this plus
/// the error's errno (when below 63; else plus 63), so the daemon that spawned it can say
/// why the exit status is missing. Out of the way of a panic's 101.
pub const RUNNER_UNRECORDED_EXIT: i32 = 192;

/// The runner's exit code when writing `exit.json` failed with `error`.
pub fn unrecorded_exit_code(error: &std::io::Error) -> i32 {
    match error.raw_os_error() {
        Some(errno @ 1..63) => RUNNER_UNRECORDED_EXIT + errno,
        _ => RUNNER_UNRECORDED_EXIT + 63,
    }
}

/// Why a runner that exited with `code` could not write `exit.json`; `None` if the code
/// does not say so.
pub fn unrecorded_exit_reason(code: i32) -> Option<String> {
    match code - RUNNER_UNRECORDED_EXIT {
        errno @ 1..63 => Some(std::io::Error::from_raw_os_error(errno).to_string()),
        63 => Some("an I/O error".into()),
        _ => None,
    }
}
