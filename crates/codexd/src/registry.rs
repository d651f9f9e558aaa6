//! The task registry: one sled record per task, plus an index by creation time.
//!
//! sled is an index here, not the only copy: each task's directory holds enough to rebuild
//! its record. Every write is flushed before it returns, so a state change is durable before
//! any client hears about it. Flushes use sled's blocking `flush` on the blocking pool:
//! sled 0.34's `flush_async` can deadlock under concurrent writers (spacejam/sled#1308).

use codexd_api::{ListQuery, Task, TaskId, TaskPage, TaskResult};
use std::path::{Path, PathBuf};

/// Registry failures, with the database path and the operation.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// sled failed.
    #[error("task registry {}: {op}: {source}", path.display())]
    Sled {
        /// The database directory.
        path: PathBuf,
        /// What was being done.
        op: &'static str,
        /// sled's error.
        #[source]
        source: sled::Error,
    },
    /// A list cursor that this registry did not hand out.
    #[error("invalid list cursor {0:?}")]
    BadCursor(String),
    /// A stored record could not be decoded.
    #[error("task registry {}: record {key} is corrupt: {source}", path.display())]
    Corrupt {
        /// The database directory.
        path: PathBuf,
        /// The record key.
        key: String,
        /// The decoding error.
        #[source]
        source: serde_json::Error,
    },
}

impl RegistryError {
    /// True when the caller's input was at fault, not the database.
    pub fn is_bad_input(&self) -> bool {
        matches!(self, RegistryError::BadCursor(_))
    }
}

/// The outcome of resolving a user-typed id or prefix.
#[derive(Debug, PartialEq, Eq)]
pub enum Resolved {
    /// Exactly one task.
    One(TaskId),
    /// No task.
    None,
    /// Several tasks share the prefix (some of them listed).
    Ambiguous(Vec<TaskId>),
}

/// The sled-backed task registry.
#[derive(Clone)]
pub struct Registry {
    path: PathBuf,
    db: sled::Db,
    tasks: sled::Tree,
    by_created: sled::Tree,
    results: sled::Tree,
}

const DEFAULT_PAGE: u32 = 50;
const MAX_PAGE: u32 = 1000;

impl Registry {
    /// Opens (or creates) the registry at `path`.
    pub fn open(path: &Path) -> Result<Self, RegistryError> {
        let sled_err = |op| {
            let path = path.to_path_buf();
            move |source| RegistryError::Sled { path, op, source }
        };
        let db = sled::Config::new()
            .path(path)
            .cache_capacity(8 * 1024 * 1024)
            .flush_every_ms(Some(100))
            .open()
            .map_err(sled_err("open"))?;
        let tasks = db.open_tree("tasks").map_err(sled_err("open tree"))?;
        let by_created = db.open_tree("by_created").map_err(sled_err("open tree"))?;
        let results = db.open_tree("results").map_err(sled_err("open tree"))?;
        Ok(Registry {
            path: path.to_path_buf(),
            db,
            tasks,
            by_created,
            results,
        })
    }

    fn err(&self, op: &'static str) -> impl FnOnce(sled::Error) -> RegistryError + '_ {
        move |source| RegistryError::Sled {
            path: self.path.clone(),
            op,
            source,
        }
    }

    fn decode(&self, key: &[u8], bytes: &[u8]) -> Result<Task, RegistryError> {
        serde_json::from_slice(bytes).map_err(|source| RegistryError::Corrupt {
            path: self.path.clone(),
            key: String::from_utf8_lossy(key).into_owned(),
            source,
        })
    }

    fn order_key(task: &Task) -> Vec<u8> {
        let mut key = task.created_at.unix_ms().to_be_bytes().to_vec();
        key.extend_from_slice(task.id.as_str().as_bytes());
        key
    }

    /// Removes a task's record, index entry and result, and flushes.
    pub async fn remove(&self, task: &Task) -> Result<(), RegistryError> {
        self.tasks
            .remove(task.id.as_str())
            .map_err(self.err("remove"))?;
        self.by_created
            .remove(Self::order_key(task))
            .map_err(self.err("remove index"))?;
        self.results
            .remove(task.id.as_str())
            .map_err(self.err("remove result"))?;
        self.flush().await
    }

    /// Stores `task` (insert or replace) and flushes to disk before returning.
    pub async fn save(&self, task: &Task) -> Result<(), RegistryError> {
        let mut stored = task.clone();
        // Derived at read time from the live queue; never stored.
        stored.queue_position = None;
        let bytes = serde_json::to_vec(&stored).map_err(|source| RegistryError::Corrupt {
            path: self.path.clone(),
            key: task.id.to_string(),
            source,
        })?;
        self.tasks
            .insert(task.id.as_str(), bytes)
            .map_err(self.err("insert"))?;
        self.by_created
            .insert(Self::order_key(task), task.id.as_str())
            .map_err(self.err("index"))?;
        self.flush().await
    }

    /// Stores a finished task's full result (flushed with the next [`Registry::save`]).
    pub fn save_result(&self, id: &TaskId, result: &TaskResult) -> Result<(), RegistryError> {
        let bytes = serde_json::to_vec(result).map_err(|source| RegistryError::Corrupt {
            path: self.path.clone(),
            key: id.to_string(),
            source,
        })?;
        self.results
            .insert(id.as_str(), bytes)
            .map_err(self.err("insert result"))?;
        Ok(())
    }

    /// A finished task's full result.
    pub fn get_result(&self, id: &TaskId) -> Result<Option<TaskResult>, RegistryError> {
        match self
            .results
            .get(id.as_str())
            .map_err(self.err("get result"))?
        {
            Some(bytes) => {
                serde_json::from_slice(&bytes)
                    .map(Some)
                    .map_err(|source| RegistryError::Corrupt {
                        path: self.path.clone(),
                        key: format!("result {id}"),
                        source,
                    })
            }
            None => Ok(None),
        }
    }

    /// The task with exactly this id.
    pub fn get(&self, id: &TaskId) -> Result<Option<Task>, RegistryError> {
        match self.tasks.get(id.as_str()).map_err(self.err("get"))? {
            Some(bytes) => self.decode(id.as_str().as_bytes(), &bytes).map(Some),
            None => Ok(None),
        }
    }

    /// True if a task with this exact id exists.
    pub fn contains(&self, id: &TaskId) -> Result<bool, RegistryError> {
        self.tasks
            .contains_key(id.as_str())
            .map_err(self.err("contains"))
    }

    /// Resolves a full id or an unambiguous prefix.
    pub fn resolve(&self, prefix: &str) -> Result<Resolved, RegistryError> {
        let mut found = Vec::new();
        for entry in self.tasks.scan_prefix(prefix) {
            let (key, _) = entry.map_err(self.err("scan"))?;
            let id = TaskId::from_stored(String::from_utf8_lossy(&key).into_owned());
            if id.as_str() == prefix {
                return Ok(Resolved::One(id));
            }
            found.push(id);
            if found.len() > 5 {
                break;
            }
        }
        Ok(match found.len() {
            0 => Resolved::None,
            1 => Resolved::One(found.remove(0)),
            _ => Resolved::Ambiguous(found),
        })
    }

    /// Checks that every record decodes (the start-up consistency check).
    pub fn check(&self) -> Result<usize, RegistryError> {
        let mut tasks = 0;
        for entry in self.tasks.iter() {
            let (key, bytes) = entry.map_err(self.err("iterate"))?;
            self.decode(&key, &bytes)?;
            tasks += 1;
        }
        for entry in self.results.iter() {
            let (key, bytes) = entry.map_err(self.err("iterate results"))?;
            serde_json::from_slice::<TaskResult>(&bytes).map_err(|source| {
                RegistryError::Corrupt {
                    path: self.path.clone(),
                    key: format!("result {}", String::from_utf8_lossy(&key)),
                    source,
                }
            })?;
        }
        Ok(tasks)
    }

    /// The tasks for which `keep` is true, decoding one record at a time so that a large
    /// registry is never held in memory at once.
    pub fn tasks_where(&self, keep: impl Fn(&Task) -> bool) -> Result<Vec<Task>, RegistryError> {
        let mut tasks = Vec::new();
        for entry in self.tasks.iter() {
            let (key, bytes) = entry.map_err(self.err("iterate"))?;
            let task = self.decode(&key, &bytes)?;
            if keep(&task) {
                tasks.push(task);
            }
        }
        Ok(tasks)
    }

    /// Tasks newest first, filtered by state and cwd, one page at a time. The cursor is the
    /// hex index key of the last task of the previous page.
    pub fn list(&self, query: &ListQuery) -> Result<TaskPage, RegistryError> {
        let limit = query.limit.unwrap_or(DEFAULT_PAGE).clamp(1, MAX_PAGE) as usize;
        let upper = match &query.cursor {
            Some(cursor) => {
                Some(decode_hex(cursor).ok_or_else(|| RegistryError::BadCursor(cursor.clone()))?)
            }
            None => None,
        };
        let range = match &upper {
            Some(key) => self.by_created.range(..key.as_slice()),
            None => self.by_created.range::<&[u8], _>(..),
        };
        let mut tasks = Vec::new();
        let mut next_cursor = None;
        for entry in range.rev() {
            let (_, id) = entry.map_err(self.err("list"))?;
            let id = TaskId::from_stored(String::from_utf8_lossy(&id).into_owned());
            let Some(task) = self.get(&id)? else {
                continue;
            };
            if !query.states.is_empty() && !query.states.contains(&task.state) {
                continue;
            }
            if let Some(cwd) = &query.cwd
                && &task.cwd != cwd
            {
                continue;
            }
            if let Some(thread) = &query.thread_id
                && task.thread_id.as_ref() != Some(thread)
            {
                continue;
            }
            if let Some(label) = &query.label
                && !task.labels.contains(label)
            {
                continue;
            }
            if tasks.len() == limit {
                next_cursor = Some(encode_hex(&Self::order_key(&tasks[limit - 1])));
                break;
            }
            tasks.push(task);
        }
        Ok(TaskPage { tasks, next_cursor })
    }

    /// Flushes everything to disk.
    pub async fn flush(&self) -> Result<(), RegistryError> {
        let db = self.db.clone();
        match tokio::task::spawn_blocking(move || db.flush()).await {
            Ok(flushed) => flushed.map(|_| ()).map_err(self.err("flush")),
            Err(join) => Err(self.err("flush")(sled::Error::ReportableBug(format!(
                "the flush task failed: {join}"
            )))),
        }
    }

    /// Number of tasks recorded.
    pub fn len(&self) -> usize {
        self.tasks.len()
    }

    /// True when no task is recorded.
    pub fn is_empty(&self) -> bool {
        self.tasks.is_empty()
    }
}

fn encode_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn decode_hex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::taskdir::StoredRequest;
    use codexd_api::{TaskState, Timestamp};

    fn task(id: &str, ms: u64, cwd: &str) -> Task {
        StoredRequest::for_test(id, cwd, Timestamp::from_unix_ms(ms)).new_task()
    }

    #[tokio::test]
    async fn save_get_resolve_and_list_newest_first() {
        let dir = tempfile::tempdir().unwrap();
        let reg = Registry::open(&dir.path().join("db")).unwrap();
        for (i, id) in ["abc00001", "abc00002", "xyz00003"].iter().enumerate() {
            reg.save(&task(id, 1000 + i as u64, "/w")).await.unwrap();
        }
        let mut done = task("xyz00004", 2000, "/other");
        done.enter(TaskState::Succeeded, Timestamp::now());
        reg.save(&done).await.unwrap();

        assert_eq!(
            reg.resolve("x").unwrap(),
            Resolved::Ambiguous(vec![
                TaskId::from_stored("xyz00003"),
                TaskId::from_stored("xyz00004")
            ])
        );
        assert_eq!(
            reg.resolve("abc00002").unwrap(),
            Resolved::One(TaskId::from_stored("abc00002"))
        );
        assert_eq!(reg.resolve("q").unwrap(), Resolved::None);

        let page = reg
            .list(&ListQuery {
                limit: Some(2),
                ..Default::default()
            })
            .unwrap();
        let ids: Vec<_> = page.tasks.iter().map(|t| t.id.to_string()).collect();
        assert_eq!(ids, ["xyz00004", "xyz00003"]);
        let next = reg
            .list(&ListQuery {
                limit: Some(2),
                cursor: page.next_cursor,
                ..Default::default()
            })
            .unwrap();
        let ids: Vec<_> = next.tasks.iter().map(|t| t.id.to_string()).collect();
        assert_eq!(ids, ["abc00002", "abc00001"]);
        assert_eq!(next.next_cursor, None);

        let queued = reg
            .list(&ListQuery {
                states: vec![TaskState::Queued],
                cwd: Some("/w".into()),
                ..Default::default()
            })
            .unwrap();
        assert_eq!(queued.tasks.len(), 3);
        let other = reg
            .list(&ListQuery {
                cwd: Some("/other".into()),
                ..Default::default()
            })
            .unwrap();
        assert_eq!(other.tasks.len(), 1);
        assert_eq!(other.tasks[0].state, TaskState::Succeeded);
    }

    #[tokio::test]
    async fn records_survive_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        {
            let reg = Registry::open(&path).unwrap();
            reg.save(&task("abc00001", 1, "/w")).await.unwrap();
        }
        let reg = Registry::open(&path).unwrap();
        assert!(reg.contains(&TaskId::from_stored("abc00001")).unwrap());
        assert_eq!(reg.len(), 1);
    }
}
