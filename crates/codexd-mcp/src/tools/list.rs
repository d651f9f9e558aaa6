//! `codex_list`: tasks newest first, filtered by state and directory, paged.

use crate::cwd;
use crate::error::ToolError;
use crate::server::CodexServer;
use crate::view::{StateName, TaskView};
use codexd_client::api::{ListQuery, Timestamp};
use rmcp::handler::server::wrapper::Parameters;
use rmcp::service::RequestContext;
use rmcp::{Json, RoleServer, tool, tool_router};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Default page size.
const DEFAULT_LIMIT: u32 = 20;
/// Largest page size.
const MAX_LIMIT: u32 = 100;

/// Arguments of `codex_list`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct ListArgs {
    /// Only tasks in these states (default: all).
    #[serde(default)]
    pub states: Vec<StateName>,
    /// Only tasks started in this directory or below it (a worktree task counts where it
    /// was started from): absolute, or relative to the project root ("." is the project
    /// root). Default: every directory.
    #[serde(default)]
    pub cwd: Option<String>,
    /// Page size, 1 to 100 (default 20).
    #[serde(default)]
    #[schemars(range(min = 1, max = 100))]
    pub limit: Option<u32>,
    /// The previous reply's next_cursor, for the next page.
    #[serde(default)]
    pub cursor: Option<String>,
    /// Only tasks carrying this label (given at codex_start).
    #[serde(default)]
    pub label: Option<String>,
    /// Only tasks of this kind: "exec" (plain tasks) or "review".
    #[serde(default)]
    pub kind: Option<String>,
    /// Only tasks that ended and whose result was never read (codex_result reads it).
    #[serde(default)]
    pub unread: bool,
    /// Only tasks started from this Claude Code session (the session this server runs in,
    /// by CLAUDE_CODE_SESSION_ID). An error outside a Claude Code session.
    #[serde(default)]
    pub this_session: bool,
}

/// Reply of `codex_list`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct ListReply {
    /// Tasks, newest first.
    pub tasks: Vec<TaskView>,
    /// Pass as cursor for the next page; null on the last page.
    pub next_cursor: Option<String>,
    /// The directory filter used, if any.
    pub cwd: Option<String>,
}

#[tool_router(router = list_router, vis = "pub(crate)")]
impl CodexServer {
    #[tool(
        name = "codex_list",
        description = "List Codex tasks newest first (from every session: tasks live in the \
                       codexd daemon), optionally only some states or one directory. Each \
                       entry is compact: id, state, duration, prompt and answer beginnings.",
        annotations(
            title = "List Codex tasks",
            read_only_hint = true,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    async fn codex_list(
        &self,
        Parameters(args): Parameters<ListArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<Json<ListReply>, ToolError> {
        let cwd = match args.cwd.as_deref().map(str::trim).filter(|c| !c.is_empty()) {
            Some(text) => {
                let bases = if std::path::Path::new(text).is_absolute() {
                    Vec::new()
                } else {
                    cwd::bases(&ctx.peer).await?
                };
                Some(cwd::resolve(Some(text), &bases)?.dir)
            }
            None => None,
        };
        let limit = args.limit.unwrap_or(DEFAULT_LIMIT).clamp(1, MAX_LIMIT);
        let kind = match args
            .kind
            .as_deref()
            .map(str::trim)
            .filter(|k| !k.is_empty())
        {
            Some(text) => Some(text.parse().map_err(ToolError::Invalid)?),
            None => None,
        };
        let session_id = if args.this_session {
            Some(codexd_client::session_from_env().ok_or_else(|| {
                ToolError::Invalid(
                    "this_session: CLAUDE_CODE_SESSION_ID is not set (this server was not \
                     started by a Claude Code session)"
                        .into(),
                )
            })?)
        } else {
            None
        };
        let client = self.client().await?;
        let page = client
            .list(ListQuery {
                states: args.states.into_iter().map(Into::into).collect(),
                cwd: cwd.clone(),
                limit: Some(limit),
                cursor: args.cursor.filter(|c| !c.is_empty()),
                label: args.label.filter(|l| !l.is_empty()),
                kind,
                unread: args.unread,
                session_id,
                ..ListQuery::default()
            })
            .await?;
        let now = Timestamp::now();
        Ok(Json(ListReply {
            tasks: page.tasks.iter().map(|t| TaskView::new(t, now)).collect(),
            next_cursor: page.next_cursor,
            cwd: cwd.map(|c| c.display().to_string()),
        }))
    }
}
