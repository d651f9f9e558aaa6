//! `codexctl start`: submit a task and print its id.

use crate::cmd::options::OptionFlags;
use crate::cmd::{RunFlags, parse_duration, print_json, print_started, read_prompt, run_env};
use crate::render::StartOutput;
use crate::{CmdResult, Ctx, Failure};
use codexd_client::api::{Isolation, StartRequest};
use std::path::PathBuf;
use std::time::Duration;

/// Arguments of `start`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Working directory for codex [default: the current directory].
    #[arg(long = "cd", value_name = "DIR")]
    cd: Option<PathBuf>,
    /// Sandbox mode: read-only, workspace-write or danger-full-access [default: `sandbox`
    /// in the config file's [client] table, else codex's own default].
    #[arg(long, short = 's', value_name = "MODE")]
    sandbox: Option<String>,
    #[command(flatten)]
    run: RunFlags,
    #[command(flatten)]
    options: OptionFlags,
    /// Wait up to this long for Codex's thread id before returning.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    wait_thread: Option<Duration>,
    /// Run in a git worktree of its own (under the daemon's state dir, branch
    /// `codexd/<id>`), made from HEAD plus your uncommitted changes; your tree is untouched
    /// until `codexctl apply`.
    #[arg(long)]
    worktree: bool,
    /// Best-of-N: start N attempts, each in its own worktree from the same base, as one
    /// group (`codexctl compare GROUP`); needs --worktree.
    #[arg(long, value_name = "N")]
    attempts: Option<u32>,
    /// The prompt, or - to read it from stdin.
    #[arg(allow_hyphen_values = true)]
    prompt: String,
}

/// Runs `start`.
pub async fn run(ctx: &Ctx, args: Args) -> CmdResult {
    let prompt = read_prompt(args.prompt)?;
    let options = args.options.resolve()?;
    let cwd = match args.cd {
        Some(dir) if dir.is_absolute() => dir,
        Some(dir) => std::env::current_dir()?.join(dir),
        None => std::env::current_dir()?,
    };
    let cwd = std::fs::canonicalize(&cwd)
        .map_err(|e| Failure::Usage(format!("--cd {}: {e}", cwd.display())))?;
    let (env, env_remove) = run_env(&args.run.env);
    // Flags win over the config file's [client] defaults.
    let defaults =
        codexd_client::config::client_defaults().map_err(|e| Failure::Usage(e.to_string()))?;
    // With an idempotency key, retried once on a lost connection (never run twice).
    let task = codexd_client::Client::start_keyed(
        &ctx.connect,
        StartRequest {
            prompt,
            cwd,
            sandbox: args.sandbox.or(defaults.sandbox),
            timeout_ms: args.run.timeout_ms(),
            stall_timeout_ms: args.run.stall_timeout_ms(),
            model: args.run.model.or(defaults.model),
            config: args.run.config,
            labels: args.run.labels,
            env,
            env_remove,
            wait_for_thread_ms: args.wait_thread.map(|d| d.as_millis() as u64),
            session_id: args.run.session,
            request_id: None,
            isolation: args.worktree.then_some(Isolation::Worktree),
            attempts: args.attempts,
            effort: options.effort,
            profile: options.profile,
            images: options.images,
            add_dirs: options.add_dirs,
            output_schema: options.output_schema,
            review: None,
        },
    )
    .await?;
    match task.group.clone() {
        Some(group) => print_group(ctx, &group, args.run.json).await,
        None => print_started(&task, args.run.json),
    }
}

/// Prints the attempts of a best-of-N start: one id a line and the group, or one JSON
/// object `{group, tasks: [start objects]}`.
async fn print_group(ctx: &Ctx, group: &str, json: bool) -> CmdResult {
    let client = ctx.client().await?;
    let mut tasks = Vec::new();
    for entry in client.compare(group).await?.entries {
        tasks.push(client.get(entry.task_id.as_str()).await?);
    }
    tasks.sort_by_key(|t| (t.created_at, t.id.clone()));
    if json {
        let tasks: Vec<_> = tasks.iter().map(StartOutput::from).collect();
        return print_json(&serde_json::json!({ "group": group, "tasks": tasks }));
    }
    for task in &tasks {
        crate::out::line(&task.id)?;
    }
    crate::out::line(format_args!("group {group}"))
}
