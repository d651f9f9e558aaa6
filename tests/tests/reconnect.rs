//! `codexctl wait --no-autostart` across a daemon restart (issue #14, item 13): it keeps
//! reconnecting for a bounded time (30 s) instead of giving up with "connection refused".

use codexd_tests::daemon::{TestEnv, eventually, wait_for_gate};
use codexd_tests::model_server::{MockModelServer, Scenario, Step};
use std::process::Stdio;
use std::time::Duration;

#[test]
fn wait_without_autostart_reconnects_to_a_restarted_daemon() {
    let gate = tempfile::tempdir().unwrap();
    let gate = gate.path().join("open");
    let server = MockModelServer::start_blocking(vec![Scenario::new(
        "[restart]",
        vec![
            Step::shell(wait_for_gate(&gate, "through")),
            Step::message("made it"),
        ],
    )])
    .unwrap();
    let mut env = TestEnv::new(server).unwrap();
    env.start_daemon(&[]).unwrap();
    let id = env.start_task("[restart] go", &[]);
    assert!(eventually(Duration::from_secs(60), || {
        std::fs::read_to_string(env.task_dir(&id).join("events.jsonl"))
            .map(|log| log.contains("command_execution"))
            .unwrap_or(false)
    }));
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
