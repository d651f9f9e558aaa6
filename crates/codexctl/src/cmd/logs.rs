//! `codexctl logs`: a task's events rendered for people (or the raw JSONL with --json),
//! or codex's stderr; `--follow` streams new lines until the task ends.

use crate::{CmdResult, Ctx, Failure, out};
use codexd_client::api::{LogStream, WatchItem};
use futures::StreamExt;

/// Arguments of `logs`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Task id or unambiguous prefix.
    id: String,
    /// Keep printing new events until the task ends.
    #[arg(long, short = 'f')]
    follow: bool,
    /// Print the raw JSONL events, one per line, exactly as codex wrote them.
    #[arg(long)]
    json: bool,
    /// Print codex's stderr instead of its events.
    #[arg(long, conflicts_with = "follow")]
    stderr: bool,
}

/// Runs `logs`.
pub async fn run(ctx: &Ctx, args: Args) -> CmdResult {
    let client = ctx.client().await?;
    let task = client.get(&args.id).await?;
    let id = task.id.to_string();
    let stream = if args.stderr {
        LogStream::Stderr
    } else {
        LogStream::Events
    };
    // The line as printed (with its newline), or None for events not worth showing.
    let render = |line: &str| -> Option<String> {
        if args.json || args.stderr {
            Some(format!("{line}\n"))
        } else {
            crate::render::event_line(line).map(|text| format!("{text}\n"))
        }
    };
    if args.follow {
        let mut events = client.watch(&id, Some(0)).await?;
        while let Some(item) = events.next().await {
            match item? {
                WatchItem::Event { line, .. } => {
                    if let Some(text) = render(&line) {
                        out::text(&text)?;
                    }
                }
                WatchItem::State { task } if task.state.is_terminal() => return Ok(()),
                WatchItem::State { .. } => {}
            }
        }
        return Err(Failure::Usage(format!(
            "connection to codexd lost before task {id} ended"
        )));
    }
    let mut offset = 0;
    loop {
        let chunk = client.read_log(&id, offset, None, stream).await?;
        // One write per page, not per line.
        let text: String = chunk.lines.iter().filter_map(|l| render(&l.line)).collect();
        out::text(&text)?;
        if chunk.lines.is_empty() || chunk.next_offset == offset {
            return Ok(());
        }
        offset = chunk.next_offset;
    }
}
