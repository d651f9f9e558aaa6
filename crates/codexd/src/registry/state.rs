//! How a [`Task`] is stored: split into the part that changes and the part that never does.
//!
//! A task's request (prompt, options, `-c` overrides, environment names) is fixed when it
//! is accepted, yet it is most of the record's bytes; its state changes three or four times
//! in its life. sled 0.34 writes a whole leaf node again when it consolidates a node, so
//! re-inserting the whole task on every transition made a large registry write several
//! times more bytes per task than a small one (BENCHMARKS.md, "Durable start flat in
//! registry size"). The registry therefore keeps:
//!
//! - a [`StateRecord`] (state, times, run, result summary, and every field that `list`,
//!   `count` and their filters read), re-inserted on every save;
//! - a [`RequestRecord`] (the rest), inserted once and left alone while it does not change.
//!
//! Both are compact JSON: absent and empty fields are left out, so a state record is a few
//! hundred bytes. [`split`] and [`join`] name every field of [`Task`], so a field added to
//! `Task` does not compile until it is given a side.

use codexd_api::{
    Reconnecting, ReviewTarget, Task, TaskId, TaskKind, TaskState, Timestamp, Transition,
    WorktreeInfo,
};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// True for `false` (serde's `skip_serializing_if` wants a function).
fn is_false(value: &bool) -> bool {
    !*value
}

/// True for zero.
fn is_zero(value: &u64) -> bool {
    *value == 0
}

/// The fields of a task that change after it is accepted, and those that lists, counts
/// and their filters read (cwd, labels, session, kind, group, request id, thread).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StateRecord {
    /// Task id.
    pub id: TaskId,
    /// Current state.
    pub state: TaskState,
    /// Codex's thread id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thread_id: Option<String>,
    /// Working directory (a list and count filter).
    pub cwd: PathBuf,
    /// Labels (a list and count filter).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub labels: Vec<String>,
    /// The Claude Code session (a list and count filter).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_id: Option<String>,
    /// The client's idempotency key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// When the result was first read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result_read_at: Option<Timestamp>,
    /// When the task was accepted (part of the storage key: never changes).
    pub created_at: Timestamp,
    /// When codex was started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<Timestamp>,
    /// When the task ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<Timestamp>,
    /// Codex's exit code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    /// The signal that killed codex.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_signal: Option<i32>,
    /// Why the task did not succeed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Codex's last agent message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub final_message: Option<String>,
    /// The run's supervisor process.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<u32>,
    /// That process's start time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid_start_time: Option<u64>,
    /// Size of the event log.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub log_bytes: u64,
    /// True when the event log reached its limit.
    #[serde(default, skip_serializing_if = "is_false")]
    pub log_truncated: bool,
    /// The work tree's tree object when the run started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub git_base_tree: Option<String>,
    /// Every state entered.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub transitions: Vec<Transition>,
    /// The task's worktree (changes on apply and discard).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub worktree: Option<WorktreeInfo>,
    /// The best-of-N group (a filter of worktree operations).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// Codex's reconnect notices.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reconnecting: Option<Reconnecting>,
    /// `exec` or `review` (a list and count filter).
    #[serde(default)]
    pub kind: TaskKind,
}

impl StateRecord {
    /// True when the task ended and its result was never read.
    pub fn is_unread(&self) -> bool {
        self.state.is_terminal() && self.result_read_at.is_none()
    }
}

/// The fields of a task fixed when it is accepted and read by no list, count or filter.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RequestRecord {
    /// Prompt.
    pub prompt: String,
    /// Sandbox mode.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sandbox: Option<String>,
    /// Model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// `-c` overrides.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub config: Vec<String>,
    /// Names of the environment variables the client set.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub env_keys: Vec<String>,
    /// Wall-clock limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
    /// The task this one resumed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<TaskId>,
    /// Stall limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stall_timeout_ms: Option<u64>,
    /// Reasoning effort.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub effort: Option<String>,
    /// Codex config profile.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
    /// The attached images' copies.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub images: Vec<PathBuf>,
    /// Extra writable directories.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub add_dirs: Vec<PathBuf>,
    /// True when the task has an output schema.
    #[serde(default, skip_serializing_if = "is_false")]
    pub output_schema: bool,
    /// What a review task reviews.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub review: Option<ReviewTarget>,
    /// True when the task forked its parent's thread.
    #[serde(default, skip_serializing_if = "is_false")]
    pub forked: bool,
}

/// Splits `task` into what the registry stores. `queue_position` is left out: it is
/// derived from the live queue when a task is read, never stored.
pub fn split(task: &Task) -> (StateRecord, RequestRecord) {
    let Task {
        id,
        state,
        thread_id,
        prompt,
        cwd,
        sandbox,
        model,
        config,
        env_keys,
        timeout_ms,
        parent,
        labels,
        session_id,
        request_id,
        result_read_at,
        created_at,
        started_at,
        finished_at,
        exit_code,
        exit_signal,
        error,
        final_message,
        queue_position: _,
        pid,
        pid_start_time,
        log_bytes,
        log_truncated,
        git_base_tree,
        transitions,
        worktree,
        group,
        stall_timeout_ms,
        reconnecting,
        kind,
        effort,
        profile,
        images,
        add_dirs,
        output_schema,
        review,
        forked,
    } = task.clone();
    let state = StateRecord {
        id,
        state,
        thread_id,
        cwd,
        labels,
        session_id,
        request_id,
        result_read_at,
        created_at,
        started_at,
        finished_at,
        exit_code,
        exit_signal,
        error,
        final_message,
        pid,
        pid_start_time,
        log_bytes,
        log_truncated,
        git_base_tree,
        transitions,
        worktree,
        group,
        reconnecting,
        kind,
    };
    let request = RequestRecord {
        prompt,
        sandbox,
        model,
        config,
        env_keys,
        timeout_ms,
        parent,
        stall_timeout_ms,
        effort,
        profile,
        images,
        add_dirs,
        output_schema,
        review,
        forked,
    };
    (state, request)
}

/// The whole task again (its `queue_position` unset).
pub fn join(state: StateRecord, request: RequestRecord) -> Task {
    let StateRecord {
        id,
        state,
        thread_id,
        cwd,
        labels,
        session_id,
        request_id,
        result_read_at,
        created_at,
        started_at,
        finished_at,
        exit_code,
        exit_signal,
        error,
        final_message,
        pid,
        pid_start_time,
        log_bytes,
        log_truncated,
        git_base_tree,
        transitions,
        worktree,
        group,
        reconnecting,
        kind,
    } = state;
    let RequestRecord {
        prompt,
        sandbox,
        model,
        config,
        env_keys,
        timeout_ms,
        parent,
        stall_timeout_ms,
        effort,
        profile,
        images,
        add_dirs,
        output_schema,
        review,
        forked,
    } = request;
    Task {
        id,
        state,
        thread_id,
        prompt,
        cwd,
        sandbox,
        model,
        config,
        env_keys,
        timeout_ms,
        parent,
        labels,
        session_id,
        request_id,
        result_read_at,
        created_at,
        started_at,
        finished_at,
        exit_code,
        exit_signal,
        error,
        final_message,
        queue_position: None,
        pid,
        pid_start_time,
        log_bytes,
        log_truncated,
        git_base_tree,
        transitions,
        worktree,
        group,
        stall_timeout_ms,
        reconnecting,
        kind,
        effort,
        profile,
        images,
        add_dirs,
        output_schema,
        review,
        forked,
    }
}

/// The storage key of a task's state and request records: its creation time (big-endian
/// milliseconds), then its id. New tasks sort last, so the records written most (those of
/// the tasks that are running now) sit together in the tree's last nodes instead of in
/// random ones, and `list` reads the newest first by walking the keys backwards.
pub fn order_key(id: &TaskId, created_at: Timestamp) -> Vec<u8> {
    let mut key = created_at.unix_ms().to_be_bytes().to_vec();
    key.extend_from_slice(id.as_str().as_bytes());
    key
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::taskdir::StoredRequest;

    /// A task with every optional field set, so that a field dropped by `split` or `join`
    /// shows.
    fn full_task() -> Task {
        let at = Timestamp::from_unix_ms(1_700_000_000_000);
        let mut task = StoredRequest::for_test("abcd1234", "/w", at).new_task();
        task.enter(TaskState::Running, at);
        task.enter(TaskState::Failed, at);
        task.thread_id = Some("thread".into());
        task.sandbox = Some("read-only".into());
        task.model = Some("m".into());
        task.config = vec!["a=b".into()];
        task.env_keys = vec!["K".into()];
        task.timeout_ms = Some(5);
        task.parent = Some(TaskId::from_stored("parent01"));
        task.labels = vec!["l".into()];
        task.session_id = Some("s".into());
        task.request_id = Some("r".into());
        task.result_read_at = Some(at);
        task.exit_code = Some(1);
        task.exit_signal = Some(9);
        task.error = Some("e".into());
        task.final_message = Some("f".into());
        task.pid = Some(7);
        task.pid_start_time = Some(8);
        task.log_bytes = 10;
        task.log_truncated = true;
        task.git_base_tree = Some("tree".into());
        task.group = Some("g".into());
        task.stall_timeout_ms = Some(6);
        task.reconnecting = Some(Reconnecting {
            message: "Reconnecting...".into(),
            count: 2,
            since: at,
        });
        task.kind = TaskKind::Review;
        task.effort = Some("high".into());
        task.profile = Some("p".into());
        task.images = vec!["i.png".into()];
        task.add_dirs = vec!["/d".into()];
        task.output_schema = true;
        task.review = Some(ReviewTarget::default());
        task.forked = true;
        task
    }

    #[test]
    fn split_and_join_keep_every_field_through_json() {
        let task = full_task();
        let (state, request) = split(&task);
        let state: StateRecord =
            serde_json::from_slice(&serde_json::to_vec(&state).unwrap()).unwrap();
        let request: RequestRecord =
            serde_json::from_slice(&serde_json::to_vec(&request).unwrap()).unwrap();
        assert_eq!(join(state, request), task);
    }

    #[test]
    fn a_fresh_task_keeps_defaults_and_its_state_record_is_small() {
        // Whole milliseconds: stored times keep no more.
        let at = Timestamp::from_unix_ms(1_700_000_000_000);
        let mut task = StoredRequest::for_test("abcd1234", "/w", at).new_task();
        task.prompt = "a prompt ".repeat(50);
        task.queue_position = Some(3);
        let (state, request) = split(&task);
        let state_bytes = serde_json::to_vec(&state).unwrap();
        assert!(
            !String::from_utf8_lossy(&state_bytes).contains("a prompt"),
            "the prompt is not in the state record"
        );
        let whole = serde_json::to_vec(&task).unwrap();
        assert!(
            state_bytes.len() * 3 < whole.len(),
            "state record {} bytes, whole task {} bytes",
            state_bytes.len(),
            whole.len()
        );
        let mut expected = task.clone();
        expected.queue_position = None;
        let state: StateRecord = serde_json::from_slice(&state_bytes).unwrap();
        let request: RequestRecord =
            serde_json::from_slice(&serde_json::to_vec(&request).unwrap()).unwrap();
        assert_eq!(join(state, request), expected);
    }
}
