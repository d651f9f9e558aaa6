//! `codexctl discard`: remove worktree tasks' worktrees and branches.

use crate::cmd::print_json;
use crate::{CmdResult, Ctx, Failure};

/// Arguments of `discard`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Task ids or unambiguous prefixes.
    ids: Vec<String>,
    /// Every attempt of this best-of-N group (but those of --except).
    #[arg(long, value_name = "GROUP")]
    group: Option<String>,
    /// With --group: keep this task's worktree (repeatable).
    #[arg(long, value_name = "ID", requires = "group")]
    except: Vec<String>,
    /// Print the reply as JSON.
    #[arg(long)]
    json: bool,
}

/// Runs `discard`.
pub async fn run(ctx: &Ctx, args: Args) -> CmdResult {
    if args.ids.is_empty() && args.group.is_none() {
        return Err(Failure::Usage(
            "discard needs task ids or --group GROUP".into(),
        ));
    }
    let client = ctx.client().await?;
    let reply = client
        .discard(&args.ids, args.group.as_deref(), &args.except)
        .await?;
    if args.json {
        return print_json(&reply);
    }
    for d in &reply.discarded {
        crate::out::line(format_args!(
            "discarded {} (branch {}, {})",
            d.task_id,
            d.branch,
            d.path.display()
        ))?;
        for note in &d.notes {
            crate::out::line(format_args!("  note: {note}"))?;
        }
    }
    Ok(())
}
