//! The thin client of codexd, used by every front end (`codexctl`, the MCP shim).
//!
//! - [`Client::connect`] / [`Client::connect_or_start`]: reach the daemon on its socket,
//!   starting it in the background if none answers ([`autostart`]);
//! - typed calls returning [`ClientError`] (the API's typed errors are kept);
//! - [`Client::watch`]: the subscription stream of a task's state and events;
//! - [`wait::wait_for_tasks`]: wait for tasks to end, surviving daemon restarts;
//! - [`config::client_defaults`]: the `[client]` defaults of the config file.

pub mod autostart;
pub mod config;
pub mod transport;
pub mod wait;

pub use codexd_api as api;

use codexd_api::{
    ApiError, CodexdApiClient, CountQuery, ListQuery, LogChunk, LogStream, PruneReply,
    ResumeRequest, StartRequest, Task, TaskCounts, TaskPage, TaskResult, TaskState, VersionInfo,
    WaitReply, WatchItem,
};
use jsonrpsee::core::client::Subscription;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The stream of a `watch` subscription (see [`Client::watch`]).
pub type WatchStream =
    std::pin::Pin<Box<dyn futures::Stream<Item = Result<WatchItem, ClientError>> + Send>>;

/// Environment variables a client forwards to codex by default, so runs see the caller's
/// tools, Python virtualenv, Codex home, credentials, proxies and CA certificates rather
/// than those of whichever shell started the daemon. A variable on this list that is not
/// set in the caller's environment is removed from the run's (see [`forwarded_env`]).
///
/// Values travel in the request and are held in memory only (never written under the
/// state directory); values of secret-looking names (`*_KEY`, `*_TOKEN`, ...) are also
/// redacted from everything codex prints. The README's "Environment" section lists the
/// same variables: keep the two in step.
pub const FORWARDED_ENV: &[&str] = &[
    // Tools, virtualenv and Codex home.
    "PATH",
    "VIRTUAL_ENV",
    "CODEX_HOME",
    // Credentials and endpoint of the built-in OpenAI provider.
    "OPENAI_API_KEY",
    "CODEX_API_KEY",
    "OPENAI_BASE_URL",
    "OPENAI_ORGANIZATION",
    "OPENAI_PROJECT",
    // Proxies (both spellings: tools differ in which one they read).
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "ALL_PROXY",
    "NO_PROXY",
    "http_proxy",
    "https_proxy",
    "all_proxy",
    "no_proxy",
    // Custom CA certificates.
    "CODEX_CA_CERTIFICATE",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
];

/// Client failures.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// Nothing answers on the socket.
    #[error("cannot connect to codexd at {}: {source}", socket.display())]
    Connect {
        /// The socket.
        socket: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// Starting the daemon failed.
    #[error("cannot start codexd: {0}")]
    Autostart(String),
    /// The daemon was not started because the last daemon on this socket used another
    /// state directory or codex binary (final: retrying cannot help).
    #[error("{0}")]
    SettingsDiffer(String),
    /// The daemon answered with an error.
    #[error("{0}")]
    Api(#[from] ApiError),
    /// The connection failed or the daemon went away.
    #[error("connection to codexd lost: {0}")]
    Transport(String),
}

impl ClientError {
    /// The typed API error, if the daemon answered with one.
    pub fn api(&self) -> Option<&ApiError> {
        match self {
            ClientError::Api(e) => Some(e),
            _ => None,
        }
    }

    /// True when the daemon is unreachable or went away (worth reconnecting).
    pub fn is_disconnect(&self) -> bool {
        matches!(
            self,
            ClientError::Connect { .. } | ClientError::Transport(_)
        )
    }
}

impl From<jsonrpsee::core::ClientError> for ClientError {
    fn from(err: jsonrpsee::core::ClientError) -> Self {
        match err {
            jsonrpsee::core::ClientError::Call(obj) => {
                ClientError::Api(ApiError::from_error_object(&obj))
            }
            other => match transport::refused(&other) {
                Some(refused) => ClientError::Api(refused),
                None => ClientError::Transport(other.to_string()),
            },
        }
    }
}

/// How to reach the daemon.
#[derive(Debug, Clone)]
pub struct ConnectOptions {
    /// The socket.
    pub socket: PathBuf,
    /// Start `codexd` if nothing answers.
    pub autostart: bool,
    /// The `codexd` executable to start (default: next to this executable, else on PATH).
    pub daemon_exe: Option<PathBuf>,
    /// How long to wait for a started daemon to answer.
    pub start_timeout: Duration,
}

impl ConnectOptions {
    /// Options for `socket` (the default socket when `None`), with autostart on.
    pub fn new(socket: Option<PathBuf>) -> Self {
        ConnectOptions {
            socket: socket.unwrap_or_else(codexd_api::paths::default_socket),
            autostart: true,
            daemon_exe: None,
            start_timeout: Duration::from_secs(10),
        }
    }
}

/// A connection to the daemon.
pub struct Client {
    rpc: jsonrpsee::core::client::Client,
    socket: PathBuf,
}

impl Client {
    /// Connects to the daemon on `socket`.
    pub async fn connect(socket: &Path) -> Result<Client, ClientError> {
        let (sender, receiver) =
            transport::connect(socket)
                .await
                .map_err(|source| ClientError::Connect {
                    socket: socket.to_path_buf(),
                    source,
                })?;
        let rpc = jsonrpsee::core::client::ClientBuilder::default()
            // `wait` may legitimately take hours; callers bound it with their own timeout.
            .request_timeout(Duration::from_secs(7 * 24 * 3600))
            .max_buffer_capacity_per_subscription(4096)
            .build_with_tokio(sender, receiver);
        Ok(Client {
            rpc,
            socket: socket.to_path_buf(),
        })
    }

    /// Connects, starting the daemon first if nothing answers and `options.autostart`.
    pub async fn connect_or_start(options: &ConnectOptions) -> Result<Client, ClientError> {
        match Client::connect(&options.socket).await {
            Ok(client) => Ok(client),
            Err(err) if options.autostart && err.is_disconnect() => {
                autostart::start_daemon(options).await?;
                Client::connect(&options.socket).await
            }
            Err(err) => Err(err),
        }
    }

    /// Starts a task with an idempotency key (`request_id`: the request's own, else a fresh
    /// one), connecting first (see [`Client::connect_or_start`]). If the connection fails
    /// during the call, the start is sent once more, over a new connection, with the same
    /// key: the daemon returns the task the first one created, if it did, so a start whose
    /// reply was lost is never run twice.
    pub async fn start_keyed(
        options: &ConnectOptions,
        mut request: StartRequest,
    ) -> Result<Task, ClientError> {
        request.request_id.get_or_insert_with(new_request_id);
        match Client::connect_or_start(options)
            .await?
            .start(request.clone())
            .await
        {
            Err(e) if e.is_disconnect() => {
                Client::connect_or_start(options)
                    .await?
                    .start(request)
                    .await
            }
            other => other,
        }
    }

    /// As [`Client::start_keyed`], for a resume.
    pub async fn resume_keyed(
        options: &ConnectOptions,
        mut request: ResumeRequest,
    ) -> Result<Task, ClientError> {
        request.request_id.get_or_insert_with(new_request_id);
        match Client::connect_or_start(options)
            .await?
            .resume(request.clone())
            .await
        {
            Err(e) if e.is_disconnect() => {
                Client::connect_or_start(options)
                    .await?
                    .resume(request)
                    .await
            }
            other => other,
        }
    }

    /// The socket this client is connected to.
    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// The raw jsonrpsee client (implements the generated `CodexdApiClient` trait).
    pub fn rpc(&self) -> &jsonrpsee::core::client::Client {
        &self.rpc
    }

    /// True while the connection is up.
    pub fn is_connected(&self) -> bool {
        self.rpc.is_connected()
    }

    /// Daemon identity and health.
    pub async fn version(&self) -> Result<VersionInfo, ClientError> {
        Ok(self.rpc.version().await?)
    }

    /// Starts a task.
    pub async fn start(&self, request: StartRequest) -> Result<Task, ClientError> {
        Ok(self.rpc.start(request).await?)
    }

    /// One task by id or unambiguous prefix.
    pub async fn get(&self, id: &str) -> Result<Task, ClientError> {
        Ok(self.rpc.get(id.to_string()).await?)
    }

    /// Lists tasks, newest first.
    pub async fn list(&self, query: ListQuery) -> Result<TaskPage, ClientError> {
        Ok(self.rpc.list(query).await?)
    }

    /// Counts the tasks that are running, queued, or ended unread.
    pub async fn count(&self, query: CountQuery) -> Result<TaskCounts, ClientError> {
        Ok(self.rpc.count(query).await?)
    }

    /// Cancels a task; returns it once it has stopped.
    pub async fn cancel(&self, id: &str) -> Result<Task, ClientError> {
        Ok(self.rpc.cancel(id.to_string()).await?)
    }

    /// The structured result of a task (compact unless `full`); the first call after the
    /// task ended marks it read (`result_read_at`).
    pub async fn result(&self, id: &str, full: bool) -> Result<TaskResult, ClientError> {
        Ok(self.rpc.result(id.to_string(), Some(full), None).await?)
    }

    /// The structured result of a task, without marking it read (a look, not a read).
    pub async fn peek_result(&self, id: &str, full: bool) -> Result<TaskResult, ClientError> {
        Ok(self
            .rpc
            .result(id.to_string(), Some(full), Some(true))
            .await?)
    }

    /// Resumes a finished task's thread with a follow-up prompt (a new task).
    pub async fn resume(&self, request: ResumeRequest) -> Result<Task, ClientError> {
        Ok(self.rpc.resume(request).await?)
    }

    /// Server-side wait for tasks to end (bounded by `timeout`).
    pub async fn wait(
        &self,
        ids: &[String],
        timeout: Option<Duration>,
    ) -> Result<WaitReply, ClientError> {
        Ok(self
            .rpc
            .wait(ids.to_vec(), timeout.map(|t| t.as_millis() as u64))
            .await?)
    }

    /// Reads complete lines of a task's log from a byte offset.
    pub async fn read_log(
        &self,
        id: &str,
        offset: u64,
        max_bytes: Option<u64>,
        stream: LogStream,
    ) -> Result<LogChunk, ClientError> {
        Ok(self
            .rpc
            .read_log(id.to_string(), offset, max_bytes, Some(stream))
            .await?)
    }

    /// The last complete event lines of a running task's log, about `bytes` of them, oldest
    /// first: what a front end reads to tell what the task is doing now. Empty when the task
    /// is not running or its log cannot be read (the first line read may start mid-line and
    /// is then simply not a parsable event).
    pub async fn recent_events(&self, task: &Task, bytes: u64) -> Vec<String> {
        if task.state != TaskState::Running {
            return Vec::new();
        }
        let from = task.log_bytes.saturating_sub(bytes);
        match self
            .read_log(task.id.as_str(), from, Some(bytes * 2), LogStream::Events)
            .await
        {
            Ok(chunk) => chunk.lines.into_iter().map(|l| l.line).collect(),
            Err(_) => Vec::new(),
        }
    }

    /// Subscribes to a task's state changes, and its event lines from `from_offset` when
    /// given. The first item is the task's current state, unless the task has already ended:
    /// then the log replay comes first. The stream ends after the item carrying a terminal
    /// state (always after the whole log), or when the daemon goes away (then without one).
    pub async fn watch(
        &self,
        id: &str,
        from_offset: Option<u64>,
    ) -> Result<WatchStream, ClientError> {
        let subscription: Subscription<WatchItem> =
            self.rpc.watch(id.to_string(), from_offset).await?;
        // The daemon ends its side after the terminal state, but jsonrpsee sends no close
        // notice for a subscription that ends normally: the terminal state is the end.
        let stream =
            futures::stream::unfold((subscription, false), |(mut sub, ended)| async move {
                if ended {
                    return None;
                }
                match sub.next().await? {
                    Ok(item) => {
                        let last =
                            matches!(&item, WatchItem::State { task } if task.state.is_terminal());
                        Some((Ok(item), (sub, last)))
                    }
                    Err(e) => Some((Err(ClientError::Transport(e.to_string())), (sub, true))),
                }
            });
        Ok(Box::pin(stream))
    }

    /// Removes finished tasks that ended more than `older_than` ago (or lists them).
    pub async fn prune(
        &self,
        older_than: Duration,
        dry_run: bool,
    ) -> Result<PruneReply, ClientError> {
        Ok(self
            .rpc
            .prune(older_than.as_millis() as u64, Some(dry_run))
            .await?)
    }

    // --- isolated worktrees and best-of-N (issue 13) ---
    /// A worktree task's change against its base, as a patch.
    pub async fn diff(&self, id: &str) -> Result<api::worktree::DiffReply, ClientError> {
        Ok(self.rpc.diff(id.to_string()).await?)
    }

    /// Applies a worktree task's change to the user's tree (nothing on a conflict).
    pub async fn apply(&self, id: &str) -> Result<api::worktree::ApplyReply, ClientError> {
        Ok(self.rpc.apply(id.to_string()).await?)
    }

    /// Removes worktrees: of `ids`, or of every attempt of `group` but `except`.
    pub async fn discard(
        &self,
        ids: &[String],
        group: Option<&str>,
        except: &[String],
    ) -> Result<api::worktree::DiscardReply, ClientError> {
        Ok(self
            .rpc
            .discard(
                ids.to_vec(),
                group.map(str::to_string),
                (!except.is_empty()).then(|| except.to_vec()),
            )
            .await?)
    }

    /// The attempts of a best-of-N group, best first.
    pub async fn compare(&self, group: &str) -> Result<api::worktree::CompareReply, ClientError> {
        Ok(self.rpc.compare(group.to_string()).await?)
    }

    /// Asks the daemon to exit; running tasks are left running unless `kill_tasks`.
    pub async fn shutdown(&self, kill_tasks: bool) -> Result<(), ClientError> {
        Ok(self.rpc.shutdown(Some(kill_tasks)).await?)
    }
}

/// The variable Claude Code sets in the MCP servers, hooks and Bash commands it starts.
pub const SESSION_ENV: &str = "CLAUDE_CODE_SESSION_ID";

/// The Claude Code session this process runs in ([`SESSION_ENV`]), if any: tasks started
/// from it record it, so the session's tasks can be found (and reminded of) later.
pub fn session_from_env() -> Option<String> {
    std::env::var(SESSION_ENV)
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
}

/// The environment a client forwards by default: [`FORWARDED_ENV`] variables that are set
/// go in the first map; those that are not set are listed for removal, so the run does not
/// inherit the daemon's value (e.g. another project's `VIRTUAL_ENV`).
pub fn forwarded_env() -> (BTreeMap<String, String>, Vec<String>) {
    let mut set = BTreeMap::new();
    let mut remove = Vec::new();
    for &key in FORWARDED_ENV {
        match std::env::var(key) {
            Ok(value) => {
                set.insert(key.to_string(), value);
            }
            Err(_) => remove.push(key.to_string()),
        }
    }
    (set, remove)
}

/// A fresh idempotency key for a start or resume: 32 hex digits, random (std's per-process
/// random hash keys), the time and the process id mixed in.
pub fn new_request_id() -> String {
    use std::hash::{BuildHasher, Hasher};
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or_default();
    let count = COUNTER.fetch_add(1, Ordering::Relaxed);
    let half = |salt: u64| {
        let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
        hasher.write_u64(salt);
        hasher.write_u64(nanos);
        hasher.write_u64(count);
        hasher.write_u32(std::process::id());
        hasher.finish()
    };
    format!("{:016x}{:016x}", half(1), half(2))
}
