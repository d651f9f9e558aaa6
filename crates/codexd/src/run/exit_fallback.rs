//! Where a run's exit status goes when its `exit.json` cannot be written (issue #14 item 8).
//!
//! A runner that cannot write `exit.json` (a full or read-only disk, a deleted task
//! directory, something in the way of the file) tells the daemon that spawned it through
//! its exit code. A daemon that re-adopted the run after a restart is not its parent and
//! never sees that code, so the runner also writes the record, with why `exit.json` could
//! not be written, to the first of these places that takes it:
//! - `<state dir>/exits/<id>.json`: outside `tasks/`, so a deleted task directory (or one
//!   file in the way) does not stop it;
//! - `<runtime dir>/exits-<hash of the state dir>/<id>.json`, when the runtime directory is
//!   a memory file system: another file system, so a full or read-only state disk does not
//!   stop it either (it does not survive a reboot, which no run survives anyway).
//!
//! The daemon reads them when a run left no `exit.json`, and removes them once the task is
//! settled.

use crate::config::Config;
use crate::files;
use crate::registry::records::ExitRecord;
use crate::registry::taskdir::TaskDir;
use codexd_api::TaskId;
use std::path::{Path, PathBuf};

/// The fallback files of task `id`, in the order they are tried.
pub fn paths(config: &Config, id: &TaskId) -> Vec<PathBuf> {
    let name = format!("{id}.json");
    let mut paths = vec![config.state_dir.join("exits").join(&name)];
    let runtime = config.runtime_dir();
    if super::held::is_memory_fs(&runtime) {
        let store = format!("exits-{:016x}", super::held::fnv1a(&config.state_dir));
        paths.push(runtime.join(store).join(name));
    }
    paths
}

/// Writes `record` to the first of `paths` that takes it (creating its private
/// directory); returns the one written, if any.
pub fn write(paths: &[PathBuf], record: &ExitRecord) -> Option<PathBuf> {
    let bytes = serde_json::to_vec(record).ok()?;
    paths.iter().find_map(|path| {
        let dir = path.parent()?;
        let written = files::private_dir(dir)
            .map_err(|e| e.to_string())
            .and_then(|()| files::write_atomic(path, &bytes).map_err(|e| e.to_string()));
        match written {
            Ok(()) => Some(path.clone()),
            Err(e) => {
                eprintln!(
                    "codexd run-task: cannot keep the exit status in {}: {e}",
                    path.display()
                );
                None
            }
        }
    })
}

/// The record a run left in one of `paths`, if any.
pub fn read(paths: &[PathBuf]) -> Option<ExitRecord> {
    paths.iter().find_map(|path| read_one(path))
}

/// One fallback record; `None` if it is missing or unreadable (logged).
fn read_one(path: &Path) -> Option<ExitRecord> {
    let bytes = std::fs::read(path).ok()?;
    match serde_json::from_slice(&bytes) {
        Ok(record) => Some(record),
        Err(e) => {
            tracing::warn!(file = %path.display(), "ignored an unreadable exit record: {e}");
            None
        }
    }
}

/// The exit record of a run that left no readable `exit.json`: the one its runner kept in
/// a fallback place, if any. Copied into the task directory when that works now (best
/// effort), so a registry rebuilt from the directory settles the task the same way.
pub fn recover(config: &Config, dir: &TaskDir, id: &TaskId) -> Option<ExitRecord> {
    let record = read(&paths(config, id))?;
    tracing::warn!(task = %id, "the run's exit status was kept outside its task directory: {}",
        record.not_recorded.as_deref().unwrap_or("exit.json could not be written"));
    if let Err(e) = dir.write_exit(&record) {
        tracing::debug!(task = %id, "{e}");
    }
    Some(record)
}

/// Removes the fallback records of a settled task.
pub fn remove(paths: &[PathBuf]) {
    for path in paths {
        match std::fs::remove_file(path) {
            Ok(()) => tracing::debug!(file = %path.display(), "removed a fallback exit record"),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                tracing::warn!(file = %path.display(), "cannot remove a fallback exit record: {e}")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use codexd_api::Timestamp;

    #[test]
    fn the_first_place_that_takes_the_record_keeps_it_until_removed() {
        let root = tempfile::tempdir().unwrap();
        // Something in the way of the first place: a file where its directory should be.
        let blocked = root.path().join("blocked");
        std::fs::write(&blocked, b"").unwrap();
        let paths = vec![
            blocked.join("exits").join("abcd1234.json"),
            root.path().join("exits").join("abcd1234.json"),
        ];
        let record = ExitRecord {
            code: Some(0),
            signal: None,
            spawn_error: None,
            not_recorded: Some("cannot write exit.json: Is a directory".into()),
            finished_at: Timestamp::now(),
        };
        assert_eq!(write(&paths, &record).as_ref(), Some(&paths[1]));
        let back = read(&paths).expect("kept");
        assert_eq!(
            (back.code, &back.not_recorded),
            (Some(0), &record.not_recorded)
        );
        remove(&paths);
        assert!(read(&paths).is_none());
        assert!(!paths[1].exists());
    }
}
