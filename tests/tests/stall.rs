//! The stall policy end to end: the real Codex CLI against a model server that stops
//! answering mid-turn, or where nothing listens. Codex then only prints its reconnect
//! notices; the task shows that it is reconnecting, and after its stall limit it ends
//! `timed_out`, with an error saying it stalled and what codex last said. The runner
//! enforces the limit itself, so this holds while no daemon is up.

use codexd_tests::codex_cli::retrying_provider_overrides;
use codexd_tests::daemon::{TestEnv, eventually, task_processes};
use codexd_tests::model_server::{MockModelServer, Scenario, Step, refusing_base_url};
use serde_json::Value;
use std::time::Duration;

/// A daemon whose model server stops answering mid-turn for prompts tagged `[stall]`.
fn hanging_env() -> TestEnv {
    let server = MockModelServer::start_blocking(vec![Scenario::new(
        "[stall]",
        vec![Step::HangMidStream(vec![])],
    )])
    .expect("model server");
    let mut env = TestEnv::new(server).expect("test env");
    env.start_daemon(&[]).unwrap();
    env
}

/// The `codexctl start` flags of a task with a `stall` limit on a retrying provider at
/// `base_url` (codex's stream idle timeout: 1 s).
fn stalling_flags(base_url: &str, stall: &str) -> Vec<String> {
    let mut flags = vec!["--stall-timeout".to_string(), stall.to_string()];
    for kv in retrying_provider_overrides(base_url, 1000) {
        flags.push("-c".into());
        flags.push(kv);
    }
    flags
}

/// Starts a task and returns its id.
fn start(env: &TestEnv, prompt: &str, flags: &[String]) -> String {
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    env.start_task(prompt, &flags)
}

/// True while the task is queued or running.
fn is_live(task: &Value) -> bool {
    matches!(task["state"].as_str(), Some("queued" | "running"))
}

/// Polls the task until it shows codex reconnecting; returns that `reconnecting` object.
fn reconnecting_seen(env: &TestEnv, id: &str) -> Option<Value> {
    let mut seen = None;
    eventually(Duration::from_secs(30), || {
        let task = env.show(id);
        if !task["reconnecting"].is_null() {
            seen = Some(task["reconnecting"].clone());
        }
        seen.is_some() || !is_live(&task)
    });
    seen
}

/// Checks that the task ended `timed_out` because it stalled, naming codex's error.
fn assert_stalled(env: &TestEnv, id: &str) -> Value {
    let ended = eventually(Duration::from_secs(60), || !is_live(&env.show(id)));
    assert!(ended, "the stalled run did not end:\n{}", env.daemon_log());
    let task = env.show(id);
    assert_eq!(task["state"], "timed_out", "{task}\n{}", env.daemon_log());
    let error = task["error"].as_str().unwrap_or_default();
    assert!(error.contains("stalled"), "{error}");
    assert!(error.contains("for 4s"), "names the limit: {error}");
    assert!(
        error.contains("Reconnecting"),
        "codex's last error: {error}"
    );
    assert_eq!(task["stall_timeout_ms"], 4000);
    assert!(task["reconnecting"].is_null(), "cleared once ended: {task}");
    assert_eq!(
        task_processes(id),
        Vec::<u32>::new(),
        "nothing of it is left"
    );
    task
}

#[test]
fn a_server_that_stops_answering_mid_turn_stalls_the_task_after_its_limit() {
    let env = hanging_env();
    let id = start(
        &env,
        "[stall] say something",
        &stalling_flags(&env.server.base_url(), "4s"),
    );
    let reconnecting = reconnecting_seen(&env, &id).unwrap_or_else(|| {
        panic!(
            "no reconnecting state: {}\n{:?}",
            env.show(&id),
            env.events(&id)
        )
    });
    assert!(
        reconnecting["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("Reconnecting")),
        "{reconnecting}"
    );
    assert!(reconnecting["count"].as_u64() >= Some(1), "{reconnecting}");
    assert!(reconnecting["since"].is_string(), "{reconnecting}");
    // The human view says so too.
    let out = env.ctl(&["show", &id]);
    let text = String::from_utf8_lossy(&out.stdout);
    if env.show(&id)["state"] == "running" {
        assert!(text.contains("Codex is reconnecting"), "{text}");
    }
    assert_stalled(&env, &id);
}

#[test]
fn a_refusing_server_stalls_the_task_after_its_limit() {
    let env = hanging_env();
    let url = refusing_base_url().unwrap();
    let id = start(&env, "[refused] say something", &stalling_flags(&url, "4s"));
    let reconnecting = reconnecting_seen(&env, &id)
        .unwrap_or_else(|| panic!("no reconnecting: {}\n{:?}", env.show(&id), env.events(&id)));
    assert!(
        reconnecting["message"]
            .as_str()
            .is_some_and(|m| m.contains("waiting for network")),
        "{reconnecting}"
    );
    assert_stalled(&env, &id);
}

#[test]
fn the_runner_stops_a_stalled_run_while_no_daemon_is_up() {
    let mut env = hanging_env();
    let id = start(
        &env,
        "[stall] say something",
        &stalling_flags(&env.server.base_url(), "4s"),
    );
    assert!(reconnecting_seen(&env, &id).is_some(), "{}", env.show(&id));
    // A crash: the daemon is gone, the run goes on under its runner.
    env.kill_daemon().unwrap();
    let dir = env.task_dir(&id);
    let stopped = eventually(Duration::from_secs(60), || {
        dir.join("exit.json").exists() && dir.join("stop.json").exists()
    });
    assert!(stopped, "the runner did not stop the run on its own");
    let stop: Value =
        serde_json::from_slice(&std::fs::read(dir.join("stop.json")).unwrap()).unwrap();
    assert_eq!(stop["reason"], "timed_out", "{stop}");
    assert!(
        stop["detail"].as_str().unwrap_or("").contains("stalled"),
        "{stop}"
    );
    env.start_daemon(&[]).unwrap();
    assert_stalled(&env, &id);
}

#[test]
fn a_stall_limit_of_zero_is_none_and_bad_limits_are_refused() {
    let env = hanging_env();
    let mut flags = stalling_flags(&env.server.base_url(), "0");
    flags.extend(["--timeout".into(), "0".into()]);
    let id = start(&env, "[stall] never mind", &flags);
    let task = env.show(&id);
    assert!(task["stall_timeout_ms"].is_null(), "{task}");
    assert!(task["timeout_ms"].is_null(), "{task}");
    env.ctl(&["cancel", &id]);
    // Defaults: 2h wall clock, 15m stall.
    let id = env.start_task("[stall] defaults", &[]);
    let task = env.show(&id);
    assert_eq!(task["timeout_ms"], 2 * 3600 * 1000, "{task}");
    assert_eq!(task["stall_timeout_ms"], 15 * 60 * 1000, "{task}");
    env.ctl(&["cancel", &id]);
    let bad = env.ctl(&["start", "--stall-timeout", "soon", "x"]);
    assert_eq!(bad.status.code(), Some(2), "a usage error");
    assert!(String::from_utf8_lossy(&bad.stderr).contains("soon"));
}
