//! `codexctl start`: submit a task and print its id.

use crate::cmd::{parse_config, parse_duration, parse_env, print_json, read_prompt, run_env};
use crate::{CmdResult, Ctx, Failure};
use codexd_client::api::StartRequest;
use std::path::PathBuf;
use std::time::Duration;

/// Arguments of `start`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Working directory for codex [default: the current directory].
    #[arg(long = "cd", value_name = "DIR")]
    cd: Option<PathBuf>,
    /// Sandbox mode: read-only, workspace-write or danger-full-access.
    #[arg(long, short = 's', value_name = "MODE")]
    sandbox: Option<String>,
    /// Model for codex.
    #[arg(long, short = 'm')]
    model: Option<String>,
    /// Codex config override, forwarded to `codex exec -c` unchanged (repeatable).
    #[arg(short = 'c', long = "config", value_name = "KEY=VALUE", value_parser = parse_config)]
    config: Vec<String>,
    /// Environment variable for the run (repeatable; never written to disk). PATH,
    /// VIRTUAL_ENV and CODEX_HOME are forwarded from this shell by default.
    #[arg(long = "env", value_name = "K=V", value_parser = parse_env)]
    env: Vec<(String, String)>,
    /// Wall-clock limit (e.g. 30m); the task ends `timed_out` after it.
    #[arg(long, value_parser = parse_duration)]
    timeout: Option<Duration>,
    /// Wait up to this long for Codex's thread id before returning.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    wait_thread: Option<Duration>,
    /// Print a JSON object instead of the bare id.
    #[arg(long)]
    json: bool,
    /// The prompt, or - to read it from stdin.
    #[arg(allow_hyphen_values = true)]
    prompt: String,
}

/// Runs `start`.
pub async fn run(ctx: &Ctx, args: Args) -> CmdResult {
    let prompt = read_prompt(args.prompt)?;
    let cwd = match args.cd {
        Some(dir) if dir.is_absolute() => dir,
        Some(dir) => std::env::current_dir()?.join(dir),
        None => std::env::current_dir()?,
    };
    let cwd = std::fs::canonicalize(&cwd)
        .map_err(|e| Failure::Usage(format!("--cd {}: {e}", cwd.display())))?;
    let (env, env_remove) = run_env(&args.env);
    let client = ctx.client().await?;
    let task = client
        .start(StartRequest {
            prompt,
            cwd,
            sandbox: args.sandbox,
            model: args.model,
            config: args.config,
            env,
            env_remove,
            timeout_ms: args.timeout.map(|d| d.as_millis() as u64),
            wait_for_thread_ms: args.wait_thread.map(|d| d.as_millis() as u64),
        })
        .await?;
    if args.json {
        print_json(&crate::render::StartOutput::from(&task))
    } else {
        println!("{}", task.id);
        Ok(())
    }
}
