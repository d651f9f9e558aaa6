//! `-c` overrides that may hold a secret, kept off codex's command line (issue #14).
//!
//! Every local user can read a command line (`ps`, `/proc/PID/cmdline`), and a `-c` value
//! can hold a secret (`model_providers.x.http_headers.Authorization="Bearer …"`, an MCP
//! server's `env`). Codex 0.169.0 reads its config from no environment variable and from no
//! file named on its command line; the one per-run channel it has is a profile: `-p NAME`
//! layers `$CODEX_HOME/NAME.config.toml` over the user's `config.toml` (a name only: no
//! path). So such overrides go into a per-run profile file,
//! `$CODEX_HOME/codexd-run-<task id>.config.toml` (mode 0600, a name no other run uses), and
//! codex gets `-p codexd-run-<task id>`. The file holds the user's own profile (`--profile`),
//! if any, with the overrides merged over it the way codex merges its `-c` layer over a
//! profile, so the user's settings still apply and the overrides still win over them.
//!
//! The runner writes the file just before it starts codex and removes it when codex has
//! ended; its path is recorded in the task directory ([`LAYER_RECORD_FILE`]), so a daemon
//! that settles a run whose runner died removes it ([`sweep`]).
//!
//! This is not exactly `-c`: codex places a profile below a trusted project's
//! `.codex/config.toml`, and `-c` above it (checked with 0.169.0). So only the overrides
//! that may hold a secret are moved ([`may_hold_secret`], which errs towards moving); the
//! others stay `-c` arguments with their exact meaning.

use codexd_api::Task;
use std::io::Write as _;
use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _};
use std::path::{Path, PathBuf};

/// The file in a task directory naming the run's config layer file while it may exist.
pub const LAYER_RECORD_FILE: &str = "config-layer.path";

/// The prefix of a per-run profile name (and so of its file's name).
const LAYER_PREFIX: &str = "codexd-run-";

/// The suffix codex appends to a profile name to find its file.
const PROFILE_SUFFIX: &str = ".config.toml";

/// Words that, anywhere in an override (key or value, any case), mark it as one that may
/// hold a secret: credentials, and the places that carry them (headers, environments).
const SECRET_HINTS: [&str; 12] = [
    "auth",
    "token",
    "secret",
    "passw",
    "credential",
    "cookie",
    "bearer",
    "header",
    "env",
    "key",
    "private",
    "cert",
];

/// The overrides a run passes to codex through its config layer file instead of `-c`, and
/// the user's profile they are merged over.
#[derive(Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ConfigLayer {
    /// The profile name codex is given (`-p`).
    pub name: String,
    /// The user's own profile (`--profile`), whose file the layer starts from.
    pub base_profile: Option<String>,
    /// The overrides, `key=value` as `-c` takes them, in order.
    pub overrides: Vec<String>,
}

impl std::fmt::Debug for ConfigLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The values are what this layer keeps out of sight.
        f.debug_struct("ConfigLayer")
            .field("name", &self.name)
            .field("base_profile", &self.base_profile)
            .field("overrides", &self.overrides.len())
            .finish()
    }
}

/// True if an override may hold a secret: a word of [`SECRET_HINTS`] is in it, or the
/// redaction rules changed its stored copy (`redacted`, when there is one).
pub fn may_hold_secret(raw: &str, redacted: Option<&str>) -> bool {
    let lower = raw.to_ascii_lowercase();
    redacted.is_some_and(|stored| stored != raw) || SECRET_HINTS.iter().any(|w| lower.contains(w))
}

/// The run's config layer, if any of its overrides may hold a secret. `raw` are the
/// overrides as the client sent them (held in memory), in the order of the task's stored,
/// redacted `config`.
pub fn plan(task: &Task, raw: &[String]) -> Option<ConfigLayer> {
    let overrides: Vec<String> = raw
        .iter()
        .enumerate()
        .filter(|(i, kv)| may_hold_secret(kv, task.config.get(*i).map(String::as_str)))
        .map(|(_, kv)| kv.clone())
        .collect();
    (!overrides.is_empty()).then(|| ConfigLayer {
        name: format!("{LAYER_PREFIX}{}", task.id.as_str()),
        base_profile: task.profile.clone(),
        overrides,
    })
}

/// The overrides of `raw` that stay `-c` arguments (those [`plan`] does not move).
pub fn argv_overrides<'a>(task: &Task, raw: &'a [String]) -> Vec<&'a String> {
    raw.iter()
        .enumerate()
        .filter(|(i, kv)| !may_hold_secret(kv, task.config.get(*i).map(String::as_str)))
        .map(|(_, kv)| kv)
        .collect()
}

/// True for a name codex takes as a profile: letters, digits, `-`, `_` (codex 0.169.0).
fn is_codex_profile_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_'))
}

/// This process's `CODEX_HOME` as codex finds it: the variable, else `~/.codex`.
fn codex_home() -> Result<PathBuf, String> {
    if let Some(home) = std::env::var_os("CODEX_HOME").filter(|h| !h.is_empty()) {
        // Codex requires it to exist, and resolves it.
        return std::fs::canonicalize(&home).map_err(|e| {
            format!(
                "CODEX_HOME {} is not a directory codex can use: {e}",
                Path::new(&home).display()
            )
        });
    }
    let home = std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .ok_or("neither CODEX_HOME nor HOME is set, so codex's home is unknown")?;
    let dir = Path::new(&home).join(".codex");
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&dir)
        .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    Ok(dir)
}

/// One `-c` value as codex parses it: TOML, else the raw text as a string.
fn parse_value(raw: &str) -> toml::Value {
    toml::from_str::<toml::Table>(&format!("_x_ = {raw}"))
        .ok()
        .and_then(|mut table| table.remove("_x_"))
        .unwrap_or_else(|| toml::Value::String(raw.to_string()))
}

/// Writes `value` at the dotted `path` of `root`, creating (or replacing with) tables on
/// the way, as codex applies one `-c` override to its override layer.
fn apply_override(root: &mut toml::Table, path: &str, value: toml::Value) {
    let mut parts: Vec<&str> = path.split('.').collect();
    let Some(last) = parts.pop() else {
        return;
    };
    let mut table = root;
    for part in parts {
        let entry = table
            .entry(part.to_string())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        if !entry.is_table() {
            *entry = toml::Value::Table(toml::Table::new());
        }
        let toml::Value::Table(next) = entry else {
            return;
        };
        table = next;
    }
    table.insert(last.to_string(), value);
}

/// Merges `overlay` into `base` as codex merges a higher config layer: tables key by key,
/// anything else replaced.
fn merge(base: &mut toml::Table, overlay: toml::Table) {
    for (key, value) in overlay {
        match (base.get_mut(&key), value) {
            (Some(toml::Value::Table(below)), toml::Value::Table(above)) => merge(below, above),
            (_, value) => {
                base.insert(key, value);
            }
        }
    }
}

/// The text of the layer file: the user's profile `base` (a TOML document, if any) with
/// the overrides merged over it.
pub fn render(layer: &ConfigLayer, base: Option<&str>) -> Result<String, String> {
    let mut document = match base {
        Some(text) => toml::from_str::<toml::Table>(text)
            .map_err(|e| format!("cannot read the profile's file: {e}"))?,
        None => toml::Table::new(),
    };
    let mut overlay = toml::Table::new();
    for kv in &layer.overrides {
        // As codex splits an override: at the first `=`, both halves trimmed.
        let Some((key, value)) = kv.split_once('=') else {
            return Err("a config override has no '=' (key=value)".into());
        };
        let key = key.trim();
        if key.is_empty() {
            return Err("a config override has an empty key".into());
        }
        apply_override(&mut overlay, key, parse_value(value.trim()));
    }
    merge(&mut document, overlay);
    toml::to_string(&document).map_err(|e| format!("cannot write the config layer: {e}"))
}

/// The run's config layer file while it exists: removed (with its record) when dropped.
#[derive(Debug)]
pub struct LayerFile {
    path: PathBuf,
    record: PathBuf,
}

impl Drop for LayerFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
        let _ = std::fs::remove_file(&self.record);
    }
}

/// The message of a layer that cannot be written.
fn fail(e: String) -> String {
    format!("cannot pass the run's secret config overrides to codex: {e}")
}

/// Writes the run's layer file in this process's codex home (see [`write_in`]).
pub fn write(layer: &ConfigLayer, task_dir: &Path) -> Result<LayerFile, String> {
    write_in(layer, task_dir, &codex_home().map_err(fail)?)
}

/// Writes the run's layer file in codex's `home` (mode 0600, created new) and records its
/// path in `task_dir`; the file is removed when the returned guard is dropped.
pub fn write_in(layer: &ConfigLayer, task_dir: &Path, home: &Path) -> Result<LayerFile, String> {
    if let Some(profile) = layer.base_profile.as_deref()
        && !is_codex_profile_name(profile)
    {
        return Err(fail(format!(
            "codex does not take {profile:?} as a profile name (letters, digits, '-' and '_' only)"
        )));
    }
    let base = match layer.base_profile.as_deref() {
        Some(profile) => {
            let file = home.join(format!("{profile}{PROFILE_SUFFIX}"));
            match std::fs::read_to_string(&file) {
                Ok(text) => Some(text),
                // Codex runs without a profile file that does not exist.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
                Err(e) => return Err(fail(format!("cannot read {}: {e}", file.display()))),
            }
        }
        None => None,
    };
    let text = render(layer, base.as_deref()).map_err(fail)?;
    let path = home.join(format!("{}{PROFILE_SUFFIX}", layer.name));
    let record = task_dir.join(LAYER_RECORD_FILE);
    // Recorded first: a runner killed right after creating the file leaves a record.
    crate::files::write_atomic(&record, path.as_os_str().as_encoded_bytes())
        .map_err(|e| fail(e.to_string()))?;
    let guard = LayerFile { path, record };
    let create = || {
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&guard.path)
    };
    let mut file = match create() {
        // Left by a runner of this task that was killed: it is this run's name.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            let _ = std::fs::remove_file(&guard.path);
            create()
        }
        other => other,
    }
    .map_err(|e| fail(format!("cannot create {}: {e}", guard.path.display())))?;
    file.write_all(text.as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(|e| fail(format!("cannot write {}: {e}", guard.path.display())))?;
    Ok(guard)
}

/// Removes the config layer file a run in `task_dir` left (its runner was killed), and the
/// record of it. Only a file named like a layer file is removed, whatever the record says.
pub fn sweep(task_dir: &Path) {
    let record = task_dir.join(LAYER_RECORD_FILE);
    let Ok(bytes) = std::fs::read(&record) else {
        return;
    };
    let path = PathBuf::from(String::from_utf8_lossy(&bytes).into_owned());
    let is_layer = path
        .file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.starts_with(LAYER_PREFIX) && n.ends_with(PROFILE_SUFFIX));
    if is_layer {
        match std::fs::remove_file(&path) {
            Ok(()) => {
                tracing::info!(file = %path.display(), "removed the config layer of a run whose runner is gone")
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                tracing::warn!(file = %path.display(), "cannot remove a run's config layer: {e}")
            }
        }
    }
    let _ = std::fs::remove_file(&record);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layer(overrides: &[&str], base: Option<&str>) -> ConfigLayer {
        ConfigLayer {
            name: "codexd-run-abcd1234".into(),
            base_profile: base.map(str::to_string),
            overrides: overrides.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn overrides_that_may_hold_secrets_are_told_apart() {
        for secret in [
            "model_providers.x.http_headers.Authorization=\"Bearer abc\"",
            "model_providers.x.env_http_headers={X=\"Y\"}",
            "mcp_servers.db.env={PGPASSWORD=\"hunter2\"}",
            "x_token=\"abc\"",
        ] {
            assert!(may_hold_secret(secret, None), "{secret}");
        }
        for plain in [
            "model=\"o3\"",
            "model_reasoning_effort=\"high\"",
            "features.unbounded_connection_retries=false",
        ] {
            assert!(!may_hold_secret(plain, None), "{plain}");
            assert!(may_hold_secret(plain, Some("model=[REDACTED]")), "{plain}");
        }
    }

    #[test]
    fn the_layer_merges_overrides_over_the_profile_like_codex() {
        let base = "model = \"base\"\n[model_providers.x]\nname = \"x\"\nbase_url = \"http://a\"\n\
                    [model_providers.x.http_headers]\nKeep = \"k\"\n";
        let text = render(
            &layer(
                &[
                    "model_providers.x={base_url=\"http://b\"}",
                    "model_providers.x.http_headers.Authorization = \"Bearer s3\"",
                    "plain=not toml",
                    "model=\"top\"",
                ],
                Some("p"),
            ),
            Some(base),
        )
        .unwrap();
        let doc: toml::Table = toml::from_str(&text).unwrap();
        let x = &doc["model_providers"]["x"];
        // The overrides merge over the profile table by table: what they do not name
        // (the provider's name, a header) stays.
        assert_eq!(x["name"].as_str(), Some("x"));
        assert_eq!(x["base_url"].as_str(), Some("http://b"));
        assert_eq!(x["http_headers"]["Keep"].as_str(), Some("k"));
        assert_eq!(
            x["http_headers"]["Authorization"].as_str(),
            Some("Bearer s3")
        );
        assert_eq!(doc["plain"].as_str(), Some("not toml"));
        assert_eq!(doc["model"].as_str(), Some("top"));
        assert!(render(&layer(&["novalue"], None), None).is_err());
    }

    #[test]
    fn the_layer_file_is_private_recorded_and_removed() {
        use std::os::unix::fs::PermissionsExt as _;
        let home = tempfile::tempdir().unwrap();
        let task_dir = tempfile::tempdir().unwrap();
        let home_dir = std::fs::canonicalize(home.path()).unwrap();
        std::fs::write(home.path().join("p.config.toml"), "model = \"m\"\n").unwrap();
        let guard = write_in(
            &layer(&["x_token=\"s3cr3t\""], Some("p")),
            task_dir.path(),
            &home_dir,
        )
        .unwrap();
        let file = home_dir.join("codexd-run-abcd1234.config.toml");
        let text = std::fs::read_to_string(&file).unwrap();
        assert!(
            text.contains("s3cr3t") && text.contains("model = \"m\""),
            "{text}"
        );
        let mode = std::fs::metadata(&file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let record = task_dir.path().join(LAYER_RECORD_FILE);
        assert_eq!(
            std::fs::read(&record).unwrap(),
            file.as_os_str().as_encoded_bytes()
        );
        drop(guard);
        assert!(!file.exists() && !record.exists());

        // A runner killed with its file in place: the sweep removes it.
        let guard = write_in(
            &layer(&["x_token=\"s3cr3t\""], None),
            task_dir.path(),
            &home_dir,
        )
        .unwrap();
        std::mem::forget(guard);
        assert!(file.exists());
        sweep(task_dir.path());
        assert!(!file.exists() && !record.exists());
        // A record naming some other file removes nothing.
        let other = home.path().join("config.toml");
        std::fs::write(&other, "").unwrap();
        std::fs::write(&record, other.as_os_str().as_encoded_bytes()).unwrap();
        sweep(task_dir.path());
        assert!(other.exists());
        // A profile name codex refuses fails the start, saying why.
        let err = write_in(
            &layer(&["x_token=1"], Some("a.b")),
            task_dir.path(),
            &home_dir,
        )
        .unwrap_err();
        assert!(err.contains("profile name"), "{err}");
    }
}
