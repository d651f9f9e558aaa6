//! The structured result of a task, computed by the daemon from Codex's own JSONL events
//! (never by guessing over free text where an event says it), stored when the task ends.
//!
//! Small by default: long fields are trimmed with a marker and listed in `trimmed`; the
//! full result is available with `full = true`, and everything is in the event log.

use crate::task::{TaskId, TaskState};
use serde::{Deserialize, Serialize};

/// The result of a task.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TaskResult {
    /// The task.
    pub task_id: Option<TaskId>,
    /// Its (terminal) state.
    pub state: Option<TaskState>,
    /// How long codex ran, in milliseconds.
    pub duration_ms: Option<u64>,
    /// Codex's exit code.
    pub exit_code: Option<i32>,
    /// Codex's own message on `turn.failed`, or the reason for cancelled / timed_out /
    /// interrupted / start failures.
    pub error: Option<String>,
    /// The last agent message.
    pub final_message: Option<String>,
    /// Files from `file_change` items, relative to the task's cwd, de-duplicated; the
    /// net effect of each path (add then update = add; add then delete = gone).
    pub files_changed: Vec<FileChange>,
    /// When the cwd is a git work tree: what changed between the tree at the start of the
    /// task and at its end (counts changes made through shell commands too, not the user's
    /// own earlier uncommitted work).
    pub diffstat: Option<DiffStat>,
    /// Every `command_execution`, in order.
    pub commands: Vec<CommandRun>,
    /// Test counts from commands that ran a test runner; null when none did.
    pub tests: Option<TestSummary>,
    /// Tokens used by this task (for resumed threads: the difference from the thread's
    /// previous total).
    pub usage: Option<Usage>,
    /// The thread's cumulative total after this task, as codex reports it.
    pub thread_usage: Option<Usage>,
    /// The last plan codex made, if any.
    pub todo: Option<Vec<TodoItem>>,
    /// Fields shortened to keep the result small (ask for the full result to see them whole).
    pub trimmed: Vec<String>,
    /// True when the event log reached the per-task limit, so the result was computed from
    /// a shortened log (commands' output, and events past the limit, may be missing).
    #[serde(default)]
    pub log_truncated: bool,
    // --- review + run options (issue 13) ---
    /// A review task's review, parsed from codex's final review message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub review: Option<crate::Review>,
    /// With an output schema: the final message parsed as JSON, when it conforms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub final_json: Option<serde_json::Value>,
    /// With an output schema: why the final message is not JSON or does not conform.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema_error: Option<String>,
}

/// How a file changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileChange {
    /// Path relative to the task's cwd (absolute if outside it).
    pub path: String,
    /// `add`, `update` or `delete`.
    pub kind: String,
}

/// A git diff summary.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiffStat {
    /// Files changed.
    pub files: u64,
    /// Lines added.
    pub insertions: u64,
    /// Lines removed.
    pub deletions: u64,
}

/// One command codex ran.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommandRun {
    /// The command (the shell wrapper removed).
    pub command: String,
    /// Exit code, once finished.
    pub exit_code: Option<i64>,
    /// `completed`, `failed`, or `in_progress` if the run ended first.
    pub status: String,
    /// From `item.started` to `item.completed`, as seen by codexd.
    pub duration_ms: Option<u64>,
}

/// Counts from one test-runner invocation.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TestRun {
    /// `cargo-test`, `cargo-nextest`, `pytest`, `unittest`, `go-test`, `jest`, `vitest`,
    /// `mocha`, `node-test`.
    pub runner: String,
    /// Tests passed.
    pub passed: u64,
    /// Tests failed.
    pub failed: u64,
    /// Tests skipped (ignored, pending, todo).
    pub skipped: u64,
    /// Names of the failing tests.
    pub failing: Vec<String>,
}

/// Test counts over all test commands of a task.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TestSummary {
    /// Sum of passed.
    pub passed: u64,
    /// Sum of failed.
    pub failed: u64,
    /// Sum of skipped.
    pub skipped: u64,
    /// Failing test names, in order, de-duplicated.
    pub failing: Vec<String>,
    /// Each test command's own counts.
    pub runs: Vec<TestRun>,
}

impl TestRun {
    /// An empty run of `runner`.
    pub fn new(runner: &str) -> Self {
        TestRun {
            runner: runner.to_string(),
            ..TestRun::default()
        }
    }

    /// All tests counted: passed, failed and skipped.
    pub fn total(&self) -> u64 {
        self.passed + self.failed + self.skipped
    }

    /// Adds another run's counts and failing names into this one (the runner is kept).
    pub fn absorb(&mut self, other: &TestRun) {
        self.passed += other.passed;
        self.failed += other.failed;
        self.skipped += other.skipped;
        for name in &other.failing {
            self.note_failing(name);
        }
    }

    /// Records a failing test name, once.
    pub fn note_failing(&mut self, name: &str) {
        push_unique(&mut self.failing, name);
    }
}

impl TestSummary {
    /// Adds one run to the totals.
    pub fn add(&mut self, run: TestRun) {
        self.passed += run.passed;
        self.failed += run.failed;
        self.skipped += run.skipped;
        for name in &run.failing {
            push_unique(&mut self.failing, name);
        }
        self.runs.push(run);
    }

    /// Whether no run has been added.
    pub fn is_empty(&self) -> bool {
        self.runs.is_empty()
    }

    /// The runs summed per runner, in the order each runner was first seen.
    pub fn by_runner(&self) -> Vec<TestRun> {
        let mut out: Vec<TestRun> = Vec::new();
        for run in &self.runs {
            match out.iter_mut().find(|r| r.runner == run.runner) {
                Some(acc) => acc.absorb(run),
                None => out.push(run.clone()),
            }
        }
        out
    }
}

fn push_unique(names: &mut Vec<String>, name: &str) {
    if !names.iter().any(|n| n == name) {
        names.push(name.to_string());
    }
}

/// Token usage.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    /// Input tokens.
    pub input_tokens: u64,
    /// Of which served from cache.
    pub cached_input_tokens: u64,
    /// Output tokens.
    pub output_tokens: u64,
    /// Of which reasoning.
    pub reasoning_output_tokens: u64,
}

impl Usage {
    /// `self - earlier`, field by field (never below zero).
    pub fn since(self, earlier: Usage) -> Usage {
        Usage {
            input_tokens: self.input_tokens.saturating_sub(earlier.input_tokens),
            cached_input_tokens: self
                .cached_input_tokens
                .saturating_sub(earlier.cached_input_tokens),
            output_tokens: self.output_tokens.saturating_sub(earlier.output_tokens),
            reasoning_output_tokens: self
                .reasoning_output_tokens
                .saturating_sub(earlier.reasoning_output_tokens),
        }
    }
}

/// One plan item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TodoItem {
    /// The step.
    pub text: String,
    /// Done?
    pub completed: bool,
}
