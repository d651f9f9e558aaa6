//! `codexctl daemon status|stop`.

use crate::cmd::print_json;
use crate::{CmdResult, Ctx, Failure};
use codexd_client::Client;

/// Daemon subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Is the daemon up? Prints its version, pid, socket, state dir and load.
    Status {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Ask the daemon to exit. Running Codex processes are left running; the next daemon
    /// picks them up.
    Stop {
        /// Cancel every queued and running task first (and wait until they have stopped).
        #[arg(long)]
        kill_tasks: bool,
    },
}

/// Runs a daemon subcommand. Neither starts a daemon.
pub async fn run(ctx: &Ctx, command: Command) -> CmdResult {
    let socket = &ctx.connect.socket;
    let client = Client::connect(socket)
        .await
        .map_err(|e| Failure::Usage(format!("{e} (is codexd running?)")))?;
    match command {
        Command::Status { json } => {
            let info = client.version().await?;
            if json {
                return print_json(&info);
            }
            println!("codexd {} (pid {})", info.version, info.pid);
            println!("socket     {}", info.socket.display());
            println!("state dir  {}", info.state_dir.display());
            println!("codex      {}", info.codex_bin);
            println!(
                "tasks      {} running, {} queued (limit {})",
                info.running, info.queued, info.max_running
            );
            println!("up since   {}", info.started_at);
            Ok(())
        }
        Command::Stop { kill_tasks } => {
            let pid = client.version().await?.pid;
            match client.shutdown(kill_tasks).await {
                // The daemon may close the connection before its reply is written.
                Ok(()) => {}
                Err(e) if e.is_disconnect() => {}
                Err(e) => return Err(e.into()),
            }
            // The socket disappears when the daemon has exited.
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
            while Client::connect(socket).await.is_ok() {
                if std::time::Instant::now() > deadline {
                    return Err(Failure::Refused(format!(
                        "codexd (pid {pid}) is still answering after 10s"
                    )));
                }
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
            println!("codexd (pid {pid}) stopped");
            Ok(())
        }
    }
}
