//! `codexctl resume`: a follow-up turn on a finished task's thread, as a new task.

use crate::cmd::options::OptionFlags;
use crate::cmd::{RunFlags, print_started, read_prompt, run_env};
use crate::{CmdResult, Ctx};
use codexd_client::api::ResumeRequest;

/// Arguments of `resume`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The finished task to continue (id or unambiguous prefix).
    id: String,
    /// The follow-up prompt, or - to read it from stdin.
    #[arg(allow_hyphen_values = true)]
    prompt: String,
    #[command(flatten)]
    run: RunFlags,
    #[command(flatten)]
    options: OptionFlags,
    /// Fork the task's thread instead of continuing it (`codex exec fork`): the new task
    /// gets a thread of its own that starts from the earlier conversation.
    #[arg(long)]
    fork: bool,
}

/// Runs `resume`.
pub async fn run(ctx: &Ctx, args: Args) -> CmdResult {
    let prompt = read_prompt(args.prompt)?;
    let options = args.options.resolve()?;
    let (env, env_remove) = run_env(&args.run.env);
    // With an idempotency key, retried once on a lost connection (never run twice).
    let task = codexd_client::Client::resume_keyed(
        &ctx.connect,
        ResumeRequest {
            task: args.id,
            prompt,
            timeout_ms: args.run.timeout_ms(),
            stall_timeout_ms: args.run.stall_timeout_ms(),
            model: args.run.model,
            config: args.run.config,
            labels: args.run.labels,
            env,
            env_remove,
            wait_for_thread_ms: None,
            session_id: args.run.session,
            request_id: None,
            effort: options.effort,
            profile: options.profile,
            images: options.images,
            add_dirs: options.add_dirs,
            output_schema: options.output_schema,
            fork: args.fork,
        },
    )
    .await?;
    print_started(&task, args.run.json)
}
