//! `codexctl show`: one task.

use crate::cmd::print_json;
use crate::{CmdResult, Ctx};

/// Arguments of `show`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Task id or unambiguous prefix.
    id: String,
    /// Print the task object as JSON.
    #[arg(long)]
    json: bool,
}

/// Runs `show`.
pub async fn run(ctx: &Ctx, args: Args) -> CmdResult {
    let client = ctx.client().await?;
    let task = client.get(&args.id).await?;
    if args.json {
        print_json(&task)
    } else {
        print!("{}", crate::render::task_details(&task));
        Ok(())
    }
}
