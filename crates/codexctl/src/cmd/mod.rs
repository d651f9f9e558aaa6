//! The subcommands, one file each.

mod apply;
mod cancel;
mod compare;
mod completions;
mod daemon;
mod diff;
mod discard;
mod doctor;
mod hook;
mod list;
mod logs;
mod options;
mod prune;
mod result;
mod resume;
mod review;
mod show;
mod start;
mod statusline;
mod wait;

use crate::{CmdResult, Ctx, Failure};
use clap::Subcommand;
use std::collections::BTreeMap;
use std::time::Duration;

/// All subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Start a Codex task in the background; prints its id.
    Start(start::Args),
    /// Wait until tasks end; exit 0 if all succeeded, 1 if not, 124 on timeout.
    Wait(wait::Args),
    /// List tasks, newest first.
    List(list::Args),
    /// Show one task.
    Show(show::Args),
    /// Print a task's events (or codex's stderr); --follow streams until it ends.
    Logs(logs::Args),
    /// The structured result of a task: answer, files, commands, tests, usage.
    Result(result::Args),
    /// Cancel a queued or running task (every process of it is stopped).
    Cancel(cancel::Args),
    /// Continue a finished task's Codex thread with a follow-up prompt; prints the new id.
    Resume(resume::Args),
    /// Review changes in the background (`codex exec review`, read-only); prints the id.
    /// `result` shows the findings.
    Review(review::Args),
    /// Remove finished tasks older than an age (queued and running tasks are never removed).
    Prune(prune::Args),
    /// A worktree task's change against its base, as a patch (--stat: files and lines).
    Diff(diff::Args),
    /// Apply a finished worktree task's change to your current tree (3-way); on a
    /// conflict nothing is applied, the conflicting files are listed, exit 1.
    Apply(apply::Args),
    /// Remove worktree tasks' worktrees and branches (the records stay, marked discarded).
    Discard(discard::Args),
    /// The attempts of a best-of-N group side by side, best first.
    Compare(compare::Args),
    /// Daemon status and control.
    #[command(subcommand)]
    Daemon(daemon::Command),
    /// Print a shell completion script (e.g. `codexctl completions bash > ~/.local/share/bash-completion/completions/codexctl`).
    Completions(completions::Args),
    /// Print the man page (roff), e.g. `codexctl man > ~/.local/share/man/man1/codexctl.1`.
    Man,
    /// Check the set-up: codex and its login, the daemon, permissions, the service, Claude
    /// Code; each check ok/warn/fail with its fix; exit 1 when one fails.
    Doctor(doctor::Args),
    /// One short line for a Claude Code status line: running, queued and unread tasks of
    /// the session or project (reads Claude Code's status-line JSON on stdin).
    Statusline(statusline::Args),
    /// Claude Code hooks (the codexd plugin): read the hook's JSON on stdin, print its
    /// output; never start a daemon, at most 2 s, nothing printed on failure.
    Hook(hook::Args),
}

/// Runs a subcommand.
pub async fn run(ctx: &Ctx, command: Command) -> CmdResult {
    match command {
        Command::Start(args) => start::run(ctx, args).await,
        Command::Wait(args) => wait::run(ctx, args).await,
        Command::List(args) => list::run(ctx, args).await,
        Command::Show(args) => show::run(ctx, args).await,
        Command::Logs(args) => logs::run(ctx, args).await,
        Command::Cancel(args) => cancel::run(ctx, args).await,
        Command::Result(args) => result::run(ctx, args).await,
        Command::Prune(args) => prune::run(ctx, args).await,
        Command::Resume(args) => resume::run(ctx, args).await,
        Command::Diff(args) => diff::run(ctx, args).await,
        Command::Apply(args) => apply::run(ctx, args).await,
        Command::Discard(args) => discard::run(ctx, args).await,
        Command::Compare(args) => compare::run(ctx, args).await,
        Command::Review(args) => review::run(ctx, args).await,
        Command::Daemon(command) => daemon::run(ctx, command).await,
        Command::Completions(args) => completions::completions(args),
        Command::Man => completions::man(),
        Command::Doctor(args) => doctor::run(ctx, args).await,
        Command::Statusline(args) => statusline::run(ctx, args).await,
        Command::Hook(args) => hook::run(ctx, args).await,
    }
}

/// Flags shared by `start` and `resume`: how the run is configured.
#[derive(Debug, clap::Args)]
pub struct RunFlags {
    /// Model for codex (for `resume`: the parent's by default).
    #[arg(long, short = 'm')]
    pub model: Option<String>,
    /// Codex config override, forwarded to `codex exec -c` unchanged (repeatable; for
    /// `resume`, added to the parent's).
    #[arg(short = 'c', long = "config", value_name = "KEY=VALUE", value_parser = parse_config)]
    pub config: Vec<String>,
    /// Environment variable for the run (repeatable). The value is never written to disk:
    /// the request stores names only, and a value of 6 or more characters is redacted
    /// from everything codex prints. PATH, VIRTUAL_ENV, CODEX_HOME, OPENAI_API_KEY,
    /// CODEX_API_KEY, proxies and CA settings are forwarded from this shell by default
    /// (README: "The environment of a run"); of those, the ones that hold no secret (paths,
    /// endpoints, NO_PROXY, CA files) are redacted only if they look secret.
    #[arg(long = "env", value_name = "K=V", value_parser = parse_env)]
    pub env: Vec<(String, String)>,
    /// Wall-clock limit (e.g. 30m); the task ends `timed_out` after it; 0 for none
    /// [default: the daemon's, 2h unless configured].
    #[arg(long, value_parser = parse_limit)]
    pub timeout: Option<Duration>,
    /// Stall limit (e.g. 5m): with no progress from codex (only error/reconnect notices)
    /// for this long the task ends `timed_out`; 0 for none [default: the daemon's, 15m
    /// unless configured].
    #[arg(long, value_parser = parse_limit)]
    pub stall_timeout: Option<Duration>,
    /// Label to find the task by later (repeatable; `list --label`).
    #[arg(long = "label", value_name = "LABEL")]
    pub labels: Vec<String>,
    /// Print a JSON object instead of the bare id.
    #[arg(long)]
    pub json: bool,
    /// The Claude Code session to record on the task (`list --session` finds its tasks);
    /// inside Claude Code its `CLAUDE_CODE_SESSION_ID` is taken.
    #[arg(long, value_name = "ID", env = codexd_client::SESSION_ENV, hide_env_values = true)]
    pub session: Option<String>,
}

impl RunFlags {
    /// The timeout in milliseconds, as the API takes it.
    pub fn timeout_ms(&self) -> Option<u64> {
        self.timeout.map(|d| d.as_millis() as u64)
    }

    /// The stall limit in milliseconds (0: none), as the API takes it.
    pub fn stall_timeout_ms(&self) -> Option<u64> {
        self.stall_timeout.map(|d| d.as_millis() as u64)
    }
}

/// Prints a started task: its id alone, or the `--json` object.
pub fn print_started(task: &codexd_client::api::Task, json: bool) -> CmdResult {
    if json {
        print_json(&crate::render::StartOutput::from(task))
    } else {
        crate::out::line(&task.id)
    }
}

/// Parses `K=V` for `--env`.
pub fn parse_env(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((key, value)) if !key.is_empty() => Ok((key.to_string(), value.to_string())),
        _ => Err(format!("expected KEY=VALUE, got {text:?}")),
    }
}

/// Parses `KEY=VALUE` for `-c` (kept as written).
pub fn parse_config(text: &str) -> Result<String, String> {
    match text.split_once('=') {
        Some((key, _)) if !key.trim().is_empty() => Ok(text.to_string()),
        _ => Err(format!("expected KEY=VALUE, got {text:?}")),
    }
}

/// Parses a duration such as `90s`, `10m`, `1h30m`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let d = humantime::parse_duration(text).map_err(|e| format!("{text:?}: {e}"))?;
    if d.is_zero() {
        return Err("duration must be greater than zero".into());
    }
    Ok(d)
}

/// Parses a run limit (`--timeout`, `--stall-timeout`): a duration as `parse_duration`
/// takes it, or `0` for no limit.
pub fn parse_limit(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text).map_err(|e| format!("{text:?}: {e} (or 0 for no limit)"))
}

/// The environment to send: the forwarded defaults plus explicit `--env` values.
pub fn run_env(explicit: &[(String, String)]) -> (BTreeMap<String, String>, Vec<String>) {
    let (mut set, mut remove) = codexd_client::forwarded_env();
    for (key, value) in explicit {
        remove.retain(|k| k != key);
        set.insert(key.clone(), value.clone());
    }
    (set, remove)
}

/// Reads the prompt: the argument, or stdin when it is `-`.
pub fn read_prompt(prompt: String) -> Result<String, Failure> {
    if prompt != "-" {
        return Ok(prompt);
    }
    let mut text = String::new();
    std::io::Read::read_to_string(&mut std::io::stdin(), &mut text)
        .map_err(|e| Failure::Usage(format!("reading the prompt from stdin: {e}")))?;
    Ok(text)
}

/// Prints a value as pretty JSON on stdout.
pub fn print_json(value: &impl serde::Serialize) -> CmdResult {
    crate::out::line(serde_json::to_string_pretty(value)?)
}
