//! `codexctl compare`: the attempts of a best-of-N group side by side, best first.

use crate::cmd::print_json;
use crate::{CmdResult, Ctx};

/// Arguments of `compare`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The group id (`group` of any of its tasks; printed by `start --attempts`).
    group: String,
    /// Print the reply as JSON: group, base_commit, entries (ranked).
    #[arg(long)]
    json: bool,
}

/// Runs `compare`.
pub async fn run(ctx: &Ctx, args: Args) -> CmdResult {
    let client = ctx.client().await?;
    let reply = client.compare(&args.group).await?;
    if args.json {
        return print_json(&reply);
    }
    crate::out::text(&crate::render::compare_table(&reply))
}
