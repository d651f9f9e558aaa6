//! `codex_wait`: wait, bounded, for tasks to end, with live progress.
//!
//! Claude Code moves calls over ~2 minutes to the background and its per-call timeouts have
//! regressed before, so a wait never lasts more than [`MAX_WAIT`]; at the cap it replies
//! "still running" and points at the background `codexctl wait` line instead.
//!
//! While waiting it follows each task's `watch` subscription (state changes and event
//! lines, replayed from a little before the end of the log so the current activity is known
//! at once) and sends progress notifications with one line of status. Every notification is
//! sent and awaited from inside the handler, before it returns: Claude Code closes and
//! respawns a server that sends progress after the response.

use crate::activity::activity;
use crate::error::ToolError;
use crate::server::CodexServer;
use crate::view::{TaskView, duration_text, first_line};
use codexd_client::api::{Task, TaskState, Timestamp, WatchItem};
use codexd_client::{Client, ClientError};
use futures::StreamExt;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{ProgressNotificationParam, ProgressToken};
use rmcp::service::{Peer, RequestContext};
use rmcp::{Json, RoleServer, tool, tool_router};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::time::Duration;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// The longest a single `codex_wait` call waits.
pub const MAX_WAIT: Duration = Duration::from_secs(50);
/// Most tasks one call waits for.
const MAX_TASKS: usize = 20;
/// A progress notification at least this often while waiting, even when the line is the
/// same (each one resets Claude Code's idle timer).
const PROGRESS_EVERY: Duration = Duration::from_secs(5);
/// And at most this often (changes in between are folded into the next one). The status
/// line is checked this often too, and sent whenever it changed (its clock ticks).
const PROGRESS_MIN_GAP: Duration = Duration::from_secs(1);
/// How much of the end of an event log is replayed to learn the current activity.
const REPLAY_BYTES: u64 = 16 * 1024;
/// Pause between reconnection attempts when the daemon went away.
const RECONNECT_PAUSE: Duration = Duration::from_millis(250);
/// Longest progress message.
const PROGRESS_CHARS: usize = 300;

/// Arguments of `codex_wait`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct WaitArgs {
    /// Task ids (or unambiguous prefixes) to wait for; the call returns when all have ended.
    pub task_ids: Vec<String>,
    /// Longest wait in seconds, at most 50 (the default). 0 checks once without waiting.
    #[serde(default)]
    pub timeout_seconds: Option<u64>,
}

/// Reply of `codex_wait`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct WaitReply {
    /// True when every task has ended; false means "still running" at the time limit.
    pub done: bool,
    /// Seconds this call waited.
    pub waited_seconds: u64,
    /// The tasks, in the order asked, as they are now.
    pub tasks: Vec<TaskView>,
    /// The background shell command that waits for these tasks without a time limit.
    pub wait_command: String,
    /// What to do next.
    pub next: String,
}

#[tool_router(router = wait_router, vis = "pub(crate)")]
impl CodexServer {
    #[tool(
        name = "codex_wait",
        description = "Wait up to 50 seconds for Codex tasks to end; returns as soon as they \
                       have, or says they are still running at the limit (then prefer running \
                       the wait_command `codexctl wait <task_id>` as a background shell \
                       command rather than calling this again and again). Shows live progress \
                       (elapsed time, current command or patched file) while it waits.",
        annotations(
            title = "Wait for Codex tasks",
            read_only_hint = true,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    async fn codex_wait(
        &self,
        Parameters(args): Parameters<WaitArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<Json<WaitReply>, ToolError> {
        let began = Instant::now();
        let cap = args
            .timeout_seconds
            .map_or(MAX_WAIT, Duration::from_secs)
            .min(MAX_WAIT);
        let deadline = began + cap;
        let ids = unique_ids(&args.task_ids)?;

        let mut client = self.client().await?;
        let mut tasks = Vec::with_capacity(ids.len());
        for id in &ids {
            let task = client.get(id).await?;
            if !tasks.iter().any(|t: &Task| t.id == task.id) {
                tasks.push(task);
            }
        }
        let mut watch = Watched::new(tasks);
        let mut progress = Progress::new(&ctx.peer, ctx.meta.get_progress_token());

        let mut unreachable = false;
        while !watch.all_ended() && Instant::now() < deadline {
            progress.send(watch.line(), true).await;
            match follow(&client, &mut watch, &mut progress, deadline, &ctx.ct).await? {
                Followed::Ended | Followed::Deadline | Followed::Cancelled => break,
                Followed::Disconnected => {
                    tracing::info!("codexd went away while waiting; reconnecting");
                    match self.reconnect(deadline).await {
                        Some(fresh) => client = fresh,
                        None => {
                            unreachable = true;
                            break;
                        }
                    }
                }
            }
        }

        let now = Timestamp::now();
        let done = watch.all_ended();
        let ids: Vec<&str> = watch.tasks.iter().map(|t| t.id.as_str()).collect();
        let wait_command = self.codexctl().wait_command(&ids);
        let next = if done {
            crate::hint::after_done(&ids)
        } else if unreachable {
            format!(
                "codexd stopped answering while waiting (the tasks below are as last seen; \
                 running tasks go on without it). Run `{wait_command}` as a background shell \
                 command: it starts codexd again if needed and waits."
            )
        } else {
            crate::hint::still_running(&wait_command)
        };
        let tasks = watch
            .tasks
            .iter()
            .zip(&watch.activity)
            .map(|(task, activity)| TaskView::new(task, now).with_activity(activity.clone()))
            .collect();
        Ok(Json(WaitReply {
            done,
            waited_seconds: began.elapsed().as_secs(),
            tasks,
            wait_command,
            next,
        }))
    }
}

impl CodexServer {
    /// Connects again (restarting the daemon if allowed), retrying until `deadline`.
    async fn reconnect(&self, deadline: Instant) -> Option<Client> {
        loop {
            let pause = RECONNECT_PAUSE.min(deadline.saturating_duration_since(Instant::now()));
            if pause.is_zero() {
                return None;
            }
            tokio::time::sleep(pause).await;
            // Starting a daemon may take a while: never past the deadline.
            match tokio::time::timeout_at(deadline, self.client()).await {
                Ok(Ok(client)) => return Some(client),
                Ok(Err(err)) => tracing::debug!("reconnecting: {err}"),
                Err(_) => return None,
            }
        }
    }
}

/// The ids asked for, trimmed and de-duplicated, 1 to [`MAX_TASKS`] of them.
fn unique_ids(ids: &[String]) -> Result<Vec<String>, ToolError> {
    let mut out: Vec<String> = Vec::new();
    for id in ids.iter().map(|i| i.trim()).filter(|i| !i.is_empty()) {
        if !out.iter().any(|o| o == id) {
            out.push(id.to_string());
        }
    }
    if out.is_empty() {
        return Err(ToolError::Invalid(
            "task_ids is empty: give at least one task id".into(),
        ));
    }
    if out.len() > MAX_TASKS {
        return Err(ToolError::Invalid(format!(
            "at most {MAX_TASKS} tasks per codex_wait call"
        )));
    }
    Ok(out)
}

/// The tasks being waited for, what each is doing, and how far each log was read.
struct Watched {
    tasks: Vec<Task>,
    activity: Vec<Option<String>>,
    offsets: Vec<u64>,
}

impl Watched {
    fn new(tasks: Vec<Task>) -> Self {
        let offsets = tasks
            .iter()
            .map(|t| t.log_bytes.saturating_sub(REPLAY_BYTES))
            .collect();
        Watched {
            activity: vec![None; tasks.len()],
            offsets,
            tasks,
        }
    }

    fn all_ended(&self) -> bool {
        self.tasks.iter().all(|t| t.state.is_terminal())
    }

    /// One line of status: `id state duration: activity`, per task.
    fn line(&self) -> String {
        let now = Timestamp::now();
        let parts: Vec<String> = self
            .tasks
            .iter()
            .zip(&self.activity)
            .map(|(task, activity)| {
                let mut part = format!("{} {}", task.id, task.state);
                if let Some(pos) = task.queue_position {
                    part.push_str(&format!(" #{pos}"));
                }
                if let Some(d) = task.duration(now) {
                    part.push_str(&format!(" {}", duration_text(d.as_secs())));
                }
                if let (false, Some(activity)) = (task.state.is_terminal(), activity) {
                    part.push_str(&format!(": {activity}"));
                }
                part
            })
            .collect();
        first_line(&parts.join(" | "), PROGRESS_CHARS)
    }
}

/// Progress notifications for one call (none when the client sent no progress token).
///
/// They carry no `total`: the share of the wait that has passed says nothing about the
/// task's own progress, and Claude Code would show it as a percentage of the task.
struct Progress<'a> {
    peer: &'a Peer<RoleServer>,
    token: Option<ProgressToken>,
    began: Instant,
    last_value: f64,
    last_sent: Option<Instant>,
    /// The message last sent.
    last_message: Option<String>,
    /// A change was held back by [`PROGRESS_MIN_GAP`] and is still to be sent.
    pending: bool,
}

impl<'a> Progress<'a> {
    /// Progress for a call that sent `token` (nothing is sent without one).
    fn new(peer: &'a Peer<RoleServer>, token: Option<ProgressToken>) -> Self {
        Progress {
            peer,
            token,
            began: Instant::now(),
            last_value: 0.0,
            last_sent: None,
            last_message: None,
            pending: false,
        }
    }

    /// When a held-back change should be sent, if one is.
    fn due(&self) -> Option<Instant> {
        match (self.pending, self.last_sent) {
            (true, Some(at)) => Some(at + PROGRESS_MIN_GAP),
            _ => None,
        }
    }

    /// Sends `message` now (`force`); otherwise only when it differs from the last one
    /// sent (or that one is [`PROGRESS_EVERY`] old), and at most every
    /// [`PROGRESS_MIN_GAP`]. Awaited to the end, so it is on the wire before the handler
    /// can reply.
    async fn send(&mut self, message: String, force: bool) {
        let Some(token) = &self.token else {
            return;
        };
        if !force {
            let unchanged = self.last_message.as_deref() == Some(message.as_str());
            let since = self.last_sent.map(|at| at.elapsed());
            if unchanged && since.is_some_and(|s| s < PROGRESS_EVERY) {
                return;
            }
            if since.is_some_and(|s| s < PROGRESS_MIN_GAP) {
                self.pending = true;
                return;
            }
        }
        self.pending = false;
        // Progress must increase with every notification.
        let elapsed = (self.began.elapsed().as_secs_f64() * 10.0).round() / 10.0;
        let value = if elapsed > self.last_value {
            elapsed
        } else {
            self.last_value + 0.1
        };
        self.last_value = value;
        self.last_sent = Some(Instant::now());
        self.last_message = Some(message.clone());
        let param = ProgressNotificationParam::new(token.clone(), value).with_message(message);
        if let Err(err) = self.peer.notify_progress(param).await {
            tracing::debug!("progress notification not sent: {err}");
        }
    }
}

enum Followed {
    /// Every task ended.
    Ended,
    /// The time limit was reached.
    Deadline,
    /// The client cancelled the call.
    Cancelled,
    /// The daemon went away.
    Disconnected,
}

enum Step {
    Cancelled,
    Deadline,
    Tick,
    Flush,
    Item(Option<(usize, Result<WatchItem, ClientError>)>),
}

/// Follows the subscriptions of the tasks still running until they all end, the deadline,
/// a cancel, or a disconnect.
async fn follow(
    client: &Client,
    watch: &mut Watched,
    progress: &mut Progress<'_>,
    deadline: Instant,
    cancel: &CancellationToken,
) -> Result<Followed, ToolError> {
    let mut streams = futures::stream::SelectAll::new();
    for (index, task) in watch.tasks.iter().enumerate() {
        if task.state.is_terminal() {
            continue;
        }
        let stream = match client
            .watch(task.id.as_str(), Some(watch.offsets[index]))
            .await
        {
            Ok(stream) => stream,
            Err(err) if err.is_disconnect() => return Ok(Followed::Disconnected),
            Err(err) => return Err(err.into()),
        };
        streams.push(stream.map(move |item| (index, item)));
    }
    let mut tick = tokio::time::interval_at(Instant::now() + PROGRESS_MIN_GAP, PROGRESS_MIN_GAP);
    loop {
        let step = tokio::select! {
            biased;
            _ = cancel.cancelled() => Step::Cancelled,
            _ = tokio::time::sleep_until(deadline) => Step::Deadline,
            next = streams.next() => Step::Item(next),
            _ = tick.tick() => Step::Tick,
            _ = sleep_until_some(progress.due()) => Step::Flush,
        };
        match step {
            Step::Cancelled => return Ok(Followed::Cancelled),
            Step::Deadline => return Ok(Followed::Deadline),
            Step::Tick => progress.send(watch.line(), false).await,
            Step::Flush => progress.send(watch.line(), true).await,
            Step::Item(None) => {
                // The daemon ends a subscription after the terminal state; otherwise it
                // went away.
                return Ok(if watch.all_ended() {
                    Followed::Ended
                } else {
                    Followed::Disconnected
                });
            }
            Step::Item(Some((_, Err(err)))) => {
                tracing::debug!("watch ended: {err}");
                return Ok(Followed::Disconnected);
            }
            Step::Item(Some((index, Ok(WatchItem::State { task })))) => {
                let mut changed = watch.tasks[index].state != task.state;
                if let Some(reconnecting) = task.reconnecting.as_ref().filter(|_| !changed) {
                    watch.activity[index] = Some(reconnecting.activity());
                    changed = true;
                }
                watch.tasks[index] = *task;
                if watch.all_ended() {
                    return Ok(Followed::Ended);
                }
                if changed {
                    progress.send(watch.line(), true).await;
                }
            }
            Step::Item(Some((index, Ok(WatchItem::Event { offset, line })))) => {
                watch.offsets[index] = offset + line.len() as u64 + 1;
                let task = &watch.tasks[index];
                if task.state == TaskState::Running || task.state == TaskState::Queued {
                    let now = activity(&line, &task.cwd);
                    if now.is_some() && now != watch.activity[index] {
                        watch.activity[index] = now;
                        progress.send(watch.line(), false).await;
                    }
                }
            }
        }
    }
}

/// Sleeps until `at`, or forever when there is nothing to wait for.
async fn sleep_until_some(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_trimmed_deduplicated_and_bounded() {
        let ids = unique_ids(&[" a1 ".into(), "a1".into(), "b2".into(), "".into()]).unwrap();
        assert_eq!(ids, ["a1", "b2"]);
        assert!(unique_ids(&[]).is_err());
        assert!(unique_ids(&["  ".into()]).is_err());
        let many: Vec<String> = (0..21).map(|i| format!("t{i}")).collect();
        assert!(unique_ids(&many).is_err());
    }
}
