//! `codexd-mcp`: an MCP server over stdio that lets Claude Code (or any MCP client) hand
//! work to OpenAI Codex through the codexd daemon without blocking.
//!
//! It holds no state: every tool call talks to codexd through [`codexd_client`] (starting
//! the daemon when none answers, unless told not to), so tasks outlive this process, are
//! visible from `codexctl`, and can be picked up by another session.
//!
//! - [`server`]: the MCP server (identity, instructions, tool router);
//! - `tools`: one module per tool (`codex_start`, `codex_status`, `codex_wait`,
//!   `codex_result`, `codex_cancel`, `codex_list`, `codex_resume`);
//! - [`view`]: the compact task views the tools return;
//! - [`activity`]: one-line activity and readable renderings of codex's events;
//! - [`cwd`]: resolving a task's directory against the client's roots;
//! - [`hint`]: the ready-to-run `codexctl wait` line and next-step hints;
//! - [`schema`]: tool schemas without the number formats clients warn about;
//! - [`error`]: tool failures worded for the model.

pub mod activity;
pub mod cwd;
pub mod error;
pub mod hint;
pub mod schema;
pub mod server;
mod tools;
pub mod view;

pub use server::CodexServer;

use codexd_client::ConnectOptions;
use rmcp::ServiceExt;

/// Serves MCP on stdin/stdout until the client closes the connection.
pub async fn serve_stdio(connect: ConnectOptions) -> anyhow::Result<()> {
    let server = CodexServer::new(connect);
    let service = server.serve(rmcp::transport::stdio()).await?;
    let reason = service.waiting().await?;
    tracing::info!(?reason, "client closed the connection");
    Ok(())
}
