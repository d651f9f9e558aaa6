//! The MCP server: identity, instructions, and the tool router; one connection to codexd
//! per tool call.
//!
//! The server keeps no state of its own. Every tool call connects to the daemon (starting it
//! when allowed), so a restarted shim, a restarted daemon, or a second shim all see the same
//! tasks, and nothing is lost when Claude Code closes and respawns this process.

use crate::error::ToolError;
use crate::hint::Codexctl;
use codexd_client::{Client, ConnectOptions};
use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::model::{Implementation, ServerCapabilities, ServerConfig};
use rmcp::{ServerHandler, tool_handler};
use std::sync::Arc;

/// What this server tells the client about itself (shown to the model by most clients).
pub const INSTRUCTIONS: &str = "Delegate coding work to OpenAI Codex running in the background \
(through the codexd daemon) and keep working meanwhile. Workflow: codex_start returns at once \
with a task_id and a wait_command; keep doing your own work; run the wait_command \
(`codexctl wait <task_id>`) as a background shell command, which exits when the task ends, so \
you are notified without polling; then codex_result gives the answer, changed files, commands \
run and test counts. codex_wait waits up to 50 s in-call; codex_status and codex_list show \
tasks; codex_cancel stops one; codex_resume sends a follow-up prompt on a finished task's Codex \
thread. Tasks live in the daemon: they survive restarts of this server and of the editor, and \
`codexctl` sees them too.";

/// The codexd MCP server.
#[derive(Clone)]
pub struct CodexServer {
    pub(crate) connect: ConnectOptions,
    codexctl: Codexctl,
    tool_router: ToolRouter<CodexServer>,
}

impl CodexServer {
    /// A server that reaches codexd as `connect` says.
    pub fn new(connect: ConnectOptions) -> Self {
        CodexServer {
            codexctl: Codexctl::locate(&connect.socket),
            connect,
            tool_router: router(),
        }
    }

    /// A fresh connection to the daemon (started first if allowed and none answers).
    pub(crate) async fn client(&self) -> Result<Client, ToolError> {
        Ok(Client::connect_or_start(&self.connect).await?)
    }

    /// How the agent runs `codexctl` against the same daemon.
    pub(crate) fn codexctl(&self) -> &Codexctl {
        &self.codexctl
    }

    /// The tools this server offers (for tests and `--list-tools`).
    pub fn tools(&self) -> Vec<rmcp::model::Tool> {
        self.tool_router.list_all()
    }
}

/// All tools of the server: each file of `tools/` adds its tools to [`CodexServer`] as one
/// router of its own. Their schemas are made [portable](crate::schema::portable).
fn router() -> ToolRouter<CodexServer> {
    let mut router = CodexServer::start_router()
        + CodexServer::status_router()
        + CodexServer::wait_router()
        + CodexServer::result_router()
        + CodexServer::cancel_router()
        + CodexServer::list_router()
        + CodexServer::resume_router()
        + CodexServer::worktree_router()
        + CodexServer::review_router();
    for route in router.map.values_mut() {
        let tool = &mut route.attr;
        tool.input_schema = Arc::new(crate::schema::portable(&tool.input_schema));
        if let Some(output) = &tool.output_schema {
            tool.output_schema = Some(Arc::new(crate::schema::portable(output)));
        }
    }
    router
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for CodexServer {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(
                Implementation::new("codexd-mcp", env!("CARGO_PKG_VERSION"))
                    .with_title("Codex via codexd"),
            )
            .with_instructions(INSTRUCTIONS)
    }
}
