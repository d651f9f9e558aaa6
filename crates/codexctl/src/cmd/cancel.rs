//! `codexctl cancel`: stop a task; returns once every process of it is gone.

use crate::cmd::print_json;
use crate::{CmdResult, Ctx};

/// Arguments of `cancel`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Task id or unambiguous prefix.
    id: String,
    /// Print the cancelled task as JSON.
    #[arg(long)]
    json: bool,
}

/// Runs `cancel`.
pub async fn run(ctx: &Ctx, args: Args) -> CmdResult {
    let client = ctx.client().await?;
    let task = client.cancel(&args.id).await?;
    if args.json {
        print_json(&task)
    } else {
        crate::out::line(format_args!("{} {}", task.id, task.state))
    }
}
