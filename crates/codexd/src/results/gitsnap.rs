//! Git snapshots of a task's work tree, for the result's diffstat.
//!
//! At the start of a task the work tree is written to a git tree object through a
//! temporary index (a copy of the real one, so unchanged files are not re-hashed):
//! `GIT_INDEX_FILE=tmp git add -A && git write-tree`. The user's working tree, index and
//! stash are never touched; only loose objects are added to the object store, as any
//! `git add` would. At the end the same is done again and the two trees are diffed, so
//! changes Codex made through shell commands count, and the user's own uncommitted work
//! from before the task does not.

use codexd_api::result::DiffStat;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::process::Command;

/// Longest a snapshot may take before it is given up (the diffstat is then absent).
const GIT_TIMEOUT: Duration = Duration::from_secs(60);

/// A snapshot of a work tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    /// The repository's top-level directory.
    pub toplevel: PathBuf,
    /// The tree object id.
    pub tree: String,
}

async fn git(dir: &Path, args: &[&str], index: Option<&Path>) -> Option<String> {
    let mut cmd = Command::new("git");
    cmd.arg("-C")
        .arg(dir)
        .args(args)
        .env_remove("GIT_DIR")
        .env_remove("GIT_WORK_TREE")
        .env("GIT_OPTIONAL_LOCKS", "0")
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true);
    if let Some(index) = index {
        cmd.env("GIT_INDEX_FILE", index);
    }
    let out = tokio::time::timeout(GIT_TIMEOUT, cmd.output())
        .await
        .ok()?
        .ok()?;
    if !out.status.success() {
        tracing::debug!(
            ?args,
            "git failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
        return None;
    }
    Some(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// Snapshots the work tree containing `cwd`; `None` if it is not in a git work tree (or git
/// is missing or fails). `scratch` is a private directory for the temporary index.
pub async fn snapshot(cwd: &Path, scratch: &Path) -> Option<Snapshot> {
    let toplevel = PathBuf::from(git(cwd, &["rev-parse", "--show-toplevel"], None).await?);
    let real_index = git(
        &toplevel,
        &["rev-parse", "--path-format=absolute", "--git-path", "index"],
        None,
    )
    .await?;
    let index = scratch.join(format!("git-index-{}.tmp", rand::random::<u32>()));
    // A missing real index (fresh repository) is fine: git starts from an empty one.
    copy_index(Path::new(&real_index), &index);
    let tree = async {
        git(&toplevel, &["add", "-A", "--", "."], Some(&index)).await?;
        git(&toplevel, &["write-tree"], Some(&index)).await
    }
    .await;
    let _ = tokio::fs::remove_file(&index).await;
    Some(Snapshot {
        toplevel,
        tree: tree?,
    })
}

/// Copies the index keeping its modification time: git trusts an entry's cached stat data
/// only when the entry is older than the index file ("racy git"), so a copy with a fresh
/// mtime would hide a same-size edit made in the same second as the last index write.
pub(crate) fn copy_index(from: &Path, to: &Path) {
    if std::fs::copy(from, to).is_err() {
        return;
    }
    let mtime = std::fs::metadata(from).and_then(|m| m.modified());
    let file = std::fs::OpenOptions::new().write(true).open(to);
    if let (Ok(mtime), Ok(file)) = (mtime, file)
        && file.set_modified(mtime).is_err()
    {
        // Without the original time, the copy must not be trusted: start from scratch.
        let _ = std::fs::remove_file(to);
    }
}

/// Files, insertions and deletions between two trees of the repository at `toplevel`.
pub async fn diffstat(toplevel: &Path, from: &str, to: &str) -> Option<DiffStat> {
    let numstat = git(
        toplevel,
        &["diff", "--numstat", "--no-renames", from, to],
        None,
    )
    .await?;
    Some(parse_numstat(&numstat))
}

/// Sums `git diff --numstat` output (`-` counts of binary files count as 0 lines).
pub fn parse_numstat(numstat: &str) -> DiffStat {
    let mut stat = DiffStat::default();
    for line in numstat.lines().filter(|l| !l.trim().is_empty()) {
        let mut fields = line.split('\t');
        let added = fields
            .next()
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0);
        let removed = fields
            .next()
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0);
        stat.files += 1;
        stat.insertions += added;
        stat.deletions += removed;
    }
    stat
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(dir: &Path, script: &str) {
        let status = std::process::Command::new("sh")
            .arg("-c")
            .arg(script)
            .current_dir(dir)
            .env("GIT_AUTHOR_NAME", "t")
            .env("GIT_AUTHOR_EMAIL", "t@example.invalid")
            .env("GIT_COMMITTER_NAME", "t")
            .env("GIT_COMMITTER_EMAIL", "t@example.invalid")
            .status()
            .unwrap();
        assert!(status.success(), "{script}");
    }

    #[test]
    fn numstat_sums_lines_and_binary_files() {
        let stat = parse_numstat("3\t1\ta.txt\n-\t-\timg.png\n0\t5\tb.rs\n");
        assert_eq!(
            stat,
            DiffStat {
                files: 3,
                insertions: 3,
                deletions: 6
            }
        );
    }

    #[tokio::test]
    async fn counts_only_changes_made_after_the_snapshot_and_leaves_the_index_alone() {
        let repo = tempfile::tempdir().unwrap();
        let scratch = tempfile::tempdir().unwrap();
        let dir = repo.path();
        sh(
            dir,
            "git init -q && printf 'a\\nb\\n' > kept.txt && git add kept.txt && git commit -qm init",
        );
        // The user's own uncommitted work before the task: not counted.
        sh(
            dir,
            "printf 'mine\\n' > user.txt && printf 'a\\nb\\nc\\n' > kept.txt && git add kept.txt",
        );
        let index_before = std::fs::read(dir.join(".git/index")).unwrap();
        let status_before = std::process::Command::new("git")
            .args(["status", "--porcelain"])
            .current_dir(dir)
            .output()
            .unwrap()
            .stdout;

        let base = snapshot(dir, scratch.path())
            .await
            .expect("a git work tree");
        // The task's changes: one new file, one edited file, one deleted file.
        sh(
            dir,
            "printf 'x\\ny\\n' > new.txt && printf 'mine\\nmore\\n' > user.txt && rm kept.txt",
        );
        let end = snapshot(dir, scratch.path()).await.unwrap();
        let stat = diffstat(&base.toplevel, &base.tree, &end.tree)
            .await
            .unwrap();
        assert_eq!(
            stat,
            DiffStat {
                files: 3,
                insertions: 3,
                deletions: 3
            }
        );
        assert_eq!(
            std::fs::read(dir.join(".git/index")).unwrap(),
            index_before,
            "index untouched"
        );
        sh(
            dir,
            "rm new.txt && printf 'mine\\n' > user.txt && printf 'a\\nb\\nc\\n' > kept.txt",
        );
        let status_after = std::process::Command::new("git")
            .args(["status", "--porcelain"])
            .current_dir(dir)
            .output()
            .unwrap()
            .stdout;
        assert_eq!(
            status_after, status_before,
            "working tree state as the user left it"
        );
        assert_eq!(
            std::fs::read_dir(scratch.path()).unwrap().count(),
            0,
            "temporary index removed"
        );
    }

    #[tokio::test]
    async fn a_same_size_edit_right_after_a_commit_is_seen() {
        let repo = tempfile::tempdir().unwrap();
        let scratch = tempfile::tempdir().unwrap();
        let dir = repo.path();
        // Commit and edit (same size) within one second: only git's racy-index check can
        // tell the file changed, and only if the index copy keeps the original's mtime.
        sh(
            dir,
            "git init -q && printf 'old line\\n' > f.txt && git add -A && git commit -qm x",
        );
        let base = snapshot(dir, scratch.path()).await.unwrap();
        sh(dir, "printf 'new line\\n' > f.txt");
        // The end snapshot comes in a later second than the edit (git's index keeps stat
        // times in whole seconds): this wait is the scenario, not synchronisation.
        std::thread::sleep(std::time::Duration::from_millis(1100));
        let end = snapshot(dir, scratch.path()).await.unwrap();
        let stat = diffstat(&base.toplevel, &base.tree, &end.tree)
            .await
            .unwrap();
        assert_eq!(
            stat,
            DiffStat {
                files: 1,
                insertions: 1,
                deletions: 1
            }
        );
    }

    #[tokio::test]
    async fn outside_git_there_is_no_snapshot() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(snapshot(dir.path(), dir.path()).await, None);
    }
}
