//! Starting `codexd` in the background when no daemon answers.
//!
//! The daemon is started detached (its own session, stdin/stdout closed, stderr appended to
//! `codexd.log` beside the socket) with the same socket, and the client waits until it
//! answers. Two clients racing to start it are fine: the second daemon exits at once
//! ("already running") and both clients connect to the first.

use crate::{ClientError, ConnectOptions};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Name of the daemon executable.
pub const DAEMON_EXE: &str = "codexd";

/// Finds `codexd`: the explicit path, else next to the current executable, else on PATH.
pub fn find_daemon(explicit: Option<&Path>) -> Result<PathBuf, ClientError> {
    if let Some(path) = explicit {
        return Ok(path.to_path_buf());
    }
    if let Ok(exe) = std::env::current_exe()
        && let Some(dir) = exe.parent()
    {
        let sibling = dir.join(DAEMON_EXE);
        if sibling.is_file() {
            return Ok(sibling);
        }
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join(DAEMON_EXE))
        .find(|p| p.is_file())
        .ok_or_else(|| {
            ClientError::Autostart(format!(
                "{DAEMON_EXE} was not found next to this program or on PATH"
            ))
        })
}

/// The log file of an autostarted daemon: `codexd.log` beside the socket.
pub fn log_path(socket: &Path) -> PathBuf {
    socket.parent().unwrap_or(Path::new(".")).join("codexd.log")
}

/// Starts the daemon for `options.socket` and waits until it answers.
pub async fn start_daemon(options: &ConnectOptions) -> Result<(), ClientError> {
    let exe = find_daemon(options.daemon_exe.as_deref())?;
    let socket = &options.socket;
    if let Some(dir) = socket.parent() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| {
                ClientError::Autostart(format!("create socket directory {}: {e}", dir.display()))
            })?;
    }
    let log = log_path(socket);
    let log_file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(&log)
        .map_err(|e| ClientError::Autostart(format!("open {}: {e}", log.display())))?;
    let mut command = Command::new(&exe);
    command
        .arg("--socket")
        .arg(socket)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log_file);
    // SAFETY: setsid is async-signal-safe; it detaches the daemon from our terminal and
    // process group so it outlives this client.
    unsafe {
        command.pre_exec(|| {
            if libc::setsid() < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = command
        .spawn()
        .map_err(|e| ClientError::Autostart(format!("run {}: {e}", exe.display())))?;
    tracing::debug!(exe = %exe.display(), pid = child.id(), "started codexd");
    let deadline = Instant::now() + options.start_timeout;
    let mut delay = Duration::from_millis(5);
    loop {
        if crate::transport::connect(socket).await.is_ok() {
            return Ok(());
        }
        if let Ok(Some(status)) = child.try_wait() {
            // It may have lost a start race to another daemon that now answers.
            tokio::time::sleep(Duration::from_millis(50)).await;
            if crate::transport::connect(socket).await.is_ok() {
                return Ok(());
            }
            return Err(ClientError::Autostart(format!(
                "{} exited ({status}): {}",
                exe.display(),
                last_line(&log).unwrap_or_else(|| format!("see {}", log.display()))
            )));
        }
        if Instant::now() >= deadline {
            return Err(ClientError::Autostart(format!(
                "{} did not answer on {} within {:?} (log: {})",
                exe.display(),
                socket.display(),
                options.start_timeout,
                log.display()
            )));
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_millis(100));
    }
}

fn last_line(path: &Path) -> Option<String> {
    let text = std::fs::read_to_string(path).ok()?;
    text.lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .map(str::to_string)
}
