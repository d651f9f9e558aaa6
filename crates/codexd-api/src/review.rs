//! Review tasks and run options (issue 13): the task kind, what a review looks at, the
//! reasoning efforts codex accepts, and the structured review in a task's result.

use serde::{Deserialize, Serialize};
use std::fmt;

/// What a task runs: `codex exec` (a plain task) or `codex exec review`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskKind {
    /// `codex exec` / `codex exec resume` (every task recorded before kinds existed).
    #[default]
    Exec,
    /// `codex exec review`, read-only.
    Review,
}

impl TaskKind {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            TaskKind::Exec => "exec",
            TaskKind::Review => "review",
        }
    }
}

impl fmt::Display for TaskKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for TaskKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "exec" => Ok(TaskKind::Exec),
            "review" => Ok(TaskKind::Review),
            _ => Err(format!("unknown task kind {s:?} (expected exec or review)")),
        }
    }
}

/// The values of `model_reasoning_effort` codex 0.169.0 accepts (`--effort`).
pub const EFFORTS: [&str; 6] = ["none", "minimal", "low", "medium", "high", "xhigh"];

/// What a review task reviews (`codex exec review`'s target flags). At most one of
/// `uncommitted`, `base` and `commit`; with none, the review follows the prompt alone
/// (custom review instructions), which is then required.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ReviewTarget {
    /// Review staged, unstaged and untracked changes (`--uncommitted`).
    pub uncommitted: bool,
    /// Review the changes against this base branch (`--base`).
    pub base: Option<String>,
    /// Review the changes of this commit (`--commit`).
    pub commit: Option<String>,
    /// Commit title shown in the review summary (`--title`).
    pub title: Option<String>,
}

/// The review of a review task, parsed from codex's final review message.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Review {
    /// The findings, in codex's order.
    pub findings: Vec<ReviewFinding>,
    /// Codex's overall explanation (the text before the findings).
    pub explanation: Option<String>,
    /// The overall verdict (`patch is correct` / `patch is incorrect`) when the events
    /// carry it; codex 0.169.0's `--json` output does not, so this is null there.
    pub overall_correctness: Option<String>,
}

/// One finding of a review.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ReviewFinding {
    /// The title, without its `[P1]` priority tag.
    pub title: String,
    /// The explanation.
    pub body: String,
    /// The file (absolute, as codex reports it).
    pub file: Option<String>,
    /// First line of the range.
    pub line_start: Option<u64>,
    /// Last line of the range.
    pub line_end: Option<u64>,
    /// Priority 0 (most urgent) to 3, from the title's `[Pn]` tag, when it has one.
    pub priority: Option<u8>,
    /// The model's confidence (0–1) when the events carry it (not in codex 0.169.0's
    /// `--json` output).
    pub confidence: Option<f64>,
}
