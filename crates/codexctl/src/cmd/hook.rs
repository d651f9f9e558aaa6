//! `codexctl hook EVENT`: Claude Code hooks (the codexd plugin's `hooks/hooks.json`).
//!
//! Each reads Claude Code's hook JSON on stdin (`session_id`, `cwd`, `hook_event_name`,
//! `stop_hook_active`, ...), asks the daemon about tasks, and prints what Claude Code's hook
//! protocol expects on stdout. A hook must never break the user's session: it never starts
//! a daemon (whatever `--no-autostart` says), everything is bounded by [`HOOK_DEADLINE`], and
//! on any failure (no daemon, bad input, timeout) it prints nothing and exits 0.
//!
//! - `session-start`: context naming this project's (cwd's) queued/running tasks and the
//!   ended ones whose result was never read; nothing when there are none.
//! - `user-prompt-submit`: one line of context per task of this session that ended unread
//!   and was not announced yet (each task once: the announced ids are kept in a per-session
//!   file, [`state_path`]).
//! - `stop`: blocks the stop (`{"decision":"block","reason":...}`) while tasks of this
//!   session run or are unread, by the policy of [`stop_decision`].

use crate::{CmdResult, Ctx};
use codexd_client::api::{ListQuery, Task, TaskState, Timestamp};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How long a hook may take in all (reading stdin, talking to the daemon).
pub const HOOK_DEADLINE: Duration = Duration::from_secs(2);

/// Headless sessions (`claude -p`, the SDK): consecutive blocks of one stop at most. Claude
/// Code itself ends the turn after 8; with `codex_wait` waiting up to 50 s per call and the
/// model told to call it until the task ends, one block usually suffices.
pub const MAX_HEADLESS_BLOCKS: u32 = 6;

/// Longest stdin accepted (hook inputs are small JSON objects).
const MAX_INPUT: u64 = 1 << 20;

/// Tasks listed in a context or reason at most.
const MAX_NAMED: usize = 8;

/// The hook events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Event {
    /// `SessionStart`: summary of this project's running and unread tasks.
    SessionStart,
    /// `UserPromptSubmit`: tasks of this session that ended since the last prompt.
    UserPromptSubmit,
    /// `Stop`: keep the session going while its tasks run or are unread.
    Stop,
}

/// Arguments of `hook`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The hook event (reads Claude Code's hook JSON on stdin).
    #[arg(value_enum)]
    event: Event,
}

/// What Claude Code sends a hook on stdin (the fields used here).
#[derive(Debug, Default, Clone, Deserialize)]
pub struct HookInput {
    /// The Claude Code session.
    #[serde(default)]
    pub session_id: Option<String>,
    /// The session's working directory.
    #[serde(default)]
    pub cwd: Option<PathBuf>,
    /// True when a Stop hook already blocked this stop.
    #[serde(default)]
    pub stop_hook_active: bool,
    /// Stop: the session's background tasks (Claude Code 2.1.197 sends
    /// `{"id", "type": "shell", "status": "running", "description", "command"}`).
    #[serde(default)]
    pub background_tasks: Vec<BackgroundTask>,
}

/// One of the session's background tasks, as a Stop hook sees it.
#[derive(Debug, Default, Clone, Deserialize)]
pub struct BackgroundTask {
    /// `running`, `completed`, ...
    #[serde(default)]
    pub status: Option<String>,
    /// The shell command, for `shell` tasks.
    #[serde(default)]
    pub command: Option<String>,
}

/// The ids among `active` that a running background shell waits for (`codexctl … wait ID`):
/// the session will be told when they end.
pub fn watched_ids(background: &[BackgroundTask], active: &[Task]) -> BTreeSet<String> {
    let mut watched = BTreeSet::new();
    for task in background {
        if task.status.as_deref().is_some_and(|s| s != "running") {
            continue;
        }
        let Some(command) = task.command.as_deref() else {
            continue;
        };
        let words: Vec<&str> = command
            .split(|c: char| c.is_whitespace() || c == '\'' || c == '"' || c == ';')
            .collect();
        if !words.iter().any(|w| w.ends_with("codexctl")) || !words.contains(&"wait") {
            continue;
        }
        for t in active {
            if words.contains(&t.id.as_str()) {
                watched.insert(t.id.to_string());
            }
        }
    }
    watched
}

/// What a hook keeps per session between calls (`hooks/<session>.json`).
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionState {
    /// Tasks already announced by `user-prompt-submit` (or whose end a stop named).
    #[serde(default)]
    pub announced: BTreeSet<String>,
    /// Tasks an interactive stop already reminded of.
    #[serde(default)]
    pub reminded: BTreeSet<String>,
    /// Consecutive blocks of the current stop (reset when a stop is let through).
    #[serde(default)]
    pub consecutive_blocks: u32,
}

/// Runs `hook`: never fails, never prints on failure.
pub async fn run(ctx: &Ctx, args: Args) -> CmdResult {
    let work = async {
        let input = read_input().await?;
        let socket = ctx.connect.socket.clone();
        // Never start a daemon from a hook: a plain connect.
        let client = codexd_client::Client::connect(&socket).await.ok()?;
        let headless = is_headless(std::env::var("CLAUDE_CODE_ENTRYPOINT").ok().as_deref());
        handle(&client, &socket, args.event, input, headless).await
    };
    if let Ok(Some(output)) = tokio::time::timeout(HOOK_DEADLINE, work).await {
        // A closed stdout is not worth reporting either.
        let _ = crate::out::line(output);
    }
    Ok(())
}

/// Reads and parses stdin on a thread of its own, so a stdin that never closes cannot hold
/// the hook past its deadline.
async fn read_input() -> Option<HookInput> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::spawn(move || {
        let mut text = String::new();
        let ok = std::io::stdin()
            .take(MAX_INPUT)
            .read_to_string(&mut text)
            .is_ok();
        let _ = tx.send(ok.then_some(text));
    });
    let text = rx.await.ok()??;
    serde_json::from_str(&text).ok()
}

/// True unless Claude Code runs interactively (`CLAUDE_CODE_ENTRYPOINT=cli`): `claude -p`
/// sets `sdk-cli`, the SDKs `sdk-ts`/`sdk-py`.
pub fn is_headless(entrypoint: Option<&str>) -> bool {
    entrypoint != Some("cli")
}

async fn handle(
    client: &codexd_client::Client,
    socket: &Path,
    event: Event,
    input: HookInput,
    headless: bool,
) -> Option<String> {
    match event {
        Event::SessionStart => {
            let cwd = std::fs::canonicalize(input.cwd.as_ref()?).ok()?;
            let active = list(client, active_query().with_cwd(&cwd)).await?;
            let unread = list(client, unread_query().with_cwd(&cwd)).await?;
            let text = session_start_context(&active, &unread, Timestamp::now())?;
            Some(context_output("SessionStart", &text))
        }
        Event::UserPromptSubmit => {
            let session = valid_session(input.session_id.as_deref())?;
            let unread = list(client, unread_query().with_session(session)).await?;
            let path = state_path(socket, session);
            let mut state = load_state(&path);
            // A user prompt ends any chain of stop blocks.
            state.consecutive_blocks = 0;
            let text = prompt_context(&unread, &mut state);
            save_state(&path, &state);
            Some(context_output("UserPromptSubmit", &text?))
        }
        Event::Stop => {
            let session = valid_session(input.session_id.as_deref())?;
            let active = list(client, active_query().with_session(session)).await?;
            let unread = list(client, unread_query().with_session(session)).await?;
            let path = state_path(socket, session);
            let mut state = load_state(&path);
            let before = state.clone();
            let watched = watched_ids(&input.background_tasks, &active);
            let reason = stop_decision(
                &active,
                &unread,
                &watched,
                input.stop_hook_active,
                headless,
                &mut state,
            );
            if state != before {
                save_state(&path, &state);
            }
            let reason = reason?;
            Some(serde_json::json!({"decision": "block", "reason": reason}).to_string())
        }
    }
}

trait QueryExt {
    fn with_cwd(self, cwd: &Path) -> Self;
    fn with_session(self, session: &str) -> Self;
}

impl QueryExt for ListQuery {
    fn with_cwd(mut self, cwd: &Path) -> Self {
        self.cwd = Some(cwd.to_path_buf());
        self
    }
    fn with_session(mut self, session: &str) -> Self {
        self.session_id = Some(session.to_string());
        self
    }
}

fn active_query() -> ListQuery {
    ListQuery {
        states: vec![TaskState::Queued, TaskState::Running],
        limit: Some(50),
        ..ListQuery::default()
    }
}

fn unread_query() -> ListQuery {
    ListQuery {
        unread: true,
        limit: Some(50),
        ..ListQuery::default()
    }
}

async fn list(client: &codexd_client::Client, query: ListQuery) -> Option<Vec<Task>> {
    client.list(query).await.ok().map(|page| page.tasks)
}

/// The session id if it is safe as a file name (Claude Code's are UUIDs).
pub fn valid_session(session: Option<&str>) -> Option<&str> {
    let session = session?.trim();
    let ok = !session.is_empty()
        && session.len() <= 128
        && session
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    ok.then_some(session)
}

/// The per-session file: `hooks/<session>.json` next to the daemon's socket (by default
/// `$XDG_RUNTIME_DIR/codexd/hooks/`), so it goes when the runtime directory does.
pub fn state_path(socket: &Path, session: &str) -> PathBuf {
    socket
        .parent()
        .unwrap_or(Path::new("."))
        .join("hooks")
        .join(format!("{session}.json"))
}

fn load_state(path: &Path) -> SessionState {
    std::fs::read(path)
        .ok()
        .and_then(|data| serde_json::from_slice(&data).ok())
        .unwrap_or_default()
}

/// Writes the state (directory 0700, file 0600, replaced atomically); errors are ignored.
fn save_state(path: &Path, state: &SessionState) {
    use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _};
    let Some(dir) = path.parent() else { return };
    let _ = std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir);
    let Ok(data) = serde_json::to_vec(state) else {
        return;
    };
    let tmp = path.with_extension(format!("json.{}", std::process::id()));
    let written = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .and_then(|mut file| std::io::Write::write_all(&mut file, &data));
    if written.is_err() || std::fs::rename(&tmp, path).is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
}

/// The hook output that adds `text` as context.
fn context_output(event: &str, text: &str) -> String {
    serde_json::json!({
        "hookSpecificOutput": {"hookEventName": event, "additionalContext": text}
    })
    .to_string()
}

/// `k7f3q9x2 running 1m12s "Fix the flaky…"`: one task, compactly.
pub fn task_brief(task: &Task, now: Timestamp) -> String {
    let mut line = format!("{} {}", task.id, task.state);
    if let Some(d) = task.duration(now) {
        line.push(' ');
        line.push_str(&crate::render::duration(d));
    }
    let prompt = snippet(&task.prompt, 60);
    if !prompt.is_empty() {
        line.push_str(&format!(" {prompt:?}"));
    }
    line
}

fn snippet(text: &str, max: usize) -> String {
    let line = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
    let mut out: String = line.trim().chars().take(max).collect();
    if line.trim().chars().count() > max {
        out.push('…');
    }
    out
}

fn ids(tasks: &[&Task]) -> String {
    let mut ids: Vec<&str> = tasks.iter().map(|t| t.id.as_str()).collect();
    if ids.len() > MAX_NAMED {
        ids.truncate(MAX_NAMED);
        ids.push("…");
    }
    ids.join(", ")
}

/// `SessionStart` context: this project's queued/running tasks and unread ended ones.
pub fn session_start_context(active: &[Task], unread: &[Task], now: Timestamp) -> Option<String> {
    if active.is_empty() && unread.is_empty() {
        return None;
    }
    let mut lines = vec![format!(
        "codexd: Codex tasks in this project: {} running or queued, {} finished with the result unread.",
        active.len(),
        unread.len()
    )];
    for task in active.iter().chain(unread).take(MAX_NAMED) {
        lines.push(format!("- {}", task_brief(task, now)));
    }
    if active.len() + unread.len() > MAX_NAMED {
        lines.push(format!(
            "- … and {} more (codex_list)",
            active.len() + unread.len() - MAX_NAMED
        ));
    }
    if !unread.is_empty() {
        lines.push("Read a finished one with codex_result (task_id).".into());
    }
    Some(lines.join("\n"))
}

/// `UserPromptSubmit` context: the unread tasks of this session not announced yet (each is
/// then recorded as announced). `None` when there is nothing new.
pub fn prompt_context(unread: &[Task], state: &mut SessionState) -> Option<String> {
    let fresh: Vec<&Task> = unread
        .iter()
        .filter(|t| !state.announced.contains(t.id.as_str()))
        .collect();
    if fresh.is_empty() {
        return None;
    }
    for task in &fresh {
        state.announced.insert(task.id.to_string());
    }
    let named: Vec<String> = fresh
        .iter()
        .take(MAX_NAMED)
        .map(|t| format!("{} {}", t.id, t.state))
        .collect();
    let noun = if fresh.len() == 1 { "task" } else { "tasks" };
    Some(format!(
        "codexd: Codex {noun} finished since the last prompt, result unread: {} (read with codex_result).",
        named.join(", ")
    ))
}

/// The `Stop` policy: `Some(reason)` blocks the stop.
///
/// - Nothing of this session runs or is unread: let it stop (and reset the count).
/// - Headless (`claude -p`, SDK): block while tasks of this session run or are unread,
///   telling the model to call `codex_wait` until they end, then `codex_result`; at most
///   [`MAX_HEADLESS_BLOCKS`] consecutive blocks (counted while `stop_hook_active`; a stop
///   without it starts a new count), then let it stop.
/// - Interactive: a reminder, once per task: block once naming the tasks not reminded of
///   yet (running ones: a background `codexctl wait ID` tells you when it ends; unread ones:
///   read them with `codex_result`). A task already reminded of never blocks again, nor does
///   a running one that a background `codexctl wait` (in `watched`) already waits for.
pub fn stop_decision(
    active: &[Task],
    unread: &[Task],
    watched: &BTreeSet<String>,
    stop_hook_active: bool,
    headless: bool,
    state: &mut SessionState,
) -> Option<String> {
    if !stop_hook_active {
        state.consecutive_blocks = 0;
    }
    if active.is_empty() && unread.is_empty() {
        state.consecutive_blocks = 0;
        return None;
    }
    let (active, unread): (Vec<&Task>, Vec<&Task>) = if headless {
        if state.consecutive_blocks >= MAX_HEADLESS_BLOCKS {
            return None;
        }
        (active.iter().collect(), unread.iter().collect())
    } else {
        let fresh = |t: &&Task| !state.reminded.contains(t.id.as_str());
        let active: Vec<&Task> = active
            .iter()
            .filter(fresh)
            .filter(|t| !watched.contains(t.id.as_str()))
            .collect();
        let unread: Vec<&Task> = unread.iter().filter(fresh).collect();
        if active.is_empty() && unread.is_empty() {
            return None;
        }
        for task in active.iter().chain(&unread) {
            state.reminded.insert(task.id.to_string());
        }
        (active, unread)
    };
    state.consecutive_blocks += 1;
    for task in &unread {
        state.announced.insert(task.id.to_string());
    }
    let mut parts = Vec::new();
    if !active.is_empty() {
        let ids_json =
            serde_json::to_string(&active.iter().map(|t| t.id.as_str()).collect::<Vec<_>>())
                .unwrap_or_default();
        if headless {
            parts.push(format!(
                "Codex tasks you started are still running: {}. Do not stop yet: call codex_wait \
                 with task_ids {ids_json} (it waits up to 50 s; call it again while done is false), \
                 then codex_result with each task_id, and use the result in your answer.",
                ids(&active)
            ));
        } else {
            parts.push(format!(
                "Codex tasks you started are still running: {}. If no background `codexctl wait \
                 <task_id>` runs for them, start one with the Bash tool (run_in_background) so you \
                 are told when they end; then you may end your turn.",
                ids(&active)
            ));
        }
    }
    if !unread.is_empty() {
        parts.push(format!(
            "Codex tasks finished with the result unread: {}. Call codex_result with each task_id \
             and use what it says before you finish.",
            unread
                .iter()
                .map(|t| format!("{} {}", t.id, t.state))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    Some(format!("codexd: {}", parts.join(" ")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task(id: &str, state: TaskState) -> Task {
        let mut task: Task = serde_json::from_value(serde_json::json!({
            "id": id, "state": "queued", "thread_id": null, "prompt": "Fix the flaky test\nmore",
            "cwd": "/p", "sandbox": null, "model": null, "config": [], "env_keys": [],
            "timeout_ms": null, "parent": null, "created_at": "2026-01-01T00:00:00Z",
            "started_at": null, "finished_at": null, "exit_code": null, "exit_signal": null,
            "error": null, "final_message": null, "queue_position": null, "pid": null,
            "pid_start_time": null, "log_bytes": 0, "transitions": []
        }))
        .expect("task JSON");
        task.state = state;
        task
    }

    #[test]
    fn session_start_names_running_and_unread_tasks_or_says_nothing() {
        let now = Timestamp::now();
        assert_eq!(session_start_context(&[], &[], now), None);
        let text = session_start_context(
            &[task("aaaaaaaa", TaskState::Running)],
            &[task("bbbbbbbb", TaskState::Succeeded)],
            now,
        )
        .unwrap();
        assert!(text.contains("1 running or queued, 1 finished"), "{text}");
        assert!(
            text.contains("- aaaaaaaa running \"Fix the flaky test\""),
            "{text}"
        );
        assert!(text.contains("- bbbbbbbb succeeded"), "{text}");
        assert!(text.contains("codex_result"), "{text}");
        let many: Vec<Task> = (0..12)
            .map(|i| task(&format!("cccccc{i:02}"), TaskState::Running))
            .collect();
        let text = session_start_context(&many, &[], now).unwrap();
        assert!(text.contains("and 4 more"), "{text}");
        assert!(!text.contains("codex_result"), "nothing to read: {text}");
    }

    #[test]
    fn a_prompt_announces_each_unread_task_once() {
        let mut state = SessionState::default();
        assert_eq!(prompt_context(&[], &mut state), None);
        let done = task("aaaaaaaa", TaskState::Succeeded);
        let text = prompt_context(std::slice::from_ref(&done), &mut state).unwrap();
        assert!(text.contains("task finished"), "{text}");
        assert!(text.contains("aaaaaaaa succeeded"), "{text}");
        assert_eq!(
            prompt_context(std::slice::from_ref(&done), &mut state),
            None
        );
        let failed = task("bbbbbbbb", TaskState::Failed);
        let text = prompt_context(&[done, failed], &mut state).unwrap();
        assert!(text.contains("bbbbbbbb failed"), "{text}");
        assert!(!text.contains("aaaaaaaa"), "announced before: {text}");
    }

    #[test]
    fn headless_stops_are_blocked_while_tasks_run_at_most_max_times_in_a_row() {
        let none = BTreeSet::new();
        let mut state = SessionState::default();
        let running = [task("aaaaaaaa", TaskState::Running)];
        let reason = stop_decision(&running, &[], &none, false, true, &mut state).unwrap();
        assert!(reason.contains("codex_wait"), "{reason}");
        assert!(reason.contains("[\"aaaaaaaa\"]"), "{reason}");
        assert!(reason.contains("codex_result"), "{reason}");
        for _ in 1..MAX_HEADLESS_BLOCKS {
            assert!(stop_decision(&running, &[], &none, true, true, &mut state).is_some());
        }
        assert_eq!(state.consecutive_blocks, MAX_HEADLESS_BLOCKS);
        assert_eq!(
            stop_decision(&running, &[], &none, true, true, &mut state),
            None,
            "never more than MAX_HEADLESS_BLOCKS in a row"
        );
        // A new stop (not stop_hook_active) starts counting again.
        assert!(stop_decision(&running, &[], &none, false, true, &mut state).is_some());
        assert_eq!(state.consecutive_blocks, 1);

        // Ended but unread: read it first.
        let unread = [task("bbbbbbbb", TaskState::Succeeded)];
        let reason = stop_decision(&[], &unread, &none, true, true, &mut state).unwrap();
        assert!(reason.contains("bbbbbbbb succeeded"), "{reason}");
        assert!(!reason.contains("codex_wait"), "{reason}");
        assert!(state.announced.contains("bbbbbbbb"));

        // Nothing left: stop, and the count is reset.
        assert_eq!(stop_decision(&[], &[], &none, true, true, &mut state), None);
        assert_eq!(state.consecutive_blocks, 0);
    }

    #[test]
    fn interactive_stops_are_reminded_once_per_task() {
        let none = BTreeSet::new();
        let mut state = SessionState::default();
        let running = [task("aaaaaaaa", TaskState::Running)];
        let reason = stop_decision(&running, &[], &none, false, false, &mut state).unwrap();
        assert!(reason.contains("codexctl wait"), "{reason}");
        assert!(reason.contains("run_in_background"), "{reason}");
        assert_eq!(
            stop_decision(&running, &[], &none, true, false, &mut state),
            None
        );
        assert_eq!(
            stop_decision(&running, &[], &none, false, false, &mut state),
            None
        );
        // The same task, now ended and unread: already reminded of.
        let ended = [task("aaaaaaaa", TaskState::Succeeded)];
        assert_eq!(
            stop_decision(&[], &ended, &none, false, false, &mut state),
            None
        );
        // Another one is.
        let other = [task("bbbbbbbb", TaskState::Failed)];
        let reason = stop_decision(&[], &other, &none, false, false, &mut state).unwrap();
        assert!(reason.contains("bbbbbbbb failed"), "{reason}");
    }

    #[test]
    fn a_running_background_wait_means_no_reminder_interactively_but_headless_still_blocks() {
        let running = [
            task("aaaaaaaa", TaskState::Running),
            task("bbbbbbbb", TaskState::Running),
        ];
        let input: HookInput = serde_json::from_str(
            r#"{"stop_hook_active":false,"background_tasks":[
                {"id":"b7j4dh9op","type":"shell","status":"running",
                 "description":"Wait for the Codex task","command":"codexctl wait aaaaaaaa"},
                {"id":"x","type":"shell","status":"completed","command":"codexctl wait bbbbbbbb"},
                {"id":"y","type":"shell","status":"running","command":"echo bbbbbbbb"}]}"#,
        )
        .unwrap();
        let watched = watched_ids(&input.background_tasks, &running);
        assert_eq!(watched.iter().collect::<Vec<_>>(), vec!["aaaaaaaa"]);
        let quoted = [BackgroundTask {
            status: Some("running".into()),
            command: Some("'/x/codexctl' --socket '/r/codexd.sock' wait bbbbbbbb".into()),
        }];
        assert!(watched_ids(&quoted, &running).contains("bbbbbbbb"));

        let mut state = SessionState::default();
        let reason = stop_decision(&running, &[], &watched, false, false, &mut state).unwrap();
        assert!(
            reason.contains("bbbbbbbb") && !reason.contains("aaaaaaaa"),
            "{reason}"
        );
        let all: BTreeSet<String> = ["aaaaaaaa".to_string(), "bbbbbbbb".to_string()].into();
        let mut state = SessionState::default();
        assert_eq!(
            stop_decision(&running, &[], &all, false, false, &mut state),
            None
        );
        // Headless: `claude -p` kills background shells, so it still blocks.
        assert!(stop_decision(&running, &[], &all, false, true, &mut state).is_some());
    }

    #[test]
    fn hook_inputs_entrypoints_and_session_file_names() {
        let input: HookInput = serde_json::from_str(
            r#"{"session_id":"daf74f4e-e30a","cwd":"/p","hook_event_name":"Stop",
                "stop_hook_active":true,"background_tasks":[]}"#,
        )
        .unwrap();
        assert!(input.stop_hook_active);
        assert_eq!(input.session_id.as_deref(), Some("daf74f4e-e30a"));
        let input: HookInput =
            serde_json::from_str(r#"{"hook_event_name":"SessionStart"}"#).unwrap();
        assert!(!input.stop_hook_active);
        assert!(is_headless(Some("sdk-cli")));
        assert!(is_headless(None));
        assert!(!is_headless(Some("cli")));
        assert_eq!(valid_session(Some("daf74f4e-e30a")), Some("daf74f4e-e30a"));
        assert_eq!(valid_session(Some("../x")), None);
        assert_eq!(valid_session(Some("")), None);
        assert_eq!(
            state_path(Path::new("/run/u/codexd/codexd.sock"), "s1"),
            PathBuf::from("/run/u/codexd/hooks/s1.json")
        );
    }

    #[test]
    fn the_state_file_is_private_and_round_trips() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile_dir();
        let path = dir.join("hooks").join("s1.json");
        let mut state = SessionState::default();
        state.announced.insert("aaaaaaaa".into());
        state.consecutive_blocks = 2;
        save_state(&path, &state);
        assert_eq!(load_state(&path), state);
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(
            load_state(&dir.join("missing.json")),
            SessionState::default()
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    fn tempfile_dir() -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "codexctl-hook-test-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }
}
