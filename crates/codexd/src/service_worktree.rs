//! The API methods of isolated worktrees and best-of-N groups (issue 13): starting tasks
//! in worktrees of their own, `diff`, `apply`, `discard` and `compare`. The git work is in
//! `worktree/`; this module resolves ids, checks states and keeps the records.

use crate::registry::taskdir::{StoredRequest, TaskDir};
use crate::run::held::RunEnv;
use crate::service::{Service, invalid, storage};
use crate::worktree::{self, WorktreeError};
use codexd_api::worktree::{
    ApplyReply, CompareEntry, CompareReply, DiffReply, DiscardReply, Discarded, Isolation,
    MAX_ATTEMPTS, PatchStat,
};
use codexd_api::{ApiError, ErrorKind, StartRequest, Task, TaskId, TaskResult, Timestamp};
use std::collections::BTreeSet;

/// A git failure as the API reports it.
fn git_error(err: WorktreeError) -> ApiError {
    ApiError::new(ErrorKind::Git, err.to_string())
}

/// The task is not a worktree task.
fn not_isolated(id: &TaskId) -> ApiError {
    ApiError::new(
        ErrorKind::InvalidState,
        format!("task {id} did not run in a worktree of its own (start it with --worktree)"),
    )
}

/// Refuses a task that has not ended yet.
fn ended(task: &Task, what: &str) -> Result<(), ApiError> {
    if task.state.is_terminal() {
        Ok(())
    } else {
        Err(ApiError::new(
            ErrorKind::InvalidState,
            format!(
                "task {} is still {}; {what} it once it has ended",
                task.id, task.state
            ),
        ))
    }
}

impl Service {
    /// Checks `isolation` and `attempts`: `Some(n)` attempts in worktrees, or `None` for a
    /// task run in place.
    pub(crate) fn validate_isolation(request: &StartRequest) -> Result<Option<u32>, ApiError> {
        let isolated = request.isolation == Some(Isolation::Worktree);
        match request.attempts {
            Some(n) if n == 0 || n > MAX_ATTEMPTS => Err(invalid(format!(
                "attempts: {n} is out of range (1 to {MAX_ATTEMPTS})"
            ))),
            Some(_) if !isolated => Err(invalid(
                "attempts needs isolation \"worktree\" (codexctl start --worktree --attempts N): \
                 attempts in one directory would overwrite each other",
            )),
            Some(n) => Ok(Some(n)),
            None if isolated => Ok(Some(1)),
            None => Ok(None),
        }
    }

    /// Submits `attempts` tasks for `stored`, each in a new worktree made from the user's
    /// current tree (one base for all); the first is `stored.id` and keeps the request id.
    /// Replies with the first task.
    pub(crate) async fn submit_isolated(
        &self,
        stored: StoredRequest,
        env: RunEnv,
        attempts: u32,
        wait_for_thread_ms: Option<u64>,
    ) -> Result<Task, ApiError> {
        if let Some(key) = &stored.request_id
            && let Some(existing) = self
                .supervisor
                .registry()
                .by_request_id(key)
                .map_err(storage)?
        {
            return Ok(existing);
        }
        let mut ids = vec![stored.id.clone()];
        while ids.len() < attempts as usize {
            let id = self.supervisor.new_task_id()?;
            if !ids.contains(&id) {
                ids.push(id);
            }
        }
        let group = (attempts > 1).then(|| {
            format!(
                "g-{}",
                self.supervisor
                    .new_task_id()
                    .map(|id| id.to_string())
                    .unwrap_or_else(|_| ids[0].to_string())
            )
        });
        let root = self.supervisor.config().worktrees_root();
        let made = worktree::create(&stored.cwd, &root, &ids)
            .await
            .map_err(git_error)?;
        let mut first = None;
        let mut made = made.into_iter();
        while let Some((info, run_dir)) = made.next() {
            let mut request = stored.clone();
            request.id = info
                .path
                .file_name()
                .map(|n| TaskId::from_stored(n.to_string_lossy().into_owned()))
                .unwrap_or_else(|| stored.id.clone());
            if first.is_some() {
                request.request_id = None;
            }
            request.cwd = run_dir;
            request.worktree = Some(info.clone());
            request.group = group.clone();
            match self.supervisor.submit(request, env.clone()).await {
                Ok(task) => {
                    first.get_or_insert(task);
                }
                Err(e) => {
                    // The worktrees of attempts never submitted would be orphans.
                    let _ = worktree::discard(&info).await;
                    for (rest, _) in made.by_ref() {
                        let _ = worktree::discard(&rest).await;
                    }
                    return Err(e);
                }
            }
        }
        let first = first.ok_or_else(|| ApiError::new(ErrorKind::Internal, "no attempt made"))?;
        let task = self.load(&first.id).await?;
        self.await_thread(task, wait_for_thread_ms).await
    }

    /// The worktree task `text` names, loaded.
    async fn isolated_task(&self, text: &str) -> Result<Task, ApiError> {
        let id = self.resolve(text)?;
        let task = self.load(&id).await?;
        if task.worktree.is_none() {
            return Err(not_isolated(&id));
        }
        Ok(task)
    }

    /// `diff`: the task's change against its base.
    pub(crate) async fn worktree_diff(&self, text: &str) -> Result<DiffReply, ApiError> {
        let task = self.isolated_task(text).await?;
        let info = task
            .worktree
            .as_ref()
            .ok_or_else(|| not_isolated(&task.id))?;
        let scratch = self.supervisor.config().worktrees_root();
        let (patch, stat) = worktree::diff(info, &scratch).await.map_err(git_error)?;
        Ok(DiffReply {
            task_id: task.id.clone(),
            base_commit: info.base_commit.clone(),
            patch,
            stat,
        })
    }

    /// `apply`: the task's change into the user's current tree, or nothing on a conflict.
    pub(crate) async fn worktree_apply(&self, text: &str) -> Result<ApplyReply, ApiError> {
        let mut task = self.isolated_task(text).await?;
        ended(&task, "apply")?;
        let scratch = self.supervisor.config().worktrees_root();
        let info = task
            .worktree
            .clone()
            .ok_or_else(|| not_isolated(&task.id))?;
        let (patch, stat) = worktree::diff(&info, &scratch).await.map_err(git_error)?;
        let applied = worktree::apply(&info, &patch, &scratch)
            .await
            .map_err(git_error)?;
        if applied.applied {
            if let Some(info) = task.worktree.as_mut() {
                info.applied_at = Some(Timestamp::now());
            }
            self.save_worktree(&task).await?;
        }
        Ok(ApplyReply {
            task_id: task.id,
            repo: info.repo,
            applied: applied.applied,
            stat,
            conflicts: applied.conflicts,
            message: applied.message,
        })
    }

    /// `discard`: removes the worktrees of `ids`, or of `group` but `except`.
    pub(crate) async fn worktree_discard(
        &self,
        ids: Vec<String>,
        group: Option<String>,
        except: Vec<String>,
    ) -> Result<DiscardReply, ApiError> {
        let mut targets: Vec<Task> = Vec::new();
        for text in &ids {
            targets.push(self.isolated_task(text).await?);
        }
        if let Some(group) = &group {
            let keep = except
                .iter()
                .map(|text| self.resolve(text))
                .collect::<Result<BTreeSet<_>, _>>()?;
            let members = self.group_members(group)?;
            if let Some(stranger) = keep.iter().find(|id| !members.iter().any(|t| &t.id == *id)) {
                return Err(invalid(format!("task {stranger} is not in group {group}")));
            }
            targets.extend(members.into_iter().filter(|t| !keep.contains(&t.id)));
        } else if !except.is_empty() {
            return Err(invalid("except needs a group"));
        }
        if targets.is_empty() {
            return Err(invalid("discard needs task ids or a group"));
        }
        for task in &targets {
            ended(task, "discard")?;
        }
        let mut discarded = Vec::new();
        for task in targets {
            let Some(info) = task.worktree.clone() else {
                continue;
            };
            let mut notes = Vec::new();
            if info.discarded_at.is_some() {
                notes.push("already discarded".to_string());
            } else {
                notes = worktree::discard(&info).await.map_err(git_error)?;
            }
            // Every task of this worktree (its resumes too) is marked.
            let sharing = self
                .supervisor
                .registry()
                .tasks_where(|t| t.worktree.as_ref().is_some_and(|w| w.path == info.path))
                .map_err(storage)?;
            for mut other in sharing {
                if let Some(w) = other.worktree.as_mut()
                    && w.discarded_at.is_none()
                {
                    worktree::mark_discarded(w);
                    self.save_worktree(&other).await?;
                }
            }
            discarded.push(Discarded {
                task_id: task.id,
                path: info.path,
                branch: info.branch,
                notes,
            });
        }
        Ok(DiscardReply { discarded })
    }

    /// Saves a worktree task whose worktree changed: `worktree.json` in its directory (so a
    /// rebuilt record keeps it; best effort), then the registry record.
    async fn save_worktree(&self, task: &Task) -> Result<(), ApiError> {
        if let Some(info) = &task.worktree {
            let dir = TaskDir::new(&self.supervisor.config().tasks_root(), &task.id);
            if let Err(e) = dir.write_worktree(info) {
                tracing::warn!(task = %task.id, "cannot record the worktree's state: {e}");
            }
        }
        self.supervisor.registry().save(task).await.map_err(storage)
    }

    /// The tasks of best-of-N group `group`, oldest first.
    fn group_members(&self, group: &str) -> Result<Vec<Task>, ApiError> {
        let mut members = self
            .supervisor
            .registry()
            .tasks_where(|t| t.group.as_deref() == Some(group))
            .map_err(storage)?;
        if members.is_empty() {
            return Err(ApiError::new(
                ErrorKind::TaskNotFound,
                format!("no group {group}"),
            ));
        }
        members.sort_by_key(|t| (t.created_at, t.id.clone()));
        Ok(members)
    }

    /// `compare`: the attempts of `group` side by side, best first.
    pub(crate) async fn group_compare(&self, group: &str) -> Result<CompareReply, ApiError> {
        let members = self.group_members(group)?;
        let scratch = self.supervisor.config().worktrees_root();
        let mut entries = Vec::with_capacity(members.len());
        for task in &members {
            let result: TaskResult = match self.supervisor.stored_result(&task.id) {
                Ok(Some(result)) => result,
                _ => self.supervisor.build_result(task, false).await,
            };
            let info = task.worktree.as_ref();
            let discarded = info.is_some_and(|w| w.discarded_at.is_some());
            let stat = match info {
                Some(info) if !discarded => worktree::diff(info, &scratch)
                    .await
                    .map(|(_, stat)| stat)
                    .unwrap_or_default(),
                _ => PatchStat::default(),
            };
            let tests = result.tests.as_ref();
            entries.push(CompareEntry {
                rank: 0,
                task_id: task.id.clone(),
                state: task.state,
                tests_passed: tests.map(|t| t.passed),
                tests_failed: tests.map(|t| t.failed),
                tests: tests
                    .map(|t| {
                        t.runs
                            .iter()
                            .map(|r| format!("{}: {}/{}", r.runner, r.passed, r.failed))
                            .collect()
                    })
                    .unwrap_or_default(),
                stat,
                duration_ms: task
                    .duration(Timestamp::now())
                    .map(|d| d.as_millis() as u64),
                tokens: result.usage.map(|u| u.input_tokens + u.output_tokens),
                summary: task
                    .final_message
                    .as_deref()
                    .and_then(|m| m.lines().find(|l| !l.trim().is_empty()))
                    .map(|l| l.trim().to_string()),
                discarded,
            });
        }
        Ok(CompareReply {
            group: group.to_string(),
            base_commit: members
                .first()
                .and_then(|t| t.worktree.as_ref())
                .map(|w| w.base_commit.clone()),
            entries: worktree::rank(entries),
        })
    }
}
