//! Daemon configuration, from flags and environment (see `main.rs` for the flag names).

use std::path::{Path, PathBuf};
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
    /// Wall-clock limit for tasks that do not set one (`None`: none).
    pub default_timeout: Option<Duration>,
    /// Stall limit for tasks that do not set one (`None`: none; see [`DEFAULT_STALL`]).
    pub default_stall_timeout: Option<Duration>,
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

    /// Why the configured codex binary cannot be run, if it cannot: checked at start-up
    /// only to warn (the daemon serves anyway; a task started while it is missing fails
    /// with the same message). A name is looked up on the daemon's own PATH here, while each
    /// task looks it up on its own.
    pub fn codex_bin_problem(&self) -> Option<String> {
        use std::os::unix::fs::PermissionsExt;
        let executable = |p: &Path| {
            std::fs::metadata(p)
                .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
                .unwrap_or(false)
        };
        let fix = "install the Codex CLI (npm install -g @openai/codex) or point --codex-bin, \
                   CODEXD_CODEX_BIN or codex_bin in the config file's [daemon] table at it";
        if self.codex_bin.contains('/') {
            let path = Path::new(&self.codex_bin);
            if executable(path) {
                return None;
            }
            let what = if path.exists() {
                "is not an executable file"
            } else {
                "does not exist"
            };
            return Some(format!(
                "codex binary {} {what}: tasks will fail until it does; {fix}",
                self.codex_bin
            ));
        }
        let path = std::env::var_os("PATH").unwrap_or_default();
        if std::env::split_paths(&path).any(|dir| executable(&dir.join(&self.codex_bin))) {
            return None;
        }
        Some(format!(
            "codex binary {:?} is not on the daemon's PATH: tasks whose PATH does not have it \
             will fail; {fix}",
            self.codex_bin
        ))
    }

    /// The directory holding one directory per task.
    pub fn tasks_root(&self) -> PathBuf {
        self.state_dir.join("tasks")
    }

    /// The directory holding the worktrees of worktree tasks (one per task id).
    pub fn worktrees_root(&self) -> PathBuf {
        self.state_dir.join("worktrees")
    }
}

/// The optional config file (`--config`, default `$XDG_CONFIG_HOME/codexd/config.toml`).
/// Every table and key is optional; unknown ones are errors naming the file and the key.
///
/// ```toml
/// [daemon]            # the daemon's settings: a flag or CODEXD_* variable wins over these
/// max_running = 2
/// default_timeout = "30m"        # "0": no wall-clock limit (default 2h)
/// default_stall_timeout = "5m"   # "0": no stall limit (default 15m)
///
/// [client]            # defaults of the clients (codexctl start, the MCP shim)
/// sandbox = "workspace-write"
///
/// # Extra secret patterns: rule name = regex (Rust regex syntax). Matches are replaced
/// # with [REDACTED:<name>] before anything is stored or returned.
/// [redact.patterns]
/// acme-token = "acme_[a-z0-9]{32}"
/// ```
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// The daemon's settings, as written (see [`DaemonSection::settings`]).
    #[serde(default)]
    pub daemon: DaemonSection,
    /// Client defaults (read by the clients; checked here so a typo is caught either way).
    #[serde(default)]
    pub client: codexd_api::config::ClientDefaults,
    /// Redaction settings.
    #[serde(default)]
    pub redact: RedactSection,
}

/// A size as the file may write it: a number of bytes or a string such as `"512MiB"`.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(untagged)]
pub enum SizeValue {
    /// Bytes.
    Bytes(u64),
    /// A size with a unit.
    Text(String),
}

/// `[daemon]` of the config file: one key per `codexd` flag (same name, `_` for `-`), same
/// value syntax. `--socket` is not here: clients must find the socket without reading the
/// daemon's config, so it comes from `--socket`/`CODEXD_SOCKET` only.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DaemonSection {
    /// `--state-dir`.
    pub state_dir: Option<PathBuf>,
    /// `--codex-bin`.
    pub codex_bin: Option<String>,
    /// `--max-running`.
    pub max_running: Option<u32>,
    /// `--default-timeout` (`"0"`: none).
    pub default_timeout: Option<String>,
    /// `--default-stall-timeout` (`"0"`: none).
    pub default_stall_timeout: Option<String>,
    /// `--kill-grace`.
    pub kill_grace: Option<String>,
    /// `--retention` (a duration or `"off"`).
    pub retention: Option<String>,
    /// `--prune-every`.
    pub prune_every: Option<String>,
    /// `--runtime-dir`.
    pub runtime_dir: Option<PathBuf>,
    /// `--max-log-size`.
    pub max_log_size: Option<SizeValue>,
    /// `--idle-timeout`.
    pub idle_timeout: Option<String>,
}

/// `[daemon]` parsed: every value checked, relative paths resolved against the file's
/// directory. `None` where the file says nothing.
#[derive(Debug, Default, Clone)]
pub struct DaemonSettings {
    /// `state_dir`.
    pub state_dir: Option<PathBuf>,
    /// `codex_bin` (a path when it holds a `/`, else a name).
    pub codex_bin: Option<String>,
    /// `max_running`.
    pub max_running: Option<u32>,
    /// `default_timeout` (`Some(None)` is `"0"`, none).
    pub default_timeout: Option<Limit>,
    /// `default_stall_timeout` (`Some(None)` is `"0"`, none).
    pub default_stall_timeout: Option<Limit>,
    /// `kill_grace`.
    pub kill_grace: Option<Duration>,
    /// `retention` (`Some(None)` is `"off"`).
    pub retention: Option<Retention>,
    /// `prune_every`.
    pub prune_every: Option<Duration>,
    /// `runtime_dir`.
    pub runtime_dir: Option<PathBuf>,
    /// `max_log_size` in bytes.
    pub max_log_size: Option<u64>,
    /// `idle_timeout`.
    pub idle_timeout: Option<Duration>,
}

/// The wall-clock limit of tasks that set none, unless configured: 2 hours.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(2 * 3600);

/// The stall limit of tasks that set none, unless configured: 15 minutes.
pub const DEFAULT_STALL: Duration = Duration::from_secs(15 * 60);

/// A run limit (`--default-timeout`, `--default-stall-timeout`): a duration, or `0` for
/// none (`None`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit(pub Option<Duration>);

/// Parses a run limit: a duration such as `30m` or `2h`, or `0` (none).
pub fn parse_limit(text: &str) -> Result<Limit, String> {
    let duration = parse_duration(text)?;
    Ok(Limit((!duration.is_zero()).then_some(duration)))
}

/// `--retention`: a duration, or `off` (`None`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention(pub Option<Duration>);

/// Parses `--retention`: a duration, or `off`.
pub fn parse_retention(text: &str) -> Result<Retention, String> {
    if text == "off" {
        return Ok(Retention(None));
    }
    humantime::parse_duration(text)
        .map(|d| Retention(Some(d)))
        .map_err(|e| format!("{text:?}: {e} (or `off`)"))
}

/// Parses `--prune-every`: a duration of at least one second.
pub fn parse_prune_every(text: &str) -> Result<Duration, String> {
    let every = humantime::parse_duration(text).map_err(|e| format!("{text:?}: {e}"))?;
    if every < Duration::from_secs(1) {
        return Err(format!("{text:?}: the prune interval must be at least 1s"));
    }
    Ok(every)
}

/// Parses a duration such as `5s`, `30m`, `2h`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text).map_err(|e| format!("{text:?}: {e}"))
}

/// Parses a byte size: a number with an optional K, M, G (powers of 1000) or KiB, MiB,
/// GiB (powers of 1024) suffix.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (digits, unit) = text.split_at(split);
    let number: u64 = digits
        .parse()
        .map_err(|_| format!("{text:?} is not a size (e.g. 512MiB, 2G, 1000000)"))?;
    let factor: u64 = match unit.trim() {
        "" | "B" => 1,
        "K" | "KB" => 1000,
        "M" | "MB" => 1000 * 1000,
        "G" | "GB" => 1000 * 1000 * 1000,
        "KiB" => 1 << 10,
        "MiB" => 1 << 20,
        "GiB" => 1 << 30,
        other => return Err(format!("unknown size unit {other:?} in {text:?}")),
    };
    let bytes = number
        .checked_mul(factor)
        .ok_or_else(|| format!("{text:?} is too large"))?;
    if bytes == 0 {
        return Err("the size must be more than 0".into());
    }
    Ok(bytes)
}

impl DaemonSection {
    /// Checks and converts the values; `file` is the config file (named in errors, and
    /// the base of relative paths).
    pub fn settings(&self, file: &Path) -> Result<DaemonSettings, ConfigError> {
        let bad = |key: &str, message: String| ConfigError::Parse {
            path: file.to_path_buf(),
            message: format!("[daemon] {key}: {message}"),
        };
        let base = file.parent().unwrap_or(Path::new("/"));
        let resolve = |p: &PathBuf| {
            if p.is_absolute() {
                p.clone()
            } else {
                base.join(p)
            }
        };
        let duration = |key: &str, value: &Option<String>| {
            value
                .as_deref()
                .map(parse_duration)
                .transpose()
                .map_err(|e| bad(key, e))
        };
        let limit = |key: &str, value: &Option<String>| {
            value
                .as_deref()
                .map(parse_limit)
                .transpose()
                .map_err(|e| bad(key, e))
        };
        if self.max_running == Some(0) {
            return Err(bad("max_running", "must be at least 1".into()));
        }
        Ok(DaemonSettings {
            state_dir: self.state_dir.as_ref().map(resolve),
            codex_bin: self.codex_bin.as_ref().map(|bin| {
                if bin.contains('/') {
                    resolve(&PathBuf::from(bin)).display().to_string()
                } else {
                    bin.clone()
                }
            }),
            max_running: self.max_running,
            default_timeout: limit("default_timeout", &self.default_timeout)?,
            default_stall_timeout: limit("default_stall_timeout", &self.default_stall_timeout)?,
            kill_grace: duration("kill_grace", &self.kill_grace)?,
            retention: self
                .retention
                .as_deref()
                .map(parse_retention)
                .transpose()
                .map_err(|e| bad("retention", e))?,
            prune_every: self
                .prune_every
                .as_deref()
                .map(parse_prune_every)
                .transpose()
                .map_err(|e| bad("prune_every", e))?,
            runtime_dir: self.runtime_dir.as_ref().map(resolve),
            max_log_size: match &self.max_log_size {
                None => None,
                Some(SizeValue::Bytes(0)) => {
                    return Err(bad("max_log_size", "the size must be more than 0".into()));
                }
                Some(SizeValue::Bytes(n)) => Some(*n),
                Some(SizeValue::Text(text)) => {
                    Some(parse_size(text).map_err(|e| bad("max_log_size", e))?)
                }
            },
            idle_timeout: duration("idle_timeout", &self.idle_timeout)?,
        })
    }
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
    codexd_api::config::default_config_file()
}

/// Loads the config file. An explicitly named file must exist and be readable; the default
/// one may be missing (no settings), and if it cannot be read (e.g. permission denied) that
/// is logged as a warning and the daemon goes on without it.
pub fn load_file(path: &Path, explicit: bool) -> Result<FileConfig, ConfigError> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !explicit => {
            return Ok(FileConfig::default());
        }
        Err(source) if !explicit => {
            tracing::warn!(
                "ignoring the config file {}: {source} (fix its permissions, or name \
                 another with --config or CODEXD_CONFIG)",
                path.display()
            );
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
        message: one_line_toml_error(&e, &text),
    })
}

/// A TOML error on one line: its message and where (`line L, column C`), without the
/// source excerpt toml draws over several lines.
fn one_line_toml_error(err: &toml::de::Error, text: &str) -> String {
    let message = err.message().trim().replace('\n', " ");
    match err.span() {
        Some(span) => {
            let before = &text[..span.start.min(text.len())];
            let line = before.matches('\n').count() + 1;
            let column = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
            format!("line {line}, column {column}: {message}")
        }
        None => message,
    }
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

    #[test]
    fn daemon_and_client_tables_parse_with_flag_syntax() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        std::fs::write(
            &path,
            r#"
[daemon]
state_dir = "state"
codex_bin = "bin/codex"
max_running = 2
default_timeout = "30m"
kill_grace = "2s"
retention = "off"
prune_every = "10m"
runtime_dir = "/run/user/1/x"
max_log_size = "1MiB"
idle_timeout = "1m"

[client]
sandbox = "workspace-write"
model = "gpt-5.5"
"#,
        )
        .unwrap();
        let file = load_file(&path, true).unwrap();
        let settings = file.daemon.settings(&path).unwrap();
        assert_eq!(settings.state_dir, Some(dir.path().join("state")));
        assert_eq!(
            settings.codex_bin,
            Some(dir.path().join("bin/codex").display().to_string())
        );
        assert_eq!(settings.max_running, Some(2));
        assert_eq!(
            settings.default_timeout,
            Some(Limit(Some(Duration::from_secs(1800))))
        );
        assert_eq!(settings.default_stall_timeout, None, "not in the file");
        assert_eq!(settings.kill_grace, Some(Duration::from_secs(2)));
        assert_eq!(settings.retention, Some(Retention(None)));
        assert_eq!(settings.prune_every, Some(Duration::from_secs(600)));
        assert_eq!(settings.runtime_dir, Some(PathBuf::from("/run/user/1/x")));
        assert_eq!(settings.max_log_size, Some(1 << 20));
        assert_eq!(settings.idle_timeout, Some(Duration::from_secs(60)));
        assert_eq!(file.client.sandbox.as_deref(), Some("workspace-write"));
        assert_eq!(file.client.model.as_deref(), Some("gpt-5.5"));

        std::fs::write(
            &path,
            "[daemon]\nmax_log_size = 4096\ncodex_bin = \"codex\"\n",
        )
        .unwrap();
        let settings = load_file(&path, true)
            .unwrap()
            .daemon
            .settings(&path)
            .unwrap();
        assert_eq!(settings.max_log_size, Some(4096));
        assert_eq!(settings.codex_bin.as_deref(), Some("codex"));
    }

    #[test]
    fn run_limits_take_durations_and_zero_for_none() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        let settings = |text: &str| {
            std::fs::write(&path, text).unwrap();
            load_file(&path, true).unwrap().daemon.settings(&path)
        };
        let both = settings("[daemon]\ndefault_timeout = \"0\"\ndefault_stall_timeout = \"3m\"\n")
            .unwrap();
        assert_eq!(both.default_timeout, Some(Limit(None)), "0 is no limit");
        assert_eq!(
            both.default_stall_timeout,
            Some(Limit(Some(Duration::from_secs(180))))
        );
        let off = settings("[daemon]\ndefault_stall_timeout = \"0s\"\n").unwrap();
        assert_eq!(off.default_stall_timeout, Some(Limit(None)));
        assert_eq!(
            off.default_timeout, None,
            "unset: the built-in default applies"
        );
        let bad = settings("[daemon]\ndefault_stall_timeout = \"soon\"\n").unwrap_err();
        assert!(bad.to_string().contains("default_stall_timeout"), "{bad}");
        assert_eq!(parse_limit("2h"), Ok(Limit(Some(DEFAULT_TIMEOUT))));
        assert_eq!(parse_limit("15m"), Ok(Limit(Some(DEFAULT_STALL))));
        assert_eq!(parse_limit("0"), Ok(Limit(None)));
    }

    #[test]
    fn bad_keys_and_values_name_the_file_and_the_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        let error = |text: &str| {
            std::fs::write(&path, text).unwrap();
            match load_file(&path, true) {
                Ok(file) => file.daemon.settings(&path).unwrap_err().to_string(),
                Err(e) => e.to_string(),
            }
        };
        for (text, key) in [
            (
                "[deamon]
max_running = 2
",
                "deamon",
            ),
            (
                "[daemon]
max_runing = 2
",
                "max_runing",
            ),
            (
                "[client]
sandbx = \"read-only\"
",
                "sandbx",
            ),
            (
                "[daemon]
kill_grace = \"5 parsecs\"
",
                "kill_grace",
            ),
            (
                "[daemon]
max_running = 0
",
                "max_running",
            ),
            (
                "[daemon]
prune_every = \"10ms\"
",
                "prune_every",
            ),
            (
                "[daemon]
max_log_size = \"12 furlongs\"
",
                "max_log_size",
            ),
            (
                "[daemon]
socket = \"/tmp/x.sock\"
",
                "socket",
            ),
        ] {
            let err = error(text);
            assert!(
                err.contains(&path.display().to_string()) && err.contains(key),
                "{text:?}: {err}"
            );
            assert_eq!(err.lines().count(), 1, "one line: {err}");
        }
    }

    #[test]
    fn an_unreadable_default_file_is_skipped_but_an_explicit_one_is_an_error() {
        // A directory in the file's place cannot be read, whoever runs the test (a mode-000
        // file would still be readable by root).
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        std::fs::create_dir(&path).unwrap();
        let file = load_file(&path, false).unwrap();
        assert!(file.redact.patterns.is_empty());
        let err = load_file(&path, true).unwrap_err().to_string();
        assert!(err.contains(&path.display().to_string()), "{err}");
    }
}
