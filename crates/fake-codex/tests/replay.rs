//! The `fake-codex` binary end to end: a replayed script (lines, pauses, stderr, exit code)
//! and the default generated run with its exit stamp.

use std::process::{Command, Stdio};

/// Runs the binary with `env`; returns (exit code, stdout, stderr).
fn run(env: &[(&str, &str)], args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_fake-codex"))
        .args(args)
        .env_clear()
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .output()
        .expect("run fake-codex");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A script is replayed line by line with its pauses, stderr lines and exit code.
#[test]
fn replays_a_script_with_directives() {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("run.jsonl");
    std::fs::write(
        &script,
        "{\"type\":\"thread.started\",\"thread_id\":\"t-1\"}\n# sleep 5\n# stderr warming up\n\
         {\"type\":\"turn.failed\",\"error\":{\"message\":\"boom\"}}\n# exit 1\n",
    )
    .unwrap();
    let (code, stdout, stderr) = run(
        &[("FAKE_CODEX_SCRIPT", script.to_str().unwrap())],
        &["exec", "--json", "-C", "/tmp", "--", "prompt"],
    );
    assert_eq!(code, 1);
    assert_eq!(
        stdout,
        "{\"type\":\"thread.started\",\"thread_id\":\"t-1\"}\n\
         {\"type\":\"turn.failed\",\"error\":{\"message\":\"boom\"}}\n"
    );
    assert_eq!(stderr, "warming up\n");
}

/// With no settings the fake answers in four events, exits 0 and stamps its exit.
#[test]
fn default_run_answers_and_stamps_its_exit() {
    let dir = tempfile::tempdir().unwrap();
    let stamp = dir.path().join("stamp");
    let (code, stdout, _) = run(
        &[("FAKE_CODEX_EXIT_STAMP", stamp.to_str().unwrap())],
        &["exec", "--json", "--", "say hi"],
    );
    assert_eq!(code, 0);
    let types: Vec<String> = stdout
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).expect("JSON line");
            v["type"].as_str().unwrap().to_string()
        })
        .collect();
    assert_eq!(
        types,
        [
            "thread.started",
            "turn.started",
            "item.completed",
            "turn.completed"
        ]
    );
    assert!(stdout.contains("fake-codex: done (say hi)"), "{stdout}");
    let ns: u128 = std::fs::read_to_string(&stamp).unwrap().parse().unwrap();
    assert!(ns > 0);
    // A bad setting is an error (exit 2), not a silent default.
    let (code, _, stderr) = run(&[("FAKE_CODEX_EVENTS", "two")], &[]);
    assert_eq!(code, 2);
    assert!(stderr.contains("FAKE_CODEX_EVENTS"), "{stderr}");
}
