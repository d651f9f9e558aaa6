//! The compact result (`codex_result`'s default section) and the views it is made of: the
//! daemon's compact result cut further so one reply stays well under 10k tokens, with a
//! note for everything cut saying which section of `codex_result` has it whole.

use crate::view::excerpt;
use codexd_client::api::TaskResult;
use codexd_client::api::result::{CommandRun, TestSummary};
use schemars::JsonSchema;
use serde::Serialize;

/// Commands shown in the summary (the last ones).
const SUMMARY_COMMANDS: usize = 20;
/// Files shown in the summary.
const SUMMARY_FILES: usize = 50;
/// Failing test names shown in the summary.
const SUMMARY_FAILING: usize = 20;
/// Plan items shown in the summary.
const SUMMARY_TODO: usize = 30;
/// Longest command text in the summary.
const SUMMARY_COMMAND_CHARS: usize = 300;
/// Longest error text in the summary.
const SUMMARY_ERROR_CHARS: usize = 2000;

/// A changed file.
#[derive(Debug, Serialize, JsonSchema)]
pub struct FileView {
    /// Path relative to the task's cwd.
    pub path: String,
    /// `add`, `update` or `delete`.
    pub kind: String,
}

/// A command Codex ran.
#[derive(Debug, Serialize, JsonSchema)]
pub struct CommandView {
    /// The command (shell wrapper removed).
    pub command: String,
    /// Its exit code, once finished.
    pub exit_code: Option<i64>,
    /// `completed`, `failed`, or `in_progress`.
    pub status: String,
    /// How long it ran, in milliseconds.
    pub duration_ms: Option<u64>,
}

impl CommandView {
    pub(super) fn new(run: &CommandRun, max: usize) -> Self {
        CommandView {
            command: excerpt(&run.command, max),
            exit_code: run.exit_code,
            status: run.status.clone(),
            duration_ms: run.duration_ms,
        }
    }
}

/// Test counts of one runner invocation.
#[derive(Debug, Serialize, JsonSchema)]
pub struct TestRunView {
    /// `cargo-test`, `pytest`, `go-test`, `jest`, ...
    pub runner: String,
    /// Passed.
    pub passed: u64,
    /// Failed.
    pub failed: u64,
    /// Skipped.
    pub skipped: u64,
}

/// Test counts over every test command.
#[derive(Debug, Serialize, JsonSchema)]
pub struct TestsView {
    /// Passed.
    pub passed: u64,
    /// Failed.
    pub failed: u64,
    /// Skipped.
    pub skipped: u64,
    /// Failing test names (in the summary, the first few).
    pub failing: Vec<String>,
    /// Counts per test command.
    pub runs: Vec<TestRunView>,
}

impl TestsView {
    pub(super) fn new(tests: &TestSummary, failing: Vec<String>) -> Self {
        TestsView {
            passed: tests.passed,
            failed: tests.failed,
            skipped: tests.skipped,
            failing,
            runs: tests
                .runs
                .iter()
                .map(|r| TestRunView {
                    runner: r.runner.clone(),
                    passed: r.passed,
                    failed: r.failed,
                    skipped: r.skipped,
                })
                .collect(),
        }
    }
}

/// Token counts.
#[derive(Debug, Serialize, JsonSchema)]
pub struct UsageView {
    /// Input tokens.
    pub input_tokens: u64,
    /// Of which cached.
    pub cached_input_tokens: u64,
    /// Output tokens.
    pub output_tokens: u64,
    /// Of which reasoning.
    pub reasoning_output_tokens: u64,
}

/// A plan step.
#[derive(Debug, Serialize, JsonSchema)]
pub struct TodoView {
    /// The step.
    pub text: String,
    /// Done?
    pub completed: bool,
}

/// Lines changed in the git work tree during the task.
#[derive(Debug, Serialize, JsonSchema)]
pub struct DiffStatView {
    /// Files changed.
    pub files: u64,
    /// Lines added.
    pub insertions: u64,
    /// Lines removed.
    pub deletions: u64,
}

/// The compact result.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Summary {
    /// How long Codex ran, in milliseconds.
    pub duration_ms: Option<u64>,
    /// Codex's exit code.
    pub exit_code: Option<i32>,
    /// Why the task did not succeed, if it did not.
    pub error: Option<String>,
    /// Codex's final answer (cut at 4,000 characters: section final_message has all).
    pub final_message: Option<String>,
    /// Changed files, relative to the task's cwd, with their net change.
    pub files_changed: Vec<FileView>,
    /// Git diff summary of the work tree over the task (null outside git).
    pub diffstat: Option<DiffStatView>,
    /// The last commands Codex ran.
    pub commands: Vec<CommandView>,
    /// Test counts from the test runners' own summaries (null when no tests ran).
    pub tests: Option<TestsView>,
    /// Tokens used by this task.
    pub usage: Option<UsageView>,
    /// Codex's last plan.
    pub todo: Option<Vec<TodoView>>,
    /// What was cut, and which section has it whole.
    pub trimmed: Vec<String>,
}

/// The summary: the daemon's compact result, cut further to stay small.
pub(super) fn summary(result: &TaskResult) -> Summary {
    // One note per field cut, by the daemon (`result.trimmed`) or here, naming the section
    // that has it whole.
    let mut notes: Vec<(&str, String)> = Vec::new();
    let mut note = |field: &'static str, text: String| {
        if !notes.iter().any(|(f, _)| *f == field) {
            notes.push((field, text));
        }
    };
    let commands = &result.commands;
    let skip = commands.len().saturating_sub(SUMMARY_COMMANDS);
    let daemon_cut = |prefix: &str| result.trimmed.iter().any(|t| t.starts_with(prefix));
    if skip > 0 || daemon_cut("commands (") {
        note(
            "commands",
            format!(
                "commands: only the last {} are shown (section commands has all)",
                commands.len() - skip
            ),
        );
    }
    if daemon_cut("commands[].command")
        || commands
            .iter()
            .any(|c| c.command.chars().count() > SUMMARY_COMMAND_CHARS)
    {
        note(
            "command",
            format!(
                "commands[].command: long command lines are cut at {SUMMARY_COMMAND_CHARS} \
                 characters (section commands)"
            ),
        );
    }
    let files = &result.files_changed;
    if files.len() > SUMMARY_FILES || daemon_cut("files_changed") {
        note(
            "files",
            format!(
                "files_changed: only the first {} are shown (section files has all)",
                files.len().min(SUMMARY_FILES)
            ),
        );
    }
    let tests = result.tests.as_ref().map(|t| {
        if t.failing.len() > SUMMARY_FAILING || daemon_cut("tests.failing") {
            note(
                "failing",
                format!(
                    "tests.failing: only the first {} names are shown (section tests has all)",
                    t.failing.len().min(SUMMARY_FAILING)
                ),
            );
        }
        TestsView::new(t, t.failing.iter().take(SUMMARY_FAILING).cloned().collect())
    });
    if daemon_cut("final_message") {
        note(
            "final_message",
            "final_message: cut at 4,000 characters (section final_message has all)".into(),
        );
    }
    if daemon_cut("error")
        || result
            .error
            .as_ref()
            .is_some_and(|e| e.chars().count() > SUMMARY_ERROR_CHARS)
    {
        note(
            "error",
            "error: cut (sections stderr and events have codex's own output)".into(),
        );
    }
    if daemon_cut("todo") || result.todo.as_ref().is_some_and(|t| t.len() > SUMMARY_TODO) {
        note(
            "todo",
            "todo: only the first steps are shown (section events)".into(),
        );
    }
    let trimmed = notes.into_iter().map(|(_, text)| text).collect();

    Summary {
        duration_ms: result.duration_ms,
        exit_code: result.exit_code,
        error: result
            .error
            .as_deref()
            .map(|e| excerpt(e, SUMMARY_ERROR_CHARS)),
        final_message: result.final_message.clone(),
        files_changed: files
            .iter()
            .take(SUMMARY_FILES)
            .map(|f| FileView {
                path: f.path.clone(),
                kind: f.kind.clone(),
            })
            .collect(),
        diffstat: result.diffstat.map(|d| DiffStatView {
            files: d.files,
            insertions: d.insertions,
            deletions: d.deletions,
        }),
        commands: commands[skip..]
            .iter()
            .map(|c| CommandView::new(c, SUMMARY_COMMAND_CHARS))
            .collect(),
        tests,
        usage: result.usage.map(|u| UsageView {
            input_tokens: u.input_tokens,
            cached_input_tokens: u.cached_input_tokens,
            output_tokens: u.output_tokens,
            reasoning_output_tokens: u.reasoning_output_tokens,
        }),
        todo: result.todo.as_ref().map(|items| {
            items
                .iter()
                .take(SUMMARY_TODO)
                .map(|i| TodoView {
                    text: excerpt(&i.text, 200),
                    completed: i.completed,
                })
                .collect()
        }),
        trimmed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use codexd_client::api::result::FileChange;

    #[test]
    fn summaries_cut_long_lists_and_say_where_the_rest_is() {
        let run = |i: usize| CommandRun {
            command: format!("cmd {i} {}", "x".repeat(if i == 59 { 1000 } else { 1 })),
            exit_code: Some(0),
            status: "completed".into(),
            duration_ms: Some(1),
        };
        let result = TaskResult {
            commands: (0..60).map(run).collect(),
            files_changed: (0..70)
                .map(|i| FileChange {
                    path: format!("f{i}"),
                    kind: "add".into(),
                })
                .collect(),
            ..TaskResult::default()
        };
        let s = summary(&result);
        assert_eq!(s.commands.len(), SUMMARY_COMMANDS);
        assert!(s.commands[0].command.starts_with("cmd 40 "));
        assert!(s.commands[19].command.len() < 400);
        assert_eq!(s.files_changed.len(), SUMMARY_FILES);
        let trimmed = s.trimmed.join("\n");
        assert!(
            trimmed.contains("only the last 20 are shown (section commands has all)"),
            "{trimmed}"
        );
        assert!(
            trimmed.contains("only the first 50 are shown (section files has all)"),
            "{trimmed}"
        );
        assert!(trimmed.contains("cut at 300"), "{trimmed}");
        assert_eq!(s.trimmed.len(), 3, "{trimmed}");
    }
}
