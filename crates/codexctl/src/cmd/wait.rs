//! `codexctl wait`: block until tasks end. Made to run as a background shell command: when
//! stdout is not a terminal it prints each task's summary line the moment that task ends
//! (and nothing before), so a background shell's output file holds it at once. On a
//! terminal it keeps one live status line on stderr (cut to the terminal's width, its clock
//! ticking every second) and prints the summaries, in argument order, at the end. It
//! survives daemon restarts, and its exit code says how the tasks ended.

use crate::cmd::{parse_duration, print_json};
use crate::render::{Style, summary_lines};
use crate::{CmdResult, Ctx, Failure, out};
use codexd_client::api::{Task, TaskState, Timestamp};
use codexd_client::wait::{Progress, wait_for_tasks};
use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::io::IsTerminal;
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

/// What `wait` knows while it waits.
#[derive(Default)]
struct Watching {
    /// The ids or prefixes as given, to order the live line.
    asked: Vec<String>,
    /// Each task's latest record, by full id.
    tasks: HashMap<String, Task>,
    /// What each running task did last, by full id.
    activity: HashMap<String, String>,
    /// A note on the connection (reconnecting).
    note: Option<String>,
    /// Whether a live line is on the screen.
    shown: bool,
    /// Tasks whose summary line was printed (not on a terminal).
    printed: HashSet<String>,
    /// Set when writing to stdout failed: the wait stops with it.
    failed: Option<Failure>,
}

impl Watching {
    fn observe(&mut self, progress: Progress<'_>) {
        match progress {
            Progress::State(task) => {
                self.note = None;
                if task.state.is_terminal() {
                    self.activity.remove(task.id.as_str());
                } else if let Some(reconnecting) = &task.reconnecting {
                    self.activity
                        .insert(task.id.to_string(), reconnecting.activity());
                }
                self.tasks.insert(task.id.to_string(), task.clone());
            }
            Progress::Event { task, line } => {
                let running = self
                    .tasks
                    .get(task.as_str())
                    .is_none_or(|t| !t.state.is_terminal());
                if let (true, Some(text)) = (running, crate::render::activity(line)) {
                    self.activity.insert(task.to_string(), text);
                }
            }
            Progress::Reconnecting => self.note = Some("reconnecting to codexd".into()),
        }
    }

    /// The full ids in the order asked (each prefix resolves to the task it names).
    fn order(&self) -> Vec<String> {
        let mut order: Vec<String> = Vec::new();
        for asked in &self.asked {
            let mut ids: Vec<&String> = self
                .tasks
                .keys()
                .filter(|id| id.starts_with(asked.as_str()))
                .collect();
            ids.sort();
            if let Some(id) = ids.first().filter(|id| !order.contains(id)) {
                order.push((*id).clone());
            }
        }
        order
    }

    /// Redraws the live line on stderr.
    fn draw(&mut self) {
        let width = crate::render::terminal_width().saturating_sub(1).max(1);
        let line = crate::render::live_status(
            &self.order(),
            &self.tasks,
            &self.activity,
            self.note.as_deref(),
            Timestamp::now(),
            width,
        );
        out::err_text(&format!("\r\x1b[2K{line}"));
        self.shown = true;
    }

    /// Prints the summary line of `task` if it ended and was not printed yet.
    fn print_if_ended(&mut self, task: &Task) {
        if self.failed.is_some() || !task.state.is_terminal() {
            return;
        }
        if self.printed.insert(task.id.to_string()) {
            let lines = summary_lines(
                std::slice::from_ref(task),
                Timestamp::now(),
                Style::default(),
            );
            if let Err(e) = out::text(&format!("{}\n", lines.join("\n"))) {
                self.failed = Some(e);
            }
        }
    }
}

/// Runs `wait`.
pub async fn run(ctx: &Ctx, args: Args) -> CmdResult {
    let live = std::io::stdout().is_terminal() && std::io::stderr().is_terminal();
    // Not on a terminal: each summary line as soon as its task ends.
    let stream_lines = !live && !args.json;
    let watching = RefCell::new(Watching {
        asked: args.ids.clone(),
        ..Watching::default()
    });
    let stop = tokio::sync::Notify::new();
    let wait = wait_for_tasks(&ctx.connect, &args.ids, args.timeout, live, |progress| {
        let mut w = watching.borrow_mut();
        let ended = match &progress {
            Progress::State(task) if stream_lines => Some((*task).clone()),
            _ => None,
        };
        w.observe(progress);
        if let Some(task) = ended {
            w.print_if_ended(&task);
            if w.failed.is_some() {
                stop.notify_one();
            }
        }
        if live {
            w.draw();
        }
    });
    tokio::pin!(wait);
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let outcome = loop {
        tokio::select! {
            outcome = &mut wait => break Some(outcome),
            () = stop.notified() => break None,
            _ = tick.tick(), if live => {
                let mut w = watching.borrow_mut();
                if !w.tasks.is_empty() {
                    w.draw();
                }
            }
        }
    };
    let mut watching = watching.borrow_mut();
    if watching.shown {
        out::err_text("\r\x1b[2K");
    }
    if let Some(failure) = watching.failed.take() {
        return Err(failure);
    }
    let Some(outcome) = outcome else {
        return Ok(());
    };
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
        // In the order asked; when streaming, only the tasks not printed yet (those still
        // running at a timeout).
        let left: Vec<Task> = outcome
            .tasks
            .iter()
            .filter(|t| !watching.printed.contains(t.id.as_str()))
            .cloned()
            .collect();
        let style = if live {
            Style::stdout()
        } else {
            Style::default()
        };
        let lines = summary_lines(&left, Timestamp::now(), style);
        if !lines.is_empty() {
            out::text(&format!("{}\n", lines.join("\n")))?;
        }
    }
    if outcome.timed_out {
        if !args.json {
            out::warn("timed out waiting");
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
