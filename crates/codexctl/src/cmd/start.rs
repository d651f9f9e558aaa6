//! `codexctl start`: submit a task and print its id.

use crate::cmd::options::OptionFlags;
use crate::cmd::{RunFlags, parse_duration, print_started, read_prompt, run_env};
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
            model: args.run.model.or(defaults.model),
            config: args.run.config,
            labels: args.run.labels,
            env,
            env_remove,
            wait_for_thread_ms: args.wait_thread.map(|d| d.as_millis() as u64),
            session_id: args.run.session,
            request_id: None,
            effort: options.effort,
            profile: options.profile,
            images: options.images,
            add_dirs: options.add_dirs,
            output_schema: options.output_schema,
            review: None,
        },
    )
    .await?;
    print_started(&task, args.run.json)
}
