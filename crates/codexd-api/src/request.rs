//! Parameters and replies of the API methods.

use crate::task::{Task, TaskState};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// Parameters of `codexd_start`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StartRequest {
    /// The prompt for codex (required, non-empty).
    pub prompt: String,
    /// Working directory (absolute; must exist). Clients resolve relative paths themselves.
    pub cwd: PathBuf,
    /// Sandbox mode for codex (`read-only`, `workspace-write`, `danger-full-access`).
    pub sandbox: Option<String>,
    /// Model for codex (`-m`).
    pub model: Option<String>,
    /// `key=value` overrides, forwarded to `codex exec -c` unchanged.
    pub config: Vec<String>,
    /// Environment variables to set for codex (values are held in memory only).
    pub env: BTreeMap<String, String>,
    /// Environment variables to remove from the daemon's environment for this run (e.g. a
    /// `VIRTUAL_ENV` the client does not have).
    pub env_remove: Vec<String>,
    /// Wall-clock limit in milliseconds; the daemon's default applies when absent.
    pub timeout_ms: Option<u64>,
    /// Wait up to this long for codex's `thread.started` before replying, so the reply
    /// carries the `thread_id`. 0 or absent: reply at once.
    pub wait_for_thread_ms: Option<u64>,
    /// Free-form labels to find the task by (at most 16, each 1–64 characters).
    pub labels: Vec<String>,
    /// The Claude Code session starting the task (`CLAUDE_CODE_SESSION_ID`), to find its
    /// tasks later (1–128 characters: letters, digits, `-`, `_`, `.`).
    pub session_id: Option<String>,
    /// Idempotency key chosen by the client (1–64 characters: letters, digits, `-`, `_`,
    /// `.`, `:`): a start repeated with the same key returns the task the first one created
    /// (whatever its other parameters) instead of starting another, for as long as that
    /// task exists. Clients retry a call that lost its connection with the same key.
    pub request_id: Option<String>,
    // --- isolated worktrees and best-of-N (issue 13) ---
    /// Where the task runs: in `cwd` itself (default) or in a git worktree of its own.
    pub isolation: Option<crate::worktree::Isolation>,
    /// Best-of-N: start this many attempts (1 to [`crate::worktree::MAX_ATTEMPTS`]), each in
    /// its own worktree from the same base, as one group; needs `isolation: "worktree"`.
    /// The reply is the first attempt; its `group` names the others (`compare`).
    pub attempts: Option<u32>,
    // -- stall policy (issue 12) --
    /// Stall limit in milliseconds: the run is stopped (`timed_out`) after this long
    /// without an event other than codex's `error`/reconnect notices. 0: no stall limit;
    /// absent: the daemon's default (15 minutes unless configured).
    pub stall_timeout_ms: Option<u64>,
    // --- review + run options (issue 13) ---
    /// Reasoning effort (`-c model_reasoning_effort=…`): one of [`crate::EFFORTS`].
    pub effort: Option<String>,
    /// Codex config profile (`-p NAME`: `$CODEX_HOME/NAME.config.toml`).
    pub profile: Option<String>,
    /// Images to attach to the prompt (absolute paths of readable files, each at most
    /// 20 MiB); copied into the task directory at start.
    pub images: Vec<PathBuf>,
    /// Extra writable directories (`--add-dir`; absolute, must exist).
    pub add_dirs: Vec<PathBuf>,
    /// A JSON Schema for the final answer (`--output-schema`), kept in the task directory;
    /// the result carries `final_json` (or `schema_error`).
    pub output_schema: Option<serde_json::Value>,
    /// Makes the task a review (`codex exec review`, read-only) of this target; the prompt
    /// then holds custom review instructions and may be empty when a target is given.
    pub review: Option<crate::ReviewTarget>,
}

/// Parameters of `codexd_resume`: a follow-up turn on a finished task's thread.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ResumeRequest {
    /// The task to continue (id or unambiguous prefix).
    pub task: String,
    /// The follow-up prompt.
    pub prompt: String,
    /// Model override; the parent's model otherwise.
    pub model: Option<String>,
    /// Extra `key=value` overrides, appended to the parent's.
    pub config: Vec<String>,
    /// Environment, as in [`StartRequest::env`].
    pub env: BTreeMap<String, String>,
    /// As in [`StartRequest::env_remove`].
    pub env_remove: Vec<String>,
    /// Wall-clock limit in milliseconds; the parent's otherwise.
    pub timeout_ms: Option<u64>,
    /// As in [`StartRequest::wait_for_thread_ms`].
    pub wait_for_thread_ms: Option<u64>,
    /// Labels, added to the parent's.
    pub labels: Vec<String>,
    /// As in [`StartRequest::session_id`] (not inherited from the parent).
    pub session_id: Option<String>,
    /// As in [`StartRequest::request_id`] (one key space for starts and resumes).
    pub request_id: Option<String>,
    // -- stall policy (issue 12) --
    /// As in [`StartRequest::stall_timeout_ms`]; the parent's otherwise.
    pub stall_timeout_ms: Option<u64>,
    // --- review + run options (issue 13) ---
    /// As in [`StartRequest::effort`]; the parent's otherwise.
    pub effort: Option<String>,
    /// As in [`StartRequest::profile`]; the parent's otherwise.
    pub profile: Option<String>,
    /// Images for the follow-up prompt (not inherited).
    pub images: Vec<PathBuf>,
    /// Extra writable directories, added to the parent's.
    pub add_dirs: Vec<PathBuf>,
    /// A schema for this turn's final answer (not inherited).
    pub output_schema: Option<serde_json::Value>,
    // --- fork (issue 13) ---
    /// Fork the task's thread instead of continuing it (`codex exec fork`): the new task
    /// gets a thread of its own that starts from the parent's conversation; the parent's
    /// thread is left as it is.
    pub fork: bool,
}

/// Page size of `codexd_list` when `limit` is absent.
pub const DEFAULT_PAGE_LIMIT: u32 = 50;
/// Largest page `codexd_list` returns (`limit` is clamped to `1..=MAX_PAGE_LIMIT`).
pub const MAX_PAGE_LIMIT: u32 = 1000;

/// Parameters of `codexd_list`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ListQuery {
    /// Only tasks in one of these states (all states when empty).
    pub states: Vec<TaskState>,
    /// Only tasks started in this directory or below it (a worktree task counts where it
    /// was started from, in the user's repository: `Task::origin_cwd`).
    pub cwd: Option<PathBuf>,
    /// Only tasks of this Codex thread.
    pub thread_id: Option<String>,
    /// Only tasks carrying this label.
    pub label: Option<String>,
    /// Only tasks started from this Claude Code session.
    pub session_id: Option<String>,
    /// Only tasks that ended and whose result was never read.
    pub unread: bool,
    /// Page size (default [`DEFAULT_PAGE_LIMIT`], at most [`MAX_PAGE_LIMIT`]).
    pub limit: Option<u32>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
    // --- review tasks (issue 13) ---
    /// Only tasks of this kind (`exec` or `review`).
    pub kind: Option<crate::TaskKind>,
}

/// Parameters of `codexd_count`: which tasks to count (every task when all are absent).
/// The same filters as [`ListQuery`] where they apply.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CountQuery {
    /// Only tasks started in this directory or below it (a worktree task counts where it
    /// was started from, in the user's repository: `Task::origin_cwd`).
    pub cwd: Option<PathBuf>,
    /// Only tasks started from this Claude Code session.
    pub session_id: Option<String>,
    /// Only tasks carrying this label.
    pub label: Option<String>,
    /// Only tasks of this kind (`exec` or `review`).
    pub kind: Option<crate::TaskKind>,
}

/// Reply of `codexd_count`: how many of the tasks asked about need attention.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskCounts {
    /// Tasks running.
    pub running: u64,
    /// Tasks waiting for a run slot.
    pub queued: u64,
    /// Tasks that ended and whose result was never read.
    pub unread: u64,
}

/// Reply of `codexd_list`: tasks newest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskPage {
    /// This page of tasks, newest first.
    pub tasks: Vec<Task>,
    /// Pass as `cursor` to get the next page; null on the last page.
    pub next_cursor: Option<String>,
}

/// Reply of `codexd_wait`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WaitReply {
    /// The tasks asked for, in the order asked, as they are now.
    pub tasks: Vec<Task>,
    /// True if the timeout expired before every task ended.
    pub timed_out: bool,
}

/// Which log of a task to read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogStream {
    /// Codex's JSONL events (stdout of `codex exec --json`).
    #[default]
    Events,
    /// Codex's stderr.
    Stderr,
}

/// One line of a log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogLine {
    /// Byte offset of the line in the log file.
    pub offset: u64,
    /// The line, without its newline.
    pub line: String,
}

/// Reply of `codexd_read_log`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogChunk {
    /// Complete lines from the requested offset.
    pub lines: Vec<LogLine>,
    /// Offset to ask for next.
    pub next_offset: u64,
    /// True when the task has ended and `next_offset` is the end of the log.
    pub complete: bool,
}

/// An item of the `codexd_watch` subscription.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum WatchItem {
    /// The task as it is now; sent first and after every state change. A terminal state is
    /// always the last item: it comes after the replay of the log, so for a task that has
    /// already ended the events come first. The subscription ends after it.
    State {
        /// The task.
        task: Box<Task>,
    },
    /// One event line of the task's log (only when the subscription asked for events).
    Event {
        /// Byte offset of the line in the event log.
        offset: u64,
        /// The raw JSON line.
        line: String,
    },
}

/// Reply of `codexd_prune`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PruneReply {
    /// The tasks removed (or, on a dry run, that would be), oldest first.
    pub pruned: Vec<crate::TaskId>,
    /// True when nothing was removed because it was a dry run.
    pub dry_run: bool,
    /// What pruning found already gone and went on without, one line each (a worktree
    /// directory or branch removed by hand, a repository that no longer exists). Absent
    /// when empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

/// Reply of `codexd_version`: identity and health of the daemon.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VersionInfo {
    /// codexd's version.
    pub version: String,
    /// The daemon's process id.
    pub pid: u32,
    /// The socket it serves.
    pub socket: PathBuf,
    /// Its state directory.
    pub state_dir: PathBuf,
    /// The codex binary it runs (as configured: a path or a name looked up on PATH).
    pub codex_bin: String,
    /// Limit on concurrently running tasks.
    pub max_running: u32,
    /// Tasks running now.
    pub running: u32,
    /// Tasks waiting in the queue.
    pub queued: u32,
    /// When the daemon started.
    pub started_at: crate::Timestamp,
}
