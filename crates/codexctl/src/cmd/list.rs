//! `codexctl list`: tasks newest first.

use crate::cmd::print_json;
use crate::{CmdResult, Ctx, Failure};
use codexd_client::api::{ListQuery, TaskState};
use std::path::PathBuf;

/// Arguments of `list`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Only tasks in this state (repeatable): queued, running, succeeded, failed,
    /// cancelled, timed_out, interrupted.
    #[arg(long)]
    state: Vec<TaskState>,
    /// Only tasks that ran in this directory.
    #[arg(long, value_name = "DIR")]
    cwd: Option<PathBuf>,
    /// Only tasks that ran in the current directory.
    #[arg(long, conflicts_with = "cwd")]
    here: bool,
    /// Only tasks carrying this label.
    #[arg(long)]
    label: Option<String>,
    /// Only tasks of this Codex thread.
    #[arg(long, value_name = "THREAD_ID")]
    thread: Option<String>,
    /// Only tasks started from this Claude Code session.
    #[arg(long, value_name = "ID")]
    session: Option<String>,
    /// Only tasks started from the Claude Code session this runs in
    /// (`CLAUDE_CODE_SESSION_ID`).
    #[arg(long, conflicts_with = "session")]
    this_session: bool,
    /// Only tasks that ended and whose result was never read (`result` reads it).
    #[arg(long)]
    unread: bool,
    /// How many tasks to show.
    #[arg(long, default_value_t = 50)]
    limit: u32,
    /// Continue after this cursor (from a previous --json page).
    #[arg(long)]
    cursor: Option<String>,
    /// Print the page as JSON: {"tasks": [...], "next_cursor": ...}.
    #[arg(long)]
    json: bool,
}

/// Runs `list`.
pub async fn run(ctx: &Ctx, args: Args) -> CmdResult {
    let cwd = match (args.cwd, args.here) {
        (_, true) => Some(std::env::current_dir()?),
        (Some(dir), _) => Some(
            std::fs::canonicalize(&dir)
                .map_err(|e| Failure::Usage(format!("--cwd {}: {e}", dir.display())))?,
        ),
        _ => None,
    };
    let session_id = match (args.session, args.this_session) {
        (_, true) => Some(codexd_client::session_from_env().ok_or_else(|| {
            Failure::Usage(format!(
                "--this-session: {} is not set (not inside Claude Code)",
                codexd_client::SESSION_ENV
            ))
        })?),
        (session, false) => session,
    };
    let client = ctx.client().await?;
    let page = client
        .list(ListQuery {
            session_id,
            unread: args.unread,
            states: args.state,
            cwd,
            limit: Some(args.limit),
            cursor: args.cursor,
            label: args.label,
            thread_id: args.thread,
        })
        .await?;
    if args.json {
        print_json(&page)
    } else {
        print!("{}", crate::render::task_table(&page.tasks));
        Ok(())
    }
}
