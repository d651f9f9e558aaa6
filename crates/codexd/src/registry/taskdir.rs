//! Each task's own directory under `<state>/tasks/<shard>/<id>/`, where the shard is the
//! id's first two characters: creating a directory among tens of thousands of siblings
//! costs several times what it does in a small one, so no directory grows that large.
//!
//! | file           | written by | content                                              |
//! |----------------|------------|------------------------------------------------------|
//! | `request.json` | daemon     | the request (no environment values), atomically      |
//! | `events.jsonl` | runner     | codex's stdout: one JSON event per line, appended    |
//! | `events.times` | runner     | when each event line arrived, for command durations  |
//! | `stderr.log`   | runner     | codex's stderr, appended                             |
//! | `result.json`  | daemon     | the full structured result, once the task ended      |
//! | `run.json`     | runner     | the runner's and codex's pids and the start time     |
//! | `exit.json`    | runner     | how codex ended, atomically, once it has             |
//! | `stop.json`    | daemon     | why the daemon stopped the run, before signalling it |
//! | `ended.json`   | daemon     | when a run that left no exit status was settled      |
//! | `read.json`    | daemon     | when the result was first read after the task ended  |
//! | `worktree.json`| daemon     | a worktree task's worktree once applied or discarded |
//!
//! These files alone are enough to rebuild a task's registry record.

use super::records::{
    ENDED_FILE, EXIT_FILE, EndedRecord, ExitRecord, READ_FILE, REQUEST_FILE, RESULT_FILE, RUN_FILE,
    ReadRecord, RunRecord, STOP_FILE, StopReason, StopRecord, WORKTREE_FILE,
};
use crate::files::{FileError, replace_file, write_atomic};
use codexd_api::{Task, TaskId, Timestamp};
use serde::{Deserialize, Serialize};
use std::fs::{self, File};
use std::io::{self, Read, Seek, SeekFrom};
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

/// The durable copy of a task's request: every field of the task that does not change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredRequest {
    /// Task id.
    pub id: TaskId,
    /// Prompt.
    pub prompt: String,
    /// Working directory.
    pub cwd: PathBuf,
    /// Sandbox mode.
    pub sandbox: Option<String>,
    /// Model.
    pub model: Option<String>,
    /// `-c` overrides.
    pub config: Vec<String>,
    /// Names (only) of the environment variables the client set.
    pub env_keys: Vec<String>,
    /// Wall-clock limit.
    pub timeout_ms: Option<u64>,
    /// Parent task, for resumed turns.
    pub parent: Option<TaskId>,
    /// Thread to resume, for resumed turns.
    pub resume_thread: Option<String>,
    /// Fork `resume_thread` (`codex exec fork`) instead of continuing it.
    #[serde(default)]
    pub fork: bool,
    /// Labels.
    #[serde(default)]
    pub labels: Vec<String>,
    /// The Claude Code session that started the task.
    #[serde(default)]
    pub session_id: Option<String>,
    /// The client's idempotency key (`request_id`), so that a rebuilt registry still
    /// knows it.
    #[serde(default)]
    pub request_id: Option<String>,
    /// When the task was accepted.
    pub created_at: Timestamp,
    // --- isolated worktrees and best-of-N (issue 13) ---
    /// The worktree the task runs in, as created at start.
    #[serde(default)]
    pub worktree: Option<codexd_api::WorktreeInfo>,
    /// The best-of-N group.
    #[serde(default)]
    pub group: Option<String>,
    // -- stall policy (issue 12) --
    /// Stall limit (`None`: none).
    #[serde(default)]
    pub stall_timeout_ms: Option<u64>,
    // --- review + run options (issue 13) ---
    /// `exec` or `review`.
    #[serde(default)]
    pub kind: codexd_api::TaskKind,
    /// Reasoning effort.
    #[serde(default)]
    pub effort: Option<String>,
    /// Codex config profile.
    #[serde(default)]
    pub profile: Option<String>,
    /// The attached images' copies in the task directory.
    #[serde(default)]
    pub images: Vec<PathBuf>,
    /// Extra writable directories.
    #[serde(default)]
    pub add_dirs: Vec<PathBuf>,
    /// True when `output-schema.json` is in the task directory.
    #[serde(default)]
    pub output_schema: bool,
    /// What a review task reviews.
    #[serde(default)]
    pub review: Option<codexd_api::ReviewTarget>,
    /// Files written into the task directory when it is created (name, contents): the
    /// copies of the images and the output schema. Not part of `request.json`.
    #[serde(skip)]
    pub files: Vec<(String, Vec<u8>)>,
}

impl StoredRequest {
    /// A minimal request (prompt "p", no options), for tests.
    #[cfg(test)]
    pub fn for_test(id: &str, cwd: &str, created_at: Timestamp) -> Self {
        StoredRequest {
            id: TaskId::from_stored(id),
            prompt: "p".into(),
            cwd: cwd.into(),
            sandbox: None,
            model: None,
            config: vec![],
            env_keys: vec![],
            timeout_ms: None,
            parent: None,
            resume_thread: None,
            fork: false,
            labels: vec![],
            session_id: None,
            request_id: None,
            created_at,
            worktree: None,
            group: None,
            stall_timeout_ms: None,
            kind: Default::default(),
            effort: None,
            profile: None,
            images: vec![],
            add_dirs: vec![],
            output_schema: false,
            review: None,
            files: vec![],
        }
    }

    /// A fresh `queued` task record for this request.
    pub fn new_task(&self) -> Task {
        let mut task = Task {
            id: self.id.clone(),
            state: codexd_api::TaskState::Queued,
            thread_id: self.resume_thread.clone(),
            prompt: self.prompt.clone(),
            cwd: self.cwd.clone(),
            sandbox: self.sandbox.clone(),
            model: self.model.clone(),
            config: self.config.clone(),
            env_keys: self.env_keys.clone(),
            timeout_ms: self.timeout_ms,
            parent: self.parent.clone(),
            labels: self.labels.clone(),
            session_id: self.session_id.clone(),
            request_id: self.request_id.clone(),
            result_read_at: None,
            created_at: self.created_at,
            started_at: None,
            finished_at: None,
            exit_code: None,
            exit_signal: None,
            error: None,
            final_message: None,
            queue_position: None,
            pid: None,
            pid_start_time: None,
            log_bytes: 0,
            log_truncated: false,
            git_base_tree: None,
            transitions: Vec::new(),
            worktree: self.worktree.clone(),
            group: self.group.clone(),
            stall_timeout_ms: self.stall_timeout_ms,
            reconnecting: None,
            forked: self.fork,
            kind: self.kind,
            effort: self.effort.clone(),
            profile: self.profile.clone(),
            images: self.images.clone(),
            add_dirs: self.add_dirs.clone(),
            output_schema: self.output_schema,
            review: self.review.clone(),
        };
        task.enter(codexd_api::TaskState::Queued, self.created_at);
        task
    }
}

/// A task's directory.
#[derive(Debug, Clone)]
pub struct TaskDir {
    path: PathBuf,
}

impl TaskDir {
    /// The directory of task `id` under `tasks_root` (not created).
    pub fn new(tasks_root: &Path, id: &TaskId) -> Self {
        TaskDir {
            path: tasks_root.join(shard_of(id.as_str())).join(id.as_str()),
        }
    }

    /// Wraps an existing directory.
    pub fn at(path: PathBuf) -> Self {
        TaskDir { path }
    }

    /// The directory itself.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Path of one file in the directory.
    pub fn file(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }

    /// Creates the directory (0700) and writes `request.json` atomically.
    ///
    /// Not synced: the durability point of a start is the registry flush that follows,
    /// and the registry record holds everything a run needs. `request.json` is what a
    /// registry rebuild starts from, which needs the registry lost *and* this file lost
    /// to a power cut in the same moment to miss the task; two fsyncs on every start are
    /// not worth that.
    pub fn create(&self, request: &StoredRequest) -> Result<(), FileError> {
        if let Some(shard) = self.path.parent() {
            fs::DirBuilder::new()
                .mode(0o700)
                .recursive(true)
                .create(shard)
                .map_err(|e| FileError::new("create task directory", shard, e))?;
        }
        // Not recursive: a directory already there is an error, never shared.
        fs::DirBuilder::new()
            .mode(0o700)
            .create(&self.path)
            .map_err(|e| FileError::new("create task directory", &self.path, e))?;
        let json = serde_json::to_vec_pretty(request).map_err(|e| {
            FileError::new("serialise", &self.file(REQUEST_FILE), io::Error::other(e))
        })?;
        for (name, contents) in &request.files {
            replace_file(&self.file(name), contents, false)?;
        }
        replace_file(&self.file(REQUEST_FILE), &json, false)
    }

    /// Reads `request.json`.
    pub fn read_request(&self) -> Result<StoredRequest, FileError> {
        let path = self.file(REQUEST_FILE);
        let bytes = fs::read(&path).map_err(|e| FileError::new("read", &path, e))?;
        serde_json::from_slice(&bytes)
            .map_err(|e| FileError::new("parse", &path, io::Error::other(e)))
    }

    /// Reads `exit.json`; `Ok(None)` if the runner has not written it.
    pub fn read_exit(&self) -> Result<Option<ExitRecord>, FileError> {
        self.read_json(EXIT_FILE)
    }

    /// Writes `exit.json` atomically (the daemon does when a run could not be started, so
    /// that the failure survives a registry rebuild).
    pub fn write_exit(&self, record: &ExitRecord) -> Result<(), FileError> {
        let path = self.file(EXIT_FILE);
        let bytes = serde_json::to_vec(record)
            .map_err(|e| FileError::new("serialise", &path, io::Error::other(e)))?;
        write_atomic(&path, &bytes)
    }

    /// The side files of the directory that are there but cannot be read or parsed, each
    /// with what was lost with it (a record rebuilt from the directory does without them).
    pub fn unreadable_side_files(&self) -> Vec<String> {
        let mut lost = Vec::new();
        let mut check = |name: &str, what: &str, result: Result<(), FileError>| {
            if let Err(e) = result {
                lost.push(format!(
                    "{name} was unreadable and ignored ({what} lost): {}",
                    e.source
                ));
            }
        };
        check(
            RUN_FILE,
            "the run's pids and start time",
            self.read_run().map(drop),
        );
        check(
            STOP_FILE,
            "why and when it was stopped",
            self.read_stop().map(drop),
        );
        check(EXIT_FILE, "codex's exit status", self.read_exit().map(drop));
        check(
            READ_FILE,
            "when its result was first read",
            self.read_read().map(drop),
        );
        lost
    }

    /// Reads `result.json`; `Ok(None)` if the task has not ended.
    pub fn read_result(&self) -> Result<Option<codexd_api::TaskResult>, FileError> {
        self.read_json(RESULT_FILE)
    }

    /// Reads `run.json`; `Ok(None)` if the run never started.
    pub fn read_run(&self) -> Result<Option<RunRecord>, FileError> {
        self.read_json(RUN_FILE)
    }

    /// Reads `stop.json`; `Ok(None)` if the daemon never stopped the run.
    pub fn read_stop(&self) -> Result<Option<StopRecord>, FileError> {
        self.read_json(STOP_FILE)
    }

    /// Records why (and when) the daemon is stopping the run, before it signals it.
    pub fn write_stop(&self, reason: StopReason, at: Timestamp) -> Result<(), FileError> {
        let record = StopRecord {
            reason,
            at,
            detail: None,
        };
        let bytes = serde_json::to_vec(&record)
            .map_err(|e| FileError::new("serialise", &self.file(STOP_FILE), io::Error::other(e)))?;
        write_atomic(&self.file(STOP_FILE), &bytes)
    }

    /// When the result was first read; `Ok(None)` if never.
    pub fn read_read(&self) -> Result<Option<Timestamp>, FileError> {
        Ok(self.read_json::<ReadRecord>(READ_FILE)?.map(|r| r.at))
    }

    /// Records that the result was first read at `at` (atomically; kept for a rebuild).
    pub fn write_read(&self, at: Timestamp) -> Result<(), FileError> {
        let bytes = serde_json::to_vec(&ReadRecord { at })
            .map_err(|e| FileError::new("serialise", &self.file(READ_FILE), io::Error::other(e)))?;
        write_atomic(&self.file(READ_FILE), &bytes)
    }

    /// The worktree as `apply`/`discard` last recorded it, if they did.
    pub fn read_worktree(&self) -> Result<Option<codexd_api::WorktreeInfo>, FileError> {
        self.read_json(WORKTREE_FILE)
    }

    /// Records the worktree's current state (atomically; kept for a rebuild).
    pub fn write_worktree(&self, info: &codexd_api::WorktreeInfo) -> Result<(), FileError> {
        let bytes = serde_json::to_vec(info).map_err(|e| {
            FileError::new("serialise", &self.file(WORKTREE_FILE), io::Error::other(e))
        })?;
        write_atomic(&self.file(WORKTREE_FILE), &bytes)
    }

    /// The end time of a run that left no exit status: the one recorded by whoever settled
    /// it first, else `now`, recorded here (best effort: a failed write is logged).
    pub fn settled_at(&self, now: Timestamp) -> Timestamp {
        if let Ok(Some(EndedRecord { at })) = self.read_json::<EndedRecord>(ENDED_FILE) {
            return at;
        }
        let record = EndedRecord { at: now };
        match serde_json::to_vec(&record) {
            Ok(bytes) => {
                if let Err(e) = write_atomic(&self.file(ENDED_FILE), &bytes) {
                    tracing::warn!("{e}");
                }
            }
            Err(e) => tracing::warn!("cannot serialise the end time: {e}"),
        }
        now
    }

    /// Reads a JSON file of the directory; `Ok(None)` if it does not exist.
    fn read_json<T: serde::de::DeserializeOwned>(
        &self,
        name: &str,
    ) -> Result<Option<T>, FileError> {
        let path = self.file(name);
        match fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| FileError::new("parse", &path, io::Error::other(e))),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(FileError::new("read", &path, e)),
        }
    }

    /// Size of a file in the directory (0 if it does not exist).
    pub fn file_len(&self, name: &str) -> u64 {
        fs::metadata(self.file(name)).map(|m| m.len()).unwrap_or(0)
    }
}

/// Length of a shard directory's name: the first characters of the ids it holds.
pub const SHARD_LEN: usize = 2;

/// The shard directory name of task `id`.
pub fn shard_of(id: &str) -> &str {
    id.get(..SHARD_LEN).unwrap_or(id)
}

/// Every task directory under `tasks_root`, by id. Task directories found directly under
/// the root (the layout before shards) are first moved into their shard.
pub fn task_dirs(tasks_root: &Path) -> Vec<(TaskId, TaskDir)> {
    let mut found = Vec::new();
    let Ok(entries) = fs::read_dir(tasks_root) else {
        return found;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let Some(name) = path.file_name().and_then(|n| n.to_str()).map(str::to_owned) else {
            continue;
        };
        if !path.is_dir() || !TaskId::is_valid_prefix(&name) {
            continue;
        }
        if name.len() == SHARD_LEN {
            let Ok(inner) = fs::read_dir(&path) else {
                continue;
            };
            for task in inner.flatten() {
                let task_path = task.path();
                let Some(id) = task_path.file_name().and_then(|n| n.to_str()) else {
                    continue;
                };
                if task_path.is_dir() && TaskId::is_valid_prefix(id) && shard_of(id) == name {
                    found.push((TaskId::from_stored(id), TaskDir::at(task_path.clone())));
                }
            }
        } else if name.len() > SHARD_LEN {
            let id = TaskId::from_stored(name.as_str());
            let dir = TaskDir::new(tasks_root, &id);
            let moved = dir
                .path()
                .parent()
                .map(|shard| {
                    fs::DirBuilder::new()
                        .mode(0o700)
                        .recursive(true)
                        .create(shard)
                })
                .unwrap_or(Ok(()))
                .and_then(|()| fs::rename(&path, dir.path()));
            match moved {
                Ok(()) => found.push((id, dir)),
                Err(e) => {
                    tracing::warn!(dir = %path.display(), "cannot move a task directory into its shard: {e}");
                    found.push((id, TaskDir::at(path)));
                }
            }
        }
    }
    found
}

/// Complete lines read from a log file.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Lines {
    /// `(offset, line without newline)` pairs.
    pub lines: Vec<(u64, String)>,
    /// Offset just past the last complete line returned.
    pub next_offset: u64,
}

/// Reads complete lines of `path` starting at byte `offset`, about `max_bytes` worth. A
/// single line longer than `max_bytes` is still returned whole; a trailing partial line
/// (still being written) is not returned. Invalid UTF-8 is replaced, never fatal.
pub fn read_lines(path: &Path, offset: u64, max_bytes: u64) -> Result<Lines, FileError> {
    let mut file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Ok(Lines {
                lines: Vec::new(),
                next_offset: offset,
            });
        }
        Err(e) => return Err(FileError::new("open", path, e)),
    };
    file.seek(SeekFrom::Start(offset))
        .map_err(|e| FileError::new("seek", path, e))?;
    let mut buf = Vec::new();
    let mut chunk = vec![0u8; 64 * 1024];
    loop {
        let n = file
            .read(&mut chunk)
            .map_err(|e| FileError::new("read", path, e))?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
        if buf.len() as u64 >= max_bytes && buf.contains(&b'\n') {
            break;
        }
    }
    let mut out = Lines {
        lines: Vec::new(),
        next_offset: offset,
    };
    let mut start = 0usize;
    while let Some(pos) = buf[start..].iter().position(|&b| b == b'\n') {
        let end = start + pos;
        if start > 0 && (end as u64 + 1) > max_bytes {
            break;
        }
        let line = String::from_utf8_lossy(&buf[start..end]).into_owned();
        out.lines.push((offset + start as u64, line));
        start = end + 1;
        out.next_offset = offset + start as u64;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::files::open_append;
    use std::io::Write;

    #[test]
    fn reads_only_complete_lines_and_resumes_at_offsets() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        fs::write(&path, "one\ntwo\nthr").unwrap();
        let first = read_lines(&path, 0, 1024).unwrap();
        assert_eq!(
            first.lines,
            vec![(0, "one".to_string()), (4, "two".to_string())]
        );
        assert_eq!(first.next_offset, 8);
        let mut f = open_append(&path).unwrap();
        f.write_all(b"ee\n").unwrap();
        let second = read_lines(&path, first.next_offset, 1024).unwrap();
        assert_eq!(second.lines, vec![(8, "three".to_string())]);
        assert_eq!(second.next_offset, 14);
    }

    #[test]
    fn max_bytes_pages_but_never_splits_a_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        fs::write(&path, "aaaaaaaaaa\nb\nc\n").unwrap();
        let page = read_lines(&path, 0, 3).unwrap();
        assert_eq!(page.lines, vec![(0, "aaaaaaaaaa".to_string())]);
        let rest = read_lines(&path, page.next_offset, 3).unwrap();
        assert_eq!(rest.lines, vec![(11, "b".to_string())]);
    }

    #[test]
    fn task_dirs_are_sharded_and_the_old_flat_layout_is_moved_in() {
        let root = tempfile::tempdir().unwrap();
        let new = TaskDir::new(root.path(), &TaskId::from_stored("ab123456"));
        new.create(&StoredRequest::for_test(
            "ab123456",
            "/",
            Timestamp::from_unix_ms(1),
        ))
        .unwrap();
        assert_eq!(new.path(), root.path().join("ab").join("ab123456"));
        // A second directory for the same id is refused, never shared.
        assert!(
            new.create(&StoredRequest::for_test(
                "ab123456",
                "/",
                Timestamp::from_unix_ms(1)
            ))
            .is_err()
        );
        // A directory of the flat layout, and things that are not task directories.
        std::fs::create_dir(root.path().join("cd987654")).unwrap();
        std::fs::write(root.path().join("cd987654").join(REQUEST_FILE), "{}").unwrap();
        std::fs::create_dir(root.path().join(".pruned-zz000000")).unwrap();
        std::fs::write(root.path().join("ef000000"), "a file").unwrap();
        std::fs::create_dir_all(root.path().join("ab").join("zz999999")).unwrap();

        let mut found: Vec<(String, PathBuf)> = task_dirs(root.path())
            .into_iter()
            .map(|(id, dir)| (id.to_string(), dir.path().to_path_buf()))
            .collect();
        found.sort();
        assert_eq!(
            found,
            [
                (
                    "ab123456".to_string(),
                    root.path().join("ab").join("ab123456")
                ),
                (
                    "cd987654".to_string(),
                    root.path().join("cd").join("cd987654")
                ),
            ]
        );
        assert!(
            root.path()
                .join("cd")
                .join("cd987654")
                .join(REQUEST_FILE)
                .exists()
        );
        assert!(!root.path().join("cd987654").exists());
    }

    #[test]
    fn missing_file_reads_as_empty() {
        let dir = tempfile::tempdir().unwrap();
        let lines = read_lines(&dir.path().join("nope"), 5, 10).unwrap();
        assert!(lines.lines.is_empty());
        assert_eq!(lines.next_offset, 5);
    }
}
