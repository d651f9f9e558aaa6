//! Test support for codexd's end-to-end tests: a scriptable model server on 127.0.0.1,
//! the pinned real Codex CLI, and helpers that run the workspace's binaries.

pub mod anthropic;
pub mod claude_cli;
pub mod codex_cli;
pub mod daemon;
pub mod model_server;
pub mod mount;
pub mod npm;
