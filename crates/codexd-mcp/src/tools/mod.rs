//! The tools, one file each (plus `summary`, the compact result of `codex_result`), and what
//! they share: argument checks, the reply of a started task, and the current activity of a
//! running task. Each file adds its tools to [`CodexServer`] as a router of its own, which
//! the server joins into one.
//!
//! Every tool returns `Result<Json<Reply>, ToolError>`: the reply is structured content
//! with an output schema (Claude Code shows the model only that JSON, so each reply carries
//! its own next step), and a [`ToolError`] is a tool result with `isError` and one sentence.

mod cancel;
mod list;
mod result;
mod resume;
mod review;
mod start;
mod status;
mod summary;
mod wait;
mod worktree;

use crate::activity::activity;
use crate::error::ToolError;
use crate::server::CodexServer;
use crate::view::StateName;
use codexd_client::Client;
use codexd_client::api::{Task, TaskState};
use schemars::JsonSchema;
use serde::Serialize;

/// How long `codex_start` and `codex_resume` wait for codex's thread id.
const WAIT_FOR_THREAD_MS: u64 = 1000;

/// Bytes of the end of an event log read to find what a running task is doing.
const ACTIVITY_TAIL_BYTES: u64 = 32 * 1024;

/// Checks `-c` overrides: each must be `key=value` with a non-empty key.
fn check_config(config: &[String]) -> Result<(), ToolError> {
    for entry in config {
        match entry.split_once('=') {
            Some((key, _)) if !key.trim().is_empty() => {}
            _ => {
                return Err(ToolError::Invalid(format!(
                    "config entry {entry:?} is not key=value (e.g. model_reasoning_effort=\"high\")"
                )));
            }
        }
    }
    Ok(())
}

/// Checks a prompt is not blank.
fn check_prompt(prompt: &str) -> Result<(), ToolError> {
    if prompt.trim().is_empty() {
        return Err(ToolError::Invalid("the prompt is empty".into()));
    }
    Ok(())
}

/// Seconds → milliseconds for the API (0 means "no limit given").
fn timeout_ms(seconds: Option<u64>) -> Option<u64> {
    seconds.filter(|s| *s > 0).map(|s| s.saturating_mul(1000))
}

/// The reply of `codex_start` and `codex_resume`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct StartReply {
    /// The new task's id: pass it to codex_wait, codex_result, codex_status, codex_cancel.
    pub task_id: String,
    /// Codex's thread id once reported (it usually is within the second this call waits);
    /// null if not yet.
    pub thread_id: Option<String>,
    /// The task's state now (`queued` when every run slot is busy).
    pub state: StateName,
    /// 1-based position in the queue while queued.
    pub queue_position: Option<u32>,
    /// The directory codex works in.
    pub cwd: String,
    /// How that directory was chosen.
    pub cwd_chosen: String,
    /// The task this one continues (codex_resume), if any.
    pub parent: Option<String>,
    /// The git worktree it runs in (isolation "worktree"), if any.
    pub worktree: Option<String>,
    /// Its best-of-N group (attempts), if any: codex_compare shows the attempts.
    pub group: Option<String>,
    /// Run this as a background shell command: it exits when the task ends (0 if it
    /// succeeded), so you are notified without polling.
    pub wait_command: String,
    /// What to do next.
    pub next: String,
}

/// The reply for a task just started or resumed, or an error when it already failed (codex
/// missing, a bad config, ...).
fn started(server: &CodexServer, task: Task, cwd_chosen: String) -> Result<StartReply, ToolError> {
    let id = task.id.to_string();
    if task.state.is_terminal() && task.state != TaskState::Succeeded {
        let message = task
            .error
            .clone()
            .unwrap_or_else(|| "codex stopped at once without saying why".into());
        return Err(ToolError::TaskFailed {
            task_id: id.clone(),
            state: task.state.to_string(),
            message: format!(
                "{message} (codex_result with section \"stderr\" shows codex's own output)"
            ),
        });
    }
    let wait_command = server.codexctl().wait_command(&[&id]);
    let next = if task.state.is_terminal() {
        crate::hint::after_done(&[&id])
    } else {
        crate::hint::after_start(&id, &wait_command)
    };
    Ok(StartReply {
        thread_id: task.thread_id,
        state: task.state.into(),
        queue_position: task.queue_position,
        cwd: task.cwd.display().to_string(),
        cwd_chosen,
        parent: task.parent.map(|p| p.to_string()),
        worktree: task.worktree.as_ref().map(|w| w.path.display().to_string()),
        group: task.group.clone(),
        wait_command,
        next,
        task_id: id,
    })
}

/// What a running task is doing now, from the end of its event log; `None` when it is not
/// running or nothing tells.
async fn current_activity(client: &Client, task: &Task) -> Option<String> {
    if let Some(reconnecting) = &task.reconnecting {
        return Some(reconnecting.activity());
    }
    client
        .recent_events(task, ACTIVITY_TAIL_BYTES)
        .await
        .iter()
        .filter_map(|line| activity(line, &task.cwd))
        .next_back()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_entries_must_be_key_value() {
        assert!(check_config(&["a=b".into(), "x.y={z=1}".into()]).is_ok());
        let err = check_config(&["novalue".into()]).unwrap_err().to_string();
        assert!(err.contains("\"novalue\" is not key=value"), "{err}");
        assert!(check_config(&["=v".into()]).is_err());
    }

    #[test]
    fn zero_timeouts_mean_none() {
        assert_eq!(timeout_ms(None), None);
        assert_eq!(timeout_ms(Some(0)), None);
        assert_eq!(timeout_ms(Some(90)), Some(90_000));
    }

    #[test]
    fn blank_prompts_are_refused() {
        assert!(check_prompt("  \n").is_err());
        assert!(check_prompt("do it").is_ok());
    }
}
