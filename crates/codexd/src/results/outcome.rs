//! What a run's events and exit status say about how it ended.
//!
//! Shared by the live monitor and by start-up recovery, so a task settles to the same state
//! whether or not the daemon watched it end.

use crate::registry::records::{ExitRecord, StopReason, TRUNCATED_EVENT};
use crate::results::events::{CodexEvent, ItemKind, ItemPhase, parse_line};
use codexd_api::TaskState;

/// Facts gathered from a run's event lines, in order.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct RunFacts {
    /// From `thread.started`.
    pub thread_id: Option<String>,
    /// Whether a `turn.completed` was seen.
    pub turn_completed: bool,
    /// Codex's message from `turn.failed`.
    pub turn_failed: Option<String>,
    /// The last `agent_message` text.
    pub last_message: Option<String>,
    /// The last top-level `error` event's message.
    pub last_error: Option<String>,
    /// What codex was doing most recently.
    pub activity: Option<String>,
    /// Lines that were not valid events (kept in the log, counted here).
    pub unparsable_lines: u64,
    /// Whether the runner cut the log at its size limit.
    pub log_truncated: bool,
}

impl RunFacts {
    /// Folds one event line into the facts; returns the parsed event if it was one.
    pub fn observe(&mut self, line: &str) -> Option<CodexEvent> {
        let Ok(event) = parse_line(line) else {
            self.unparsable_lines += 1;
            return None;
        };
        if let Some(activity) = crate::results::events::activity(&event) {
            self.activity = Some(activity);
        }
        match &event {
            CodexEvent::ThreadStarted { thread_id } => self.thread_id = Some(thread_id.clone()),
            CodexEvent::Unknown { event_type, .. } if event_type == TRUNCATED_EVENT => {
                self.log_truncated = true
            }
            CodexEvent::TurnCompleted { .. } => self.turn_completed = true,
            CodexEvent::TurnFailed { message } => self.turn_failed = Some(message.clone()),
            CodexEvent::Error { message } => self.last_error = Some(message.clone()),
            CodexEvent::Item {
                phase: ItemPhase::Completed,
                item,
            } => {
                if let ItemKind::AgentMessage { text } = &item.kind {
                    self.last_message = Some(text.clone());
                }
            }
            _ => {}
        }
        Some(event)
    }
}

/// The terminal state and error of a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settlement {
    /// Terminal state.
    pub state: TaskState,
    /// Why it did not succeed.
    pub error: Option<String>,
}

/// Decides how a run ended. `stderr_tail` is the last message codex wrote to stderr, used to
/// explain otherwise unexplained failures.
pub fn settle(
    facts: &RunFacts,
    exit: Option<&ExitRecord>,
    stop: Option<StopReason>,
    timeout_ms: Option<u64>,
    stderr_tail: Option<&str>,
) -> Settlement {
    let fail = |state, error: String| Settlement {
        state,
        error: Some(error),
    };
    let with_detail = |message: String| match stderr_tail.filter(|s| !s.trim().is_empty()) {
        Some(tail) => format!("{message}: {}", tail.trim()),
        None => message,
    };
    match stop {
        Some(StopReason::Cancelled) => {
            return fail(TaskState::Cancelled, "cancelled by request".into());
        }
        Some(StopReason::TimedOut) => {
            let limit = timeout_ms
                .map(|ms| humantime::format_duration(std::time::Duration::from_millis(ms)))
                .map(|d| format!(" after {d}"))
                .unwrap_or_default();
            return fail(TaskState::TimedOut, format!("timed out{limit}"));
        }
        None => {}
    }
    // Without any exit record nothing tells whether the supervisor was killed or could not
    // write the record (and the daemon settling it may not be its parent): both are said.
    let Some(exit) = exit else {
        if facts.turn_completed && facts.turn_failed.is_none() {
            return Settlement {
                state: TaskState::Succeeded,
                error: Some(
                    "codex completed the turn, but its exit status is unknown: the run ended \
                     without recording it (its supervisor was killed, or could not write it)"
                        .into(),
                ),
            };
        }
        return fail(
            TaskState::Interrupted,
            "the run ended without recording an exit status (its supervisor was killed, or \
             could not write it)"
                .into(),
        );
    };
    if let Some(spawn_error) = &exit.spawn_error {
        return fail(TaskState::Failed, spawn_error.clone());
    }
    if let Some(why) = &exit.not_recorded {
        // `exit.json` could not be written: codex's status is unknown (the runner's exit
        // code said why), or known from the copy the runner kept elsewhere. Its events,
        // as far as they were kept, still say how the turn went.
        if facts.turn_completed && facts.turn_failed.is_none() {
            return Settlement {
                state: TaskState::Succeeded,
                error: Some(format!(
                    "codex completed the turn, but its exit status could not be recorded: {why}"
                )),
            };
        }
        let outcome = facts
            .turn_failed
            .clone()
            .or_else(|| facts.last_error.clone())
            .map(|m| format!(" (codex: {m})"))
            .unwrap_or_default();
        return match (exit.code, exit.signal) {
            // `codex exec` exits 0 only once its turn completed; the events that showed it
            // may be what could not be written.
            (Some(0), _) if facts.turn_failed.is_none() => Settlement {
                state: TaskState::Succeeded,
                error: Some(format!(
                    "codex exited with code 0, but its exit status could not be recorded: {why}"
                )),
            },
            (Some(code), _) => fail(
                TaskState::Failed,
                format!(
                    "codex exited with code {code}, and its exit status could not be recorded: \
                     {why}{outcome}"
                ),
            ),
            (None, Some(signal)) => fail(
                TaskState::Interrupted,
                format!(
                    "codex was killed by signal {signal}, and its exit status could not be \
                     recorded: {why}{outcome}"
                ),
            ),
            (None, None) => fail(
                TaskState::Failed,
                format!("codex's exit status could not be recorded: {why}{outcome}"),
            ),
        };
    }
    if let Some(message) = &facts.turn_failed {
        return fail(TaskState::Failed, message.clone());
    }
    match (exit.code, exit.signal) {
        (Some(0), _) if facts.turn_completed => Settlement {
            state: TaskState::Succeeded,
            error: None,
        },
        (Some(0), _) => fail(
            TaskState::Failed,
            with_detail("codex exited 0 without completing the turn".into()),
        ),
        (Some(code @ (130 | 143)), _) => fail(
            TaskState::Interrupted,
            format!("codex was stopped by a signal outside codexd (exit code {code})"),
        ),
        (Some(code), _) => fail(
            TaskState::Failed,
            with_detail(
                facts
                    .last_error
                    .clone()
                    .unwrap_or_else(|| format!("codex exited with code {code}")),
            ),
        ),
        (None, Some(signal)) => fail(
            TaskState::Interrupted,
            format!("codex was killed by signal {signal} outside codexd"),
        ),
        (None, None) => fail(TaskState::Failed, "codex ended with no exit status".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use codexd_api::Timestamp;

    fn exit(code: i32) -> ExitRecord {
        ExitRecord {
            code: Some(code),
            signal: None,
            spawn_error: None,
            not_recorded: None,
            finished_at: Timestamp::now(),
        }
    }

    fn facts(lines: &[&str]) -> RunFacts {
        let mut f = RunFacts::default();
        for line in lines {
            f.observe(line);
        }
        f
    }

    #[test]
    fn completed_turn_and_exit_zero_succeeds() {
        let f = facts(&[
            r#"{"type":"thread.started","thread_id":"t1"}"#,
            r#"{"type":"item.completed","item":{"id":"item_0","type":"agent_message","text":"first"}}"#,
            r#"{"type":"item.completed","item":{"id":"item_1","type":"agent_message","text":"final"}}"#,
            r#"{"type":"turn.completed","usage":{}}"#,
        ]);
        assert_eq!(f.thread_id.as_deref(), Some("t1"));
        assert_eq!(f.last_message.as_deref(), Some("final"));
        let s = settle(&f, Some(&exit(0)), None, None, None);
        assert_eq!(s.state, TaskState::Succeeded);
        assert_eq!(s.error, None);
    }

    #[test]
    fn turn_failed_carries_codex_message() {
        let f = facts(&[r#"{"type":"turn.failed","error":{"message":"bad request: nope"}}"#]);
        let s = settle(&f, Some(&exit(1)), None, None, Some("ignored"));
        assert_eq!(s.state, TaskState::Failed);
        assert_eq!(s.error.as_deref(), Some("bad request: nope"));
    }

    #[test]
    fn an_unrecorded_exit_status_keeps_the_turn_and_says_why() {
        let unrecorded = ExitRecord {
            not_recorded: Some("No space left on device (os error 28)".into()),
            code: None,
            ..exit(0)
        };
        let done = facts(&[r#"{"type":"turn.completed","usage":{}}"#]);
        let s = settle(&done, Some(&unrecorded), None, None, None);
        assert_eq!(s.state, TaskState::Succeeded);
        assert!(
            s.error
                .unwrap()
                .contains("could not be recorded: No space left")
        );
        let s = settle(&RunFacts::default(), Some(&unrecorded), None, None, None);
        assert_eq!(s.state, TaskState::Failed);
        assert!(s.error.unwrap().contains("could not be recorded"));
        // The copy a runner kept elsewhere has codex's status, also when the events that
        // showed the turn are lost with the task directory.
        let kept = |code| ExitRecord {
            not_recorded: Some("cannot write /t/exit.json: No such file or directory".into()),
            ..exit(code)
        };
        let s = settle(&RunFacts::default(), Some(&kept(0)), None, None, None);
        assert_eq!(s.state, TaskState::Succeeded);
        let error = s.error.unwrap();
        assert!(
            error.contains("exited with code 0") && error.contains("No such file"),
            "{error}"
        );
        let s = settle(&RunFacts::default(), Some(&kept(1)), None, None, None);
        assert_eq!(s.state, TaskState::Failed);
        assert!(s.error.unwrap().contains("exited with code 1"));
    }

    #[test]
    fn no_exit_record_claims_no_cause_it_cannot_know() {
        let s = settle(&RunFacts::default(), None, None, None, None);
        assert_eq!(s.state, TaskState::Interrupted);
        let error = s.error.unwrap();
        assert!(error.contains("killed, or could not write it"), "{error}");
        let done = facts(&[r#"{"type":"turn.completed","usage":{}}"#]);
        let s = settle(&done, None, None, None, None);
        assert_eq!(s.state, TaskState::Succeeded);
        let error = s.error.unwrap();
        assert!(
            error.contains("completed the turn") && error.contains("unknown"),
            "{error}"
        );
    }

    #[test]
    fn stop_reasons_win_over_exit_status() {
        let f = RunFacts::default();
        let s = settle(&f, Some(&exit(1)), Some(StopReason::Cancelled), None, None);
        assert_eq!(s.state, TaskState::Cancelled);
        let s = settle(&f, None, Some(StopReason::TimedOut), Some(1500), None);
        assert_eq!(s.state, TaskState::TimedOut);
        assert_eq!(s.error.as_deref(), Some("timed out after 1s 500ms"));
    }

    #[test]
    fn missing_exit_status_is_interrupted_and_config_errors_explain_themselves() {
        let s = settle(&RunFacts::default(), None, None, None, None);
        assert_eq!(s.state, TaskState::Interrupted);
        let s = settle(
            &RunFacts::default(),
            Some(&exit(1)),
            None,
            None,
            Some("Error: unknown config key\n"),
        );
        assert_eq!(s.state, TaskState::Failed);
        assert_eq!(
            s.error.as_deref(),
            Some("codex exited with code 1: Error: unknown config key")
        );
        let spawn = ExitRecord {
            spawn_error: Some("could not start /x/codex: No such file".into()),
            not_recorded: None,
            ..exit(0)
        };
        let s = settle(&RunFacts::default(), Some(&spawn), None, None, None);
        assert_eq!(s.state, TaskState::Failed);
    }
}
