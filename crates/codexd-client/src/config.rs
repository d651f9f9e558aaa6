//! The client defaults of the config file (`[client]` of `$XDG_CONFIG_HOME/codexd/config.toml`,
//! or the file `CODEXD_CONFIG` names): what a front end uses for a new task when its caller
//! does not choose. Only `[client]` is read here; the daemon checks the rest of the file.

use codexd_api::config::{CONFIG_ENV, ClientDefaults, default_config_file};
use std::path::{Path, PathBuf};

/// A config file that cannot be used, naming the file (and the key when one is wrong).
#[derive(Debug, thiserror::Error)]
#[error("config file {}: {message}", path.display())]
pub struct ConfigFileError {
    /// The file.
    pub path: PathBuf,
    /// What is wrong.
    pub message: String,
}

/// The client defaults from the config file: the one `CODEXD_CONFIG` names (which must
/// exist), else the default one if there is one. A default file that cannot be read is
/// skipped with a warning, as the daemon does.
pub fn client_defaults() -> Result<ClientDefaults, ConfigFileError> {
    match std::env::var_os(CONFIG_ENV).filter(|v| !v.is_empty()) {
        Some(path) => load_client_defaults(Path::new(&path), true),
        None => match default_config_file() {
            Some(path) => load_client_defaults(&path, false),
            None => Ok(ClientDefaults::default()),
        },
    }
}

/// The `[client]` table of the config file at `path`. A missing or unreadable file that was
/// not named explicitly gives the empty defaults.
pub fn load_client_defaults(
    path: &Path,
    explicit: bool,
) -> Result<ClientDefaults, ConfigFileError> {
    let error = |message: String| ConfigFileError {
        path: path.to_path_buf(),
        message,
    };
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if !explicit && e.kind() == std::io::ErrorKind::NotFound => {
            return Ok(ClientDefaults::default());
        }
        Err(e) if !explicit => {
            tracing::warn!("ignoring the config file {}: {e}", path.display());
            return Ok(ClientDefaults::default());
        }
        Err(e) => return Err(error(e.to_string())),
    };
    let mut table: toml::Table = text
        .parse()
        .map_err(|e: toml::de::Error| error(e.message().trim().replace('\n', " ")))?;
    match table.remove("client") {
        None => Ok(ClientDefaults::default()),
        Some(client) => client
            .try_into()
            .map_err(|e: toml::de::Error| error(format!("[client] {}", e.message().trim()))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_table_is_read_and_typos_name_the_file_and_key() {
        let dir = std::env::temp_dir().join(format!("codexd-client-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("config.toml");
        std::fs::write(
            &path,
            "[daemon]\nmax_running = 2\n[client]\nsandbox = \"read-only\"\nmodel = \"m1\"\n",
        )
        .unwrap();
        let defaults = load_client_defaults(&path, true).unwrap();
        assert_eq!(defaults.sandbox.as_deref(), Some("read-only"));
        assert_eq!(defaults.model.as_deref(), Some("m1"));
        std::fs::write(&path, "[client]\nsandbx = \"read-only\"\n").unwrap();
        let err = load_client_defaults(&path, false).unwrap_err().to_string();
        assert!(
            err.contains("config.toml") && err.contains("sandbx"),
            "{err}"
        );
        std::fs::write(&path, "[redact.patterns]\nx = \"y\"\n").unwrap();
        assert_eq!(
            load_client_defaults(&path, true).unwrap(),
            ClientDefaults::default()
        );
        let missing = dir.join("missing.toml");
        assert_eq!(
            load_client_defaults(&missing, false).unwrap(),
            ClientDefaults::default()
        );
        assert!(load_client_defaults(&missing, true).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
