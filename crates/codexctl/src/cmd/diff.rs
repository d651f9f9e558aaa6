//! `codexctl diff`: a worktree task's change against its base, as a patch.

use crate::cmd::print_json;
use crate::{CmdResult, Ctx};

/// Arguments of `diff`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Task id or unambiguous prefix (a task started with --worktree).
    id: String,
    /// Only the files changed and the lines added and removed.
    #[arg(long)]
    stat: bool,
    /// Print the reply as JSON: task_id, base_commit, patch, stat {files, insertions, deletions}.
    #[arg(long)]
    json: bool,
}

/// Runs `diff`.
pub async fn run(ctx: &Ctx, args: Args) -> CmdResult {
    let client = ctx.client().await?;
    let reply = client.diff(&args.id).await?;
    if args.json {
        return print_json(&reply);
    }
    if args.stat {
        return crate::out::text(&crate::render::patch_stat(&reply.stat));
    }
    crate::out::bytes(reply.patch.as_bytes())
}
