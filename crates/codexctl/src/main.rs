//! `codexctl`: the command line of codexd, for people and scripts.
//!
//! One module per subcommand under `cmd/`; `render` holds the human output. Exit codes:
//! 0 success, 1 a task did not succeed (`wait`) or the daemon refused the request,
//! 2 usage or connection errors, 124 `wait` timed out.

mod cmd;
mod render;

use clap::Parser;
use codexd_client::api::ErrorKind;
use codexd_client::{ClientError, ConnectOptions};
use std::path::PathBuf;
use std::process::ExitCode;

/// Run OpenAI Codex jobs in the background through codexd.
#[derive(Debug, Parser)]
#[command(name = "codexctl", version, propagate_version = true)]
struct Cli {
    /// The daemon's socket [default: $XDG_RUNTIME_DIR/codexd/codexd.sock].
    #[arg(long, env = "CODEXD_SOCKET", global = true)]
    socket: Option<PathBuf>,
    /// Do not start codexd when no daemon answers.
    #[arg(long, global = true)]
    no_autostart: bool,
    #[command(subcommand)]
    command: cmd::Command,
}

/// Errors with their exit codes.
#[derive(Debug)]
pub enum Failure {
    /// Bad usage, unreachable daemon (exit 2).
    Usage(String),
    /// The daemon refused the request, or a task did not succeed (exit 1).
    Refused(String),
    /// Exit with this code and no message (the command printed what it had to).
    Code(u8),
}

impl From<ClientError> for Failure {
    fn from(err: ClientError) -> Self {
        match err {
            // A wrong id or parameter is a usage error (2); exit 1 is kept for "the daemon
            // could not do it" and, in `wait`, "a task did not succeed".
            ClientError::Api(e) => match e.kind {
                ErrorKind::TaskNotFound | ErrorKind::AmbiguousId | ErrorKind::InvalidParams => {
                    Failure::Usage(e.message)
                }
                _ => Failure::Refused(e.message),
            },
            other => Failure::Usage(other.to_string()),
        }
    }
}

impl From<std::io::Error> for Failure {
    fn from(err: std::io::Error) -> Self {
        Failure::Usage(err.to_string())
    }
}

impl From<serde_json::Error> for Failure {
    fn from(err: serde_json::Error) -> Self {
        Failure::Usage(err.to_string())
    }
}

/// Result of a subcommand.
pub type CmdResult = Result<(), Failure>;

/// Shared context of subcommands.
pub struct Ctx {
    /// How to reach the daemon.
    pub connect: ConnectOptions,
}

impl Ctx {
    /// Connects (starting the daemon unless `--no-autostart`).
    pub async fn client(&self) -> Result<codexd_client::Client, Failure> {
        Ok(codexd_client::Client::connect_or_start(&self.connect).await?)
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let mut connect = ConnectOptions::new(cli.socket);
    connect.autostart = !cli.no_autostart;
    let ctx = Ctx { connect };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("codexctl: cannot start: {e}");
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(cmd::run(&ctx, cli.command)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Code(code)) => ExitCode::from(code),
        Err(Failure::Usage(message)) => {
            eprintln!("codexctl: {message}");
            ExitCode::from(2)
        }
        Err(Failure::Refused(message)) => {
            eprintln!("codexctl: {message}");
            ExitCode::from(1)
        }
    }
}
