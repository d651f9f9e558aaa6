//! Issue 14, items 6–11: what a rebuild, a full disk, a lost exit status, bad side files,
//! leftovers and a retried start do to the task record — against the real daemon and its
//! real files, with a small fake `codex` script (a shell script printing JSONL events).

use codexd_tests::daemon::{TestEnv, bin, eventually, output};
use codexd_tests::model_server::MockModelServer;
use codexd_tests::mount::{SmallMount, fill_up};
use serde_json::Value;
use std::io::{BufRead, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

fn env() -> TestEnv {
    let server = MockModelServer::start_blocking(vec![]).expect("model server");
    TestEnv::new(server).expect("test env")
}

fn state(task: &Value) -> &str {
    task["state"].as_str().unwrap_or("?")
}

/// A fake codex that prints a minimal successful run; with `gate`, waits for it after the
/// events (so the run is still going once all its events are written); with `runs_log`,
/// appends its task id there when it ends.
fn fake_codex(dir: &Path, gate: Option<&Path>, runs_log: Option<&Path>) -> PathBuf {
    let wait = gate
        .map(|g| format!("while [ ! -e {} ]; do sleep 0.05; done\n", g.display()))
        .unwrap_or_default();
    let count = runs_log
        .map(|log| format!("echo \"$CODEXD_TASK_ID\" >> {}\n", log.display()))
        .unwrap_or_default();
    let path = dir.join("fake-codex");
    std::fs::write(
        &path,
        format!(
            r#"#!/bin/sh
echo '{{"type":"thread.started","thread_id":"fake-thread"}}'
echo '{{"type":"turn.started"}}'
echo '{{"type":"item.completed","item":{{"id":"m","type":"agent_message","text":"fake done"}}}}'
echo '{{"type":"turn.completed","usage":{{"input_tokens":1,"cached_input_tokens":0,"output_tokens":1}}}}'
{wait}{count}"#
        ),
    )
    .unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

fn ids_in(log: &Path) -> Vec<String> {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

fn broken_registries(state_dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(state_dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("registry.broken-"))
        .collect();
    names.sort();
    names
}

/// Item 6: a task that failed before its run started (codex missing) is settled `failed`
/// by a rebuild, never queued and run again.
#[test]
fn a_rebuild_never_runs_a_task_that_failed_at_spawn() {
    let mut env = env();
    let runs = env.root.path().join("runs.log");
    env.codex = env.root.path().join("no-such-codex");
    env.start_daemon(&[]).unwrap();
    let id = env.start_task("spawn fails", &[]);
    assert_eq!(env.wait(&[&id]).0, 1);
    let before = env.show(&id);
    assert_eq!(state(&before), "failed");
    env.stop_daemon().unwrap();

    env.codex = fake_codex(env.root.path(), None, Some(&runs));
    env.start_daemon(&["--rebuild-registry"]).unwrap();
    env.wait(&[&id]);
    let after = env.show(&id);
    assert_eq!(state(&after), "failed", "{after}");
    assert!(
        after["error"]
            .as_str()
            .unwrap_or("")
            .contains("does not exist"),
        "{after}"
    );
    std::thread::sleep(Duration::from_millis(500));
    assert!(ids_in(&runs).is_empty(), "the task ran again");
    env.stop_daemon().unwrap();
}

/// Item 9: a garbage `run.json` loses what it held (pids, start time), not the task; and a
/// task whose directory is gone gets a clear error from `result`, never an empty success.
#[test]
fn a_bad_side_file_loses_only_itself_and_a_gone_directory_is_an_error() {
    let mut env = env();
    env.codex = fake_codex(env.root.path(), None, None);
    env.start_daemon(&[]).unwrap();
    let id = env.start_task("side files", &[]);
    let gone = env.start_task("dir deleted", &[]);
    assert_eq!(env.wait(&[&id, &gone]).0, 0);
    env.stop_daemon().unwrap();
    std::fs::write(env.task_dir(&id).join("run.json"), b"{garbage").unwrap();
    std::fs::remove_file(env.task_dir(&id).join("result.json")).unwrap();

    env.start_daemon(&["--rebuild-registry"]).unwrap();
    let out = env.ctl(&["show", &id, "--json"]);
    assert!(
        out.status.success(),
        "the task was dropped: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        env.daemon_log()
    );
    let task: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(state(&task), "succeeded", "{task}");
    assert_eq!(task["final_message"], "fake done", "{task}");
    assert!(
        task["error"].as_str().unwrap_or("").contains("run.json"),
        "{task}"
    );
    assert!(env.daemon_log().contains("run.json"));

    std::fs::remove_dir_all(env.task_dir(&gone)).unwrap();
    let out = env.ctl(&["result", &gone]);
    assert!(!out.status.success(), "an empty success");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("gone") || err.contains("no longer"), "{err}");
    let out = env.ctl(&["result", &gone, "--json"]);
    assert!(!out.status.success());
    env.stop_daemon().unwrap();
}

/// Item 8: the task directory vanishes while codex runs, so its exit status cannot be
/// written: the task says so (and why), and keeps codex's completed turn and final message.
#[test]
fn an_exit_status_that_cannot_be_written_is_reported_as_such() {
    let mut env = env();
    let gate = env.root.path().join("gate");
    env.codex = fake_codex(env.root.path(), Some(&gate), None);
    env.start_daemon(&[]).unwrap();
    let id = env.start_task("exit status lost", &[]);
    assert!(eventually(Duration::from_secs(20), || {
        env.events(&id)
            .iter()
            .any(|e| e["type"] == "turn.completed")
    }));
    // The monitor tails the log every 20 ms.
    std::thread::sleep(Duration::from_millis(500));
    std::fs::remove_dir_all(env.task_dir(&id)).unwrap();
    std::fs::write(&gate, b"").unwrap();
    env.wait(&[&id]);
    let task = env.show(&id);
    let error = task["error"].as_str().unwrap_or("");
    assert!(error.contains("could not be recorded"), "{task}");
    assert!(error.contains("No such file or directory"), "{task}");
    assert!(!error.contains("killed"), "{task}");
    assert_eq!(task["final_message"], "fake done", "{task}");
    assert_eq!(state(&task), "succeeded", "{task}");
    env.stop_daemon().unwrap();
}

/// Item 8, the restart variant: the run ends while no daemon is up and its `exit.json`
/// cannot be written (something in the way of the file; a deleted task directory). The
/// next daemon, which never sees the runner's exit code, must not claim the supervisor was
/// killed: the runner kept the exit status outside the task directory.
#[test]
fn an_exit_status_unwritable_while_no_daemon_is_up_is_reported_as_such() {
    let mut env = env();
    let gate = env.root.path().join("gate");
    env.codex = fake_codex(env.root.path(), Some(&gate), None);
    env.start_daemon(&[]).unwrap();
    let blocked = env.start_task("exit.json blocked", &[]);
    let deleted = env.start_task("task directory deleted", &[]);
    for id in [&blocked, &deleted] {
        assert!(eventually(Duration::from_secs(20), || {
            env.events(id).iter().any(|e| e["type"] == "turn.completed")
        }));
    }
    // The monitor tails the log every 20 ms.
    std::thread::sleep(Duration::from_millis(500));
    // A stopped daemon leaves its runs running.
    env.stop_daemon().unwrap();
    std::fs::create_dir(env.task_dir(&blocked).join("exit.json")).unwrap();
    std::fs::remove_dir_all(env.task_dir(&deleted)).unwrap();
    std::fs::write(&gate, b"").unwrap();
    assert!(
        eventually(Duration::from_secs(20), || {
            codexd_tests::daemon::task_processes(&blocked).is_empty()
                && codexd_tests::daemon::task_processes(&deleted).is_empty()
        }),
        "the runs did not end"
    );
    env.start_daemon(&[]).unwrap();

    let task = env.show(&blocked);
    let error = task["error"].as_str().unwrap_or("");
    assert_eq!(state(&task), "succeeded", "{task}");
    assert!(error.contains("could not be recorded"), "{task}");
    assert!(error.contains("exit.json"), "{task}");
    assert!(!error.contains("killed"), "{task}");
    assert_eq!(task["final_message"], "fake done", "{task}");

    // Its events went with its directory; codex's exit code did not.
    let task = env.show(&deleted);
    let error = task["error"].as_str().unwrap_or("");
    assert_eq!(state(&task), "succeeded", "{task}");
    assert!(error.contains("exited with code 0"), "{task}");
    assert!(error.contains("No such file or directory"), "{task}");
    assert!(!error.contains("killed"), "{task}");

    // Settled: the copies kept outside the task directories are gone.
    for id in [&blocked, &deleted] {
        let kept = env.state_dir.join("exits").join(format!("{id}.json"));
        assert!(!kept.exists(), "{} left behind", kept.display());
    }
    env.stop_daemon().unwrap();
}

/// Item 10: empty task directories left by starts killed mid-way are removed at start-up,
/// and only the newest three moved-aside registries are kept.
#[test]
fn leftovers_are_removed_at_start_up() {
    let mut env = env();
    env.codex = fake_codex(env.root.path(), None, None);
    env.start_daemon(&[]).unwrap();
    let id = env.start_task("kept", &[]);
    assert_eq!(env.wait(&[&id]).0, 0);
    env.stop_daemon().unwrap();
    let tasks = env.state_dir.join("tasks");
    let empty = tasks.join("zz").join("zzzzzzz1");
    let half = tasks.join("zz").join("zzzzzzz2");
    std::fs::create_dir_all(&empty).unwrap();
    std::fs::create_dir_all(&half).unwrap();
    std::fs::write(half.join("request.tmp"), b"").unwrap();
    for ms in [1000, 2000, 3000, 4000, 5000] {
        let dir = env.state_dir.join(format!("registry.broken-{ms}"));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("db"), b"x").unwrap();
    }

    env.start_daemon(&[]).unwrap();
    // The socket is bound (and accepts) before start-up has cleaned up; it serves only
    // once it has.
    assert!(env.ctl(&["list"]).status.success());
    assert!(!empty.exists() && !half.exists(), "{}", env.daemon_log());
    assert_eq!(
        broken_registries(&env.state_dir),
        [
            "registry.broken-3000",
            "registry.broken-4000",
            "registry.broken-5000"
        ]
    );
    assert_eq!(state(&env.show(&id)), "succeeded");
    assert!(env.task_dir(&id).join("request.json").exists());
    let log = env.daemon_log();
    assert!(log.contains("registry.broken-1000"), "{log}");
    assert!(log.contains("zzzzzzz2"), "{log}");
    env.stop_daemon().unwrap();
}

/// Sends one JSON-RPC line on a new connection and reads the reply.
fn call(socket: &Path, line: &str) -> Value {
    let mut stream = UnixStream::connect(socket).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    stream.write_all(line.as_bytes()).unwrap();
    stream.write_all(b"\n").unwrap();
    let mut reply = String::new();
    std::io::BufReader::new(stream)
        .read_line(&mut reply)
        .unwrap();
    serde_json::from_str(&reply).unwrap_or_else(|e| panic!("reply {reply:?}: {e}"))
}

fn start_line(env: &TestEnv, prompt: &str, key: &str) -> String {
    serde_json::json!({
        "jsonrpc": "2.0", "id": 1, "method": "codexd_start",
        "params": [{"prompt": prompt, "cwd": env.work, "request_id": key}],
    })
    .to_string()
}

/// Item 11: a start repeated with the same `request_id` returns the task the first one
/// created; a start whose connection dropped before the reply, retried with its key, runs
/// once; the key survives a restart.
#[test]
fn a_repeated_start_with_the_same_request_id_is_one_task() {
    let mut env = env();
    let runs = env.root.path().join("runs.log");
    env.codex = fake_codex(env.root.path(), None, Some(&runs));
    env.start_daemon(&[]).unwrap();

    let first = call(&env.socket, &start_line(&env, "keyed", "key-1"));
    let id = first["result"]["id"].as_str().expect("a task").to_string();
    let again = call(&env.socket, &start_line(&env, "keyed", "key-1"));
    assert_eq!(again["result"]["id"], id.as_str(), "{again}");
    assert_eq!(again["result"]["request_id"], "key-1", "{again}");

    // Sent, and the connection closed before the reply was read.
    let mut dropped = UnixStream::connect(&env.socket).unwrap();
    dropped
        .write_all(format!("{}\n", start_line(&env, "dropped", "key-2")).as_bytes())
        .unwrap();
    drop(dropped);
    let retried = call(&env.socket, &start_line(&env, "dropped", "key-2"));
    let retried_id = retried["result"]["id"]
        .as_str()
        .expect("a task")
        .to_string();
    assert_ne!(retried_id, id);
    assert_eq!(env.wait(&[&id, &retried_id]).0, 0);
    std::thread::sleep(Duration::from_millis(500));
    let mut ran = ids_in(&runs);
    ran.sort();
    let mut expected = vec![id.clone(), retried_id.clone()];
    expected.sort();
    assert_eq!(ran, expected, "each task ran once");
    let list = output(env.codexctl().args(["list", "--json", "--limit", "100"]));
    let page: Value = serde_json::from_slice(&list.stdout).unwrap();
    assert_eq!(page["tasks"].as_array().unwrap().len(), 2, "{page}");

    // Remembered across a restart, and across a rebuild from the task directories.
    env.stop_daemon().unwrap();
    env.start_daemon(&["--rebuild-registry"]).unwrap();
    let after = call(&env.socket, &start_line(&env, "keyed", "key-1"));
    assert_eq!(after["result"]["id"], id.as_str(), "{after}");

    // A bad key is refused; codexctl sends its own.
    let bad = call(&env.socket, &start_line(&env, "bad", ""));
    assert_eq!(bad["error"]["code"], -32602, "{bad}");
    let via_ctl = env.start_task("from codexctl", &[]);
    let shown = env.show(&via_ctl);
    assert!(
        shown["request_id"].as_str().is_some_and(|k| !k.is_empty()),
        "{shown}"
    );
    env.stop_daemon().unwrap();
}

/// Item 7: a full disk at start-up is an I/O condition: the daemon says so (path and errno)
/// and never moves the healthy registry aside, however often it is tried.
#[test]
fn a_full_disk_at_start_up_never_moves_the_registry_aside() {
    let Some(mount) = SmallMount::new("16m") else {
        eprintln!("skipped: cannot mount a tmpfs here (needs root)");
        return;
    };
    let mut env = env();
    env.codex = fake_codex(env.root.path(), None, None);
    env.state_dir = mount.path().join("state");
    env.start_daemon(&[]).unwrap();
    let id = env.start_task("before the disk filled", &[]);
    assert_eq!(env.wait(&[&id]).0, 0);
    let before = env.show(&id);
    env.stop_daemon().unwrap();

    let filler = fill_up(mount.path());
    for attempt in 0..3 {
        let mut daemon = Command::new(bin("codexd"))
            .arg("--socket")
            .arg(&env.socket)
            .arg("--state-dir")
            .arg(&env.state_dir)
            .arg("--codex-bin")
            .arg(&env.codex)
            .env("XDG_CONFIG_HOME", env.root.path().join("no-config"))
            .env("RUST_LOG", "codexd=debug,info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut exited = None;
        let up = eventually(Duration::from_secs(20), || {
            if let Ok(Some(status)) = daemon.try_wait() {
                exited = Some(status);
                return true;
            }
            UnixStream::connect(&env.socket).is_ok()
        });
        assert!(up, "attempt {attempt}: neither served nor exited");
        if exited.is_none() {
            // Served read-only: reads work.
            assert_eq!(env.show(&id), before);
            unsafe { libc::kill(daemon.id() as i32, libc::SIGTERM) };
        }
        let out = daemon.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        if exited.is_some() {
            assert!(!out.status.success());
            assert!(err.contains("No space left on device"), "{err}");
            assert!(err.contains(&*env.state_dir.to_string_lossy()), "{err}");
            assert!(err.contains("not corrupt"), "{err}");
        }
        assert!(
            broken_registries(&env.state_dir).is_empty(),
            "attempt {attempt} moved the registry aside: {err}"
        );
    }

    std::fs::remove_file(&filler).unwrap();
    env.start_daemon(&[]).unwrap();
    assert_eq!(env.show(&id), before);
    assert!(broken_registries(&env.state_dir).is_empty());
    env.stop_daemon().unwrap();
}
