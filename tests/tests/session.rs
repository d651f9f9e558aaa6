//! Session awareness: a task started from a Claude Code session records the session
//! (`CLAUDE_CODE_SESSION_ID`), `list` finds a session's tasks and the unread ones, and the
//! first `result` of an ended task records `result_read_at`, which survives a registry
//! rebuild. Real daemon, real Codex CLI against the loopback model server.

use codexd_tests::daemon::{TestEnv, output};
use codexd_tests::model_server::{MockModelServer, Scenario, Step};
use serde_json::Value;

/// `codexctl list --json` with `args`: the ids listed.
fn listed(env: &TestEnv, args: &[&str]) -> Vec<String> {
    let mut all = vec!["list", "--json"];
    all.extend_from_slice(args);
    let out = env.ctl(&all);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let page: Value = serde_json::from_slice(&out.stdout).expect("list JSON");
    page["tasks"]
        .as_array()
        .expect("tasks")
        .iter()
        .map(|t| t["id"].as_str().unwrap_or_default().to_string())
        .collect()
}

#[test]
fn tasks_carry_their_session_and_when_their_result_was_first_read() {
    let server = MockModelServer::start_blocking(vec![
        Scenario::new("[from-session]", vec![Step::message("done in the session")]),
        Scenario::new("[from-shell]", vec![Step::message("done in a shell")]),
    ])
    .expect("model server");
    let mut env = TestEnv::new(server).expect("test env");
    env.start_daemon(&[]).unwrap();

    // Inside Claude Code, codexctl (run by the Bash tool or a hook) sees the session id.
    let mut start = env.codexctl();
    start
        .args(env.start_args())
        .arg("[from-session] do it")
        .env("CLAUDE_CODE_SESSION_ID", "3f2c9a1e-session");
    let out = output(&mut start);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let in_session = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let mut plain = env.codexctl();
    plain
        .args(env.start_args())
        .arg("[from-shell] do it")
        .env_remove("CLAUDE_CODE_SESSION_ID");
    let out = output(&mut plain);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let outside = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert_eq!(env.wait(&[&in_session, &outside]).0, 0);

    let task = env.show(&in_session);
    assert_eq!(task["session_id"], "3f2c9a1e-session");
    assert_eq!(task["result_read_at"], Value::Null, "not read yet");
    assert_eq!(env.show(&outside)["session_id"], Value::Null);

    assert_eq!(
        listed(&env, &["--session", "3f2c9a1e-session"]),
        vec![in_session.clone()]
    );
    let mut this_session = env.codexctl();
    this_session
        .args(["list", "--json", "--this-session"])
        .env("CLAUDE_CODE_SESSION_ID", "3f2c9a1e-session");
    let page: Value = serde_json::from_slice(&output(&mut this_session).stdout).unwrap();
    assert_eq!(page["tasks"][0]["id"], in_session.as_str());
    assert_eq!(page["tasks"].as_array().map(Vec::len), Some(1));
    let mut unread = listed(&env, &["--unread"]);
    unread.sort();
    let mut both = vec![in_session.clone(), outside.clone()];
    both.sort();
    assert_eq!(unread, both, "both ended and neither result was read");

    // Reading the result marks it read, once; `show` and `list` do not.
    let out = env.ctl(&["result", &in_session]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("done in the session"));
    let read_at = env.show(&in_session)["result_read_at"].clone();
    assert!(read_at.is_string(), "result_read_at recorded: {read_at}");
    assert_eq!(listed(&env, &["--unread"]), vec![outside.clone()]);
    assert!(env.ctl(&["result", "--json", &in_session]).status.success());
    assert_eq!(
        env.show(&in_session)["result_read_at"],
        read_at,
        "the first read is kept"
    );

    // Nothing of it is lost when the registry is rebuilt from the task directories.
    env.stop_daemon().unwrap();
    env.start_daemon(&["--rebuild-registry"]).unwrap();
    let rebuilt = env.show(&in_session);
    assert_eq!(rebuilt["session_id"], "3f2c9a1e-session");
    assert_eq!(rebuilt["result_read_at"], read_at);
    assert_eq!(listed(&env, &["--unread"]), vec![outside.clone()]);

    // A session id that is not one is refused before a task exists.
    let mut bad = env.codexctl();
    bad.args(env.start_args())
        .arg("[from-session] again")
        .env("CLAUDE_CODE_SESSION_ID", "not a session; rm -rf");
    let out = output(&mut bad);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("invalid session id"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
