//! `codexctl show`: one task.

use crate::cmd::print_json;
use crate::{CmdResult, Ctx};

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
        let result = client.peek_result(task.id.as_str(), false).await?;
        let mut value = serde_json::to_value(&task)?;
        if let serde_json::Value::Object(map) = &mut value {
            map.insert("result".into(), serde_json::to_value(&result)?);
        }
        print_json(&value)
    } else {
        print!("{}", crate::render::task_details(&task));
        Ok(())
    }
}
