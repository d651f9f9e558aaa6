//! How an ended run becomes a terminal record: its facts, exit status and stop reason are
//! settled into a state and an error (`results::outcome`), the full result is built from
//! the event log (and the work tree's diff against the snapshot taken at launch), stored
//! in `result.json`, and only then is the terminal state saved and published.

use super::Supervisor;
use crate::files::{self, FileError};
use crate::registry::RegistryError;
use crate::registry::records::{
    EVENTS_FILE, ExitRecord, RESULT_FILE, STDERR_FILE, StopReason, TIMES_FILE,
};
use crate::registry::taskdir::{self, TaskDir};
use crate::results::outcome::{RunFacts, settle};
use crate::results::{self, gitsnap};
use codexd_api::{Task, TaskId, TaskResult, Timestamp};
use std::path::Path;

/// Most bytes of log ingested per read.
pub(super) const INGEST_CHUNK: u64 = 1024 * 1024;

impl Supervisor {
    /// Moves a task to its terminal state from the facts of its run.
    pub(super) async fn finish(
        &self,
        task: &mut Task,
        dir: &TaskDir,
        facts: &RunFacts,
        exit: Option<&ExitRecord>,
        stop: Option<StopReason>,
    ) -> Result<(), RegistryError> {
        // Its runner removes the run's config layer file when codex ends; one it left
        // (killed) goes now.
        super::config_layer::sweep(dir.path());
        // The exit status is settled into the record now: any copy kept elsewhere goes.
        super::exit_fallback::remove(&super::exit_fallback::paths(&self.inner.config, &task.id));
        let tail = stderr_tail(&dir.file(STDERR_FILE));
        let settlement = settle(facts, exit, stop, task.timeout_ms, tail.as_deref());
        if facts.thread_id.is_some() {
            task.thread_id = facts.thread_id.clone();
        }
        task.final_message = facts.last_message.clone();
        task.exit_code = exit.and_then(|e| e.code);
        task.exit_signal = exit.and_then(|e| e.signal);
        task.error = settlement.error;
        task.reconnecting = None;
        if stop == Some(StopReason::TimedOut)
            && let Some(detail) = dir.read_stop().ok().flatten().and_then(|s| s.detail)
        {
            // The runner stopped a stalled run: its own words.
            task.error = Some(detail);
        }
        let lost = dir.unreadable_side_files();
        if !lost.is_empty() {
            let note = lost.join("; ");
            tracing::warn!(task = %task.id, "settled without some of its files: {note}");
            task.error = Some(match task.error.take() {
                Some(error) => format!("{error}; {note}"),
                None => note,
            });
        }
        task.log_bytes = dir.file_len(EVENTS_FILE);
        task.log_truncated |= facts.log_truncated;
        task.pid = None;
        // Without an exit status, the first settling time is recorded so that a record
        // rebuilt from the files later ends at the same moment.
        let ended_at = match exit {
            Some(exit) => exit.finished_at,
            None => dir.settled_at(Timestamp::now()),
        };
        task.enter(settlement.state, ended_at);
        // The result is stored before the terminal state is published, so whoever sees the
        // end can read the result at once. A result already on disk (a record rebuilt from
        // the task's files) is kept: the work tree may have moved on since.
        let stored: Option<TaskResult> = std::fs::read(dir.file(RESULT_FILE))
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok());
        let result = match stored {
            Some(result) => result,
            None => self.build_result(task, true).await,
        };
        match serde_json::to_vec_pretty(&result) {
            Ok(bytes) => {
                if let Err(e) = files::write_atomic(&dir.file(RESULT_FILE), &bytes) {
                    tracing::warn!(task = %task.id, "{e}");
                }
            }
            Err(e) => tracing::warn!(task = %task.id, "cannot serialise the result: {e}"),
        }
        self.commit(task).await
    }

    /// The full result recorded when a task ended (its `result.json`); `Ok(None)` if it has
    /// none (not ended, or ended before results were kept).
    pub fn stored_result(&self, id: &TaskId) -> Result<Option<TaskResult>, FileError> {
        TaskDir::new(&self.inner.config.tasks_root(), id).read_result()
    }

    /// Computes a task's full result from its event log; with `diffstat`, also snapshots
    /// the work tree and diffs it against the tree taken when the run started.
    pub async fn build_result(&self, task: &Task, diffstat: bool) -> TaskResult {
        let dir = TaskDir::new(&self.inner.config.tasks_root(), &task.id);
        let times = std::fs::read_to_string(dir.file(TIMES_FILE))
            .map(|text| results::parse_times(&text))
            .unwrap_or_default();
        let mut builder = results::ResultBuilder::new(&task.cwd);
        each_event_line(&dir, |offset, line| {
            builder.observe(line, times.get(&offset).copied())
        });
        let previous = task
            .parent
            .as_ref()
            .and_then(|parent| self.stored_result(parent).ok().flatten())
            .and_then(|parent| parent.thread_usage);
        let stat = match (&task.git_base_tree, diffstat) {
            (Some(base), true) => match gitsnap::snapshot(&task.cwd, dir.path()).await {
                Some(end) => gitsnap::diffstat(&end.toplevel, base, &end.tree).await,
                None => None,
            },
            _ => None,
        };
        let mut result = builder.finish(task, previous, stat);
        result.log_truncated = task.log_truncated;
        if task.kind == codexd_api::TaskKind::Review {
            result.review = result
                .final_message
                .as_deref()
                .and_then(results::review::parse);
        }
        if task.output_schema {
            let file = dir.file(crate::options::SCHEMA_FILE);
            match std::fs::read(&file)
                .map_err(|e| e.to_string())
                .and_then(|b| serde_json::from_slice(&b).map_err(|e| e.to_string()))
            {
                Ok(schema) => {
                    (result.final_json, result.schema_error) =
                        results::schema::check_answer(&schema, result.final_message.as_deref());
                }
                Err(e) => {
                    result.schema_error = Some(format!(
                        "cannot read the output schema {}: {e}",
                        file.display()
                    ))
                }
            }
        }
        result
    }
}

/// All facts of a finished run, from its whole event log.
pub(super) fn read_all_facts(dir: &TaskDir) -> RunFacts {
    let mut facts = RunFacts::default();
    each_event_line(dir, |_, line| {
        facts.observe(line);
    });
    facts
}

/// Calls `f` with each complete line of the event log and its offset, in order, reading a
/// chunk at a time (a log can be far larger than memory should hold); stops at the first
/// read error, as a settled run's log is read best-effort.
fn each_event_line(dir: &TaskDir, mut f: impl FnMut(u64, &str)) {
    let mut offset = 0;
    while let Ok(lines) = taskdir::read_lines(&dir.file(EVENTS_FILE), offset, INGEST_CHUNK) {
        if lines.lines.is_empty() {
            break;
        }
        for (line_offset, line) in &lines.lines {
            f(*line_offset, line);
        }
        offset = lines.next_offset;
    }
}

/// The last message in a text file (its last paragraph, up to three lines, joined).
pub(super) fn stderr_tail(path: &Path) -> Option<String> {
    use std::io::{Read, Seek, SeekFrom};
    let mut file = std::fs::File::open(path).ok()?;
    let len = file.metadata().ok()?.len();
    file.seek(SeekFrom::Start(len.saturating_sub(4096))).ok()?;
    let mut tail = Vec::new();
    file.read_to_end(&mut tail).ok()?;
    let text = String::from_utf8_lossy(&tail);
    // Codex's messages may span lines ("Error loading config.toml: ...\nin `key`"): take
    // the last paragraph, at most three lines of it, as one line.
    let mut lines: Vec<&str> = text
        .lines()
        .rev()
        .skip_while(|l| l.trim().is_empty())
        .take_while(|l| !l.trim().is_empty())
        .take(3)
        .map(str::trim)
        .collect();
    if lines.is_empty() {
        return None;
    }
    lines.reverse();
    Some(lines.join(" ").chars().take(500).collect())
}
