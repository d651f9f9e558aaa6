//! Isolated worktrees for tasks (issue 13): codexd, not Codex, manages them.
//!
//! Codex 0.169.0 has `codex exec --worktree` ("a new managed Git worktree"), but it tells
//! us neither the path nor the base, and cleanup is Codex's. We need all three (diff and
//! apply against the base, discard and prune on our terms), so the daemon makes them:
//!
//! - [`create`]: at `start`, before any task record exists (a bad directory is a typed
//!   error and nothing is created). The user's work tree — `HEAD` plus tracked changes,
//!   staged changes and untracked non-ignored files — is written through a temporary
//!   index (`GIT_INDEX_FILE` + `git add -A` + `git write-tree` + `git commit-tree`), so the
//!   user's tree, index and stash are untouched; each task gets `git worktree add -b
//!   codexd/<id> <state>/worktrees/<id> <base>`, and runs in it (in the same subdirectory
//!   the user was in).
//! - [`diff`]: the worktree's current state (committed or not, new files included) against
//!   the base, as a binary-safe patch with full blob ids.
//! - [`apply`]: a 3-way apply into a temporary index holding the user's *current* tree;
//!   only if that has no conflict is the result applied to the user's files (never their
//!   index). On a conflict nothing is touched and the conflicting files are named.
//! - [`discard`]: `git worktree remove --force`, `git worktree prune`, `git branch -D`; a
//!   directory already removed by hand is noted, not fatal.

mod compare;
mod git;

pub use compare::rank;
pub use git::WorktreeError;

use codexd_api::worktree::{PatchStat, WorktreeInfo};
use codexd_api::{TaskId, Timestamp};
use git::Git;
use std::path::{Path, PathBuf};

/// The branch of task `id`'s worktree.
pub fn branch_of(id: &TaskId) -> String {
    format!("codexd/{id}")
}

/// A temporary index file under `scratch`, removed when dropped.
struct TempIndex(PathBuf);

impl TempIndex {
    /// A fresh name (nothing is created yet).
    fn new(scratch: &Path) -> Self {
        TempIndex(scratch.join(format!(".git-index-{:08x}.tmp", rand::random::<u32>())))
    }
}

impl Drop for TempIndex {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// The repository's top-level directory for `dir`.
async fn toplevel(dir: &Path) -> Result<PathBuf, WorktreeError> {
    match Git::at(dir).line(&["rev-parse", "--show-toplevel"]).await {
        Ok(top) if !top.is_empty() => Ok(PathBuf::from(top)),
        Ok(_) => Err(WorktreeError::NotARepo(dir.display().to_string())),
        Err(WorktreeError::Failed { .. }) => {
            Err(WorktreeError::NotARepo(dir.display().to_string()))
        }
        Err(e) => Err(e),
    }
}

/// The tree object of the work tree at `top` as it is now (untracked non-ignored files
/// included), written through a temporary copy of its index.
async fn work_tree_object(top: &Path, scratch: &Path) -> Result<String, WorktreeError> {
    let real = Git::at(top)
        .line(&["rev-parse", "--path-format=absolute", "--git-path", "index"])
        .await?;
    let index = TempIndex::new(scratch);
    crate::results::gitsnap::copy_index(Path::new(&real), &index.0);
    Git::at(top)
        .index(&index.0)
        .run(&["add", "-A", "--", "."])
        .await?;
    Git::at(top).index(&index.0).line(&["write-tree"]).await
}

/// The user's repository for `cwd` and the base commit for worktrees made from it now:
/// `(toplevel, subdir of cwd in it, HEAD, base)`.
async fn snapshot_base(
    cwd: &Path,
    scratch: &Path,
) -> Result<(PathBuf, PathBuf, Option<String>, String), WorktreeError> {
    Git::at(cwd).run(&["--version"]).await?;
    let top = toplevel(cwd).await?;
    let top = std::fs::canonicalize(&top).unwrap_or(top);
    let subdir = cwd
        .strip_prefix(&top)
        .unwrap_or(Path::new(""))
        .to_path_buf();
    let head = Git::at(&top)
        .line(&["rev-parse", "--verify", "--quiet", "HEAD^{commit}"])
        .await
        .ok()
        .filter(|h| !h.is_empty());
    let tree = work_tree_object(&top, scratch).await?;
    let head_tree = match &head {
        Some(head) => Some(
            Git::at(&top)
                .line(&["rev-parse", &format!("{head}^{{tree}}")])
                .await?,
        ),
        None => None,
    };
    let base = match &head {
        Some(head) if head_tree.as_deref() == Some(tree.as_str()) => head.clone(),
        _ => {
            let mut args = vec!["commit-tree", tree.as_str()];
            if let Some(head) = &head {
                args.extend(["-p", head.as_str()]);
            }
            args.extend(["-m", "codexd: snapshot of the uncommitted changes"]);
            Git::at(&top).line(&args).await?
        }
    };
    Ok((top, subdir, head, base))
}

/// Creates one worktree per id from the user's current tree at `cwd` (one base for all),
/// under `root` (`<state>/worktrees`). Returns each worktree and the directory its task
/// runs in. If one cannot be made, those already made are removed again.
pub async fn create(
    cwd: &Path,
    root: &Path,
    ids: &[TaskId],
) -> Result<Vec<(WorktreeInfo, PathBuf)>, WorktreeError> {
    crate::files::private_dir(root).map_err(|e| WorktreeError::Io(e.to_string()))?;
    let (repo, subdir, head, base) = snapshot_base(cwd, root).await?;
    let mut made: Vec<(WorktreeInfo, PathBuf)> = Vec::with_capacity(ids.len());
    for id in ids {
        let path = root.join(id.as_str());
        let branch = branch_of(id);
        let path_text = path.to_string_lossy().into_owned();
        let added = Git::at(&repo)
            .run(&[
                "worktree", "add", "--quiet", "-b", &branch, &path_text, &base,
            ])
            .await;
        if let Err(e) = added {
            for (info, _) in &made {
                let _ = discard(info).await;
            }
            return Err(e);
        }
        let run_dir = path.join(&subdir);
        if let Err(e) = std::fs::create_dir_all(&run_dir) {
            tracing::warn!(dir = %run_dir.display(), "cannot create the task's subdirectory: {e}");
        }
        made.push((
            WorktreeInfo {
                path,
                branch,
                base_commit: base.clone(),
                head_commit: head.clone(),
                repo: repo.clone(),
                applied_at: None,
                discarded_at: None,
            },
            run_dir,
        ));
    }
    Ok(made)
}

/// `git diff --numstat -z`-free parsing: files and line counts of `from..to`.
async fn patch_stat(dir: &Path, from: &str, to: &str) -> Result<PatchStat, WorktreeError> {
    let numstat = Git::at(dir)
        .run(&["diff", "--numstat", "--no-renames", from, to])
        .await?;
    let mut stat = PatchStat::default();
    for line in numstat.lines().filter(|l| !l.trim().is_empty()) {
        let mut fields = line.splitn(3, '\t');
        let added = fields
            .next()
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0);
        let removed = fields
            .next()
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0);
        if let Some(path) = fields.next() {
            stat.files.push(path.to_string());
        }
        stat.insertions += added;
        stat.deletions += removed;
    }
    stat.files.sort();
    Ok(stat)
}

/// A worktree task's change against its base: the patch and its stat. `scratch` holds the
/// temporary index.
pub async fn diff(
    info: &WorktreeInfo,
    scratch: &Path,
) -> Result<(String, PatchStat), WorktreeError> {
    if info.discarded_at.is_some() {
        return Err(WorktreeError::Io(format!(
            "the worktree {} was discarded",
            info.path.display()
        )));
    }
    if !info.path.is_dir() {
        return Err(WorktreeError::Io(format!(
            "the worktree {} is gone (removed by hand?); `codexctl discard` cleans up its branch",
            info.path.display()
        )));
    }
    let tree = work_tree_object(&info.path, scratch).await?;
    let patch = Git::at(&info.path)
        .run(&[
            "diff",
            "--binary",
            "--full-index",
            "--no-renames",
            &info.base_commit,
            &tree,
        ])
        .await?;
    let stat = patch_stat(&info.path, &info.base_commit, &tree).await?;
    Ok((patch, stat))
}

/// What [`apply`] did.
#[derive(Debug, Default)]
pub struct Applied {
    /// True when the change is now in the user's tree.
    pub applied: bool,
    /// The files that conflict (when not applied).
    pub conflicts: Vec<String>,
    /// git's message (when not applied).
    pub message: Option<String>,
}

/// Applies `patch` (from [`diff`]) to the user's current tree at `info.repo`: a 3-way
/// apply into a temporary index holding that tree; only when it is clean is the merged
/// result written to the user's files (their index and stash are not touched). On a
/// conflict nothing is written.
pub async fn apply(
    info: &WorktreeInfo,
    patch: &str,
    scratch: &Path,
) -> Result<Applied, WorktreeError> {
    if patch.trim().is_empty() {
        return Ok(Applied {
            applied: true,
            ..Applied::default()
        });
    }
    let repo = &info.repo;
    toplevel(repo).await?;
    let current = work_tree_object(repo, scratch).await?;
    let index = TempIndex::new(scratch);
    Git::at(repo)
        .index(&index.0)
        .run(&["read-tree", &current])
        .await?;
    let out = Git::at(repo)
        .index(&index.0)
        .input(patch.as_bytes())
        .output(&["apply", "--cached", "--3way", "-"])
        .await?;
    if !out.status.success() {
        let unmerged = Git::at(repo)
            .index(&index.0)
            .run(&["ls-files", "--unmerged", "-z"])
            .await
            .unwrap_or_default();
        let mut conflicts: Vec<String> = unmerged
            .split('\0')
            .filter_map(|entry| entry.split_once('\t').map(|(_, path)| path.to_string()))
            .collect();
        conflicts.sort();
        conflicts.dedup();
        return Ok(Applied {
            applied: false,
            conflicts,
            message: Some(String::from_utf8_lossy(&out.stderr).trim().to_string()),
        });
    }
    let merged = Git::at(repo).index(&index.0).line(&["write-tree"]).await?;
    let onto_files = Git::at(repo)
        .run(&[
            "diff",
            "--binary",
            "--full-index",
            "--no-renames",
            &current,
            &merged,
        ])
        .await?;
    if !onto_files.trim().is_empty() {
        // git apply is all or nothing: if the files changed since `current`, none is written.
        let out = Git::at(repo)
            .input(onto_files.as_bytes())
            .output(&["apply", "-"])
            .await?;
        if !out.status.success() {
            return Ok(Applied {
                applied: false,
                conflicts: Vec::new(),
                message: Some(format!(
                    "the files changed while applying; nothing was applied: {}",
                    String::from_utf8_lossy(&out.stderr).trim()
                )),
            });
        }
    }
    Ok(Applied {
        applied: true,
        ..Applied::default()
    })
}

/// Removes a task's worktree and branch and prunes git's worktree list. What was already
/// gone is returned as notes, not errors.
pub async fn discard(info: &WorktreeInfo) -> Result<Vec<String>, WorktreeError> {
    let mut notes = Vec::new();
    let repo_alive = info.repo.is_dir() && toplevel(&info.repo).await.is_ok();
    if !repo_alive {
        notes.push(format!(
            "the repository {} is gone; only the worktree directory was removed",
            info.repo.display()
        ));
        if info.path.exists() {
            std::fs::remove_dir_all(&info.path).map_err(|e| {
                WorktreeError::Io(format!("cannot remove {}: {e}", info.path.display()))
            })?;
        }
        return Ok(notes);
    }
    let path_text = info.path.to_string_lossy().into_owned();
    if info.path.exists() {
        if let Err(e) = Git::at(&info.repo)
            .run(&["worktree", "remove", "--force", "--force", &path_text])
            .await
        {
            notes.push(format!(
                "git worktree remove: {e}; removed the directory instead"
            ));
            std::fs::remove_dir_all(&info.path).map_err(|e| {
                WorktreeError::Io(format!("cannot remove {}: {e}", info.path.display()))
            })?;
        }
    } else {
        notes.push(format!(
            "the worktree directory {} was already gone",
            info.path.display()
        ));
    }
    Git::at(&info.repo).run(&["worktree", "prune"]).await?;
    let branch_ref = format!("refs/heads/{}", info.branch);
    let exists = Git::at(&info.repo)
        .run(&["rev-parse", "--verify", "--quiet", &branch_ref])
        .await
        .is_ok();
    if exists {
        Git::at(&info.repo)
            .run(&["branch", "-D", "--quiet", &info.branch])
            .await?;
    } else {
        notes.push(format!("the branch {} was already gone", info.branch));
    }
    Ok(notes)
}

/// The tree of a worktree task's base commit: what its result's diffstat is measured
/// against (so a resumed turn's result too shows the whole change since the base).
pub async fn base_tree(info: &WorktreeInfo) -> Option<String> {
    Git::at(&info.path)
        .line(&["rev-parse", &format!("{}^{{tree}}", info.base_commit)])
        .await
        .ok()
}

/// What is known of a worktree at `path` for task `id` that no task record names (a start
/// killed between making its worktrees and recording its tasks): enough to discard it.
pub async fn orphan(path: &Path, id: &TaskId) -> WorktreeInfo {
    let common = Git::at(path)
        .line(&["rev-parse", "--path-format=absolute", "--git-common-dir"])
        .await
        .ok();
    // The common dir is `<repo>/.git`; its parent is the repository.
    let repo = common
        .as_deref()
        .map(Path::new)
        .and_then(Path::parent)
        .map(Path::to_path_buf)
        .unwrap_or_else(|| path.to_path_buf());
    WorktreeInfo {
        path: path.to_path_buf(),
        branch: branch_of(id),
        base_commit: String::new(),
        head_commit: None,
        repo,
        applied_at: None,
        discarded_at: None,
    }
}

/// Marks `info` discarded now.
pub fn mark_discarded(info: &mut WorktreeInfo) {
    info.discarded_at = Some(Timestamp::now());
}
