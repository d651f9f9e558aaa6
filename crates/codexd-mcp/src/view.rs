//! What the tools return about tasks: small, schema-described views of the API's types.
//!
//! Claude Code shows the model only a result's `structuredContent` when there is one, so
//! these views carry everything the model needs (ids, state, the answer's start, the next
//! step) and nothing it does not (pids, transitions, env names). Long text is cut here, with
//! a marker, so no single reply grows past a few thousand tokens.

use codexd_client::api::{Task, TaskKind, TaskState, Timestamp};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A task's lifecycle state, as the API names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum StateName {
    /// Waiting for a free run slot.
    Queued,
    /// Codex is running.
    Running,
    /// The turn completed and codex exited 0.
    Succeeded,
    /// The turn failed, codex exited non-zero, or codex could not be started.
    Failed,
    /// Cancelled; every process of the run was stopped.
    Cancelled,
    /// The wall-clock limit expired; every process of the run was stopped.
    TimedOut,
    /// The run ended while nobody watched it and left no exit status.
    Interrupted,
}

impl From<TaskState> for StateName {
    fn from(state: TaskState) -> Self {
        match state {
            TaskState::Queued => StateName::Queued,
            TaskState::Running => StateName::Running,
            TaskState::Succeeded => StateName::Succeeded,
            TaskState::Failed => StateName::Failed,
            TaskState::Cancelled => StateName::Cancelled,
            TaskState::TimedOut => StateName::TimedOut,
            TaskState::Interrupted => StateName::Interrupted,
        }
    }
}

impl From<StateName> for TaskState {
    fn from(state: StateName) -> Self {
        match state {
            StateName::Queued => TaskState::Queued,
            StateName::Running => TaskState::Running,
            StateName::Succeeded => TaskState::Succeeded,
            StateName::Failed => TaskState::Failed,
            StateName::Cancelled => TaskState::Cancelled,
            StateName::TimedOut => TaskState::TimedOut,
            StateName::Interrupted => TaskState::Interrupted,
        }
    }
}

/// Longest prompt excerpt in a task view.
const PROMPT_CHARS: usize = 160;
/// Longest error or answer excerpt in a task view.
const EXCERPT_CHARS: usize = 600;

/// A compact view of one task.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct TaskView {
    /// The task id (8 characters; any unambiguous prefix works where an id is taken).
    pub task_id: String,
    /// Current state.
    pub state: StateName,
    /// Codex's thread id (null until codex reports it); `codex_resume` takes it too.
    pub thread_id: Option<String>,
    /// The directory codex runs in.
    pub cwd: String,
    /// The prompt's beginning.
    pub prompt: String,
    /// The task this one resumed, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<String>,
    /// 1-based position in the run queue while queued.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue_position: Option<u32>,
    /// When the task was accepted (RFC 3339 UTC).
    pub created_at: String,
    /// How long codex has run (or ran), in seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seconds: Option<u64>,
    /// Codex's exit code, once it exited.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    /// Why the task did not succeed (codex's own message, or why it was stopped).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The beginning of codex's last message (its answer once the task ended);
    /// `codex_result` has all of it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answer: Option<String>,
    /// What codex is doing now (running tasks only, when known).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub activity: Option<String>,
    /// "review" for a review task (absent for a plain task).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// True when the task ended and its result was never read (codex_result reads it).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub unread: bool,
}

impl TaskView {
    /// The view of `task` as it is at `now`.
    pub fn new(task: &Task, now: Timestamp) -> Self {
        TaskView {
            task_id: task.id.to_string(),
            state: task.state.into(),
            thread_id: task.thread_id.clone(),
            cwd: task.cwd.display().to_string(),
            prompt: excerpt(&task.prompt, PROMPT_CHARS),
            parent: task.parent.as_ref().map(|p| p.to_string()),
            queue_position: task.queue_position,
            created_at: task.created_at.to_string(),
            seconds: task.duration(now).map(|d| d.as_secs()),
            exit_code: task.exit_code,
            error: task.error.as_deref().map(|e| excerpt(e, EXCERPT_CHARS)),
            answer: task
                .final_message
                .as_deref()
                .map(|m| excerpt(m, EXCERPT_CHARS)),
            activity: None,
            kind: (task.kind != TaskKind::Exec).then(|| task.kind.to_string()),
            unread: task.is_unread(),
        }
    }

    /// The same view with the current activity.
    pub fn with_activity(mut self, activity: Option<String>) -> Self {
        if !self.state_is_terminal() {
            self.activity = activity;
        }
        self
    }

    fn state_is_terminal(&self) -> bool {
        TaskState::from(self.state).is_terminal()
    }
}

/// `text` cut to at most `max` characters, with ` …[N more characters]` when cut.
pub fn excerpt(text: &str, max: usize) -> String {
    let total = text.chars().count();
    if total <= max {
        return text.to_string();
    }
    let mut out: String = text.chars().take(max).collect();
    out.push_str(&format!(" …[{} more characters]", total - max));
    out
}

/// The first non-empty line of `text`, at most `max` characters (with `…` when cut).
pub fn first_line(text: &str, max: usize) -> String {
    let line = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
    let mut out: String = line.trim().chars().take(max).collect();
    if line.trim().chars().count() > max {
        out.push('…');
    }
    out
}

/// `12s`, `4m05s`, `2h03m`.
pub fn duration_text(secs: u64) -> String {
    if secs < 60 {
        format!("{secs}s")
    } else if secs < 3600 {
        format!("{}m{:02}s", secs / 60, secs % 60)
    } else {
        format!("{}h{:02}m", secs / 3600, (secs % 3600) / 60)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn excerpts_say_how_much_was_cut() {
        assert_eq!(excerpt("short", 10), "short");
        assert_eq!(excerpt("abcdef", 3), "abc …[3 more characters]");
        assert_eq!(excerpt("ééé", 2), "éé …[1 more characters]");
    }

    #[test]
    fn first_lines_skip_blank_lines() {
        assert_eq!(first_line("\n  \nhello\nworld", 10), "hello");
        assert_eq!(first_line("abcdef", 3), "abc…");
        assert_eq!(first_line("", 3), "");
    }

    #[test]
    fn durations_read_well() {
        assert_eq!(duration_text(5), "5s");
        assert_eq!(duration_text(65), "1m05s");
        assert_eq!(duration_text(7380), "2h03m");
    }

    #[test]
    fn state_names_round_trip() {
        for state in TaskState::ALL {
            let name = StateName::from(state);
            assert_eq!(TaskState::from(name), state);
            let wire = serde_json::to_value(name).unwrap_or_default();
            assert_eq!(wire, state.as_str());
        }
    }
}
