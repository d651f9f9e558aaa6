//! `codexctl list`: tasks newest first.

use crate::cmd::print_json;
use crate::render::shell_quote;
use crate::{CmdResult, Ctx, Failure};
use codexd_client::api::Timestamp;
use codexd_client::api::{DEFAULT_PAGE_LIMIT, ListQuery, MAX_PAGE_LIMIT, TaskState};
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
    /// Only tasks of this kind: exec or review.
    #[arg(long, value_name = "KIND")]
    kind: Option<codexd_client::api::TaskKind>,
    /// How many tasks to show (1 to 1000).
    #[arg(
        long,
        default_value_t = DEFAULT_PAGE_LIMIT,
        value_parser = clap::value_parser!(u32).range(1..=i64::from(MAX_PAGE_LIMIT)),
    )]
    limit: u32,
    /// Continue after this cursor: the next page (the `next_cursor` of a --json page, or
    /// as the "more tasks" hint says).
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
    let query = ListQuery {
        session_id,
        unread: args.unread,
        states: args.state,
        cwd,
        limit: Some(args.limit),
        cursor: args.cursor,
        label: args.label,
        thread_id: args.thread,
        kind: args.kind,
    };
    let client = ctx.client().await?;
    let page = client.list(query.clone()).await?;
    if args.json {
        return print_json(&page);
    }
    let style = crate::render::Style::stdout();
    crate::out::text(&crate::render::task_table(
        &page.tasks,
        Timestamp::now(),
        style,
    ))?;
    if let Some(cursor) = &page.next_cursor {
        crate::out::err_text(&format!(
            "more tasks: {}\n",
            next_page_command(ctx, &query, cursor)
        ));
    }
    Ok(())
}

/// The command that lists the page after this one: the same filters, `--cursor`.
fn next_page_command(ctx: &Ctx, query: &ListQuery, cursor: &str) -> String {
    let mut words = vec!["codexctl".to_string()];
    if let Some(socket) = &ctx.socket_arg {
        words.extend(["--socket".into(), shell_quote(&socket.to_string_lossy())]);
    }
    words.push("list".into());
    for state in &query.states {
        words.extend(["--state".into(), state.to_string()]);
    }
    if let Some(cwd) = &query.cwd {
        words.extend(["--cwd".into(), shell_quote(&cwd.to_string_lossy())]);
    }
    if let Some(label) = &query.label {
        words.extend(["--label".into(), shell_quote(label)]);
    }
    if let Some(thread) = &query.thread_id {
        words.extend(["--thread".into(), shell_quote(thread)]);
    }
    if let Some(session) = &query.session_id {
        words.extend(["--session".into(), shell_quote(session)]);
    }
    if query.unread {
        words.push("--unread".into());
    }
    if let Some(limit) = query.limit.filter(|&l| l != DEFAULT_PAGE_LIMIT) {
        words.extend(["--limit".into(), limit.to_string()]);
    }
    words.extend(["--cursor".into(), shell_quote(cursor)]);
    words.join(" ")
}
