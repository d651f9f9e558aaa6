//! The tasks that need attention, kept in memory: every task that is queued or running, or
//! that ended and whose result was never read. `codexd_count` (status lines, which ask every
//! few hundred milliseconds) answers from here, so its cost follows the number of such tasks,
//! never the size of the registry, and it reads nothing from disk.
//!
//! The registry updates the index on every save and removal, under the same lock as the
//! sled write, so the index and the records never disagree about a task's state.

use super::state::StateRecord;
use codexd_api::{CountQuery, TaskCounts, TaskId, TaskKind, TaskState};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard};

/// What a count filters on, for one task that needs attention.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    state: TaskState,
    unread: bool,
    cwd: PathBuf,
    session_id: Option<String>,
    labels: Vec<String>,
    kind: TaskKind,
}

impl Entry {
    /// The entry for `task`, or `None` when the task needs no attention (ended and read).
    fn of(task: &StateRecord) -> Option<Entry> {
        let unread = task.is_unread();
        if task.state.is_terminal() && !unread {
            return None;
        }
        Some(Entry {
            state: task.state,
            unread,
            cwd: codexd_api::origin_cwd(&task.cwd, task.worktree.as_ref()),
            session_id: task.session_id.clone(),
            labels: task.labels.clone(),
            kind: task.kind,
        })
    }

    /// True when the entry passes every filter of `query`.
    fn matches(&self, query: &CountQuery) -> bool {
        query
            .cwd
            .as_ref()
            .is_none_or(|cwd| self.cwd.starts_with(cwd))
            && query
                .session_id
                .as_ref()
                .is_none_or(|session| self.session_id.as_ref() == Some(session))
            && query
                .label
                .as_ref()
                .is_none_or(|label| self.labels.contains(label))
            && query.kind.is_none_or(|kind| kind == self.kind)
    }
}

/// The in-memory index of tasks that need attention.
#[derive(Debug, Default)]
pub struct Attention {
    entries: Mutex<HashMap<TaskId, Entry>>,
}

impl Attention {
    /// Locks the index; the registry holds the guard across its sled write (see the module
    /// comment). A poisoned lock still holds consistent data (updates are single inserts).
    pub fn lock(&self) -> AttentionGuard<'_> {
        AttentionGuard(self.entries.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// Counts the tasks that pass `query`.
    pub fn count(&self, query: &CountQuery) -> TaskCounts {
        let entries = self.lock();
        let mut counts = TaskCounts::default();
        for entry in entries.0.values().filter(|e| e.matches(query)) {
            match entry.state {
                TaskState::Running => counts.running += 1,
                TaskState::Queued => counts.queued += 1,
                _ => {}
            }
            if entry.unread {
                counts.unread += 1;
            }
        }
        counts
    }
}

/// The locked index.
pub struct AttentionGuard<'a>(MutexGuard<'a, HashMap<TaskId, Entry>>);

impl AttentionGuard<'_> {
    /// Records `task` as it is now: added, updated, or dropped once it needs no attention.
    pub fn update(&mut self, task: &StateRecord) {
        match Entry::of(task) {
            Some(entry) => {
                self.0.insert(task.id.clone(), entry);
            }
            None => {
                self.0.remove(&task.id);
            }
        }
    }

    /// Forgets a removed task.
    pub fn remove(&mut self, id: &TaskId) {
        self.0.remove(id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::state;
    use crate::registry::taskdir::StoredRequest;
    use codexd_api::Timestamp;

    /// The state record of a task in `state` in `cwd`, of `session`.
    fn task(id: &str, state: TaskState, cwd: &str, session: Option<&str>) -> StateRecord {
        let mut task = StoredRequest::for_test(id, cwd, Timestamp::now()).new_task();
        task.state = state;
        task.session_id = session.map(String::from);
        state::split(&task).0
    }

    #[test]
    fn counts_follow_each_save_and_drop_read_tasks() {
        let index = Attention::default();
        let all = CountQuery::default();
        index
            .lock()
            .update(&task("a", TaskState::Running, "/w", None));
        index
            .lock()
            .update(&task("b", TaskState::Queued, "/w", Some("s")));
        index
            .lock()
            .update(&task("c", TaskState::Succeeded, "/x", Some("s")));
        assert_eq!(
            index.count(&all),
            TaskCounts {
                running: 1,
                queued: 1,
                unread: 1
            }
        );
        let session = CountQuery {
            session_id: Some("s".into()),
            ..CountQuery::default()
        };
        assert_eq!(
            index.count(&session),
            TaskCounts {
                running: 0,
                queued: 1,
                unread: 1
            }
        );
        let project = CountQuery {
            cwd: Some("/w".into()),
            ..CountQuery::default()
        };
        assert_eq!(index.count(&project).unread, 0);

        // The queued task runs, the ended one is read, the running one is removed.
        index
            .lock()
            .update(&task("b", TaskState::Running, "/w", Some("s")));
        let mut read = task("c", TaskState::Succeeded, "/x", Some("s"));
        read.result_read_at = Some(Timestamp::now());
        index.lock().update(&read);
        index.lock().remove(&TaskId::from_stored("a"));
        assert_eq!(
            index.count(&all),
            TaskCounts {
                running: 1,
                queued: 0,
                unread: 0
            }
        );
        assert_eq!(index.lock().0.len(), 1, "read tasks are not kept");
    }
}
