//! `codexctl result`: the structured result of a task (compact unless `--full`).

use crate::cmd::print_json;
use crate::{CmdResult, Ctx};

/// Arguments of `result`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Task id or unambiguous prefix.
    id: String,
    /// Print the result object as JSON.
    #[arg(long)]
    json: bool,
    /// Do not trim long fields (the full answer, every command, every failing test).
    #[arg(long)]
    full: bool,
}

/// Runs `result`.
pub async fn run(ctx: &Ctx, args: Args) -> CmdResult {
    let client = ctx.client().await?;
    let result = client.result(&args.id, args.full).await?;
    if args.json {
        print_json(&result)
    } else {
        crate::out::text(&crate::render::result_details(&result))
    }
}
