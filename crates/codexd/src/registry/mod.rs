//! The task registry: per task, a small state record rewritten on every save and its
//! request written once ([`state`]), keyed by creation time and id, plus an id index.
//! Registries of whole task records from before that split are converted at open
//! ([`convert`]).
//!
//! sled is an index here, not the only copy: each task's directory holds enough to rebuild
//! its record, and a finished task's result lives only in its `result.json`. Every write is
//! flushed before it returns, so a state change is durable before any client hears about it.
//!
//! Flushes go through one flusher thread (group commit): a writer queues itself and waits;
//! the thread takes every writer queued so far, runs sled's blocking `flush` once, and
//! answers them all, so concurrent writers share a flush instead of each paying for one.
//! sled 0.34's `flush_async` is never used: it can deadlock under concurrent writers
//! (spacejam/sled#1308).

pub mod attention;
mod convert;
pub mod records;
pub mod state;
pub mod taskdir;

use attention::Attention;
use codexd_api::{CountQuery, ListQuery, Task, TaskCounts, TaskId, TaskPage};
use state::{RequestRecord, StateRecord};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, mpsc};
use tokio::sync::oneshot;

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
    /// Task id → storage key ([`state::order_key`]); written once per task.
    ids: sled::Tree,
    /// Storage key → [`state::StateRecord`], re-inserted on every save.
    states: sled::Tree,
    /// Storage key → [`state::RequestRecord`], written once per task.
    requests: sled::Tree,
    /// Client idempotency keys (`request_id`) → task id, as long as the task exists.
    by_request_id: sled::Tree,
    flusher: Arc<Flusher>,
    /// The tasks queued, running or ended unread, in memory (see [`attention`]).
    attention: Arc<Attention>,
}

use codexd_api::{DEFAULT_PAGE_LIMIT as DEFAULT_PAGE, MAX_PAGE_LIMIT as MAX_PAGE};

/// sled's page cache. The registry is read one record at a time (lists read a page of 50),
/// so a small cache serves it; sled's default (1 GiB) or a large one only grows the daemon.
const CACHE_BYTES: u64 = 2 * 1024 * 1024;

/// A writer waiting for the next flush.
type FlushWaiter = oneshot::Sender<Result<(), sled::Error>>;

/// The group-commit flusher: one thread, fed through a channel, that owns the flushes.
struct Flusher {
    /// `None` only while dropping, so that the thread sees the channel close.
    waiters: Option<mpsc::Sender<FlushWaiter>>,
    thread: Option<std::thread::JoinHandle<()>>,
    /// Flushes run so far.
    flushes: Arc<AtomicU64>,
}

impl Flusher {
    /// Starts the flusher thread for `db`.
    fn start(db: sled::Db) -> std::io::Result<Self> {
        let (tx, rx) = mpsc::channel::<FlushWaiter>();
        let flushes = Arc::new(AtomicU64::new(0));
        let counter = flushes.clone();
        let thread = std::thread::Builder::new()
            .name("registry-flush".into())
            .spawn(move || {
                // Every writer queued when a flush starts has finished its writes, so one
                // flush covers them all; writers that arrive during it wait for the next.
                while let Ok(first) = rx.recv() {
                    let mut batch = vec![first];
                    batch.extend(rx.try_iter());
                    let flushed = db.flush().map(|_| ());
                    counter.fetch_add(1, Ordering::Relaxed);
                    for waiter in batch {
                        let _ = waiter.send(flushed.clone());
                    }
                }
            })?;
        Ok(Flusher {
            waiters: Some(tx),
            thread: Some(thread),
            flushes,
        })
    }

    /// Waits until every write made before this call is on disk.
    async fn flush(&self) -> Result<(), sled::Error> {
        let (tx, rx) = oneshot::channel();
        let gone = || sled::Error::ReportableBug("the registry flusher thread is gone".into());
        self.waiters
            .as_ref()
            .ok_or_else(gone)?
            .send(tx)
            .map_err(|_| gone())?;
        rx.await.map_err(|_| gone())?
    }
}

impl Drop for Flusher {
    /// Stops the thread and waits for it, so that no flush of ours outlives the last
    /// registry handle.
    fn drop(&mut self) {
        self.waiters = None;
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Registry {
    /// Opens (or creates) the registry at `path`; a registry written before the records
    /// were split ([`state`]) is converted first ([`convert`]).
    pub fn open(path: &Path) -> Result<Self, RegistryError> {
        let sled_err = |op| {
            let path = path.to_path_buf();
            move |source| RegistryError::Sled { path, op, source }
        };
        let config = sled::Config::new()
            .path(path)
            .cache_capacity(CACHE_BYTES)
            // No flush timer: every write is flushed before it returns (below), so sled's
            // periodic flush had nothing to add, and it woke an idle daemon for an fsync
            // ten times a second (nearly all of its idle CPU; BENCHMARKS.md, section 9).
            .flush_every_ms(None);
        // sled's own background threads let go of a database a moment after its last
        // handle in this process is dropped, and hold its file lock until then: a reopen
        // in the same process (tests, or a registry moved aside and rebuilt) waits for
        // that, briefly. Another process holding it is refused earlier (codexd.lock).
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
        let db = loop {
            match config.open() {
                Err(sled::Error::Io(e))
                    if e.to_string().contains("could not acquire lock")
                        && std::time::Instant::now() < deadline =>
                {
                    std::thread::sleep(std::time::Duration::from_millis(10));
                }
                opened => break opened.map_err(sled_err("open"))?,
            }
        };
        let ids = db.open_tree("task_ids").map_err(sled_err("open tree"))?;
        let states = db.open_tree("task_states").map_err(sled_err("open tree"))?;
        let requests = db
            .open_tree("task_requests")
            .map_err(sled_err("open tree"))?;
        let by_request_id = db
            .open_tree("by_request_id")
            .map_err(sled_err("open tree"))?;
        // Registries written before results moved to `result.json` kept a copy here.
        db.drop_tree("results")
            .map_err(sled_err("drop the old results tree"))?;
        let registry = Registry {
            path: path.to_path_buf(),
            ids,
            states,
            requests,
            by_request_id,
            flusher: Arc::new(
                Flusher::start(db.clone())
                    .map_err(|e| sled_err("start the flusher thread")(sled::Error::Io(e)))?,
            ),
            attention: Arc::default(),
        };
        convert::whole_records(&db, &registry)?;
        registry.index_attention();
        Ok(registry)
    }

    /// Fills the attention index from the stored records. A record that does not decode is
    /// left out here: the start-up check ([`Registry::check`]) reports it.
    fn index_attention(&self) {
        let mut index = self.attention.lock();
        for (key, bytes) in self.states.iter().flatten() {
            if let Ok(state) = self.decode::<StateRecord>(&key, &bytes) {
                index.update(&state);
            }
        }
    }

    /// How many of the tasks `query` selects are running, queued, and ended unread; from
    /// memory, whatever the size of the registry.
    pub fn count(&self, query: &CountQuery) -> TaskCounts {
        self.attention.count(query)
    }

    fn err(&self, op: &'static str) -> impl FnOnce(sled::Error) -> RegistryError + '_ {
        move |source| RegistryError::Sled {
            path: self.path.clone(),
            op,
            source,
        }
    }

    /// Decodes one stored record; `key` names it in the error.
    fn decode<T: serde::de::DeserializeOwned>(
        &self,
        key: &[u8],
        bytes: &[u8],
    ) -> Result<T, RegistryError> {
        serde_json::from_slice(bytes).map_err(|source| self.corrupt(key, source))
    }

    /// The error for a record under `key` that does not decode (or is missing its other
    /// half).
    fn corrupt(&self, key: &[u8], source: serde_json::Error) -> RegistryError {
        RegistryError::Corrupt {
            path: self.path.clone(),
            key: printable_key(key),
            source,
        }
    }

    /// Encodes one record for storage.
    fn encode<T: serde::Serialize>(
        &self,
        id: &TaskId,
        record: &T,
    ) -> Result<Vec<u8>, RegistryError> {
        serde_json::to_vec(record).map_err(|source| RegistryError::Corrupt {
            path: self.path.clone(),
            key: id.to_string(),
            source,
        })
    }

    /// The whole task stored under `key`, given its decoded state record.
    fn join_request(&self, key: &[u8], state: StateRecord) -> Result<Task, RegistryError> {
        let Some(bytes) = self.requests.get(key).map_err(self.err("get request"))? else {
            return Err(self.corrupt(
                key,
                serde::de::Error::custom("the task's request record is missing"),
            ));
        };
        let request: RequestRecord = self.decode(key, &bytes)?;
        Ok(state::join(state, request))
    }

    /// Removes a task's records and index entries, and flushes.
    pub async fn remove(&self, task: &Task) -> Result<(), RegistryError> {
        let key = state::order_key(&task.id, task.created_at);
        {
            let mut attention = self.attention.lock();
            self.states.remove(&key).map_err(self.err("remove"))?;
            attention.remove(&task.id);
        }
        self.ids
            .remove(task.id.as_str())
            .map_err(self.err("remove id"))?;
        self.requests
            .remove(&key)
            .map_err(self.err("remove request"))?;
        if let Some(request_id) = &task.request_id {
            self.by_request_id
                .remove(request_id.as_str())
                .map_err(self.err("remove request id"))?;
        }
        self.flush().await
    }

    /// Stores `task` (insert or replace) and flushes to disk before returning.
    pub async fn save(&self, task: &Task) -> Result<(), RegistryError> {
        self.save_unflushed(task)?;
        self.flush().await
    }

    /// Stores `task` (insert or replace) without waiting for the disk: for bulk writes that
    /// end with one [`Registry::flush`].
    ///
    /// Only the small state record is written on every save; the id entry and the request
    /// record are written when they are new or differ from what is stored (a read, which
    /// costs sled no node rewrite).
    pub fn save_unflushed(&self, task: &Task) -> Result<(), RegistryError> {
        let key = state::order_key(&task.id, task.created_at);
        let (state, request) = state::split(task);
        let state_bytes = self.encode(&task.id, &state)?;
        let request_bytes = self.encode(&task.id, &request)?;
        // The request first: a state record is never stored without its request.
        let stored_request = self.requests.get(&key).map_err(self.err("get request"))?;
        if stored_request.as_deref() != Some(request_bytes.as_slice()) {
            self.requests
                .insert(key.as_slice(), request_bytes)
                .map_err(self.err("insert request"))?;
        }
        let stored_key = self.ids.get(task.id.as_str()).map_err(self.err("get id"))?;
        if stored_key.as_deref() != Some(key.as_slice()) {
            self.ids
                .insert(task.id.as_str(), key.as_slice())
                .map_err(self.err("index id"))?;
        }
        let mut attention = self.attention.lock();
        self.states
            .insert(key.as_slice(), state_bytes)
            .map_err(self.err("insert"))?;
        attention.update(&state);
        drop(attention);
        if let Some(request_id) = &task.request_id {
            let stored = self
                .by_request_id
                .get(request_id.as_str())
                .map_err(self.err("get request id"))?;
            if stored.as_deref() != Some(task.id.as_str().as_bytes()) {
                self.by_request_id
                    .insert(request_id.as_str(), task.id.as_str())
                    .map_err(self.err("index request id"))?;
            }
        }
        Ok(())
    }

    /// The task a client's idempotency key (`request_id`) was first used for, while that
    /// task exists.
    pub fn by_request_id(&self, key: &str) -> Result<Option<Task>, RegistryError> {
        let Some(id) = self
            .by_request_id
            .get(key)
            .map_err(self.err("get request id"))?
        else {
            return Ok(None);
        };
        self.get(&TaskId::from_stored(
            String::from_utf8_lossy(&id).into_owned(),
        ))
    }

    /// The task with exactly this id.
    pub fn get(&self, id: &TaskId) -> Result<Option<Task>, RegistryError> {
        let Some(key) = self.ids.get(id.as_str()).map_err(self.err("get id"))? else {
            return Ok(None);
        };
        let Some(bytes) = self.states.get(&key).map_err(self.err("get"))? else {
            // The id entry outlived a removal cut short: the task is gone.
            return Ok(None);
        };
        let state = self.decode(&key, &bytes)?;
        self.join_request(&key, state).map(Some)
    }

    /// True if a task with this exact id exists: its id entry and its state record (an id
    /// entry alone is what a save or removal cut short leaves, and a restore from the task
    /// directories must not skip that task).
    pub fn contains(&self, id: &TaskId) -> Result<bool, RegistryError> {
        match self.ids.get(id.as_str()).map_err(self.err("contains"))? {
            Some(key) => self.states.contains_key(&key).map_err(self.err("contains")),
            None => Ok(false),
        }
    }

    /// Resolves a full id or an unambiguous prefix.
    pub fn resolve(&self, prefix: &str) -> Result<Resolved, RegistryError> {
        let mut found = Vec::new();
        for entry in self.ids.scan_prefix(prefix) {
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

    /// Checks that every record decodes and has its request (the start-up consistency
    /// check).
    pub fn check(&self) -> Result<usize, RegistryError> {
        let mut tasks = 0;
        for entry in self.states.iter() {
            let (key, bytes) = entry.map_err(self.err("iterate"))?;
            let state = self.decode(&key, &bytes)?;
            self.join_request(&key, state)?;
            tasks += 1;
        }
        Ok(tasks)
    }

    /// The tasks for which `keep` is true, decoding one record at a time so that a large
    /// registry is never held in memory at once.
    pub fn tasks_where(&self, keep: impl Fn(&Task) -> bool) -> Result<Vec<Task>, RegistryError> {
        let mut tasks = Vec::new();
        for entry in self.states.iter() {
            let (key, bytes) = entry.map_err(self.err("iterate"))?;
            let task = self.join_request(&key, self.decode(&key, &bytes)?)?;
            if keep(&task) {
                tasks.push(task);
            }
        }
        Ok(tasks)
    }

    /// Tasks newest first, filtered by state and cwd, one page at a time. The cursor is the
    /// hex storage key of the last task of the previous page. Filters read the state
    /// records alone; only the tasks returned read their request.
    pub fn list(&self, query: &ListQuery) -> Result<TaskPage, RegistryError> {
        let limit = query.limit.unwrap_or(DEFAULT_PAGE).clamp(1, MAX_PAGE) as usize;
        let upper = match &query.cursor {
            Some(cursor) => {
                Some(decode_hex(cursor).ok_or_else(|| RegistryError::BadCursor(cursor.clone()))?)
            }
            None => None,
        };
        let range = match &upper {
            Some(key) => self.states.range(..key.as_slice()),
            None => self.states.range::<&[u8], _>(..),
        };
        let mut tasks = Vec::new();
        let mut last_key = Vec::new();
        let mut next_cursor = None;
        for entry in range.rev() {
            let (key, bytes) = entry.map_err(self.err("list"))?;
            let state: StateRecord = self.decode(&key, &bytes)?;
            if !lists(query, &state) {
                continue;
            }
            if tasks.len() == limit {
                next_cursor = Some(encode_hex(&last_key));
                break;
            }
            tasks.push(self.join_request(&key, state)?);
            last_key = key.to_vec();
        }
        Ok(TaskPage { tasks, next_cursor })
    }

    /// Waits until every write made before the call is on disk (shared with concurrent
    /// writers: see the module comment).
    pub async fn flush(&self) -> Result<(), RegistryError> {
        self.flusher.flush().await.map_err(self.err("flush"))
    }

    /// How many flushes reached the disk since the registry was opened (each may cover many
    /// writers' saves).
    pub fn flush_count(&self) -> u64 {
        self.flusher.flushes.load(Ordering::Relaxed)
    }

    /// Number of tasks recorded.
    pub fn len(&self) -> usize {
        self.states.len()
    }

    /// True when no task is recorded.
    pub fn is_empty(&self) -> bool {
        self.states.is_empty()
    }
}

/// True when the task whose state is `state` passes every filter of `query`.
fn lists(query: &ListQuery, state: &StateRecord) -> bool {
    (query.states.is_empty() || query.states.contains(&state.state))
        && query.cwd.as_ref().is_none_or(|cwd| {
            codexd_api::origin_cwd(&state.cwd, state.worktree.as_ref()).starts_with(cwd)
        })
        && query
            .thread_id
            .as_ref()
            .is_none_or(|thread| state.thread_id.as_ref() == Some(thread))
        && query
            .label
            .as_ref()
            .is_none_or(|label| state.labels.contains(label))
        && query
            .session_id
            .as_ref()
            .is_none_or(|session| state.session_id.as_ref() == Some(session))
        && (!query.unread || state.is_unread())
        && query.kind.is_none_or(|kind| kind == state.kind)
}

/// A storage key as text for error messages: an id as it is, an order key (which starts
/// with a zero byte until the year 10 million) as its id and creation time.
fn printable_key(key: &[u8]) -> String {
    match key.split_first_chunk::<8>() {
        Some((ms, id)) if key.first() == Some(&0) => format!(
            "{} (created at {} ms)",
            String::from_utf8_lossy(id),
            u64::from_be_bytes(*ms)
        ),
        _ => String::from_utf8_lossy(key).into_owned(),
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
    use crate::registry::taskdir::StoredRequest;
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

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_saves_share_flushes_and_all_survive_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        {
            let reg = Registry::open(&path).unwrap();
            let saves: Vec<_> = (0..200u64)
                .map(|i| {
                    let reg = reg.clone();
                    tokio::spawn(async move { reg.save(&task(&format!("t{i:07}"), i, "/w")).await })
                })
                .collect();
            for save in saves {
                save.await.unwrap().unwrap();
            }
            let flushes = reg.flush_count();
            assert!(
                (1..200).contains(&flushes),
                "200 concurrent saves took {flushes} flushes"
            );
        }
        // The last handle is gone: the database opens again (once sled's own threads let
        // go of it).
        let reg = Registry::open(&path).unwrap();
        assert_eq!(reg.len(), 200);
        assert_eq!(reg.check().unwrap(), 200);
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

    #[tokio::test]
    async fn counts_come_back_after_reopen_and_follow_removals() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        let mut ended = task("abc00002", 2, "/w");
        ended.enter(TaskState::Succeeded, Timestamp::now());
        {
            let reg = Registry::open(&path).unwrap();
            reg.save(&task("abc00001", 1, "/w")).await.unwrap();
            reg.save(&ended).await.unwrap();
            let mut read = task("abc00003", 3, "/w");
            read.enter(TaskState::Failed, Timestamp::now());
            read.result_read_at = Some(Timestamp::now());
            reg.save(&read).await.unwrap();
        }
        let reg = Registry::open(&path).unwrap();
        let here = CountQuery {
            cwd: Some("/w".into()),
            ..CountQuery::default()
        };
        assert_eq!(
            reg.count(&here),
            TaskCounts {
                running: 0,
                queued: 1,
                unread: 1
            }
        );
        let elsewhere = CountQuery {
            cwd: Some("/elsewhere".into()),
            ..CountQuery::default()
        };
        assert_eq!(reg.count(&elsewhere), TaskCounts::default());
        reg.remove(&ended).await.unwrap();
        assert_eq!(reg.count(&here).unread, 0);
    }
}
