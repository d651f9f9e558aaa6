//! How a run is started: the git snapshot that a result's diffstat is measured against,
//! finding the codex binary, the `codex exec` arguments, and spawning the per-run
//! supervisor (`codexd run-task`) in its own session; then the run is handed to its
//! monitor. A run that cannot be started fails at once with the reason.

use super::held::RunEnv;
use super::monitor::RunProcess;
use super::runner::RunSpec;
use super::{Supervisor, cgroup, config_layer, process};
use crate::config::Config;
use crate::registry::records::{ExitRecord, StopReason};
use crate::registry::taskdir::TaskDir;
use crate::results::gitsnap;
use codexd_api::{Task, TaskId, TaskKind, TaskState, Timestamp};
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use tokio::sync::mpsc;

impl Supervisor {
    /// Starts the runner for a dequeued task and hands it to its monitor.
    pub(super) async fn launch(
        &self,
        id: TaskId,
        env: RunEnv,
        stop_rx: mpsc::UnboundedReceiver<StopReason>,
    ) {
        let config = &self.inner.config;
        let mut task = match self.inner.registry.get(&id) {
            Ok(Some(task)) => task,
            other => {
                tracing::error!(task = %id, "queued task vanished from the registry: {other:?}");
                self.release(&id).await;
                return;
            }
        };
        let dir = TaskDir::new(&config.tasks_root(), &id);
        // The base of the result's diffstat: the work tree before codex touches it.
        // A worktree task's is its base commit's tree.
        let base = match &task.worktree {
            Some(info) => crate::worktree::base_tree(info).await,
            None => None,
        };
        if let Some(tree) = base {
            task.git_base_tree = Some(tree);
        } else if let Some(snapshot) = gitsnap::snapshot(&task.cwd, dir.path()).await {
            task.git_base_tree = Some(snapshot.tree);
        }
        let spawned = resolve_codex(&config.codex_bin, &env).and_then(|codex| {
            let spec = run_spec(config, &task, &codex, &env);
            spawn_runner(config, &task, &dir, &env).map(|child| (child, spec))
        });
        // The unredacted prompt is no longer needed once the runner has it.
        drop(env);
        match spawned {
            Ok((mut child, spec)) => {
                send_spec(&mut child, &spec).await;
                drop(spec);
                let pid = child.id().unwrap_or(0);
                task.pid = Some(pid);
                task.pid_start_time = process::start_time(pid);
                task.enter(TaskState::Running, Timestamp::now());
                if let Err(e) = self.commit(&task).await {
                    tracing::error!(task = %id, "cannot record the start of the run: {e}");
                }
                self.pending().release(&id);
                tracing::info!(task = %id, pid, "run started");
                self.monitor(task, RunProcess::Child(child), stop_rx).await;
            }
            Err(message) => {
                tracing::warn!(task = %id, "cannot start codex: {message}");
                // Recorded in the task directory too, so that a registry rebuilt from it
                // settles the task failed instead of queueing it again.
                let failed = ExitRecord {
                    code: None,
                    signal: None,
                    spawn_error: Some(message.clone()),
                    not_recorded: None,
                    finished_at: Timestamp::now(),
                };
                if let Err(e) = dir.write_exit(&failed) {
                    tracing::warn!(task = %id, "cannot record the start failure: {e}");
                }
                task.enter(TaskState::Running, Timestamp::now());
                task.error = Some(message);
                task.enter(TaskState::Failed, Timestamp::now());
                if let Err(e) = self.commit(&task).await {
                    tracing::error!(task = %id, "cannot record the failure: {e}");
                }
                self.pending().release(&id);
                self.release(&id).await;
            }
        }
    }
}

/// Finds the codex binary: a configured path as is, else a name on the run's PATH (the
/// client's PATH when it sent one).
pub(super) fn resolve_codex(codex_bin: &str, env: &RunEnv) -> Result<PathBuf, String> {
    use std::os::unix::fs::PermissionsExt;
    let executable = |p: &Path| {
        std::fs::metadata(p)
            .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
            .unwrap_or(false)
    };
    if codex_bin.contains('/') {
        let path = PathBuf::from(codex_bin);
        return if executable(&path) {
            Ok(path)
        } else {
            Err(format!(
                "codex binary {codex_bin} does not exist or is not executable (set --codex-bin or CODEXD_CODEX_BIN)"
            ))
        };
    }
    let search = env
        .set
        .get("PATH")
        .cloned()
        .or_else(|| std::env::var("PATH").ok())
        .unwrap_or_default();
    std::env::split_paths(&search)
        .map(|dir| dir.join(codex_bin))
        .find(|p| executable(p))
        .ok_or_else(|| {
            format!(
                "codex binary {codex_bin:?} not found on PATH; install it (npm install -g @openai/codex) or set --codex-bin / CODEXD_CODEX_BIN"
            )
        })
}

/// The `codex exec` arguments for a task.
///
/// Fresh: `exec --skip-git-repo-check -C CWD [-s S] [-p P] [--add-dir D]... --json [-m M]
/// [-c KV]... [--image=F]... [--output-schema F] -- -`.
/// Resume: the same with `resume` after the `exec` options and `THREAD` before `-`:
/// `exec resume` has no `-C`/`-s` of its own and defaults to a read-only sandbox, but the
/// options of `exec` placed before `resume` apply to it (checked with codex 0.169.0).
/// Review: `review` after the `exec` options, then its target flags (`--uncommitted`,
/// `--base B`, `--commit SHA`, `--title T`); `exec review` has no `-s`, `-i`, `-p` or
/// `--add-dir`, which go before `review`. The prompt is never an argument (every local
/// user can read a command line): `-` makes codex read it from its stdin, where the runner
/// writes it; a review without custom instructions gets no `-`. Nor is a `-c` value that
/// may hold a secret: those go to the run's profile file, `-p codexd-run-ID` in place of
/// the user's `-p P` (see [`config_layer`]).
pub fn codex_args(task: &Task, env: &RunEnv, task_dir: &Path) -> Vec<OsString> {
    let resume_thread = task.parent.as_ref().and(task.thread_id.as_ref());
    let review = (task.kind == TaskKind::Review).then_some(task.review.as_ref());
    let mut args: Vec<OsString> = vec!["exec".into(), "--skip-git-repo-check".into()];
    args.push("-C".into());
    args.push(task.cwd.clone().into());
    if let Some(sandbox) = &task.sandbox {
        args.push("-s".into());
        args.push(sandbox.into());
    }
    // Overrides that may hold a secret reach codex in a per-run profile layered over the
    // user's own ([`config_layer`]), never on the command line.
    let layer = config_layer::plan(task, &env.config);
    if let Some(profile) = layer.as_ref().map(|l| &l.name).or(task.profile.as_ref()) {
        args.push("-p".into());
        args.push(profile.into());
    }
    for dir in &task.add_dirs {
        args.push("--add-dir".into());
        args.push(dir.clone().into());
    }
    if review.is_some() {
        args.push("review".into());
    } else if resume_thread.is_some() {
        // A fork takes the same options and arguments as a resume (codex 0.169.0).
        args.push(if task.forked { "fork" } else { "resume" }.into());
    }
    args.push("--json".into());
    if let Some(model) = &task.model {
        args.push("-m".into());
        args.push(model.into());
    }
    if let Some(effort) = &task.effort {
        args.push("-c".into());
        args.push(format!("model_reasoning_effort=\"{effort}\"").into());
    }
    for kv in config_layer::argv_overrides(task, &env.config) {
        args.push("-c".into());
        args.push(kv.into());
    }
    if review.is_none() {
        for image in &task.images {
            let mut arg = OsString::from("--image=");
            arg.push(image);
            args.push(arg);
        }
    }
    if task.output_schema {
        args.push("--output-schema".into());
        args.push(task_dir.join(crate::options::SCHEMA_FILE).into());
    }
    if let Some(target) = review.flatten() {
        if target.uncommitted {
            args.push("--uncommitted".into());
        }
        for (flag, value) in [
            ("--base", &target.base),
            ("--commit", &target.commit),
            ("--title", &target.title),
        ] {
            if let Some(value) = value {
                args.push(flag.into());
                args.push(value.into());
            }
        }
    }
    args.push("--".into());
    if let Some(thread) = resume_thread.filter(|_| review.is_none()) {
        args.push(thread.into());
    }
    if review.is_none() || !env.prompt.trim().is_empty() {
        args.push("-".into());
    }
    args
}

/// The prompt codex reads on its stdin: the task's, and for a review with an output schema
/// the schema appended to its instructions ([`crate::options::review_instructions`]). A
/// schema file that cannot be read leaves the prompt as it is (codex then fails on the same
/// missing `--output-schema` file and says so).
fn codex_prompt(task: &Task, env: &RunEnv, task_dir: &Path) -> String {
    if task.kind != TaskKind::Review || !task.output_schema {
        return env.prompt.clone();
    }
    match std::fs::read_to_string(task_dir.join(crate::options::SCHEMA_FILE)) {
        Ok(schema) => crate::options::review_instructions(&env.prompt, &schema),
        Err(e) => {
            tracing::warn!(task = %task.id, "the output schema could not be read: {e}");
            env.prompt.clone()
        }
    }
}

/// What the runner of `task` is sent on its stdin: codex and its arguments, the prompt,
/// the redaction settings. The names of the variables the client set explicitly go with
/// it, so the runner redacts their values too.
pub(super) fn run_spec(config: &Config, task: &Task, codex: &Path, env: &RunEnv) -> RunSpec {
    let task_dir = TaskDir::new(&config.tasks_root(), &task.id);
    RunSpec {
        program: codex.as_os_str().to_owned(),
        args: codex_args(task, env, task_dir.path()),
        prompt: codex_prompt(task, env, task_dir.path()),
        config_layer: config_layer::plan(task, &env.config),
        redact_patterns: config.redact_patterns.clone(),
        explicit_env: crate::redact::explicit_env(&env.set)
            .into_iter()
            .map(|(name, _)| name)
            .collect(),
        max_log_bytes: config.max_log_bytes,
        limits: super::watchdog::RunLimits {
            timeout_ms: task.timeout_ms.map(|ms| {
                let elapsed = task
                    .started_at
                    .map(|s| s.until(codexd_api::Timestamp::now()))
                    .unwrap_or_default();
                ms.saturating_sub(elapsed.as_millis() as u64)
            }),
            stall_timeout_ms: task.stall_timeout_ms,
            kill_grace_ms: config.kill_grace.as_millis() as u64,
        },
        exit_fallbacks: super::exit_fallback::paths(config, &task.id),
    }
}

/// Spawns `<runner_exe> run-task --task-dir DIR` in a new session, with a pipe to its
/// stdin for the [`RunSpec`] ([`send_spec`]): nothing secret is on its command line.
pub(super) fn spawn_runner(
    config: &Config,
    task: &Task,
    dir: &TaskDir,
    env: &RunEnv,
) -> Result<tokio::process::Child, String> {
    let mut cmd = tokio::process::Command::new(&config.runner_exe);
    cmd.arg("run-task").arg("--task-dir").arg(dir.path());
    cmd.current_dir(&task.cwd)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        // The daemon's log filter is not the run's.
        .env_remove("RUST_LOG");
    for key in &env.remove {
        cmd.env_remove(key);
    }
    cmd.envs(&env.set);
    cmd.env(process::TASK_MARKER_ENV, task.id.as_str());
    let umask = process::user_umask();
    // The run's own cgroup, where the system allows one: joined before exec, so everything
    // of the run is born inside it and cannot leave it.
    let cgroup = cgroup::Joiner::create(task.id.as_str());
    let contained = cgroup.is_some();
    // SAFETY: setsid, umask and the cgroup join (one write) are async-signal-safe. setsid
    // detaches the run into its own session and process group, so it can be signalled as a
    // whole and outlive the daemon; the run gets the user's umask back (the daemon's own is
    // owner-only).
    unsafe {
        cmd.pre_exec(move || {
            if let Some(cgroup) = &cgroup {
                cgroup.join_self();
            }
            if libc::setsid() < 0 {
                return Err(std::io::Error::last_os_error());
            }
            if let Some(mask) = umask {
                libc::umask(mask);
            }
            Ok(())
        });
    }
    let child = cmd.spawn().map_err(|e| {
        format!(
            "could not start the run supervisor {}: {e}",
            config.runner_exe.display()
        )
    })?;
    if contained
        && !child
            .id()
            .is_some_and(|pid| cgroup::contains(task.id.as_str(), pid))
    {
        tracing::warn!(task = %task.id, "the run could not join its cgroup: it is contained by its process group and marker only");
        cgroup::remove_if_empty(task.id.as_str());
    }
    Ok(child)
}

/// How long a runner may take to read its spec before the daemon gives up on the pipe
/// (the runner then finds the spec incomplete and records why it could not start).
const SPEC_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// Writes `spec` to the runner's stdin and closes it. Nothing is lost if this fails: the
/// runner records an incomplete spec as a start failure in `exit.json`.
pub(super) async fn send_spec(child: &mut tokio::process::Child, spec: &RunSpec) {
    use tokio::io::AsyncWriteExt as _;
    let Some(mut stdin) = child.stdin.take() else {
        return;
    };
    let bytes = match serde_json::to_vec(spec) {
        Ok(bytes) => bytes,
        Err(e) => {
            tracing::error!("cannot encode the run's spec: {e}");
            return;
        }
    };
    match tokio::time::timeout(SPEC_TIMEOUT, stdin.write_all(&bytes)).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::warn!("cannot send the run's spec to its runner: {e}"),
        Err(_) => tracing::warn!("the runner did not take its spec within {SPEC_TIMEOUT:?}"),
    }
}
