//! The JSON-RPC methods: validation of requests, id resolution, and the calls into the
//! supervisor and registry. Implements the `CodexdApiServer` trait from `codexd-api`.

use crate::hub::{Subscription, Update};
use crate::options;
use crate::redact::{RedactConfig, Redactor};
use crate::registry::Resolved;
use crate::registry::records::{EVENTS_FILE, STDERR_FILE, StopReason};
use crate::registry::taskdir::{self, StoredRequest, TaskDir};
use crate::results;
use crate::run::Supervisor;
use crate::run::held::RunEnv;
use codexd_api::rpc::RpcResult;
use codexd_api::{
    ApiError, CodexdApiServer, CountQuery, ErrorKind, ListQuery, LogChunk, LogLine, LogStream,
    PruneReply, ResumeRequest, StartRequest, Task, TaskCounts, TaskId, TaskKind, TaskPage,
    TaskResult, TaskState, Timestamp, VersionInfo, WaitReply, WatchItem,
};
use jsonrpsee::PendingSubscriptionSink;
use jsonrpsee::core::{SubscriptionResult, async_trait};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;

/// Longest prompt accepted: codex takes it as one argv string, which Linux caps at 128 KiB.
pub const MAX_PROMPT_BYTES: usize = 128 * 1024 - 1;
/// Default and largest `read_log` page.
const DEFAULT_LOG_PAGE: u64 = 1024 * 1024;
const MAX_LOG_PAGE: u64 = 16 * 1024 * 1024;
/// The log is replayed to a `watch` subscriber in pages of about this size (a longer line
/// still goes whole), so a subscriber far behind costs little memory.
const WATCH_PAGE: u64 = 1024 * 1024;
/// Sandbox modes codex accepts.
pub const SANDBOX_MODES: [&str; 3] = ["read-only", "workspace-write", "danger-full-access"];

/// The API implementation.
#[derive(Clone)]
pub struct Service {
    pub(crate) supervisor: Supervisor,
    started_at: Timestamp,
    shutdown: Arc<Notify>,
    /// The built-in rules and the daemon's patterns, compiled once; each request adds its
    /// environment values to a copy.
    base_redactor: std::sync::OnceLock<Result<Redactor, String>>,
}

pub(crate) fn invalid(message: impl Into<String>) -> ApiError {
    ApiError::new(ErrorKind::InvalidParams, message)
}

pub(crate) fn storage(err: impl std::fmt::Display) -> ApiError {
    ApiError::new(ErrorKind::Storage, err.to_string())
}

impl Service {
    /// A service over `supervisor`; `shutdown` is notified when a client asks the daemon to
    /// exit.
    pub fn new(supervisor: Supervisor, shutdown: Arc<Notify>) -> Self {
        Service {
            supervisor,
            started_at: Timestamp::now(),
            shutdown,
            base_redactor: std::sync::OnceLock::new(),
        }
    }

    /// Resolves an id or unambiguous prefix to a task id.
    pub fn resolve(&self, text: &str) -> Result<TaskId, ApiError> {
        let text = text.trim();
        if !TaskId::is_valid_prefix(text) {
            return Err(ApiError::new(
                ErrorKind::TaskNotFound,
                format!("{text:?} is not a task id (ids are up to 8 characters of 0-9 and a-z)"),
            ));
        }
        match self.supervisor.registry().resolve(text).map_err(storage)? {
            Resolved::One(id) => Ok(id),
            Resolved::None => Err(ApiError::new(
                ErrorKind::TaskNotFound,
                format!("no task {text}"),
            )),
            Resolved::Ambiguous(ids) => {
                let ids: Vec<_> = ids.iter().map(|id| id.as_str()).collect();
                Err(ApiError::new(
                    ErrorKind::AmbiguousId,
                    format!("task id prefix {text} is ambiguous: {} ...", ids.join(", ")),
                ))
            }
        }
    }

    /// The task with this id, with its queue position.
    pub(crate) async fn load(&self, id: &TaskId) -> Result<Task, ApiError> {
        let task = self
            .supervisor
            .registry()
            .get(id)
            .map_err(storage)?
            .ok_or_else(|| ApiError::new(ErrorKind::TaskNotFound, format!("no task {id}")))?;
        Ok(self.supervisor.with_positions(vec![task]).await.remove(0))
    }

    /// Waits until the task has a thread id or ended, or `wait` expires; returns it as it is.
    pub(crate) async fn await_thread(
        &self,
        task: Task,
        wait: Option<u64>,
    ) -> Result<Task, ApiError> {
        let Some(ms) = wait.filter(|ms| *ms > 0) else {
            return Ok(task);
        };
        let mut rx = self
            .supervisor
            .hub()
            .subscribe(std::slice::from_ref(&task.id), false);
        let deadline = tokio::time::Instant::now() + Duration::from_millis(ms.min(60_000));
        loop {
            let current = self.load(&task.id).await?;
            if current.thread_id.is_some() || current.state.is_terminal() {
                return Ok(current);
            }
            match tokio::time::timeout_at(deadline, next_about(&mut rx, &task.id)).await {
                Ok(()) => continue,
                Err(_) => return Ok(current),
            }
        }
    }

    /// Records the first read of an ended task's result: `read.json` (so a rebuilt record
    /// keeps it), then the registry record. Only `result` calls this; nothing else changes
    /// an ended task but prune, and a pruned task has no directory to write to.
    async fn mark_read(&self, task: &mut Task) -> Result<(), ApiError> {
        let now = Timestamp::now();
        TaskDir::new(&self.supervisor.config().tasks_root(), &task.id)
            .write_read(now)
            .map_err(storage)?;
        task.result_read_at = Some(now);
        self.supervisor.registry().save(task).await.map_err(storage)
    }

    /// Validates a start request and turns it into a durable request record.
    fn validate_start(&self, request: &StartRequest) -> Result<(PathBuf, RunEnv), ApiError> {
        match &request.review {
            Some(target) => {
                options::check_review(target, &request.prompt, request.output_schema.is_some())?;
                if !request.prompt.trim().is_empty() {
                    validate_prompt(&request.prompt)?;
                }
                if !request.images.is_empty() || !request.add_dirs.is_empty() {
                    return Err(invalid(
                        "review: codex exec review takes no images and no extra directories",
                    ));
                }
                if request.sandbox.as_deref().is_some_and(|s| s != "read-only") {
                    return Err(invalid("review: a review runs read-only"));
                }
            }
            None => validate_prompt(&request.prompt)?,
        }
        if request.cwd.as_os_str().is_empty() {
            return Err(invalid("cwd is required"));
        }
        if !request.cwd.is_absolute() {
            return Err(invalid(format!(
                "cwd {} is not an absolute path",
                request.cwd.display()
            )));
        }
        let cwd = std::fs::canonicalize(&request.cwd)
            .map_err(|e| invalid(format!("cwd {} is not usable: {e}", request.cwd.display())))?;
        if !cwd.is_dir() {
            return Err(invalid(format!("cwd {} is not a directory", cwd.display())));
        }
        if let Some(sandbox) = &request.sandbox
            && !SANDBOX_MODES.contains(&sandbox.as_str())
        {
            return Err(invalid(format!(
                "unknown sandbox mode {sandbox:?} (expected one of: {})",
                SANDBOX_MODES.join(", ")
            )));
        }
        Ok((cwd, validate_run_options(request)?))
    }

    /// The redactor for what a request stores: the built-in rules, the daemon's patterns,
    /// the values of the secret-looking variables the request sets, and those of every
    /// variable it sets explicitly (not a forwarded default).
    pub(crate) fn request_redactor(
        &self,
        env: &BTreeMap<String, String>,
    ) -> Result<Redactor, ApiError> {
        let internal = |message: String| ApiError::new(ErrorKind::Internal, message);
        let base = self
            .base_redactor
            .get_or_init(|| {
                Redactor::new(&RedactConfig {
                    extra_patterns: self.supervisor.config().redact_patterns.clone(),
                    env_values: Vec::new(),
                })
                .map_err(|e| e.to_string())
            })
            .as_ref()
            .map_err(|e| internal(e.clone()))?;
        let env_values: Vec<(String, String)> =
            env.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        base.with_env(&env_values, &crate::redact::explicit_env(env))
            .map_err(|e| internal(e.to_string()))
    }
}

/// Makes a filter's cwd canonical: tasks record canonical paths, so match what the caller
/// means (a path that does not resolve is kept as given).
fn canonical_cwd(cwd: &mut Option<PathBuf>) {
    if let Some(dir) = cwd.as_ref() {
        *cwd = Some(std::fs::canonicalize(dir).unwrap_or_else(|_| dir.clone()));
    }
}

/// Checks a prompt: not empty, within [`MAX_PROMPT_BYTES`], no NUL.
fn validate_prompt(prompt: &str) -> Result<(), ApiError> {
    if prompt.trim().is_empty() {
        return Err(invalid("prompt is empty"));
    }
    if prompt.len() > MAX_PROMPT_BYTES {
        return Err(invalid(format!(
            "prompt is {} bytes; the limit is {MAX_PROMPT_BYTES} bytes",
            prompt.len()
        )));
    }
    if prompt.contains('\0') {
        return Err(invalid("prompt contains a NUL character"));
    }
    Ok(())
}

/// At most 16 labels, each 1–64 characters without control characters.
pub(crate) fn validate_labels(labels: &[String]) -> Result<(), ApiError> {
    if labels.len() > 16 {
        return Err(invalid(format!(
            "{} labels; at most 16 are allowed",
            labels.len()
        )));
    }
    for label in labels {
        let chars = label.chars().count();
        if chars == 0 || chars > 64 || label.chars().any(char::is_control) {
            return Err(invalid(format!(
                "invalid label {label:?} (1-64 characters, no control characters)"
            )));
        }
    }
    Ok(())
}

/// Each value redacted, as stored (the `-c` overrides).
pub(crate) fn redact_each(redactor: &Redactor, values: &[String]) -> Vec<String> {
    values
        .iter()
        .map(|value| redactor.redact(value).into_owned())
        .collect()
}

/// The options a start and a resume both carry for the run, borrowed from either request.
struct RunOptions<'a> {
    model: Option<&'a str>,
    config: &'a [String],
    env: &'a BTreeMap<String, String>,
    env_remove: &'a [String],
    timeout_ms: Option<u64>,
    session_id: Option<&'a str>,
    stall_timeout_ms: Option<u64>,
}

// Both request types name these fields alike.
macro_rules! run_options_from {
    ($($request:ty),*) => {$(
        impl<'a> From<&'a $request> for RunOptions<'a> {
            fn from(r: &'a $request) -> Self {
                RunOptions {
                    model: r.model.as_deref(),
                    config: &r.config,
                    env: &r.env,
                    env_remove: &r.env_remove,
                    timeout_ms: r.timeout_ms,
                    session_id: r.session_id.as_deref(),
                    stall_timeout_ms: r.stall_timeout_ms,
                }
            }
        }
    )*};
}
run_options_from!(StartRequest, ResumeRequest);

/// Checks the options a start and a resume share (model, `-c` overrides, environment,
/// timeout) and returns the run's environment.
fn validate_run_options<'a>(request: impl Into<RunOptions<'a>>) -> Result<RunEnv, ApiError> {
    let RunOptions {
        model,
        config,
        env,
        env_remove,
        timeout_ms,
        session_id,
        stall_timeout_ms,
    } = request.into();
    if let Some(session) = session_id
        && !is_session_id(session)
    {
        return Err(invalid(format!(
            "invalid session id {session:?} (1-128 characters: letters, digits, '-', '_', '.')"
        )));
    }
    if let Some(model) = model
        && (model.trim().is_empty() || model.contains('\0'))
    {
        return Err(invalid(format!("invalid model name {model:?}")));
    }
    for kv in config {
        let key = kv.split_once('=').map(|(k, _)| k.trim()).unwrap_or("");
        if key.is_empty() || kv.contains('\0') {
            return Err(invalid(format!(
                "config override {kv:?} is not of the form key=value"
            )));
        }
    }
    let valid_name = |k: &str| !k.is_empty() && !k.contains('=') && !k.contains('\0');
    for (key, value) in env {
        if !valid_name(key) || value.contains('\0') {
            return Err(invalid(format!("invalid environment variable {key:?}")));
        }
    }
    if let Some(key) = env_remove.iter().find(|k| !valid_name(k)) {
        return Err(invalid(format!(
            "invalid environment variable name {key:?}"
        )));
    }
    check_timeout("timeout_ms", timeout_ms)?;
    check_timeout("stall_timeout_ms", stall_timeout_ms)?;
    Ok(RunEnv::with_environment(env, env_remove))
}

/// A run's limit from the request's value (`0`: none) or, when absent, the daemon's
/// default (`None`: none).
fn limit_ms(requested: Option<u64>, default: Option<Duration>) -> Option<u64> {
    match requested {
        Some(0) => None,
        Some(ms) => Some(ms),
        None => default.map(|d| d.as_millis() as u64).filter(|&ms| ms > 0),
    }
}

/// The longest timeout a run or a wait takes: 7 days.
pub const MAX_TIMEOUT_MS: u64 = 7 * 24 * 60 * 60 * 1000;

/// Refuses a timeout over [`MAX_TIMEOUT_MS`], naming the parameter.
fn check_timeout(field: &str, timeout_ms: Option<u64>) -> Result<(), ApiError> {
    match timeout_ms {
        Some(ms) if ms > MAX_TIMEOUT_MS => Err(invalid(format!(
            "{field}: {ms} ms is over the longest timeout, {MAX_TIMEOUT_MS} ms (7 days)"
        ))),
        _ => Ok(()),
    }
}

/// A Claude Code session id as the API accepts it (Claude Code's are UUIDs).
/// Longest idempotency key (`request_id`).
const MAX_REQUEST_ID_CHARS: usize = 64;

/// A `request_id` is 1–64 characters: letters, digits, `-`, `_`, `.`, `:`.
fn validate_request_id(key: Option<&str>) -> Result<(), ApiError> {
    match key {
        Some(key)
            if key.is_empty()
                || key.len() > MAX_REQUEST_ID_CHARS
                || !key
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.:".contains(c)) =>
        {
            Err(invalid(format!(
                "request_id must be 1-{MAX_REQUEST_ID_CHARS} characters (letters, digits, -, _, ., :), got {key:?}"
            )))
        }
        _ => Ok(()),
    }
}

fn is_session_id(text: &str) -> bool {
    (1..=128).contains(&text.len())
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// Waits for the next hub update about `id` (or a lag, which means "re-read").
async fn next_about(rx: &mut Subscription, id: &TaskId) {
    loop {
        match rx.recv().await {
            Ok(update) if update.task_id() == id => {
                if matches!(*update, Update::State(_)) {
                    return;
                }
            }
            Ok(_) => {}
            Err(crate::hub::Lagged) => return,
        }
    }
}

#[async_trait]
impl CodexdApiServer for Service {
    async fn version(&self) -> RpcResult<VersionInfo> {
        let config = self.supervisor.config();
        let (running, queued) = self.supervisor.counts().await;
        Ok(VersionInfo {
            version: codexd_api::VERSION.to_string(),
            pid: std::process::id(),
            socket: config.socket.clone(),
            state_dir: config.state_dir.clone(),
            codex_bin: config.codex_bin.clone(),
            max_running: config.max_running,
            running,
            queued,
            started_at: self.started_at,
        })
    }

    async fn start(&self, request: StartRequest) -> RpcResult<Task> {
        validate_request_id(request.request_id.as_deref())?;
        let (cwd, mut env) = self.validate_start(&request)?;
        let attempts = Self::validate_isolation(&request)?;
        let config = self.supervisor.config();
        let id = self.supervisor.new_task_id()?;
        let redactor = self.request_redactor(&request.env)?;
        validate_labels(&request.labels)?;
        let labels = request
            .labels
            .iter()
            .map(|l| redactor.redact(l).into_owned())
            .collect();
        let extras = options::check(
            options::ExtraOptions {
                effort: request.effort.as_deref(),
                profile: request.profile.as_deref(),
                images: &request.images,
                add_dirs: &request.add_dirs,
                output_schema: request.output_schema.as_ref(),
            },
            TaskDir::new(&config.tasks_root(), &id).path(),
        )?;
        let kind = match request.review {
            Some(_) => TaskKind::Review,
            None => TaskKind::Exec,
        };
        let sandbox = match kind {
            TaskKind::Review => Some("read-only".to_string()),
            TaskKind::Exec => request.sandbox,
        };
        env.prompt = request.prompt;
        env.config = request.config;
        let stored = StoredRequest {
            kind,
            effort: extras.effort,
            profile: extras.profile,
            images: extras.images,
            add_dirs: extras.add_dirs,
            output_schema: extras.output_schema,
            review: request.review,
            files: extras.files,
            labels,
            id,
            prompt: redactor.redact(&env.prompt).into_owned(),
            cwd,
            sandbox,
            model: request.model,
            config: redact_each(&redactor, &env.config),
            env_keys: env.set.keys().cloned().collect(),
            timeout_ms: limit_ms(request.timeout_ms, config.default_timeout),
            parent: None,
            resume_thread: None,
            fork: false,
            session_id: request.session_id,
            request_id: request.request_id,
            created_at: Timestamp::now(),
            worktree: None,
            group: None,
            stall_timeout_ms: limit_ms(request.stall_timeout_ms, config.default_stall_timeout),
        };
        if let Some(attempts) = attempts {
            let wait = request.wait_for_thread_ms;
            return Ok(self.submit_isolated(stored, env, attempts, wait).await?);
        }
        let task = self.supervisor.submit(stored, env).await?;
        let task = self.load(&task.id).await?;
        Ok(self.await_thread(task, request.wait_for_thread_ms).await?)
    }

    async fn get(&self, id: String) -> RpcResult<Task> {
        let id = self.resolve(&id)?;
        Ok(self.load(&id).await?)
    }

    async fn list(&self, query: ListQuery) -> RpcResult<TaskPage> {
        let mut query = query;
        canonical_cwd(&mut query.cwd);
        let page = self.supervisor.registry().list(&query).map_err(|e| {
            if e.is_bad_input() {
                invalid(e.to_string())
            } else {
                storage(e)
            }
        })?;
        Ok(TaskPage {
            tasks: self.supervisor.with_positions(page.tasks).await,
            next_cursor: page.next_cursor,
        })
    }

    async fn count(&self, query: CountQuery) -> RpcResult<TaskCounts> {
        let mut query = query;
        canonical_cwd(&mut query.cwd);
        Ok(self.supervisor.registry().count(&query))
    }

    async fn cancel(&self, id: String) -> RpcResult<Task> {
        let id = self.resolve(&id)?;
        let mut rx = self
            .supervisor
            .hub()
            .subscribe(std::slice::from_ref(&id), false);
        if !self
            .supervisor
            .request_stop(&id, StopReason::Cancelled)
            .await?
        {
            let task = self.load(&id).await?;
            return Err(ApiError::new(
                ErrorKind::InvalidState,
                format!("task {id} has already ended ({})", task.state),
            )
            .into());
        }
        loop {
            let task = self.load(&id).await?;
            if task.state.is_terminal() {
                return Ok(task);
            }
            next_about(&mut rx, &id).await;
        }
    }

    async fn result(
        &self,
        id: String,
        full: Option<bool>,
        peek: Option<bool>,
    ) -> RpcResult<TaskResult> {
        let id = self.resolve(&id)?;
        let mut task = self.load(&id).await?;
        let dir = TaskDir::new(&self.supervisor.config().tasks_root(), &id);
        if !dir.path().exists() {
            return Err(storage(format!(
                "task {id}'s directory {} is gone (deleted outside codexd?): its result and \
                 logs are lost; the record (codexctl show) is all that is left",
                dir.path().display()
            ))
            .into());
        }
        // The read time is a convenience: a full or read-only disk must not stop the read.
        if task.is_unread()
            && !peek.unwrap_or(false)
            && let Err(e) = self.mark_read(&mut task).await
        {
            tracing::warn!(task = %id, "cannot record that the result was read: {}", e.message);
        }
        let stored = if task.state.is_terminal() {
            self.supervisor.stored_result(&id).map_err(storage)?
        } else {
            None
        };
        let result = match stored {
            Some(result) => result,
            None => self.supervisor.build_result(&task, false).await,
        };
        Ok(if full.unwrap_or(false) {
            result
        } else {
            results::trim(result, &results::TrimLimits::default())
        })
    }

    async fn resume(&self, request: ResumeRequest) -> RpcResult<Task> {
        validate_request_id(request.request_id.as_deref())?;
        let parent_id = self.resolve(&request.task)?;
        let parent = self.load(&parent_id).await?;
        if !parent.state.is_terminal() {
            return Err(ApiError::new(
                ErrorKind::InvalidState,
                format!(
                    "task {parent_id} is still {}; resume it once it has ended",
                    parent.state
                ),
            )
            .into());
        }
        let Some(thread_id) = parent.thread_id.clone() else {
            return Err(ApiError::new(
                ErrorKind::InvalidState,
                format!("task {parent_id} has no codex thread to resume (codex never started it)"),
            )
            .into());
        };
        validate_prompt(&request.prompt)?;
        let mut env = validate_run_options(&request)?;
        if !parent.cwd.is_dir() {
            return Err(invalid(format!(
                "the parent's cwd {} no longer exists",
                parent.cwd.display()
            ))
            .into());
        }
        if parent.config.iter().any(|kv| kv.contains("[REDACTED:")) {
            return Err(ApiError::new(
                ErrorKind::InvalidState,
                format!(
                    "task {parent_id}'s config overrides held a secret, which is not kept: \
                     start a new task instead"
                ),
            )
            .into());
        }
        let mut config = parent.config.clone();
        config.extend(request.config.iter().cloned());
        let redactor = self.request_redactor(&request.env)?;
        validate_labels(&request.labels)?;
        let mut labels = parent.labels.clone();
        for label in &request.labels {
            let label = redactor.redact(label).into_owned();
            if !labels.contains(&label) {
                labels.push(label);
            }
        }
        let id = self.supervisor.new_task_id()?;
        let extras = options::check(
            options::ExtraOptions {
                effort: request.effort.as_deref(),
                profile: request.profile.as_deref(),
                images: &request.images,
                add_dirs: &request.add_dirs,
                output_schema: request.output_schema.as_ref(),
            },
            TaskDir::new(&self.supervisor.config().tasks_root(), &id).path(),
        )?;
        let mut add_dirs = parent.add_dirs.clone();
        for dir in extras.add_dirs {
            if !add_dirs.contains(&dir) {
                add_dirs.push(dir);
            }
        }
        env.prompt = request.prompt;
        env.config = config;
        let stored = StoredRequest {
            kind: TaskKind::Exec,
            effort: extras.effort.or(parent.effort.clone()),
            profile: extras.profile.or(parent.profile.clone()),
            images: extras.images,
            add_dirs,
            output_schema: extras.output_schema,
            review: None,
            files: extras.files,
            labels,
            id,
            prompt: redactor.redact(&env.prompt).into_owned(),
            cwd: parent.cwd.clone(),
            sandbox: parent.sandbox.clone(),
            model: request.model.or(parent.model.clone()),
            config: redact_each(&redactor, &env.config),
            env_keys: env.set.keys().cloned().collect(),
            timeout_ms: match request.timeout_ms {
                Some(0) => None,
                Some(ms) => Some(ms),
                None => parent.timeout_ms,
            },
            parent: Some(parent_id),
            resume_thread: Some(thread_id),
            fork: request.fork,
            session_id: request.session_id,
            request_id: request.request_id,
            created_at: Timestamp::now(),
            // A resume runs in its parent's worktree (parent.cwd is inside it).
            worktree: parent.worktree.clone(),
            group: None,
            stall_timeout_ms: match request.stall_timeout_ms {
                Some(0) => None,
                Some(ms) => Some(ms),
                None => parent.stall_timeout_ms,
            },
        };
        let task = self.supervisor.submit(stored, env).await?;
        let task = self.load(&task.id).await?;
        Ok(self.await_thread(task, request.wait_for_thread_ms).await?)
    }

    async fn wait(&self, ids: Vec<String>, timeout_ms: Option<u64>) -> RpcResult<WaitReply> {
        check_timeout("timeout_ms", timeout_ms)?;
        if ids.is_empty() {
            return Err(invalid("wait needs at least one task id").into());
        }
        let ids = ids
            .iter()
            .map(|id| self.resolve(id))
            .collect::<Result<Vec<_>, _>>()?;
        let deadline = timeout_ms.map(|ms| tokio::time::Instant::now() + Duration::from_millis(ms));
        let mut rx = self.supervisor.hub().subscribe(&ids, false);
        loop {
            let mut tasks = Vec::with_capacity(ids.len());
            for id in &ids {
                tasks.push(self.load(id).await?);
            }
            let pending: Vec<TaskId> = tasks
                .iter()
                .filter(|t| !t.state.is_terminal())
                .map(|t| t.id.clone())
                .collect();
            if pending.is_empty() {
                return Ok(WaitReply {
                    tasks,
                    timed_out: false,
                });
            }
            let next = async {
                loop {
                    match rx.recv().await {
                        Ok(update) => {
                            if let Update::State(task) = &*update
                                && pending.contains(&task.id)
                                && task.state.is_terminal()
                            {
                                return;
                            }
                        }
                        Err(crate::hub::Lagged) => return,
                    }
                }
            };
            match deadline {
                Some(deadline) => {
                    if tokio::time::timeout_at(deadline, next).await.is_err() {
                        return Ok(WaitReply {
                            tasks,
                            timed_out: true,
                        });
                    }
                }
                None => next.await,
            }
        }
    }

    async fn read_log(
        &self,
        id: String,
        offset: u64,
        max_bytes: Option<u64>,
        stream: Option<LogStream>,
    ) -> RpcResult<LogChunk> {
        let id = self.resolve(&id)?;
        let task = self.load(&id).await?;
        let dir = TaskDir::new(&self.supervisor.config().tasks_root(), &id);
        let file = match stream.unwrap_or_default() {
            LogStream::Events => EVENTS_FILE,
            LogStream::Stderr => STDERR_FILE,
        };
        let max = max_bytes.unwrap_or(DEFAULT_LOG_PAGE).clamp(1, MAX_LOG_PAGE);
        let len = dir.file_len(file);
        if offset > len {
            return Err(invalid(format!(
                "offset: {offset} is past the end of the log ({len} bytes)"
            ))
            .into());
        }
        let lines = taskdir::read_lines(&dir.file(file), offset, max).map_err(storage)?;
        let complete = task.state.is_terminal() && lines.next_offset >= dir.file_len(file);
        Ok(LogChunk {
            lines: lines
                .lines
                .into_iter()
                .map(|(offset, line)| LogLine { offset, line })
                .collect(),
            next_offset: lines.next_offset,
            complete,
        })
    }

    async fn watch(
        &self,
        pending: PendingSubscriptionSink,
        id: String,
        from_offset: Option<u64>,
    ) -> SubscriptionResult {
        let id = match self.resolve(&id) {
            Ok(id) => id,
            Err(e) => {
                pending.reject(e).await;
                return Ok(());
            }
        };
        // Subscribe before reading state, so nothing between the read and the loop is missed.
        let mut rx = self
            .supervisor
            .hub()
            .subscribe(std::slice::from_ref(&id), true);
        let task = match self.load(&id).await {
            Ok(task) => task,
            Err(e) => {
                pending.reject(e).await;
                return Ok(());
            }
        };
        let sink = pending.accept().await?;
        let events_path =
            TaskDir::new(&self.supervisor.config().tasks_root(), &id).file(EVENTS_FILE);
        let send = |item: WatchItem| {
            let sink = &sink;
            async move {
                let msg = serde_json::value::to_raw_value(&item)
                    .map_err(jsonrpsee::core::SubscriptionError::from)?;
                sink.send(msg)
                    .await
                    .map_err(jsonrpsee::core::SubscriptionError::from)
            }
        };
        // Replays the log from `offset` to its current end.
        let mut offset = from_offset;
        let backlog = |offset: u64| -> Result<taskdir::Lines, ApiError> {
            taskdir::read_lines(&events_path, offset, WATCH_PAGE).map_err(storage)
        };
        // A terminal state is the last item (the client's stream ends there), so it is held
        // back until the log has been replayed: `logs -f` on a finished task gets the whole
        // log, then the final state.
        let mut terminal = None;
        if task.state.is_terminal() {
            terminal = Some(task);
        } else {
            send(WatchItem::State {
                task: Box::new(task),
            })
            .await?;
        }
        loop {
            if let Some(from) = offset {
                loop {
                    let lines = backlog(from.max(offset.unwrap_or(from)))?;
                    if lines.lines.is_empty() {
                        break;
                    }
                    for (line_offset, line) in lines.lines {
                        send(WatchItem::Event {
                            offset: line_offset,
                            line,
                        })
                        .await?;
                    }
                    offset = Some(lines.next_offset);
                }
            }
            if let Some(task) = terminal {
                send(WatchItem::State {
                    task: Box::new(task),
                })
                .await?;
                return Ok(());
            }
            tokio::select! {
                update = rx.recv() => match update {
                    Ok(update) if update.task_id() == &id => match &*update {
                        Update::State(task) => {
                            let task = self.supervisor.with_positions(vec![task.clone()]).await.remove(0);
                            if task.state.is_terminal() {
                                terminal = Some(task);
                            } else {
                                send(WatchItem::State { task: Box::new(task) }).await?;
                            }
                        }
                        Update::Event { offset: at, line, .. } => {
                            if let Some(current) = offset
                                && *at >= current
                            {
                                send(WatchItem::Event { offset: *at, line: line.to_string() }).await?;
                                offset = Some(at + line.len() as u64 + 1);
                            }
                        }
                    },
                    Ok(_) => {}
                    Err(crate::hub::Lagged) => {
                        // Catch up from the files: the log by offset (above), the state here.
                        let task = self.load(&id).await?;
                        if task.state.is_terminal() {
                            terminal = Some(task);
                        } else {
                            send(WatchItem::State { task: Box::new(task) }).await?;
                        }
                    }
                },
                _ = sink.closed() => return Ok(()),
            }
        }
    }

    async fn prune(&self, older_than_ms: u64, dry_run: Option<bool>) -> RpcResult<PruneReply> {
        let dry_run = dry_run.unwrap_or(false);
        let (pruned, notes) = self
            .supervisor
            .prune(Duration::from_millis(older_than_ms), dry_run)
            .await
            .map_err(storage)?;
        Ok(PruneReply {
            pruned,
            dry_run,
            notes,
        })
    }

    async fn diff(&self, id: String) -> RpcResult<codexd_api::worktree::DiffReply> {
        Ok(self.worktree_diff(&id).await?)
    }

    async fn apply(&self, id: String) -> RpcResult<codexd_api::worktree::ApplyReply> {
        Ok(self.worktree_apply(&id).await?)
    }

    async fn discard(
        &self,
        ids: Vec<String>,
        group: Option<String>,
        except: Option<Vec<String>>,
    ) -> RpcResult<codexd_api::worktree::DiscardReply> {
        Ok(self
            .worktree_discard(ids, group, except.unwrap_or_default())
            .await?)
    }

    async fn compare(&self, group: String) -> RpcResult<codexd_api::worktree::CompareReply> {
        Ok(self.group_compare(&group).await?)
    }

    async fn shutdown(&self, kill_tasks: Option<bool>) -> RpcResult<()> {
        tracing::info!(?kill_tasks, "shutdown requested by a client");
        if kill_tasks.unwrap_or(false) {
            self.supervisor.stop_accepting().await;
            let live = self
                .supervisor
                .registry()
                .list(&ListQuery {
                    states: vec![TaskState::Queued, TaskState::Running],
                    limit: Some(1000),
                    ..ListQuery::default()
                })
                .map_err(storage)?;
            let stops = live
                .tasks
                .iter()
                .map(|task| self.cancel(task.id.to_string()));
            for outcome in futures::future::join_all(stops).await {
                if let Err(e) = outcome {
                    tracing::warn!("stopping a task for shutdown: {}", e.message());
                }
            }
        }
        self.shutdown.notify_one();
        Ok(())
    }
}
