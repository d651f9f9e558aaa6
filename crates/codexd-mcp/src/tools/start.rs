//! `codex_start`: submit a task to codexd and return at once.

use super::{StartReply, WAIT_FOR_THREAD_MS, check_config, check_prompt, started, timeout_ms};
use crate::cwd;
use crate::error::ToolError;
use crate::server::CodexServer;
use codexd_client::Client;
use codexd_client::api::{Isolation, StartRequest};
use rmcp::handler::server::wrapper::Parameters;
use rmcp::service::RequestContext;
use rmcp::{Json, RoleServer, tool, tool_router};
use schemars::JsonSchema;
use serde::Deserialize;

/// Codex's sandbox modes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Sandbox {
    /// Codex may read files and run read-only commands.
    ReadOnly,
    /// Codex may edit files in cwd and run commands there (no network).
    WorkspaceWrite,
    /// No sandbox at all.
    DangerFullAccess,
}

impl Sandbox {
    /// The name `codex exec -s` takes.
    pub fn as_str(self) -> &'static str {
        match self {
            Sandbox::ReadOnly => "read-only",
            Sandbox::WorkspaceWrite => "workspace-write",
            Sandbox::DangerFullAccess => "danger-full-access",
        }
    }
}

/// Where a task runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum IsolationArg {
    /// In the directory itself (the default).
    None,
    /// In a git worktree of its own.
    Worktree,
}

impl From<IsolationArg> for Isolation {
    fn from(arg: IsolationArg) -> Self {
        match arg {
            IsolationArg::None => Isolation::None,
            IsolationArg::Worktree => Isolation::Worktree,
        }
    }
}

/// Arguments of `codex_start`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct StartArgs {
    /// What Codex should do: a complete, self-contained task description (Codex does not see
    /// this conversation).
    pub prompt: String,
    /// Directory Codex works in. Absolute, or relative to the project root (the client's
    /// root, else this server's working directory); default: the project root.
    #[serde(default)]
    pub cwd: Option<String>,
    /// Sandbox for Codex's commands and edits; default: Codex's own configuration.
    /// Use workspace-write to let it edit files.
    #[serde(default)]
    pub sandbox: Option<Sandbox>,
    /// Model for Codex (e.g. gpt-5.5); default: Codex's own configuration.
    #[serde(default)]
    pub model: Option<String>,
    /// Codex config overrides, each `key=value` with a TOML value, passed to `codex exec -c`
    /// (e.g. `model_reasoning_effort="high"`).
    #[serde(default)]
    pub config: Vec<String>,
    /// Wall-clock limit in seconds; the task ends `timed_out` after it. Default: the
    /// daemon's (2 hours unless configured).
    #[serde(default)]
    pub timeout_seconds: Option<u64>,
    /// Labels to find the task by later (codex_list's `label` filter; `codexctl list
    /// --label`), e.g. the feature or ticket it belongs to.
    #[serde(default)]
    pub labels: Vec<String>,
    /// "worktree": run in a git worktree of its own (made from HEAD plus the user's
    /// uncommitted changes), leaving the user's tree untouched until codex_apply.
    #[serde(default)]
    pub isolation: Option<IsolationArg>,
    /// Best-of-N: this many attempts (1-8), each in its own worktree from the same base
    /// (needs isolation "worktree"); codex_compare with the reply's group ranks them.
    #[serde(default)]
    pub attempts: Option<u32>,
    /// Stall limit in seconds: the task ends `timed_out` (stalled) after this long with no
    /// progress from codex (only error/reconnect notices). 0: no stall limit. Default: the daemon's (15 minutes unless configured).
    #[serde(default)]
    pub stall_timeout_seconds: Option<u64>,
    /// Reasoning effort (model_reasoning_effort): none, minimal, low, medium, high, xhigh.
    #[serde(default)]
    pub effort: Option<String>,
    /// Codex config profile ($CODEX_HOME/NAME.config.toml).
    #[serde(default)]
    pub profile: Option<String>,
    /// Absolute paths of images to attach to the prompt (copied when the task starts).
    #[serde(default)]
    pub images: Vec<String>,
    /// Absolute paths of extra directories Codex may write to.
    #[serde(default)]
    pub add_dirs: Vec<String>,
    /// A JSON Schema for the final answer; codex_result then carries `final_json` (the
    /// answer parsed) or `schema_error`.
    #[serde(default)]
    pub output_schema: Option<serde_json::Value>,
}

#[tool_router(router = start_router, vis = "pub(crate)")]
impl CodexServer {
    #[tool(
        name = "codex_start",
        description = "Start an OpenAI Codex task in the background and return at once with \
                       its task_id (and Codex's thread_id). Codex works on its own in cwd \
                       (default: the project root) while you keep working. Workflow: \
                       codex_start -> keep working -> run the returned wait_command \
                       (`codexctl wait <task_id>`) as a background shell command, which exits \
                       when the task ends -> codex_result.",
        annotations(
            title = "Start a Codex task",
            read_only_hint = false,
            destructive_hint = true,
            idempotent_hint = false,
            open_world_hint = true
        )
    )]
    async fn codex_start(
        &self,
        Parameters(args): Parameters<StartArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<Json<StartReply>, ToolError> {
        check_prompt(&args.prompt)?;
        check_config(&args.config)?;
        let dir = cwd::resolve_for(args.cwd.as_deref(), &ctx.peer).await?;
        let (env, env_remove) = codexd_client::forwarded_env();
        // Tool arguments win over the config file's [client] defaults.
        let defaults = codexd_client::config::client_defaults()
            .map_err(|e| ToolError::Invalid(e.to_string()))?;
        // With an idempotency key, retried once on a lost connection (never run twice).
        let task = Client::start_keyed(
            &self.connect,
            StartRequest {
                prompt: args.prompt,
                cwd: dir.dir,
                sandbox: args
                    .sandbox
                    .map(|s| s.as_str().to_string())
                    .or(defaults.sandbox),
                model: args
                    .model
                    .filter(|m| !m.trim().is_empty())
                    .or(defaults.model),
                config: args.config,
                env,
                env_remove,
                timeout_ms: timeout_ms(args.timeout_seconds),
                stall_timeout_ms: args.stall_timeout_seconds.map(|s| s.saturating_mul(1000)),
                wait_for_thread_ms: Some(WAIT_FOR_THREAD_MS),
                labels: args.labels,
                session_id: codexd_client::session_from_env(),
                request_id: None,
                isolation: args.isolation.map(Isolation::from),
                attempts: args.attempts,
                effort: args.effort,
                profile: args.profile,
                images: args.images.into_iter().map(Into::into).collect(),
                add_dirs: args.add_dirs.into_iter().map(Into::into).collect(),
                output_schema: args.output_schema,
                review: None,
            },
        )
        .await?;
        tracing::info!(task = %task.id, state = %task.state, "started");
        started(self, task, dir.how).map(Json)
    }
}
