//! `codexctl review`: a background review task (`codex exec review`, read-only).

use crate::cmd::options::OptionFlags;
use crate::cmd::{RunFlags, print_started, read_prompt, run_env};
use crate::{CmdResult, Ctx, Failure};
use codexd_client::api::{ReviewTarget, StartRequest};
use std::path::PathBuf;

/// Arguments of `review`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Review staged, unstaged and untracked changes.
    #[arg(long, conflicts_with_all = ["base", "commit"])]
    uncommitted: bool,
    /// Review the changes against this base branch.
    #[arg(long, value_name = "BRANCH", conflicts_with = "commit")]
    base: Option<String>,
    /// Review the changes introduced by this commit.
    #[arg(long, value_name = "SHA")]
    commit: Option<String>,
    /// Commit title shown in the review summary.
    #[arg(long, value_name = "TITLE")]
    title: Option<String>,
    /// The repository to review [default: the current directory].
    #[arg(long = "cd", value_name = "DIR")]
    cd: Option<PathBuf>,
    #[command(flatten)]
    run: RunFlags,
    /// Reasoning effort: none, minimal, low, medium, high, xhigh.
    #[arg(long, value_name = "EFFORT")]
    effort: Option<String>,
    /// Codex config profile.
    #[arg(long, value_name = "NAME")]
    profile: Option<String>,
    /// JSON Schema for the findings (a focused review): a file or the JSON itself.
    #[arg(long, value_name = "FILE|JSON")]
    output_schema: Option<String>,
    /// Custom review instructions, or - to read them from stdin: instead of --uncommitted,
    /// --base or --commit (codex takes one or the other; name the changes to review in the
    /// instructions).
    #[arg(allow_hyphen_values = true, conflicts_with_all = ["uncommitted", "base", "commit"])]
    prompt: Option<String>,
}

/// Runs `review`.
pub async fn run(ctx: &Ctx, args: Args) -> CmdResult {
    let prompt = match args.prompt {
        Some(prompt) => read_prompt(prompt)?,
        None => String::new(),
    };
    let cwd = match args.cd {
        Some(dir) if dir.is_absolute() => dir,
        Some(dir) => std::env::current_dir()?.join(dir),
        None => std::env::current_dir()?,
    };
    let cwd = std::fs::canonicalize(&cwd)
        .map_err(|e| Failure::Usage(format!("--cd {}: {e}", cwd.display())))?;
    let options = OptionFlags {
        effort: args.effort,
        profile: args.profile,
        images: Vec::new(),
        add_dirs: Vec::new(),
        output_schema: args.output_schema,
    }
    .resolve()?;
    let (env, env_remove) = run_env(&args.run.env);
    let defaults =
        codexd_client::config::client_defaults().map_err(|e| Failure::Usage(e.to_string()))?;
    let task = codexd_client::Client::start_keyed(
        &ctx.connect,
        StartRequest {
            prompt,
            cwd,
            timeout_ms: args.run.timeout_ms(),
            stall_timeout_ms: args.run.stall_timeout_ms(),
            model: args.run.model.or(defaults.model),
            config: args.run.config,
            labels: args.run.labels,
            env,
            env_remove,
            session_id: args.run.session,
            effort: options.effort,
            profile: options.profile,
            output_schema: options.output_schema,
            review: Some(ReviewTarget {
                uncommitted: args.uncommitted,
                base: args.base,
                commit: args.commit,
                title: args.title,
            }),
            ..Default::default()
        },
    )
    .await?;
    print_started(&task, args.run.json)
}
