//! `codexctl wait`: block until tasks end. Made to run as a background shell command: it
//! prints nothing until the end unless stdout is a terminal, survives daemon restarts, and
//! its exit code says how the tasks ended.

use crate::cmd::{parse_duration, print_json};
use crate::{CmdResult, Ctx, Failure};
use codexd_client::api::{Task, TaskState, Timestamp};
use codexd_client::wait::{Progress, wait_for_tasks};
use std::collections::HashMap;
use std::io::{IsTerminal, Write};
use std::time::Duration;

/// Arguments of `wait`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Task ids or unambiguous prefixes.
    #[arg(required = true)]
    ids: Vec<String>,
    /// Give up after this long (exit 124).
    #[arg(long, value_parser = parse_duration)]
    timeout: Option<Duration>,
    /// Print {"tasks": [...], "timed_out": bool} instead of summary lines.
    #[arg(long)]
    json: bool,
}

/// Exit code when the timeout expired.
pub const EXIT_TIMEOUT: u8 = 124;

/// Runs `wait`.
pub async fn run(ctx: &Ctx, args: Args) -> CmdResult {
    let live = std::io::stdout().is_terminal() && std::io::stderr().is_terminal();
    let mut activity: HashMap<String, String> = HashMap::new();
    let mut last: HashMap<String, Task> = HashMap::new();
    let mut status_shown = false;
    let outcome = wait_for_tasks(&ctx.connect, &args.ids, args.timeout, live, |progress| {
        if !live {
            return;
        }
        match progress {
            Progress::State(task) => {
                last.insert(task.id.to_string(), task.clone());
            }
            Progress::Event { task, line } => {
                if let Some(text) = crate::render::activity(line) {
                    activity.insert(task.to_string(), text);
                }
            }
            Progress::Reconnecting => {
                activity.insert(String::new(), "reconnecting to codexd".into());
            }
        }
        let line = crate::render::live_status(&last, &activity, Timestamp::now());
        let mut err = std::io::stderr();
        let _ = write!(err, "\r\x1b[2K{line}");
        let _ = err.flush();
        status_shown = true;
    })
    .await;
    if status_shown {
        eprint!("\r\x1b[2K");
    }
    let outcome = outcome?;
    if args.json {
        #[derive(serde::Serialize)]
        struct Output<'a> {
            tasks: &'a [Task],
            timed_out: bool,
        }
        print_json(&Output {
            tasks: &outcome.tasks,
            timed_out: outcome.timed_out,
        })?;
    } else {
        for task in &outcome.tasks {
            println!("{}", crate::render::summary_line(task, Timestamp::now()));
        }
    }
    if outcome.timed_out {
        if !args.json {
            eprintln!("codexctl: timed out waiting");
        }
        return Err(Failure::Code(EXIT_TIMEOUT));
    }
    if outcome
        .tasks
        .iter()
        .all(|t| t.state == TaskState::Succeeded)
    {
        Ok(())
    } else {
        Err(Failure::Code(1))
    }
}
