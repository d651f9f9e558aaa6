//! `codexctl show`: one task.

use crate::cmd::print_json;
use crate::{CmdResult, Ctx};
use codexd_client::Client;
use codexd_client::api::{ErrorKind, Task, Timestamp};

/// Arguments of `show`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Task id or unambiguous prefix.
    id: String,
    /// Print the task object as JSON (with its compact result under "result").
    #[arg(long)]
    json: bool,
}

/// Runs `show`.
pub async fn run(ctx: &Ctx, args: Args) -> CmdResult {
    let client = ctx.client().await?;
    let task = client.get(&args.id).await?;
    if args.json {
        // The task object, plus its compact result under "result".
        // A look at the task, not a read of its result: it stays unread.
        // A result whose files are gone (a `storage` error) leaves the record: `result` is
        // null and `result_error` says why.
        let (result, result_error) = match client.peek_result(task.id.as_str(), false).await {
            Ok(result) => (serde_json::to_value(&result)?, None),
            Err(e) => match e.api() {
                Some(api) if api.kind == ErrorKind::Storage => {
                    (serde_json::Value::Null, Some(api.message.clone()))
                }
                _ => return Err(e.into()),
            },
        };
        let mut value = serde_json::to_value(&task)?;
        if let serde_json::Value::Object(map) = &mut value {
            map.insert("result".into(), result);
            if let Some(error) = result_error {
                map.insert("result_error".into(), error.into());
            }
        }
        print_json(&value)
    } else {
        let activity = current_activity(&client, &task).await;
        crate::out::text(&crate::render::task_details(
            &task,
            activity.as_deref(),
            Timestamp::now(),
            crate::render::Style::stdout(),
        ))
    }
}

/// How much of the end of the event log is read to tell what a running task is doing.
const ACTIVITY_TAIL_BYTES: u64 = 64 * 1024;

/// What a running task is doing now: the last event of its log that tells (`None` when it
/// is not running or nothing tells).
async fn current_activity(client: &Client, task: &Task) -> Option<String> {
    if let Some(reconnecting) = &task.reconnecting {
        return Some(reconnecting.activity());
    }
    client
        .recent_events(task, ACTIVITY_TAIL_BYTES)
        .await
        .iter()
        .filter_map(|line| crate::render::activity(line))
        .next_back()
}
