//! Waiting for tasks to end, without polling, across daemon restarts.
//!
//! For each task still running, subscribe to `watch` (the daemon sends the current state
//! first, so subscribing *is* re-reading); when the connection drops, reconnect (starting
//! the daemon again if allowed), resubscribe and carry on. Event offsets are remembered,
//! so a resubscription replays only what was not yet seen.

use crate::{Client, ClientError, ConnectOptions};
use codexd_api::{Task, TaskId, WatchItem};
use futures::StreamExt;
use std::collections::HashMap;
use std::time::Duration;
use tokio::time::Instant;

/// Something that happened while waiting.
#[derive(Debug)]
pub enum Progress<'a> {
    /// A task's current record.
    State(&'a Task),
    /// An event line of a task (only when events were asked for).
    Event {
        /// The task.
        task: &'a TaskId,
        /// The raw JSON line.
        line: &'a str,
    },
    /// The daemon went away; reconnecting.
    Reconnecting,
}

/// The end of a wait.
#[derive(Debug)]
pub struct WaitOutcome {
    /// The tasks, in the order asked, as last seen.
    pub tasks: Vec<Task>,
    /// True if the timeout expired before every task ended.
    pub timed_out: bool,
}

/// Waits until every task in `ids` (ids or prefixes) has ended, or `timeout` expires.
/// `with_events` also streams event lines (new ones only) to `on_progress`.
pub async fn wait_for_tasks(
    options: &ConnectOptions,
    ids: &[String],
    timeout: Option<Duration>,
    with_events: bool,
    mut on_progress: impl FnMut(Progress<'_>),
) -> Result<WaitOutcome, ClientError> {
    let deadline = timeout.map(|t| Instant::now() + t);
    let mut tasks: Vec<Option<Task>> = vec![None; ids.len()];
    let mut offsets: HashMap<TaskId, u64> = HashMap::new();
    let mut delay = Duration::from_millis(50);
    let mut connected_before = false;
    loop {
        // Once connected, a daemon that went away is waited for (restarted by a service
        // manager, or by hand) for at most RECONNECT_WINDOW when it may not be started here.
        let reconnect_by =
            (connected_before && !options.autostart).then(|| Instant::now() + RECONNECT_WINDOW);
        let client = match connect_until(options, deadline, reconnect_by).await {
            Ok(Some(client)) => client,
            Ok(None) => return finish(ids, tasks, true),
            // The daemon that ran the tasks went away, and the one this wait would start
            // would not know them: say so rather than report the tasks unknown.
            Err(ClientError::SettingsDiffer(why)) if connected_before => {
                return Err(ClientError::SettingsDiffer(format!(
                    "the daemon running {} went away while this wait followed it, and {why}",
                    ids.join(", ")
                )));
            }
            Err(e) => return Err(e),
        };
        connected_before = true;
        match follow(
            &client,
            ids,
            &mut tasks,
            &mut offsets,
            with_events,
            deadline,
            &mut on_progress,
        )
        .await
        {
            Ok(Followed::AllEnded) => return finish(ids, tasks, false),
            Ok(Followed::TimedOut) => return finish(ids, tasks, true),
            Ok(Followed::Disconnected) => {}
            Err(e) if e.is_disconnect() => {}
            Err(e) => return Err(e),
        }
        on_progress(Progress::Reconnecting);
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_secs(1));
    }
}

fn finish(
    ids: &[String],
    tasks: Vec<Option<Task>>,
    timed_out: bool,
) -> Result<WaitOutcome, ClientError> {
    let mut out = Vec::with_capacity(tasks.len());
    for (task, id) in tasks.into_iter().zip(ids) {
        match task {
            Some(task) => out.push(task),
            None => {
                return Err(ClientError::Transport(format!(
                    "codexd did not answer before the timeout; task {id} is unknown"
                )));
            }
        }
    }
    Ok(WaitOutcome {
        tasks: out,
        timed_out,
    })
}

/// How long a wait that may not start the daemon keeps reconnecting to one that went away
/// (a restart) before it gives up with the connection error.
pub const RECONNECT_WINDOW: Duration = Duration::from_secs(30);

/// Connects (starting the daemon if allowed), retrying until the deadline. `Ok(None)` means
/// the deadline passed. Without autostart, a failed connection is retried only until
/// `reconnect_by` (a daemon that went away after the wait was connected), else it is final.
async fn connect_until(
    options: &ConnectOptions,
    deadline: Option<Instant>,
    reconnect_by: Option<Instant>,
) -> Result<Option<Client>, ClientError> {
    let mut delay = Duration::from_millis(50);
    loop {
        match Client::connect_or_start(options).await {
            Ok(client) => return Ok(Some(client)),
            Err(e) if !e.is_disconnect() && !matches!(e, ClientError::Autostart(_)) => {
                return Err(e);
            }
            Err(e) => {
                if !options.autostart
                    && deadline.is_none()
                    && reconnect_by.is_none_or(|by| Instant::now() >= by)
                {
                    return Err(e);
                }
                if !options.autostart && reconnect_by.is_some_and(|by| Instant::now() >= by) {
                    return Err(ClientError::Transport(format!(
                        "codexd went away and did not come back within {}s: {e}",
                        RECONNECT_WINDOW.as_secs()
                    )));
                }
                if deadline.is_some_and(|d| Instant::now() + delay >= d) {
                    return Ok(None);
                }
                tracing::debug!("waiting for codexd: {e}");
            }
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_secs(1));
    }
}

enum Followed {
    AllEnded,
    TimedOut,
    Disconnected,
}

async fn follow(
    client: &Client,
    ids: &[String],
    tasks: &mut [Option<Task>],
    offsets: &mut HashMap<TaskId, u64>,
    with_events: bool,
    deadline: Option<Instant>,
    on_progress: &mut impl FnMut(Progress<'_>),
) -> Result<Followed, ClientError> {
    let mut streams = futures::stream::SelectAll::new();
    for (index, id) in ids.iter().enumerate() {
        if tasks[index].as_ref().is_some_and(|t| t.state.is_terminal()) {
            continue;
        }
        let key = tasks[index]
            .as_ref()
            .map(|t| t.id.to_string())
            .unwrap_or_else(|| id.clone());
        let from = if with_events {
            let known = tasks[index].as_ref().map(|t| t.id.clone());
            Some(known.and_then(|id| offsets.get(&id).copied()).unwrap_or(0))
        } else {
            None
        };
        let subscription = client.watch(&key, from).await?;
        streams.push(subscription.map(move |item| (index, item)));
    }
    if streams.is_empty() {
        return Ok(Followed::AllEnded);
    }
    loop {
        let next = match deadline {
            Some(deadline) => match tokio::time::timeout_at(deadline, streams.next()).await {
                Ok(next) => next,
                Err(_) => return Ok(Followed::TimedOut),
            },
            None => streams.next().await,
        };
        match next {
            Some((index, Ok(WatchItem::State { task }))) => {
                on_progress(Progress::State(&task));
                tasks[index] = Some(*task);
                if tasks
                    .iter()
                    .all(|t| t.as_ref().is_some_and(|t| t.state.is_terminal()))
                {
                    return Ok(Followed::AllEnded);
                }
            }
            Some((index, Ok(WatchItem::Event { offset, line }))) => {
                if let Some(task) = &tasks[index] {
                    offsets.insert(task.id.clone(), offset + line.len() as u64 + 1);
                    on_progress(Progress::Event {
                        task: &task.id,
                        line: &line,
                    });
                }
            }
            Some((_, Err(e))) => return Err(e),
            None => {
                // Every subscription ended. The daemon closes one after a terminal state,
                // so unless all tasks ended, the daemon went away.
                let all_ended = tasks
                    .iter()
                    .all(|t| t.as_ref().is_some_and(|t| t.state.is_terminal()));
                return Ok(if all_ended {
                    Followed::AllEnded
                } else {
                    Followed::Disconnected
                });
            }
        }
    }
}
