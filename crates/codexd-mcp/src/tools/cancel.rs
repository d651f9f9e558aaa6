//! `codex_cancel`: stop a queued or running task; returns once nothing of it runs.

use crate::error::ToolError;
use crate::server::CodexServer;
use crate::view::TaskView;
use codexd_client::api::Timestamp;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::{Json, tool, tool_router};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Arguments of `codex_cancel`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct CancelArgs {
    /// The task id (or unambiguous prefix) to stop.
    pub task_id: String,
}

/// Reply of `codex_cancel`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct CancelReply {
    /// The task, now `cancelled`.
    pub task: TaskView,
    /// What to do next.
    pub next: String,
}

#[tool_router(router = cancel_router, vis = "pub(crate)")]
impl CodexServer {
    #[tool(
        name = "codex_cancel",
        description = "Stop a queued or running Codex task: its whole process tree is \
                       stopped, and the call returns once nothing of it runs. Edits Codex \
                       already made stay. Fails with a clear message if the task already ended.",
        annotations(
            title = "Cancel a Codex task",
            read_only_hint = false,
            destructive_hint = true,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    async fn codex_cancel(
        &self,
        Parameters(args): Parameters<CancelArgs>,
    ) -> Result<Json<CancelReply>, ToolError> {
        let client = self.client().await?;
        let task = client.cancel(args.task_id.trim()).await?;
        tracing::info!(task = %task.id, state = %task.state, "cancelled");
        Ok(Json(CancelReply {
            next: format!(
                "Task {} is {}. codex_result with task_id {} shows what it did before it was \
                 stopped.",
                task.id, task.state, task.id
            ),
            task: TaskView::new(&task, Timestamp::now()),
        }))
    }
}
