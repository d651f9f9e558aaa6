//! `codexctl wait --no-autostart` across a daemon restart (issue #14, item 13): it keeps
//! reconnecting for a bounded time (30 s) instead of giving up with "connection refused".

use codexd_tests::daemon::{TestEnv, eventually, wait_for_gate};
use codexd_tests::model_server::{MockModelServer, Scenario, Step};
use std::process::Stdio;
use std::time::Duration;

#[test]
fn wait_without_autostart_reconnects_to_a_restarted_daemon() {
    let (_gate_dir, gate, mut env) = gated_env("[restart]");
    let id = env.start_task("[restart] go", &[]);
    wait_until_gated(&env, &id);
    // `codexctl` of the env runs with --no-autostart.
    let waiter = env
        .codexctl()
        .args(["wait", &id])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    env.stop_daemon().unwrap();
    // Down for a few seconds: the waiter sees "connection refused" meanwhile.
    std::thread::sleep(Duration::from_secs(3));
    env.start_daemon(&[]).unwrap();
    std::fs::write(&gate, "").unwrap();
    let out = waiter.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "stdout: {}\nstderr: {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("succeeded"));
}

/// Issue #14, item 12: a `wait` that autostarts after the daemon died must not start one
/// with the defaults when the dead one had its own `--state-dir`/`--codex-bin`: that daemon
/// would not know the task. The autostart is refused naming both settings, `wait` says what
/// happened, and the task is still there for the right daemon.
#[test]
fn autostart_refuses_other_settings_and_wait_says_why() {
    let (_gate_dir, gate, mut env) = gated_env("[settings]");
    let record = env.socket.with_file_name("codexd.sock.json");
    // Written right after the socket is bound, so it may lag the first answer a little.
    assert!(
        eventually(Duration::from_secs(10), || record.exists()),
        "the daemon records its settings beside the socket"
    );
    let recorded: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&record).unwrap()).unwrap();
    assert_eq!(recorded["state_dir"], env.state_dir.display().to_string());
    let id = env.start_task("[settings] go", &[]);
    wait_until_gated(&env, &id);
    // A shell that lacks the daemon's settings: its default state dir is elsewhere.
    let other_state = env.root.path().join("other-state");
    let waiter = std::process::Command::new(codexd_tests::daemon::bin("codexctl"))
        .args(["--socket"])
        .arg(&env.socket)
        .args(["wait", &id])
        .env("XDG_STATE_HOME", &other_state)
        .env("XDG_CONFIG_HOME", env.root.path().join("no-config"))
        .env_remove("CODEXD_STATE_DIR")
        .env_remove("CODEXD_CODEX_BIN")
        .env_remove("CODEXD_CONFIG")
        .env_remove("CODEXD_SOCKET")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    env.kill_daemon().unwrap();
    let out = waiter.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    eprintln!("wait said: {stderr}");
    assert_eq!(out.status.code(), Some(2), "stderr: {stderr}");
    assert!(
        stderr.contains(&format!("the daemon running {id} went away")),
        "{stderr}"
    );
    assert!(
        stderr.contains(&env.state_dir.display().to_string()),
        "{stderr}"
    );
    assert!(
        stderr.contains(&other_state.join("codexd").display().to_string()),
        "{stderr}"
    );
    assert!(
        !other_state.join("codexd").exists(),
        "no daemon took the other state dir"
    );
    // The right daemon, started by hand, still has the task and sees it through.
    env.start_daemon(&[]).unwrap();
    std::fs::write(&gate, "").unwrap();
    let (code, summary) = env.wait(&[&id]);
    assert_eq!(code, 0, "{summary}\n{}", env.daemon_log());
    assert!(summary.contains("succeeded"), "{summary}");
}

/// A started daemon whose model server runs, for prompts starting with `tag`, a command that
/// waits for the gate file (returned with the temp dir holding it) before the task can end.
fn gated_env(tag: &str) -> (tempfile::TempDir, std::path::PathBuf, TestEnv) {
    let dir = tempfile::tempdir().unwrap();
    let gate = dir.path().join("open");
    let server = MockModelServer::start_blocking(vec![Scenario::new(
        tag,
        vec![
            Step::shell(wait_for_gate(&gate, "through")),
            Step::message("made it"),
        ],
    )])
    .unwrap();
    let mut env = TestEnv::new(server).unwrap();
    env.start_daemon(&[]).unwrap();
    (dir, gate, env)
}

/// Waits until task `id` runs its gated command.
fn wait_until_gated(env: &TestEnv, id: &str) {
    assert!(eventually(Duration::from_secs(60), || {
        std::fs::read_to_string(env.task_dir(id).join("events.jsonl"))
            .map(|log| log.contains("command_execution"))
            .unwrap_or(false)
    }));
}
