//! `codexd-mcp`: the MCP shim binary. Flags and logging; everything else is in the library.
//!
//! stdout carries MCP frames only; logs go to stderr (`RUST_LOG`, default `info`).

use clap::Parser;
use codexd_client::ConnectOptions;
use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

/// MCP server (stdio) for running OpenAI Codex tasks in the background through codexd.
#[derive(Debug, Parser)]
#[command(name = "codexd-mcp", version)]
struct Args {
    /// The daemon's socket [default: $XDG_RUNTIME_DIR/codexd/codexd.sock].
    #[arg(long, env = "CODEXD_SOCKET")]
    socket: Option<PathBuf>,
    /// Do not start codexd when no daemon answers.
    #[arg(long)]
    no_autostart: bool,
    /// Print the tools with their schemas as JSON and exit.
    #[arg(long)]
    list_tools: bool,
}

fn main() -> ExitCode {
    let args = Args::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .init();
    let mut connect = ConnectOptions::new(args.socket);
    connect.autostart = !args.no_autostart;
    if args.list_tools {
        let tools = codexd_mcp::CodexServer::new(connect).tools();
        let written = serde_json::to_string_pretty(&tools)
            .map_err(std::io::Error::other)
            .and_then(|json| writeln!(std::io::stdout().lock(), "{json}"));
        return match written {
            Ok(()) => ExitCode::SUCCESS,
            // A reader that stopped early (`| head`) is not an error.
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("codexd-mcp: {e}");
                ExitCode::FAILURE
            }
        };
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("codexd-mcp: cannot start: {e}");
            return ExitCode::FAILURE;
        }
    };
    tracing::info!(socket = %connect.socket.display(), autostart = connect.autostart, "serving MCP on stdio");
    match runtime.block_on(codexd_mcp::serve_stdio(connect)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            ExitCode::FAILURE
        }
    }
}
