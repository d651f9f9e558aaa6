//! `codexctl apply`: a worktree task's change into the user's current tree.

use crate::cmd::print_json;
use crate::{CmdResult, Ctx, Failure};

/// Arguments of `apply`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Task id or unambiguous prefix (a finished task started with --worktree).
    id: String,
    /// Print the reply as JSON (applied, stat, conflicts, message); exit 1 on a conflict.
    #[arg(long)]
    json: bool,
}

/// Runs `apply`: exit 0 when applied, 1 on a conflict (then nothing was applied).
pub async fn run(ctx: &Ctx, args: Args) -> CmdResult {
    let client = ctx.client().await?;
    let reply = client.apply(&args.id).await?;
    if args.json {
        print_json(&reply)?;
    } else if reply.applied {
        crate::out::line(format_args!(
            "applied {} to {}",
            crate::render::patch_stat_line(&reply.stat),
            reply.repo.display()
        ))?;
    } else {
        let mut text = format!(
            "cannot apply task {}: it conflicts with your current tree; nothing was applied\n",
            reply.task_id
        );
        if !reply.conflicts.is_empty() {
            text.push_str("conflicting files:\n");
            for file in &reply.conflicts {
                text.push_str(&format!("  {file}\n"));
            }
        }
        // git's own words speak of its scratch index ("applied cleanly"): shown only when
        // they are all there is.
        if let (true, Some(message)) = (reply.conflicts.is_empty(), &reply.message) {
            text.push_str(&format!("git: {}\n", message.replace('\n', "\n     ")));
        }
        crate::out::err_text(&text);
    }
    if reply.applied {
        Ok(())
    } else {
        Err(Failure::Code(1))
    }
}
