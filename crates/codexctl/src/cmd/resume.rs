//! `codexctl resume`: a follow-up turn on a finished task's thread, as a new task.

use crate::cmd::{parse_config, parse_duration, parse_env, print_json, read_prompt, run_env};
use crate::{CmdResult, Ctx};
use codexd_client::api::ResumeRequest;
use std::time::Duration;

/// Arguments of `resume`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The finished task to continue (id or unambiguous prefix).
    id: String,
    /// The follow-up prompt, or - to read it from stdin.
    #[arg(allow_hyphen_values = true)]
    prompt: String,
    /// Model for this turn [default: the parent's].
    #[arg(long, short = 'm')]
    model: Option<String>,
    /// Extra codex config override (repeatable), added to the parent's.
    #[arg(short = 'c', long = "config", value_name = "KEY=VALUE", value_parser = parse_config)]
    config: Vec<String>,
    /// Environment variable for the run (repeatable).
    #[arg(long = "env", value_name = "K=V", value_parser = parse_env)]
    env: Vec<(String, String)>,
    /// Wall-clock limit [default: the parent's].
    #[arg(long, value_parser = parse_duration)]
    timeout: Option<Duration>,
    /// Print a JSON object instead of the bare id.
    #[arg(long)]
    json: bool,
}

/// Runs `resume`.
pub async fn run(ctx: &Ctx, args: Args) -> CmdResult {
    let prompt = read_prompt(args.prompt)?;
    let (env, env_remove) = run_env(&args.env);
    let client = ctx.client().await?;
    let task = client
        .resume(ResumeRequest {
            task: args.id,
            prompt,
            model: args.model,
            config: args.config,
            env,
            env_remove,
            timeout_ms: args.timeout.map(|d| d.as_millis() as u64),
            wait_for_thread_ms: None,
        })
        .await?;
    if args.json {
        print_json(&crate::render::StartOutput::from(&task))
    } else {
        println!("{}", task.id);
        Ok(())
    }
}
