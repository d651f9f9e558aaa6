//! Daemon configuration, from flags and environment (see `main.rs` for the flag names).

use std::path::PathBuf;
use std::time::Duration;

/// Everything the daemon needs to know at start-up.
#[derive(Debug, Clone)]
pub struct Config {
    /// The Unix socket to serve.
    pub socket: PathBuf,
    /// The state directory (registry and task directories).
    pub state_dir: PathBuf,
    /// The codex binary: a path, or a name looked up on the task's PATH.
    pub codex_bin: String,
    /// Limit on concurrently running tasks.
    pub max_running: u32,
    /// Wall-clock limit for tasks that do not set one.
    pub default_timeout: Option<Duration>,
    /// Time between SIGINT and SIGKILL when stopping a run.
    pub kill_grace: Duration,
    /// The executable used as the per-run supervisor (`<exe> run-task`): this binary.
    pub runner_exe: PathBuf,
    /// Extra redaction rules `(name, regex)`, from the config file and `--redact-pattern`.
    pub redact_patterns: Vec<(String, String)>,
    /// Move the registry aside and rebuild it from the task directories at start-up.
    pub rebuild_registry: bool,
    /// Finished tasks older than this are pruned on a schedule (none when `None`).
    pub retention: Option<Duration>,
    /// How often the scheduled prune runs.
    pub prune_every: Duration,
    /// Where held values of queued tasks live (see [`crate::run::held`]); `None` means the
    /// socket's directory.
    pub runtime_dir: Option<PathBuf>,
    /// Most bytes of event log kept per task.
    pub max_log_bytes: u64,
    /// Idle connections are closed after this long.
    pub idle_timeout: Duration,
}

impl Config {
    /// The sled database directory.
    pub fn registry_path(&self) -> PathBuf {
        self.state_dir.join("registry")
    }

    /// The directory for values held only in memory-backed storage.
    pub fn runtime_dir(&self) -> PathBuf {
        match &self.runtime_dir {
            Some(dir) => dir.clone(),
            None => self
                .socket
                .parent()
                .map(|p| p.to_path_buf())
                .unwrap_or_else(|| PathBuf::from("/")),
        }
    }

    /// The directory holding one directory per task.
    pub fn tasks_root(&self) -> PathBuf {
        self.state_dir.join("tasks")
    }
}

/// The optional config file (`--config`, default `$XDG_CONFIG_HOME/codexd/config.toml`):
///
/// ```toml
/// # Extra secret patterns: rule name = regex (Rust regex syntax). Matches are replaced
/// # with [REDACTED:<name>] before anything is stored or returned.
/// [redact.patterns]
/// acme-token = "acme_[a-z0-9]{32}"
/// ```
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// Redaction settings.
    #[serde(default)]
    pub redact: RedactSection,
}

/// `[redact]` of the config file.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedactSection {
    /// Extra rules: name → regex.
    #[serde(default)]
    pub patterns: std::collections::BTreeMap<String, String>,
}

/// Config-file failures, naming the file.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("config file {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The file is not valid.
    #[error("config file {}: {message}", path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
}

/// The default config file location, if a config home is known.
pub fn default_config_file() -> Option<PathBuf> {
    match std::env::var_os("XDG_CONFIG_HOME").filter(|v| !v.is_empty()) {
        Some(dir) => Some(PathBuf::from(dir).join("codexd/config.toml")),
        None => std::env::var_os("HOME")
            .filter(|v| !v.is_empty())
            .map(|home| PathBuf::from(home).join(".config/codexd/config.toml")),
    }
}

/// Loads the config file. An explicitly named file must exist; the default one may not.
pub fn load_file(path: &std::path::Path, explicit: bool) -> Result<FileConfig, ConfigError> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !explicit => {
            return Ok(FileConfig::default());
        }
        Err(source) => {
            return Err(ConfigError::Read {
                path: path.to_path_buf(),
                source,
            });
        }
    };
    toml::from_str(&text).map_err(|e| ConfigError::Parse {
        path: path.to_path_buf(),
        message: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_file_patterns_parse_and_typos_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        std::fs::write(
            &path,
            "[redact.patterns]\nacme-token = \"acme_[a-z0-9]{32}\"\n",
        )
        .unwrap();
        let config = load_file(&path, true).unwrap();
        assert_eq!(config.redact.patterns["acme-token"], "acme_[a-z0-9]{32}");
        std::fs::write(&path, "[redact]\npaterns = {}\n").unwrap();
        let err = load_file(&path, true).unwrap_err().to_string();
        assert!(
            err.contains("config.toml") && err.contains("paterns"),
            "{err}"
        );
        assert!(load_file(&dir.path().join("missing.toml"), false).is_ok());
        assert!(load_file(&dir.path().join("missing.toml"), true).is_err());
    }
}
