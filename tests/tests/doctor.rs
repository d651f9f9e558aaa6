//! `codexctl doctor` (each check's ok and fail path, against a real daemon and the real
//! Codex CLI) and `codexctl statusline` (its counts follow a session's task, and it stays
//! quiet without a daemon).

use codexd_tests::codex_cli::codex_bin;
use codexd_tests::daemon::{TestEnv, eventually, output};
use codexd_tests::model_server::{MockModelServer, Scenario, Step};
use serde_json::Value;
use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

/// A test environment whose `HOME` is its own (so no developer's Claude Code settings or
/// service files are read).
fn env_with(scenarios: Vec<Scenario>) -> TestEnv {
    let server = MockModelServer::start_blocking(scenarios).expect("model server");
    let env = TestEnv::new(server).expect("test env");
    std::fs::create_dir_all(env.root.path().join("home")).unwrap();
    env
}

/// `codexctl doctor --json` in `env` with extra environment; (exit code, checks by name).
fn doctor(env: &TestEnv, vars: &[(&str, &str)]) -> (Option<i32>, Vec<Value>) {
    let mut cmd = env.codexctl();
    cmd.args(["doctor", "--json"])
        .env("HOME", env.root.path().join("home"))
        .env_remove("XDG_CONFIG_HOME")
        .env_remove("CLAUDE_CONFIG_DIR")
        .envs(vars.iter().copied());
    let out = output(&mut cmd);
    let checks: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "doctor --json: {e}: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.code(), checks)
}

/// The status of the check named `name`.
fn status<'a>(checks: &'a [Value], name: &str) -> &'a str {
    field(checks, name, "status")
}

/// A text field (`status`, `detail`, `fix`) of the check named `name`.
fn field<'a>(checks: &'a [Value], name: &str, key: &str) -> &'a str {
    checks
        .iter()
        .find(|c| c["check"] == name)
        .and_then(|c| c[key].as_str())
        .unwrap_or_else(|| panic!("no {key} of check {name}: {checks:?}"))
}

/// Logs the codex CLI in to `codex_home` with a (fake) API key, as `codex login` would.
fn log_in(codex_home: &std::path::Path) {
    let mut child = Command::new(codex_bin().unwrap())
        .args(["login", "--with-api-key"])
        .env("CODEX_HOME", codex_home)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("codex login");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"sk-test-0000000000doctor\n")
        .unwrap();
    assert!(child.wait().unwrap().success());
}

#[test]
fn doctor_reports_each_check_ok_and_says_how_to_fix_what_fails() {
    let mut env = env_with(vec![]);
    env.start_daemon(&[]).unwrap();

    // Not logged in: the likeliest reason a first task hangs is a failure, exit 1.
    let (code, checks) = doctor(&env, &[]);
    assert_eq!(status(&checks, "codex"), "ok", "{checks:?}");
    assert_eq!(status(&checks, "codex login"), "fail", "{checks:?}");
    let login = checks.iter().find(|c| c["check"] == "codex login").unwrap();
    assert!(
        login["fix"].as_str().unwrap().contains("codex login"),
        "{login}"
    );
    assert_eq!(code, Some(1));

    // Logged in, daemon up, private modes: no failure, exit 0. The service and Claude Code
    // are not set up in this home: warnings with their fix.
    log_in(&env.codex_home);
    let (code, checks) = doctor(&env, &[]);
    assert_eq!(status(&checks, "codex login"), "ok", "{checks:?}");
    assert_eq!(status(&checks, "daemon"), "ok", "{checks:?}");
    assert_eq!(status(&checks, "permissions"), "ok", "{checks:?}");
    assert_eq!(status(&checks, "service"), "warn", "{checks:?}");
    assert_eq!(status(&checks, "claude code"), "warn", "{checks:?}");
    assert_eq!(code, Some(0), "{checks:?}");
    let codex = checks.iter().find(|c| c["check"] == "codex").unwrap();
    assert!(
        codex["detail"].as_str().unwrap().contains("0.169.0"),
        "the version: {codex}"
    );

    // A server registered with `claude mcp add` is recognised, as is the service written
    // by `daemon install`.
    std::fs::write(
        env.root.path().join("home/.claude.json"),
        r#"{"mcpServers": {"codex": {"type": "stdio", "command": "codexd-mcp", "args": []}}}"#,
    )
    .unwrap();
    let mut install = env.codexctl();
    install
        .args(["daemon", "install", "--no-start", "--manager", "systemd"])
        .env("HOME", env.root.path().join("home"))
        .env_remove("XDG_CONFIG_HOME");
    let out = output(&mut install);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (code, checks) = doctor(&env, &[]);
    for (name, detail) in [("claude code", "registered"), ("service", "codexd.service")] {
        assert_eq!(status(&checks, name), "ok", "{checks:?}");
        assert!(
            field(&checks, name, "detail").contains(detail),
            "{checks:?}"
        );
    }
    assert_eq!(code, Some(0));

    // A socket directory others can enter is a failure naming it.
    let socket_dir = env.socket.parent().unwrap().to_path_buf();
    let mode = std::fs::metadata(&socket_dir).unwrap().permissions();
    std::fs::set_permissions(&socket_dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let (code, checks) = doctor(&env, &[]);
    std::fs::set_permissions(&socket_dir, mode).unwrap();
    assert_eq!(status(&checks, "permissions"), "fail", "{checks:?}");
    let detail = field(&checks, "permissions", "detail");
    assert!(
        detail.contains(&format!("{} is 755", socket_dir.display())),
        "{detail}"
    );
    assert_eq!(code, Some(1));

    // A plugin install is recognised.
    let plugins = env.root.path().join("home/.claude/plugins");
    std::fs::create_dir_all(&plugins).unwrap();
    std::fs::write(
        plugins.join("installed_plugins.json"),
        r#"{"plugins": {"codexd@codexd": [{"scope": "user"}]}}"#,
    )
    .unwrap();
    let (_, checks) = doctor(&env, &[]);
    assert_eq!(status(&checks, "claude code"), "ok", "{checks:?}");

    // A state directory others can read is a failure naming it.
    std::fs::set_permissions(&env.state_dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let (code, checks) = doctor(&env, &[]);
    assert_eq!(status(&checks, "permissions"), "fail", "{checks:?}");
    assert_eq!(code, Some(1));
    std::fs::set_permissions(&env.state_dir, std::fs::Permissions::from_mode(0o700)).unwrap();

    // Daemon down and no codex where it is looked for: the daemon is only a warning (it is
    // started on demand), the missing codex a failure with the install line.
    env.stop_daemon().unwrap();
    let (code, checks) = doctor(&env, &[("CODEXD_CODEX_BIN", "/nonexistent/codex")]);
    assert_eq!(status(&checks, "daemon"), "warn", "{checks:?}");
    assert_eq!(status(&checks, "codex"), "fail", "{checks:?}");
    let fix = field(&checks, "codex", "fix");
    assert!(fix.contains("npm install -g @openai/codex"), "{fix}");
    assert_eq!(code, Some(1));
    assert!(
        std::os::unix::net::UnixStream::connect(&env.socket).is_err(),
        "doctor never starts a daemon"
    );
    let mut human = env.codexctl();
    human
        .arg("doctor")
        .env("HOME", env.root.path().join("home"))
        .env("CODEXD_CODEX_BIN", "/nonexistent/codex");
    let text = String::from_utf8_lossy(&output(&mut human).stdout).into_owned();
    assert!(
        text.lines().any(|l| l.starts_with("FAIL  codex:")) && text.contains("fix: install it"),
        "{text}"
    );
}

/// `codexctl statusline` with `stdin` as its input.
fn statusline(env: &TestEnv, stdin: &str) -> Output {
    let mut child = env
        .codexctl()
        .arg("statusline")
        .env_remove("CLAUDE_CODE_SESSION_ID")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("statusline");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

#[test]
fn the_status_line_follows_a_sessions_task_and_is_quiet_without_a_daemon() {
    let mut env = env_with(vec![Scenario::new(
        "[status]",
        vec![Step::shell("sleep 3"), Step::message("done")],
    )]);
    let input = r#"{"session_id": "sl-session-1", "cwd": "/", "workspace": {"project_dir": "/"}}"#;

    // No daemon: nothing printed, exit 0, and none started.
    let out = statusline(&env, input);
    assert!(out.status.success());
    assert!(out.stdout.is_empty() && out.stderr.is_empty(), "{out:?}");
    assert!(!env.socket.exists(), "statusline never starts a daemon");

    env.start_daemon(&[]).unwrap();
    let mut start = env.codexctl();
    start
        .args(env.start_args())
        .arg("[status] run it")
        .env("CLAUDE_CODE_SESSION_ID", "sl-session-1");
    let id = String::from_utf8_lossy(&output(&mut start).stdout)
        .trim()
        .to_string();
    assert!(
        eventually(Duration::from_secs(30), || {
            String::from_utf8_lossy(&statusline(&env, input).stdout).trim() == "codex ▶1"
        }),
        "running: {:?}",
        String::from_utf8_lossy(&statusline(&env, input).stdout)
    );
    // Another session's line does not count it.
    let other = statusline(&env, r#"{"session_id": "someone-else"}"#);
    assert!(other.stdout.is_empty(), "{other:?}");

    assert_eq!(env.wait(&[&id]).0, 0);
    assert_eq!(
        String::from_utf8_lossy(&statusline(&env, input).stdout).trim(),
        "codex ✓1 unread"
    );
    // A stdin that is never closed (a status-line script that pipes nothing) does not hold
    // the line up: the flags name the scope, and the input is given up on.
    let mut held = env
        .codexctl()
        .args(["statusline", "--session", "sl-session-1"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("statusline");
    let _open_stdin = held.stdin.take();
    assert!(
        eventually(Duration::from_secs(10), || matches!(
            held.try_wait(),
            Ok(Some(_))
        )),
        "statusline returned although its stdin stayed open"
    );
    let mut line = String::new();
    held.stdout
        .take()
        .unwrap()
        .read_to_string(&mut line)
        .unwrap();
    assert_eq!(line.trim(), "codex ✓1 unread");
    assert!(env.ctl(&["result", &id]).status.success());
    assert!(
        statusline(&env, input).stdout.is_empty(),
        "read: nothing to show"
    );
}

/// A daemon of another build answering on the socket (a stand-in that replies to
/// `codexd_version` as such a daemon would) is a warning that says how to restart it.
#[test]
fn a_daemon_of_another_version_is_a_warning_with_the_restart_line() {
    use std::io::BufRead;
    let env = env_with(vec![]);
    let dir = env.socket.parent().unwrap();
    std::fs::create_dir_all(dir).unwrap();
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).unwrap();
    let listener = std::os::unix::net::UnixListener::bind(&env.socket).unwrap();
    let info = serde_json::json!({
        "version": "0.0.1",
        "pid": std::process::id(),
        "socket": env.socket,
        "state_dir": env.state_dir,
        "codex_bin": "codex",
        "max_running": 4,
        "running": 0,
        "queued": 0,
        "started_at": "2026-12-04T00:00:00.000Z",
    });
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let Ok(reader) = stream.try_clone() else {
                continue;
            };
            let mut writer = stream;
            for line in std::io::BufReader::new(reader)
                .lines()
                .map_while(Result::ok)
            {
                let Ok(request) = serde_json::from_str::<Value>(&line) else {
                    continue;
                };
                let reply = if request["method"] == "codexd_version" {
                    serde_json::json!({"jsonrpc": "2.0", "id": request["id"], "result": info})
                } else {
                    serde_json::json!({"jsonrpc": "2.0", "id": request["id"],
                        "error": {"code": -32601, "message": "not in this stand-in"}})
                };
                if writeln!(writer, "{reply}").is_err() {
                    break;
                }
            }
        }
    });
    let (_, checks) = doctor(&env, &[]);
    assert_eq!(status(&checks, "daemon"), "warn", "{checks:?}");
    let detail = field(&checks, "daemon", "detail");
    assert!(
        detail.contains(&format!(
            "codexd 0.0.1 answers, but this codexctl is {}",
            env!("CARGO_PKG_VERSION")
        )),
        "{detail}"
    );
    let fix = field(&checks, "daemon", "fix");
    assert!(fix.contains("codexctl daemon stop"), "{fix}");
}
