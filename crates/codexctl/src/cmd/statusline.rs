//! `codexctl statusline`: one short segment for a Claude Code status line, e.g.
//! `codex ▶2 ⏸1 ✓1 unread`: tasks running, queued, and ended but unread, of the current
//! Claude Code session (or, without one, of the current project).
//!
//! Claude Code runs the status-line command often and shows whatever it prints, so this
//! must be fast and quiet: it never starts a daemon, gives up on the daemon after a short
//! time, and prints nothing when there is nothing to say or anything goes wrong.

use crate::{CmdResult, Ctx, out};
use codexd_client::Client;
use codexd_client::api::CountQuery;
use serde::Deserialize;
use std::io::{IsTerminal, Read};
use std::path::PathBuf;
use std::time::Duration;

/// Longest the daemon may take to answer before the segment is left empty.
const DAEMON_TIMEOUT: Duration = Duration::from_millis(300);
/// How long to wait for Claude Code's JSON on stdin (it writes it at once and closes).
const INPUT_TIMEOUT: Duration = Duration::from_millis(300);

/// Arguments of `statusline`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Count this session's tasks [default: the session in the status-line JSON on stdin,
    /// else CLAUDE_CODE_SESSION_ID].
    #[arg(long, value_name = "ID")]
    session: Option<String>,
    /// Count the tasks of this project directory instead [default: the JSON's
    /// `workspace.project_dir` or `cwd`, else the current directory].
    #[arg(long, value_name = "DIR", conflicts_with = "session")]
    project: Option<PathBuf>,
}

/// What Claude Code sends a status-line command on stdin (the fields used).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct StatusInput {
    /// The session.
    pub session_id: Option<String>,
    /// The directory Claude Code runs in.
    pub cwd: Option<PathBuf>,
    /// The project.
    pub workspace: Workspace,
}

/// The `workspace` object of [`StatusInput`].
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Workspace {
    /// The project's root directory.
    pub project_dir: Option<PathBuf>,
}

/// Whose tasks are counted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// The tasks a Claude Code session started.
    Session(String),
    /// The tasks that ran in a directory.
    Project(PathBuf),
}

/// The counts shown.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    /// Tasks running.
    pub running: usize,
    /// Tasks waiting for a slot.
    pub queued: usize,
    /// Tasks ended whose result was never read.
    pub unread: usize,
}

/// Runs `statusline`: prints the segment (or nothing) and always exits 0.
pub async fn run(ctx: &Ctx, args: Args) -> CmdResult {
    let input = read_input().await;
    let scope = scope(args, &input);
    let counts = tokio::time::timeout(DAEMON_TIMEOUT, count(ctx, &scope))
        .await
        .ok()
        .flatten();
    match counts.map(segment) {
        Some(text) if !text.is_empty() => out::line(text),
        _ => Ok(()),
    }
}

/// Claude Code's status-line JSON, when stdin is a pipe holding it; empty otherwise.
/// Read on a thread of its own within [`INPUT_TIMEOUT`], so a stdin that is never closed
/// (a script that forgot to pipe anything) cannot hold the status line up.
async fn read_input() -> StatusInput {
    if std::io::stdin().is_terminal() {
        return StatusInput::default();
    }
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::spawn(move || {
        let mut text = String::new();
        // Bounded: the JSON is small, and a huge stdin must not hold the status line up.
        let read = std::io::stdin()
            .lock()
            .take(1 << 20)
            .read_to_string(&mut text);
        let _ = tx.send(read.ok().map(|_| text));
    });
    match tokio::time::timeout(INPUT_TIMEOUT, rx).await {
        Ok(Ok(Some(text))) => serde_json::from_str(&text).unwrap_or_default(),
        _ => StatusInput::default(),
    }
}

/// Whose tasks to count: flags first, then the session, then the project.
pub fn scope(args: Args, input: &StatusInput) -> Scope {
    if let Some(dir) = args.project {
        return Scope::Project(dir);
    }
    if let Some(session) = args
        .session
        .or_else(|| input.session_id.clone())
        .or_else(codexd_client::session_from_env)
    {
        return Scope::Session(session);
    }
    let dir = input
        .workspace
        .project_dir
        .clone()
        .or_else(|| input.cwd.clone())
        .or_else(|| std::env::current_dir().ok())
        .unwrap_or_default();
    Scope::Project(dir)
}

/// The counts for `scope`; `None` when the daemon does not answer (never started here).
/// One `codexd_count` call, answered from the daemon's memory.
async fn count(ctx: &Ctx, scope: &Scope) -> Option<Counts> {
    let client = Client::connect(&ctx.connect.socket).await.ok()?;
    let query = match scope {
        Scope::Session(id) => CountQuery {
            session_id: Some(id.clone()),
            ..CountQuery::default()
        },
        Scope::Project(dir) => CountQuery {
            cwd: Some(std::fs::canonicalize(dir).unwrap_or_else(|_| dir.clone())),
            ..CountQuery::default()
        },
    };
    let counts = client.count(query).await.ok()?;
    let size = |n: u64| usize::try_from(n).unwrap_or(usize::MAX);
    Some(Counts {
        running: size(counts.running),
        queued: size(counts.queued),
        unread: size(counts.unread),
    })
}

/// `codex ▶R ⏸Q ✓U unread`, with only the non-zero parts; empty when all are zero.
pub fn segment(counts: Counts) -> String {
    let mut parts = Vec::new();
    if counts.running > 0 {
        parts.push(format!("▶{}", counts.running));
    }
    if counts.queued > 0 {
        parts.push(format!("⏸{}", counts.queued));
    }
    if counts.unread > 0 {
        parts.push(format!("✓{} unread", counts.unread));
    }
    if parts.is_empty() {
        return String::new();
    }
    format!("codex {}", parts.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_segment_shows_only_what_is_there() {
        let all = Counts {
            running: 2,
            queued: 1,
            unread: 1,
        };
        assert_eq!(segment(all), "codex ▶2 ⏸1 ✓1 unread");
        assert_eq!(
            segment(Counts {
                unread: 3,
                ..Counts::default()
            }),
            "codex ✓3 unread"
        );
        assert_eq!(segment(Counts::default()), "");
    }

    #[test]
    fn the_scope_comes_from_flags_then_the_session_then_the_project() {
        let input: StatusInput = serde_json::from_str(
            r#"{"session_id": "s-1", "cwd": "/w/sub", "workspace": {"project_dir": "/w"},
                "model": {"id": "x"}}"#,
        )
        .unwrap();
        let args = |session: Option<&str>, project: Option<&str>| Args {
            session: session.map(String::from),
            project: project.map(PathBuf::from),
        };
        assert_eq!(
            scope(args(None, None), &input),
            Scope::Session("s-1".into())
        );
        assert_eq!(
            scope(args(Some("s-2"), None), &input),
            Scope::Session("s-2".into())
        );
        assert_eq!(
            scope(args(None, Some("/p")), &input),
            Scope::Project("/p".into())
        );
        let no_session: StatusInput =
            serde_json::from_str(r#"{"cwd": "/w/sub", "workspace": {"project_dir": "/w"}}"#)
                .unwrap();
        // (The test process itself may run inside Claude Code.)
        if codexd_client::session_from_env().is_none() {
            assert_eq!(
                scope(args(None, None), &no_session),
                Scope::Project("/w".into())
            );
        }
    }
}
