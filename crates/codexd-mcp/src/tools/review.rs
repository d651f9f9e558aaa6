//! `codex_review`: a background review (`codex exec review`, read-only) whose findings
//! `codex_result` returns as data.

use super::{StartReply, WAIT_FOR_THREAD_MS, check_config, started, timeout_ms};
use crate::cwd;
use crate::error::ToolError;
use crate::server::CodexServer;
use codexd_client::Client;
use codexd_client::api::{ReviewTarget, StartRequest};
use rmcp::handler::server::wrapper::Parameters;
use rmcp::service::RequestContext;
use rmcp::{Json, RoleServer, tool, tool_router};
use schemars::JsonSchema;
use serde::Deserialize;

/// Arguments of `codex_review`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct ReviewArgs {
    /// What to review: "uncommitted" (staged, unstaged and untracked changes; the
    /// default without `prompt`), "base" (against `base`) or "commit" (the changes of
    /// `commit`). Not together with `prompt`: codex takes custom instructions or a target.
    #[serde(default)]
    pub target: Option<String>,
    /// The base branch, for target "base".
    #[serde(default)]
    pub base: Option<String>,
    /// The commit, for target "commit".
    #[serde(default)]
    pub commit: Option<String>,
    /// Commit title shown in the review summary.
    #[serde(default)]
    pub title: Option<String>,
    /// Custom review instructions instead of a target (a focused review: what to review and
    /// what to look for, e.g. "review the changes against main; look for races only").
    #[serde(default)]
    pub prompt: Option<String>,
    /// The repository: absolute, or relative to the project root; default the project root.
    #[serde(default)]
    pub cwd: Option<String>,
    /// Model for Codex; default: Codex's own configuration.
    #[serde(default)]
    pub model: Option<String>,
    /// Reasoning effort: none, minimal, low, medium, high, xhigh.
    #[serde(default)]
    pub effort: Option<String>,
    /// Codex config overrides, each `key=value`.
    #[serde(default)]
    pub config: Vec<String>,
    /// A JSON Schema for the findings; codex_result then carries `final_json`.
    #[serde(default)]
    pub output_schema: Option<serde_json::Value>,
    /// Wall-clock limit in seconds.
    #[serde(default)]
    pub timeout_seconds: Option<u64>,
    /// Stall limit in seconds: the review ends `timed_out` (stalled) after this long with
    /// no progress from codex (only error/reconnect notices). 0: no stall limit. Default:
    /// the daemon's (15 minutes unless configured).
    #[serde(default)]
    pub stall_timeout_seconds: Option<u64>,
    /// Codex config profile ($CODEX_HOME/NAME.config.toml).
    #[serde(default)]
    pub profile: Option<String>,
    /// Labels to find the task by later.
    #[serde(default)]
    pub labels: Vec<String>,
}

/// The review target the arguments name.
fn target_of(args: &ReviewArgs) -> Result<ReviewTarget, ToolError> {
    let mut target = ReviewTarget {
        title: args.title.clone(),
        ..Default::default()
    };
    let has_prompt = args.prompt.as_deref().is_some_and(|p| !p.trim().is_empty());
    match args.target.as_deref().map(str::trim).unwrap_or_default() {
        // Custom instructions alone: codex refuses them beside a target.
        "" if has_prompt => {}
        "uncommitted" | "" => target.uncommitted = true,
        "base" => target.base = Some(required(&args.base, "base")?),
        "commit" => target.commit = Some(required(&args.commit, "commit")?),
        other => {
            return Err(ToolError::Invalid(format!(
                "unknown review target {other:?} (expected uncommitted, base or commit)"
            )));
        }
    }
    Ok(target)
}

/// A required, non-empty argument.
fn required(value: &Option<String>, name: &str) -> Result<String, ToolError> {
    value
        .as_deref()
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_string)
        .ok_or_else(|| ToolError::Invalid(format!("target {name} needs the {name} argument")))
}

#[tool_router(router = review_router, vis = "pub(crate)")]
impl CodexServer {
    #[tool(
        name = "codex_review",
        description = "Start an OpenAI Codex code review in the background (read-only): of the \
                       uncommitted changes (default), against a base branch, or of a commit, \
                       or by custom instructions instead of a target, optionally with an \
                       output schema. Returns at \
                       once like codex_start; codex_result then has `review.findings` (title, \
                       body, file, line range, priority).",
        annotations(
            title = "Start a Codex review",
            read_only_hint = true,
            destructive_hint = false,
            idempotent_hint = false,
            open_world_hint = true
        )
    )]
    async fn codex_review(
        &self,
        Parameters(args): Parameters<ReviewArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<Json<StartReply>, ToolError> {
        check_config(&args.config)?;
        let target = target_of(&args)?;
        let dir = cwd::resolve_for(args.cwd.as_deref(), &ctx.peer).await?;
        let (env, env_remove) = codexd_client::forwarded_env();
        let defaults = codexd_client::config::client_defaults()
            .map_err(|e| ToolError::Invalid(e.to_string()))?;
        let task = Client::start_keyed(
            &self.connect,
            StartRequest {
                prompt: args.prompt.unwrap_or_default(),
                cwd: dir.dir,
                model: args
                    .model
                    .filter(|m| !m.trim().is_empty())
                    .or(defaults.model),
                config: args.config,
                env,
                env_remove,
                timeout_ms: timeout_ms(args.timeout_seconds),
                stall_timeout_ms: args.stall_timeout_seconds.map(|s| s.saturating_mul(1000)),
                profile: args.profile,
                wait_for_thread_ms: Some(WAIT_FOR_THREAD_MS),
                labels: args.labels,
                session_id: codexd_client::session_from_env(),
                effort: args.effort,
                output_schema: args.output_schema,
                review: Some(target),
                ..Default::default()
            },
        )
        .await?;
        tracing::info!(task = %task.id, "review started");
        started(self, task, dir.how).map(Json)
    }
}
