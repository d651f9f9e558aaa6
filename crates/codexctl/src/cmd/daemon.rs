//! `codexctl daemon status|stop|install|uninstall`.

mod install;

pub use install::service_files;

use crate::cmd::print_json;
use crate::{CmdResult, Ctx, Failure, out};
use codexd_client::{Client, ClientError};
use std::io::ErrorKind;
use std::path::Path;
use std::time::{Duration, Instant};

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
    /// Run codexd as a service of your user: write the systemd user units (Linux) or the
    /// launchd agent (macOS) for the codexd beside this codexctl, then enable and start them.
    Install(install::InstallArgs),
    /// Stop and remove the service files written by `install`. The state directory and
    /// running tasks are left alone.
    Uninstall(install::UninstallArgs),
}

/// Runs a daemon subcommand. None starts a daemon by itself (with socket activation,
/// connecting to the socket may).
pub async fn run(ctx: &Ctx, command: Command) -> CmdResult {
    let socket = &ctx.connect.socket;
    let kill_tasks = match command {
        Command::Install(args) => return install::install(ctx, args).await,
        Command::Uninstall(args) => return install::uninstall(args),
        Command::Status { json } => return status(socket, json).await,
        Command::Stop { kill_tasks } => kill_tasks,
    };
    let client = connect(socket).await?;
    let pid = stop(client, kill_tasks).await?;
    out::line(format_args!("codexd (pid {pid}) stopped"))
}

/// Connects without starting a daemon: nothing listening on the socket (no socket file, or
/// a stale one) is [`Failure::NotRunning`].
async fn connect(socket: &Path) -> Result<Client, Failure> {
    match Client::connect(socket).await {
        Ok(client) => Ok(client),
        Err(ClientError::Connect { source, .. })
            if matches!(
                source.kind(),
                ErrorKind::NotFound | ErrorKind::ConnectionRefused
            ) =>
        {
            Err(Failure::NotRunning(socket.to_path_buf()))
        }
        Err(e) => Err(Failure::Usage(format!("{e} (is codexd running?)"))),
    }
}

/// `daemon status`.
async fn status(socket: &Path, json: bool) -> CmdResult {
    let info = connect(socket).await?.version().await?;
    if json {
        return print_json(&info);
    }
    out::text(&format!(
        "codexd {} (pid {})\nsocket     {}\nstate dir  {}\ncodex      {}\n\
         tasks      {} running, {} queued (limit {})\nup since   {}\n",
        info.version,
        info.pid,
        info.socket.display(),
        info.state_dir.display(),
        info.codex_bin,
        info.running,
        info.queued,
        info.max_running,
        crate::render::time(info.started_at),
    ))
}

/// Asks the daemon behind `client` to exit and waits (at most 10 s) until it has; returns
/// its pid.
async fn stop(client: Client, kill_tasks: bool) -> Result<u32, Failure> {
    let pid = client.version().await?.pid;
    let socket = client.socket().to_path_buf();
    match client.shutdown(kill_tasks).await {
        // The daemon may close the connection before its reply is written.
        Ok(()) => {}
        Err(e) if e.is_disconnect() => {}
        Err(e) => return Err(e.into()),
    }
    drop(client);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !daemon_gone(pid, &socket).await {
        if Instant::now() > deadline {
            return Err(Failure::Refused(format!(
                "codexd (pid {pid}) is still answering after 10s"
            )));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(pid)
}

/// Whether the daemon `pid` has exited. Where `/proc` shows processes, its entry decides
/// (an exited process that is not reaped yet counts as gone), without connecting: under
/// socket activation a connection would start the daemon again. Elsewhere, it is gone when
/// the pid is or its socket no longer answers (a daemon removes its own socket on exit).
async fn daemon_gone(pid: u32, socket: &Path) -> bool {
    if Path::new("/proc/self/stat").exists() {
        return match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
            // The state follows the parenthesised command name.
            Ok(stat) => stat
                .rfind(')')
                .is_some_and(|i| stat[i + 1..].trim_start().starts_with(['Z', 'X'])),
            Err(_) => true,
        };
    }
    // SAFETY: signal 0 only checks that the process exists.
    let gone = unsafe { libc::kill(pid as libc::pid_t, 0) } != 0
        && std::io::Error::last_os_error().raw_os_error() == Some(libc::ESRCH);
    gone || Client::connect(socket).await.is_err()
}
