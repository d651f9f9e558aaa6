//! Test helpers shared by this crate's unit tests.

use super::Supervisor;
use crate::config::Config;
use crate::hub::Hub;
use crate::registry::Registry;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// A supervisor over a fresh state directory that never starts a run itself.
pub(crate) fn idle_supervisor(state: &Path) -> Supervisor {
    let config = Config {
        socket: state.join("codexd.sock"),
        state_dir: state.to_path_buf(),
        codex_bin: "/nonexistent/codex".into(),
        max_running: 0,
        default_timeout: None,
        default_stall_timeout: None,
        kill_grace: Duration::from_millis(100),
        runner_exe: "/nonexistent/codexd".into(),
        redact_patterns: vec![],
        rebuild_registry: false,
        retention: None,
        prune_every: Duration::from_secs(3600),
        runtime_dir: Some(state.join("runtime")),
        max_log_bytes: 1 << 20,
        idle_timeout: Duration::from_secs(60),
    };
    // As the daemon's start-up leaves it.
    std::fs::create_dir_all(config.tasks_root()).unwrap();
    let registry = Registry::open(&config.registry_path()).unwrap();
    Supervisor::new(Arc::new(config), registry, Hub::new(16))
}
