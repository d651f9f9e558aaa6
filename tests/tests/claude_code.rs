//! The Claude Code plugin (`claude-plugin/`, the marketplace in `.claude-plugin/`) with the
//! real Claude Code CLI (npm `@anthropic-ai/claude-code@2.1.197`, installed into target/ by
//! `codexd_tests::claude_cli`), offline: its model is the scripted loopback stand-in for
//! Anthropic's Messages API (`codexd_tests::anthropic`), the daemon is a real codexd
//! (`TestEnv`) and Codex is the real pinned CLI against the loopback Responses API.
//!
//! What Claude Code 2.1.197 does with the plugin (asserted here): the MCP tools are named
//! `mcp__plugin_codexd_codex__<tool>`; hooks get `session_id`, `cwd`, `hook_event_name`
//! (and `stop_hook_active` for Stop) on stdin and `CLAUDE_CODE_SESSION_ID` /
//! `CLAUDE_CODE_ENTRYPOINT` (`sdk-cli` under `-p`) in the environment; SessionStart and
//! UserPromptSubmit context arrive in a system-role message after the prompt
//! (`SessionStart:startup hook success: …`, `UserPromptSubmit hook additional context: …`);
//! a Stop hook's block reason arrives as the next user message.

use codexd_tests::anthropic::{AnthropicServer, Request, Turn};
use codexd_tests::claude_cli::{
    ClaudeHome, PLUGIN_TOOL_PREFIX, documented_permissions, plugin_dir, repo_root, result_text,
};
use codexd_tests::codex_cli::{MOCK_MODEL, mock_config_overrides};
use codexd_tests::daemon::{TestEnv, bin_dir, output};
use codexd_tests::model_server::{MockModelServer, Scenario, Step};
use serde_json::{Value, json};
use std::process::Command;
use std::time::Duration;

/// Longest one `claude` run may take.
const CLAUDE_TIMEOUT: Duration = Duration::from_secs(90);

fn tool(name: &str) -> String {
    format!("{PLUGIN_TOOL_PREFIX}{name}")
}

fn stderr(out: &std::process::Output) -> String {
    format!(
        "status {}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// `claude -p PROMPT` (JSON output) in session `session` with the plugin loaded from this
/// repository (`--plugin-dir`); fails the test, with the daemon's log, unless it succeeds.
fn headless_with_plugin(
    env: &TestEnv,
    home: &ClaudeHome,
    session: &str,
    prompt: &str,
) -> std::process::Output {
    let plugin = plugin_dir();
    let out = home.run(
        &[
            "-p",
            "--output-format",
            "json",
            "--session-id",
            session,
            "--plugin-dir",
            &plugin.to_string_lossy(),
            prompt,
        ],
        CLAUDE_TIMEOUT,
    );
    assert!(
        out.status.success(),
        "{}\n{}",
        stderr(&out),
        env.daemon_log()
    );
    out
}

/// A home for a session in `env.work` that reaches `env`'s daemon and Codex home.
fn home_for(env: &TestEnv, api: &AnthropicServer) -> ClaudeHome {
    // What the README tells a user to allow, nothing more.
    let allow: Vec<String> = documented_permissions();
    let allow: Vec<&str> = allow.iter().map(String::as_str).collect();
    let mut home = ClaudeHome::new(&env.work, &api.base_url(), &allow).expect("claude home");
    home.env = vec![
        ("CODEXD_SOCKET".into(), env.socket.to_string_lossy().into()),
        ("CODEX_HOME".into(), env.codex_home.to_string_lossy().into()),
    ];
    home
}

#[test]
fn the_plugin_and_the_marketplace_validate() {
    let api = AnthropicServer::start(|_| Turn::text("unused")).unwrap();
    let home = ClaudeHome::new(&repo_root(), &api.base_url(), &[]).unwrap();
    for target in [plugin_dir(), repo_root()] {
        let out = home.run(
            &["plugin", "validate", &target.to_string_lossy()],
            CLAUDE_TIMEOUT,
        );
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{}", stderr(&out));
        assert!(text.contains("Validation passed"), "{text}");
        assert!(!text.contains("warning"), "no warnings: {text}");
    }
}

#[test]
fn the_launcher_finds_the_binaries_or_says_how_to_install_them() {
    let launcher = plugin_dir().join("bin/codexd-run");
    let home = tempfile::tempdir().unwrap();
    let run = |path: &str, args: &[&str]| {
        output(
            Command::new(&launcher)
                .args(args)
                .env("PATH", path)
                .env("HOME", home.path())
                .env_remove("CARGO_HOME")
                .env_remove("CARGO_INSTALL_ROOT"),
        )
    };
    let out = run("/usr/bin:/bin", &["codexd-mcp", "--version"]);
    assert_eq!(out.status.code(), Some(127), "{}", stderr(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    assert!(err.contains("./install.sh"), "{err}");
    assert!(err.contains("codexd-mcp not found"), "{err}");
    let out = run("/usr/bin:/bin", &["--quiet", "codexctl", "hook", "stop"]);
    assert!(out.status.success() && out.stdout.is_empty() && out.stderr.is_empty());
    // `--report` (the slash commands' `!` lines: Claude Code drops a command whose `!` line
    // fails): exit 0, the install hint and the status on stdout for the model to read.
    let out = run("/usr/bin:/bin", &["--report", "codexctl", "doctor"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.contains("./install.sh"), "{said}");
    assert!(said.ends_with("(exit status 127)\n"), "{said}");
    let path = format!("{}:/usr/bin:/bin", bin_dir().display());
    let out = run(
        &path,
        &["--report", "codexctl", "--no-autostart", "show", "nosuchid"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.trim_end().ends_with("(exit status 2)"), "{said}");
    assert!(
        said.lines().count() >= 2,
        "the failure's message is kept: {said}"
    );

    // On PATH, or in ~/.cargo/bin.
    let path = format!("{}:/usr/bin:/bin", bin_dir().display());
    let out = run(&path, &["codexd-mcp", "--version"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let cargo_bin = home.path().join(".cargo/bin");
    std::fs::create_dir_all(&cargo_bin).unwrap();
    std::os::unix::fs::symlink(bin_dir().join("codexctl"), cargo_bin.join("codexctl")).unwrap();
    let out = run("/usr/bin:/bin", &["codexctl", "--version"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("codexctl "));
}

#[test]
fn installed_from_the_marketplace_the_plugin_gives_the_tools_skill_and_commands() {
    let api = AnthropicServer::start(|_| Turn::text("hello back")).unwrap();
    let project = tempfile::tempdir().unwrap();
    let mut home = ClaudeHome::new(project.path(), &api.base_url(), &[]).unwrap();
    // No daemon: listing tools needs none.
    home.env = vec![(
        "CODEXD_SOCKET".into(),
        project
            .path()
            .join("run/codexd.sock")
            .to_string_lossy()
            .into(),
    )];
    let repo = repo_root();
    let out = home.run(
        &["plugin", "marketplace", "add", &repo.to_string_lossy()],
        CLAUDE_TIMEOUT,
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let out = home.run(&["plugin", "install", "codexd@codexd"], CLAUDE_TIMEOUT);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = home.run(&["plugin", "list"], CLAUDE_TIMEOUT);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("codexd@codexd"),
        "{}",
        stderr(&out)
    );

    let out = home.run(&["-p", "--output-format", "json", "hello"], CLAUDE_TIMEOUT);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(result_text(&out.stdout)["result"], "hello back");
    let conversation = api.conversation();
    let first = conversation.first().expect("a request");
    let tools = first.tool_names();
    for name in [
        "codex_start",
        "codex_wait",
        "codex_result",
        "codex_status",
        "codex_list",
        "codex_cancel",
        "codex_resume",
    ] {
        assert!(tools.contains(&tool(name)), "{name} offered: {tools:?}");
    }
    let body = first.body_text();
    assert!(body.contains("delegate-to-codex"), "the skill is listed");
    assert!(
        body.contains("plugin:codexd:codex"),
        "the server's instructions are sent"
    );
    // No daemon was started by the session (the hooks never start one).
    assert!(!project.path().join("run/codexd.sock").exists());
}

/// The scripted model of a headless delegation: start a task, try to end the turn, and when
/// the Stop hook objects, wait for the task and read its result.
fn delegating_model(codex_url: String, cwd: String) -> impl Fn(&Request) -> Turn {
    move |request: &Request| {
        if !request.is_conversation() {
            return Turn::text("Delegation");
        }
        let started = started_task_id(request);
        match request.last_tool_result() {
            None if started.is_none() => Turn::tool(
                tool("codex_start"),
                json!({
                    "prompt": "[slow] run the slow job and report",
                    "cwd": cwd,
                    "sandbox": "workspace-write",
                    "model": MOCK_MODEL,
                    "config": mock_config_overrides(&codex_url),
                }),
            ),
            // The Stop hook blocked: do as it says.
            None => {
                let id = started.unwrap_or_default();
                if request.last_user_text().contains("codex_wait") {
                    Turn::tool(
                        tool("codex_wait"),
                        json!({"task_ids": [id], "timeout_seconds": 50}),
                    )
                } else {
                    Turn::tool(tool("codex_result"), json!({"task_id": id}))
                }
            }
            Some(result) if result.name.ends_with("__codex_start") => {
                Turn::text("Codex is on it in the background.")
            }
            Some(result) if result.name.ends_with("__codex_wait") => {
                let id = started.unwrap_or_default();
                let done = result.json().is_some_and(|v| v["done"] == true);
                if done {
                    Turn::tool(tool("codex_result"), json!({"task_id": id}))
                } else {
                    Turn::tool(
                        tool("codex_wait"),
                        json!({"task_ids": [id], "timeout_seconds": 50}),
                    )
                }
            }
            Some(result) if result.name.ends_with("__codex_result") => {
                let answer = result
                    .json()
                    .and_then(|v| v["final_message"].as_str().map(str::to_string))
                    .unwrap_or_else(|| result.text.clone());
                Turn::text(format!("Codex finished: {answer}"))
            }
            Some(other) => Turn::text(format!("unexpected tool result {}", other.name)),
        }
    }
}

#[test]
fn a_headless_run_ends_with_the_delegated_result_read() {
    let server = MockModelServer::start_blocking(vec![Scenario::new(
        "[slow]",
        vec![
            Step::shell("sleep 2; echo slow-done"),
            // A 30-s task: the model's answer takes that long (codex's shell tool hands a
            // command that runs past ~10 s back to the model, so a long sleep would not do).
            Step::message("SLOW-RESULT-42: the slow job is done").delayed(Duration::from_secs(28)),
        ],
    )])
    .expect("model server");
    let mut env = TestEnv::new(server).expect("test env");
    env.start_daemon(&[]).unwrap();
    let api = AnthropicServer::start(delegating_model(
        env.server.base_url(),
        env.work.to_string_lossy().into(),
    ))
    .unwrap();
    let home = home_for(&env, &api);
    let plugin = plugin_dir();
    let out = home.run(
        &[
            "-p",
            "--output-format",
            "json",
            "--plugin-dir",
            &plugin.to_string_lossy(),
            "Delegate the slow job to Codex and tell me what it says.",
        ],
        Duration::from_secs(180),
    );
    assert!(
        out.status.success(),
        "{}\n{}",
        stderr(&out),
        env.daemon_log()
    );
    let result = result_text(&out.stdout);
    assert!(
        result["result"]
            .as_str()
            .is_some_and(|r| r.contains("SLOW-RESULT-42")),
        "the final answer carries Codex's result: {result}"
    );

    let conversation = api.conversation();
    let called: Vec<String> = conversation
        .iter()
        .flat_map(|r| r.tool_results())
        .map(|r| r.name)
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    for name in ["codex_start", "codex_wait", "codex_result"] {
        assert!(called.contains(&tool(name)), "{name} called: {called:?}");
    }
    // The Stop hook blocked the first end of turn, naming the task and what to do.
    let blocked = conversation
        .iter()
        .find(|r| r.last_user_text().contains("still running"))
        .unwrap_or_else(|| panic!("a Stop hook block reached the model"));
    let reason = blocked.last_user_text();
    assert!(reason.contains("codex_wait"), "{reason}");
    assert!(reason.contains("codex_result"), "{reason}");

    // The task carries the session Claude Code ran it from, and was read.
    let session = conversation[0]
        .header("x-claude-code-session-id")
        .expect("session header")
        .to_string();
    let list = env.ctl(&["list", "--json", "--session", &session]);
    let page: Value = serde_json::from_slice(&list.stdout).expect("list JSON");
    let tasks = page["tasks"].as_array().expect("tasks");
    assert_eq!(tasks.len(), 1, "one task of this session: {page}");
    let task = &tasks[0];
    assert_eq!(task["state"], "succeeded");
    assert_eq!(task["session_id"], session.as_str());
    assert!(
        task["result_read_at"].is_string(),
        "the result was read: {task}"
    );
    let seconds = task_seconds(task);
    assert!(
        seconds >= 29.0,
        "a 30-s task, well past -p's 5 s grace: {seconds}"
    );
}

/// The task id of the conversation's last successful `codex_start`, if any.
fn started_task_id(request: &Request) -> Option<String> {
    request
        .tool_results()
        .into_iter()
        .rfind(|r| r.name.ends_with("__codex_start") && !r.is_error)
        .and_then(|r| r.json())
        .and_then(|v| v["task_id"].as_str().map(str::to_string))
}

/// `codexctl start PROMPT` on the mock provider as if from Claude Code session `session`
/// (`CLAUDE_CODE_SESSION_ID`), or from a plain shell; the task id.
fn start_in_session(env: &TestEnv, prompt: &str, session: Option<&str>) -> String {
    let mut cmd = env.codexctl();
    cmd.args(env.start_args()).arg(prompt);
    match session {
        Some(s) => cmd.env("CLAUDE_CODE_SESSION_ID", s),
        None => cmd.env_remove("CLAUDE_CODE_SESSION_ID"),
    };
    let out = output(&mut cmd);
    assert!(out.status.success(), "{}", stderr(&out));
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn task_seconds(task: &Value) -> f64 {
    let at = |key: &str| {
        task[key]
            .as_str()
            .and_then(|s| humantime::parse_rfc3339(s).ok())
    };
    match (at("started_at"), at("finished_at")) {
        (Some(a), Some(b)) => b.duration_since(a).map(|d| d.as_secs_f64()).unwrap_or(0.0),
        _ => 0.0,
    }
}

#[test]
fn session_start_and_prompt_hooks_name_unread_tasks_and_stop_has_them_read() {
    let server = MockModelServer::start_blocking(vec![
        Scenario::new("[mine]", vec![Step::message("mine is done")]),
        Scenario::new("[other]", vec![Step::message("other is done")]),
    ])
    .expect("model server");
    let mut env = TestEnv::new(server).expect("test env");
    env.start_daemon(&[]).unwrap();
    let session = "0b9c3c2e-6a4f-4f57-9d3e-2a1c5e7f8a90";
    let mine = start_in_session(&env, "[mine] a task of the session", Some(session));
    let other = start_in_session(&env, "[other] a task from a shell", None);
    assert_eq!(env.wait(&[&mine, &other]).0, 0);

    let mine_for_model = mine.clone();
    let api = AnthropicServer::start(move |request: &Request| {
        if !request.is_conversation() {
            return Turn::text("title");
        }
        match request.last_tool_result() {
            Some(result) if result.name.ends_with("__codex_result") => {
                Turn::text("Read it: all good.")
            }
            _ if request.last_user_text().contains("result unread") => Turn::tool(
                tool("codex_result"),
                json!({"task_id": mine_for_model.clone()}),
            ),
            _ => Turn::text("Nothing to do."),
        }
    })
    .unwrap();
    let home = home_for(&env, &api);
    let out = headless_with_plugin(&env, &home, session, "What is new?");
    let conversation = api.conversation();
    let first = conversation.first().expect("a request");
    assert_eq!(first.header("x-claude-code-session-id"), Some(session));
    let body = first.body_text();
    // SessionStart: this project's unread tasks, whichever session started them.
    assert!(
        body.contains("codexd: Codex tasks in this project: 0 running or queued, 2 finished"),
        "{body}"
    );
    assert!(body.contains(&mine) && body.contains(&other));
    // UserPromptSubmit: only this session's. Claude Code puts it in the system-role message
    // after the prompt: "UserPromptSubmit hook additional context: ...".
    let context: Vec<String> = first
        .messages()
        .iter()
        .filter(|m| m["role"] == "system")
        .filter_map(|m| m["content"].as_str().map(str::to_string))
        .collect();
    let line = context
        .iter()
        .flat_map(|c| c.lines())
        .find(|l| l.contains("finished since the last prompt"))
        .unwrap_or_else(|| panic!("UserPromptSubmit context: {context:?}"));
    assert!(
        line.starts_with("UserPromptSubmit hook additional context: codexd:"),
        "{line}"
    );
    assert!(line.contains(&format!("{mine} succeeded")), "{line}");
    assert!(!line.contains(&other), "{line}");

    // The Stop hook did not let the session end with its task unread; the model read it.
    assert!(
        conversation.iter().any(|r| r
            .last_user_text()
            .contains("Codex tasks finished with the result unread")),
        "the stop was blocked"
    );
    assert_eq!(result_text(&out.stdout)["result"], "Read it: all good.");
    assert!(env.show(&mine)["result_read_at"].is_string());
    assert_eq!(
        env.show(&other)["result_read_at"],
        Value::Null,
        "another session's task is left alone"
    );
    let announced = std::fs::read_to_string(
        env.socket
            .parent()
            .unwrap()
            .join("hooks")
            .join(format!("{session}.json")),
    )
    .expect("the per-session hook file");
    assert!(announced.contains(&mine), "{announced}");
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(
            env.socket
                .parent()
                .unwrap()
                .join(format!("hooks/{session}.json")),
        )
        .unwrap()
        .permissions(),
    );
    assert_eq!(mode & 0o777, 0o600);
}

/// A tmux server of its own (its own socket), killed on drop.
struct Tmux {
    socket: std::path::PathBuf,
}

impl Tmux {
    fn cmd(&self) -> Command {
        let mut cmd = Command::new("tmux");
        cmd.arg("-S").arg(&self.socket);
        cmd
    }

    fn pane(&self) -> String {
        let out = output(self.cmd().args(["capture-pane", "-p", "-t", "cc"]));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.cmd().arg("kill-server").output();
    }
}

#[test]
fn an_interactive_session_is_told_when_its_task_ends_without_user_input() {
    if Command::new("tmux").arg("-V").output().is_err() {
        panic!("tmux is needed (apt-get install tmux; .ci/run installs it)");
    }
    let server = MockModelServer::start_blocking(vec![Scenario::new(
        "[bg]",
        vec![
            Step::shell("sleep 3; echo bg-done"),
            Step::message("BG-RESULT-7: done in the background"),
        ],
    )])
    .expect("model server");
    let mut env = TestEnv::new(server).expect("test env");
    env.start_daemon(&[]).unwrap();
    let codex_url = env.server.base_url();
    let cwd = env.work.to_string_lossy().into_owned();
    let api = AnthropicServer::start(move |request: &Request| {
        if !request.is_conversation() {
            return Turn::text("Delegation");
        }
        let started = started_task_id(request);
        let last = request.last_user_text();
        let start_failed = request
            .last_tool_result()
            .is_some_and(|r| r.is_error && r.name.ends_with("__codex_start"));
        if start_failed {
            // Interactive Claude Code connects MCP servers in the background: its first
            // request may come before the plugin's tools exist ("No such tool available").
            std::thread::sleep(Duration::from_millis(250));
        }
        match (
            request.last_tool_result().filter(|_| !start_failed),
            started,
        ) {
            (None, None) => Turn::tool(
                tool("codex_start"),
                json!({"prompt": "[bg] the background job", "cwd": cwd,
                       "sandbox": "workspace-write", "model": MOCK_MODEL,
                       "config": mock_config_overrides(&codex_url)}),
            ),
            // The reply's own `wait_command`, as the tool's `next` says to run it.
            (Some(r), Some(id)) if r.name.ends_with("__codex_start") => Turn::tool(
                "Bash",
                json!({"command": r.json().and_then(|v| v["wait_command"].as_str().map(str::to_string))
                           .unwrap_or_else(|| format!("codexctl wait {id}")),
                       "run_in_background": true,
                       "description": "Wait for the Codex task"}),
            ),
            (Some(r), _) if r.name == "Bash" => Turn::text("Codex runs; I will be told."),
            (None, Some(id)) if last.contains("task-notification") => {
                Turn::tool(tool("codex_result"), json!({"task_id": id}))
            }
            (Some(r), _) if r.name.ends_with("__codex_result") => {
                let answer = if r.text.contains("BG-RESULT-7") {
                    "BG-RESULT-7"
                } else {
                    "no result"
                };
                Turn::text(format!("INTERACTIVE-DONE {answer}"))
            }
            _ => Turn::text("Noted."),
        }
    })
    .unwrap();
    // What the README tells a user to allow, nothing more: a permission dialog would stop
    // the scripted session, and the notice would never come.
    let allow = documented_permissions();
    let allow: Vec<&str> = allow.iter().map(String::as_str).collect();
    let mut home = ClaudeHome::new(&env.work, &api.base_url(), &allow).unwrap();
    home.env = vec![
        ("CODEXD_SOCKET".into(), env.socket.to_string_lossy().into()),
        ("CODEX_HOME".into(), env.codex_home.to_string_lossy().into()),
    ];
    let tmux = Tmux {
        socket: env.root.path().join("tmux.sock"),
    };
    // The tmux server starts with claude's environment.
    let claude = home.command();
    let mut start = tmux.cmd();
    start
        .args([
            "new-session",
            "-d",
            "-s",
            "cc",
            "-x",
            "160",
            "-y",
            "50",
            "-c",
        ])
        .arg(&env.work)
        .env_clear()
        .envs(claude.get_envs().filter_map(|(k, v)| Some((k, v?))))
        .env("TERM", "xterm-256color")
        .arg(claude.get_program())
        .arg("--plugin-dir")
        .arg(plugin_dir());
    let out = output(&mut start);
    assert!(out.status.success(), "{}", stderr(&out));
    let ready = codexd_tests::daemon::eventually(Duration::from_secs(30), || {
        tmux.pane().contains("? for shortcuts")
    });
    assert!(ready, "claude's prompt shows:\n{}", tmux.pane());
    let send = |keys: &[&str]| {
        let out = output(tmux.cmd().args(["send-keys", "-t", "cc"]).args(keys));
        assert!(out.status.success());
    };
    send(&["-l", "Delegate the background job to Codex."]);
    send(&["Enter"]);

    // No more input: the background wait ends, Claude Code starts a request by itself, the
    // model reads the result.
    let done = codexd_tests::daemon::eventually(Duration::from_secs(60), || {
        tmux.pane().contains("INTERACTIVE-DONE")
    });
    let conversation = api.conversation();
    assert!(
        done,
        "the result was read without input:\n{}\nrequests: {}",
        tmux.pane(),
        conversation.len()
    );
    assert!(tmux.pane().contains("BG-RESULT-7"), "{}", tmux.pane());
    let notified = conversation
        .iter()
        .find(|r| r.last_user_text().contains("<task-notification>"))
        .expect("a task notification request");
    assert!(notified.last_user_text().contains("completed"));
    let session = conversation[0]
        .header("x-claude-code-session-id")
        .unwrap()
        .to_string();
    let page: Value =
        serde_json::from_slice(&env.ctl(&["list", "--json", "--session", &session]).stdout)
            .unwrap();
    assert_eq!(page["tasks"][0]["state"], "succeeded", "{page}");
    assert!(page["tasks"][0]["result_read_at"].is_string(), "{page}");
    // Interactive Stop policy: a background `codexctl wait` runs for the task (the hook sees
    // it in `background_tasks`), so the stop is not blocked at all.
    let reminders = conversation
        .iter()
        .filter(|r| r.last_user_text().contains("Stop hook feedback"))
        .count();
    assert_eq!(reminders, 0, "no reminder while a background wait runs");
}

/// The plugin's slash commands, typed as a user would (`claude -p "/codexd:..."`): each one's
/// `!` line runs codexctl in the session (with its `CLAUDE_CODE_SESSION_ID`) and the model
/// gets the command's text with that output; `/codexd:delegate --wait` then drives the MCP
/// tools to the result.
#[test]
fn the_slash_commands_run_codexctl_in_the_session_and_delegate_end_to_end() {
    let server = MockModelServer::start_blocking(vec![
        Scenario::new("[mine]", vec![Step::message("mine is done")]),
        Scenario::new("[other]", vec![Step::message("other is done")]),
        Scenario::new(
            "[delegated]",
            vec![Step::message("DELEGATED-7: the delegated job is done")],
        ),
    ])
    .expect("model server");
    let mut env = TestEnv::new(server).expect("test env");
    env.start_daemon(&[]).unwrap();
    let session = "5d0f3c1e-2b7a-4c55-8e61-3f9a0b1c2d3e";
    let mine = start_in_session(&env, "[mine] a task of the session", Some(session));
    let other = start_in_session(&env, "[other] a task from a shell", None);
    assert_eq!(env.wait(&[&mine, &other]).0, 0);

    let codex_url = env.server.base_url();
    let cwd = env.work.to_string_lossy().to_string();
    let api = AnthropicServer::start(move |request: &Request| {
        if !request.is_conversation() {
            return Turn::text("title");
        }
        let first_user = request.first_user_message();
        if !first_user.contains("Delegate to Codex through the codexd plugin") {
            return Turn::text("Shown as it is.");
        }
        let started = started_task_id(request);
        match (request.last_tool_result(), started) {
            (None, None) => Turn::tool(
                tool("codex_start"),
                json!({
                    "prompt": "[delegated] do the delegated job",
                    "cwd": cwd,
                    "model": MOCK_MODEL,
                    "config": mock_config_overrides(&codex_url),
                }),
            ),
            (Some(r), Some(id)) if r.name.ends_with("__codex_start") => Turn::tool(
                tool("codex_wait"),
                json!({"task_ids": [id], "timeout_seconds": 50}),
            ),
            (Some(r), Some(id)) if r.name.ends_with("__codex_wait") => {
                if r.json().is_some_and(|v| v["done"] == true) {
                    Turn::tool(tool("codex_result"), json!({"task_id": id}))
                } else {
                    Turn::tool(
                        tool("codex_wait"),
                        json!({"task_ids": [id], "timeout_seconds": 50}),
                    )
                }
            }
            (Some(r), _) if r.name.ends_with("__codex_result") => {
                let answer = r
                    .json()
                    .and_then(|v| v["final_message"].as_str().map(str::to_string))
                    .unwrap_or_else(|| r.text.clone());
                Turn::text(format!("Codex says: {answer}"))
            }
            _ => Turn::text("Nothing more to do."),
        }
    })
    .unwrap();
    let home = home_for(&env, &api);
    let claude = |session: &str, prompt: &str| headless_with_plugin(&env, &home, session, prompt);
    // The text the model got for the command: the first user message of the session.
    let command_text = |session: &str| {
        let conversation = api.conversation();
        let first = conversation
            .iter()
            .find(|r| r.header("x-claude-code-session-id") == Some(session))
            .expect("a request of the session");
        first.first_user_message()
    };

    // /codexd:status: this session's tasks as a table, not the shell's.
    claude(session, "/codexd:status");
    let text = command_text(session);
    assert!(
        text.contains("Codex tasks started from this session"),
        "{text}"
    );
    assert!(
        text.contains(&mine),
        "this session's task is listed: {text}"
    );
    assert!(text.contains("succeeded"), "{text}");
    assert!(
        !text.contains(&other),
        "another session's task is not: {text}"
    );

    // /codexd:setup: doctor's self-check, run for real.
    let setup_session = "6e1a4d2f-3c8b-4d66-9f72-4a0b1c2d3e4f";
    claude(setup_session, "/codexd:setup");
    let text = command_text(setup_session);
    assert!(text.contains("Output of `codexctl doctor`"), "{text}");
    assert!(
        text.contains(&env.socket.to_string_lossy().to_string()),
        "doctor checked this daemon: {text}"
    );

    // /codexd:delegate --wait: the model starts, waits for and reads a task of its session.
    let delegate_session = "7f2b5e3a-4d9c-4e77-8a83-5b1c2d3e4f5a";
    let out = claude(
        delegate_session,
        "/codexd:delegate --wait do the delegated job",
    );
    let text = command_text(delegate_session);
    assert!(
        text.contains("Arguments: `--wait do the delegated job`"),
        "{text}"
    );
    assert!(
        result_text(&out.stdout)["result"]
            .as_str()
            .is_some_and(|r| r.contains("DELEGATED-7")),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let list = env.ctl(&["list", "--json", "--session", delegate_session]);
    let page: Value = serde_json::from_slice(&list.stdout).expect("list JSON");
    let tasks = page["tasks"].as_array().expect("tasks");
    assert_eq!(tasks.len(), 1, "{page}");
    assert_eq!(tasks[0]["state"], "succeeded");
    assert!(tasks[0]["result_read_at"].is_string(), "{page}");
}

/// What codex's review mode expects from the model for one finding (FILE is replaced).
const ONE_FINDING: &str = r#"{"findings":[{"title":"[P1] Division by zero","body":"`b` may be zero.","confidence_score":0.8,"priority":1,"code_location":{"absolute_file_path":"FILE","line_range":{"start":2,"end":2}}}],"overall_correctness":"patch is incorrect","overall_explanation":"It can panic.","overall_confidence_score":0.7}"#;

/// `/codexd:result`, `/codexd:cancel` and `/codexd:review`, typed as a user would: the
/// command's `!` table names the session's task, and the model's tool call on it does what
/// the command says: the result is read (and marked read), the running task is cancelled,
/// a review of the uncommitted change comes back with its findings.
#[test]
fn the_result_cancel_and_review_commands_act_on_the_sessions_tasks() {
    let server = MockModelServer::start_blocking(vec![]).expect("model server");
    let mut env = TestEnv::new(server).expect("test env");
    let file = env.work.join("lib.rs");
    env.server = MockModelServer::start_blocking(vec![
        Scenario::new(
            "[readme]",
            vec![Step::message("RESULT-42: the answer to read")],
        ),
        Scenario::new(
            "[long]",
            vec![Step::shell("sleep 120"), Step::message("too late")],
        ),
        Scenario::new(
            "Review the current code changes",
            vec![Step::message(
                ONE_FINDING.replace("FILE", &file.display().to_string()),
            )],
        ),
    ])
    .expect("model server");
    env.start_daemon(&[]).unwrap();
    codexd_tests::daemon::git(&env.work, &["init", "-q"]);
    codexd_tests::daemon::git(
        &env.work,
        &[
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@t",
            "commit",
            "-q",
            "--allow-empty",
            "-m",
            "init",
        ],
    );
    std::fs::write(&file, "fn div(a: i32, b: i32) -> i32 {\n    a / b\n}\n").unwrap();

    let result_session = "8a3c6f4b-5e0d-4f88-9b94-6c2d3e4f5a6b";
    let cancel_session = "9b4d7a5c-6f1e-4a99-8ca5-7d3e4f5a6b7c";
    let review_session = "ac5e8b6d-7a2f-4baa-9db6-8e4f5a6b7c8d";
    let readme = start_in_session(&env, "[readme] answer", Some(result_session));
    assert_eq!(env.wait(&[&readme]).0, 0, "{}", env.daemon_log());
    let long = start_in_session(&env, "[long] take your time", Some(cancel_session));

    let codex_url = env.server.base_url();
    let cwd = env.work.to_string_lossy().to_string();
    let (read_id, long_id) = (readme.clone(), long.clone());
    let api = AnthropicServer::start(move |request: &Request| {
        if !request.is_conversation() {
            return Turn::text("title");
        }
        let command = request.first_user_message();
        let first_call = request.tool_results().is_empty();
        let last = request.last_tool_result();
        let answered = |suffix: &str| last.as_ref().is_some_and(|r| r.name.ends_with(suffix));
        // A tool's successful reply anywhere in the conversation: the turns after it (the
        // answer, and the one after a Stop hook's reminder) report it again.
        let replied = |suffix: &str| {
            request
                .tool_results()
                .into_iter()
                .rfind(|r| r.name.ends_with(suffix) && !r.is_error)
                .map(|r| r.text)
        };
        if command.contains("finished Codex tasks whose result is unread") {
            if first_call && command.contains(&read_id) {
                return Turn::tool(tool("codex_result"), json!({ "task_id": read_id }));
            }
            return match replied("__codex_result") {
                Some(text) => Turn::text(format!("Read: {text}")),
                None => Turn::text("No unread result."),
            };
        }
        if command.contains("queued and running Codex tasks") {
            if first_call && command.contains(&long_id) {
                return Turn::tool(tool("codex_cancel"), json!({ "task_id": long_id }));
            }
            return match replied("__codex_cancel") {
                Some(_) => Turn::text("CANCELLED-OK"),
                None => Turn::text("Nothing is running."),
            };
        }
        if command.contains("Start a Codex review through the codexd plugin") {
            let review = request
                .tool_results()
                .into_iter()
                .rfind(|r| r.name.ends_with("__codex_review") && !r.is_error)
                .and_then(|r| r.json())
                .and_then(|v| v["task_id"].as_str().map(str::to_string));
            let wait = |id: &str| {
                Turn::tool(
                    tool("codex_wait"),
                    json!({"task_ids": [id], "timeout_seconds": 50}),
                )
            };
            return match (first_call, review) {
                (true, _) => Turn::tool(
                    tool("codex_review"),
                    json!({
                        "target": "uncommitted",
                        "cwd": cwd,
                        "model": MOCK_MODEL,
                        "config": mock_config_overrides(&codex_url),
                    }),
                ),
                (false, Some(id)) if answered("__codex_review") => wait(&id),
                (false, Some(id)) if answered("__codex_wait") => {
                    let done = last
                        .as_ref()
                        .and_then(|r| r.json())
                        .is_some_and(|v| v["done"] == true);
                    if done {
                        Turn::tool(tool("codex_result"), json!({ "task_id": id }))
                    } else {
                        wait(&id)
                    }
                }
                _ => match replied("__codex_result") {
                    Some(text) => Turn::text(format!("Findings: {text}")),
                    None => Turn::text("No review result."),
                },
            };
        }
        Turn::text("Shown as it is.")
    })
    .unwrap();
    let home = home_for(&env, &api);
    let claude = |session: &str, prompt: &str| -> String {
        let out = headless_with_plugin(&env, &home, session, prompt);
        result_text(&out.stdout)["result"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    };

    // /codexd:result: the session's unread task, read through codex_result, marked read.
    assert!(env.show(&readme)["result_read_at"].is_null());
    let answer = claude(result_session, "/codexd:result");
    assert!(answer.contains("RESULT-42"), "{answer}");
    assert!(
        env.show(&readme)["result_read_at"].is_string(),
        "{}",
        env.show(&readme)
    );

    // /codexd:cancel: the session's only running task is cancelled.
    let answer = claude(cancel_session, "/codexd:cancel");
    assert!(answer.contains("CANCELLED-OK"), "{answer}");
    assert_eq!(env.wait(&[&long]).0, 1, "a cancelled task is not a success");
    assert_eq!(env.show(&long)["state"], "cancelled");

    // /codexd:review: a review task of this session, its findings back as data.
    let answer = claude(review_session, "/codexd:review");
    assert!(answer.contains("Division by zero"), "{answer}");
    let list = env.ctl(&["list", "--json", "--session", review_session]);
    let page: Value = serde_json::from_slice(&list.stdout).expect("list JSON");
    let tasks = page["tasks"].as_array().expect("tasks");
    assert_eq!(tasks.len(), 1, "{page}");
    assert_eq!(tasks[0]["kind"], "review");
    assert_eq!(tasks[0]["state"], "succeeded");
    assert!(tasks[0]["result_read_at"].is_string(), "{page}");
    let result = env.ctl(&[
        "result",
        "--json",
        tasks[0]["id"].as_str().unwrap_or_default(),
    ]);
    let result: Value = serde_json::from_slice(&result.stdout).expect("result JSON");
    assert_eq!(result["review"]["findings"][0]["line_start"], 2, "{result}");
}
