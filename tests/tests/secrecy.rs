//! What other local users can see of a task: no prompt, and no `-c` value that may hold a
//! secret, on any command line (issue #14).
//!
//! The real `codexd`, `codexctl` and the pinned Codex CLI against the loopback model
//! server: while a task runs, every process of the task (found by its `CODEXD_TASK_ID`
//! marker) is checked through `/proc/PID/cmdline`, which any local user can read.

use codexd_tests::daemon::{TestEnv, eventually, task_processes, wait_for_gate};
use codexd_tests::model_server::{MockModelServer, Scenario, Step};
use std::time::Duration;

fn env_with(scenarios: Vec<Scenario>) -> TestEnv {
    let server = MockModelServer::start_blocking(scenarios).expect("model server");
    TestEnv::new(server).expect("test env")
}

/// The command lines of the task's live processes, as `ps` would show them.
fn command_lines(task: &str) -> Vec<(u32, String)> {
    task_processes(task)
        .into_iter()
        .filter_map(|pid| {
            let raw = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
            Some((pid, String::from_utf8_lossy(&raw).replace('\0', " ")))
        })
        .collect()
}

/// Waits until the task's log shows a running command (so codex and its runner are up).
fn wait_for_command(env: &TestEnv, id: &str) {
    assert!(
        eventually(Duration::from_secs(60), || {
            std::fs::read_to_string(env.task_dir(id).join("events.jsonl"))
                .map(|log| log.contains("command_execution"))
                .unwrap_or(false)
        }),
        "the run never started its command:\n{}",
        env.daemon_log()
    );
}

#[test]
fn prompts_and_overrides_are_on_no_command_line_yet_reach_the_model() {
    let gate_dir = tempfile::tempdir().unwrap();
    let gate = gate_dir.path().join("open");
    let gate2 = gate_dir.path().join("open2");
    let mut env = env_with(vec![
        Scenario::new(
            "[argv]",
            vec![
                Step::shell(wait_for_gate(&gate, "first")),
                Step::message("first done"),
            ],
        ),
        Scenario::new(
            "[argv-again]",
            vec![
                Step::shell(wait_for_gate(&gate2, "second")),
                Step::message("second done"),
            ],
        ),
    ]);
    env.start_daemon(&[]).unwrap();
    let prompt_secret = "PromptOnlySecret7Qx2Lm9";
    let config_secret = "ConfigOnlySecret4Rt8Wz1";
    let prompt = format!("[argv] {prompt_secret} and a word that looks like --a-flag");
    // The user's own profile: its settings must still apply, and the overrides win over
    // it as `-c` does.
    std::fs::write(
        env.codex_home.join("mine.config.toml"),
        "model_reasoning_effort = \"low\"\n\
         [model_providers.mock.http_headers]\n\
         X-Codexd-Auth = \"from the profile\"\n\
         X-From-Profile = \"kept\"\n",
    )
    .unwrap();
    // A secret in a header of the provider the run uses: the model server must see it.
    let override_kv =
        format!("model_providers.mock.http_headers.X-Codexd-Auth=\"Bearer {config_secret}\"");
    let id = env.start_task(&prompt, &["--profile", "mine", "-c", &override_kv]);
    wait_for_command(&env, &id);
    let lines = command_lines(&id);
    assert!(
        lines.iter().any(|(_, l)| l.contains("run-task")),
        "the runner is found: {lines:?}"
    );
    assert!(
        lines.iter().any(|(_, l)| l.contains("exec")),
        "codex is found: {lines:?}"
    );
    for (pid, line) in &lines {
        assert!(
            !line.contains(prompt_secret),
            "process {pid} shows the prompt: {line}"
        );
        assert!(
            !line.contains(config_secret),
            "process {pid} shows the secret override: {line}"
        );
        if line.contains("run-task") {
            assert!(
                !line.contains("exec"),
                "the runner {pid} shows codex's arguments: {line}"
            );
        }
    }
    // Meanwhile it is in a private per-run profile file in CODEX_HOME, and only there.
    let layer = env.codex_home.join(format!("codexd-run-{id}.config.toml"));
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&layer)
            .unwrap_or_else(|e| panic!("no layer file {}: {e}", layer.display()))
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{}", layer.display());
    }

    std::fs::write(&gate, "").unwrap();
    let (code, summary) = env.wait(&[&id]);
    assert_eq!(code, 0, "{summary}\n{}", env.daemon_log());
    // The override took effect, over the user's profile, whose other settings held.
    let first = env
        .server
        .requests()
        .into_iter()
        .find(|r| r.prompt == prompt)
        .expect("the model saw the prompt");
    assert_eq!(
        first.headers.get("x-codexd-auth").map(String::as_str),
        Some(format!("Bearer {config_secret}").as_str()),
        "{:?}",
        first.headers
    );
    assert_eq!(
        first.headers.get("x-from-profile").map(String::as_str),
        Some("kept")
    );
    assert_eq!(first.body["reasoning"]["effort"], "low", "{}", first.body);
    assert!(!layer.exists(), "the layer file outlived its run");
    assert!(!env.task_dir(&id).join("config-layer.path").exists());
    // The real codex still got the prompt, whole, from its stdin.
    let received: Vec<String> = env
        .server
        .requests()
        .into_iter()
        .map(|r| r.prompt)
        .collect();
    assert!(received.contains(&prompt), "the model saw: {received:?}");

    // A resumed turn (`exec resume ... -- THREAD -`) gets its prompt the same way.
    let follow_up = format!("[argv-again] -{prompt_secret}-resumed");
    let out = env.ctl(&["resume", &id, &follow_up]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let second = String::from_utf8_lossy(&out.stdout).trim().to_string();
    wait_for_command(&env, &second);
    for (pid, line) in command_lines(&second) {
        assert!(
            !line.contains(prompt_secret),
            "process {pid} shows the resumed prompt: {line}"
        );
    }
    std::fs::write(&gate2, "").unwrap();
    let (code, summary) = env.wait(&[&second]);
    assert_eq!(code, 0, "{summary}\n{}", env.daemon_log());
    let task = env.show(&second);
    assert_eq!(task["final_message"], "second done");
    assert_eq!(task["thread_id"], env.show(&id)["thread_id"]);
    assert!(
        env.server.requests().iter().any(|r| r.prompt == follow_up),
        "the model saw the follow-up"
    );
}

#[test]
fn a_run_readopted_after_a_daemon_restart_keeps_its_prompt_pipe() {
    let gate_dir = tempfile::tempdir().unwrap();
    let gate = gate_dir.path().join("open");
    let mut env = env_with(vec![Scenario::new(
        "[readopt]",
        vec![
            Step::shell(wait_for_gate(&gate, "survived")),
            Step::message("still here"),
        ],
    )]);
    env.start_daemon(&[]).unwrap();
    let id = env.start_task("[readopt] go", &[]);
    wait_for_command(&env, &id);
    // The daemon's end of the runner's stdin closes with it: nothing of the run dies.
    env.kill_daemon().unwrap();
    assert!(task_processes(&id).len() >= 2, "runner and codex live on");
    env.start_daemon(&[]).unwrap();
    std::fs::write(&gate, "").unwrap();
    let (code, summary) = env.wait(&[&id]);
    assert_eq!(code, 0, "{summary}\n{}", env.daemon_log());
    assert_eq!(env.show(&id)["final_message"], "still here");
}
