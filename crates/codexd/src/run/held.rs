//! Held values of queued tasks: what a queued task needs to start that is never written to
//! disk (environment values, the unredacted prompt and `-c` overrides).
//!
//! They live in memory and, so that a queued task survives a daemon restart, in one file per
//! task in a private directory on a memory file system (tmpfs: `$XDG_RUNTIME_DIR`, the
//! socket's directory by default). If that directory is not memory-backed, nothing is held
//! there and a restart marks such tasks `interrupted`, as a secret must not reach the disk.
//! A file is removed once its run has started or the task was cancelled.

use codexd_api::{Task, TaskId};
use std::collections::BTreeMap;
use std::io::Write as _;
use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _};
use std::path::{Path, PathBuf};

/// What a run needs that is never written to disk: the environment on top of the
/// daemon's, and the prompt and `-c` overrides as the client sent them (the stored copies
/// are redacted).
#[derive(Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct RunEnv {
    /// Variables to set.
    pub set: BTreeMap<String, String>,
    /// Variables to remove.
    pub remove: Vec<String>,
    /// The prompt, unredacted.
    pub prompt: String,
    /// The `-c` overrides, unredacted.
    pub config: Vec<String>,
}

impl RunEnv {
    /// The environment a request asks for (variables to set and to remove), with no
    /// prompt or overrides yet.
    pub fn with_environment(set: &BTreeMap<String, String>, remove: &[String]) -> Self {
        RunEnv {
            set: set.clone(),
            remove: remove.to_vec(),
            ..Default::default()
        }
    }
}

impl std::fmt::Debug for RunEnv {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Values stay out of logs.
        f.debug_struct("RunEnv")
            .field("set", &self.set.keys().collect::<Vec<_>>())
            .field("remove", &self.remove)
            .finish_non_exhaustive()
    }
}

/// Where held values go (or why they cannot be held).
#[derive(Debug, Clone)]
pub struct PendingStore {
    dir: Option<PathBuf>,
}

impl PendingStore {
    /// A store in `runtime_dir`, keyed by `state_dir` so that daemons with different state
    /// directories never touch each other's files. Holds nothing if `runtime_dir` is not
    /// a memory file system or the directory cannot be made private.
    pub fn open(runtime_dir: &Path, state_dir: &Path) -> PendingStore {
        if !is_memory_fs(runtime_dir) {
            tracing::info!(
                dir = %runtime_dir.display(),
                "not a memory file system: queued tasks with environment values or secrets \
                 will not survive a daemon restart (set --runtime-dir to a tmpfs directory)"
            );
            return PendingStore { dir: None };
        }
        let dir = runtime_dir.join(format!("held-{:016x}", fnv1a(state_dir)));
        let made = std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&dir)
            .and_then(|()| crate::files::private_dir(&dir).map_err(std::io::Error::other));
        match made {
            Ok(()) => PendingStore { dir: Some(dir) },
            Err(e) => {
                tracing::warn!(dir = %dir.display(), "cannot hold queued tasks' values: {e}");
                PendingStore { dir: None }
            }
        }
    }

    /// True when held values survive a daemon restart.
    pub fn is_enabled(&self) -> bool {
        self.dir.is_some()
    }

    fn path(&self, id: &TaskId) -> Option<PathBuf> {
        self.dir.as_ref().map(|d| d.join(format!("{id}.json")))
    }

    /// Holds `env` for task `id`. Returns false (after logging why) if it could not.
    pub fn hold(&self, id: &TaskId, env: &RunEnv) -> bool {
        let Some(path) = self.path(id) else {
            return false;
        };
        let written = serde_json::to_vec(env)
            .map_err(std::io::Error::other)
            .and_then(|bytes| {
                let tmp = path.with_extension("tmp");
                let mut file = std::fs::OpenOptions::new()
                    .write(true)
                    .create(true)
                    .truncate(true)
                    .mode(0o600)
                    .open(&tmp)?;
                file.write_all(&bytes)?;
                std::fs::rename(&tmp, &path)
            });
        match written {
            Ok(()) => true,
            Err(e) => {
                tracing::warn!(task = %id, "cannot hold the task's values in {}: {e}", path.display());
                false
            }
        }
    }

    /// The values held for task `id`, if any.
    pub fn take(&self, id: &TaskId) -> Option<RunEnv> {
        let path = self.path(id)?;
        let bytes = std::fs::read(&path).ok()?;
        match serde_json::from_slice(&bytes) {
            Ok(env) => Some(env),
            Err(e) => {
                tracing::warn!(task = %id, "held values in {} are unreadable: {e}", path.display());
                None
            }
        }
    }

    /// Forgets the values held for task `id`.
    pub fn release(&self, id: &TaskId) {
        if let Some(path) = self.path(id)
            && let Err(e) = std::fs::remove_file(&path)
            && e.kind() != std::io::ErrorKind::NotFound
        {
            tracing::warn!(task = %id, "cannot remove {}: {e}", path.display());
        }
    }

    /// Removes held values of every task for which `keep` is false (left by a crash between
    /// a run's start and the removal of its file).
    pub fn sweep(&self, keep: impl Fn(&TaskId) -> bool) {
        let Some(dir) = &self.dir else { return };
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            let stem = name.trim_end_matches(".json").trim_end_matches(".tmp");
            let is_kept = TaskId::is_valid_prefix(stem)
                && name.ends_with(".json")
                && keep(&TaskId::from_stored(stem));
            if !is_kept {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }
}

/// True when `dir` is on a memory file system (tmpfs or ramfs).
#[cfg(target_os = "linux")]
pub fn is_memory_fs(dir: &Path) -> bool {
    use std::os::unix::ffi::OsStrExt as _;
    const TMPFS_MAGIC: i64 = 0x0102_1994;
    const RAMFS_MAGIC: i64 = 0x8584_58f6;
    let Ok(path) = std::ffi::CString::new(dir.as_os_str().as_bytes()) else {
        return false;
    };
    // SAFETY: statfs writes into the zeroed struct we pass; `path` is a valid C string.
    let mut stat: libc::statfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::statfs(path.as_ptr(), &mut stat) } != 0 {
        return false;
    }
    #[allow(clippy::unnecessary_cast)] // f_type's width differs between targets
    let kind = stat.f_type as i64;
    kind == TMPFS_MAGIC || kind == RAMFS_MAGIC
}

/// True when `dir` is on a memory file system. Only detected on Linux.
#[cfg(not(target_os = "linux"))]
pub fn is_memory_fs(_dir: &Path) -> bool {
    false
}

/// A stable 64-bit FNV-1a hash of a path, to name a state directory's store.
pub(super) fn fnv1a(path: &Path) -> u64 {
    use std::os::unix::ffi::OsStrExt as _;
    path.as_os_str()
        .as_bytes()
        .iter()
        .fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
            (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
        })
}

/// True if the stored prompt or config was changed by redaction (so the stored copy is not
/// what the client sent).
/// True when a task cannot start from its stored request alone: it sets or removes
/// environment variables, or its stored prompt or overrides had a secret redacted.
pub fn needs_held_values(task: &Task) -> bool {
    !task.env_keys.is_empty() || is_redacted(task)
}

fn is_redacted(task: &Task) -> bool {
    let marker = "[REDACTED:";
    task.prompt.contains(marker) || task.config.iter().any(|kv| kv.contains(marker))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shm_dir() -> Option<tempfile::TempDir> {
        let dir = tempfile::tempdir_in("/dev/shm").ok()?;
        is_memory_fs(dir.path()).then_some(dir)
    }

    #[test]
    fn held_values_round_trip_and_are_private() {
        let Some(runtime) = shm_dir() else {
            eprintln!("skipped: /dev/shm is not a tmpfs here");
            return;
        };
        let store = PendingStore::open(runtime.path(), Path::new("/state/a"));
        assert!(store.is_enabled());
        let id = TaskId::from_stored("abcdefgh");
        let env = RunEnv {
            set: [("API_TOKEN".to_string(), "s3cret".to_string())].into(),
            remove: vec!["HOME".into()],
            prompt: "use s3cret".into(),
            config: vec!["model=\"x\"".into()],
        };
        assert!(store.hold(&id, &env));
        let path = store.path(&id).unwrap();
        use std::os::unix::fs::PermissionsExt as _;
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        let back = store.take(&id).unwrap();
        assert_eq!(back.set, env.set);
        assert_eq!(back.remove, env.remove);
        assert_eq!(back.prompt, env.prompt);
        assert_eq!(back.config, env.config);
        // Another state directory has its own store.
        let other = PendingStore::open(runtime.path(), Path::new("/state/b"));
        assert!(other.take(&id).is_none());
        store.release(&id);
        assert!(store.take(&id).is_none());
    }

    #[test]
    fn sweep_keeps_only_what_is_asked() {
        let Some(runtime) = shm_dir() else {
            eprintln!("skipped: /dev/shm is not a tmpfs here");
            return;
        };
        let store = PendingStore::open(runtime.path(), Path::new("/state"));
        let keep = TaskId::from_stored("aaaaaaaa");
        let drop = TaskId::from_stored("bbbbbbbb");
        assert!(store.hold(&keep, &RunEnv::default()));
        assert!(store.hold(&drop, &RunEnv::default()));
        store.sweep(|id| id == &keep);
        assert!(store.take(&keep).is_some());
        assert!(store.take(&drop).is_none());
    }

    #[test]
    fn a_disk_directory_holds_nothing() {
        let disk = tempfile::tempdir().unwrap();
        if is_memory_fs(disk.path()) {
            eprintln!("skipped: the temp directory is a tmpfs here");
            return;
        }
        let store = PendingStore::open(disk.path(), Path::new("/state"));
        assert!(!store.is_enabled());
        assert!(!store.hold(&TaskId::from_stored("aaaaaaaa"), &RunEnv::default()));
        assert_eq!(std::fs::read_dir(disk.path()).unwrap().count(), 0);
    }
}
