//! `codex_status`: one task, or the queued and running tasks of a directory, compactly, with
//! what each running task is doing now.

use super::current_activity;
use crate::cwd;
use crate::error::ToolError;
use crate::server::CodexServer;
use crate::view::TaskView;
use codexd_client::api::{ListQuery, TaskState, Timestamp};
use rmcp::handler::server::wrapper::Parameters;
use rmcp::service::RequestContext;
use rmcp::{Json, RoleServer, tool, tool_router};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Most tasks shown without a task id.
const MAX_TASKS: u32 = 20;

/// Arguments of `codex_status`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct StatusArgs {
    /// A task id (or unambiguous prefix). Without it: the queued and running tasks in cwd.
    #[serde(default)]
    pub task_id: Option<String>,
    /// Directory whose queued and running tasks to show when no task_id is given; absolute or
    /// relative to the project root (default: the project root).
    #[serde(default)]
    pub cwd: Option<String>,
}

/// Reply of `codex_status`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct StatusReply {
    /// The task asked for, or the queued and running tasks in the directory (newest first).
    pub tasks: Vec<TaskView>,
    /// What was looked at.
    pub scope: String,
    /// What to do next.
    pub next: String,
}

#[tool_router(router = status_router, vis = "pub(crate)")]
impl CodexServer {
    #[tool(
        name = "codex_status",
        description = "Compact state of one Codex task (by task_id), or of the queued and \
                       running tasks in the project directory when no task_id is given: \
                       state, duration, what Codex is doing now, the start of its answer or \
                       error. Does not wait; see codex_wait and codex_result.",
        annotations(
            title = "Codex task status",
            read_only_hint = true,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    async fn codex_status(
        &self,
        Parameters(args): Parameters<StatusArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<Json<StatusReply>, ToolError> {
        let now = Timestamp::now();
        if let Some(id) = args
            .task_id
            .as_deref()
            .map(str::trim)
            .filter(|i| !i.is_empty())
        {
            let client = self.client().await?;
            let task = client.get(id).await?;
            let activity = current_activity(&client, &task).await;
            let view = TaskView::new(&task, now).with_activity(activity);
            let next = if task.state.is_terminal() {
                crate::hint::after_done(&[task.id.as_str()])
            } else {
                crate::hint::still_running(&self.codexctl().wait_command(&[task.id.as_str()]))
            };
            return Ok(Json(StatusReply {
                tasks: vec![view],
                scope: format!("task {}", task.id),
                next,
            }));
        }
        let bases = cwd::bases(&ctx.peer).await?;
        let dir = cwd::resolve(args.cwd.as_deref(), &bases)?;
        let client = self.client().await?;
        let page = client
            .list(ListQuery {
                states: vec![TaskState::Queued, TaskState::Running],
                cwd: Some(dir.dir.clone()),
                limit: Some(MAX_TASKS),
                ..ListQuery::default()
            })
            .await?;
        let mut tasks = Vec::with_capacity(page.tasks.len());
        for task in &page.tasks {
            let activity = current_activity(&client, task).await;
            tasks.push(TaskView::new(task, now).with_activity(activity));
        }
        let ids: Vec<&str> = page.tasks.iter().map(|t| t.id.as_str()).collect();
        let next = if ids.is_empty() {
            "No queued or running Codex task here; codex_list shows every task.".to_string()
        } else {
            crate::hint::still_running(&self.codexctl().wait_command(&ids))
        };
        Ok(Json(StatusReply {
            tasks,
            scope: format!(
                "queued and running tasks in {} ({}){}",
                dir.dir.display(),
                dir.how,
                if page.next_cursor.is_some() {
                    format!("; only the newest {MAX_TASKS} are shown")
                } else {
                    String::new()
                }
            ),
            next,
        }))
    }
}
