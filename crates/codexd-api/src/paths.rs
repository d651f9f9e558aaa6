//! Default locations of the daemon's socket and state directory.
//!
//! Both the daemon and the client crate resolve defaults here, so `codexctl` started with no
//! flags talks to the daemon that `codexd` started with no flags.

use std::path::PathBuf;

/// Name of the socket file inside its directory.
pub const SOCKET_FILE: &str = "codexd.sock";

/// The effective user id of this process.
pub fn current_uid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

/// Default socket: `$XDG_RUNTIME_DIR/codexd/codexd.sock`, or `/tmp/codexd-<uid>/codexd.sock`
/// when `XDG_RUNTIME_DIR` is unset or empty.
pub fn default_socket() -> PathBuf {
    match std::env::var_os("XDG_RUNTIME_DIR").filter(|v| !v.is_empty()) {
        Some(dir) => PathBuf::from(dir).join("codexd").join(SOCKET_FILE),
        None => std::env::temp_dir()
            .join(format!("codexd-{}", current_uid()))
            .join(SOCKET_FILE),
    }
}

/// Default state directory: `$XDG_STATE_HOME/codexd`, else `$HOME/.local/state/codexd`.
pub fn default_state_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("XDG_STATE_HOME").filter(|v| !v.is_empty()) {
        return Some(PathBuf::from(dir).join("codexd"));
    }
    std::env::var_os("HOME")
        .filter(|v| !v.is_empty())
        .map(|home| PathBuf::from(home).join(".local/state/codexd"))
}
