//! The daemon record: which state directory and codex binary the daemon serving a socket
//! uses. The daemon writes it beside the socket (`<socket>.json`, mode 0600) when it starts
//! serving and leaves it when it exits, so that the next daemon started *for a client*
//! (autostart) can tell that it would use other settings than the last one, which would
//! make the tasks still running under that state directory unknown to it.

use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// What a daemon records beside its socket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DaemonRecord {
    /// The daemon's state directory (absolute).
    pub state_dir: PathBuf,
    /// The codex binary it runs (a path, or a name looked up on PATH).
    pub codex_bin: String,
    /// Its process id (for people reading the file; not relied on).
    pub pid: u32,
    /// Its version.
    pub version: String,
}

/// Where the record of the daemon serving `socket` is: `<socket>.json`.
pub fn record_path(socket: &Path) -> PathBuf {
    let mut path = socket.as_os_str().to_owned();
    path.push(".json");
    PathBuf::from(path)
}

/// The exit code of a daemon that refused an autostart because the last daemon on its
/// socket used other settings (EX_CONFIG); clients report it as final, not retried.
pub const EXIT_SETTINGS_DIFFER: i32 = 78;
