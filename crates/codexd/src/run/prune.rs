//! Removing finished tasks past their retention: directory renamed aside first (so a crash
//! cannot resurrect a half-removed task), then the record, then the files; leftovers of an
//! interrupted prune are deleted at start-up. A run's config layer file and a kept exit
//! status (outside the directory) go with it.

use super::Supervisor;
use crate::registry::RegistryError;
use crate::registry::records::REQUEST_FILE;
use crate::registry::taskdir::{self, TaskDir};
use codexd_api::{Task, TaskId, Timestamp};
use std::time::Duration;

/// Name prefix of a task directory being pruned.
const PRUNED_PREFIX: &str = ".pruned-";

impl Supervisor {
    /// Removes finished tasks that ended more than `older_than` ago: the directory is first
    /// renamed out of the way (so a crash cannot resurrect a half-removed task), then the
    /// record goes, then the files. Queued and running tasks are never touched.
    ///
    /// Returns the pruned ids, oldest first, and notes on what was already gone (a
    /// worktree removed by hand): reported, never fatal.
    pub async fn prune(
        &self,
        older_than: Duration,
        dry_run: bool,
    ) -> Result<(Vec<TaskId>, Vec<String>), RegistryError> {
        let now = Timestamp::now();
        let mut old: Vec<Task> = self.inner.registry.tasks_where(|t| {
            t.state.is_terminal() && t.finished_at.is_some_and(|at| at.until(now) > older_than)
        })?;
        old.sort_by_key(|t| t.finished_at);
        if dry_run {
            return Ok((old.into_iter().map(|t| t.id).collect(), Vec::new()));
        }
        let root = self.inner.config.tasks_root();
        let mut pruned = Vec::with_capacity(old.len());
        let mut notes = Vec::new();
        for task in old {
            let dir = TaskDir::new(&root, &task.id).path().to_path_buf();
            let doomed = root.join(format!("{PRUNED_PREFIX}{}", task.id));
            if dir.exists()
                && let Err(e) = std::fs::rename(&dir, &doomed)
            {
                tracing::warn!(task = %task.id, "cannot prune {}: {e}", dir.display());
                continue;
            }
            self.inner.registry.remove(&task).await?;
            notes.extend(self.prune_worktree(&task).await);
            // What a run may have left outside its directory (settling removes both; a
            // daemon killed in between may not have).
            super::config_layer::sweep(&doomed);
            super::exit_fallback::remove(&super::exit_fallback::paths(
                &self.inner.config,
                &task.id,
            ));
            if let Err(e) = std::fs::remove_dir_all(&doomed)
                && e.kind() != std::io::ErrorKind::NotFound
            {
                tracing::warn!(task = %task.id, "cannot remove {}: {e}", doomed.display());
            }
            pruned.push(task.id);
        }
        if !pruned.is_empty() {
            tracing::info!(count = pruned.len(), "pruned finished tasks");
        }
        Ok((pruned, notes))
    }

    /// Removes a pruned task's worktree and branch, unless already discarded or still used
    /// by a task that stays (a resume of it). Returns, each naming the task, what was
    /// already gone or could not be removed: reported, not fatal.
    async fn prune_worktree(&self, task: &Task) -> Vec<String> {
        let Some(info) = task.worktree.as_ref().filter(|w| w.discarded_at.is_none()) else {
            return Vec::new();
        };
        let shared = self
            .inner
            .registry
            .tasks_where(|t| t.worktree.as_ref().is_some_and(|w| w.path == info.path))
            .map(|users| !users.is_empty())
            .unwrap_or(true);
        if shared {
            return Vec::new();
        }
        match crate::worktree::discard(info).await {
            Ok(notes) => notes
                .into_iter()
                .map(|note| {
                    tracing::info!(task = %task.id, "pruning its worktree: {note}");
                    format!("{}: {note}", task.id)
                })
                .collect(),
            Err(e) => {
                tracing::warn!(task = %task.id, "cannot remove its worktree: {e}");
                vec![format!("{}: cannot remove its worktree: {e}", task.id)]
            }
        }
    }

    /// Removes worktrees that no task names: a start killed after making its worktrees
    /// but before recording its tasks. Only called at start-up, before serving, when no
    /// start is in progress.
    pub async fn clean_worktree_leftovers(&self) {
        let root = self.inner.config.worktrees_root();
        let Ok(entries) = std::fs::read_dir(&root) else {
            return;
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if !entry.path().is_dir()
                || name.len() != codexd_api::task::ID_LEN
                || !TaskId::is_valid_prefix(&name)
            {
                continue;
            }
            let id = TaskId::from_stored(name);
            if self.inner.registry.contains(&id).unwrap_or(true) {
                continue;
            }
            let info = crate::worktree::orphan(&entry.path(), &id).await;
            match crate::worktree::discard(&info).await {
                Ok(_) => tracing::info!(
                    worktree = %info.path.display(),
                    "removed the worktree of a start that was killed before its task was recorded"
                ),
                Err(e) => {
                    tracing::warn!(worktree = %info.path.display(), "cannot remove an abandoned worktree: {e}")
                }
            }
        }
    }

    /// Deletes what interrupted work left in the tasks directory: directories of a prune
    /// that was interrupted, and task directories of starts killed before their request
    /// was written (no `request.json`, nothing in them but temporary `*.tmp` files). Only
    /// called at start-up, before serving, when no start is in progress. A directory
    /// without a request that holds anything else is logged and left alone.
    pub fn clean_leftovers(&self) {
        let root = self.inner.config.tasks_root();
        for (_, dir) in taskdir::task_dirs(&root) {
            if dir.file(REQUEST_FILE).exists() {
                continue;
            }
            let Ok(entries) = std::fs::read_dir(dir.path()) else {
                continue;
            };
            let names: Vec<String> = entries
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect();
            if names.iter().all(|n| n.ends_with(".tmp")) {
                match std::fs::remove_dir_all(dir.path()) {
                    Ok(()) => tracing::info!(
                        dir = %dir.path().display(),
                        files = ?names,
                        "removed the directory of a start that was killed before its request was written"
                    ),
                    Err(e) => tracing::warn!("cannot remove {}: {e}", dir.path().display()),
                }
            } else {
                tracing::warn!(
                    dir = %dir.path().display(),
                    files = ?names,
                    "a task directory without request.json (kept: it holds more than a start's leftovers)"
                );
            }
        }
        let Ok(entries) = std::fs::read_dir(&root) else {
            return;
        };
        for entry in entries.flatten() {
            if entry
                .file_name()
                .to_string_lossy()
                .starts_with(PRUNED_PREFIX)
            {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
    }
}
