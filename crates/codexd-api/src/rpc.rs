//! The JSON-RPC API as one trait. jsonrpsee generates `CodexdApiServer` (implemented by the
//! daemon) and `CodexdApiClient` (implemented for any jsonrpsee client) from it.
//!
//! Method names on the wire are `codexd_<name>`.

use crate::request::*;
use crate::task::Task;
use jsonrpsee::core::SubscriptionResult;
use jsonrpsee::proc_macros::rpc;
use jsonrpsee::types::ErrorObjectOwned;

/// Result type of every method.
pub type RpcResult<T> = Result<T, ErrorObjectOwned>;

/// The codexd API.
#[rpc(server, client, namespace = "codexd")]
pub trait CodexdApi {
    /// Identity and health of the daemon.
    #[method(name = "version")]
    async fn version(&self) -> RpcResult<VersionInfo>;

    /// Accepts a task; replies once its record is durably stored (and, if asked, once
    /// codex's thread id is known or the wait expired).
    #[method(name = "start")]
    async fn start(&self, request: StartRequest) -> RpcResult<Task>;

    /// One task, by id or unambiguous prefix.
    #[method(name = "get")]
    async fn get(&self, id: String) -> RpcResult<Task>;

    /// Tasks newest first, filtered and paginated.
    #[method(name = "list")]
    async fn list(&self, query: ListQuery) -> RpcResult<TaskPage>;

    /// How many tasks are running, queued, and ended unread, answered from memory without
    /// reading the registry (for status lines, which ask often).
    #[method(name = "count")]
    async fn count(&self, query: CountQuery) -> RpcResult<TaskCounts>;

    /// Cancels a queued or running task; replies when every process of it is gone.
    #[method(name = "cancel")]
    async fn cancel(&self, id: String) -> RpcResult<Task>;

    /// The structured result of a task: stored when it ended, computed from the log so far
    /// while it runs. Compact unless `full`. The first call after the task ended records
    /// `result_read_at`, unless `peek` (a look that is not a read, e.g. `show --json`).
    #[method(name = "result")]
    async fn result(
        &self,
        id: String,
        full: Option<bool>,
        peek: Option<bool>,
    ) -> RpcResult<crate::TaskResult>;

    /// Starts a new task that continues a finished task's codex thread.
    #[method(name = "resume")]
    async fn resume(&self, request: ResumeRequest) -> RpcResult<Task>;

    /// Waits until every task has ended or `timeout_ms` expires (no timeout when absent).
    #[method(name = "wait")]
    async fn wait(&self, ids: Vec<String>, timeout_ms: Option<u64>) -> RpcResult<WaitReply>;

    /// Reads complete lines of a task's log from a byte offset.
    #[method(name = "read_log")]
    async fn read_log(
        &self,
        id: String,
        offset: u64,
        max_bytes: Option<u64>,
        stream: Option<LogStream>,
    ) -> RpcResult<LogChunk>;

    /// Streams a task's state changes (and, when `from_offset` is given, its event lines
    /// from that offset on). The first item is the current state; the item carrying a
    /// terminal state is the last (the daemon then drops the subscription).
    #[subscription(name = "watch", unsubscribe = "unwatch", item = WatchItem)]
    async fn watch(&self, id: String, from_offset: Option<u64>) -> SubscriptionResult;

    /// Removes finished tasks (records and directories) that ended more than
    /// `older_than_ms` ago. Queued and running tasks are never removed.
    #[method(name = "prune")]
    async fn prune(&self, older_than_ms: u64, dry_run: Option<bool>) -> RpcResult<PruneReply>;

    // --- isolated worktrees and best-of-N (issue 13) ---
    /// A worktree task's change against its base, as a patch.
    #[method(name = "diff")]
    async fn diff(&self, id: String) -> RpcResult<crate::worktree::DiffReply>;

    /// Applies a finished worktree task's change to the user's current tree (3-way); on a
    /// conflict nothing is applied and the reply lists the conflicting files.
    #[method(name = "apply")]
    async fn apply(&self, id: String) -> RpcResult<crate::worktree::ApplyReply>;

    /// Removes the worktrees and branches of finished worktree tasks: `ids`, or every
    /// attempt of `group` but those in `except`. The records stay, marked discarded.
    #[method(name = "discard")]
    async fn discard(
        &self,
        ids: Vec<String>,
        group: Option<String>,
        except: Option<Vec<String>>,
    ) -> RpcResult<crate::worktree::DiscardReply>;

    /// The attempts of a best-of-N group side by side, best first.
    #[method(name = "compare")]
    async fn compare(&self, group: String) -> RpcResult<crate::worktree::CompareReply>;

    /// Asks the daemon to exit cleanly. Running codex processes are left running (the next
    /// daemon adopts them) unless `kill_tasks`, which first cancels every queued and running
    /// task and waits until they have stopped.
    #[method(name = "shutdown")]
    async fn shutdown(&self, kill_tasks: Option<bool>) -> RpcResult<()>;
}
