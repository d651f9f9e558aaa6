//! End to end: the real `codexd` and `codexctl` binaries, the real Codex CLI (pinned
//! 0.169.0), and a scripted model server on 127.0.0.1.

use codexd_tests::daemon::{
    TestEnv, eventually, git, output, peak_running, task_processes, wait_for_gate,
};
use codexd_tests::model_server::{MockModelServer, Scenario, Step};
use serde_json::Value;
use std::process::Stdio;
use std::time::{Duration, Instant};

fn env_with(scenarios: Vec<Scenario>) -> TestEnv {
    let server = MockModelServer::start_blocking(scenarios).expect("model server");
    TestEnv::new(server).expect("test env")
}

fn state(task: &Value) -> &str {
    task["state"].as_str().unwrap_or("?")
}

fn event_types(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .map(|e| {
            let kind = e["type"].as_str().unwrap_or("?");
            match e["item"]["type"].as_str() {
                Some(item) => format!("{kind}:{item}"),
                None => kind.to_string(),
            }
        })
        .collect()
}

/// A long command that cancel and timeout must stop; its unusual duration makes its
/// process easy to recognise. Each test that checks for it uses its own duration, since
/// tests run in parallel.
fn long_sleep(n: u32) -> String {
    format!("sleep {}", 4200 + n)
}

fn long_sleep_alive(command: &str) -> bool {
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok())
        .any(|e| {
            std::fs::read(e.path().join("cmdline"))
                .map(|c| {
                    let text = String::from_utf8_lossy(&c).replace('\0', " ");
                    text.trim() == command
                })
                .unwrap_or(false)
        })
}

#[test]
fn patch_and_command_run_succeeds_with_thread_id_and_complete_log() {
    let mut env = env_with(vec![Scenario::new(
        "[patch-run]",
        vec![
            Step::patch(
                "*** Begin Patch\n*** Add File: hello.txt\n+hello from codex\n*** End Patch\n",
            ),
            Step::shell("cat hello.txt"),
            Step::message("All done.\nThe file is written."),
        ],
    )]);
    env.start_daemon(&[]).unwrap();
    let id = env.start_task("[patch-run] write hello.txt then show it", &[]);
    let (code, summary) = env.wait(&[&id]);
    assert_eq!(code, 0, "wait: {summary}\n{}", env.daemon_log());
    assert!(
        summary.starts_with(&id) && summary.contains("succeeded"),
        "{summary}"
    );
    assert!(
        summary.contains("All done."),
        "summary shows the answer's first line: {summary}"
    );

    let task = env.show(&id);
    assert_eq!(state(&task), "succeeded");
    let thread = task["thread_id"].as_str().expect("thread id recorded");
    assert_eq!(thread.len(), 36, "a UUID: {thread}");
    assert_eq!(task["exit_code"], 0);
    assert_eq!(task["final_message"], "All done.\nThe file is written.");
    assert_eq!(task["cwd"], env.work.display().to_string());
    let states: Vec<&str> = task["transitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["state"].as_str().unwrap())
        .collect();
    assert_eq!(states, ["queued", "running", "succeeded"]);
    for field in ["created_at", "started_at", "finished_at"] {
        assert!(task[field].is_string(), "{field} set");
    }
    assert_eq!(
        std::fs::read_to_string(env.work.join("hello.txt")).unwrap(),
        "hello from codex\n"
    );

    let events = env.events(&id);
    let types = event_types(&events);
    assert_eq!(types.first().map(String::as_str), Some("thread.started"));
    assert_eq!(types.last().map(String::as_str), Some("turn.completed"));
    assert!(
        types.contains(&"item.completed:file_change".to_string()),
        "{types:?}"
    );
    let command = events
        .iter()
        .find(|e| e["type"] == "item.completed" && e["item"]["type"] == "command_execution")
        .expect("command item");
    assert_eq!(command["item"]["exit_code"], 0);
    // (Codex runs commands through the user's shell, whose start-up files may add their own
    // noise, e.g. pyenv's rehash warning inside the sandbox: only our line is checked.)
    let output = command["item"]["aggregated_output"].as_str().unwrap();
    assert!(
        output.lines().any(|l| l == "hello from codex"),
        "{output:?}"
    );
    assert_eq!(events[0]["thread_id"], thread);

    // The same log is on disk, complete, in the task's directory, with the request and
    // the exit status.
    let dir = env.task_dir(&id);
    let on_disk = std::fs::read_to_string(dir.join("events.jsonl")).unwrap();
    assert_eq!(on_disk.lines().count(), events.len());
    let exit: Value =
        serde_json::from_slice(&std::fs::read(dir.join("exit.json")).unwrap()).unwrap();
    assert_eq!(exit["code"], 0);
    let request = std::fs::read_to_string(dir.join("request.json")).unwrap();
    assert!(request.contains("[patch-run]"));
    assert!(request.contains("\"PATH\""), "env keys are recorded");
    let path_value = std::env::var("PATH").unwrap();
    assert!(
        !request.contains(&path_value),
        "env values are never written to disk"
    );

    // Human renderings work too.
    let logs = env.ctl(&["logs", &id]);
    let text = String::from_utf8_lossy(&logs.stdout);
    assert!(text.contains("$ cat hello.txt"), "{text}");
    assert!(text.contains("codex: All done."), "{text}");
    let list = env.ctl(&["list"]);
    assert!(String::from_utf8_lossy(&list.stdout).contains(&id));
    // A unique prefix works wherever an id is taken.
    let by_prefix = env.show(&id[..5]);
    assert_eq!(by_prefix["id"], id.as_str());
}

#[test]
fn http_400_fails_the_task_with_codex_message() {
    let mut env = env_with(vec![Scenario::new(
        "[refuse]",
        vec![Step::HttpError(400, "mock: this request is refused".into())],
    )]);
    env.start_daemon(&[]).unwrap();
    let id = env.start_task("[refuse] please", &[]);
    let (code, summary) = env.wait(&[&id]);
    assert_eq!(code, 1, "{summary}");
    assert!(summary.contains("failed"), "{summary}");
    let task = env.show(&id);
    assert_eq!(state(&task), "failed");
    let error = task["error"].as_str().unwrap();
    assert!(error.contains("mock: this request is refused"), "{error}");
    assert_eq!(task["exit_code"], 1);
    let types = event_types(&env.events(&id));
    assert!(types.contains(&"turn.failed".to_string()), "{types:?}");
}

#[test]
fn cancel_stops_a_long_command_and_leaves_no_process() {
    let mut env = env_with(vec![Scenario::new(
        "[long]",
        vec![Step::shell(long_sleep(1)), Step::message("never reached")],
    )]);
    env.start_daemon(&[]).unwrap();
    let id = env.start_task("[long] sleep a long time", &[]);
    // Wait for the command to be running (its item.started is in the log).
    let started = eventually(Duration::from_secs(60), || {
        std::fs::read_to_string(env.task_dir(&id).join("events.jsonl"))
            .map(|log| log.contains("\"item.started\"") && log.contains("command_execution"))
            .unwrap_or(false)
    });
    assert!(
        started,
        "the long command never started:\n{}",
        env.daemon_log()
    );
    assert!(eventually(Duration::from_secs(10), || long_sleep_alive(
        &long_sleep(1)
    )));
    assert!(!task_processes(&id).is_empty());

    let begun = Instant::now();
    let out = env.ctl(&["cancel", &id, "--json"]);
    let took = begun.elapsed();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let task: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(state(&task), "cancelled");
    assert!(took < Duration::from_secs(10), "cancel took {took:?}");
    // cancel returns once the run is gone: nothing of it survives.
    assert_eq!(task_processes(&id), Vec::<u32>::new());
    assert!(
        !long_sleep_alive(&long_sleep(1)),
        "the long command survived the cancel"
    );
    let (code, summary) = env.wait(&[&id]);
    assert_eq!(code, 1);
    assert!(summary.contains("cancelled"), "{summary}");
    // A second cancel is a clear error.
    let again = env.ctl(&["cancel", &id]);
    assert_eq!(again.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&again.stderr).contains("already ended"));
}

#[test]
fn wall_clock_timeout_ends_the_task_timed_out() {
    let mut env = env_with(vec![Scenario::new(
        "[slow]",
        vec![Step::shell(long_sleep(2)), Step::message("never reached")],
    )]);
    env.start_daemon(&[]).unwrap();
    let id = env.start_task("[slow] take forever", &["--timeout", "3s"]);
    let (code, summary) = env.wait(&[&id]);
    assert_eq!(code, 1, "{summary}");
    let task = env.show(&id);
    assert_eq!(state(&task), "timed_out", "{task}");
    assert!(
        task["error"]
            .as_str()
            .unwrap()
            .contains("timed out after 3s")
    );
    assert_eq!(task["timeout_ms"], 3000);
    assert_eq!(task_processes(&id), Vec::<u32>::new());
    assert!(!long_sleep_alive(&long_sleep(2)));
}

#[test]
fn resume_continues_the_thread_as_a_linked_task() {
    let mut env = env_with(vec![
        Scenario::new("[first]", vec![Step::message("first answer")]),
        Scenario::new(
            "[second]",
            vec![
                Step::shell("echo resumed > resumed.txt"),
                Step::message("second answer"),
            ],
        ),
    ]);
    env.start_daemon(&[]).unwrap();
    let first = env.start_task("[first] hello", &[]);
    assert_eq!(env.wait(&[&first]).0, 0);
    let parent = env.show(&first);

    let out = env.ctl(&["resume", &first, "--json", "[second] -and continue"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let reply: Value = serde_json::from_slice(&out.stdout).unwrap();
    let second = reply["task_id"].as_str().unwrap().to_string();
    assert_ne!(second, first);
    assert_eq!(reply["parent"], first.as_str());
    let (code, summary) = env.wait(&[&second]);
    assert_eq!(code, 0, "{summary}\n{}", env.daemon_log());

    let child = env.show(&second);
    assert_eq!(child["parent"], first.as_str());
    assert_eq!(child["thread_id"], parent["thread_id"], "same codex thread");
    assert_eq!(child["final_message"], "second answer");
    assert_eq!(child["prompt"], "[second] -and continue");
    let events = env.events(&second);
    assert_eq!(events[0]["thread_id"], parent["thread_id"]);
    // The resumed turn ran in the parent's directory with its writable sandbox.
    assert_eq!(
        std::fs::read_to_string(env.work.join("resumed.txt"))
            .unwrap()
            .trim(),
        "resumed"
    );
    // The parent is untouched.
    assert_eq!(env.show(&first)["final_message"], "first answer");
    // Resuming a running task or one without a thread is refused clearly.
    let missing = env.ctl(&["resume", "zzzzzzzz", "x"]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("no task zzzzzzzz"));
}

/// `resume --fork` (issue 13): `codex exec fork` makes a new thread from the parent's
/// conversation, as a new linked task; the parent's thread goes on as it was.
#[test]
fn resume_fork_branches_the_thread_into_a_new_one() {
    let mut env = env_with(vec![
        Scenario::new("[first]", vec![Step::message("first answer")]),
        Scenario::new("[forked]", vec![Step::message("forked answer")]),
        Scenario::new("[continued]", vec![Step::message("continued answer")]),
    ]);
    env.start_daemon(&[]).unwrap();
    let first = env.start_task("[first] hello", &[]);
    assert_eq!(env.wait(&[&first]).0, 0);
    let parent = env.show(&first);
    let parent_thread = parent["thread_id"].as_str().unwrap().to_string();

    let out = env.ctl(&[
        "resume",
        &first,
        "--fork",
        "--json",
        "[forked] try another way",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let reply: Value = serde_json::from_slice(&out.stdout).unwrap();
    let fork = reply["task_id"].as_str().unwrap().to_string();
    let (code, summary) = env.wait(&[&fork]);
    assert_eq!(code, 0, "{summary}\n{}", env.daemon_log());
    let forked = env.show(&fork);
    assert_eq!(forked["parent"], first.as_str());
    assert_eq!(forked["forked"], true);
    assert_eq!(forked["final_message"], "forked answer");
    let fork_thread = forked["thread_id"]
        .as_str()
        .expect("the fork's thread")
        .to_string();
    assert_ne!(fork_thread, parent_thread, "a fork is a thread of its own");
    // The model saw the parent's conversation before the fork's prompt.
    let request = env
        .server
        .requests()
        .into_iter()
        .find(|r| r.tag.as_deref() == Some("[forked]"))
        .expect("the fork's request");
    let body = request.body.to_string();
    assert!(body.contains("[first] hello"), "{body}");
    assert!(body.contains("first answer"), "{body}");

    // A plain resume of the parent still continues the parent's own thread.
    let out = env.ctl(&["resume", &first, "--json", "[continued] and on"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let reply: Value = serde_json::from_slice(&out.stdout).unwrap();
    let resumed = reply["task_id"].as_str().unwrap().to_string();
    assert_eq!(env.wait(&[&resumed]).0, 0);
    let resumed = env.show(&resumed);
    assert_eq!(resumed["forked"], false);
    assert_eq!(resumed["thread_id"], parent_thread.as_str());
}

#[test]
fn five_tasks_with_limit_two_never_run_more_than_two() {
    let mut env = env_with(vec![Scenario::new(
        "[batch]",
        vec![Step::shell("sleep 1"), Step::message("batch done")],
    )]);
    env.start_daemon(&["--max-running", "2"]).unwrap();
    let mut ids = Vec::new();
    let mut positions = Vec::new();
    for i in 0..5 {
        let out = output(
            env.codexctl()
                .args(env.start_args())
                .arg("--json")
                .arg(format!("[batch] task {i}")),
        );
        assert!(out.status.success());
        let reply: Value = serde_json::from_slice(&out.stdout).unwrap();
        ids.push(reply["task_id"].as_str().unwrap().to_string());
        positions.push(reply["queue_position"].clone());
    }
    // Tasks beyond the limit were queued with a visible position.
    assert!(
        positions.iter().any(|p| p.as_u64().is_some()),
        "some task reported a queue position: {positions:?}"
    );
    let id_refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    let (code, summary) = env.wait(&id_refs);
    assert_eq!(code, 0, "{summary}\n{}", env.daemon_log());
    assert_eq!(summary.lines().count(), 5);

    // From the recorded transitions: at no instant were more than two running.
    let tasks: Vec<Value> = ids.iter().map(|id| env.show(id)).collect();
    for task in &tasks {
        assert_eq!(state(task), "succeeded");
    }
    let peak = peak_running(&tasks);
    assert!(peak <= 2, "{peak} tasks ran at once");
    assert_eq!(peak, 2, "the limit was used");
}

#[test]
fn a_killed_waiter_loses_nothing_and_a_new_wait_sees_the_result() {
    let mut env = env_with(vec![Scenario::new(
        "[steady]",
        vec![Step::shell("sleep 2"), Step::message("steady result")],
    )]);
    env.start_daemon(&[]).unwrap();
    let id = env.start_task("[steady] go", &[]);
    let mut waiter = env
        .codexctl()
        .args(["wait", &id])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    assert!(
        waiter.try_wait().unwrap().is_none(),
        "wait blocks while the task runs"
    );
    waiter.kill().unwrap();
    waiter.wait().unwrap();
    let (code, summary) = env.wait(&[&id]);
    assert_eq!(code, 0, "{summary}");
    assert!(summary.contains("steady result"), "{summary}");
}

#[test]
fn daemon_restart_keeps_tasks_logs_and_running_work() {
    let gate = tempfile::tempdir().unwrap();
    let gate = gate.path().join("open");
    let mut env = env_with(vec![
        Scenario::new("[quick]", vec![Step::message("quick answer")]),
        Scenario::new(
            "[across]",
            vec![
                Step::shell(wait_for_gate(&gate, "across")),
                Step::message("finished across a restart"),
            ],
        ),
    ]);
    env.start_daemon(&[]).unwrap();
    let done = env.start_task("[quick] one", &[]);
    assert_eq!(env.wait(&[&done]).0, 0);
    let before = env.show(&done);
    let events_before = env.events(&done);

    // A task in flight, and a waiter on it that must survive the restart.
    let running = env.start_task("[across] two", &[]);
    assert!(eventually(Duration::from_secs(60), || {
        state(&env.show(&running)) == "running"
    }));
    let waiter = env
        .codexctl()
        .args(["wait", &running, "--timeout", "120s"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();

    let status = env.stop_daemon().unwrap();
    assert!(status.success(), "clean exit on SIGTERM");
    assert!(!env.socket.exists(), "socket removed on clean exit");
    assert!(
        !task_processes(&running).is_empty(),
        "the run outlives the daemon"
    );
    env.start_daemon(&[]).unwrap();
    std::fs::write(&gate, "").unwrap();

    // Everything recorded before is still there.
    assert_eq!(env.show(&done), before);
    assert_eq!(env.events(&done), events_before);
    // The waiter reconnected and saw the end; the run finished normally.
    let out = waiter.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "waiter: {} {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        env.daemon_log()
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("finished across a restart"));
    let task = env.show(&running);
    assert_eq!(state(&task), "succeeded");
    let types = event_types(&env.events(&running));
    assert_eq!(types.first().map(String::as_str), Some("thread.started"));
    assert_eq!(types.last().map(String::as_str), Some("turn.completed"));
}

#[test]
fn a_crashed_daemon_leaves_a_stale_socket_that_is_reclaimed() {
    let mut env = env_with(vec![Scenario::new("[a]", vec![Step::message("a")])]);
    env.start_daemon(&[]).unwrap();
    let id = env.start_task("[a] x", &[]);
    assert_eq!(env.wait(&[&id]).0, 0);
    env.kill_daemon().unwrap();
    assert!(env.socket.exists(), "a crash leaves the socket file behind");
    env.start_daemon(&[]).unwrap();
    assert_eq!(state(&env.show(&id)), "succeeded");
}

#[test]
fn a_second_daemon_is_refused_and_the_first_keeps_serving() {
    let mut env = env_with(vec![]);
    env.start_daemon(&[]).unwrap();
    let other_state = env.root.path().join("state2");
    let same_socket = output(
        std::process::Command::new(codexd_tests::daemon::bin("codexd"))
            .arg("--socket")
            .arg(&env.socket)
            .arg("--state-dir")
            .arg(&other_state),
    );
    assert_eq!(same_socket.status.code(), Some(1));
    let err = String::from_utf8_lossy(&same_socket.stderr);
    assert!(
        err.contains("already running") && err.contains("socket"),
        "{err}"
    );

    let other_socket = env.root.path().join("run2").join("s.sock");
    let same_state = output(
        std::process::Command::new(codexd_tests::daemon::bin("codexd"))
            .arg("--socket")
            .arg(&other_socket)
            .arg("--state-dir")
            .arg(&env.state_dir),
    );
    assert_eq!(same_state.status.code(), Some(1));
    let err = String::from_utf8_lossy(&same_state.stderr);
    assert!(
        err.contains("already running") && err.contains("state directory"),
        "{err}"
    );

    let status = env.ctl(&["daemon", "status", "--json"]);
    assert!(status.status.success());
    let info: Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(info["pid"], env.daemon_pid().unwrap());
}

#[test]
fn socket_and_state_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let mut env = env_with(vec![Scenario::new(
        "[p]",
        vec![Step::shell("touch made-by-codex.txt"), Step::message("p")],
    )]);
    env.start_daemon(&[]).unwrap();
    let id = env.start_task("[p] x", &[]);
    assert_eq!(env.wait(&[&id]).0, 0);
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&env.socket), 0o600);
    assert_eq!(mode(env.socket.parent().unwrap()), 0o700);
    assert_eq!(mode(&env.state_dir), 0o700);
    let dir = env.task_dir(&id);
    assert_eq!(mode(&dir), 0o700);
    for file in ["request.json", "events.jsonl", "stderr.log", "exit.json"] {
        assert_eq!(mode(&dir.join(file)), 0o600, "{file}");
    }
    // Every file and directory of the state dir, sled's included, is the owner's alone.
    let mut pending = vec![env.state_dir.clone()];
    let mut seen = 0;
    while let Some(path) = pending.pop() {
        assert_eq!(
            mode(&path) & 0o077,
            0,
            "{} is open to others",
            path.display()
        );
        seen += 1;
        if path.is_dir() {
            pending.extend(std::fs::read_dir(&path).unwrap().map(|e| e.unwrap().path()));
        }
    }
    assert!(seen > 10, "only {seen} paths in the state dir");
    // Codex itself works with the user's umask, not the daemon's owner-only one.
    // SAFETY: umask(2) swaps the mask; it is put back at once.
    let user_umask = unsafe {
        let mask = libc::umask(0o022);
        libc::umask(mask);
        mask
    };
    assert_eq!(
        mode(&env.work.join("made-by-codex.txt")),
        0o666 & !(user_umask as u32) & 0o777
    );
}

#[test]
fn a_missing_codex_binary_fails_the_task_clearly() {
    let mut env = env_with(vec![]);
    env.codex = env.root.path().join("no-such-codex");
    env.start_daemon(&[]).unwrap();
    let id = env.start_task("anything", &[]);
    let (code, summary) = env.wait(&[&id]);
    assert_eq!(code, 1);
    let task = env.show(&id);
    assert_eq!(state(&task), "failed");
    let error = task["error"].as_str().unwrap();
    assert!(
        error.contains("no-such-codex") && error.contains("does not exist"),
        "{error} / {summary}"
    );
    // The daemon said so at start-up, with the path and how to fix it, and kept serving.
    let log = env.daemon_log();
    let warning = log
        .lines()
        .find(|l| l.contains("WARN") && l.contains("no-such-codex"))
        .unwrap_or_else(|| panic!("no start-up warning about the codex binary: {log}"));
    assert!(
        warning.contains("does not exist") && warning.contains("--codex-bin"),
        "{warning}"
    );
    assert_eq!(env.ctl(&["list"]).status.code(), Some(0));
}

#[test]
fn bad_requests_get_clear_errors() {
    let mut env = env_with(vec![]);
    env.start_daemon(&[]).unwrap();
    let cases: &[(&[&str], &str)] = &[
        (&["start", "   "], "prompt is empty"),
        (
            &["start", "--cd", "/definitely/not/here", "x"],
            "/definitely/not/here",
        ),
        (&["start", "--sandbox", "yolo", "x"], "unknown sandbox mode"),
        (&["show", "zzzzzzzz"], "no task zzzzzzzz"),
        (&["show", "NOT-AN-ID"], "is not a task id"),
        (&["wait", "zzzzzzzz"], "no task zzzzzzzz"),
    ];
    for (args, expected) in cases {
        let out = env.ctl(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(expected), "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "one line: {err}");
    }
    // Malformed flags are caught by the argument parser (exit 2, usage hint on stderr).
    let out = env.ctl(&["start", "-c", "novalue", "x"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("expected KEY=VALUE"));

    // Nothing answering and no autostart: exit 2 with the socket named.
    env.stop_daemon().unwrap();
    let out = env.ctl(&["list"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot connect"));
}

#[test]
fn codexctl_starts_the_daemon_when_none_answers() {
    let env = env_with(vec![Scenario::new(
        "[auto]",
        vec![Step::message("auto answer")],
    )]);
    // Like env.codexctl(), but with autostart on and the daemon's settings in the
    // environment the autostarted daemon inherits.
    let mut cmd = std::process::Command::new(codexd_tests::daemon::bin("codexctl"));
    cmd.arg("--socket")
        .arg(&env.socket)
        .env("CODEX_HOME", &env.codex_home)
        .env("CODEXD_STATE_DIR", &env.state_dir)
        .env("CODEXD_CODEX_BIN", &env.codex)
        .current_dir(&env.work)
        .stdin(Stdio::null())
        .args(env.start_args())
        .arg("[auto] hi");
    let out = output(&mut cmd);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let id = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let (code, summary) = env.wait(&[&id]);
    assert_eq!(code, 0, "{summary}");
    let status = env.ctl(&["daemon", "status", "--json"]);
    let info: Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(info["state_dir"], env.state_dir.display().to_string());
    // Stop the autostarted daemon (it is not our child).
    let stop = env.ctl(&["daemon", "stop"]);
    assert!(
        stop.status.success(),
        "{}",
        String::from_utf8_lossy(&stop.stderr)
    );
    // Its log (stderr was a file, not a terminal) holds no colour codes.
    let log = std::fs::read_to_string(env.socket.parent().unwrap().join("codexd.log")).unwrap();
    assert!(log.contains("INFO"), "{log}");
    assert!(!log.contains('\x1b'), "ANSI escapes in codexd.log: {log:?}");
}

#[test]
fn a_daemon_that_cannot_start_is_reported_with_its_own_error() {
    let env = env_with(vec![]);
    let xdg = env.root.path().join("xdg");
    std::fs::create_dir_all(xdg.join("codexd")).unwrap();
    let config = xdg.join("codexd/config.toml");
    std::fs::write(
        &config,
        "[daemon]\nmax_running = 2\n[deamon]\nkill_grace = \"1s\"\n",
    )
    .unwrap();
    let autostart = |extra_env: &[(&str, &str)]| {
        let mut cmd = std::process::Command::new(codexd_tests::daemon::bin("codexctl"));
        cmd.arg("--socket")
            .arg(&env.socket)
            .env("XDG_CONFIG_HOME", &xdg)
            .env("CODEXD_STATE_DIR", &env.state_dir)
            .env("RUST_BACKTRACE", "1")
            .env_remove("CODEXD_CONFIG")
            .env_remove("NO_COLOR")
            .envs(extra_env.iter().copied())
            .current_dir(&env.work)
            .stdin(Stdio::null())
            .arg("list");
        let out = output(&mut cmd);
        assert_eq!(out.status.code(), Some(2));
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    // The config file's error, naming the file and the table, not a backtrace's last line.
    let err = autostart(&[]);
    assert!(
        err.contains("cannot start codexd")
            && err.contains(&config.display().to_string())
            && err.contains("deamon"),
        "{err}"
    );
    assert!(!err.contains("_start"), "{err}");
    // A bad setting in the environment: the argument parser's message.
    std::fs::remove_file(&config).unwrap();
    let err = autostart(&[("CODEXD_MAX_RUNNING", "0")]);
    assert!(err.contains("--max-running"), "{err}");
    let log = std::fs::read_to_string(env.socket.parent().unwrap().join("codexd.log")).unwrap();
    assert!(!log.contains('\x1b'), "ANSI escapes in codexd.log: {log:?}");
}

#[test]
fn runs_get_the_clients_environment_not_the_daemons() {
    let mut env = env_with(vec![Scenario::new(
        "[env]",
        vec![
            Step::shell(
                "echo \"venv=${VIRTUAL_ENV:-none} setting=${MY_SETTING:-none}\" > env-$CASE.txt",
            ),
            Step::message("env written"),
        ],
    )]);
    env.start_daemon_with_env(&[], &[("VIRTUAL_ENV", "/daemon/venv"), ("CASE", "daemon")])
        .unwrap();
    let start = |case: &str, venv: Option<&str>| {
        let mut cmd = env.codexctl();
        cmd.env_remove("VIRTUAL_ENV");
        if let Some(venv) = venv {
            cmd.env("VIRTUAL_ENV", venv);
        }
        let out = output(
            cmd.args(env.start_args())
                .args([
                    "--env",
                    &format!("CASE={case}"),
                    "--env",
                    "MY_SETTING=value-1234",
                ])
                .arg("[env] print it"),
        );
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    let without = start("without", None);
    let with = start("with", Some("/client/venv"));
    let (code, summary) = env.wait(&[&without, &with]);
    assert_eq!(code, 0, "{summary}");
    let read =
        |case: &str| std::fs::read_to_string(env.work.join(format!("env-{case}.txt"))).unwrap();
    assert_eq!(read("without").trim(), "venv=none setting=value-1234");
    assert_eq!(read("with").trim(), "venv=/client/venv setting=value-1234");
    let request = std::fs::read_to_string(env.task_dir(&with).join("request.json")).unwrap();
    assert!(request.contains("MY_SETTING"));
    assert!(
        !request.contains("value-1234"),
        "env values stay off disk: {request}"
    );
    assert!(!request.contains("/client/venv"));
}

#[test]
fn credentials_and_proxies_come_from_the_calling_shell_and_stay_off_disk() {
    let mut env = env_with(vec![Scenario::new(
        "[auth-env]",
        vec![
            Step::shell(
                "echo \"key=${OPENAI_API_KEY:-none} codex=${CODEX_API_KEY:-none} \
                 noproxy=${no_proxy:-none}\" | tee auth-env.txt",
            ),
            Step::message("env written"),
        ],
    )]);
    let client_key = "cli3ntKey7Vq9Zr2Lw8Tn4Hs6";
    let daemon_key = "da3monKey5Xb8Yc1Mf7Pg2Qj4";
    // The daemon was started from another shell, with credentials of its own.
    env.start_daemon_with_env(
        &[],
        &[
            ("OPENAI_API_KEY", daemon_key),
            ("CODEX_API_KEY", daemon_key),
        ],
    )
    .unwrap();
    let mut cmd = env.codexctl();
    cmd.env("OPENAI_API_KEY", client_key)
        .env_remove("CODEX_API_KEY")
        .env("no_proxy", "client.example.invalid")
        .args(env.start_args())
        .arg("[auth-env] print it");
    let out = output(&mut cmd);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let id = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let (code, summary) = env.wait(&[&id]);
    assert_eq!(code, 0, "{summary}\n{}", env.daemon_log());
    // The run saw the calling shell's values, and not the daemon's key.
    let seen = std::fs::read_to_string(env.work.join("auth-env.txt")).unwrap();
    assert_eq!(
        seen.trim(),
        format!("key={client_key} codex=none noproxy=client.example.invalid")
    );
    // What codex printed has the key redacted; no file under the state dir holds it.
    let logs = String::from_utf8_lossy(&env.ctl(&["logs", &id, "--json"]).stdout).into_owned();
    assert!(logs.contains("key=[REDACTED:env:OPENAI_API_KEY]"), "{logs}");
    assert!(logs.contains("noproxy=client.example.invalid"), "{logs}");
    assert_absent_from_state_dir(&env, &[client_key.to_string(), daemon_key.to_string()]);
    let request = std::fs::read_to_string(env.task_dir(&id).join("request.json")).unwrap();
    assert!(request.contains("OPENAI_API_KEY"), "{request}");
}

#[test]
fn logs_follow_streams_the_whole_log_until_the_end() {
    let mut env = env_with(vec![Scenario::new(
        "[follow]",
        vec![Step::shell("sleep 1; echo tick"), Step::message("followed")],
    )]);
    env.start_daemon(&[]).unwrap();
    let id = env.start_task("[follow] go", &[]);
    let out = output(env.codexctl().args(["logs", &id, "--follow", "--json"]));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // --follow returned because the task ended; what it streamed is the whole log.
    assert_eq!(state(&env.show(&id)), "succeeded");
    let followed: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(followed, env.events(&id));
    let human = env.ctl(&["logs", &id]);
    assert!(String::from_utf8_lossy(&human.stdout).contains("tick"));

    // On a task that has already ended, --follow prints the whole log too, then ends.
    for json in [true, false] {
        let mut args = vec!["logs", &id, "-f"];
        if json {
            args.push("--json");
        }
        let again = output(env.codexctl().args(&args));
        assert!(
            again.status.success(),
            "{}",
            String::from_utf8_lossy(&again.stderr)
        );
        let printed = String::from_utf8_lossy(&again.stdout);
        if json {
            let lines: Vec<Value> = printed
                .lines()
                .map(|l| serde_json::from_str(l).unwrap())
                .collect();
            assert_eq!(lines, env.events(&id), "logs -f --json on a finished task");
        } else {
            assert_eq!(printed, String::from_utf8_lossy(&human.stdout));
        }
    }
}

#[test]
fn cancelling_a_queued_task_never_starts_it() {
    let mut env = env_with(vec![Scenario::new(
        "[hold]",
        vec![Step::shell(long_sleep(3)), Step::message("never")],
    )]);
    env.start_daemon(&["--max-running", "1"]).unwrap();
    let first = env.start_task("[hold] first", &[]);
    let second = env.start_task("[hold] second", &[]);
    let queued = env.show(&second);
    assert_eq!(state(&queued), "queued");
    assert_eq!(queued["queue_position"], 1);
    let list = env.ctl(&["list", "--state", "queued", "--json"]);
    let page: Value = serde_json::from_slice(&list.stdout).unwrap();
    assert_eq!(page["tasks"][0]["id"], second.as_str());

    let out = env.ctl(&["cancel", &second, "--json"]);
    assert!(out.status.success());
    let cancelled: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(state(&cancelled), "cancelled");
    assert!(cancelled["started_at"].is_null(), "it never ran");
    assert!(!env.task_dir(&second).join("events.jsonl").exists());
    let out = env.ctl(&["cancel", &first]);
    assert!(out.status.success());
    assert_eq!(state(&env.show(&first)), "cancelled");
}

#[test]
fn list_filters_by_state_and_cwd_and_pages_newest_first() {
    let mut env = env_with(vec![
        Scenario::new("[ok]", vec![Step::message("fine")]),
        Scenario::new("[bad]", vec![Step::HttpError(400, "nope".into())]),
    ]);
    env.start_daemon(&[]).unwrap();
    let a = env.start_task("[ok] a", &[]);
    let b = env.start_task("[bad] b", &[]);
    let other = env.root.path().join("elsewhere");
    std::fs::create_dir_all(&other).unwrap();
    let c = env.start_task("[ok] c", &["--cd", other.to_str().unwrap()]);
    assert_eq!(env.wait(&[&a, &b, &c]).0, 1);

    let list = |args: &[&str]| -> Value {
        let mut full = vec!["list", "--json"];
        full.extend_from_slice(args);
        serde_json::from_slice(&env.ctl(&full).stdout).unwrap()
    };
    let ids = |page: &Value| -> Vec<String> {
        page["tasks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["id"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(ids(&list(&[])), [c.as_str(), b.as_str(), a.as_str()]);
    assert_eq!(ids(&list(&["--state", "failed"])), [b.as_str()]);
    assert_eq!(
        ids(&list(&["--state", "succeeded", "--here"])),
        [a.as_str()]
    );
    assert_eq!(
        ids(&list(&["--cwd", other.to_str().unwrap()])),
        [c.as_str()]
    );
    let first = list(&["--limit", "2"]);
    assert_eq!(ids(&first), [c.as_str(), b.as_str()]);
    let cursor = first["next_cursor"].as_str().unwrap().to_string();
    let second = list(&["--limit", "2", "--cursor", &cursor]);
    assert_eq!(ids(&second), [a.as_str()]);
    assert!(second["next_cursor"].is_null());
    let table = String::from_utf8_lossy(&env.ctl(&["list"]).stdout).into_owned();
    assert!(
        table.lines().count() == 4 && table.contains("failed"),
        "{table}"
    );
}

#[test]
fn raw_protocol_abuse_gets_errors_and_never_hurts_the_daemon() {
    use std::io::{BufRead, BufReader, Write};
    use std::os::unix::net::UnixStream;
    let mut env = env_with(vec![]);
    env.start_daemon(&[]).unwrap();
    // A client that connects and says nothing does not block anyone.
    let _silent = UnixStream::connect(&env.socket).unwrap();

    let stream = UnixStream::connect(&env.socket).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut writer = stream.try_clone().unwrap();
    let mut reader = BufReader::new(stream);
    let mut call = |line: &[u8]| -> Value {
        writer.write_all(line).unwrap();
        writer.write_all(b"\n").unwrap();
        let mut reply = String::new();
        reader.read_line(&mut reply).unwrap();
        serde_json::from_str(&reply).unwrap_or_else(|e| panic!("reply {reply:?}: {e}"))
    };
    let code = |v: &Value| v["error"]["code"].as_i64();
    assert_eq!(code(&call(b"this is not json")), Some(-32700));
    assert_eq!(
        code(&call(
            b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"codexd_get\",\"params\":[\"\xff\xfe\"]}"
        )),
        Some(-32700)
    );
    assert_eq!(code(&call(br#"{"id":2}"#)), Some(-32600));
    assert_eq!(
        code(&call(br#"{"jsonrpc":"2.0","id":3,"method":"codexd_nope"}"#)),
        Some(-32601)
    );
    assert_eq!(
        code(&call(
            br#"{"jsonrpc":"2.0","id":4,"method":"codexd_get","params":[123]}"#
        )),
        Some(-32602)
    );
    let unknown = call(br#"{"jsonrpc":"2.0","id":5,"method":"codexd_get","params":["zzzzzzzz"]}"#);
    assert_eq!(unknown["error"]["data"]["kind"], "task_not_found");
    let watch = call(br#"{"jsonrpc":"2.0","id":6,"method":"codexd_watch","params":["zzzzzzzz"]}"#);
    assert_eq!(watch["id"], 6);
    assert_eq!(watch["error"]["data"]["kind"], "task_not_found");
    let bad_start = call(br#"{"jsonrpc":"2.0","id":7,"method":"codexd_start","params":[{"prompt":"x","cwd":"relative/dir"}]}"#);
    assert!(
        bad_start["error"]["message"]
            .as_str()
            .unwrap()
            .contains("not an absolute path")
    );
    // A cwd that does not exist, straight to the daemon (codexctl checks it first).
    let missing_cwd = call(br#"{"jsonrpc":"2.0","id":11,"method":"codexd_start","params":[{"prompt":"x","cwd":"/definitely/not/here"}]}"#);
    assert_eq!(
        missing_cwd["error"]["data"]["kind"], "invalid_params",
        "{missing_cwd}"
    );
    assert!(
        missing_cwd["error"]["message"]
            .as_str()
            .unwrap()
            .contains("/definitely/not/here"),
        "{missing_cwd}"
    );
    let empty_prompt = call(br#"{"jsonrpc":"2.0","id":12,"method":"codexd_start","params":[{"prompt":"  ","cwd":"/"}]}"#);
    assert_eq!(
        empty_prompt["error"]["data"]["kind"], "invalid_params",
        "{empty_prompt}"
    );
    let batch = call(br#"[{"jsonrpc":"2.0","id":8,"method":"codexd_version"},{"jsonrpc":"2.0","id":9,"method":"codexd_nope"}]"#);
    assert_eq!(batch[0]["result"]["version"], "0.1.0");
    assert_eq!(batch[1]["error"]["code"], -32601);
    // A 17 MB line is refused, and the connection still works afterwards.
    let mut huge = br#"{"jsonrpc":"2.0","id":10,"method":"codexd_get","params":[""#.to_vec();
    huge.extend(std::iter::repeat_n(b'a', 17 * 1024 * 1024));
    huge.extend_from_slice(br#""]}"#);
    let too_big = call(&huge);
    assert!(
        too_big["error"]["message"]
            .as_str()
            .unwrap()
            .contains("over"),
        "{too_big}"
    );
    let ok = call(br#"{"jsonrpc":"2.0","id":11,"method":"codexd_version"}"#);
    assert_eq!(ok["id"], 11);
    // A notification gets no reply: the next reply is for the next call.
    let after = call(b"{\"jsonrpc\":\"2.0\",\"method\":\"codexd_version\"}\n{\"jsonrpc\":\"2.0\",\"id\":12,\"method\":\"codexd_version\"}");
    assert_eq!(after["id"], 12);
    // The daemon is still up for everyone.
    let status = env.ctl(&["daemon", "status"]);
    assert!(status.status.success());
}

#[test]
fn connections_from_another_user_are_refused() {
    use std::io::{Read, Write};
    use std::os::unix::fs::PermissionsExt;
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 || !std::path::Path::new("/usr/bin/setpriv").exists() {
        eprintln!("SKIPPED: needs root and setpriv to run the daemon as another user");
        return;
    }
    // Run the daemon as `nobody`; connect as root (which file permissions do not stop),
    // so only the daemon's peer-uid check can refuse us.
    let env = env_with(vec![]);
    let base = env.root.path().join("nobody");
    std::fs::create_dir_all(&base).unwrap();
    std::fs::set_permissions(env.root.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let chown = std::process::Command::new("chown")
        .args(["-R", "65534:65534"])
        .arg(&base)
        .status()
        .unwrap();
    assert!(chown.success());
    let socket = base.join("run").join("codexd.sock");
    let mut daemon = std::process::Command::new("/usr/bin/setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
        .arg(codexd_tests::daemon::bin("codexd"))
        .arg("--socket")
        .arg(&socket)
        .arg("--state-dir")
        .arg(base.join("state"))
        .env("HOME", &base)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Listening, not just bound (the socket file appears a moment before).
    let up = eventually(Duration::from_secs(20), || {
        std::os::unix::net::UnixStream::connect(&socket).is_ok()
    });
    if !up {
        let _ = daemon.kill();
        let out = daemon.wait_with_output().unwrap();
        panic!(
            "daemon as nobody did not start: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let mut stream = std::os::unix::net::UnixStream::connect(&socket).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let _ = stream.write_all(b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"codexd_version\"}\n");
    let mut reply = String::new();
    let _ = stream.read_to_string(&mut reply);
    // One typed error line naming the cause, then the connection is closed.
    let error: serde_json::Value = serde_json::from_str(reply.trim()).expect(&reply);
    assert_eq!(
        error["error"]["data"]["kind"], "permission_denied",
        "{reply}"
    );
    assert!(
        error["error"]["message"]
            .as_str()
            .unwrap()
            .contains("it serves uid 65534 only"),
        "{reply}"
    );
    // The client says it in one clear line, not "connection reset; restart required".
    let out = output(
        std::process::Command::new(codexd_tests::daemon::bin("codexctl"))
            .args(["--no-autostart", "--socket"])
            .arg(&socket)
            .args(["list"]),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("codexd refused this connection: it serves uid 65534 only, not uid 0")
            && stderr.trim().lines().count() == 1,
        "{stderr}"
    );
    // SAFETY: signalling our child.
    unsafe { libc::kill(daemon.id() as i32, libc::SIGTERM) };
    let out = daemon.wait_with_output().unwrap();
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("refused a connection from another user"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A unittest module with two passing tests, one failing and one skipped.
const TEST_MODULE: &str = "import unittest\n\nclass T(unittest.TestCase):\n    def test_one(self):\n        self.assertEqual(1, 1)\n\n    def test_two(self):\n        self.assertTrue(True)\n\n    def test_broken(self):\n        self.assertEqual(2, 3)\n\n    @unittest.skip(\"later\")\n    def test_later(self):\n        pass\n";

#[test]
fn the_result_reports_files_diffstat_commands_tests_usage_and_answer() {
    let patch = format!(
        "*** Begin Patch\n*** Add File: new.txt\n+one\n+two\n*** Update File: tracked.txt\n@@\n-old line\n+new line\n*** Delete File: doomed.txt\n*** Add File: test_mod.py\n{}*** End Patch\n",
        TEST_MODULE
            .lines()
            .map(|l| format!("+{l}\n"))
            .collect::<String>()
    );
    let mut env = env_with(vec![
        Scenario::new(
            "[work]",
            vec![
                Step::plan(&[("edit files", "completed"), ("run tests", "in_progress")]),
                Step::patch(patch),
                Step::shell("echo appended >> notes.txt"),
                Step::shell("python3 -m unittest -v test_mod"),
                Step::shell(format!("echo {}", fake_secrets()[0].1)),
                Step::message("Edited the files; one test fails."),
            ],
        ),
        Scenario::new("[again]", vec![Step::message("nothing more")]),
    ]);
    // A git work tree with the user's own uncommitted change, which must not count.
    let work = env.work.clone();
    git(&work, &["init", "-q"]);
    std::fs::write(work.join("tracked.txt"), "old line\nkept\n").unwrap();
    std::fs::write(work.join("doomed.txt"), "bye\n").unwrap();
    std::fs::write(work.join("notes.txt"), "n1\n").unwrap();
    std::fs::write(work.join("mine.txt"), "committed\n").unwrap();
    git(&work, &["add", "-A"]);
    git(&work, &["commit", "-qm", "base"]);
    std::fs::write(work.join("mine.txt"), "committed\nuser edit\n").unwrap();
    let status_before = git(&work, &["status", "--porcelain"]);
    let stash_before = git(&work, &["stash", "list"]);

    env.start_daemon(&[]).unwrap();
    let id = env.start_task("[work] edit, test, report", &[]);
    let (code, summary) = env.wait(&[&id]);
    assert_eq!(code, 0, "{summary}\n{}", env.daemon_log());
    let out = env.ctl(&["result", &id, "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let result: Value = serde_json::from_slice(&out.stdout).unwrap();

    assert_eq!(result["state"], "succeeded");
    assert_eq!(result["exit_code"], 0);
    assert_eq!(result["final_message"], "Edited the files; one test fails.");
    assert!(result["duration_ms"].as_u64().unwrap() > 0);
    let files: Vec<(String, String)> = result["files_changed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["path"].as_str().unwrap().into(),
                f["kind"].as_str().unwrap().into(),
            )
        })
        .collect();
    let mut files_sorted = files.clone();
    files_sorted.sort();
    assert_eq!(
        files_sorted,
        [
            ("doomed.txt".to_string(), "delete".to_string()),
            ("new.txt".into(), "add".into()),
            ("test_mod.py".into(), "add".into()),
            ("tracked.txt".into(), "update".into()),
        ]
    );
    // The diffstat counts the shell-made change to notes.txt and not the user's mine.txt:
    // new.txt +2, tracked.txt +1 -1, doomed.txt -1, test_mod.py +15, notes.txt +1.
    assert_eq!(
        result["diffstat"],
        serde_json::json!({"files": 5, "insertions": 19, "deletions": 2})
    );
    let commands = result["commands"].as_array().unwrap();
    assert_eq!(commands.len(), 3, "{commands:?}");
    assert_eq!(commands[0]["command"], "echo appended >> notes.txt");
    assert_eq!(commands[0]["exit_code"], 0);
    assert_eq!(commands[1]["command"], "python3 -m unittest -v test_mod");
    assert_eq!(commands[1]["exit_code"], 1);
    assert_eq!(commands[1]["status"], "failed");
    assert!(commands[1]["duration_ms"].is_u64());
    let tests = &result["tests"];
    assert_eq!(tests["passed"], 2, "{tests}");
    assert_eq!(tests["failed"], 1);
    assert_eq!(tests["skipped"], 1);
    assert_eq!(tests["runs"][0]["runner"], "unittest");
    let failing = tests["failing"].as_array().unwrap();
    assert_eq!(failing.len(), 1);
    assert!(
        failing[0].as_str().unwrap().contains("test_broken"),
        "{failing:?}"
    );
    // Six model requests in the turn; codex reports their usage summed.
    assert_eq!(
        result["usage"],
        serde_json::json!({"input_tokens": 600, "cached_input_tokens": 120, "output_tokens": 180, "reasoning_output_tokens": 30})
    );
    // The echoed token is in the command's output only as a redaction marker, and nowhere
    // in the state dir.
    assert_eq!(commands[2]["command"], "echo [REDACTED:github-token]");
    assert_absent_from_state_dir(&env, &[fake_secrets()[0].1.clone()]);
    assert_eq!(result["todo"][0]["text"], "edit files");
    assert_eq!(result["todo"][0]["completed"], true);
    assert_eq!(result["trimmed"], serde_json::json!([]));

    // The user's index, working tree state and stash are as they were (plus the task's own
    // changes): mine.txt is still modified and unstaged, nothing was stashed.
    let status_after = git(&work, &["status", "--porcelain"]);
    assert!(status_after.contains(" M mine.txt"), "{status_after}");
    assert!(status_before.contains(" M mine.txt"));
    assert_eq!(git(&work, &["stash", "list"]), stash_before);
    assert_eq!(
        git(&work, &["diff", "--cached", "--name-only"]),
        "",
        "nothing staged"
    );

    // show --json carries the result too; the human rendering names the failing test.
    assert_eq!(env.show(&id)["result"]["tests"]["failed"], 1);
    let human = String::from_utf8_lossy(&env.ctl(&["result", &id]).stdout).into_owned();
    assert!(
        human.contains("FAILED") && human.contains("test_broken"),
        "{human}"
    );

    // A resumed turn reports only its own usage (one request), not the thread's total.
    let out = env.ctl(&["resume", &id, "[again] anything else?"]);
    let child = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert_eq!(env.wait(&[&child]).0, 0);
    let out = env.ctl(&["result", &child, "--json"]);
    let resumed: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(resumed["usage"]["input_tokens"], 100, "{resumed}");
    assert_eq!(resumed["thread_usage"]["input_tokens"], 700);
    assert_eq!(resumed["files_changed"], serde_json::json!([]));
    assert_eq!(
        resumed["diffstat"],
        serde_json::json!({"files": 0, "insertions": 0, "deletions": 0})
    );
}

/// Asserts that no file under the state dir (logs, request, result, registry) holds any of
/// `secrets`.
fn assert_absent_from_state_dir(env: &TestEnv, secrets: &[String]) {
    let mut files = 0;
    let mut stack = vec![env.state_dir.clone()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            files += 1;
            let bytes = std::fs::read(&path).unwrap();
            for secret in secrets {
                let found = bytes.windows(secret.len()).any(|w| w == secret.as_bytes());
                assert!(!found, "{} holds a secret ({secret})", path.display());
            }
        }
    }
    assert!(files >= 8, "the state dir was searched ({files} files)");
}

/// Fabricated secrets with the real shapes (none is a real credential).
fn fake_secrets() -> Vec<(&'static str, String)> {
    let cycle = |prefix: &str, n: usize| -> String {
        let alphabet = "aB3dE5fG7hJ9kL2mN4pQ6rS8tU0vW1xY";
        let body: String = alphabet.chars().cycle().take(n).collect();
        format!("{prefix}{body}")
    };
    vec![
        ("github-token", cycle("ghp_", 36)),
        ("openai-key", cycle("sk-proj-", 48)),
        ("aws-access-key-id", "AKIA4TESTKEY7EXAMPLE".to_string()),
        ("slack-token", cycle("xoxb-1234567890-", 24)),
        ("acme", cycle("acme_", 16).to_lowercase()),
        ("npm-token", cycle("npm_", 36)),
        (
            "sendgrid-key",
            format!("{}.{}", cycle("SG.", 22), cycle("", 43)),
        ),
    ]
}

#[test]
fn secrets_are_redacted_before_anything_is_stored_or_returned() {
    let secrets = fake_secrets();
    let value = |name: &str| secrets.iter().find(|(n, _)| *n == name).unwrap().1.clone();
    let env_secret = "zq8Vw3Lr9Tx2Kp7Nm4Hs6Jd".to_string();
    let bearer = "opaque7Bearer4Value9xyz".to_string();
    let echo_all = secrets
        .iter()
        .map(|(_, s)| format!("echo {s}"))
        .collect::<Vec<_>>()
        .join("; ");
    // A value under a name that does not look secret, set explicitly with --env.
    let plain_env = "plainSetting-Qv4r".to_string();
    let mut env = env_with(vec![Scenario::new(
        "[leak]",
        vec![
            Step::shell(format!(
                "{echo_all}; echo \"token from env: $MY_API_TOKEN\"; echo \"note: $DEPLOY_NOTE\""
            )),
            Step::shell(format!("echo 'Authorization: Bearer {bearer}' >&2; exit 3")),
            Step::message(format!(
                "Done. The key was {} and the url https://bob:{}@git.example.invalid/x",
                value("github-token"),
                env_secret
            )),
        ],
    )]);
    // Codex printing a private key on its stderr, one line at a time (what a key in a log
    // line or an error message looks like in stderr.log): a wrapper that prints it, then
    // runs the real codex with its arguments and its stdin.
    let key_body = [
        "MIIEowIBAAKCAQEAq7BFUpkGp3+LQmlQ4Pd2kQv9nX1xUb7T0e8r5Yh2LZ3c4v6W",
        "t9Kq2mN4pQ6rS8tU0vW1xYaB3dE5fG7hJ9kL2mN4pQ6rS8tU0vW1xYaB3dE5fG7h",
        "J9kL2mN4pQ6rS8tU0vW1xY==",
    ];
    let wrapper = env.root.path().join("codex-with-key-on-stderr");
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\nprintf '%s\\n' 'loading the deploy key:' '-----BEGIN RSA PRIVATE KEY-----' {} '-----END RSA PRIVATE KEY-----' 'key loaded' >&2\nexec '{}' \"$@\"\n",
            key_body.map(|l| format!("'{l}'")).join(" "),
            env.codex.display()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();
    env.codex = wrapper;
    env.start_daemon(&["--redact-pattern", "acme=acme_[a-z0-9]{16}"])
        .unwrap();
    let prompt = format!("[leak] use {} and print everything", value("github-token"));
    let id = env.start_task(
        &prompt,
        &[
            "--env",
            &format!("MY_API_TOKEN={env_secret}"),
            "--env",
            &format!("DEPLOY_NOTE={plain_env}"),
        ],
    );
    let (code, _) = env.wait(&[&id]);
    assert_eq!(code, 0, "{}", env.daemon_log());

    let mut raw_secrets: Vec<String> = secrets.iter().map(|(_, s)| s.clone()).collect();
    raw_secrets.push(env_secret.clone());
    raw_secrets.push(bearer.clone());
    raw_secrets.push(plain_env.clone());
    raw_secrets.extend(key_body.iter().map(|l| l.to_string()));
    raw_secrets.push("-----END RSA PRIVATE KEY-----".into());
    // The key went through stderr.log, redacted whole; the lines around it are kept.
    let stderr_log = std::fs::read_to_string(env.task_dir(&id).join("stderr.log")).unwrap();
    assert!(
        stderr_log.contains(
            "loading the deploy key:\n[REDACTED:private-key]\n[REDACTED:private-key]\n\
             [REDACTED:private-key]\n[REDACTED:private-key]\n[REDACTED:private-key]\nkey loaded\n"
        ),
        "{stderr_log}"
    );

    // Nothing under the state dir holds a raw secret: logs, request, result, registry.
    assert_absent_from_state_dir(&env, &raw_secrets);

    // Nor does anything a client is given.
    let outputs = [
        env.ctl(&["show", &id, "--json"]),
        env.ctl(&["list", "--json"]),
        env.ctl(&["result", &id, "--json", "--full"]),
        env.ctl(&["logs", &id, "--json"]),
        env.ctl(&["logs", &id]),
        env.ctl(&["logs", &id, "--stderr"]),
        env.ctl(&["wait", &id, "--json"]),
    ];
    let mut all = String::new();
    for out in &outputs {
        assert!(out.status.success());
        all.push_str(&String::from_utf8_lossy(&out.stdout));
    }
    for secret in &raw_secrets {
        assert!(!all.contains(secret.as_str()), "a client saw {secret}");
    }
    for rule in [
        "github-token",
        "openai-key",
        "aws-access-key-id",
        "slack-token",
        "acme",
        "npm-token",
        "sendgrid-key",
        "env:MY_API_TOKEN",
        "env:DEPLOY_NOTE",
        "authorization",
        "private-key",
    ] {
        assert!(
            all.contains(&format!("[REDACTED:{rule}]")),
            "no [REDACTED:{rule}] in the outputs"
        );
    }
    // What was redacted is still readable around the secret.
    let task = env.show(&id);
    assert_eq!(
        task["prompt"],
        "[leak] use [REDACTED:github-token] and print everything"
    );
    let answer = task["final_message"].as_str().unwrap();
    assert!(
        answer.starts_with("Done. The key was [REDACTED:github-token]"),
        "{answer}"
    );
    assert!(answer.contains("https://bob:[REDACTED:"), "{answer}");
    // Every event line is still valid JSON after redaction.
    assert!(!env.events(&id).is_empty());
}

#[test]
fn an_invalid_redaction_pattern_stops_the_daemon_at_start_with_its_name() {
    let env = env_with(vec![]);
    let out = output(
        std::process::Command::new(codexd_tests::daemon::bin("codexd"))
            .arg("--socket")
            .arg(&env.socket)
            .arg("--state-dir")
            .arg(&env.state_dir)
            .args(["--redact-pattern", "broken=acme_[unclosed"]),
    );
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("broken") && err.contains("acme_[unclosed"),
        "{err}"
    );
    assert!(!env.socket.exists());
}

#[test]
fn a_run_survives_a_daemon_crash_and_is_adopted_by_the_next_daemon() {
    let gate = tempfile::tempdir().unwrap();
    let gate = gate.path().join("open");
    let mut env = env_with(vec![Scenario::new(
        "[crash]",
        vec![
            Step::shell(wait_for_gate(&gate, "survived")),
            Step::message("made it"),
        ],
    )]);
    env.start_daemon(&[]).unwrap();
    let id = env.start_task("[crash] go", &[]);
    assert!(eventually(Duration::from_secs(60), || {
        std::fs::read_to_string(env.task_dir(&id).join("events.jsonl"))
            .map(|log| log.contains("command_execution"))
            .unwrap_or(false)
    }));
    env.kill_daemon().unwrap();
    assert!(
        !task_processes(&id).is_empty(),
        "the run outlives a SIGKILLed daemon"
    );
    env.start_daemon(&[]).unwrap();
    std::fs::write(&gate, "").unwrap();
    let (code, summary) = env.wait(&[&id]);
    assert_eq!(code, 0, "{summary}\n{}", env.daemon_log());
    let task = env.show(&id);
    assert_eq!(state(&task), "succeeded");
    assert_eq!(task["final_message"], "made it");
    let out = env.ctl(&["result", &id, "--json"]);
    let result: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(result["commands"][0]["exit_code"], 0);
    assert!(env.daemon_log().contains("re-adopting"));
}

#[test]
fn a_run_whose_supervisor_died_with_the_daemon_away_is_interrupted_with_its_log() {
    let mut env = env_with(vec![Scenario::new(
        "[lost]",
        vec![Step::shell(long_sleep(4)), Step::message("never")],
    )]);
    env.start_daemon(&[]).unwrap();
    let id = env.start_task("[lost] go", &[]);
    assert!(eventually(Duration::from_secs(60), || {
        std::fs::read_to_string(env.task_dir(&id).join("events.jsonl"))
            .map(|log| log.contains("\"item.started\"") && log.contains("command_execution"))
            .unwrap_or(false)
    }));
    env.kill_daemon().unwrap();
    // Everything of the run dies while no daemon watches: no exit status is written.
    for pid in task_processes(&id) {
        // SAFETY: killing the test's own processes.
        unsafe { libc::kill(pid as i32, libc::SIGKILL) };
    }
    assert!(eventually(Duration::from_secs(10), || task_processes(&id).is_empty()));
    env.start_daemon(&[]).unwrap();
    let task = env.show(&id);
    assert_eq!(state(&task), "interrupted", "{task}");
    assert!(
        task["error"]
            .as_str()
            .unwrap()
            .contains("without recording an exit status")
    );
    let types = event_types(&env.events(&id));
    assert!(
        types.contains(&"item.started:command_execution".to_string()),
        "log kept: {types:?}"
    );
}

/// The fields of a task that must survive a registry rebuild.
fn durable_fields(task: &Value) -> Value {
    let mut picked = serde_json::Map::new();
    for field in [
        "id",
        "state",
        "thread_id",
        "prompt",
        "cwd",
        "sandbox",
        "model",
        "config",
        "env_keys",
        "timeout_ms",
        "parent",
        "created_at",
        "finished_at",
        "exit_code",
        "exit_signal",
        "error",
        "final_message",
        "log_bytes",
    ] {
        picked.insert(field.into(), task[field].clone());
    }
    Value::Object(picked)
}

#[test]
fn a_lost_or_corrupt_registry_is_rebuilt_from_the_task_directories() {
    let mut env = env_with(vec![
        Scenario::new(
            "[good]",
            vec![Step::shell("echo hi"), Step::message("good answer")],
        ),
        Scenario::new("[bad]", vec![Step::HttpError(400, "mock: refused".into())]),
        Scenario::new(
            "[stuck]",
            vec![Step::shell(long_sleep(5)), Step::message("never")],
        ),
    ]);
    env.start_daemon(&["--max-running", "1"]).unwrap();
    let good = env.start_task("[good] one", &[]);
    let bad = env.start_task("[bad] two", &[]);
    assert_eq!(env.wait(&[&good, &bad]).0, 1);
    let resumed = String::from_utf8_lossy(&env.ctl(&["resume", &good, "[good] again"]).stdout)
        .trim()
        .to_string();
    assert_eq!(env.wait(&[&resumed]).0, 0);
    let stuck = env.start_task("[stuck] three", &[]);
    let never = env.start_task("[stuck] four", &[]);
    assert!(env.ctl(&["cancel", &never]).status.success());
    assert!(env.ctl(&["cancel", &stuck]).status.success());
    let ids = [&good, &bad, &resumed, &stuck, &never];
    let before: Vec<Value> = ids.iter().map(|id| durable_fields(&env.show(id))).collect();
    let results_before: Vec<Value> = ids
        .iter()
        .map(|id| env.show(id)["result"].clone())
        .collect();
    assert_eq!(before[3]["state"], "cancelled");
    assert_eq!(before[4]["state"], "cancelled");

    let check = |env: &TestEnv| {
        for (i, id) in ids.iter().enumerate() {
            let task = env.show(id);
            assert_eq!(
                durable_fields(&task),
                before[i],
                "task {id} after the rebuild"
            );
            assert_eq!(task["result"], results_before[i], "result of {id}");
        }
        let listed: Value = serde_json::from_slice(&env.ctl(&["list", "--json"]).stdout).unwrap();
        assert_eq!(listed["tasks"].as_array().unwrap().len(), ids.len());
    };
    let broken_copies = |env: &TestEnv| {
        std::fs::read_dir(&env.state_dir)
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .starts_with("registry.broken-")
            })
            .count()
    };

    // 1. The database is gone.
    env.stop_daemon().unwrap();
    std::fs::remove_dir_all(env.state_dir.join("registry")).unwrap();
    env.start_daemon(&[]).unwrap();
    check(&env);

    // 2. The database is corrupt: moved aside (kept), rebuilt.
    env.stop_daemon().unwrap();
    for entry in std::fs::read_dir(env.state_dir.join("registry")).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            std::fs::write(&path, b"\xde\xad\xbe\xef not a sled file").unwrap();
        }
    }
    env.start_daemon(&[]).unwrap();
    assert_eq!(broken_copies(&env), 1, "{}", env.daemon_log());
    check(&env);

    // 3. The database is truncated (a crash mid-write, a full disk): every file cut to half.
    env.stop_daemon().unwrap();
    for entry in std::fs::read_dir(env.state_dir.join("registry")).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            let len = std::fs::metadata(&path).unwrap().len();
            std::fs::OpenOptions::new()
                .write(true)
                .open(&path)
                .unwrap()
                .set_len(len / 2)
                .unwrap();
        }
    }
    env.start_daemon(&[]).unwrap();
    check(&env);

    // 4. On demand.
    let broken_before = broken_copies(&env);
    env.stop_daemon().unwrap();
    env.start_daemon(&["--rebuild-registry"]).unwrap();
    assert_eq!(broken_copies(&env), broken_before + 1);
    check(&env);
    assert!(
        env.daemon_log()
            .contains("rebuilding it from the task directories")
    );
}

#[test]
fn config_file_patterns_redact_and_bad_ones_stop_the_daemon() {
    let mut env = env_with(vec![Scenario::new(
        "[cfg]",
        vec![
            Step::shell("echo internal-ticket TCK-884213 opened"),
            Step::message("ok"),
        ],
    )]);
    let config = env.root.path().join("config.toml");
    std::fs::write(&config, "[redact.patterns]\nticket = \"TCK-[0-9]{6}\"\n").unwrap();
    env.start_daemon(&["--config", config.to_str().unwrap()])
        .unwrap();
    let id = env.start_task("[cfg] go", &[]);
    assert_eq!(env.wait(&[&id]).0, 0);
    let logs = String::from_utf8_lossy(&env.ctl(&["logs", &id, "--json"]).stdout).into_owned();
    assert!(
        logs.contains("internal-ticket [REDACTED:ticket] opened"),
        "{logs}"
    );
    assert!(!logs.contains("TCK-884213"));
    env.stop_daemon().unwrap();

    std::fs::write(&config, "[redact.patterns]\nticket = \"TCK-(\"\n").unwrap();
    let out = output(
        std::process::Command::new(codexd_tests::daemon::bin("codexd"))
            .arg("--socket")
            .arg(&env.socket)
            .arg("--state-dir")
            .arg(&env.state_dir)
            .arg("--config")
            .arg(&config),
    );
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("ticket") && err.contains("TCK-("), "{err}");
}

/// A daemon started by a test with its own command line and environment (for settings that
/// `TestEnv::start_daemon` passes as flags), killed when dropped.
struct OwnDaemon(std::process::Child);

impl OwnDaemon {
    fn start(env: &TestEnv, cmd: &mut std::process::Command) -> OwnDaemon {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(env.root.path().join("codexd.log"))
            .unwrap();
        let child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        let daemon = OwnDaemon(child);
        assert!(
            eventually(Duration::from_secs(20), || {
                std::os::unix::net::UnixStream::connect(&env.socket).is_ok()
            }),
            "codexd did not come up: {}",
            env.daemon_log()
        );
        daemon
    }
}

impl Drop for OwnDaemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn the_config_file_holds_daemon_settings_and_client_defaults_below_flags_and_env() {
    let env = env_with(vec![Scenario::new(
        "[cfg-defaults]",
        vec![Step::message("configured")],
    )]);
    let xdg = env.root.path().join("xdg");
    std::fs::create_dir_all(xdg.join("codexd")).unwrap();
    let state_dir = env.root.path().join("state-from-file");
    std::fs::write(
        xdg.join("codexd/config.toml"),
        format!(
            "[daemon]\nstate_dir = {:?}\ncodex_bin = {:?}\nmax_running = 3\nkill_grace = \"1s\"\n\
             [client]\nsandbox = \"read-only\"\nmodel = {:?}\n",
            state_dir.display().to_string(),
            env.codex.display().to_string(),
            codexd_tests::codex_cli::MOCK_MODEL,
        ),
    )
    .unwrap();
    let daemon = |max_running_env: Option<&str>| {
        let mut cmd = std::process::Command::new(codexd_tests::daemon::bin("codexd"));
        cmd.arg("--socket")
            .arg(&env.socket)
            .env("XDG_CONFIG_HOME", &xdg)
            .env_remove("CODEXD_CONFIG")
            .env_remove("CODEXD_STATE_DIR")
            .env_remove("CODEXD_CODEX_BIN")
            .env_remove("CODEXD_MAX_RUNNING");
        if let Some(n) = max_running_env {
            cmd.env("CODEXD_MAX_RUNNING", n);
        }
        cmd
    };
    let status = || -> Value {
        let out = env.ctl(&["daemon", "status", "--json"]);
        serde_json::from_slice(&out.stdout).unwrap()
    };
    {
        // The file's settings apply...
        let _daemon = OwnDaemon::start(&env, &mut daemon(None));
        let info = status();
        assert_eq!(info["state_dir"], state_dir.display().to_string());
        assert_eq!(info["codex_bin"], env.codex.display().to_string());
        assert_eq!(info["max_running"], 3);
        // ...and codexctl start takes its sandbox and model from [client].
        let mut start = env.codexctl();
        start.env("XDG_CONFIG_HOME", &xdg).arg("start");
        for kv in codexd_tests::codex_cli::mock_config_overrides(&env.server.base_url()) {
            start.args(["-c", &kv]);
        }
        let out = output(start.arg("[cfg-defaults] hi"));
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let id = String::from_utf8_lossy(&out.stdout).trim().to_string();
        assert_eq!(env.wait(&[&id]).0, 0, "{}", env.daemon_log());
        let task = env.show(&id);
        assert_eq!(task["sandbox"], "read-only");
        assert_eq!(task["model"], codexd_tests::codex_cli::MOCK_MODEL);
        // A flag wins over [client].
        let mut start = env.codexctl();
        start
            .env("XDG_CONFIG_HOME", &xdg)
            .args(env.start_args())
            .arg("[cfg-defaults] again");
        let out = output(&mut start);
        let id = String::from_utf8_lossy(&out.stdout).trim().to_string();
        assert_eq!(env.wait(&[&id]).0, 0);
        assert_eq!(env.show(&id)["sandbox"], "workspace-write");
    }
    {
        // An environment variable wins over the file, and a flag over both.
        let _daemon = OwnDaemon::start(&env, &mut daemon(Some("2")));
        assert_eq!(status()["max_running"], 2);
    }
    {
        let _daemon = OwnDaemon::start(&env, daemon(Some("2")).args(["--max-running", "1"]));
        assert_eq!(status()["max_running"], 1);
    }

    // An unknown key stops the daemon with an error naming the file and the key.
    std::fs::write(xdg.join("codexd/config.toml"), "[daemon]\nmax_runing = 3\n").unwrap();
    let out = output(&mut daemon(None));
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("codexd/config.toml") && err.contains("max_runing"),
        "{err}"
    );
    // So does a bad [client] key for codexctl start.
    std::fs::write(xdg.join("codexd/config.toml"), "[client]\nsandbx = \"x\"\n").unwrap();
    let out = env.ctl_with_env(&[("XDG_CONFIG_HOME", &xdg)], &["start", "x"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("codexd/config.toml") && err.contains("sandbx"),
        "{err}"
    );

    // A default config file that cannot be read is a warning: the daemon serves without it.
    std::fs::remove_file(xdg.join("codexd/config.toml")).unwrap();
    std::fs::create_dir(xdg.join("codexd/config.toml")).unwrap();
    {
        let _daemon = OwnDaemon::start(
            &env,
            daemon(None)
                .arg("--state-dir")
                .arg(&env.state_dir)
                .env("RUST_LOG", "info"),
        );
        assert_eq!(status()["max_running"], 4);
        let log = env.daemon_log();
        assert!(
            log.contains("ignoring the config file") && log.contains("codexd/config.toml"),
            "{log}"
        );
    }
    // Named explicitly, the same file stops the daemon.
    let out = output(
        daemon(None)
            .arg("--config")
            .arg(xdg.join("codexd/config.toml")),
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("codexd/config.toml"));
}

#[test]
fn prune_removes_old_finished_tasks_and_never_live_ones() {
    let mut env = env_with(vec![
        Scenario::new("[old]", vec![Step::message("old")]),
        Scenario::new(
            "[live]",
            vec![Step::shell(long_sleep(6)), Step::message("never")],
        ),
    ]);
    env.start_daemon(&["--max-running", "1"]).unwrap();
    let old = env.start_task("[old] one", &[]);
    assert_eq!(env.wait(&[&old]).0, 0);
    let running = env.start_task("[live] two", &[]);
    let queued = env.start_task("[live] three", &[]);
    assert!(eventually(Duration::from_secs(60), || {
        state(&env.show(&running)) == "running"
    }));

    let dry: Value = serde_json::from_slice(
        &env.ctl(&["prune", "--older-than", "1ms", "--dry-run", "--json"])
            .stdout,
    )
    .unwrap();
    assert_eq!(
        dry,
        serde_json::json!({"pruned": [old.clone()], "dry_run": true})
    );
    assert!(env.task_dir(&old).exists(), "a dry run removes nothing");

    let done: Value =
        serde_json::from_slice(&env.ctl(&["prune", "--older-than", "1ms", "--json"]).stdout)
            .unwrap();
    assert_eq!(done["pruned"], serde_json::json!([old.clone()]));
    assert!(!env.task_dir(&old).exists());
    let gone = env.ctl(&["show", &old]);
    assert_eq!(gone.status.code(), Some(2), "the record is gone too");
    for id in [&running, &queued] {
        assert!(env.task_dir(id).exists());
        assert!(env.ctl(&["show", id]).status.success());
    }
    // A restart does not bring the pruned task back from anywhere.
    env.stop_daemon().unwrap();
    env.start_daemon(&[]).unwrap();
    assert_eq!(env.ctl(&["show", &old]).status.code(), Some(2));
    // The queued task is not lost: queued again if its held values survived (the socket's
    // directory is a tmpfs), else interrupted (see tests/tests/resilience.rs).
    assert!(
        matches!(state(&env.show(&queued)), "queued" | "interrupted"),
        "{}",
        env.show(&queued)
    );
    assert!(env.ctl(&["cancel", &running]).status.success());
}

#[test]
fn the_scheduled_prune_removes_old_finished_tasks_on_its_own() {
    let mut env = env_with(vec![
        Scenario::new("[old]", vec![Step::message("old")]),
        Scenario::new(
            "[live]",
            vec![Step::shell(long_sleep(30)), Step::message("never")],
        ),
    ]);
    env.start_daemon(&["--retention", "1s", "--prune-every", "1s"])
        .unwrap();
    let old = env.start_task("[old] one", &[]);
    assert_eq!(env.wait(&[&old]).0, 0);
    let running = env.start_task("[live] two", &[]);
    // Nobody calls `codexctl prune`: the schedule removes the record and the directory.
    assert!(
        eventually(Duration::from_secs(60), || {
            env.ctl(&["show", &old]).status.code() == Some(2) && !env.task_dir(&old).exists()
        }),
        "{}",
        env.daemon_log()
    );
    // The schedule says so (logged once the prune pass has returned, a moment after the
    // directory is gone).
    assert!(
        eventually(Duration::from_secs(10), || {
            env.daemon_log()
                .contains("scheduled prune removed old finished tasks")
        }),
        "{}",
        env.daemon_log()
    );
    // A running task is never pruned, however old it gets.
    assert!(eventually(Duration::from_secs(60), || {
        state(&env.show(&running)) == "running"
    }));
    assert!(env.task_dir(&running).exists());
    assert!(env.ctl(&["cancel", &running]).status.success());
    // A bad interval is a start-up error that says why.
    let out = output(
        std::process::Command::new(codexd_tests::daemon::bin("codexd"))
            .args(["--prune-every", "10ms", "--socket"])
            .arg(env.root.path().join("other.sock"))
            .arg("--state-dir")
            .arg(env.root.path().join("other-state")),
    );
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("at least 1s"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn labels_and_threads_find_tasks() {
    let mut env = env_with(vec![Scenario::new("[lbl]", vec![Step::message("ok")])]);
    env.start_daemon(&[]).unwrap();
    let labelled = env.start_task("[lbl] one", &["--label", "feature-x", "--label", "urgent"]);
    let other = env.start_task("[lbl] two", &[]);
    assert_eq!(env.wait(&[&labelled, &other]).0, 0);
    let out = env.ctl(&["resume", &labelled, "--label", "follow-up", "[lbl] three"]);
    let resumed = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert_eq!(env.wait(&[&resumed]).0, 0);

    let ids = |args: &[&str]| -> Vec<String> {
        let mut full = vec!["list", "--json"];
        full.extend_from_slice(args);
        let page: Value = serde_json::from_slice(&env.ctl(&full).stdout).unwrap();
        page["tasks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["id"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(
        ids(&["--label", "feature-x"]),
        [resumed.as_str(), labelled.as_str()]
    );
    assert_eq!(ids(&["--label", "follow-up"]), [resumed.as_str()]);
    let thread = env.show(&labelled)["thread_id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        ids(&["--thread", &thread]),
        [resumed.as_str(), labelled.as_str()]
    );
    assert_eq!(
        env.show(&resumed)["labels"],
        serde_json::json!(["feature-x", "urgent", "follow-up"])
    );
    let bad = env.ctl(&["start", "--label", "", "x"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("invalid label"));
}

#[test]
fn daemon_stop_kill_tasks_cancels_everything_first() {
    let mut env = env_with(vec![Scenario::new(
        "[bye]",
        vec![Step::shell(long_sleep(7)), Step::message("never")],
    )]);
    env.start_daemon(&["--max-running", "1"]).unwrap();
    let running = env.start_task("[bye] one", &[]);
    let queued = env.start_task("[bye] two", &[]);
    assert!(eventually(Duration::from_secs(60), || {
        long_sleep_alive(&long_sleep(7))
    }));
    let out = env.ctl(&["daemon", "stop", "--kill-tasks"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(env.stop_daemon().unwrap().success());
    assert_eq!(task_processes(&running), Vec::<u32>::new());
    assert!(!long_sleep_alive(&long_sleep(7)));
    env.start_daemon(&[]).unwrap();
    for id in [&running, &queued] {
        assert_eq!(state(&env.show(id)), "cancelled", "{id}");
    }
}
