//! What the daemon and its clients share about the config file
//! (`$XDG_CONFIG_HOME/codexd/config.toml`): where it is, and its `[client]` table.
//!
//! The daemon reads the whole file (`[daemon]`, `[redact.patterns]`, and checks `[client]`);
//! clients read only `[client]`, through `codexd_client::config`.

use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// The environment variable naming the config file (also `codexd --config`).
pub const CONFIG_ENV: &str = "CODEXD_CONFIG";

/// The default config file location, `$XDG_CONFIG_HOME/codexd/config.toml` (else
/// `~/.config/codexd/config.toml`), if a config home is known. The file is optional.
pub fn default_config_file() -> Option<PathBuf> {
    match std::env::var_os("XDG_CONFIG_HOME").filter(|v| !v.is_empty()) {
        Some(dir) => Some(PathBuf::from(dir).join("codexd/config.toml")),
        None => std::env::var_os("HOME")
            .filter(|v| !v.is_empty())
            .map(|home| PathBuf::from(home).join(".config/codexd/config.toml")),
    }
}

/// `[client]` of the config file: defaults a client applies to the tasks it starts when the
/// caller does not choose (a flag or tool argument always wins).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientDefaults {
    /// Sandbox mode for new tasks (`read-only`, `workspace-write`, `danger-full-access`).
    pub sandbox: Option<String>,
    /// Model for new tasks.
    pub model: Option<String>,
}
