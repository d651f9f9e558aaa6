//! `codex_resume`: a follow-up prompt on a finished task's Codex thread, as a new task.

use super::{StartReply, WAIT_FOR_THREAD_MS, check_config, check_prompt, started, timeout_ms};
use crate::error::ToolError;
use crate::server::CodexServer;
use codexd_client::Client;
use codexd_client::api::{ListQuery, ResumeRequest};
use rmcp::handler::server::wrapper::Parameters;
use rmcp::{Json, tool, tool_router};
use schemars::JsonSchema;
use serde::Deserialize;

/// Arguments of `codex_resume`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct ResumeArgs {
    /// The finished task whose Codex thread to continue. Give this or thread_id.
    #[serde(default)]
    pub task_id: Option<String>,
    /// Or Codex's thread id: the newest task of that thread is continued.
    #[serde(default)]
    pub thread_id: Option<String>,
    /// The follow-up prompt (Codex remembers the thread's earlier turns).
    pub prompt: String,
    /// Model for this turn; default: the earlier task's.
    #[serde(default)]
    pub model: Option<String>,
    /// Extra `key=value` config overrides, added to the earlier task's.
    #[serde(default)]
    pub config: Vec<String>,
    /// Wall-clock limit in seconds; default: the earlier task's.
    #[serde(default)]
    pub timeout_seconds: Option<u64>,
    /// Stall limit in seconds: the task ends `timed_out` (stalled) after this long with no
    /// progress from codex (only error/reconnect notices). 0: no stall limit. Default: the earlier task's.
    #[serde(default)]
    pub stall_timeout_seconds: Option<u64>,
    /// Reasoning effort (model_reasoning_effort): none, minimal, low, medium, high, xhigh.
    #[serde(default)]
    pub effort: Option<String>,
    /// Codex config profile ($CODEX_HOME/NAME.config.toml).
    #[serde(default)]
    pub profile: Option<String>,
    /// Absolute paths of images to attach to the prompt (copied when the task starts; not inherited).
    #[serde(default)]
    pub images: Vec<String>,
    /// Absolute paths of extra directories Codex may write to.
    #[serde(default)]
    pub add_dirs: Vec<String>,
    /// A JSON Schema for the final answer; codex_result then carries `final_json` (the
    /// answer parsed) or `schema_error`.
    #[serde(default)]
    pub output_schema: Option<serde_json::Value>,
    /// true: fork the thread instead (`codex exec fork`): a new thread that starts from the
    /// earlier conversation, leaving the earlier thread as it is.
    #[serde(default)]
    pub fork: bool,
}

#[tool_router(router = resume_router, vis = "pub(crate)")]
impl CodexServer {
    #[tool(
        name = "codex_resume",
        description = "Continue a finished Codex task's thread with a follow-up prompt (Codex \
                       keeps the earlier context), as a new background task in the same \
                       directory and sandbox. Give task_id or thread_id. Returns at once like \
                       codex_start, with a wait_command to run in the background.",
        annotations(
            title = "Resume a Codex thread",
            read_only_hint = false,
            destructive_hint = true,
            idempotent_hint = false,
            open_world_hint = true
        )
    )]
    async fn codex_resume(
        &self,
        Parameters(args): Parameters<ResumeArgs>,
    ) -> Result<Json<StartReply>, ToolError> {
        check_prompt(&args.prompt)?;
        check_config(&args.config)?;
        let task_id = args
            .task_id
            .as_deref()
            .map(str::trim)
            .filter(|t| !t.is_empty());
        let thread_id = args
            .thread_id
            .as_deref()
            .map(str::trim)
            .filter(|t| !t.is_empty());
        let client = self.client().await?;
        let parent = match (task_id, thread_id) {
            (Some(task), None) => task.to_string(),
            (None, Some(thread)) => task_of_thread(&client, thread).await?,
            _ => {
                return Err(ToolError::Invalid(
                    "give exactly one of task_id and thread_id".into(),
                ));
            }
        };
        let (env, env_remove) = codexd_client::forwarded_env();
        drop(client);
        // With an idempotency key, retried once on a lost connection (never run twice).
        let task = Client::resume_keyed(
            &self.connect,
            ResumeRequest {
                task: parent,
                prompt: args.prompt,
                model: args.model.filter(|m| !m.trim().is_empty()),
                config: args.config,
                env,
                env_remove,
                timeout_ms: timeout_ms(args.timeout_seconds),
                stall_timeout_ms: args.stall_timeout_seconds.map(|s| s.saturating_mul(1000)),
                wait_for_thread_ms: Some(WAIT_FOR_THREAD_MS),
                labels: Vec::new(),
                session_id: codexd_client::session_from_env(),
                request_id: None,
                effort: args.effort,
                profile: args.profile,
                images: args.images.into_iter().map(Into::into).collect(),
                add_dirs: args.add_dirs.into_iter().map(Into::into).collect(),
                output_schema: args.output_schema,
                fork: args.fork,
            },
        )
        .await?;
        tracing::info!(task = %task.id, parent = ?task.parent, "resumed");
        started(self, task, "the resumed task's directory".into()).map(Json)
    }
}

/// The newest task of a Codex thread.
async fn task_of_thread(client: &Client, thread: &str) -> Result<String, ToolError> {
    let page = client
        .list(ListQuery {
            thread_id: Some(thread.to_string()),
            limit: Some(1),
            ..ListQuery::default()
        })
        .await?;
    match page.tasks.first() {
        Some(task) => Ok(task.id.to_string()),
        None => Err(ToolError::UnknownTask(format!(
            "no task has Codex thread {thread}"
        ))),
    }
}
