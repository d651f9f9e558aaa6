//! `codexctl prune`: remove finished tasks (records and directories) older than an age.

use crate::cmd::{parse_duration, print_json};
use crate::{CmdResult, Ctx};
use std::time::Duration;

/// Arguments of `prune`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Remove tasks that finished more than this long ago (e.g. 7d, 12h).
    #[arg(long, value_parser = parse_duration)]
    older_than: Duration,
    /// Only list what would be removed.
    #[arg(long)]
    dry_run: bool,
    /// Print {"pruned": [ids], "dry_run": bool, "notes": [lines]} ("notes" only when
    /// something was already gone, e.g. a worktree removed by hand).
    #[arg(long)]
    json: bool,
}

/// Runs `prune`.
pub async fn run(ctx: &Ctx, args: Args) -> CmdResult {
    let client = ctx.client().await?;
    let reply = client.prune(args.older_than, args.dry_run).await?;
    if args.json {
        return print_json(&reply);
    }
    let verb = if reply.dry_run {
        "would remove"
    } else {
        "removed"
    };
    let mut text = format!("{verb} {} finished task(s)\n", reply.pruned.len());
    for id in &reply.pruned {
        text.push_str(&format!("{id}\n"));
    }
    for note in &reply.notes {
        text.push_str(&format!("note: {note}\n"));
    }
    crate::out::text(&text)
}
