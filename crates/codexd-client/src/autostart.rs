//! Starting `codexd` in the background when no daemon answers.
//!
//! The daemon is started detached (its own session, stdin/stdout closed, stderr appended to
//! `codexd.log` beside the socket) with the same socket, and the client waits until it
//! answers. Two clients racing to start it are fine: the second daemon exits at once
//! ("already running") and both clients connect to the first.

use crate::{ClientError, ConnectOptions};
use codexd_api::daemon_record::EXIT_SETTINGS_DIFFER;
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
    // Where this start's output begins in the (appended) log.
    let log_start = log_file.metadata().map(|m| m.len()).unwrap_or(0);
    let mut command = Command::new(&exe);
    command
        .arg("--socket")
        .arg(socket)
        // The daemon refuses when the last one on this socket used other settings.
        .arg("--autostarted")
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
            let message =
                daemon_error(&log, log_start).unwrap_or_else(|| "no error message".into());
            if status.code() == Some(EXIT_SETTINGS_DIFFER) {
                return Err(ClientError::SettingsDiffer(format!("codexd {message}")));
            }
            return Err(ClientError::Autostart(format!(
                "{} exited ({status}): {} (log: {})",
                exe.display(),
                message,
                log.display()
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

/// The error a daemon that exited wrote to its log from byte `from` on: its own
/// `codexd: ...` line (the daemon prints its fatal error so), else the argument parser's
/// `error: ...` line, else the last line that is not a backtrace frame; colour codes
/// removed.
fn daemon_error(path: &Path, from: u64) -> Option<String> {
    let bytes = std::fs::read(path).ok()?;
    let text = String::from_utf8_lossy(bytes.get(from as usize..).unwrap_or(&bytes));
    let lines: Vec<String> = text
        .lines()
        .map(strip_ansi)
        .filter(|l| !l.trim().is_empty())
        .collect();
    let own = lines.iter().rev().find(|l| l.starts_with("codexd: "));
    // A bad flag or CODEXD_* value: the argument parser's `error: ...` line.
    let usage = || lines.iter().rev().find(|l| l.starts_with("error: "));
    let chosen = own
        .or_else(usage)
        .or_else(|| lines.iter().rev().find(|l| !is_backtrace_line(l)))?;
    Some(
        chosen
            .strip_prefix("codexd: ")
            .unwrap_or(chosen)
            .to_string(),
    )
}

/// A line of a printed Rust backtrace (`  8: _start`, `at src/main.rs:1:2`, the header).
fn is_backtrace_line(line: &str) -> bool {
    let trimmed = line.trim_start();
    let frame = trimmed
        .split_once(": ")
        .is_some_and(|(n, _)| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()));
    frame
        || trimmed.starts_with("at ")
        || trimmed.starts_with("Stack backtrace:")
        || trimmed.starts_with("note: ")
}

/// `line` without ANSI escape sequences (`ESC [ ... letter`).
fn strip_ansi(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            if chars.next() == Some('[') {
                for c in chars.by_ref() {
                    if c.is_ascii_alphabetic() {
                        break;
                    }
                }
            }
            continue;
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_daemons_own_error_line_is_chosen_over_backtraces_and_old_runs() {
        let dir = std::env::temp_dir().join(format!("codexd-autostart-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let log = dir.join("codexd.log");
        let old = "codexd: an old failure\n";
        std::fs::write(
            &log,
            format!(
                "{old}\x1b[2m2026-01-01T00:00:00Z\x1b[0m \x1b[31mERROR\x1b[0m codexd: config file /x/config.toml: bad\n\
                 codexd: config file /x/config.toml: line 1, column 2: unknown field `deamon`\n\
                 \nStack backtrace:\n   0: main\n             at src/main.rs:1:2\n   8: _start\n"
            ),
        )
        .unwrap();
        assert_eq!(
            daemon_error(&log, old.len() as u64).unwrap(),
            "config file /x/config.toml: line 1, column 2: unknown field `deamon`"
        );
        std::fs::write(&log, "Error: something\n\nStack backtrace:\n   8: _start\n").unwrap();
        assert_eq!(daemon_error(&log, 0).unwrap(), "Error: something");
        std::fs::write(
            &log,
            "error: invalid value '0' for '--max-running <MAX_RUNNING>': 0 is not in 1..4294967295\n\n\
             For more information, try '--help'.\n",
        )
        .unwrap();
        assert!(daemon_error(&log, 0).unwrap().contains("--max-running"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
