//! Isolated worktrees and best-of-N groups (issue 13, sections 3 and 4): the isolation a
//! start asks for, what a worktree task records, and the replies of `diff`, `apply`,
//! `discard` and `compare`.

pub use crate::task::WorktreeInfo;
use crate::task::{TaskId, TaskState};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// Where a task runs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Isolation {
    /// In the user's directory itself (the default).
    #[default]
    None,
    /// In a git worktree of its own under the daemon's state dir, on branch `codexd/<id>`,
    /// based on the user's `HEAD` plus their uncommitted changes.
    Worktree,
}

/// Most attempts one best-of-N start may ask for.
pub const MAX_ATTEMPTS: u32 = 8;

/// Files changed and lines added/removed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PatchStat {
    /// Paths changed (relative to the repository), sorted.
    pub files: Vec<String>,
    /// Lines added.
    pub insertions: u64,
    /// Lines removed.
    pub deletions: u64,
}

/// Reply of `codexd_diff`: a worktree task's change against its base.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiffReply {
    /// The task.
    pub task_id: TaskId,
    /// The base the patch applies to.
    pub base_commit: String,
    /// The change as a git patch (binary-safe, full blob ids; committed and uncommitted
    /// work in the worktree, new files included). Empty when nothing changed.
    pub patch: String,
    /// What the patch touches.
    pub stat: PatchStat,
}

/// Reply of `codexd_apply`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApplyReply {
    /// The task.
    pub task_id: TaskId,
    /// The repository applied to.
    pub repo: PathBuf,
    /// True when the change was applied; false when it conflicted (then nothing was).
    pub applied: bool,
    /// What was applied (or would have been).
    pub stat: PatchStat,
    /// On a conflict: the files that conflict with the user's current tree.
    pub conflicts: Vec<String>,
    /// When not applied: git's own words (of its 3-way apply into a scratch index; nothing
    /// of it reached the user's tree).
    pub message: Option<String>,
}

/// One task's outcome of `codexd_discard`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Discarded {
    /// The task.
    pub task_id: TaskId,
    /// The worktree directory that was removed.
    pub path: PathBuf,
    /// The branch that was deleted.
    pub branch: String,
    /// What was odd but not fatal (the directory was already gone, ...).
    pub notes: Vec<String>,
}

/// Reply of `codexd_discard`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiscardReply {
    /// The tasks whose worktrees were removed.
    pub discarded: Vec<Discarded>,
}

/// One attempt of a best-of-N group, as `compare` shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CompareEntry {
    /// 1-based rank: tests passed (more first), tests failed (fewer first), then the
    /// smaller change.
    pub rank: u32,
    /// The task.
    pub task_id: TaskId,
    /// Its state.
    pub state: TaskState,
    /// Tests passed, summed over the runners seen (null when no runner reported).
    pub tests_passed: Option<u64>,
    /// Tests failed, summed likewise.
    pub tests_failed: Option<u64>,
    /// Per runner: `runner: passed/failed`.
    pub tests: Vec<String>,
    /// The change against the group's base.
    pub stat: PatchStat,
    /// How long codex ran, in milliseconds.
    pub duration_ms: Option<u64>,
    /// Tokens used (input + output), when known.
    pub tokens: Option<u64>,
    /// The first line of the final message.
    pub summary: Option<String>,
    /// True once its worktree was discarded.
    pub discarded: bool,
}

/// Reply of `codexd_compare`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CompareReply {
    /// The group id.
    pub group: String,
    /// The base every attempt started from.
    pub base_commit: Option<String>,
    /// The attempts, best first.
    pub entries: Vec<CompareEntry>,
}
