//! The task record and its state machine.
//!
//! ```text
//!  queued ──► running ──► succeeded | failed | cancelled | timed_out | interrupted
//!    │                                   ▲
//!    └──────────── cancelled ────────────┘ (cancel while queued)
//!    └──────────── interrupted            (daemon restarted before it could start)
//! ```
//! Every transition is recorded with its time in [`Task::transitions`].

use serde::{Deserialize, Serialize};
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A task id: lowercase Crockford base32, short enough to type. Clients may use any
/// unambiguous prefix where a method takes an id.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TaskId(String);

/// The alphabet of task ids (Crockford base32, lowercase: no i, l, o, u).
pub const ID_ALPHABET: &[u8; 32] = b"0123456789abcdefghjkmnpqrstvwxyz";

/// Number of characters in a task id.
pub const ID_LEN: usize = 8;

impl TaskId {
    /// Builds an id from 40 random bits.
    pub fn from_bits(bits: u64) -> Self {
        let id = (0..ID_LEN)
            .rev()
            .map(|i| ID_ALPHABET[((bits >> (i * 5)) & 31) as usize] as char)
            .collect();
        TaskId(id)
    }

    /// Accepts a full id or a prefix as typed by a user: non-empty, id alphabet only.
    pub fn is_valid_prefix(s: &str) -> bool {
        !s.is_empty() && s.len() <= ID_LEN && s.bytes().all(|b| ID_ALPHABET.contains(&b))
    }

    /// Wraps a string already known to be a full id (from the registry).
    pub fn from_stored(s: impl Into<String>) -> Self {
        TaskId(s.into())
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TaskId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The lifecycle state of a task.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskState {
    /// Waiting for a free run slot.
    Queued,
    /// Codex is running.
    Running,
    /// The turn completed (`turn.completed`) and codex exited 0.
    Succeeded,
    /// The turn failed, codex exited non-zero, or codex could not be started.
    Failed,
    /// Cancelled by a client; every process of the run was stopped.
    Cancelled,
    /// The wall-clock timeout expired; every process of the run was stopped.
    TimedOut,
    /// The run ended while nobody watched it and left no exit status.
    Interrupted,
}

impl TaskState {
    /// All states, in lifecycle order.
    pub const ALL: [TaskState; 7] = [
        TaskState::Queued,
        TaskState::Running,
        TaskState::Succeeded,
        TaskState::Failed,
        TaskState::Cancelled,
        TaskState::TimedOut,
        TaskState::Interrupted,
    ];

    /// True once the task can no longer change.
    pub fn is_terminal(self) -> bool {
        !matches!(self, TaskState::Queued | TaskState::Running)
    }

    /// The wire name (`timed_out`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            TaskState::Queued => "queued",
            TaskState::Running => "running",
            TaskState::Succeeded => "succeeded",
            TaskState::Failed => "failed",
            TaskState::Cancelled => "cancelled",
            TaskState::TimedOut => "timed_out",
            TaskState::Interrupted => "interrupted",
        }
    }
}

impl fmt::Display for TaskState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for TaskState {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        TaskState::ALL
            .into_iter()
            .find(|state| state.as_str() == s)
            .ok_or_else(|| {
                let names: Vec<_> = TaskState::ALL.iter().map(|s| s.as_str()).collect();
                format!(
                    "unknown state {s:?} (expected one of: {})",
                    names.join(", ")
                )
            })
    }
}

/// A point in time, serialised as RFC 3339 UTC with milliseconds
/// (`2026-11-23T20:26:22.123Z`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(SystemTime);

impl Timestamp {
    /// The current time.
    pub fn now() -> Self {
        Timestamp(SystemTime::now())
    }

    /// Milliseconds since the Unix epoch (0 for times before it).
    pub fn unix_ms(self) -> u64 {
        self.0
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0)
    }

    /// Builds a timestamp from milliseconds since the Unix epoch.
    pub fn from_unix_ms(ms: u64) -> Self {
        Timestamp(UNIX_EPOCH + Duration::from_millis(ms))
    }

    /// Time elapsed from `self` to `later` (zero if `later` is earlier).
    pub fn until(self, later: Timestamp) -> Duration {
        later.0.duration_since(self.0).unwrap_or_default()
    }

    /// The wrapped system time.
    pub fn system_time(self) -> SystemTime {
        self.0
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", humantime::format_rfc3339_millis(self.0))
    }
}

impl Serialize for Timestamp {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        humantime::parse_rfc3339_weak(&text)
            .map(Timestamp)
            .map_err(|e| serde::de::Error::custom(format!("bad timestamp {text:?}: {e}")))
    }
}

/// One recorded state change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transition {
    /// The state entered.
    pub state: TaskState,
    /// When it was entered.
    pub at: Timestamp,
}

/// A task: one `codex exec` (or `codex exec resume`) run and everything known about it.
///
/// This is the object `codexctl show --json` prints; field names are part of the stable API.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Task {
    /// The task id.
    pub id: TaskId,
    /// Current state.
    pub state: TaskState,
    /// Codex's thread id, from `thread.started` (null until it arrives).
    pub thread_id: Option<String>,
    /// The prompt sent to codex.
    pub prompt: String,
    /// The working directory codex ran in (absolute, canonical).
    pub cwd: PathBuf,
    /// Sandbox mode (`read-only`, `workspace-write`, `danger-full-access`), if given.
    pub sandbox: Option<String>,
    /// Model, if given.
    pub model: Option<String>,
    /// `-c key=value` overrides forwarded to codex unchanged.
    pub config: Vec<String>,
    /// Names of the environment variables the client set (values are never stored).
    pub env_keys: Vec<String>,
    /// Wall-clock limit in milliseconds, if any.
    pub timeout_ms: Option<u64>,
    /// The task this one resumed (same thread), if any.
    pub parent: Option<TaskId>,
    /// Free-form labels given at start.
    #[serde(default)]
    pub labels: Vec<String>,
    /// The Claude Code session the task was started from (the client's
    /// `CLAUDE_CODE_SESSION_ID`), if any.
    #[serde(default)]
    pub session_id: Option<String>,
    /// The idempotency key the task was started with (`request_id`), if any.
    #[serde(default)]
    pub request_id: Option<String>,
    /// When the task's result was first read (`result`) after it ended; null while unread.
    #[serde(default)]
    pub result_read_at: Option<Timestamp>,
    /// When the task was accepted.
    pub created_at: Timestamp,
    /// When codex was started.
    pub started_at: Option<Timestamp>,
    /// When the task reached a terminal state.
    pub finished_at: Option<Timestamp>,
    /// Codex's exit code, when it exited normally.
    pub exit_code: Option<i32>,
    /// The signal that killed codex, if one did.
    pub exit_signal: Option<i32>,
    /// Why the task did not succeed: codex's own message on `turn.failed`, or the reason for
    /// `cancelled`, `timed_out`, `interrupted` and start failures. On a `succeeded` task: what
    /// codexd could not record (its exit status, a side file lost to a rebuild).
    pub error: Option<String>,
    /// The last `agent_message` codex sent (its final answer once the task ended).
    pub final_message: Option<String>,
    /// 1-based position in the run queue while `queued`; null otherwise.
    pub queue_position: Option<u32>,
    /// Process id of the run's supervisor process while running.
    pub pid: Option<u32>,
    /// Start time of that process (clock ticks since boot), to tell a reused pid apart.
    pub pid_start_time: Option<u64>,
    /// Size in bytes of the event log so far.
    pub log_bytes: u64,
    /// True when the event log reached the daemon's per-task limit: later output was
    /// shortened or dropped (events that settle the task are always kept).
    #[serde(default)]
    pub log_truncated: bool,
    /// When the cwd is in a git work tree: the tree object of the work tree when the run
    /// started (the base of the result's diffstat).
    #[serde(default)]
    pub git_base_tree: Option<String>,
    /// Every state entered, with its time, oldest first.
    pub transitions: Vec<Transition>,
    // --- isolated worktrees and best-of-N (issue 13) ---
    /// The git worktree the task runs in (`isolation: "worktree"`); a resumed task shares
    /// its parent's.
    #[serde(default)]
    pub worktree: Option<WorktreeInfo>,
    /// The best-of-N group the task is one attempt of (`attempts`).
    #[serde(default)]
    pub group: Option<String>,
    // -- stall policy (issue 12) --
    /// Stall limit in milliseconds (no event but codex's `error` notices for this long
    /// stops the run, `timed_out`); null: none.
    #[serde(default)]
    pub stall_timeout_ms: Option<u64>,
    /// While codex reports that it is reconnecting to its model server (and no other event
    /// came since): what it said, how many such notices, since when. Null otherwise.
    #[serde(default)]
    pub reconnecting: Option<Reconnecting>,
    // --- review + run options (issue 13) ---
    /// `exec` or `review` (records from before kinds existed are `exec`).
    #[serde(default)]
    pub kind: crate::TaskKind,
    /// Reasoning effort, if given.
    #[serde(default)]
    pub effort: Option<String>,
    /// Codex config profile, if given.
    #[serde(default)]
    pub profile: Option<String>,
    /// The attached images: their copies in the task directory.
    #[serde(default)]
    pub images: Vec<PathBuf>,
    /// Extra writable directories (`--add-dir`).
    #[serde(default)]
    pub add_dirs: Vec<PathBuf>,
    /// True when the task has an output schema (`output-schema.json` in its directory).
    #[serde(default)]
    pub output_schema: bool,
    /// What a review task reviews.
    #[serde(default)]
    pub review: Option<crate::ReviewTarget>,
    // --- fork (issue 13) ---
    /// True when the task forked its parent's thread (`codex exec fork`): its `thread_id`
    /// is a new thread (known once codex starts it), not the parent's.
    #[serde(default)]
    pub forked: bool,
}

/// Codex's reconnect notices (`{"type":"error","message":"Reconnecting... 2/5 ..."}`)
/// since its last real event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reconnecting {
    /// Codex's latest notice.
    pub message: String,
    /// How many notices in a row.
    pub count: u64,
    /// When the first of them arrived.
    pub since: Timestamp,
}

impl Reconnecting {
    /// The activity line: `Codex is reconnecting: <message> (N notices since <time>)`.
    pub fn activity(&self) -> String {
        let notices = if self.count == 1 { "notice" } else { "notices" };
        format!(
            "Codex is reconnecting: {} ({} {notices} since {})",
            self.message, self.count, self.since
        )
    }
}

/// True for codex's event lines that are no progress: its top-level `error` notices
/// (reconnecting, warnings).
pub fn is_reconnect_message(message: &str) -> bool {
    message.trim_start().starts_with("Reconnecting")
}

/// The directory a task that runs in `cwd` was started from: `cwd` itself, or for a task in
/// `worktree` the same directory in the user's repository ([`Task::origin_cwd`]).
pub fn origin_cwd(cwd: &Path, worktree: Option<&WorktreeInfo>) -> PathBuf {
    match worktree {
        Some(worktree) => match cwd.strip_prefix(&worktree.path) {
            Ok(inside) => worktree.repo.join(inside),
            Err(_) => worktree.repo.clone(),
        },
        None => cwd.to_path_buf(),
    }
}

impl Task {
    /// How long codex ran (or has been running, measured to `now`).
    pub fn duration(&self, now: Timestamp) -> Option<Duration> {
        let start = self.started_at?;
        Some(start.until(self.finished_at.unwrap_or(now)))
    }

    /// The directory the task was started from: its cwd, or for a task in an isolated
    /// worktree the same directory in the user's repository (the worktree is the user's
    /// repository elsewhere, so "this project's tasks" must find it by where it came from).
    pub fn origin_cwd(&self) -> PathBuf {
        origin_cwd(&self.cwd, self.worktree.as_ref())
    }

    /// True when the task was started in `dir` or below it (by [`Task::origin_cwd`],
    /// compared component by component): what a `cwd` filter selects.
    pub fn started_within(&self, dir: &Path) -> bool {
        self.origin_cwd().starts_with(dir)
    }

    /// True when the task has ended and its result was never read.
    pub fn is_unread(&self) -> bool {
        self.state.is_terminal() && self.result_read_at.is_none()
    }

    /// Moves the task to `state` and records the transition.
    pub fn enter(&mut self, state: TaskState, at: Timestamp) {
        self.state = state;
        self.transitions.push(Transition { state, at });
        match state {
            TaskState::Running => self.started_at = Some(at),
            s if s.is_terminal() => {
                self.finished_at = Some(at);
                self.queue_position = None;
            }
            _ => {}
        }
        if state != TaskState::Queued {
            self.queue_position = None;
        }
    }
}

// --- isolated worktrees (issue 13) ---
/// The worktree a task runs in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorktreeInfo {
    /// The worktree's directory (`<state>/worktrees/<id>`).
    pub path: PathBuf,
    /// Its branch (`codexd/<id>`).
    pub branch: String,
    /// The commit it was created from: the user's `HEAD` plus their uncommitted changes
    /// (tracked, staged and untracked non-ignored files) as a snapshot commit, or `HEAD`
    /// itself when there were none. Diffs and applies are measured against it.
    pub base_commit: String,
    /// The user's `HEAD` when the task started (null in a repository without commits).
    #[serde(default)]
    pub head_commit: Option<String>,
    /// The top-level directory of the user's repository (where `apply` applies).
    pub repo: PathBuf,
    /// When `apply` last applied the task's change to the user's tree.
    #[serde(default)]
    pub applied_at: Option<Timestamp>,
    /// When the worktree and branch were removed (`discard`, or prune); the record stays.
    #[serde(default)]
    pub discarded_at: Option<Timestamp>,
}
