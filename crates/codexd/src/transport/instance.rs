//! One daemon per state directory and per socket.
//!
//! Each is guarded by an exclusive lock on a file (held for the daemon's lifetime; the OS
//! drops it if the daemon dies), so a second `codexd` exits with a clear error instead of
//! displacing the first. A socket file with no lock holder and no listener is stale (a
//! crashed daemon) and is reclaimed. A socket passed by systemd (socket activation) is
//! served as it is: never unlinked, but locked like one of our own.

use crate::files::private_dir;
use anyhow::{Context, bail};
use interprocess::local_socket::tokio::Listener;
use interprocess::local_socket::{GenericFilePath, ListenerOptions, ToFsName};
use interprocess::os::unix::local_socket::ListenerOptionsExt;
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Holds an instance lock until dropped.
#[derive(Debug)]
pub struct InstanceLock {
    _file: File,
}

/// Removes the socket file when the daemon exits cleanly (unless systemd owns it), and
/// holds the socket's lock until then.
#[derive(Debug)]
pub struct SocketGuard {
    /// The file to remove, `None` for a socket passed by systemd.
    path: Option<PathBuf>,
    _lock: Option<InstanceLock>,
}

impl Drop for SocketGuard {
    fn drop(&mut self) {
        if let Some(path) = &self.path {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// Takes the exclusive lock `path`, writing our pid into it; `what` names the resource in
/// the error a second daemon gets.
fn take_lock(path: &Path, what: &str) -> anyhow::Result<InstanceLock> {
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("open lock file {}", path.display()))?;
    if let Err(e) = file.try_lock() {
        let mut holder = String::new();
        let _ = file.read_to_string(&mut holder);
        let holder = holder.trim();
        let by = if holder.is_empty() {
            String::new()
        } else {
            format!(" (pid {holder})")
        };
        match e {
            std::fs::TryLockError::WouldBlock => {
                bail!("another codexd is already running{by} with {what}")
            }
            std::fs::TryLockError::Error(e) => {
                return Err(e).with_context(|| format!("lock {}", path.display()));
            }
        }
    }
    file.set_len(0)?;
    write!(file, "{}", std::process::id())?;
    Ok(InstanceLock { _file: file })
}

/// Locks the state directory (creating it, private) for this daemon.
pub fn lock_state_dir(state_dir: &Path) -> anyhow::Result<InstanceLock> {
    private_dir(state_dir)?;
    take_lock(
        &state_dir.join("codexd.lock"),
        &format!("state directory {}", state_dir.display()),
    )
}

/// Binds the socket: private directory, lock, stale-file reclaim, mode 0600.
pub fn bind_socket(socket: &Path) -> anyhow::Result<(Listener, SocketGuard)> {
    let dir = socket
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .context("the socket path has no directory")?;
    private_dir(dir)?;
    let lock = lock_socket(socket)?;
    if socket.exists() {
        // We hold the lock, so no daemon of ours owns this file; check that nothing else
        // listens on it either before removing it.
        match std::os::unix::net::UnixStream::connect(socket) {
            Ok(_) => bail!(
                "another process is listening on socket {}: not displacing it",
                socket.display()
            ),
            Err(_) => {
                tracing::info!(socket = %socket.display(), "removing a stale socket file");
                std::fs::remove_file(socket)
                    .with_context(|| format!("remove stale socket {}", socket.display()))?;
            }
        }
    }
    let name = socket
        .to_fs_name::<GenericFilePath>()
        .with_context(|| format!("socket name {}", socket.display()))?;
    let listener = ListenerOptions::new()
        .name(name)
        .mode(0o600)
        .create_tokio()
        .with_context(|| format!("bind socket {}", socket.display()))?;
    // Belt and braces where the mode option is not supported before bind.
    std::fs::set_permissions(socket, std::fs::Permissions::from_mode(0o600))
        .with_context(|| format!("chmod 0600 {}", socket.display()))?;
    Ok((
        listener,
        SocketGuard {
            path: Some(socket.to_path_buf()),
            _lock: Some(lock),
        },
    ))
}

/// Takes the lock `<socket>.lock` beside the socket file.
fn lock_socket(socket: &Path) -> anyhow::Result<InstanceLock> {
    let mut lock_path = socket.as_os_str().to_owned();
    lock_path.push(".lock");
    take_lock(
        Path::new(&lock_path),
        &format!("socket {}", socket.display()),
    )
}

/// Serves the listening socket systemd passed (socket activation) instead of binding one.
/// Its directory must be ours and private, and its lock is taken as for a socket of our
/// own; the file is systemd's, so it is never removed (nor its mode changed: systemd sets
/// it from `SocketMode=`). Peers are still checked by uid on every connection.
pub fn adopt_socket(
    activated: crate::transport::systemd::ActivatedSocket,
) -> anyhow::Result<(Listener, SocketGuard)> {
    let lock = match activated.path() {
        Some(socket) => {
            if let Some(dir) = socket.parent().filter(|d| !d.as_os_str().is_empty()) {
                private_dir(dir)?;
            }
            if let Ok(meta) = std::fs::metadata(socket)
                && meta.mode() & 0o077 != 0
            {
                tracing::warn!(
                    socket = %socket.display(),
                    mode = format_args!("{:o}", meta.mode() & 0o777),
                    "the activated socket is accessible to others (set SocketMode=0600); \
                     other users are still refused"
                );
            }
            Some(lock_socket(socket)?)
        }
        None => None,
    };
    let std_listener = activated.into_listener();
    let fd = std::os::fd::OwnedFd::from(std_listener);
    let uds = interprocess::os::unix::uds_local_socket::tokio::Listener::try_from(fd)
        .context("serve the socket passed by systemd")?;
    Ok((
        Listener::from(uds),
        SocketGuard {
            path: None,
            _lock: lock,
        },
    ))
}
