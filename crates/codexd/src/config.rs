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
}

impl Config {
    /// The sled database directory.
    pub fn registry_path(&self) -> PathBuf {
        self.state_dir.join("registry")
    }

    /// The directory holding one directory per task.
    pub fn tasks_root(&self) -> PathBuf {
        self.state_dir.join("tasks")
    }
}
