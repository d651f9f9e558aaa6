//! The daemon record beside the socket (see [`codexd_api::daemon_record`]): written once
//! this daemon owns the socket, and checked before an autostarted daemon takes anything, so
//! a client cannot silently start a daemon with another state directory or codex binary
//! than the last one on the same socket.

use crate::config::Config;
use crate::files::{FileError, write_atomic};
use codexd_api::daemon_record::{DaemonRecord, record_path};
use std::path::PathBuf;

/// Why an autostarted daemon refused to start.
#[derive(Debug, thiserror::Error)]
#[error(
    "was not started for the client: the last daemon on {socket} used {previous}, this one would use {this}; \
     tasks of the last one would be unknown to it. Start it yourself with the same settings \
     (`codexd --socket {socket} --state-dir {previous_state} --codex-bin {previous_bin}`), \
     or start `codexd --socket {socket}` once by hand to make the new settings the ones \
     clients may start (record: {record})",
    socket = .socket.display(),
    previous_state = .previous.state_dir.display(),
    previous_bin = .previous.codex_bin,
    previous = Describe(&.previous.state_dir, &.previous.codex_bin),
    this = Describe(&.this.state_dir, &.this.codex_bin),
    record = .record.display(),
)]
pub struct SettingsDiffer {
    /// The socket both daemons are for.
    pub socket: PathBuf,
    /// The record file.
    pub record: PathBuf,
    /// What the last daemon used.
    pub previous: DaemonRecord,
    /// What this one would use.
    pub this: DaemonRecord,
}

/// `state dir X with codex Y`, for [`SettingsDiffer`]'s message.
struct Describe<'a>(&'a std::path::Path, &'a str);

impl std::fmt::Display for Describe<'_> {
    /// Formats the pair for a person.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "state dir {} with codex {}", self.0.display(), self.1)
    }
}

/// The record this daemon writes for `config`.
pub fn record_for(config: &Config) -> DaemonRecord {
    DaemonRecord {
        state_dir: config.state_dir.clone(),
        codex_bin: config.codex_bin.clone(),
        pid: std::process::id(),
        version: codexd_api::VERSION.to_string(),
    }
}

/// Checks, for a daemon started by a client, that the last daemon on the socket used the
/// same state directory and codex binary. No record (first start, or removed by hand) or an
/// unreadable one passes: there is nothing to contradict.
pub fn check_autostart(config: &Config) -> Result<(), Box<SettingsDiffer>> {
    let record = record_path(&config.socket);
    let Some(previous) = std::fs::read(&record)
        .ok()
        .and_then(|bytes| serde_json::from_slice::<DaemonRecord>(&bytes).ok())
    else {
        return Ok(());
    };
    let this = record_for(config);
    if previous.state_dir == this.state_dir && previous.codex_bin == this.codex_bin {
        return Ok(());
    }
    Err(Box::new(SettingsDiffer {
        socket: config.socket.clone(),
        record,
        previous,
        this,
    }))
}

/// Writes the record for this daemon (once it owns the socket).
pub fn write(config: &Config) -> Result<(), FileError> {
    let record = record_for(config);
    // Serializing a struct of strings cannot fail.
    let bytes = serde_json::to_vec_pretty(&record).unwrap_or_default();
    write_atomic(&record_path(&config.socket), &bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A config for a socket in `dir` with the given settings.
    fn config(dir: &std::path::Path, state: &str, bin: &str) -> Config {
        let supervisor = crate::run::test_support::idle_supervisor(&dir.join("scratch"));
        let mut config = supervisor.config().clone();
        config.socket = dir.join("codexd.sock");
        config.state_dir = dir.join(state);
        config.codex_bin = bin.to_string();
        config
    }

    #[test]
    fn an_autostart_with_other_settings_is_refused_naming_both() {
        let dir = tempfile::tempdir().unwrap();
        // Nothing recorded yet: any settings may start.
        check_autostart(&config(dir.path(), "default", "codex")).unwrap();
        write(&config(dir.path(), "custom", "/opt/codex")).unwrap();
        let mode = std::os::unix::fs::PermissionsExt::mode(
            &std::fs::metadata(dir.path().join("codexd.sock.json"))
                .unwrap()
                .permissions(),
        );
        assert_eq!(mode & 0o777, 0o600);
        check_autostart(&config(dir.path(), "custom", "/opt/codex")).unwrap();
        let err = check_autostart(&config(dir.path(), "default", "codex")).unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains(&dir.path().join("custom").display().to_string()),
            "{text}"
        );
        assert!(
            text.contains(&dir.path().join("default").display().to_string()),
            "{text}"
        );
        assert!(text.contains("--codex-bin /opt/codex"), "{text}");
        // Only the codex binary differs: refused too.
        assert!(check_autostart(&config(dir.path(), "custom", "codex")).is_err());
    }

    #[test]
    fn an_unreadable_record_does_not_block_a_start() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("codexd.sock.json"), b"{garbage").unwrap();
        check_autostart(&config(dir.path(), "default", "codex")).unwrap();
    }
}
