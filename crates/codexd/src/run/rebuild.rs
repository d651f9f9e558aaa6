//! Rebuilding task records from the task directories alone.
//!
//! sled is treated as an index that can be lost: every task directory holds its request,
//! run record, event log, stop decision, exit status and result, which is enough to
//! rebuild its registry record. A rebuilt record is `queued`, `cancelled` (stopped before it
//! started) or `running`; start-up recovery then adopts runs that are still alive and
//! settles the others from their files, exactly as after a normal restart.

use crate::files::FileError;
use crate::registry::records::{EVENTS_FILE, StopReason};
use crate::registry::taskdir::TaskDir;
use crate::run::process;
use codexd_api::{Task, TaskState};

/// The record of the task in `dir`, from its files; `Ok(None)` if `dir` holds no request
/// (not a task directory).
pub fn rebuild_record(dir: &TaskDir) -> Result<Option<Task>, FileError> {
    let request = match dir.read_request() {
        Ok(request) => request,
        Err(e) if e.source.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let mut task = request.new_task();
    // Only a convenience (which results were read): a bad file loses that, not the task.
    task.result_read_at = dir.read_read().unwrap_or_else(|e| {
        tracing::warn!("{e}");
        None
    });
    // Applied/discarded marks of a worktree task: a bad file loses them, not the task.
    match dir.read_worktree() {
        Ok(Some(info)) => task.worktree = Some(info),
        Ok(None) => {}
        Err(e) => tracing::warn!("{e}; ignored"),
    }
    // A bad side file loses what it held, not the task: it is logged and ignored, and the
    // settled task's error names it (`TaskDir::unreadable_side_files`).
    let stop = dir.read_stop().unwrap_or_else(|e| {
        tracing::warn!("{e}; ignored");
        None
    });
    let run = dir.read_run().unwrap_or_else(|e| {
        tracing::warn!("{e}; ignored");
        None
    });
    match run {
        None => {
            if let Some(stop) = stop.filter(|s| s.reason == StopReason::Cancelled) {
                task.error = Some("cancelled by request before it started".into());
                task.enter(TaskState::Cancelled, stop.at);
            }
        }
        Some(run) => {
            task.enter(TaskState::Running, run.started_at);
            // Only a live process that is provably this task's runner is adopted; anything
            // else is settled from the files by recovery.
            if process::is_task_process(run.runner_pid, task.id.as_str()) {
                task.pid = Some(run.runner_pid);
                task.pid_start_time = process::start_time(run.runner_pid);
            }
            task.log_bytes = dir.file_len(EVENTS_FILE);
        }
    }
    Ok(Some(task))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::files::write_atomic;
    use crate::registry::records::{EXIT_FILE, ExitRecord, RUN_FILE, RunRecord};
    use crate::registry::taskdir::StoredRequest;
    use codexd_api::{TaskId, Timestamp};

    fn dir_with_request(root: &std::path::Path, id: &str) -> TaskDir {
        let dir = TaskDir::new(root, &TaskId::from_stored(id));
        dir.create(&StoredRequest::for_test(
            id,
            "/w",
            Timestamp::from_unix_ms(1_000),
        ))
        .unwrap();
        dir
    }

    #[test]
    fn records_come_back_queued_cancelled_or_running() {
        let root = tempfile::tempdir().unwrap();
        let queued = dir_with_request(root.path(), "aaaaaaa1");
        assert_eq!(
            rebuild_record(&queued).unwrap().unwrap().state,
            TaskState::Queued
        );

        let cancelled = dir_with_request(root.path(), "aaaaaaa2");
        cancelled
            .write_stop(StopReason::Cancelled, Timestamp::now())
            .unwrap();
        let task = rebuild_record(&cancelled).unwrap().unwrap();
        assert_eq!(task.state, TaskState::Cancelled);
        assert_eq!(task.started_at, None);

        let ran = dir_with_request(root.path(), "aaaaaaa3");
        let run = RunRecord {
            // Our own pid: alive, but without the task marker, so not adopted.
            runner_pid: std::process::id(),
            codex_pid: 1,
            started_at: Timestamp::from_unix_ms(2_000),
        };
        write_atomic(&ran.file(RUN_FILE), &serde_json::to_vec(&run).unwrap()).unwrap();
        let exit = ExitRecord {
            code: Some(0),
            signal: None,
            spawn_error: None,
            not_recorded: None,
            finished_at: Timestamp::from_unix_ms(3_000),
        };
        write_atomic(&ran.file(EXIT_FILE), &serde_json::to_vec(&exit).unwrap()).unwrap();
        let task = rebuild_record(&ran).unwrap().unwrap();
        assert_eq!(task.state, TaskState::Running);
        assert_eq!(task.started_at, Some(Timestamp::from_unix_ms(2_000)));
        assert_eq!(
            task.pid, None,
            "a pid that is not the task's runner is never adopted"
        );

        let empty = root.path().join("not-a-task");
        std::fs::create_dir(&empty).unwrap();
        assert!(rebuild_record(&TaskDir::at(empty)).unwrap().is_none());
    }
}
